package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/edgemec/edgemec/internal/mecrule/mp1rule"
	"github.com/edgemec/edgemec/internal/problem"
	"github.com/edgemec/edgemec/mep/internal/httpapi/wire"
	"github.com/edgemec/edgemec/mep/internal/platform"
	"github.com/edgemec/edgemec/mep/mp1api"
	"github.com/edgemec/edgemec/mep/mp1api/mp1server"
)

// splitList accepts both repeated parameters and comma lists (ETSI GS MEC 011 §8.2.3.3.1).
// More than platform.MaxQueryItems values are refused before they are collected.
func splitList(name string, p *[]string) ([]string, error) {
	if p == nil {
		return nil, nil
	}
	var out []string
	for _, v := range *p {
		for s := range strings.SplitSeq(v, ",") {
			if s = strings.TrimSpace(s); s == "" {
				continue
			}
			if len(out) == platform.MaxQueryItems {
				return nil, problem.BadRequest("%s has more than %d values", name, platform.MaxQueryItems)
			}
			out = append(out, s)
		}
	}
	return out, nil
}

func filter(ids, names *[]string, cat *string, local, consumed *bool, scope *mp1api.LocalityType) (*platform.Filter, error) {
	n := 0
	for _, set := range []bool{ids != nil, names != nil, cat != nil} {
		if set {
			n++
		}
	}
	if n > 1 {
		return nil, problem.BadRequest("at most one of ser_instance_id, ser_name and ser_category_id may be given")
	}
	f := &platform.Filter{CategoryID: cat, IsLocal: local, ConsumedLocalOnly: consumed, Scope: (*platform.LocalityType)(scope)}
	var err error
	// An empty list must not turn into "no filter": it would answer with every service.
	if ids != nil {
		if f.InstanceIDs, err = splitList("ser_instance_id", ids); err != nil {
			return nil, err
		}
		if len(f.InstanceIDs) == 0 {
			return nil, problem.BadRequest("ser_instance_id must not be empty")
		}
	}
	if names != nil {
		if f.Names, err = splitList("ser_name", names); err != nil {
			return nil, err
		}
		if len(f.Names) == 0 {
			return nil, problem.BadRequest("ser_name must not be empty")
		}
	}
	return f, nil
}

// discover answers a discovery with the services' stored representations, written one
// after another: no per-request copy of them is made.
func (h *handler) discover(ctx context.Context, producer string, f *platform.Filter) (encoded, error) {
	parts, err := h.site.DiscoverParts(viewer(ctx), producer, f)
	if err != nil {
		return encoded{}, err
	}
	return encoded{status: http.StatusOK, parts: parts, array: true}, nil
}

// ServicesGET implements GET /mec_service_mgmt/v1/services.
func (h *handler) ServicesGET(ctx context.Context, r mp1server.ServicesGETRequestObject) (mp1server.ServicesGETResponseObject, error) {
	p := r.Params
	f, err := filter(p.SerInstanceId, p.SerName, p.SerCategoryId, p.IsLocal, p.ConsumedLocalOnly, p.ScopeOfLocality)
	if err != nil {
		return nil, err
	}
	return h.discover(ctx, "", f)
}

// ServiceGET implements GET /mec_service_mgmt/v1/services/{serviceId}.
func (h *handler) ServiceGET(ctx context.Context, r mp1server.ServiceGETRequestObject) (mp1server.ServiceGETResponseObject, error) {
	b, etag, err := h.site.Service(viewer(ctx), "", r.ServiceId)
	if err != nil {
		return nil, err
	}
	return encoded{status: http.StatusOK, etag: etag, body: b}, nil
}

// AppServicesGET implements GET .../applications/{appInstanceId}/services.
func (h *handler) AppServicesGET(ctx context.Context, r mp1server.AppServicesGETRequestObject) (mp1server.AppServicesGETResponseObject, error) {
	p := r.Params
	f, err := filter(p.SerInstanceId, p.SerName, p.SerCategoryId, p.IsLocal, p.ConsumedLocalOnly, p.ScopeOfLocality)
	if err != nil {
		return nil, err
	}
	return h.discover(ctx, r.AppInstanceId, f)
}

