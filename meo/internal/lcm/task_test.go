package lcm

import (
	"encoding/json"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/meo/internal/appd"
	"github.com/edgemec/edgemec/meo/internal/placement"
	"github.com/edgemec/edgemec/meo/internal/reconcile"
	"github.com/edgemec/edgemec/mep/mp1api"
	"github.com/edgemec/edgemec/vim-adapters/vim"
)

func sampleApp(t *testing.T, edit func(*appd.AppD)) *App {
	t.Helper()
	b, err := os.ReadFile("../appd/testdata/mecapp.yaml")
	require.NoError(t, err)
	a, err := appd.Parse(b)
	require.NoError(t, err)
	if edit != nil {
		edit(a)
	}
	return &App{AppD: a, Artifacts: vim.Artifacts{Manifests: []byte("kind: Deployment")}}
}

func TestBuildInstantiate(t *testing.T) {
	inst := appInstanceView{id: "inst-1", name: "edge one"}
	for _, tc := range []struct {
		name  string
		edit  func(*appd.AppD)
		in    InstantiateInput
		check func(t *testing.T, task reconcile.Task, req placement.Request)
		err   string
	}{
		{name: "from the AppD", check: func(t *testing.T, task reconcile.Task, req placement.Request) {
			assert.Equal(t, reconcile.KindInstantiate, task.Kind)
			assert.Equal(t, "op-1", task.ID)
			assert.Equal(t, "inst-1", task.AppInstanceID)
			assert.Equal(t, "inst-1", task.Deploy.AppInstanceID)
			assert.Equal(t, "local/mecapp:dev", task.Deploy.Image.Ref)
			assert.Equal(t, []byte("kind: Deployment"), task.Deploy.Artifacts.Manifests)
			assert.Equal(t, "edge one", *task.App.AppInstanceName)
			require.NotNil(t, task.App.AppTrafficRule)
			assert.Equal(t, "tr1", (*task.App.AppTrafficRule)[0].TrafficRuleId)
			assert.Equal(t, mp1api.RuleStateACTIVE, (*task.App.AppDNSRule)[0].State)
			assert.Equal(t, placement.Request{AppDID: "mecapp", Workload: placement.WorkloadContainer,
				Architectures: []string{"amd64"}, Resources: vim.Resources{MilliCPU: 500, MemoryBytes: 128 << 20}}, req)
		}},
		{name: "overrides", edit: func(a *appd.AppD) { a.AppLatency = &appd.LatencyDescriptor{MaxLatency: 10_000_000} },
			in: InstantiateInput{
				Hosts:        []Host{{ID: "site-a", Name: "A"}, {ID: "site-b"}},
				Location:     &placement.LocationConstraints{CountryCode: "FR", Area: &placement.Area{TAC: "00a1"}},
				Compute:      json.RawMessage(`{"virtualCpu":{"numVirtualCpu":2,"cpuArchitecture":"aarch64"},"virtualMemory":{"virtualMemSize":512}}`),
				TrafficRules: json.RawMessage(`[]`),
				DNSRules:     json.RawMessage(`[{"dnsRuleId":"d9","domainName":"x.example.org","ipAddressType":"IP_V4","ipAddress":"10.0.0.9"}]`),
			},
			check: func(t *testing.T, task reconcile.Task, req placement.Request) {
				assert.Equal(t, 2.0, task.Deploy.Compute.VirtualCPUs)
				assert.Equal(t, int64(512), task.Deploy.Compute.MemoryMiB)
				assert.Nil(t, task.App.AppTrafficRule, "an empty list replaces the AppD's rules")
				require.NotNil(t, task.App.AppDNSRule)
				assert.Equal(t, "d9", (*task.App.AppDNSRule)[0].DnsRuleId)
				assert.Equal(t, []string{"site-a", "site-b"}, req.Pinned)
				assert.Equal(t, []string{"arm64"}, req.Architectures)
				assert.Equal(t, vim.Resources{MilliCPU: 2000, MemoryBytes: 512 << 20}, req.Resources)
				assert.Equal(t, 10.0, req.MaxLatencyMs, "maxLatency is in nanoseconds")
				assert.Equal(t, "FR", req.Location.CountryCode)
				assert.Equal(t, "00a1", req.Location.Area.TAC)
			}},
		{name: "vm image", edit: func(a *appd.AppD) {
			a.SwImageDescriptor[0].ContainerFormat, a.SwImageDescriptor[0].DiskFormat = "BARE", "QCOW2"
		}, check: func(t *testing.T, _ reconcile.Task, req placement.Request) {
			assert.Equal(t, placement.WorkloadVM, req.Workload)
		}},
		{name: "unknown compute member", in: InstantiateInput{Compute: json.RawMessage(`{"virtualCPU":{}}`)}, err: "virtualComputeDescriptor"},
		{name: "zero cpus", in: InstantiateInput{Compute: json.RawMessage(`{"virtualCpu":{"numVirtualCpu":0}}`)}, err: "numVirtualCpu"},
		{name: "bad traffic rule", in: InstantiateInput{TrafficRules: json.RawMessage(`[{"trafficRuleId":"t","filterType":"FLOW","priority":1,"action":"DROP"}]`)}, err: "appTrafficRule/0"},
		{name: "duplicate dns rule", in: InstantiateInput{DNSRules: json.RawMessage(`[
			{"dnsRuleId":"d","domainName":"a.example.org","ipAddressType":"IP_V4","ipAddress":"10.0.0.1"},
			{"dnsRuleId":"d","domainName":"b.example.org","ipAddressType":"IP_V4","ipAddress":"10.0.0.2"}]`)}, err: "earlier rule"},
		{name: "bad country", in: InstantiateInput{Location: &placement.LocationConstraints{CountryCode: "F1"}}, err: "country code"},
		{name: "bad area", in: InstantiateInput{Location: &placement.LocationConstraints{Area: &placement.Area{}}}, err: "area"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			task, req, err := buildInstantiate("op-1", inst, sampleApp(t, tc.edit), tc.in)
			if tc.err != "" {
				require.Error(t, err)
				assert.True(t, errors.Is(err, ErrInvalid), "got %v; want ErrInvalid", err)
				assert.Contains(t, err.Error(), tc.err)
				return
			}
			require.NoError(t, err)
			tc.check(t, task, req)
			// The task survives the JSON round trip through the op occurrence.
			b, err := json.Marshal(task)
			require.NoError(t, err)
			var back reconcile.Task
			require.NoError(t, json.Unmarshal(b, &back))
			assert.Equal(t, task.Deploy, back.Deploy)
			assert.Equal(t, task.App, back.App)
		})
	}
}

