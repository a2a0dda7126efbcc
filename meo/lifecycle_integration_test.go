//go:build integration

package meo_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/edgemec/edgemec/internal/testutil"
	"github.com/edgemec/edgemec/internal/testutil/meptest"
	"github.com/edgemec/edgemec/internal/testutil/pgtest"
	"github.com/edgemec/edgemec/meo"
	"github.com/edgemec/edgemec/vim-adapters/kubernetes"
	"github.com/edgemec/edgemec/vim-adapters/vim"
)

// lcmSite is a test-bed Kubernetes control plane (kwok nodes) with its own MEP and site DNS,
// and the apps on it played by the test: whenever an instance runs, it confirms ready with
// the Mp1 credentials the MEO had the adapter put in the instance's namespace.
type lcmSite struct {
	id, kind   string
	kubeconfig []byte
	mep        *meptest.Proc
	dnsAddr    string
	adapter    *kubernetes.Adapter
	clients    *kubernetes.Clients
}

func newLCMSite(t *testing.T, id, kind, kubeconfigEnv string) *lcmSite {
	t.Helper()
	path := testutil.RequireEnv(t, kubeconfigEnv)
	kc, err := os.ReadFile(path)
	require.NoError(t, err)
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	require.NoError(t, err)
	clients, err := kubernetes.NewClients(cfg)
	require.NoError(t, err)
	adapter, err := kubernetes.New(kubernetes.Config{Site: id, Clients: kubernetes.Static(clients)})
	require.NoError(t, err)
	m := meptest.Start(t, meptest.Options{DNS: true})
	return &lcmSite{id: id, kind: kind, kubeconfig: kc, mep: m, dnsAddr: m.DNSAddr, adapter: adapter, clients: clients}
}

// playApp confirms the instance ready whenever it runs on the site, until the test ends.
func (s *lcmSite) playApp(t *testing.T, id string) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	t.Cleanup(func() { cancel(); wg.Wait() })
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			time.Sleep(300 * time.Millisecond)
			s.confirmIfRunning(ctx, id)
		}
	}()
}

// confirmIfRunning confirms the instance ready on the site's MEP, as the app would, when its
// workload runs there, with the Mp1 credentials in its namespace.
func (s *lcmSite) confirmIfRunning(ctx context.Context, id string) {
	st, err := s.adapter.Status(ctx, id)
	if err != nil || st.Phase != vim.PhaseRunning {
		return
	}
	access, err := s.mp1Access(ctx, id)
	if err != nil {
		return
	}
	_ = meptest.ConfirmReady(ctx, access, id)
}