// AppServicesPOST implements POST .../applications/{appInstanceId}/services.
func (h *handler) AppServicesPOST(ctx context.Context, r mp1server.AppServicesPOSTRequestObject) (mp1server.AppServicesPOSTResponseObject, error) {
	b, etag, loc, err := h.site.RegisterService(ctx, viewer(ctx), r.AppInstanceId, wire.ServiceInfoPost(r.Body))
	if err != nil {
		return nil, err
	}
	return encoded{status: http.StatusCreated, etag: etag, location: loc, body: b}, nil
}

// AppServiceGET implements GET .../applications/{appInstanceId}/services/{serviceId}.
func (h *handler) AppServiceGET(ctx context.Context, r mp1server.AppServiceGETRequestObject) (mp1server.AppServiceGETResponseObject, error) {
	b, etag, err := h.site.Service(platform.Operator, r.AppInstanceId, r.ServiceId)
	if err != nil {
		return nil, err
	}
	return encoded{status: http.StatusOK, etag: etag, body: b}, nil
}

// AppServicePUT implements PUT .../applications/{appInstanceId}/services/{serviceId}.
func (h *handler) AppServicePUT(ctx context.Context, r mp1server.AppServicePUTRequestObject) (mp1server.AppServicePUTResponseObject, error) {
	b, etag, err := h.site.UpdateService(ctx, viewer(ctx), r.AppInstanceId, r.ServiceId, deref(r.Params.IfMatch), wire.ServiceInfo(r.Body))
	if err != nil {
		return nil, err
	}
	return encoded{status: http.StatusOK, etag: etag, body: b}, nil
}

// AppServiceDELETE implements DELETE .../applications/{appInstanceId}/services/{serviceId}.
func (h *handler) AppServiceDELETE(ctx context.Context, r mp1server.AppServiceDELETERequestObject) (mp1server.AppServiceDELETEResponseObject, error) {
	if err := h.site.DeleteService(ctx, r.AppInstanceId, r.ServiceId); err != nil {
		return nil, err
	}
	return mp1server.AppServiceDELETE204Response{}, nil
}

// ServiceLivenessGET implements GET .../services/{serviceId}/liveness.
func (h *handler) ServiceLivenessGET(ctx context.Context, r mp1server.ServiceLivenessGETRequestObject) (mp1server.ServiceLivenessGETResponseObject, error) {
	l, err := h.site.Liveness(r.AppInstanceId, r.ServiceId)
	if err != nil {
		return nil, err
	}
	return mp1server.ServiceLivenessGET200JSONResponse(wire.WireLiveness(l)), nil
}

// ServiceLivenessPATCH implements PATCH .../services/{serviceId}/liveness (a heartbeat).
func (h *handler) ServiceLivenessPATCH(ctx context.Context, r mp1server.ServiceLivenessPATCHRequestObject) (mp1server.ServiceLivenessPATCHResponseObject, error) {
	var u mp1api.ServiceLivenessUpdate
	switch {
	case r.JSONBody != nil:
		u = *r.JSONBody
	case r.ApplicationMergePatchPlusJSONBody != nil:
		u = *r.ApplicationMergePatchPlusJSONBody
	default:
		return nil, problem.BadRequest("request body is required")
	}
	l, err := h.site.Heartbeat(ctx, r.AppInstanceId, r.ServiceId, platform.ServiceState(u.State))
	if err != nil {
		return nil, err
	}
	return mp1server.ServiceLivenessPATCH200JSONResponse(wire.WireLiveness(l)), nil
}

