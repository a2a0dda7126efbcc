//go:build e2e

// Package realnode tests an app deployed through the Kubernetes VIM adapter onto the test
// bed's real node (test/testbed/realnode.sh: kubelet + containerd + runc): the container
// really runs, gets its Mp1 access from what the adapter injected, and calls a real MEP on the
// host — token, confirm_ready, service registration, termination notification and
// confirmation — while the test drives the MEP over Mm5 as an orchestrator would.
package realnode

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/edgemec/edgemec/internal/testutil"
	"github.com/edgemec/edgemec/internal/testutil/meptest"
	"github.com/edgemec/edgemec/vim-adapters/kubernetes"
	"github.com/edgemec/edgemec/vim-adapters/vim"
)

// Exported by test/setup.d/22-realnode.sh from realnode.sh's env file.
const (
	envKubeconfig = "EDGEMEC_TESTBED_REALNODE_KUBECONFIG"
	envNode       = "EDGEMEC_TESTBED_REALNODE"
	envHostIP     = "EDGEMEC_TESTBED_REALNODE_HOST_IP" // the host as pods see it (CNI bridge gateway)
	envAppImage   = "EDGEMEC_TESTBED_REALNODE_APP_IMAGE"
)

const operatorToken = meptest.OperatorToken

type site struct {
	adapter *kubernetes.Adapter
	clients *kubernetes.Clients
	node    string
	mep     string // MEP base URL as the host reaches it
	mepPods string // MEP base URL as pods reach it
	image   string
}

// terminateAtEnd removes the instance's workload when the test ends, whatever happened.
func (s *site) terminateAtEnd(t *testing.T, id string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		s.adapter.Terminate(ctx, id)
	})
}

func setup(t *testing.T) *site {
	t.Helper()
	testutil.RequireRoot(t)
	kc := testutil.RequireEnv(t, envKubeconfig)
	s := &site{node: testutil.RequireEnv(t, envNode), image: testutil.RequireEnv(t, envAppImage)}
	hostIP := testutil.RequireEnv(t, envHostIP)
	cfg, err := clientcmd.BuildConfigFromFlags("", kc)
	if err != nil {
		t.Fatal(err)
	}
	if s.clients, err = kubernetes.NewClients(cfg); err != nil {
		t.Fatal(err)
	}
	if s.adapter, err = kubernetes.New(kubernetes.Config{Site: "site-r", Clients: kubernetes.Static(s.clients)}); err != nil {
		t.Fatal(err)
	}
	m := meptest.Start(t, meptest.Options{ListenHost: "0.0.0.0", APIHost: hostIP})
	s.mep = m.Root
	s.mepPods = m.APIRoot
	return s
}

// manifests returns the sample app's manifests (test/tools/mecapp/deploy.yaml) for image.
func manifests(t *testing.T, image string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testutil.RepoRoot(t), "test", "tools", "mecapp", "deploy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return bytes.ReplaceAll(b, []byte("IMAGE"), []byte(image))
}

// appStatus is the sample app's GET /status.
type appStatus struct {
	AppInstanceID        string   `json:"appInstanceId"`
	URL                  string   `json:"url"`
	ReadyConfirmed       bool     `json:"readyConfirmed"`
	ServiceID            string   `json:"serviceId"`
	SubscriptionID       string   `json:"subscriptionId"`
	TerminationNotified  bool     `json:"terminationNotified"`
	TerminationConfirmed bool     `json:"terminationConfirmed"`
	Errors               []string `json:"errors"`
}

type serviceInfo struct {
	SerInstanceID string `json:"serInstanceId"`
	SerName       string `json:"serName"`
	State         string `json:"state"`
	TransportInfo struct {
		Endpoint struct {
			URIs []string `json:"uris"`
		} `json:"endpoint"`
	} `json:"transportInfo"`
}

