package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/edgemec/edgemec/internal/problem"
	"github.com/edgemec/edgemec/meo/internal/lcm"
	"github.com/edgemec/edgemec/meo/internal/placement"
	"github.com/edgemec/edgemec/meo/internal/selector"
	"github.com/edgemec/edgemec/meo/internal/store"
	"github.com/edgemec/edgemec/meo/mm1api"
)

const lcmBase = "/app_lcm/v1"

// attrs describes a resource's attributes for filters and attribute selectors: simple ones,
// complex ones (any path below them), and those that are rendered but not stored in the
// document filters run on.
type attrs struct {
	simple, complex, rendered map[string]bool
}

func set(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

func (a attrs) field(path string) bool {
	head, rest, nested := strings.Cut(path, "/")
	if !nested {
		return a.simple[head] || a.complex[head]
	}
	return a.complex[head] && rest != ""
}

func (a attrs) filter(path string) bool {
	head, _, _ := strings.Cut(path, "/")
	return !a.rendered[head] && a.field(path)
}

var instanceAttrs = attrs{
	simple: set("id", "appInstanceName", "appInstanceDescription", "appDId", "appProvider", "appName",
		"appSoftVersion", "appDVersion", "appPkgId", "instantiationState"),
	complex:  set("instantiatedAppState", "mecHostInformation", "vimConnectionInfo", "observedState", "trafficSteering"),
	rendered: set("observedState", "vimConnectionInfo", "trafficSteering"),
}

// instanceFields: lists leave out the observed state (which the site refreshes) unless asked.
var instanceFields = selector.FieldSpec{
	Default: []string{"observedState", "vimConnectionInfo", "trafficSteering"},
	Complex: []string{"instantiatedAppState", "mecHostInformation", "vimConnectionInfo", "observedState", "trafficSteering"},
	Keep:    []string{"id", "_links"},
	Known:   instanceAttrs.field,
}

var opAttrs = attrs{
	simple: set("id", "operationState", "lcmOperation", "appInstanceId", "isCancelPending", "cancelMode",
		"siteId", "attempts"),
	complex: set("stateEnteredTime", "startTime", "operationParams", "error", "placement", "warnings"),
}

// opFields: as ETSI GS NFV-SOL 003 does for VNF LCM op occurrences, lists leave out the
// request, the error and (ours) the placement decision unless asked.
var opFields = selector.FieldSpec{
	Default: []string{"operationParams", "error", "placement"},
	Complex: []string{"stateEnteredTime", "startTime", "operationParams", "error", "placement", "warnings"},
	Keep:    []string{"id", "_links"},
	Known:   opAttrs.field,
}

func link(href string) map[string]string { return map[string]string{"href": href} }

func toDoc(v any) map[string]any {
	b, _ := json.Marshal(v)
	var doc map[string]any
	_ = json.Unmarshal(b, &doc)
	return doc
}

func (h *handler) lifecycle() (*lcm.Service, error) {
	if h.lc == nil {
		return nil, problem.New(http.StatusNotFound, "app lifecycle management is not served here")
	}
	return h.lc, nil
}

// selection parses a list's filter, attribute selectors and page marker.
func (h *handler) selection(list string, known func(string) bool, spec selector.FieldSpec, omittable map[string]bool,
	filter, marker *string, sel url.Values) (store.LCMListQuery, selector.Fields, error) {
	for k, v := range sel {
		if v == nil {
			delete(sel, k)
		}
	}
	q := store.LCMListQuery{Limit: h.cfg.PageSize}
	if filter != nil {
		f, err := compileFilterOf(*filter, known)
		if err != nil {
			return q, selector.Fields{}, err
		}
		q.Filter = f
	}
	fields, err := selector.ParseFields(sel, spec)
	if err != nil {
		return q, fields, problem.BadRequest("%v", err)
	}
	if omit, ok := typedOmit(fields, omittable); ok {
		q.Omit = omit // the store need not read what the answer drops
	}
	if marker != nil {
		if q.After, err = h.decodeMarker(list, *marker); err != nil {
			return q, fields, err
		}
	}
	return q, fields, nil
}

// CreateAppInstance implements POST /app_instances.
func (h *handler) CreateAppInstance(ctx context.Context, req mm1api.CreateAppInstanceRequestObject) (mm1api.CreateAppInstanceResponseObject, error) {
	lc, err := h.lifecycle()
	if err != nil {
		return nil, err
	}
	b := req.Body
	in := lcm.CreateInput{AppDID: b.AppDId}
	if b.AppInstanceName != nil {
		in.Name = *b.AppInstanceName
	}
	if b.AppInstanceDescription != nil {
		in.Description = *b.AppInstanceDescription
	}
	inst, err := lc.Create(ctx, in)
	if err != nil {
		return nil, err
	}
	return jsonResponse{status: http.StatusCreated, body: h.instView(inst, nil),
		location: h.cfg.APIRoot + lcmBase + "/app_instances/" + inst.ID}, nil
}

// ListAppInstances implements GET /app_instances.
func (h *handler) ListAppInstances(ctx context.Context, req mm1api.ListAppInstancesRequestObject) (mm1api.ListAppInstancesResponseObject, error) {
	lc, err := h.lifecycle()
	if err != nil {
		return nil, err
	}
	p := req.Params
	sel := url.Values{"fields": opt(p.Fields), "exclude_fields": opt(p.ExcludeFields), "all_fields": opt(p.AllFields), "exclude_default": opt(p.ExcludeDefault)}
	q, fields, err := h.selection("app_instances", instanceAttrs.filter, instanceFields, instOmittable, p.Filter, p.NextpageOpaqueMarker, sel)
	if err != nil {
		return nil, err
	}
	page, err := lc.List(ctx, q)
	if err != nil {
		return nil, err
	}
	docs := make([]any, 0, len(page.Instances))
	for _, in := range page.Instances {
		docs = append(docs, h.selectedInstance(in, fields))
	}
	r := jsonResponse{status: http.StatusOK, body: docs}
	if page.Next != 0 {
		r.link = h.nextLink("app_instances", lcmBase+"/app_instances", p.Filter, sel, page.Next)
	}
	return r, nil
}

// GetAppInstance implements GET /app_instances/{appInstanceId}.
func (h *handler) GetAppInstance(ctx context.Context, req mm1api.GetAppInstanceRequestObject) (mm1api.GetAppInstanceResponseObject, error) {
	lc, err := h.lifecycle()
	if err != nil {
		return nil, err
	}
	inst, err := lc.Get(ctx, req.AppInstanceId)
	if err != nil {
		return nil, err
	}
	return jsonResponse{status: http.StatusOK, body: h.instView(inst, nil)}, nil
}

// DeleteAppInstance implements DELETE /app_instances/{appInstanceId}.
func (h *handler) DeleteAppInstance(ctx context.Context, req mm1api.DeleteAppInstanceRequestObject) (mm1api.DeleteAppInstanceResponseObject, error) {
	lc, err := h.lifecycle()
	if err != nil {
		return nil, err
	}
	if err := lc.Delete(ctx, req.AppInstanceId); err != nil {
		return nil, err
	}
	return mm1api.DeleteAppInstance204Response{}, nil
}

// hostID reads a selectedMECHostInfo hostId: a site id, or an object naming it (siteId, id,
// or its only member).
func hostID(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, x != ""
	case map[string]any:
		for _, k := range []string{"siteId", "id"} {
			if s, ok := x[k].(string); ok && s != "" {
				return s, true
			}
		}
		if len(x) == 1 {
			for _, v := range x {
				s, ok := v.(string)
				return s, ok && s != ""
			}
		}
	}
	return "", false
}

