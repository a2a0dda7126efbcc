//go:build e2e

package upgwe2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edgemec/edgemec/internal/testutil"
)

const mepToken = "e2e-operator-token"

// startMEP runs the real mep binary in the UPGW's namespace (the site's host) on
// 127.0.0.1:8080, with its embedded store.
func startMEP(t *testing.T, tp *topo) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "mep")
	testutil.GoBuild(t, "./cmd/mep", bin)
	logf, err := os.CreateTemp("", "mep-e2e-log")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ip", "netns", "exec", tp.upgw, bin, "--http-addr", "127.0.0.1:8080", "--dns-addr", "off",
		"--data-dir", t.TempDir(), "--operator-token", mepToken)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("mep log:\n%s", b)
		}
		os.Remove(logf.Name())
	})
	waitUntil(t, "mep ready", func() bool {
		r, err := tp.http.Get("http://127.0.0.1:8080/readyz")
		if err != nil {
			return false
		}
		r.Body.Close()
		return r.StatusCode == 200
	})
}

// mep calls the MEP inside the UPGW namespace with the operator token.
func mepCall(t *testing.T, tp *topo, method, path, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, "http://127.0.0.1:8080"+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+mepToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := tp.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// TestFollowsMEP wires the real parts of a site together: a MEP, the UPGW following its
// Mm5 traffic-rule feed, and the XDP data plane. A rule provisioned over Mm5 breaks UE
// traffic out to the app; the app's rule set INACTIVE over Mp1 sends the same traffic back
// to the UPF; and both changes reach the data plane through the feed alone.
func TestFollowsMEP(t *testing.T) {
	testutil.RequireRoot(t)
	// The UPGW starts first: its follower retries until the MEP answers.
	tp := newTopo(t, "native", "--mep-url", "http://127.0.0.1:8080", "--mep-token", mepToken, "--feed-timeout", "5s")
	startMEP(t, tp)
	gnbSock := openRaw(t, tp.gnb, "g0")
	upfSock := openRaw(t, tp.upf, "u0")
	app := startApp(t, tp, false)

	const rule = `{"trafficRuleId":"to-app","filterType":"FLOW","priority":1,"action":"FORWARD_DECAPSULATED",
		"trafficFilter":[{"dstAddress":["192.0.2.10/32"],"dstPort":["8080"],"protocol":["UDP"]}],
		"dstInterface":{"interfaceType":"IP","dstIpAddress":"192.0.2.10"}}`
	st, body := mepCall(t, tp, "PUT", "/mepm/v1/app_instances/app1",
		`{"appName":"cache","appProvider":"acme","appDId":"d1","appTrafficRule":[`+rule+`]}`)
	if st != 201 {
		t.Fatalf("Mm5 PUT: %d %s", st, body)
	}
	feedVersion := func() int64 {
		_, b := mepCall(t, tp, "GET", "/mepm/v1/feeds/traffic_rules", "")
		var snap struct{ Version int64 }
		if err := json.Unmarshal(b, &snap); err != nil {
			t.Fatal(err)
		}
		return snap.Version
	}
	waitApplied := func(v int64, active int) {
		t.Helper()
		waitUntil(t, fmt.Sprintf("UPGW to apply feed version %d", v), func() bool {
			r, err := tp.api.GetStatusWithResponse(t.Context())
			return err == nil && r.JSON200 != nil && r.JSON200.RuleSetVersion == v && r.JSON200.ActiveRules == active &&
				string(r.JSON200.RuleSetSource) == "feed"
		})
	}
	waitApplied(feedVersion(), 1)

	gnbSock.send(t, tp.ul(t, appIP, 8080, []byte("via-mep-rule")))
	waitUntil(t, "app to receive the broken-out packet", func() bool { return strings.Join(app.received(), ",") == "via-mep-rule" })

	// The app (here: the operator, who may act for it) turns its rule off over Mp1.
	st, body = mepCall(t, tp, "PUT", "/mec_app_support/v1/applications/app1/traffic_rules/to-app",
		strings.Replace(rule, `"priority":1,`, `"priority":1,"state":"INACTIVE",`, 1))
	if st != 200 {
		t.Fatalf("Mp1 PUT: %d %s", st, body)
	}
	waitApplied(feedVersion(), 0)
	f := tp.ul(t, appIP, 8080, []byte("rule-off"))
	gnbSock.send(t, f)
	if got := upfSock.recv(5*time.Second, isGTPU); !bytes.Equal(got, f) {
		t.Fatalf("with the rule INACTIVE the packet must reach the UPF unchanged:\n got %x\nwant %x", got, f)
	}
	if got := app.received(); len(got) != 1 {
		t.Errorf("app received %v after the rule went INACTIVE; want only the first packet", got)
	}
}
