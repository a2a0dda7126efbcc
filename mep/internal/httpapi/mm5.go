package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/edgemec/edgemec/internal/problem"
	"github.com/edgemec/edgemec/mep/internal/httpapi/wire"
	"github.com/edgemec/edgemec/mep/internal/platform"
	"github.com/edgemec/edgemec/mep/mm5api"
	"github.com/edgemec/edgemec/mep/mm5api/mm5server"
	"github.com/edgemec/edgemec/mep/mp1api"
)

// mm5Handler serves Mm5 (/mepm/v1); the authenticate middleware admits the operator only.
type mm5Handler struct{ *handler }

// withCredentials returns the Mm5 form of an app instance record with its credentials.
func (h *mm5Handler) withCredentials(d platform.AppRecord) mm5api.AppInstanceRecord {
	r := wire.AppInstanceRecord(&d)
	epoch, _ := h.site.CredentialEpoch(r.AppInstanceId)
	r.Credentials = mm5api.Credentials{
		ClientId: r.AppInstanceId, ClientSecret: h.auth.ClientSecret(r.AppInstanceId, epoch),
		TokenEndpoint: h.cfg.APIRoot + "/oauth2/token",
	}
	return r
}

// RotateAppSecret implements POST /mepm/v1/app_instances/{appInstanceId}/rotate_secret.
func (h *mm5Handler) RotateAppSecret(ctx context.Context, r mm5server.RotateAppSecretRequestObject) (mm5server.RotateAppSecretResponseObject, error) {
	rec, err := h.site.RotateSecret(ctx, r.AppInstanceId)
	if err != nil {
		return nil, err
	}
	return value{status: http.StatusOK, v: h.withCredentials(rec)}, nil
}

// PutAppInstance implements PUT /mepm/v1/app_instances/{appInstanceId}. Rules that leave
// out their state keep the state Mp1 gave them (ACTIVE for new ones).
func (h *mm5Handler) PutAppInstance(ctx context.Context, r mm5server.PutAppInstanceRequestObject) (mm5server.PutAppInstanceResponseObject, error) {
	spec := *r.Body
	explicit := map[string]bool{}
	for _, t := range deref(spec.AppTrafficRule) {
		explicit["traffic/"+t.TrafficRuleId] = t.State != ""
	}
	for _, d := range deref(spec.AppDNSRule) {
		explicit["dns/"+d.DnsRuleId] = d.State != ""
	}
	rec, created, err := h.site.PutApp(ctx, r.AppInstanceId, wire.AppInstance(&spec), explicit)
	if err != nil {
		return nil, err
	}
	if created {
		return value{status: http.StatusCreated, location: h.cfg.APIRoot + "/mepm/v1/app_instances/" + r.AppInstanceId, v: h.withCredentials(rec)}, nil
	}
	return value{status: http.StatusOK, v: h.withCredentials(rec)}, nil
}

// normalizeAppInstance rewrites the tolerated input forms of an Mm5 app instance into the
// form the spec describes: V2.1.1 single-object dstInterface values of appTrafficRule become
// arrays, and a rule state that is "" or null counts as left out (ACTIVE on create, the
// Mp1-set state on replace), as before request validation: the Go wire types of the rules
// (mp1api.TrafficRule, mp1api.DnsRule) cannot omit state, so Go clients send "".
func normalizeAppInstance(body []byte) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, problem.BadRequest("AppInstance: body is not a JSON object")
	}
	changed := false
	for _, key := range []string{"appTrafficRule", "appDNSRule"} {
		raw, ok := m[key]
		if !ok || string(raw) == "null" {
			continue
		}
		var rules []json.RawMessage
		if err := json.Unmarshal(raw, &rules); err != nil {
			continue // not an array: validation says so
		}
		for i, r := range rules {
			n, err := normalizeRule(key, r)
			if err != nil {
				continue // not an object: validation says so
			}
			rules[i] = n
		}
		m[key], _ = json.Marshal(rules)
		changed = true
	}
	if !changed {
		return body, nil
	}
	return json.Marshal(m)
}