// describe logs what the site's control plane holds of the instance, for a failure to say
// why its workload is not Running: Deployments, ReplicaSets and pods with their conditions,
// the namespace's events, and every node's Ready condition and taints.
func (s *lcmSite) describe(t *testing.T, id string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ns, kube := s.adapter.Namespace(id), s.clients.Kube
	var b strings.Builder
	ts := func(t metav1.Time) string { return t.UTC().Format("15:04:05.000") }
	if l, err := kube.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{}); err != nil {
		fmt.Fprintf(&b, "deployments: %v\n", err)
	} else {
		for _, d := range l.Items {
			fmt.Fprintf(&b, "deployment/%s generation %d observed %d: replicas %d updated %d ready %d available %d\n",
				d.Name, d.Generation, d.Status.ObservedGeneration, d.Status.Replicas, d.Status.UpdatedReplicas,
				d.Status.ReadyReplicas, d.Status.AvailableReplicas)
			for _, c := range d.Status.Conditions {
				fmt.Fprintf(&b, "  %s=%s %s %q updated %s\n", c.Type, c.Status, c.Reason, c.Message, ts(c.LastUpdateTime))
			}
		}
	}
	if l, err := kube.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{}); err != nil {
		fmt.Fprintf(&b, "replicasets: %v\n", err)
	} else {
		for _, r := range l.Items {
			fmt.Fprintf(&b, "replicaset/%s created %s revision %s: spec %d replicas %d ready %d\n", r.Name, ts(r.CreationTimestamp),
				r.Annotations["deployment.kubernetes.io/revision"], ptrVal(r.Spec.Replicas), r.Status.Replicas, r.Status.ReadyReplicas)
		}
	}
	if l, err := kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{}); err != nil {
		fmt.Fprintf(&b, "pods: %v\n", err)
	} else {
		for _, p := range l.Items {
			owner := ""
			if o := metav1.GetControllerOf(&p); o != nil {
				owner = o.Kind + "/" + o.Name
			}
			del := ""
			if p.DeletionTimestamp != nil {
				del = " deleting since " + ts(*p.DeletionTimestamp)
			}
			fmt.Fprintf(&b, "pod/%s of %s on %q created %s%s: %s %s\n", p.Name, owner, p.Spec.NodeName, ts(p.CreationTimestamp), del, p.Status.Phase, p.Status.Reason)
			for _, c := range p.Status.Conditions {
				fmt.Fprintf(&b, "  %s=%s %s %q since %s\n", c.Type, c.Status, c.Reason, c.Message, ts(c.LastTransitionTime))
			}
		}
	}
	if l, err := kube.CoreV1().Events(ns).List(ctx, metav1.ListOptions{}); err != nil {
		fmt.Fprintf(&b, "events: %v\n", err)
	} else {
		for _, e := range l.Items {
			fmt.Fprintf(&b, "event %s %s %s %s/%s x%d: %s\n", ts(e.LastTimestamp), e.Type, e.Reason,
				e.InvolvedObject.Kind, e.InvolvedObject.Name, e.Count, e.Message)
		}
	}
	if l, err := kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); err != nil {
		fmt.Fprintf(&b, "nodes: %v\n", err)
	} else {
		for _, n := range l.Items {
			for _, c := range n.Status.Conditions {
				if c.Type == "Ready" {
					fmt.Fprintf(&b, "node/%s Ready=%s %s heartbeat %s since %s taints %v\n", n.Name, c.Status, c.Reason,
						ts(c.LastHeartbeatTime), ts(c.LastTransitionTime), n.Spec.Taints)
				}
			}
		}
	}
	t.Logf("site %s, namespace %s, at %s:\n%s", s.id, ns, time.Now().UTC().Format("15:04:05.000"), b.String())
}

func ptrVal(p *int32) int32 {
	if p == nil {
		return 0
	}
	return *p
}

// mp1Access returns the Mp1 credentials the MEO had the adapter put in the instance's
// namespace on the site.
func (s *lcmSite) mp1Access(ctx context.Context, id string) (vim.MEPAccess, error) {
	sec, err := s.clients.Kube.CoreV1().Secrets(s.adapter.Namespace(id)).Get(ctx, kubernetes.Mp1SecretName, metav1.GetOptions{})
	if err != nil {
		return vim.MEPAccess{}, err
	}
	return vim.MEPAccess{Endpoint: string(sec.Data[kubernetes.EnvMEPEndpoint]),
		ClientID: string(sec.Data[kubernetes.EnvClientID]), ClientSecret: string(sec.Data[kubernetes.EnvClientSecret])}, nil
}

func (s *lcmSite) register(t *testing.T, root, tac string, latencyMs float64) {
	t.Helper()
	body, err := json.Marshal(map[string]any{
		"id": s.id, "labels": map[string]string{"kind": s.kind},
		"location": map[string]any{"lat": 48.1, "lon": 11.6, "countryCode": "DE",
			"servedAreas": []map[string]any{{"tac": tac, "latencyMs": latencyMs}}},
		"mep": map[string]any{"endpoint": s.mep.Root + "/mepm/v1", "token": meptest.OperatorToken},
		"vim": map[string]any{"kind": s.kind, "kubeconfig": string(s.kubeconfig)},
	})
	require.NoError(t, err)
	st, b := call(t, "POST", root+"/inventory/v1/sites", opToken, body, "application/json")
	require.Equal(t, http.StatusCreated, st, "register %s: %s", s.id, b)
}