// SerAvailSubscriptionsGET implements GET /mec_service_mgmt/v1/applications/{id}/subscriptions.
func (h *handler) SerAvailSubscriptionsGET(ctx context.Context, r mp1server.SerAvailSubscriptionsGETRequestObject) (mp1server.SerAvailSubscriptionsGETResponseObject, error) {
	l, err := h.site.Subscriptions(platform.SerAvail, r.AppInstanceId)
	if err != nil {
		return nil, err
	}
	return mp1server.SerAvailSubscriptionsGET200JSONResponse(wire.WireSubscriptionList(&l)), nil
}

// SerAvailSubscriptionsPOST implements POST /mec_service_mgmt/v1/applications/{id}/subscriptions.
func (h *handler) SerAvailSubscriptionsPOST(ctx context.Context, r mp1server.SerAvailSubscriptionsPOSTRequestObject) (mp1server.SerAvailSubscriptionsPOSTResponseObject, error) {
	return h.subscribe(ctx, r.AppInstanceId, wire.SerAvailSubscription(r.Body))
}

func (h *handler) subscribe(ctx context.Context, app string, sub platform.Subscription) (value, error) {
	out, loc, err := h.site.Subscribe(ctx, app, sub)
	if err != nil {
		return value{}, err
	}
	return value{status: http.StatusCreated, location: loc, v: wire.WireSubscription(out)}, nil
}

// SerAvailSubscriptionGET implements GET .../subscriptions/{subscriptionId} (service mgmt).
func (h *handler) SerAvailSubscriptionGET(ctx context.Context, r mp1server.SerAvailSubscriptionGETRequestObject) (mp1server.SerAvailSubscriptionGETResponseObject, error) {
	sub, err := h.site.Subscription(platform.SerAvail, r.AppInstanceId, r.SubscriptionId)
	if err != nil {
		return nil, err
	}
	return value{status: http.StatusOK, v: wire.WireSubscription(sub)}, nil
}

// SerAvailSubscriptionDELETE implements DELETE .../subscriptions/{subscriptionId} (service mgmt).
func (h *handler) SerAvailSubscriptionDELETE(ctx context.Context, r mp1server.SerAvailSubscriptionDELETERequestObject) (mp1server.SerAvailSubscriptionDELETEResponseObject, error) {
	if err := h.site.Unsubscribe(ctx, platform.SerAvail, r.AppInstanceId, r.SubscriptionId); err != nil {
		return nil, err
	}
	return mp1server.SerAvailSubscriptionDELETE204Response{}, nil
}

// TransportsGET implements GET /mec_service_mgmt/v1/transports.
func (h *handler) TransportsGET(context.Context, mp1server.TransportsGETRequestObject) (mp1server.TransportsGETResponseObject, error) {
	return value{status: http.StatusOK, v: wire.WireTransports(h.site.Transports())}, nil
}

// TrafficRulesGET implements GET .../traffic_rules.
func (h *handler) TrafficRulesGET(ctx context.Context, r mp1server.TrafficRulesGETRequestObject) (mp1server.TrafficRulesGETResponseObject, error) {
	d, err := h.site.TrafficRules(r.AppInstanceId)
	if err != nil {
		return nil, err
	}
	rs := mp1rule.WireTrafficRules(d)
	v, err := h.trafficRules(ctx, rs...)
	if err != nil || v != nil {
		return value{status: http.StatusOK, v: v}, err
	}
	return value{status: http.StatusOK, v: rs}, nil
}

// trafficRule answers one traffic rule in the caller's MEC 011 representation.
func (h *handler) trafficRule(ctx context.Context, rule mp1api.TrafficRule, etag string) (value, error) {
	v, err := h.trafficRules(ctx, rule)
	if err != nil {
		return value{}, err
	}
	if v != nil {
		return value{status: http.StatusOK, etag: etag, v: v.([]json.RawMessage)[0]}, nil
	}
	return value{status: http.StatusOK, etag: etag, v: rule}, nil
}

