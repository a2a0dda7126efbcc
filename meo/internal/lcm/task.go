package lcm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/edgemec/edgemec/internal/mecrule"
	"github.com/edgemec/edgemec/internal/mecrule/mp1rule"
	"github.com/edgemec/edgemec/meo/internal/appd"
	"github.com/edgemec/edgemec/meo/internal/placement"
	"github.com/edgemec/edgemec/meo/internal/reconcile"
	"github.com/edgemec/edgemec/mep/mp1api"
	"github.com/edgemec/edgemec/vim-adapters/vim"
)

// App is what instantiation needs of an onboarded package: its AppD and its deployment
// artefacts in the VIM adapters' form.
type App struct {
	AppD      *appd.AppD
	Artifacts vim.Artifacts
}

// AppReader reads App from an onboarded package's kept parse result (pkgm.Parsed.Doc).
type AppReader func(parsed json.RawMessage) (*App, error)

// Host is one selectedMECHostInfo entry: a site id and, optionally, its name.
type Host struct {
	ID   string
	Name string
}

// InstantiateInput is an InstantiateAppRequest. Compute, TrafficRules and DNSRules are raw
// JSON (nil when absent), checked here.
type InstantiateInput struct {
	// Hosts pins the instance to one of these sites (selectedMECHostInfo).
	Hosts []Host
	// Location is locationConstraints (nil when absent).
	Location *placement.LocationConstraints
	// Compute is a virtualComputeDescriptor replacing the AppD's, in the AppD's form.
	Compute json.RawMessage
	// TrafficRules and DNSRules replace the AppD's appTrafficRule and appDNSRule lists
	// (MEC 011 TrafficRule and DnsRule).
	TrafficRules json.RawMessage
	DNSRules     json.RawMessage
	// Params is the request as received (the op occurrence's operationParams).
	Params json.RawMessage
}

// OperateInput is an OperateAppRequest.
type OperateInput struct {
	// ChangeStateTo is STARTED or STOPPED.
	ChangeStateTo string
	// StopType is GRACEFUL or FORCEFUL ("" means FORCEFUL, ETSI GS MEC 010-2 note 3).
	StopType string
	// GracefulStopTimeout is in seconds (nil when absent).
	GracefulStopTimeout *int
	Params              json.RawMessage
}

// TerminateInput is a TerminateAppRequest.
type TerminateInput struct {
	// TerminationType is GRACEFUL or FORCEFUL.
	TerminationType string
	// GracefulTerminationTimeout is in seconds (nil when absent: the MEP's default).
	GracefulTerminationTimeout *int
	Params                     json.RawMessage
}

// maxTimeout is the longest graceful timeout the reconciler takes.
const maxTimeout = 3600

func decodeStrict(raw json.RawMessage, v any) error {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.DisallowUnknownFields()
	return d.Decode(v)
}