func raw(v any) (json.RawMessage, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, problem.BadRequest("%v", err)
	}
	return b, nil
}

// instantiateInput binds an InstantiateAppRequest.
func instantiateInput(b *mm1api.InstantiateAppRequest) (lcm.InstantiateInput, error) {
	var in lcm.InstantiateInput
	var err error
	if in.Params, err = raw(b); err != nil {
		return in, err
	}
	if b.SelectedMECHostInfo != nil {
		for i, m := range *b.SelectedMECHostInfo {
			id, ok := hostID(m.HostId)
			if !ok {
				return in, problem.BadRequest("selectedMECHostInfo/%d/hostId: want a site id (a string, or an object with siteId)", i)
			}
			host := lcm.Host{ID: id}
			if m.HostName != nil {
				host.Name = *m.HostName
			}
			in.Hosts = append(in.Hosts, host)
		}
	}
	if lc := b.LocationConstraints; lc != nil {
		var c placement.LocationConstraints
		if lc.CountryCode != nil {
			c.CountryCode = *lc.CountryCode
		}
		if lc.CivicAddressElement != nil {
			for _, e := range *lc.CivicAddressElement {
				c.CivicAddress = append(c.CivicAddress, placement.CivicAddressElement{CaType: e.CaType, CaValue: e.CaValue})
			}
		}
		if lc.Area != nil {
			a, err := raw(lc.Area)
			if err != nil {
				return in, err
			}
			c.Area = &placement.Area{}
			if err := json.Unmarshal(a, c.Area); err != nil {
				return in, problem.BadRequest("locationConstraints/area: %v", err)
			}
		}
		in.Location = &c
	}
	if b.VirtualComputeDescriptor != nil {
		if in.Compute, err = raw(b.VirtualComputeDescriptor); err != nil {
			return in, err
		}
	}
	if b.AppTrafficRule != nil {
		if in.TrafficRules, err = raw(b.AppTrafficRule); err != nil {
			return in, err
		}
	}
	if b.AppDNSRule != nil {
		if in.DNSRules, err = raw(b.AppDNSRule); err != nil {
			return in, err
		}
	}
	return in, nil
}