func TestAppRunsAndCallsItsMEP(t *testing.T) {
	s := setup(t)
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	id := "rn-" + randHex(4)
	s.terminateAtEnd(t, id)

	// 1. The orchestrator provisions the instance on the MEP (Mm5) and gets its Mp1 credentials.
	var rec struct {
		Credentials struct{ ClientID, ClientSecret string }
	}
	mm5(t, s, http.MethodPut, "/mepm/v1/app_instances/"+id, map[string]any{
		"appName": "mecapp", "appProvider": "edgemec", "appDId": "appd-mecapp-1",
		// The grant: the app may register only the services it declares.
		"appServiceProduced": []map[string]any{{"serName": "mec-sample", "version": "1.0"}},
	}, http.StatusCreated, &rec)
	if rec.Credentials.ClientSecret == "" {
		t.Fatal("Mm5 PUT returned no client secret")
	}

	// 2. ... and deploys it through the adapter with the MEP access injected.
	req := vim.DeployRequest{
		AppInstanceID: id, AppDID: "appd-mecapp-1", AppName: "mecapp", AppProvider: "edgemec",
		Compute:   vim.VirtualCompute{VirtualCPUs: 0.1, MemoryMiB: 64},
		Artifacts: vim.Artifacts{Manifests: manifests(t, s.image)},
		MEP:       vim.MEPAccess{Endpoint: s.mepPods, ClientID: rec.Credentials.ClientID, ClientSecret: rec.Credentials.ClientSecret},
	}
	t0 := time.Now()
	if err := s.adapter.Deploy(ctx, req); err != nil {
		t.Fatalf("deploy: %v", err)
	}
	st, err := vim.WaitRunning(ctx, s.adapter, id)
	if err != nil {
		t.Fatalf("wait running: %v", err)
	}
	t.Logf("deploy → Running (readiness: registered with the MEP) in %v", time.Since(t0).Round(time.Millisecond))
	if len(st.Nodes) != 1 || st.Nodes[0] != s.node {
		t.Fatalf("running on %v; want the real node %s", st.Nodes, s.node)
	}
	podIP, clusterIP := endpointsOf(t, st)

	// 3. The running container did what an app does on Mp1, seen from both sides.
	as := getStatus(t, podIP)
	if !as.ReadyConfirmed || as.ServiceID == "" || as.SubscriptionID == "" || as.AppInstanceID != id {
		t.Fatalf("app status %+v; want ready confirmed, a service and a subscription for %s", as, id)
	}
	svc := discover(t, s, id)
	if len(svc) != 1 || svc[0].SerInstanceID != as.ServiceID || svc[0].State != "ACTIVE" {
		t.Fatalf("MEP discovery %+v; want the app's one ACTIVE service %s", svc, as.ServiceID)
	}
	if uris := svc[0].TransportInfo.Endpoint.URIs; len(uris) != 1 || uris[0] != "http://"+podIP+":8080" {
		t.Fatalf("registered endpoint %v; want the pod's address http://%s:8080", uris, podIP)
	}
	// The app answers at the address it registered and through its Service (kube-proxy).
	for _, u := range []string{"http://" + podIP + ":8080/", "http://" + clusterIP + "/"} {
		if body := httpGet(t, u); !strings.Contains(body, "app instance "+id) {
			t.Fatalf("GET %s = %q; want the app's greeting", u, body)
		}
	}

	// 4. Stop: the container gets SIGTERM and deregisters; start: a new container registers anew.
	if err := s.adapter.Stop(ctx, id); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if _, err := vim.WaitPhase(ctx, s.adapter, id, 200*time.Millisecond, vim.PhaseStopped); err != nil {
		t.Fatalf("wait stopped: %v", err)
	}
	waitFor(t, 30*time.Second, "the stopped app's service to leave the registry", func() bool { return len(discover(t, s, id)) == 0 })
	if err := s.adapter.Start(ctx, id); err != nil {
		t.Fatalf("start: %v", err)
	}
	if st, err = vim.WaitRunning(ctx, s.adapter, id); err != nil {
		t.Fatalf("wait running after start: %v", err)
	}
	podIP, _ = endpointsOf(t, st)
	as = getStatus(t, podIP)
	if svc = discover(t, s, id); len(svc) != 1 || svc[0].SerInstanceID != as.ServiceID {
		t.Fatalf("after start: discovery %+v, app status %+v; want the new container's service", svc, as)
	}

	// 5. Graceful termination: Mm5 DELETE → the app is notified and confirms → the instance
	// leaves the MEP long before the graceful timeout; then the adapter removes the workload.
	mm5(t, s, http.MethodDelete, "/mepm/v1/app_instances/"+id, nil, http.StatusAccepted, nil)
	waitFor(t, 20*time.Second, "the MEP to finish the termination", func() bool {
		return mm5Status(t, s, "/mepm/v1/app_instances/"+id) == http.StatusNotFound
	})
	// The MEP ends the instance while it answers the app's confirm_termination; the app
	// records its confirmation once that answer reaches it, a moment later.
	waitFor(t, 5*time.Second, "the app to record its termination notified and confirmed", func() bool {
		if as = getStatus(t, podIP); as.TerminationNotified && as.TerminationConfirmed {
			return true
		}
		t.Logf("app status %+v; waiting for the termination notified and confirmed", as)
		return false
	})
	if len(discover(t, s, id)) != 0 {
		t.Fatal("the terminated app's service is still registered")
	}
	if err := s.adapter.Terminate(ctx, id); err != nil {
		t.Fatalf("terminate: %v", err)
	}
	waitFor(t, 60*time.Second, "the instance's pods to stop", func() bool {
		pods, err := s.clients.Kube.CoreV1().Pods(s.adapter.Namespace(id)).List(ctx, metav1.ListOptions{})
		return err == nil && len(pods.Items) == 0
	})
	if _, err := net.DialTimeout("tcp", podIP+":8080", time.Second); err == nil {
		t.Fatalf("%s:8080 still answers after terminate", podIP)
	}
}

