//go:build integration

package reconcile_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/edgemec/edgemec/internal/testutil/meptest"
	"github.com/edgemec/edgemec/meo/internal/reconcile"
	"github.com/edgemec/edgemec/mep/mm5api"
	"github.com/edgemec/edgemec/vim-adapters/vim"
	"github.com/edgemec/edgemec/vim-adapters/vimtest"
)

// testSite is a real MEP, a fake VIM and the apps.
type testSite struct {
	mep  *meptest.Proc
	vim  *vimtest.Fake
	apps *meptest.Apps
	site reconcile.Site
}

func newSite(t testing.TB, name string) *testSite {
	t.Helper()
	m := meptest.Start(t, meptest.Options{})
	f := vimtest.New(vimtest.Config{Site: name})
	apps := meptest.RunApps(t, f, func(id string) (vim.DeployRequest, bool) {
		in, ok := f.Instance(id)
		return in.Request, ok
	})
	return &testSite{mep: m, vim: f, apps: apps, site: reconcile.Site{Name: name, MEP: m.Client(t), VIM: f}}
}

var appCounter struct {
	sync.Mutex
	n int
}

// instantiateTask returns an instantiate task for a new instance with one traffic rule
// and one DNS rule.
func instantiateTask(prefix string) reconcile.Task {
	appCounter.Lock()
	appCounter.n++
	n := appCounter.n
	appCounter.Unlock()
	id := fmt.Sprintf("%s-%d-%d", prefix, time.Now().UnixNano()%1e6, n)
	var app mm5api.AppInstance
	if err := json.Unmarshal([]byte(`{
	  "appName": "web", "appProvider": "edgemec", "appDId": "appd-web-1",
	  "appTrafficRule": [{"trafficRuleId": "tr1", "filterType": "FLOW", "priority": 1,
	    "trafficFilter": [{"dstAddress": ["10.60.0.10/32"]}],
	    "action": "FORWARD_DECAPSULATED", "state": "ACTIVE",
	    "dstInterface": [{"interfaceType": "IP", "dstIpAddress": "10.60.0.10"}]}],
	  "appDNSRule": [{"dnsRuleId": "dns1", "domainName": "web.example.mec", "ipAddressType": "IP_V4", "ipAddress": "10.60.0.10", "ttl": 30, "state": "ACTIVE"}]
	}`), &app); err != nil {
		panic(err)
	}
	return reconcile.Task{
		ID: "op-" + id, Kind: reconcile.KindInstantiate, AppInstanceID: id, App: app,
		Deploy: vim.DeployRequest{
			AppDID: "appd-web-1", AppName: "web", AppProvider: "edgemec",
			Compute:   vim.VirtualCompute{VirtualCPUs: 0.1, MemoryMiB: 64},
			Image:     vim.SwImage{Ref: "registry.test/web:1"},
			Artifacts: vim.Artifacts{Ports: []vim.Port{{Name: "http", Port: 80}}},
		},
	}
}

func terminateTask(in reconcile.Task) reconcile.Task {
	return reconcile.Task{ID: in.ID + "-term", Kind: reconcile.KindTerminate, AppInstanceID: in.AppInstanceID,
		StopType: reconcile.StopGraceful, GracefulTimeout: 10 * time.Second}
}

// fastConfig keeps the waits short for tests.
func fastConfig() reconcile.Config {
	return reconcile.Config{CallTimeout: 15 * time.Second, RunningTimeout: 10 * time.Second, ReadyTimeout: 10 * time.Second,
		StoppedTimeout: 10 * time.Second, MEPGoneMargin: 10 * time.Second, GoneTimeout: 10 * time.Second, PollInterval: 20 * time.Millisecond}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}
