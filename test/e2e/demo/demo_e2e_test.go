//go:build e2e

package demo

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/internal/testutil"
)

// TestDemo runs make demo's flow on the shared test bed: deploy/demo/demo.sh up starts
// PostgreSQL, two MEO replicas, a MEP per site and site-1's N3 path with its UPGW, using the
// real node test/setup.d/22-realnode.sh started as site-1 and, when set, the K3s-style site of
// 20-testbed.sh as site-2 (else its own on test-bed index 4); Run drives it with mecctl and
// the test asserts every step on the Result.
func TestDemo(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RequireEnv(t, "EDGEMEC_TESTBED_REALNODE_KUBECONFIG")
	repo := testutil.RepoRoot(t)
	dir, err := os.MkdirTemp("", "edgemec-demo-e2e-")
	require.NoError(t, err)
	require.NoError(t, os.Chmod(dir, 0o755)) // PostgreSQL runs as its own user under it
	t.Cleanup(func() { os.RemoveAll(dir) })
	state := filepath.Join(dir, "state")

	bin := filepath.Join(dir, "bin")
	for _, pkg := range []string{"./cmd/meo", "./cmd/mep", "./cmd/mecctl", "./cmd/upgw", "./internal/tools/demo", "./test/nef/cmd/nef"} {
		testutil.GoBuild(t, pkg, filepath.Join(bin, filepath.Base(pkg)))
	}
	script := func(arg string) *exec.Cmd {
		cmd := exec.Command("bash", filepath.Join(repo, "deploy", "demo", "demo.sh"), arg)
		cmd.Env = append(os.Environ(), "DEMO_DIR="+state, "DEMO_PREFIX=dme", "DEMO_NO_DEPS=1", "DEMO_BIN_DIR="+bin)
		if kc := os.Getenv("EDGEMEC_TESTBED_K3S_KUBECONFIG"); kc != "" {
			cmd.Env = append(cmd.Env, "DEMO_SITE2_KUBECONFIG="+kc)
		}
		return cmd
	}
	t.Cleanup(func() {
		if out, err := script("down").CombinedOutput(); err != nil {
			t.Errorf("demo.sh down: %v\n%s", err, out)
		}
		out, _ := exec.Command("ip", "netns", "list").Output()
		assert.NotContains(t, string(out), "dme-", "demo.sh down removes the network namespaces")
		out, _ = exec.Command("ip", "-br", "link").Output()
		assert.NotContains(t, string(out), "dmen3g", "demo.sh down removes the interfaces")
	})
	t0 := time.Now()
	if out, err := script("up").CombinedOutput(); err != nil {
		t.Fatalf("demo.sh up: %v\n%s", err, out)
	}
	t.Logf("demo.sh up: %v", time.Since(t0).Round(time.Millisecond))

	env, err := LoadEnv(filepath.Join(state, "env"))
	require.NoError(t, err)
	require.Equal(t, ModeShared, env.Site1Mode, "site-1 is the shared real node")
	ctx, cancel := context.WithTimeout(t.Context(), 6*time.Minute)
	defer cancel()
	pr, pw := io.Pipe()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			t.Log(sc.Text())
		}
	}()
	r, err := Run(ctx, env, pw)
	pw.Close()
	wg.Wait()
	require.NoError(t, err)

	assert.ElementsMatch(t, []string{"site-1", "site-2"}, r.Sites, "both sites registered and reachable")
	assert.NotEmpty(t, r.PackageID, "the package is ONBOARDED")
	// Placement: area and latency to site-1, area and country to site-2, with the reasons.
	assert.Equal(t, "COMPLETED", r.First.State)
	assert.Equal(t, "site-1", r.First.Site)
	assert.Contains(t, r.First.Rejected["site-2"], "LatencyExceeded")
	assert.Equal(t, "COMPLETED", r.Second.State)
	assert.Equal(t, "site-2", r.Second.Site)
	assert.NotEmpty(t, r.Second.Rejected["site-1"])
	// The container on the real node, ready by itself, answering, its service on Mp1.
	assert.Equal(t, env.Site1Node, r.Node)
	assert.True(t, r.App.ReadyConfirmed)
	assert.Equal(t, r.First.ID, r.App.AppInstanceID)
	assert.Contains(t, r.Answer, "app instance "+r.First.ID)
	assert.Equal(t, r.App.ServiceID, r.ServiceID, "the service on Mp1 is the one the app registered")
	assert.Equal(t, []string{"192.0.2.10"}, r.DNS)
	// The N3 path.
	require.NotNil(t, r.Breakout)
	assert.True(t, r.Breakout.Decapsulated, "the app network got the UE's packet without its tunnel")
	assert.Contains(t, r.Breakout.AtApp, "10.60.0.5:40001 → 192.0.2.10:8080")
	assert.Equal(t, uint32(dlTEID), r.Breakout.ReplyTEID, "the reply is in the UE's downlink tunnel")
	assert.Contains(t, r.Breakout.Reply, "SYN-ACK")
	assert.True(t, r.Breakout.UPFUntouched, "other traffic reaches the UPF byte for byte")
	assert.True(t, r.Breakout.AfterTerminate, "after terminate the app's traffic goes to the UPF")
	assert.Contains(t, r.Trace, "ul_decap rule "+r.First.ID+"/mecapp-http", "the trace shows the breakout")
	assert.Contains(t, r.Trace, "trace ended")
	// 5G: the MEO's traffic influence subscription at site-1's NEF, and a UP path change.
	require.NotNil(t, r.Steering)
	assert.Equal(t, "ACTIVE", r.Steering.State)
	assert.NotEmpty(t, r.Steering.SubscriptionID)
	assert.Equal(t, site1DNAI, r.Steering.NEFRoute, "the NEF routes the app's traffic to site-1's DNAI")
	assert.Equal(t, []string{"permit out 6 from 192.0.2.10 8080 to any"}, r.Steering.NEFFlows)
	assert.Equal(t, "10.60.0.5 "+centralDNAI+" → "+site1DNAI, r.Steering.PathChange)
	assert.Contains(t, r.Steering.Wide, "ACTIVE "+site1DNAI+" ues=1", "mecctl app get -o wide shows the steering")
	assert.True(t, r.Steering.AfterTerminate, "terminate deleted the subscription at the NEF")
	// Operate: the container stops and runs again, and the app confirms ready anew.
	require.NotNil(t, r.Operate)
	assert.True(t, r.Operate.Stopped)
	assert.True(t, r.Operate.Started)
	assert.NotEmpty(t, r.Operate.PodAfter)
	assert.True(t, r.Operate.App.ReadyConfirmed, "the restarted app confirmed ready by itself")
	assert.NotEqual(t, r.App.Hostname, r.Operate.App.Hostname, "a new container")
	// The replica kill.
	assert.NotZero(t, r.Killed)
	assert.Equal(t, 3-r.Killed, r.Finisher, "the other replica finished the operation")
	assert.Equal(t, r.Killed, r.Restarted, "the killed replica serves again")
	// Terminate.
	assert.True(t, r.Termination.TerminationNotified)
	assert.True(t, r.Termination.TerminationConfirmed)
	assert.Empty(t, r.Leftovers, "nothing left on VIM, MEP, DNS or UPGW")
	t.Logf("flow: %v", r.Elapsed.Round(time.Millisecond))
}

