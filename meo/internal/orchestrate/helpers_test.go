package orchestrate_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/edgemec/edgemec/meo/internal/orchestrate"
	"github.com/edgemec/edgemec/meo/internal/placement"
	"github.com/edgemec/edgemec/meo/internal/reconcile"
	"github.com/edgemec/edgemec/mep/mm5api"
	"github.com/edgemec/edgemec/vim-adapters/vim"
)

// node is one amd64 node with milliCPU of CPU.
func node(milliCPU int64) []vim.Node {
	return []vim.Node{{Name: "node-0", Kind: vim.NodeCloud, Arch: "amd64", Ready: true, Schedulable: true,
		Allocatable: vim.Resources{MilliCPU: milliCPU, MemoryBytes: 8 << 30, Pods: 110}}}
}

var seq atomic.Int64

// instantiate returns an INSTANTIATE op of a new instance that asks for milliCPU.
func instantiate(prefix string, milliCPU int64) orchestrate.Op {
	n := seq.Add(1)
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
	compute := vim.VirtualCompute{VirtualCPUs: float64(milliCPU) / 1000, MemoryMiB: 64}
	return orchestrate.Op{
		ID: "op-" + id, Operation: orchestrate.OpInstantiate, AppInstanceID: id, AppDID: "appd-web-1",
		Task: reconcile.Task{Kind: reconcile.KindInstantiate, AppInstanceID: id, App: app,
			Deploy: vim.DeployRequest{AppDID: "appd-web-1", AppName: "web", AppProvider: "edgemec", Compute: compute,
				Image: vim.SwImage{Ref: "registry.test/web:1"}, Artifacts: vim.Artifacts{Ports: []vim.Port{{Name: "http", Port: 80}}}}},
		Placement: placement.Request{AppDID: "appd-web-1", Workload: placement.WorkloadContainer,
			Resources: placement.ResourcesFromCompute(compute)},
	}
}

// terminate returns the TERMINATE op of an instance.
func terminate(in orchestrate.Op) orchestrate.Op {
	return orchestrate.Op{ID: in.ID + "-term", Operation: orchestrate.OpTerminate, AppInstanceID: in.AppInstanceID, AppDID: in.AppDID,
		Task: reconcile.Task{Kind: reconcile.KindTerminate, AppInstanceID: in.AppInstanceID, StopType: reconcile.StopGraceful,
			GracefulTimeout: 2 * time.Second}}
}

// stoppingMEP is the unit tests' Mm5 side of a stop: it accepts a stop and reports the
// instance stopped at once. Nothing else is asked of it by the stop tasks these tests run.
type stoppingMEP struct{ reconcile.MEP }

func (stoppingMEP) StopAppInstanceWithResponse(_ context.Context, id string, _ *mm5api.StopAppInstanceParams, _ ...mm5api.RequestEditorFn) (*mm5api.StopAppInstanceResponse, error) {
	return &mm5api.StopAppInstanceResponse{HTTPResponse: &http.Response{StatusCode: http.StatusAccepted},
		JSON202: &mm5api.AppInstanceRecord{AppInstanceId: id, State: mm5api.INSTANTIATED}}, nil
}

func (stoppingMEP) GetAppInstanceWithResponse(_ context.Context, id string, _ *mm5api.GetAppInstanceParams, _ ...mm5api.RequestEditorFn) (*mm5api.GetAppInstanceResponse, error) {
	return &mm5api.GetAppInstanceResponse{HTTPResponse: &http.Response{StatusCode: http.StatusOK},
		JSON200: &mm5api.AppInstanceRecord{AppInstanceId: id, State: mm5api.INSTANTIATED}}, nil
}