// accepted is the 202 of a task: Location names the op occurrence.
func (h *handler) accepted(op *store.OpOcc) acceptedResponse {
	return acceptedResponse{location: h.cfg.APIRoot + lcmBase + "/app_lcm_op_occs/" + op.ID}
}

// InstantiateAppInstance implements POST /app_instances/{appInstanceId}/instantiate.
func (h *handler) InstantiateAppInstance(ctx context.Context, req mm1api.InstantiateAppInstanceRequestObject) (mm1api.InstantiateAppInstanceResponseObject, error) {
	lc, err := h.lifecycle()
	if err != nil {
		return nil, err
	}
	in, err := instantiateInput(req.Body)
	if err != nil {
		return nil, err
	}
	op, err := lc.Instantiate(ctx, req.AppInstanceId, in)
	if err != nil {
		return nil, err
	}
	return h.accepted(op), nil
}

// OperateAppInstance implements POST /app_instances/{appInstanceId}/operate.
func (h *handler) OperateAppInstance(ctx context.Context, req mm1api.OperateAppInstanceRequestObject) (mm1api.OperateAppInstanceResponseObject, error) {
	lc, err := h.lifecycle()
	if err != nil {
		return nil, err
	}
	b := req.Body
	in := lcm.OperateInput{ChangeStateTo: string(b.ChangeStateTo), GracefulStopTimeout: b.GracefulStopTimeout}
	if b.StopType != nil {
		in.StopType = string(*b.StopType)
	}
	if in.Params, err = raw(b); err != nil {
		return nil, err
	}
	op, err := lc.Operate(ctx, req.AppInstanceId, in)
	if err != nil {
		return nil, err
	}
	return h.accepted(op), nil
}

// TerminateAppInstance implements POST /app_instances/{appInstanceId}/terminate.
func (h *handler) TerminateAppInstance(ctx context.Context, req mm1api.TerminateAppInstanceRequestObject) (mm1api.TerminateAppInstanceResponseObject, error) {
	lc, err := h.lifecycle()
	if err != nil {
		return nil, err
	}
	b := req.Body
	in := lcm.TerminateInput{TerminationType: string(b.TerminationType), GracefulTerminationTimeout: b.GracefulTerminationTimeout}
	if in.Params, err = raw(b); err != nil {
		return nil, err
	}
	op, err := lc.Terminate(ctx, req.AppInstanceId, in)
	if err != nil {
		return nil, err
	}
	return h.accepted(op), nil
}