// TrafficRuleGET implements GET .../traffic_rules/{trafficRuleId}.
func (h *handler) TrafficRuleGET(ctx context.Context, r mp1server.TrafficRuleGETRequestObject) (mp1server.TrafficRuleGETResponseObject, error) {
	rule, etag, err := h.site.TrafficRule(r.AppInstanceId, r.TrafficRuleId)
	if err != nil {
		return nil, err
	}
	return h.trafficRule(ctx, mp1rule.WireTrafficRule(&rule), etag)
}

// TrafficRulePUT implements PUT .../traffic_rules/{trafficRuleId}. A V2.1.1 single-object
// dstInterface was rewritten into the array form before validation (specValidator).
func (h *handler) TrafficRulePUT(ctx context.Context, r mp1server.TrafficRulePUTRequestObject) (mp1server.TrafficRulePUTResponseObject, error) {
	rule, etag, err := h.site.UpdateTrafficRule(ctx, viewer(ctx), r.AppInstanceId, r.TrafficRuleId, deref(r.Params.IfMatch), mp1rule.TrafficRule(r.Body))
	if err != nil {
		return nil, err
	}
	return h.trafficRule(ctx, mp1rule.WireTrafficRule(&rule), etag)
}

// DnsRulesGET implements GET .../dns_rules.
func (h *handler) DnsRulesGET(_ context.Context, r mp1server.DnsRulesGETRequestObject) (mp1server.DnsRulesGETResponseObject, error) {
	rs, err := h.site.DNSRules(r.AppInstanceId)
	if err != nil {
		return nil, err
	}
	return value{status: http.StatusOK, v: mp1rule.WireDNSRules(rs)}, nil
}

// DnsRuleGET implements GET .../dns_rules/{dnsRuleId}.
func (h *handler) DnsRuleGET(_ context.Context, r mp1server.DnsRuleGETRequestObject) (mp1server.DnsRuleGETResponseObject, error) {
	rule, etag, err := h.site.DNSRule(r.AppInstanceId, r.DnsRuleId)
	if err != nil {
		return nil, err
	}
	return value{status: http.StatusOK, etag: etag, v: mp1rule.WireDNSRule(&rule)}, nil
}

// DnsRulePUT implements PUT .../dns_rules/{dnsRuleId}.
func (h *handler) DnsRulePUT(ctx context.Context, r mp1server.DnsRulePUTRequestObject) (mp1server.DnsRulePUTResponseObject, error) {
	rule, etag, err := h.site.UpdateDNSRule(ctx, viewer(ctx), r.AppInstanceId, r.DnsRuleId, deref(r.Params.IfMatch), mp1rule.DNSRule(r.Body))
	if err != nil {
		return nil, err
	}
	return value{status: http.StatusOK, etag: etag, v: mp1rule.WireDNSRule(&rule)}, nil
}

// AppTermSubscriptionsGET implements GET /mec_app_support/v1/applications/{id}/subscriptions.
func (h *handler) AppTermSubscriptionsGET(_ context.Context, r mp1server.AppTermSubscriptionsGETRequestObject) (mp1server.AppTermSubscriptionsGETResponseObject, error) {
	l, err := h.site.Subscriptions(platform.AppTerm, r.AppInstanceId)
	if err != nil {
		return nil, err
	}
	return mp1server.AppTermSubscriptionsGET200JSONResponse(wire.WireSubscriptionList(&l)), nil
}

// AppTermSubscriptionsPOST implements POST /mec_app_support/v1/applications/{id}/subscriptions.
func (h *handler) AppTermSubscriptionsPOST(ctx context.Context, r mp1server.AppTermSubscriptionsPOSTRequestObject) (mp1server.AppTermSubscriptionsPOSTResponseObject, error) {
	return h.subscribe(ctx, r.AppInstanceId, wire.AppTermSubscription(r.Body))
}

