package httpapi

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/edgemec/edgemec/internal/problem"
	"github.com/edgemec/edgemec/mep/internal/platform"
	"github.com/edgemec/edgemec/mep/mp1api"
)

// splitList accepts both repeated parameters and comma lists (ETSI GS MEC 011 §8.2.3.3.1).
func splitList(p *[]string) []string {
	if p == nil {
		return nil
	}
	var out []string
	for _, v := range *p {
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
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
	f := &platform.Filter{CategoryID: cat, IsLocal: local, ConsumedLocalOnly: consumed, Scope: scope}
	// An empty list must not turn into "no filter": it would answer with every service.
	if ids != nil {
		if f.InstanceIDs = splitList(ids); len(f.InstanceIDs) == 0 {
			return nil, problem.BadRequest("ser_instance_id must not be empty")
		}
	}
	if names != nil {
		if f.Names = splitList(names); len(f.Names) == 0 {
			return nil, problem.BadRequest("ser_name must not be empty")
		}
	}
	return f, nil
}

func (h *handler) discover(ctx context.Context, producer string, f *platform.Filter) (encoded, error) {
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	if err := h.site.Discover(viewer(ctx), producer, f, buf); err != nil {
		bufPool.Put(buf)
		return encoded{}, err
	}
	return encoded{status: http.StatusOK, body: buf.Bytes(), release: func() { bufPool.Put(buf) }}, nil
}

// ServicesGET implements GET /mec_service_mgmt/v1/services.
func (h *handler) ServicesGET(ctx context.Context, r mp1api.ServicesGETRequestObject) (mp1api.ServicesGETResponseObject, error) {
	p := r.Params
	f, err := filter(p.SerInstanceId, p.SerName, p.SerCategoryId, p.IsLocal, p.ConsumedLocalOnly, p.ScopeOfLocality)
	if err != nil {
		return nil, err
	}
	return h.discover(ctx, "", f)
}

// ServiceGET implements GET /mec_service_mgmt/v1/services/{serviceId}.
func (h *handler) ServiceGET(ctx context.Context, r mp1api.ServiceGETRequestObject) (mp1api.ServiceGETResponseObject, error) {
	b, etag, err := h.site.Service(viewer(ctx), "", r.ServiceId)
	if err != nil {
		return nil, err
	}
	return encoded{status: http.StatusOK, etag: etag, body: b}, nil
}

// AppServicesGET implements GET .../applications/{appInstanceId}/services.
func (h *handler) AppServicesGET(ctx context.Context, r mp1api.AppServicesGETRequestObject) (mp1api.AppServicesGETResponseObject, error) {
	p := r.Params
	f, err := filter(p.SerInstanceId, p.SerName, p.SerCategoryId, p.IsLocal, p.ConsumedLocalOnly, p.ScopeOfLocality)
	if err != nil {
		return nil, err
	}
	return h.discover(ctx, r.AppInstanceId, f)
}

// AppServicesPOST implements POST .../applications/{appInstanceId}/services.
func (h *handler) AppServicesPOST(ctx context.Context, r mp1api.AppServicesPOSTRequestObject) (mp1api.AppServicesPOSTResponseObject, error) {
	b, etag, loc, err := h.site.RegisterService(ctx, r.AppInstanceId, *r.Body)
	if err != nil {
		return nil, err
	}
	return encoded{status: http.StatusCreated, etag: etag, location: loc, body: b}, nil
}

// AppServiceGET implements GET .../applications/{appInstanceId}/services/{serviceId}.
func (h *handler) AppServiceGET(ctx context.Context, r mp1api.AppServiceGETRequestObject) (mp1api.AppServiceGETResponseObject, error) {
	b, etag, err := h.site.Service(platform.Operator, r.AppInstanceId, r.ServiceId)
	if err != nil {
		return nil, err
	}
	return encoded{status: http.StatusOK, etag: etag, body: b}, nil
}

// AppServicePUT implements PUT .../applications/{appInstanceId}/services/{serviceId}.
func (h *handler) AppServicePUT(ctx context.Context, r mp1api.AppServicePUTRequestObject) (mp1api.AppServicePUTResponseObject, error) {
	b, etag, err := h.site.UpdateService(ctx, r.AppInstanceId, r.ServiceId, deref(r.Params.IfMatch), *r.Body)
	if err != nil {
		return nil, err
	}
	return encoded{status: http.StatusOK, etag: etag, body: b}, nil
}

// AppServiceDELETE implements DELETE .../applications/{appInstanceId}/services/{serviceId}.
func (h *handler) AppServiceDELETE(ctx context.Context, r mp1api.AppServiceDELETERequestObject) (mp1api.AppServiceDELETEResponseObject, error) {
	if err := h.site.DeleteService(ctx, r.AppInstanceId, r.ServiceId); err != nil {
		return nil, err
	}
	return mp1api.AppServiceDELETE204Response{}, nil
}

// ServiceLivenessGET implements GET .../services/{serviceId}/liveness.
func (h *handler) ServiceLivenessGET(ctx context.Context, r mp1api.ServiceLivenessGETRequestObject) (mp1api.ServiceLivenessGETResponseObject, error) {
	l, err := h.site.Liveness(r.AppInstanceId, r.ServiceId)
	if err != nil {
		return nil, err
	}
	return mp1api.ServiceLivenessGET200JSONResponse(l), nil
}

// ServiceLivenessPATCH implements PATCH .../services/{serviceId}/liveness (a heartbeat).
func (h *handler) ServiceLivenessPATCH(ctx context.Context, r mp1api.ServiceLivenessPATCHRequestObject) (mp1api.ServiceLivenessPATCHResponseObject, error) {
	var u mp1api.ServiceLivenessUpdate
	switch {
	case r.JSONBody != nil:
		u = *r.JSONBody
	case r.ApplicationMergePatchPlusJSONBody != nil:
		u = *r.ApplicationMergePatchPlusJSONBody
	default:
		return nil, problem.BadRequest("request body is required")
	}
	l, err := h.site.Heartbeat(ctx, r.AppInstanceId, r.ServiceId, u)
	if err != nil {
		return nil, err
	}
	return mp1api.ServiceLivenessPATCH200JSONResponse(l), nil
}

// SerAvailSubscriptionsGET implements GET /mec_service_mgmt/v1/applications/{id}/subscriptions.
func (h *handler) SerAvailSubscriptionsGET(ctx context.Context, r mp1api.SerAvailSubscriptionsGETRequestObject) (mp1api.SerAvailSubscriptionsGETResponseObject, error) {
	l, err := h.site.Subscriptions(platform.SerAvail, r.AppInstanceId)
	if err != nil {
		return nil, err
	}
	return mp1api.SerAvailSubscriptionsGET200JSONResponse(l), nil
}

// SerAvailSubscriptionsPOST implements POST /mec_service_mgmt/v1/applications/{id}/subscriptions.
func (h *handler) SerAvailSubscriptionsPOST(ctx context.Context, r mp1api.SerAvailSubscriptionsPOSTRequestObject) (mp1api.SerAvailSubscriptionsPOSTResponseObject, error) {
	return h.subscribe(ctx, platform.SerAvail, r.AppInstanceId, r.Body)
}

func (h *handler) subscribe(ctx context.Context, k platform.SubscriptionKind, app string, body any) (value, error) {
	v, loc, err := h.site.Subscribe(ctx, k, app, body)
	if err != nil {
		return value{}, err
	}
	return value{status: http.StatusCreated, location: loc, v: v}, nil
}

// SerAvailSubscriptionGET implements GET .../subscriptions/{subscriptionId} (service mgmt).
func (h *handler) SerAvailSubscriptionGET(ctx context.Context, r mp1api.SerAvailSubscriptionGETRequestObject) (mp1api.SerAvailSubscriptionGETResponseObject, error) {
	v, err := h.site.Subscription(platform.SerAvail, r.AppInstanceId, r.SubscriptionId)
	if err != nil {
		return nil, err
	}
	return value{status: http.StatusOK, v: v}, nil
}

// SerAvailSubscriptionDELETE implements DELETE .../subscriptions/{subscriptionId} (service mgmt).
func (h *handler) SerAvailSubscriptionDELETE(ctx context.Context, r mp1api.SerAvailSubscriptionDELETERequestObject) (mp1api.SerAvailSubscriptionDELETEResponseObject, error) {
	if err := h.site.Unsubscribe(ctx, platform.SerAvail, r.AppInstanceId, r.SubscriptionId); err != nil {
		return nil, err
	}
	return mp1api.SerAvailSubscriptionDELETE204Response{}, nil
}

// TransportsGET implements GET /mec_service_mgmt/v1/transports.
func (h *handler) TransportsGET(context.Context, mp1api.TransportsGETRequestObject) (mp1api.TransportsGETResponseObject, error) {
	return value{status: http.StatusOK, v: h.site.Transports()}, nil
}

// TrafficRulesGET implements GET .../traffic_rules.
func (h *handler) TrafficRulesGET(_ context.Context, r mp1api.TrafficRulesGETRequestObject) (mp1api.TrafficRulesGETResponseObject, error) {
	rs, err := h.site.TrafficRules(r.AppInstanceId)
	if err != nil {
		return nil, err
	}
	return value{status: http.StatusOK, v: rs}, nil
}

// TrafficRuleGET implements GET .../traffic_rules/{trafficRuleId}.
func (h *handler) TrafficRuleGET(_ context.Context, r mp1api.TrafficRuleGETRequestObject) (mp1api.TrafficRuleGETResponseObject, error) {
	rule, etag, err := h.site.TrafficRule(r.AppInstanceId, r.TrafficRuleId)
	if err != nil {
		return nil, err
	}
	return value{status: http.StatusOK, etag: etag, v: rule}, nil
}

// TrafficRulePUT implements PUT .../traffic_rules/{trafficRuleId}. A V2.1.1 single-object
// dstInterface was rewritten into the array form before validation (specValidator).
func (h *handler) TrafficRulePUT(ctx context.Context, r mp1api.TrafficRulePUTRequestObject) (mp1api.TrafficRulePUTResponseObject, error) {
	rule, etag, err := h.site.UpdateTrafficRule(ctx, r.AppInstanceId, r.TrafficRuleId, deref(r.Params.IfMatch), *r.Body)
	if err != nil {
		return nil, err
	}
	return value{status: http.StatusOK, etag: etag, v: rule}, nil
}

// DnsRulesGET implements GET .../dns_rules.
func (h *handler) DnsRulesGET(_ context.Context, r mp1api.DnsRulesGETRequestObject) (mp1api.DnsRulesGETResponseObject, error) {
	rs, err := h.site.DNSRules(r.AppInstanceId)
	if err != nil {
		return nil, err
	}
	return value{status: http.StatusOK, v: rs}, nil
}

// DnsRuleGET implements GET .../dns_rules/{dnsRuleId}.
func (h *handler) DnsRuleGET(_ context.Context, r mp1api.DnsRuleGETRequestObject) (mp1api.DnsRuleGETResponseObject, error) {
	rule, etag, err := h.site.DNSRule(r.AppInstanceId, r.DnsRuleId)
	if err != nil {
		return nil, err
	}
	return value{status: http.StatusOK, etag: etag, v: rule}, nil
}

// DnsRulePUT implements PUT .../dns_rules/{dnsRuleId}.
func (h *handler) DnsRulePUT(ctx context.Context, r mp1api.DnsRulePUTRequestObject) (mp1api.DnsRulePUTResponseObject, error) {
	rule, etag, err := h.site.UpdateDNSRule(ctx, r.AppInstanceId, r.DnsRuleId, deref(r.Params.IfMatch), *r.Body)
	if err != nil {
		return nil, err
	}
	return value{status: http.StatusOK, etag: etag, v: rule}, nil
}

// AppTermSubscriptionsGET implements GET /mec_app_support/v1/applications/{id}/subscriptions.
func (h *handler) AppTermSubscriptionsGET(_ context.Context, r mp1api.AppTermSubscriptionsGETRequestObject) (mp1api.AppTermSubscriptionsGETResponseObject, error) {
	l, err := h.site.Subscriptions(platform.AppTerm, r.AppInstanceId)
	if err != nil {
		return nil, err
	}
	return mp1api.AppTermSubscriptionsGET200JSONResponse(l), nil
}

// AppTermSubscriptionsPOST implements POST /mec_app_support/v1/applications/{id}/subscriptions.
func (h *handler) AppTermSubscriptionsPOST(ctx context.Context, r mp1api.AppTermSubscriptionsPOSTRequestObject) (mp1api.AppTermSubscriptionsPOSTResponseObject, error) {
	return h.subscribe(ctx, platform.AppTerm, r.AppInstanceId, r.Body)
}

// AppTermSubscriptionGET implements GET .../subscriptions/{subscriptionId} (app support).
func (h *handler) AppTermSubscriptionGET(_ context.Context, r mp1api.AppTermSubscriptionGETRequestObject) (mp1api.AppTermSubscriptionGETResponseObject, error) {
	v, err := h.site.Subscription(platform.AppTerm, r.AppInstanceId, r.SubscriptionId)
	if err != nil {
		return nil, err
	}
	return value{status: http.StatusOK, v: v}, nil
}

// AppTermSubscriptionDELETE implements DELETE .../subscriptions/{subscriptionId} (app support).
func (h *handler) AppTermSubscriptionDELETE(ctx context.Context, r mp1api.AppTermSubscriptionDELETERequestObject) (mp1api.AppTermSubscriptionDELETEResponseObject, error) {
	if err := h.site.Unsubscribe(ctx, platform.AppTerm, r.AppInstanceId, r.SubscriptionId); err != nil {
		return nil, err
	}
	return mp1api.AppTermSubscriptionDELETE204Response{}, nil
}

// ConfirmReady implements POST .../confirm_ready.
func (h *handler) ConfirmReady(ctx context.Context, r mp1api.ConfirmReadyRequestObject) (mp1api.ConfirmReadyResponseObject, error) {
	if err := h.site.ConfirmReady(ctx, r.AppInstanceId, *r.Body); err != nil {
		return nil, err
	}
	return mp1api.ConfirmReady204Response{}, nil
}

// ConfirmTermination implements POST .../confirm_termination.
func (h *handler) ConfirmTermination(ctx context.Context, r mp1api.ConfirmTerminationRequestObject) (mp1api.ConfirmTerminationResponseObject, error) {
	if err := h.site.ConfirmTermination(ctx, r.AppInstanceId, *r.Body); err != nil {
		return nil, err
	}
	return mp1api.ConfirmTermination204Response{}, nil
}

// RegistrationsPOST implements POST /mec_app_support/v1/registrations.
func (h *handler) RegistrationsPOST(ctx context.Context, r mp1api.RegistrationsPOSTRequestObject) (mp1api.RegistrationsPOSTResponseObject, error) {
	info := *r.Body
	if p := principal(ctx); !p.Operator && (info.AppInstanceId == nil || *info.AppInstanceId != p.AppInstanceID) {
		return nil, problem.Forbidden("an app may only register itself (appInstanceId %q)", p.AppInstanceID)
	}
	out, err := h.site.Register(ctx, info, true)
	if err != nil {
		return nil, err
	}
	return value{status: http.StatusCreated, location: h.cfg.APIRoot + "/mec_app_support/v1/registrations/" + *out.AppInstanceId, v: out}, nil
}

// RegistrationGET implements GET /mec_app_support/v1/registrations/{appInstanceId}.
func (h *handler) RegistrationGET(_ context.Context, r mp1api.RegistrationGETRequestObject) (mp1api.RegistrationGETResponseObject, error) {
	info, err := h.site.Registration(r.AppInstanceId)
	if err != nil {
		return nil, err
	}
	return mp1api.RegistrationGET200JSONResponse(info), nil
}

// RegistrationPUT implements PUT /mec_app_support/v1/registrations/{appInstanceId}.
func (h *handler) RegistrationPUT(ctx context.Context, r mp1api.RegistrationPUTRequestObject) (mp1api.RegistrationPUTResponseObject, error) {
	info := *r.Body
	app := r.AppInstanceId
	info.AppInstanceId = &app // the path id is authoritative
	out, err := h.site.Register(ctx, info, false)
	if err != nil {
		return nil, err
	}
	return mp1api.RegistrationPUT200JSONResponse(out), nil
}

// RegistrationDELETE implements DELETE /mec_app_support/v1/registrations/{appInstanceId}.
func (h *handler) RegistrationDELETE(ctx context.Context, r mp1api.RegistrationDELETERequestObject) (mp1api.RegistrationDELETEResponseObject, error) {
	if err := h.site.Deregister(ctx, r.AppInstanceId); err != nil {
		return nil, err
	}
	return mp1api.RegistrationDELETE204Response{}, nil
}

// TimingCapsGET implements GET /mec_app_support/v1/timing/timing_caps.
func (h *handler) TimingCapsGET(context.Context, mp1api.TimingCapsGETRequestObject) (mp1api.TimingCapsGETResponseObject, error) {
	now := time.Now()
	caps := mp1api.TimingCaps{TimeStamp: &mp1api.TimeStamp{Seconds: now.Unix(), NanoSeconds: int32(now.Nanosecond())}}
	if h.cfg.NTPServers != nil {
		caps.NtpServers = &h.cfg.NTPServers
	}
	if h.cfg.PTPMasters != nil {
		caps.PtpMasters = &h.cfg.PTPMasters
	}
	return mp1api.TimingCapsGET200JSONResponse(caps), nil
}

// CurrentTimeGET implements GET /mec_app_support/v1/timing/current_time.
func (h *handler) CurrentTimeGET(context.Context, mp1api.CurrentTimeGETRequestObject) (mp1api.CurrentTimeGETResponseObject, error) {
	now := time.Now()
	st := mp1api.NONTRACEABLE
	if h.cfg.TimeSourceTraceable {
		st = mp1api.TRACEABLE
	}
	return mp1api.CurrentTimeGET200JSONResponse{Seconds: now.Unix(), NanoSeconds: int32(now.Nanosecond()), TimeSourceStatus: st}, nil
}

// IssueToken implements POST /oauth2/token (client credentials, RFC 6749 §4.4). Client
// credentials come in HTTP Basic auth or in the form body. Answers carry
// Cache-Control: no-store and, on failure, an OAuth error (RFC 6749 §5.2), not a
// ProblemDetails.
func (h *handler) IssueToken(ctx context.Context, r mp1api.IssueTokenRequestObject) (mp1api.IssueTokenResponseObject, error) {
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
	tok, ttl, err := h.auth.Issue(id, secret, h.site.Exists)
	if err != nil {
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
