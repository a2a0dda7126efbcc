package httpapi

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/meo/internal/lcm"
	"github.com/edgemec/edgemec/meo/internal/selector"
	"github.com/edgemec/edgemec/meo/internal/store"
)

// mapInstanceInfo and mapOpInfo are the documents as the lists built them before the typed
// views: the record through a map, the links and rendered attributes added to the map (with
// one fix, see trafficSteering).
func (h *handler) mapInstanceInfo(in *store.AppInstance) map[string]any {
	doc := toDoc(in)
	self := h.cfg.APIRoot + lcmBase + "/app_instances/" + in.ID
	links := map[string]any{"self": link(self)}
	if in.InstantiationState == store.Instantiated {
		links["terminate"], links["operate"] = link(self+"/terminate"), link(self+"/operate")
	} else {
		links["instantiate"] = link(self + "/instantiate")
	}
	doc["_links"] = links
	if o := lcm.ObservedState(in); o != nil {
		doc["observedState"] = o
	}
	if len(in.Steering) > 0 {
		// The map path put the raw view there, which a nested path (fields=trafficSteering/x)
		// could not enter: the whole attribute stayed. The decoded view is what the typed
		// path, and the map path through it, prune.
		var steering any
		_ = json.Unmarshal(in.Steering, &steering)
		doc["trafficSteering"] = steering
	}
	return doc
}

func (h *handler) mapOpInfo(op *store.OpOcc) map[string]any {
	doc := toDoc(op)
	self := h.cfg.APIRoot + lcmBase + "/app_lcm_op_occs/" + op.ID
	links := map[string]any{"self": link(self), "appInstance": link(h.cfg.APIRoot + lcmBase + "/app_instances/" + op.AppInstanceID)}
	switch op.OperationState {
	case store.OpFailedTemp:
		links["retry"], links["fail"] = link(self+"/retry"), link(self+"/fail")
	case store.OpStarting, store.OpProcessing:
		if !op.IsCancelPending {
			links["cancel"] = link(self + "/cancel")
		}
	}
	doc["_links"] = links
	return doc
}

// storeOmitted is what the store returns of a record when a list asks it to leave out omit:
// the document decoded without those members, the observation and the steering view not read.
func storeOmitted[T any](t *testing.T, rec *T, omit []string, fix func(full, got *T)) *T {
	t.Helper()
	b, err := json.Marshal(rec)
	require.NoError(t, err)
	var doc map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(b, &doc))
	for _, n := range omit {
		delete(doc, n)
	}
	b, err = json.Marshal(doc)
	require.NoError(t, err)
	var out T
	require.NoError(t, json.Unmarshal(b, &out))
	fix(rec, &out)
	return &out
}

// selectorCases are attribute selections of MEC 009 over the attributes of both lists.
func selectorCases(attrs []string) map[string]url.Values {
	cases := map[string]url.Values{
		"none":            {},
		"all_fields":      {"all_fields": {""}},
		"exclude_default": {"exclude_default": {""}},
	}
	for _, a := range attrs {
		cases["exclude_fields="+a] = url.Values{"exclude_fields": {a}}
		cases["fields="+a] = url.Values{"fields": {a}}
		cases["exclude_default,fields="+a] = url.Values{"exclude_default": {""}, "fields": {a}}
	}
	return cases
}

func docJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