// AppTermSubscriptionGET implements GET .../subscriptions/{subscriptionId} (app support).
func (h *handler) AppTermSubscriptionGET(_ context.Context, r mp1server.AppTermSubscriptionGETRequestObject) (mp1server.AppTermSubscriptionGETResponseObject, error) {
	sub, err := h.site.Subscription(platform.AppTerm, r.AppInstanceId, r.SubscriptionId)
	if err != nil {
		return nil, err
	}
	return value{status: http.StatusOK, v: wire.WireSubscription(sub)}, nil
}

// AppTermSubscriptionDELETE implements DELETE .../subscriptions/{subscriptionId} (app support).
func (h *handler) AppTermSubscriptionDELETE(ctx context.Context, r mp1server.AppTermSubscriptionDELETERequestObject) (mp1server.AppTermSubscriptionDELETEResponseObject, error) {
	if err := h.site.Unsubscribe(ctx, platform.AppTerm, r.AppInstanceId, r.SubscriptionId); err != nil {
		return nil, err
	}
	return mp1server.AppTermSubscriptionDELETE204Response{}, nil
}

// ConfirmReady implements POST .../confirm_ready.
func (h *handler) ConfirmReady(ctx context.Context, r mp1server.ConfirmReadyRequestObject) (mp1server.ConfirmReadyResponseObject, error) {
	if err := h.site.ConfirmReady(ctx, r.AppInstanceId, r.Body.Indication); err != nil {
		return nil, err
	}
	return mp1server.ConfirmReady204Response{}, nil
}

// ConfirmTermination implements POST .../confirm_termination.
func (h *handler) ConfirmTermination(ctx context.Context, r mp1server.ConfirmTerminationRequestObject) (mp1server.ConfirmTerminationResponseObject, error) {
	if err := h.site.ConfirmTermination(ctx, r.AppInstanceId, platform.OperationAction(r.Body.OperationAction)); err != nil {
		return nil, err
	}
	return mp1server.ConfirmTermination204Response{}, nil
}

// RegistrationsPOST implements POST /mec_app_support/v1/registrations.
func (h *handler) RegistrationsPOST(ctx context.Context, r mp1server.RegistrationsPOSTRequestObject) (mp1server.RegistrationsPOSTResponseObject, error) {
	info := *r.Body
	if p := principal(ctx); !p.Operator {
		switch {
		case info.AppInstanceId == nil:
			return nil, problem.Forbidden("an app may only register itself (appInstanceId %q)", p.AppInstanceID)
		case *info.AppInstanceId != p.AppInstanceID:
			return nil, unknownApp(*info.AppInstanceId)
		}
	}
	d, err := h.site.Register(ctx, wire.AppInfo(&info), true)
	if err != nil {
		return nil, err
	}
	out := wire.WireAppInfo(&d)
	return value{status: http.StatusCreated, location: h.cfg.APIRoot + "/mec_app_support/v1/registrations/" + *out.AppInstanceId, v: out}, nil
}

// RegistrationGET implements GET /mec_app_support/v1/registrations/{appInstanceId}.
func (h *handler) RegistrationGET(_ context.Context, r mp1server.RegistrationGETRequestObject) (mp1server.RegistrationGETResponseObject, error) {
	info, err := h.site.Registration(r.AppInstanceId)
	if err != nil {
		return nil, err
	}
	return mp1server.RegistrationGET200JSONResponse(wire.WireAppInfo(&info)), nil
}

// RegistrationPUT implements PUT /mec_app_support/v1/registrations/{appInstanceId}.
func (h *handler) RegistrationPUT(ctx context.Context, r mp1server.RegistrationPUTRequestObject) (mp1server.RegistrationPUTResponseObject, error) {
	info := *r.Body
	app := r.AppInstanceId
	info.AppInstanceId = &app // the path id is authoritative
	out, err := h.site.Register(ctx, wire.AppInfo(&info), false)
	if err != nil {
		return nil, err
	}
	return mp1server.RegistrationPUT200JSONResponse(wire.WireAppInfo(&out)), nil
}