// buildInstantiate makes the reconcile task and the placement request of an instantiate of
// inst, op occurrence opID, from the package's app and the request's overrides.
func buildInstantiate(opID string, inst appInstanceView, app *App, in InstantiateInput) (reconcile.Task, placement.Request, error) {
	if app == nil || app.AppD == nil {
		return reconcile.Task{}, placement.Request{}, errors.New("the package has no AppD")
	}
	a := *app.AppD
	if len(in.Compute) > 0 && string(in.Compute) != "null" {
		var c appd.VirtualComputeDescriptor
		if err := decodeStrict(in.Compute, &c); err != nil {
			return reconcile.Task{}, placement.Request{}, errorf(ErrInvalid, "virtualComputeDescriptor: %v", err)
		}
		if err := checkCompute(c); err != nil {
			return reconcile.Task{}, placement.Request{}, err
		}
		a.VirtualComputeDescriptor = &c
	}
	if in.TrafficRules != nil {
		rs, err := trafficRules(in.TrafficRules)
		if err != nil {
			return reconcile.Task{}, placement.Request{}, err
		}
		a.AppTrafficRule = rs
	}
	if in.DNSRules != nil {
		rs, err := dnsRules(in.DNSRules)
		if err != nil {
			return reconcile.Task{}, placement.Request{}, err
		}
		a.AppDNSRule = rs
	}
	task := reconcile.Task{ID: opID, Kind: reconcile.KindInstantiate, AppInstanceID: inst.id,
		App: a.AppInstance(inst.name), Deploy: a.DeployRequest(inst.id, app.Artifacts)}
	w := a.Workload()
	req := placement.Request{AppDID: a.AppDID, Workload: placement.WorkloadContainer,
		Resources: placement.ResourcesFromCompute(task.Deploy.Compute)}
	if w.Kind == appd.KindVM {
		req.Workload = placement.WorkloadVM
	}
	if w.CPUArchitecture != "" {
		req.Architectures = []string{placement.NormalizeArch(w.CPUArchitecture)}
	}
	if a.AppLatency != nil {
		// ETSI GS MEC 010-2 LatencyDescriptor: maxLatency is in nanoseconds.
		req.MaxLatencyMs = placement.MaxLatencyFromNanos(a.AppLatency.MaxLatency)
	}
	for _, h := range in.Hosts {
		req.Pinned = append(req.Pinned, h.ID)
	}
	if in.Location != nil {
		req.Location = *in.Location
	}
	if err := req.Validate(); err != nil {
		return reconcile.Task{}, placement.Request{}, errorf(ErrInvalid, "%s", strings.TrimPrefix(err.Error(), placement.ErrInvalid.Error()+": "))
	}
	if err := task.Validate(); err != nil {
		return reconcile.Task{}, placement.Request{}, fmt.Errorf("instantiate task: %w", err)
	}
	return task, req, nil
}

// appInstanceView is what a task needs of its instance.
type appInstanceView struct{ id, name string }

func checkCompute(c appd.VirtualComputeDescriptor) error {
	if c.VirtualCPU != nil {
		if n := c.VirtualCPU.NumVirtualCPU; !(n > 0) || n > 1024 || math.IsInf(n, 0) {
			return errorf(ErrInvalid, "virtualComputeDescriptor/virtualCpu/numVirtualCpu: want more than 0 and at most 1024")
		}
	}
	if c.VirtualMemory != nil {
		if m := c.VirtualMemory.VirtualMemSize; !(m > 0) || m > 1<<24 {
			return errorf(ErrInvalid, "virtualComputeDescriptor/virtualMemory/virtualMemSize: want more than 0 MB and at most 16 TB")
		}
	}
	return nil
}

// trafficRules decodes and checks appTrafficRule overrides with the platform's one rule
// check, as onboarding checks the AppD's: a rule without state is ACTIVE.
func trafficRules(raw json.RawMessage) ([]mp1api.TrafficRule, error) {
	var rs []mp1api.TrafficRule
	if err := json.Unmarshal(raw, &rs); err != nil {
		return nil, errorf(ErrInvalid, "appTrafficRule: %v", err)
	}
	seen := map[string]bool{}
	for i := range rs {
		if rs[i].State == "" {
			rs[i].State = mp1api.RuleStateACTIVE
		}
		if err := mp1rule.ValidateTrafficRule(&rs[i]); err != nil {
			return nil, errorf(ErrInvalid, "%v", mecrule.At(fmt.Sprintf("appTrafficRule/%d", i), err))
		}
		if seen[rs[i].TrafficRuleId] {
			return nil, errorf(ErrInvalid, "appTrafficRule/%d/trafficRuleId: %q is the id of an earlier rule", i, rs[i].TrafficRuleId)
		}
		seen[rs[i].TrafficRuleId] = true
	}
	return rs, nil
}

// dnsRules decodes and checks appDNSRule overrides.
func dnsRules(raw json.RawMessage) ([]mp1api.DnsRule, error) {
	var rs []mp1api.DnsRule
	if err := json.Unmarshal(raw, &rs); err != nil {
		return nil, errorf(ErrInvalid, "appDNSRule: %v", err)
	}
	seen := map[string]bool{}
	for i := range rs {
		if rs[i].State == "" {
			rs[i].State = mp1api.RuleStateACTIVE
		}
		if err := mp1rule.ValidateDNSRule(&rs[i]); err != nil {
			return nil, errorf(ErrInvalid, "%v", mecrule.At(fmt.Sprintf("appDNSRule/%d", i), err))
		}
		if seen[rs[i].DnsRuleId] {
			return nil, errorf(ErrInvalid, "appDNSRule/%d/dnsRuleId: %q is the id of an earlier rule", i, rs[i].DnsRuleId)
		}
		seen[rs[i].DnsRuleId] = true
	}
	return rs, nil
}