// normalizeRule drops an empty state from one rule and, for a traffic rule, turns a
// single-object dstInterface into an array.
func normalizeRule(key string, r json.RawMessage) (json.RawMessage, error) {
	if key == "appTrafficRule" {
		var err error
		if r, err = mp1api.NormalizeTrafficRuleJSON(r); err != nil {
			return nil, err
		}
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(r, &obj); err != nil {
		return nil, err
	}
	if st, ok := obj["state"]; ok && (string(st) == `""` || string(st) == "null") {
		delete(obj, "state")
		return json.Marshal(obj)
	}
	return r, nil
}

// GetAppInstance implements GET /mepm/v1/app_instances/{appInstanceId}.
// With whileState it is a long poll (platform.WaitApp).
func (h *mm5Handler) GetAppInstance(ctx context.Context, r mm5server.GetAppInstanceRequestObject) (mm5server.GetAppInstanceResponseObject, error) {
	var rec platform.AppRecord
	var err error
	if w := r.Params.WhileState; w != nil {
		rec, err = h.site.WaitApp(ctx, r.AppInstanceId, platform.AppState(*w), feedWait(r.Params.Timeout))
	} else {
		rec, err = h.site.GetApp(r.AppInstanceId)
	}
	if err != nil {
		return nil, err
	}
	return value{status: http.StatusOK, v: h.withCredentials(rec)}, nil
}

// ListAppInstances implements GET /mepm/v1/app_instances.
func (h *mm5Handler) ListAppInstances(context.Context, mm5server.ListAppInstancesRequestObject) (mm5server.ListAppInstancesResponseObject, error) {
	recs := h.site.ListApps()
	out := make([]mm5api.AppInstanceRecord, len(recs))
	for i := range recs {
		out[i] = h.withCredentials(recs[i])
	}
	return value{status: http.StatusOK, v: out}, nil
}

// DeleteAppInstance implements DELETE /mepm/v1/app_instances/{appInstanceId}: it starts the
// graceful termination flow and answers 202. The spec bounds graceful_timeout (0-3600 s).
func (h *mm5Handler) DeleteAppInstance(ctx context.Context, r mm5server.DeleteAppInstanceRequestObject) (mm5server.DeleteAppInstanceResponseObject, error) {
	timeout := time.Duration(-1) // the site's default
	if t := r.Params.GracefulTimeout; t != nil {
		timeout = time.Duration(*t) * time.Second
	}
	rec, err := h.site.StartTermination(ctx, r.AppInstanceId, timeout)
	if err != nil {
		return nil, err
	}
	return value{status: http.StatusAccepted, v: h.withCredentials(rec)}, nil
}

// feedWait is the long-poll wait; the spec bounds timeout (0-60 s).
func feedWait(t *int) time.Duration {
	if t == nil {
		return 30 * time.Second
	}
	return time.Duration(*t) * time.Second
}

// TrafficRuleFeed implements GET /mepm/v1/feeds/traffic_rules (long poll).
func (h *mm5Handler) TrafficRuleFeed(ctx context.Context, r mm5server.TrafficRuleFeedRequestObject) (mm5server.TrafficRuleFeedResponseObject, error) {
	snap := h.site.TrafficFeed(ctx, r.Params.After, feedWait(r.Params.Timeout))
	return value{status: http.StatusOK, v: wire.TrafficRuleSnapshot(&snap)}, nil
}

// DnsRuleFeed implements GET /mepm/v1/feeds/dns_rules (long poll).
func (h *mm5Handler) DnsRuleFeed(ctx context.Context, r mm5server.DnsRuleFeedRequestObject) (mm5server.DnsRuleFeedResponseObject, error) {
	snap := h.site.DNSFeed(ctx, r.Params.After, feedWait(r.Params.Timeout))
	return value{status: http.StatusOK, v: wire.DNSRuleSnapshot(&snap)}, nil
}

// DnsConflicts implements GET /mepm/v1/dns/conflicts.
func (h *mm5Handler) DnsConflicts(context.Context, mm5server.DnsConflictsRequestObject) (mm5server.DnsConflictsResponseObject, error) {
	out := []mm5api.DnsConflict{}
	if h.cfg.Conflicts != nil {
		out = append(out, h.cfg.Conflicts()...)
	}
	return value{status: http.StatusOK, v: out}, nil
}

// StopAppInstance implements POST /mepm/v1/app_instances/{appInstanceId}/stop: it starts the
// stop flow and answers 202. The spec bounds graceful_timeout (0-3600 s).
func (h *mm5Handler) StopAppInstance(ctx context.Context, r mm5server.StopAppInstanceRequestObject) (mm5server.StopAppInstanceResponseObject, error) {
	timeout := time.Duration(-1) // the site's default
	if t := r.Params.GracefulTimeout; t != nil {
		timeout = time.Duration(*t) * time.Second
	}
	rec, err := h.site.StartStop(ctx, r.AppInstanceId, timeout)
	if err != nil {
		return nil, err
	}
	return value{status: http.StatusAccepted, v: h.withCredentials(rec)}, nil
}