// ListAppLcmOpOccs implements GET /app_lcm_op_occs.
func (h *handler) ListAppLcmOpOccs(ctx context.Context, req mm1api.ListAppLcmOpOccsRequestObject) (mm1api.ListAppLcmOpOccsResponseObject, error) {
	lc, err := h.lifecycle()
	if err != nil {
		return nil, err
	}
	p := req.Params
	sel := url.Values{"fields": opt(p.Fields), "exclude_fields": opt(p.ExcludeFields), "all_fields": opt(p.AllFields), "exclude_default": opt(p.ExcludeDefault)}
	q, fields, err := h.selection("app_lcm_op_occs", opAttrs.filter, opFields, opOmittable, p.Filter, p.NextpageOpaqueMarker, sel)
	if err != nil {
		return nil, err
	}
	page, err := lc.ListOps(ctx, q)
	if err != nil {
		return nil, err
	}
	docs := make([]any, 0, len(page.Ops))
	for _, op := range page.Ops {
		docs = append(docs, h.selectedOp(op, fields))
	}
	r := jsonResponse{status: http.StatusOK, body: docs}
	if page.Next != 0 {
		r.link = h.nextLink("app_lcm_op_occs", lcmBase+"/app_lcm_op_occs", p.Filter, sel, page.Next)
	}
	return r, nil
}

// GetAppLcmOpOcc implements GET /app_lcm_op_occs/{appLcmOpOccId}.
func (h *handler) GetAppLcmOpOcc(ctx context.Context, req mm1api.GetAppLcmOpOccRequestObject) (mm1api.GetAppLcmOpOccResponseObject, error) {
	lc, err := h.lifecycle()
	if err != nil {
		return nil, err
	}
	op, err := lc.GetOp(ctx, req.AppLcmOpOccId)
	if err != nil {
		return nil, err
	}
	return jsonResponse{status: http.StatusOK, body: h.opView(op, nil)}, nil
}

// RetryAppLcmOpOcc implements POST /app_lcm_op_occs/{appLcmOpOccId}/retry.
func (h *handler) RetryAppLcmOpOcc(ctx context.Context, req mm1api.RetryAppLcmOpOccRequestObject) (mm1api.RetryAppLcmOpOccResponseObject, error) {
	lc, err := h.lifecycle()
	if err != nil {
		return nil, err
	}
	op, err := lc.Retry(ctx, req.AppLcmOpOccId)
	if err != nil {
		return nil, err
	}
	return h.accepted(op), nil
}

// FailAppLcmOpOcc implements POST /app_lcm_op_occs/{appLcmOpOccId}/fail.
func (h *handler) FailAppLcmOpOcc(ctx context.Context, req mm1api.FailAppLcmOpOccRequestObject) (mm1api.FailAppLcmOpOccResponseObject, error) {
	lc, err := h.lifecycle()
	if err != nil {
		return nil, err
	}
	op, err := lc.Fail(ctx, req.AppLcmOpOccId)
	if err != nil {
		return nil, err
	}
	return jsonResponse{status: http.StatusOK, body: h.opView(op, nil)}, nil
}

// CancelAppLcmOpOcc implements POST /app_lcm_op_occs/{appLcmOpOccId}/cancel.
func (h *handler) CancelAppLcmOpOcc(ctx context.Context, req mm1api.CancelAppLcmOpOccRequestObject) (mm1api.CancelAppLcmOpOccResponseObject, error) {
	lc, err := h.lifecycle()
	if err != nil {
		return nil, err
	}
	op, err := lc.Cancel(ctx, req.AppLcmOpOccId, string(req.Body.CancelMode))
	if err != nil {
		return nil, err
	}
	return h.accepted(op), nil
}

// oneOrMany reads a filter member given as one string (V2.1.1) or a list of strings.
func oneOrMany(name string, v any) ([]string, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case string:
		return []string{x}, nil
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, problem.BadRequest("%s: want a string or a list of strings", name)
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, problem.BadRequest("%s: want a string or a list of strings", name)
}