// buildOperate makes the reconcile task of an operate (ETSI GS MEC 010-2 OperateAppRequest
// notes 1-3): STARTED takes no stop type or timeout; STOPPED is FORCEFUL unless GRACEFUL is
// asked, a FORCEFUL stop takes no timeout, and a GRACEFUL one waits at least the AppD's
// minGracefulStopTimeout (0: the MEP's default).
func buildOperate(opID, instanceID string, a *appd.AppD, in OperateInput) (reconcile.Task, error) {
	t := reconcile.Task{ID: opID, AppInstanceID: instanceID}
	switch in.ChangeStateTo {
	case "STARTED":
		if in.StopType != "" || in.GracefulStopTimeout != nil {
			return t, errorf(ErrInvalid, "stopType and gracefulStopTimeout apply to changeStateTo STOPPED only")
		}
		t.Kind = reconcile.KindStart
		return t, nil
	case "STOPPED":
		t.Kind = reconcile.KindStop
	default:
		return t, errorf(ErrInvalid, "changeStateTo %q: want STARTED or STOPPED", in.ChangeStateTo)
	}
	var floor uint32
	if a != nil && a.ChangeAppInstanceStateOpConfig != nil {
		floor = a.ChangeAppInstanceStateOpConfig.MinGracefulStopTimeout
	}
	st, timeout, err := stopOf("stopType", in.StopType, "gracefulStopTimeout", in.GracefulStopTimeout, floor)
	t.StopType, t.GracefulTimeout = st, timeout
	return t, err
}

// buildTerminate makes the reconcile task of a terminate: a GRACEFUL one goes through the
// MEP's termination flow for gracefulTerminationTimeout seconds (at least the AppD's
// minGracefulTerminationTimeout; absent: the MEP's default), a FORCEFUL one takes no timeout.
func buildTerminate(opID, instanceID string, a *appd.AppD, in TerminateInput) (reconcile.Task, error) {
	t := reconcile.Task{ID: opID, Kind: reconcile.KindTerminate, AppInstanceID: instanceID}
	if in.TerminationType == "" {
		return t, errorf(ErrInvalid, "terminationType is required")
	}
	var floor uint32
	if a != nil && a.TerminateAppInstanceOpConfig != nil {
		floor = a.TerminateAppInstanceOpConfig.MinGracefulTerminationTimeout
	}
	st, timeout, err := stopOf("terminationType", in.TerminationType, "gracefulTerminationTimeout", in.GracefulTerminationTimeout, floor)
	t.StopType, t.GracefulTimeout = st, timeout
	return t, err
}

// stopOf checks a stop or termination type and its timeout; floor is the AppD's minimum
// graceful timeout (seconds), which an absent or shorter timeout is raised to.
func stopOf(typeName, typ, timeoutName string, timeout *int, floor uint32) (reconcile.StopType, time.Duration, error) {
	switch typ {
	case "", "FORCEFUL":
		if timeout != nil {
			return "", 0, errorf(ErrInvalid, "%s applies to a GRACEFUL %s only", timeoutName, typeName)
		}
		return reconcile.StopForceful, 0, nil
	case "GRACEFUL":
	default:
		return "", 0, errorf(ErrInvalid, "%s %q: want GRACEFUL or FORCEFUL", typeName, typ)
	}
	secs := 0
	if timeout != nil {
		secs = *timeout
		if secs < 0 || secs > maxTimeout {
			return "", 0, errorf(ErrInvalid, "%s %d: want 0 to %d seconds", timeoutName, secs, maxTimeout)
		}
	}
	secs = max(secs, int(min(floor, maxTimeout)))
	return reconcile.StopGraceful, time.Duration(secs) * time.Second, nil
}