// meoKey writes a MEO secret key file in dir and returns its path.
func meoKey(t *testing.T, dir string) string {
	t.Helper()
	key := filepath.Join(dir, "meo.key")
	require.NoError(t, os.WriteFile(key, []byte("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n"), 0o600))
	return key
}

// startSiteMEO starts a MEO on a new database that refreshes its sites every second, with a
// 3 s lease.
func startSiteMEO(t *testing.T) *instance {
	t.Helper()
	return start(t, meo.Config{DatabaseURL: pgtest.New(t), SecretKeyFile: meoKey(t, t.TempDir()), SiteRefreshInterval: time.Second, Lease: 3 * time.Second})
}

// onboardSample onboards the sample package and waits until it is ONBOARDED.
func onboardSample(t *testing.T, root string) {
	t.Helper()
	pkg := onboard(t, root, testutil.SamplePackage(t, ""))
	require.Eventually(t, func() bool {
		return getJSON(t, root+"/app_pkgm/v1/app_packages/"+pkg)["onboardingState"] == "ONBOARDED"
	}, 30*time.Second, 100*time.Millisecond)
}

// createInstance creates an app instance of the sample package and returns its id.
func createInstance(t *testing.T, root, name string) string {
	t.Helper()
	st, body := call(t, "POST", root+"/app_lcm/v1/app_instances", opToken, fmt.Appendf(nil, `{"appDId":"mecapp","appInstanceName":%q}`, name), "application/json")
	require.Equal(t, http.StatusCreated, st, "%s", body)
	var inst map[string]any
	require.NoError(t, json.Unmarshal(body, &inst))
	return inst["id"].(string)
}

func getJSON(t *testing.T, url string) map[string]any {
	t.Helper()
	st, b := call(t, "GET", url, opToken, nil, "")
	require.Equal(t, http.StatusOK, st, "GET %s: %s", url, b)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	return m
}

// task posts a lifecycle task and waits for its op occurrence to end; it returns the op
// occurrence.
func task(t *testing.T, root, id, name, body string) map[string]any {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), "POST", root+"/app_lcm/v1/app_instances/"+id+"/"+name, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+opToken)
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	require.Equal(t, http.StatusAccepted, res.StatusCode, "%s: %s", name, b)
	url := res.Header.Get("Location")
	require.Contains(t, url, "/app_lcm/v1/app_lcm_op_occs/", "the 202 names the op occurrence")
	var op map[string]any
	deadline := time.Now().Add(3 * time.Minute)
	for {
		op = getJSON(t, url)
		switch op["operationState"] {
		case "COMPLETED", "FAILED", "FAILED_TEMP":
			return op
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: op occurrence still %v after 3 min: %v", name, op["operationState"], op)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func resolve(t *testing.T, server, name string) []string {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), dns.TypeA)
	r, err := dns.Exchange(m, server)
	require.NoError(t, err)
	var out []string
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			out = append(out, a.A.String())
		}
	}
	return out
}