func instanceFilter(f *mm1api.AppInstanceSubscriptionFilter) *lcm.InstanceFilter {
	if f == nil {
		return nil
	}
	out := &lcm.InstanceFilter{SelectorType: string(f.AppInstSelectorType), AppInstances: list(f.AppInstances)}
	if f.AppsFromProviders != nil {
		for _, p := range *f.AppsFromProviders {
			pf := lcm.ProviderFilter{AppProvider: p.AppProvider}
			if pr := p.AppProducts; pr != nil {
				pf.AppProducts = &lcm.ProductFilter{AppName: pr.AppName}
				if v := pr.Versions; v != nil {
					pf.AppProducts.Versions = &lcm.VersionFilter{AppSoftVersion: v.AppSoftVersion, AppDVersion: list(v.AppDVersion)}
				}
			}
			out.AppsFromProviders = append(out.AppsFromProviders, pf)
		}
	}
	return out
}

// lcmSubInfo renders a subscription as its AppInstSubscriptionInfo,
// AppLcmOpOccSubscriptionInfo or identifier subscription info.
func (h *handler) lcmSubInfo(s *store.LCMSubscription) map[string]any {
	doc := map[string]any{
		"id": s.ID, "subscriptionType": s.SubscriptionType, "callbackUri": s.CallbackURI,
		"_links": map[string]any{"self": link(h.cfg.APIRoot + lcmBase + "/subscriptions/" + s.ID)},
	}
	f := lcm.FilterOf(s)
	if s.SubscriptionType == lcm.OpOccStateChange {
		of := map[string]any{}
		if f.Instances != nil {
			of["appInstanceSubscriptionFilter"] = f.Instances
		}
		for k, v := range map[string][]string{"notificationTypes": f.NotificationTypes, "operationStates": f.OperationStates, "operationTypes": f.OperationTypes} {
			if len(v) > 0 {
				of[k] = v
			}
		}
		if len(of) > 0 {
			doc["appLcmOpOccSubscriptionFilter"] = of
		}
		return doc
	}
	if f.Instances != nil {
		doc["appInstanceSubscriptionFilter"] = f.Instances
	}
	if len(f.AppInstanceState) > 0 {
		doc["notificationType"] = f.AppInstanceState
	}
	return doc
}

// CreateAppLcmSubscription implements POST /subscriptions.
func (h *handler) CreateAppLcmSubscription(ctx context.Context, req mm1api.CreateAppLcmSubscriptionRequestObject) (mm1api.CreateAppLcmSubscriptionResponseObject, error) {
	lc, err := h.lifecycle()
	if err != nil {
		return nil, err
	}
	b := req.Body
	if q := req.Params.SubscriptionType; q != nil && *q != b.SubscriptionType {
		return nil, problem.BadRequest("the subscriptionType query parameter and the body's disagree")
	}
	in := lcm.SubscriptionInput{CallbackURI: b.CallbackUri, SubscriptionType: string(b.SubscriptionType)}
	if in.Filter.AppInstanceState, err = oneOrMany("appInstanceState", b.AppInstanceState); err != nil {
		return nil, err
	}
	in.Filter.Instances = instanceFilter(b.AppInstanceSubscriptionFilter)
	if of := b.AppLcmOpOccSubscriptionFilter; of != nil {
		if of.AppInstanceSubscriptionFilter != nil {
			if in.Filter.Instances != nil {
				return nil, problem.BadRequest("give appInstanceSubscriptionFilter once")
			}
			in.Filter.Instances = instanceFilter(of.AppInstanceSubscriptionFilter)
		}
		for name, dst := range map[string]*[]string{"notificationTypes": &in.Filter.NotificationTypes,
			"operationStates": &in.Filter.OperationStates, "operationTypes": &in.Filter.OperationTypes} {
			var v any
			switch name {
			case "notificationTypes":
				v = of.NotificationTypes
			case "operationStates":
				v = of.OperationStates
			default:
				v = of.OperationTypes
			}
			if *dst, err = oneOrMany("appLcmOpOccSubscriptionFilter/"+name, v); err != nil {
				return nil, err
			}
		}
	}
	sub, err := lc.Subscribe(ctx, in)
	if err != nil {
		return nil, err
	}
	return jsonResponse{status: http.StatusCreated, body: h.lcmSubInfo(sub), location: h.cfg.APIRoot + lcmBase + "/subscriptions/" + sub.ID}, nil
}