// TestDemoWithoutRoot runs make demo's script as an unprivileged user (nobody), as a user
// without root would: the demo must say which parts need root and run the rest — the MEO
// replicas, both MEPs, the NEF and the whole flow with site-1 on kwok nodes — and down must
// leave nothing. The sites are the shared test bed's kwok sites (DEMO_SITE1_KUBECONFIG,
// DEMO_SITE2_KUBECONFIG), so no control plane starts; the script and the sample package are
// copied where the user can read them.
func TestDemoWithoutRoot(t *testing.T) {
	testutil.RequireRoot(t)
	kc1 := testutil.RequireEnv(t, "EDGEMEC_TESTBED_KUBECONFIG")
	kc2 := testutil.RequireEnv(t, "EDGEMEC_TESTBED_K3S_KUBECONFIG")
	nobody, err := user.Lookup("nobody")
	require.NoError(t, err)
	uid, err := strconv.ParseUint(nobody.Uid, 10, 32)
	require.NoError(t, err)
	gid, err := strconv.ParseUint(nobody.Gid, 10, 32)
	require.NoError(t, err)
	repo := testutil.RepoRoot(t)
	dir, err := os.MkdirTemp("", "edgemec-demo-nonroot-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))

	bin := filepath.Join(dir, "bin")
	for _, pkg := range []string{"./cmd/meo", "./cmd/mep", "./cmd/mecctl", "./cmd/upgw", "./internal/tools/demo", "./test/nef/cmd/nef"} {
		testutil.GoBuild(t, pkg, filepath.Join(bin, filepath.Base(pkg)))
	}
	// The user's own tree: the script, the sample package, the sites' kubeconfigs.
	tree := filepath.Join(dir, "tree")
	for _, p := range []string{"deploy/demo/demo.sh", "test/testdata/packages/mecapp"} {
		require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(tree, p)), 0o755))
		out, err := exec.Command("cp", "-r", filepath.Join(repo, p), filepath.Join(tree, p)).CombinedOutput()
		require.NoError(t, err, "%s", out)
	}
	for i, kc := range []string{kc1, kc2} {
		out, err := exec.Command("cp", kc, filepath.Join(tree, fmt.Sprintf("site-%d.kubeconfig", i+1))).CombinedOutput()
		require.NoError(t, err, "%s", out)
	}
	require.NoError(t, filepath.WalkDir(tree, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, int(uid), int(gid))
	}))

	cmd := exec.Command("bash", filepath.Join(tree, "deploy", "demo", "demo.sh"))
	cmd.Dir = tree
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}}
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + tree, "TERM=dumb",
		"DEMO_DIR=" + filepath.Join(tree, "state"), "DEMO_PREFIX=dmn", "DEMO_NO_DEPS=1", "DEMO_BIN_DIR=" + bin,
		"DEMO_SITE1_KUBECONFIG=" + filepath.Join(tree, "site-1.kubeconfig"), "DEMO_SITE2_KUBECONFIG=" + filepath.Join(tree, "site-2.kubeconfig")}
	t0 := time.Now()
	out, err := cmd.CombinedOutput()
	t.Logf("demo.sh as nobody (%v):\n%s", time.Since(t0).Round(time.Millisecond), out)
	require.NoError(t, err, "demo.sh as nobody")

	s := string(out)
	// It says what needs root, and leaves exactly that out.
	assert.Contains(t, s, "not root — these parts need root and are left out: the real node")
	assert.Contains(t, s, "without root, left out:")
	assert.Contains(t, s, "left out: the network namespaces and the UPGW's XDP data plane need root")
	assert.Contains(t, s, "without root: left out the real node")
	// The rest ran, every step checked.
	for _, want := range []string{
		"both sites registered, their MEP and VIM reachable",
		"INSTANTIATE COMPLETED on site-1",
		"traffic steering ACTIVE",
		"the MEO recorded the UP path change: UE 10.60.0.5 " + centralDNAI + " → " + site1DNAI,
		"STOPPED: site-1's Kubernetes reports the workload Stopped",
		"STARTED: the workload runs again",
		"COMPLETED on site-2 by MEO replica",
		"both replicas serve the same instances",
		"site-1's NEF (traffic influence subscriptions): nothing",
		"== 10. Summary",
		"demo: stopped",
	} {
		assert.Contains(t, s, want)
	}
	assert.NotContains(t, s, "FAILED")
	assert.NoDirExists(t, filepath.Join(tree, "state"), "down removes the demo's state")
}
