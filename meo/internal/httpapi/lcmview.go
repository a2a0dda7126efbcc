package httpapi

import (
	"encoding/json"

	"github.com/edgemec/edgemec/meo/internal/lcm"
	"github.com/edgemec/edgemec/meo/internal/selector"
	"github.com/edgemec/edgemec/meo/internal/store"
)

// instView is the AppInstanceInfo document of an app instance as the API shows it: the
// stored attributes, the links, and the rendered observedState and trafficSteering.
type instView struct {
	*store.AppInstance
	Links           instLinks       `json:"_links"`
	ObservedState   map[string]any  `json:"observedState,omitempty"`
	TrafficSteering json.RawMessage `json:"trafficSteering,omitempty"`
}

type instLinks struct {
	Self        hrefLink  `json:"self"`
	Instantiate *hrefLink `json:"instantiate,omitempty"`
	Terminate   *hrefLink `json:"terminate,omitempty"`
	Operate     *hrefLink `json:"operate,omitempty"`
}

// instOmittable are the attributes an instance view can leave out (all optional, none of
// them decides a link): a selection that drops only these is served typed, and the store is
// asked to leave them out.
var instOmittable = set("appInstanceName", "appInstanceDescription", "instantiatedAppState", "mecHostInformation",
	"vimConnectionInfo", "observedState", "trafficSteering")

// opView is the AppInstanceLcmOpOcc document of an op occurrence as the API shows it. The
// time stamps shadow the op occurrence's own so that an attribute selector can leave them out.
type opView struct {
	*store.OpOcc
	StateEnteredTime *store.TimeStamp `json:"stateEnteredTime,omitempty"`
	StartTime        *store.TimeStamp `json:"startTime,omitempty"`
	Links            opLinks          `json:"_links"`
}

type opLinks struct {
	Self        hrefLink  `json:"self"`
	AppInstance hrefLink  `json:"appInstance"`
	Retry       *hrefLink `json:"retry,omitempty"`
	Fail        *hrefLink `json:"fail,omitempty"`
	Cancel      *hrefLink `json:"cancel,omitempty"`
}

// opOmittable are the attributes an op occurrence view can leave out.
var opOmittable = set("stateEnteredTime", "startTime", "operationParams", "error", "cancelMode", "siteId",
	"placement", "warnings")

// omittable returns the attributes of names in can, or ok false when some are not.
func omittable(names []string, can map[string]bool) (out []string, ok bool) {
	for _, n := range names {
		if !can[n] {
			return nil, false
		}
		out = append(out, n)
	}
	return out, true
}

// typedOmit returns the attributes f drops when it only drops whole attributes a typed view
// can leave out (ok false otherwise).
func typedOmit(f selector.Fields, can map[string]bool) ([]string, bool) {
	names, ok := f.TopLevel()
	if !ok {
		return nil, false
	}
	return omittable(names, can)
}

func (h *handler) instView(in *store.AppInstance, omit []string) instView {
	self := h.cfg.APIRoot + lcmBase + "/app_instances/" + in.ID
	v := instView{AppInstance: in, Links: instLinks{Self: hrefLink{self}}}
	if in.InstantiationState == store.Instantiated {
		v.Links.Terminate, v.Links.Operate = &hrefLink{self + "/terminate"}, &hrefLink{self + "/operate"}
	} else {
		v.Links.Instantiate = &hrefLink{self + "/instantiate"}
	}
	observed, steering := true, true
	if len(omit) > 0 {
		cp := *in
		v.AppInstance = &cp
		for _, n := range omit {
			switch n {
			case "appInstanceName":
				cp.AppInstanceName = ""
			case "appInstanceDescription":
				cp.AppInstanceDescription = ""
			case "instantiatedAppState":
				cp.InstantiatedAppState = nil
			case "mecHostInformation":
				cp.MECHostInformation = nil
			case "observedState":
				observed = false
			case "trafficSteering":
				steering = false
			}
		}
	}
	if observed {
		if o := lcm.ObservedState(in); o != nil {
			v.ObservedState = o
		}
	}
	if steering && len(in.Steering) > 0 {
		v.TrafficSteering = in.Steering
	}
	return v
}

// instanceInfo renders an app instance as its AppInstanceInfo.
func (h *handler) instanceInfo(in *store.AppInstance) map[string]any {
	return toDoc(h.instView(in, nil))
}

// selectedInstance is the document of in with the attribute selection f applied: from the
// typed view when f only leaves out attributes the view can drop (the default of the list),
// else by pruning the map of instanceInfo.
func (h *handler) selectedInstance(in *store.AppInstance, f selector.Fields) any {
	if omit, ok := typedOmit(f, instOmittable); ok {
		return h.instView(in, omit)
	}
	d := h.instanceInfo(in)
	f.Apply(d)
	return d
}

func (h *handler) opView(op *store.OpOcc, omit []string) opView {
	self := h.cfg.APIRoot + lcmBase + "/app_lcm_op_occs/" + op.ID
	v := opView{OpOcc: op, StateEnteredTime: &op.StateEnteredTime, StartTime: &op.StartTime,
		Links: opLinks{Self: hrefLink{self}, AppInstance: hrefLink{h.cfg.APIRoot + lcmBase + "/app_instances/" + op.AppInstanceID}}}
	switch op.OperationState {
	case store.OpFailedTemp:
		v.Links.Retry, v.Links.Fail = &hrefLink{self + "/retry"}, &hrefLink{self + "/fail"}
	case store.OpStarting, store.OpProcessing:
		if !op.IsCancelPending {
			v.Links.Cancel = &hrefLink{self + "/cancel"}
		}
	}
	if len(omit) > 0 {
		cp := *op
		v.OpOcc = &cp
		for _, n := range omit {
			switch n {
			case "stateEnteredTime":
				v.StateEnteredTime = nil
			case "startTime":
				v.StartTime = nil
			case "operationParams":
				cp.OperationParams = nil
			case "error":
				cp.Error = nil
			case "cancelMode":
				cp.CancelMode = ""
			case "siteId":
				cp.SiteID = ""
			case "placement":
				cp.Placement = nil
			case "warnings":
				cp.Warnings = nil
			}
		}
	}
	return v
}

// opInfo renders an op occurrence as its AppInstanceLcmOpOcc.
func (h *handler) opInfo(op *store.OpOcc) map[string]any { return toDoc(h.opView(op, nil)) }

// selectedOp is selectedInstance for op occurrences.
func (h *handler) selectedOp(op *store.OpOcc, f selector.Fields) any {
	if omit, ok := typedOmit(f, opOmittable); ok {
		return h.opView(op, omit)
	}
	d := h.opInfo(op)
	f.Apply(d)
	return d
}