// ListAppLcmSubscriptions implements GET /subscriptions.
func (h *handler) ListAppLcmSubscriptions(ctx context.Context, req mm1api.ListAppLcmSubscriptionsRequestObject) (mm1api.ListAppLcmSubscriptionsResponseObject, error) {
	lc, err := h.lifecycle()
	if err != nil {
		return nil, err
	}
	typ := ""
	if req.Params.SubscriptionType != nil {
		typ = string(*req.Params.SubscriptionType)
	}
	subs, err := lc.Subscriptions(ctx, typ)
	if err != nil {
		return nil, err
	}
	links := make([]map[string]string, 0, len(subs))
	for _, s := range subs {
		links = append(links, map[string]string{"href": h.cfg.APIRoot + lcmBase + "/subscriptions/" + s.ID, "subscriptionType": s.SubscriptionType})
	}
	return jsonResponse{status: http.StatusOK, body: map[string]any{"_links": map[string]any{
		"self": link(h.cfg.APIRoot + lcmBase + "/subscriptions"), "subscriptions": links}}}, nil
}

// GetAppLcmSubscription implements GET /subscriptions/{subscriptionId}.
func (h *handler) GetAppLcmSubscription(ctx context.Context, req mm1api.GetAppLcmSubscriptionRequestObject) (mm1api.GetAppLcmSubscriptionResponseObject, error) {
	lc, err := h.lifecycle()
	if err != nil {
		return nil, err
	}
	s, err := lc.Subscription(ctx, req.SubscriptionId)
	if err != nil {
		return nil, err
	}
	return jsonResponse{status: http.StatusOK, body: h.lcmSubInfo(s)}, nil
}

// DeleteAppLcmSubscription implements DELETE /subscriptions/{subscriptionId}.
func (h *handler) DeleteAppLcmSubscription(ctx context.Context, req mm1api.DeleteAppLcmSubscriptionRequestObject) (mm1api.DeleteAppLcmSubscriptionResponseObject, error) {
	lc, err := h.lifecycle()
	if err != nil {
		return nil, err
	}
	if err := lc.Unsubscribe(ctx, req.SubscriptionId); err != nil {
		return nil, err
	}
	return mm1api.DeleteAppLcmSubscription204Response{}, nil
}

// acceptedResponse is a 202 with the Location of an op occurrence and no body.
type acceptedResponse struct{ location string }

func (r acceptedResponse) visit(w http.ResponseWriter) error {
	w.Header().Set("Location", r.location)
	w.WriteHeader(http.StatusAccepted)
	return nil
}

func (r acceptedResponse) VisitInstantiateAppInstanceResponse(w http.ResponseWriter) error {
	return r.visit(w)
}
func (r acceptedResponse) VisitOperateAppInstanceResponse(w http.ResponseWriter) error {
	return r.visit(w)
}
func (r acceptedResponse) VisitTerminateAppInstanceResponse(w http.ResponseWriter) error {
	return r.visit(w)
}
func (r acceptedResponse) VisitRetryAppLcmOpOccResponse(w http.ResponseWriter) error {
	return r.visit(w)
}
func (r acceptedResponse) VisitCancelAppLcmOpOccResponse(w http.ResponseWriter) error {
	return r.visit(w)
}

func (r jsonResponse) VisitCreateAppInstanceResponse(w http.ResponseWriter) error { return r.visit(w) }
func (r jsonResponse) VisitListAppInstancesResponse(w http.ResponseWriter) error  { return r.visit(w) }
func (r jsonResponse) VisitGetAppInstanceResponse(w http.ResponseWriter) error    { return r.visit(w) }
func (r jsonResponse) VisitListAppLcmOpOccsResponse(w http.ResponseWriter) error  { return r.visit(w) }
func (r jsonResponse) VisitGetAppLcmOpOccResponse(w http.ResponseWriter) error    { return r.visit(w) }
func (r jsonResponse) VisitFailAppLcmOpOccResponse(w http.ResponseWriter) error   { return r.visit(w) }
func (r jsonResponse) VisitCreateAppLcmSubscriptionResponse(w http.ResponseWriter) error {
	return r.visit(w)
}
func (r jsonResponse) VisitListAppLcmSubscriptionsResponse(w http.ResponseWriter) error {
	return r.visit(w)
}
func (r jsonResponse) VisitGetAppLcmSubscriptionResponse(w http.ResponseWriter) error {
	return r.visit(w)
}