// TestLCMSelectedMatchesPrunedMap checks, for app instances and op occurrences in every shape
// the lists serve and for many attribute selections, that the answer of a list (the typed
// view of what the store returns with the attributes the selection drops left out, or the
// pruned map) is the document the map path built: pruning the full record's map.
func TestLCMSelectedMatchesPrunedMap(t *testing.T) {
	h := &handler{cfg: Config{APIRoot: "https://meo.example"}}

	insts := []*store.AppInstance{
		{ID: "i-new", AppDID: "d1", AppProvider: "acme", AppName: "app", AppSoftVersion: "1", AppDVersion: "2", AppPkgID: "p1",
			InstantiationState: store.NotInstantiated},
		{ID: "i-full", AppInstanceName: "web", AppInstanceDescription: "the web", AppDID: "d1", AppProvider: "acme", AppName: "app",
			AppSoftVersion: "1", AppDVersion: "2", AppPkgID: "p1", InstantiationState: store.Instantiated,
			InstantiatedAppState: &store.AppState{OperationalState: store.Started},
			MECHostInformation:   &store.HostInfo{HostID: "site-1", HostName: "Site 1"},
			SiteID:               "site-1", Observed: json.RawMessage(`{"siteId":"site-1","phase":"Running","replicas":{"ready":2,"n":3.5}}`),
			AppConfirmedReady: true, Steering: json.RawMessage(`{"state": "ACTIVE", "afs": [{"id":"a","n":12345678901}]}`)},
		{ID: "i-ready", AppDID: "d2", AppProvider: "acme", AppName: "app", AppSoftVersion: "1", AppDVersion: "2", AppPkgID: "p2",
			InstantiationState: store.Instantiated, InstantiatedAppState: &store.AppState{OperationalState: store.Stopped},
			MECHostInformation: &store.HostInfo{HostID: "site-2"}, AppConfirmedReady: true},
	}
	ops := []*store.OpOcc{
		{ID: "o-start", OperationState: store.OpStarting, StateEnteredTime: store.TimeStamp{Seconds: 1790000000, NanoSeconds: 5},
			StartTime: store.TimeStamp{Seconds: 1790000000}, LcmOperation: store.OpInstantiate, AppInstanceID: "i1",
			OperationParams: json.RawMessage(`{"selectedMECHostInfo":[{"hostId":"site-1"}],"n":1e3}`)},
		{ID: "o-cancel", OperationState: store.OpProcessing, LcmOperation: store.OpOperate, AppInstanceID: "i1", IsCancelPending: true,
			CancelMode: "GRACEFUL", SiteID: "site-1", Placement: json.RawMessage(`{"chosen":"site-1","candidates":[{"siteId":"site-1","score":0.5}]}`)},
		{ID: "o-temp", OperationState: store.OpFailedTemp, LcmOperation: store.OpInstantiate, AppInstanceID: "i2", Attempts: 3,
			Error: &store.Problem{Title: "vim", Status: 503, Detail: "unreachable"}, SiteID: "site-2"},
		{ID: "o-failed", OperationState: store.OpFailed, LcmOperation: store.OpTerminate, AppInstanceID: "i3",
			Error:    &store.Problem{Type: "t", Status: 409, Detail: "gone", Instance: "/x"},
			Warnings: []store.Problem{{Title: "nef", Status: 502, Detail: "no steering"}}},
		{ID: "o-done", OperationState: store.OpCompleted, LcmOperation: store.OpOperate, AppInstanceID: "i3", OperationParams: json.RawMessage(`{}`)},
	}

	instAttrs := []string{"appInstanceName", "appInstanceDescription", "appDId", "instantiationState", "instantiatedAppState",
		"instantiatedAppState/operationalState", "mecHostInformation", "mecHostInformation/hostId", "vimConnectionInfo",
		"observedState", "observedState/phase", "trafficSteering", "trafficSteering/afs", "observedState,trafficSteering",
		"appInstanceName,mecHostInformation,observedState"}
	opAttrs := []string{"operationState", "stateEnteredTime", "stateEnteredTime/seconds", "startTime", "operationParams",
		"operationParams/selectedMECHostInfo", "error", "error/detail", "cancelMode", "siteId", "placement", "placement/chosen",
		"warnings", "warnings/title", "attempts", "error,placement,operationParams", "startTime,stateEnteredTime,siteId,cancelMode,warnings"}

	typed, pruned := 0, 0
	count := func(got any) {
		if _, isMap := got.(map[string]any); isMap {
			pruned++
		} else {
			typed++
		}
	}
	for name, q := range selectorCases(instAttrs) {
		f, err := selector.ParseFields(q, instanceFields)
		if err != nil {
			continue // e.g. a complex attribute's member under exclude_default alone
		}
		omit, _ := typedOmit(f, instOmittable)
		for _, in := range insts {
			t.Run(fmt.Sprintf("instances/%s/%s", name, in.ID), func(t *testing.T) {
				want := h.mapInstanceInfo(in)
				f.Apply(want)
				rec := storeOmitted(t, in, omit, func(full, got *store.AppInstance) {
					got.SiteID, got.AppConfirmedReady, got.Resources = full.SiteID, full.AppConfirmedReady, full.Resources
					if !slices.Contains(omit, "observedState") {
						got.Observed = full.Observed
					}
					if !slices.Contains(omit, "trafficSteering") {
						got.Steering = full.Steering
					}
				})
				got := h.selectedInstance(rec, f)
				count(got)
				require.JSONEq(t, docJSON(t, want), docJSON(t, got))
			})
		}
	}
	for name, q := range selectorCases(opAttrs) {
		f, err := selector.ParseFields(q, opFields)
		if err != nil {
			continue
		}
		omit, _ := typedOmit(f, opOmittable)
		for _, op := range ops {
			t.Run(fmt.Sprintf("op occurrences/%s/%s", name, op.ID), func(t *testing.T) {
				want := h.mapOpInfo(op)
				f.Apply(want)
				rec := storeOmitted(t, op, omit, func(full, got *store.OpOcc) {
					got.SiteID = full.SiteID // a column
				})
				got := h.selectedOp(rec, f)
				count(got)
				require.JSONEq(t, docJSON(t, want), docJSON(t, got))
			})
		}
	}
	t.Logf("%d answers typed, %d pruned maps", typed, pruned)
	require.Greater(t, typed, pruned, "most selections should take the typed path")
	require.Positive(t, pruned, "no selection took the map path")

	// The single resources render the typed view unpruned: the same documents.
	for _, in := range insts {
		require.JSONEq(t, docJSON(t, h.mapInstanceInfo(in)), docJSON(t, h.instView(in, nil)), in.ID)
	}
	for _, op := range ops {
		require.JSONEq(t, docJSON(t, h.mapOpInfo(op)), docJSON(t, h.opView(op, nil)), op.ID)
	}
}