func intp(i int) *int { return &i }

func TestBuildOperateTerminate(t *testing.T) {
	a := sampleApp(t, func(a *appd.AppD) {
		a.ChangeAppInstanceStateOpConfig = &appd.ChangeAppInstanceStateOpConfig{MinGracefulStopTimeout: 20}
		a.TerminateAppInstanceOpConfig = &appd.TerminateAppInstanceOpConfig{MinGracefulTerminationTimeout: 5}
	}).AppD
	for _, tc := range []struct {
		name    string
		op      *OperateInput
		term    *TerminateInput
		kind    reconcile.Kind
		stop    reconcile.StopType
		timeout time.Duration
		err     string
	}{
		{name: "start", op: &OperateInput{ChangeStateTo: "STARTED"}, kind: reconcile.KindStart},
		{name: "start with a stop type", op: &OperateInput{ChangeStateTo: "STARTED", StopType: "GRACEFUL"}, err: "STOPPED only"},
		{name: "stop defaults to forceful", op: &OperateInput{ChangeStateTo: "STOPPED"}, kind: reconcile.KindStop, stop: reconcile.StopForceful},
		{name: "graceful stop", op: &OperateInput{ChangeStateTo: "STOPPED", StopType: "GRACEFUL", GracefulStopTimeout: intp(60)},
			kind: reconcile.KindStop, stop: reconcile.StopGraceful, timeout: time.Minute},
		{name: "graceful stop raised to the AppD's minimum", op: &OperateInput{ChangeStateTo: "STOPPED", StopType: "GRACEFUL", GracefulStopTimeout: intp(1)},
			kind: reconcile.KindStop, stop: reconcile.StopGraceful, timeout: 20 * time.Second},
		{name: "forceful stop with a timeout", op: &OperateInput{ChangeStateTo: "STOPPED", StopType: "FORCEFUL", GracefulStopTimeout: intp(5)}, err: "GRACEFUL"},
		{name: "timeout too long", op: &OperateInput{ChangeStateTo: "STOPPED", StopType: "GRACEFUL", GracefulStopTimeout: intp(7200)}, err: "0 to 3600"},
		{name: "graceful terminate", term: &TerminateInput{TerminationType: "GRACEFUL", GracefulTerminationTimeout: intp(30)},
			kind: reconcile.KindTerminate, stop: reconcile.StopGraceful, timeout: 30 * time.Second},
		{name: "graceful terminate without timeout", term: &TerminateInput{TerminationType: "GRACEFUL"},
			kind: reconcile.KindTerminate, stop: reconcile.StopGraceful, timeout: 5 * time.Second},
		{name: "forceful terminate", term: &TerminateInput{TerminationType: "FORCEFUL"}, kind: reconcile.KindTerminate, stop: reconcile.StopForceful},
		{name: "unknown termination", term: &TerminateInput{TerminationType: "SOFT"}, err: "terminationType"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var task reconcile.Task
			var err error
			if tc.op != nil {
				task, err = buildOperate("op-2", "inst-1", a, *tc.op)
			} else {
				task, err = buildTerminate("op-2", "inst-1", a, *tc.term)
			}
			if tc.err != "" {
				require.Error(t, err)
				assert.True(t, errors.Is(err, ErrInvalid))
				assert.Contains(t, err.Error(), tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.kind, task.Kind)
			assert.Equal(t, tc.stop, task.StopType)
			assert.Equal(t, tc.timeout, task.GracefulTimeout)
			assert.NoError(t, task.Validate())
		})
	}
}