// RegistrationDELETE implements DELETE /mec_app_support/v1/registrations/{appInstanceId}.
func (h *handler) RegistrationDELETE(ctx context.Context, r mp1server.RegistrationDELETERequestObject) (mp1server.RegistrationDELETEResponseObject, error) {
	if err := h.site.Deregister(ctx, r.AppInstanceId); err != nil {
		return nil, err
	}
	return mp1server.RegistrationDELETE204Response{}, nil
}

// TimingCapsGET implements GET /mec_app_support/v1/timing/timing_caps.
func (h *handler) TimingCapsGET(context.Context, mp1server.TimingCapsGETRequestObject) (mp1server.TimingCapsGETResponseObject, error) {
	now := time.Now()
	caps := mp1api.TimingCaps{TimeStamp: &mp1api.TimeStamp{Seconds: now.Unix(), NanoSeconds: int32(now.Nanosecond())}}
	if h.cfg.NTPServers != nil {
		caps.NtpServers = &h.cfg.NTPServers
	}
	if h.cfg.PTPMasters != nil {
		caps.PtpMasters = &h.cfg.PTPMasters
	}
	return mp1server.TimingCapsGET200JSONResponse(caps), nil
}

// CurrentTimeGET implements GET /mec_app_support/v1/timing/current_time.
func (h *handler) CurrentTimeGET(context.Context, mp1server.CurrentTimeGETRequestObject) (mp1server.CurrentTimeGETResponseObject, error) {
	now := time.Now()
	st := mp1api.NONTRACEABLE
	if h.cfg.TimeSourceTraceable {
		st = mp1api.TRACEABLE
	}
	return mp1server.CurrentTimeGET200JSONResponse{Seconds: now.Unix(), NanoSeconds: int32(now.Nanosecond()), TimeSourceStatus: st}, nil
}

// IssueToken implements POST /oauth2/token (client credentials, RFC 6749 §4.4). Client
// credentials come in HTTP Basic auth or in the form body. Answers carry
// Cache-Control: no-store and, on failure, an OAuth error (RFC 6749 §5.2), not a
// ProblemDetails.
func (h *handler) IssueToken(ctx context.Context, r mp1server.IssueTokenRequestObject) (mp1server.IssueTokenResponseObject, error) {
	var form mp1api.TokenRequest
	if r.Body != nil {
		form = *r.Body
	}
	if form.GrantType != "client_credentials" {
		return oauthError(http.StatusBadRequest, "unsupported_grant_type", "grant_type must be client_credentials"), nil
	}
	id, secret, ok := basicAuth(ctx)
	if !ok {
		id, secret = deref(form.ClientId), deref(form.ClientSecret)
	}
	// Failed requests are limited per client id and per source address: a guesser gets a
	// few tries, then one every few seconds, whichever id or address it uses.
	keys := []string{"client_id/" + id, "addr/" + remoteHost(ctx)}
	if wait := h.cfg.TokenLimiter.Wait(keys...); wait > 0 {
		h.log.WarnContext(ctx, "token request refused: too many failures", "app_instance_id", id, "addr", remoteHost(ctx))
		return tooMany{retryAfter: wait, detail: "too many failed token requests for this client or address"}, nil
	}
	tok, ttl, err := h.auth.Issue(id, secret, h.site.CredentialEpoch)
	if err != nil {
		h.cfg.TokenLimiter.Fail(keys...)
		h.log.InfoContext(ctx, "token request refused: invalid client", "app_instance_id", id, "addr", remoteHost(ctx))
		return oauthError(http.StatusUnauthorized, "invalid_client", "unknown client or wrong secret"), nil
	}
	return value{status: http.StatusOK, noStore: true, v: mp1api.TokenResponse{AccessToken: tok, TokenType: "Bearer", ExpiresIn: int(ttl.Seconds())}}, nil
}

func oauthError(status int, code, desc string) value {
	return value{status: status, noStore: true, v: mp1api.OAuthError{Error: code, ErrorDescription: &desc}}
}

func deref[T any](p *T) T {
	var z T
	if p == nil {
		return z
	}
	return *p
}