// TestLifecycleAcrossSites drives the whole MEO through its APIs against two test-bed sites of
// different kinds, each with its own control plane and MEP: sites registered, the sample
// package onboarded, an instance placed by its area on the site that serves it (the other
// rejected with its reason), deployed there and known to that site's MEP with its traffic and
// DNS rules (answered by the site DNS), stopped and started, terminated gracefully and deleted,
// leaving nothing on the VIM or the MEP.
func TestLifecycleAcrossSites(t *testing.T) {
	a := newLCMSite(t, "site-a", "kubernetes", "EDGEMEC_TESTBED_KUBECONFIG")
	b := newLCMSite(t, "site-b", "k3s", "EDGEMEC_TESTBED_K3S_KUBECONFIG")
	m := startSiteMEO(t)
	a.register(t, m.root, "00a1", 4)
	b.register(t, m.root, "00b2", 6)
	onboardSample(t, m.root)

	id := createInstance(t, m.root, "web")
	assert.Equal(t, "NOT_INSTANTIATED", getJSON(t, m.root+"/app_lcm/v1/app_instances/"+id)["instantiationState"])
	b.playApp(t, id)

	// Placed by area: only site-b serves TAC 00b2.
	op := task(t, m.root, id, "instantiate", `{"locationConstraints":{"area":{"tac":"00b2"}}}`)
	require.Equal(t, "COMPLETED", op["operationState"], "instantiate: %v", op)
	assert.Equal(t, "site-b", op["siteId"])
	decision, _ := json.Marshal(op["placement"])
	assert.Contains(t, string(decision), "site-a", "the rejected site is recorded")
	assert.Contains(t, string(decision), "AreaNotServed")
	inst := getJSON(t, m.root+"/app_lcm/v1/app_instances/"+id)
	assert.Equal(t, "INSTANTIATED", inst["instantiationState"])
	assert.Equal(t, map[string]any{"operationalState": "STARTED"}, inst["instantiatedAppState"])
	host, _ := inst["mecHostInformation"].(map[string]any)
	assert.Equal(t, "site-b", host["hostId"])

	// The workload runs on site-b, not site-a; site-b's MEP knows the app, ready, with its rules.
	stat, err := b.adapter.Status(t.Context(), id)
	require.NoError(t, err)
	assert.Equal(t, vim.PhaseRunning, stat.Phase)
	_, err = a.adapter.Status(t.Context(), id)
	assert.ErrorIs(t, err, vim.ErrNotFound)
	rec, err := b.mep.Client(t).GetAppInstanceWithResponse(t.Context(), id, nil)
	require.NoError(t, err)
	require.NotNil(t, rec.JSON200, "site-b's MEP: %s", rec.Body)
	assert.Equal(t, "READY", string(rec.JSON200.State))
	require.NotNil(t, rec.JSON200.AppTrafficRule)
	assert.Equal(t, "mecapp-http", (*rec.JSON200.AppTrafficRule)[0].TrafficRuleId)
	assert.Empty(t, a.mep.Instances(t))
	assert.Equal(t, []string{"192.0.2.10"}, resolve(t, b.dnsAddr, "mecapp.mec.example"), "site-b's DNS answers the app's DNS rule")

	op = task(t, m.root, id, "operate", `{"changeStateTo":"STOPPED","stopType":"FORCEFUL"}`)
	require.Equal(t, "COMPLETED", op["operationState"], "stop: %v", op)
	assert.Equal(t, map[string]any{"operationalState": "STOPPED"}, getJSON(t, m.root+"/app_lcm/v1/app_instances/"+id)["instantiatedAppState"])
	op = task(t, m.root, id, "operate", `{"changeStateTo":"STARTED"}`)
	require.Equal(t, "COMPLETED", op["operationState"], "start: %v", op)

	// Deleting an instantiated instance is refused.
	st, _ := call(t, "DELETE", m.root+"/app_lcm/v1/app_instances/"+id, opToken, nil, "")
	assert.Equal(t, http.StatusConflict, st)

	op = task(t, m.root, id, "terminate", `{"terminationType":"GRACEFUL","gracefulTerminationTimeout":5}`)
	require.Equal(t, "COMPLETED", op["operationState"], "terminate: %v", op)
	assert.Equal(t, "NOT_INSTANTIATED", getJSON(t, m.root+"/app_lcm/v1/app_instances/"+id)["instantiationState"])
	_, err = b.adapter.Status(t.Context(), id)
	assert.ErrorIs(t, err, vim.ErrNotFound, "the workload is gone from site-b")
	assert.Empty(t, b.mep.Instances(t), "site-b's MEP forgot the app")
	assert.Empty(t, resolve(t, b.dnsAddr, "mecapp.mec.example"), "site-b's DNS no longer answers the app's name")

	st, body := call(t, "DELETE", m.root+"/app_lcm/v1/app_instances/"+id, opToken, nil, "")
	require.Equal(t, http.StatusNoContent, st, "%s", body)
	st, _ = call(t, "GET", m.root+"/app_lcm/v1/app_instances/"+id, opToken, nil, "")
	assert.Equal(t, http.StatusNotFound, st)
}