// TestImageMissing deploys an image the node does not have: the kubelet tries to pull it
// (no registry is reachable) and the adapter reports the instance as missing its image.
func TestImageMissing(t *testing.T) {
	s := setup(t)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	id := "rn-" + randHex(4)
	s.terminateAtEnd(t, id)
	req := vim.DeployRequest{
		AppInstanceID: id, AppDID: "appd-missing", AppName: "missing",
		Image:     vim.SwImage{Ref: "local/not-imported:dev"},
		Artifacts: vim.Artifacts{Ports: []vim.Port{{Name: "http", Port: 8080}}},
		MEP:       vim.MEPAccess{Endpoint: s.mepPods, ClientID: id, ClientSecret: "unused"},
	}
	if err := s.adapter.Deploy(ctx, req); err != nil {
		t.Fatalf("deploy: %v", err)
	}
	_, err := vim.WaitRunning(ctx, s.adapter, id)
	if !errors.Is(err, vim.ErrImageMissing) {
		t.Fatalf("got %v; want ErrImageMissing from the real kubelet's failed pull", err)
	}
	t.Logf("reported: %v", err)
}

func endpointsOf(t *testing.T, st vim.Status) (podIP, clusterIP string) {
	t.Helper()
	for _, e := range st.Endpoints {
		switch e.Kind {
		case "Pod":
			podIP = e.Address
		case "ClusterIP":
			clusterIP = e.Address
		}
	}
	if podIP == "" || clusterIP == "" {
		t.Fatalf("endpoints %+v; want a Pod and a ClusterIP address", st.Endpoints)
	}
	return podIP, clusterIP
}

func getStatus(t *testing.T, podIP string) appStatus {
	t.Helper()
	var as appStatus
	if err := json.Unmarshal([]byte(httpGet(t, "http://"+podIP+":8080/status")), &as); err != nil {
		t.Fatal(err)
	}
	return as
}

// discover lists, as the operator, the services the instance registered.
func discover(t *testing.T, s *site, id string) []serviceInfo {
	t.Helper()
	var out []serviceInfo
	mm5(t, s, http.MethodGet, "/mec_service_mgmt/v1/applications/"+id+"/services", nil, 0, &out)
	return out
}

// mm5 calls the MEP as the operator. want 0 accepts 200 and 404 (an instance already gone).
func mm5(t *testing.T, s *site, method, path string, body any, want int, out any) {
	t.Helper()
	code, b := operator(t, s, method, path, body)
	if want == 0 && code == http.StatusNotFound {
		return
	}
	if want == 0 {
		want = http.StatusOK
	}
	if code != want {
		t.Fatalf("%s %s: HTTP %d %s; want %d", method, path, code, b, want)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
	}
}

func mm5Status(t *testing.T, s *site, path string) int {
	t.Helper()
	code, _ := operator(t, s, http.MethodGet, path, nil)
	return code
}

// operator sends a request to the MEP with the operator token and returns the answer.
func operator(t *testing.T, s *site, method, path string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, s.mep+path, rd)
	req.Header.Set("Authorization", "Bearer "+operatorToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	c := http.Client{Timeout: 5 * time.Second}
	var last error
	for range 20 { // a fresh Service may take a moment to reach kube-proxy's rules
		resp, err := c.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return string(b)
			}
			err = fmt.Errorf("HTTP %d: %s", resp.StatusCode, b)
		}
		last = err
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("GET %s: %v", url, last)
	return ""
}

func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
