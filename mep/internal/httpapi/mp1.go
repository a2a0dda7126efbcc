package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

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
	if scope != nil && !scope.Valid() {
		return nil, problem.BadRequest("scope_of_locality %q is not a valid value", string(*scope))
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

func (h *handler) discover(c echo.Context, producer string, f *platform.Filter) error {
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer bufPool.Put(buf)
	if err := h.site.Discover(viewer(c), producer, f, buf); err != nil {
		return err
	}
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, buf.Bytes())
}

// ServicesGET implements GET /mec_service_mgmt/v1/services.
func (h *handler) ServicesGET(c echo.Context, p mp1api.ServicesGETParams) error {
	f, err := filter(p.SerInstanceId, p.SerName, p.SerCategoryId, p.IsLocal, p.ConsumedLocalOnly, p.ScopeOfLocality)
	if err != nil {
		return err
	}
	return h.discover(c, "", f)
}

// ServiceGET implements GET /mec_service_mgmt/v1/services/{serviceId}.
func (h *handler) ServiceGET(c echo.Context, id string) error {
	b, etag, err := h.site.Service(viewer(c), "", id)
	if err != nil {
		return err
	}
	return writeRaw(c, http.StatusOK, etag, b)
}

// AppServicesGET implements GET .../applications/{appInstanceId}/services.
func (h *handler) AppServicesGET(c echo.Context, app string, p mp1api.AppServicesGETParams) error {
	f, err := filter(p.SerInstanceId, p.SerName, p.SerCategoryId, p.IsLocal, p.ConsumedLocalOnly, p.ScopeOfLocality)
	if err != nil {
		return err
	}
	return h.discover(c, app, f)
}

// AppServicesPOST implements POST .../applications/{appInstanceId}/services.
func (h *handler) AppServicesPOST(c echo.Context, app string) error {
	var p mp1api.ServiceInfoPost
	if _, err := decode(c, &p, "ServiceInfoPost", "serName", "version", "state", "serializer"); err != nil {
		return err
	}
	b, etag, loc, err := h.site.RegisterService(c.Request().Context(), app, p)
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, loc)
	return writeRaw(c, http.StatusCreated, etag, b)
}

// AppServiceGET implements GET .../applications/{appInstanceId}/services/{serviceId}.
func (h *handler) AppServiceGET(c echo.Context, app, id string) error {
	b, etag, err := h.site.Service(platform.Operator, app, id)
	if err != nil {
		return err
	}
	return writeRaw(c, http.StatusOK, etag, b)
}

// AppServicePUT implements PUT .../applications/{appInstanceId}/services/{serviceId}.
func (h *handler) AppServicePUT(c echo.Context, app, id string, p mp1api.AppServicePUTParams) error {
	var info mp1api.ServiceInfo
	if _, err := decode(c, &info, "ServiceInfo", "serName", "version", "state", "transportInfo", "serializer"); err != nil {
		return err
	}
	b, etag, err := h.site.UpdateService(c.Request().Context(), app, id, deref(p.IfMatch), info)
	if err != nil {
		return err
	}
	return writeRaw(c, http.StatusOK, etag, b)
}

// AppServiceDELETE implements DELETE .../applications/{appInstanceId}/services/{serviceId}.
func (h *handler) AppServiceDELETE(c echo.Context, app, id string) error {
	if err := h.site.DeleteService(c.Request().Context(), app, id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// ServiceLivenessGET implements GET .../services/{serviceId}/liveness.
func (h *handler) ServiceLivenessGET(c echo.Context, app, id string) error {
	l, err := h.site.Liveness(app, id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, l)
}

// ServiceLivenessPATCH implements PATCH .../services/{serviceId}/liveness (a heartbeat).
func (h *handler) ServiceLivenessPATCH(c echo.Context, app, id string) error {
	var u mp1api.ServiceLivenessUpdate
	if _, err := decode(c, &u, "ServiceLivenessUpdate", "state"); err != nil {
		return err
	}
	l, err := h.site.Heartbeat(c.Request().Context(), app, id, u)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, l)
}

// SerAvailSubscriptionsGET implements GET /mec_service_mgmt/v1/applications/{id}/subscriptions.
func (h *handler) SerAvailSubscriptionsGET(c echo.Context, app string) error {
	l, err := h.site.Subscriptions(platform.SerAvail, app)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, l)
}

// SerAvailSubscriptionsPOST implements POST /mec_service_mgmt/v1/applications/{id}/subscriptions.
func (h *handler) SerAvailSubscriptionsPOST(c echo.Context, app string) error {
	var s mp1api.SerAvailabilityNotificationSubscription
	if _, err := decode(c, &s, "SerAvailabilityNotificationSubscription", "subscriptionType", "callbackReference"); err != nil {
		return err
	}
	return h.subscribe(c, platform.SerAvail, app, &s)
}

func (h *handler) subscribe(c echo.Context, k platform.SubscriptionKind, app string, body any) error {
	v, loc, err := h.site.Subscribe(c.Request().Context(), k, app, body)
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, loc)
	return c.JSON(http.StatusCreated, v)
}

// SerAvailSubscriptionGET implements GET .../subscriptions/{subscriptionId} (service mgmt).
func (h *handler) SerAvailSubscriptionGET(c echo.Context, app, id string) error {
	v, err := h.site.Subscription(platform.SerAvail, app, id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v)
}

// SerAvailSubscriptionDELETE implements DELETE .../subscriptions/{subscriptionId} (service mgmt).
func (h *handler) SerAvailSubscriptionDELETE(c echo.Context, app, id string) error {
	if err := h.site.Unsubscribe(c.Request().Context(), platform.SerAvail, app, id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// TransportsGET implements GET /mec_service_mgmt/v1/transports.
func (h *handler) TransportsGET(c echo.Context) error {
	return c.JSON(http.StatusOK, h.site.Transports())
}

// TrafficRulesGET implements GET .../traffic_rules.
func (h *handler) TrafficRulesGET(c echo.Context, app string) error {
	rs, err := h.site.TrafficRules(app)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, rs)
}

// TrafficRuleGET implements GET .../traffic_rules/{trafficRuleId}.
func (h *handler) TrafficRuleGET(c echo.Context, app, id string) error {
	r, etag, err := h.site.TrafficRule(app, id)
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, etag, r)
}

// TrafficRulePUT implements PUT .../traffic_rules/{trafficRuleId}.
func (h *handler) TrafficRulePUT(c echo.Context, app, id string, p mp1api.TrafficRulePUTParams) error {
	body, err := readJSON(c)
	if err != nil {
		return err
	}
	if body, err = platform.NormalizeTrafficRuleJSON(body); err != nil {
		return err
	}
	if err := platform.RequireFields(body, "TrafficRule", "trafficRuleId", "filterType", "priority", "trafficFilter", "action", "state"); err != nil {
		return err
	}
	var r mp1api.TrafficRule
	if err := json.Unmarshal(body, &r); err != nil {
		return problem.BadRequest("TrafficRule: %v", jsonError(err))
	}
	r, etag, err := h.site.UpdateTrafficRule(c.Request().Context(), app, id, deref(p.IfMatch), r)
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, etag, r)
}

// DnsRulesGET implements GET .../dns_rules.
func (h *handler) DnsRulesGET(c echo.Context, app string) error {
	rs, err := h.site.DNSRules(app)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, rs)
}

// DnsRuleGET implements GET .../dns_rules/{dnsRuleId}.
func (h *handler) DnsRuleGET(c echo.Context, app, id string) error {
	r, etag, err := h.site.DNSRule(app, id)
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, etag, r)
}

// DnsRulePUT implements PUT .../dns_rules/{dnsRuleId}.
func (h *handler) DnsRulePUT(c echo.Context, app, id string, p mp1api.DnsRulePUTParams) error {
	var r mp1api.DnsRule
	if _, err := decode(c, &r, "DnsRule", "dnsRuleId", "domainName", "ipAddressType", "ipAddress", "state"); err != nil {
		return err
	}
	r, etag, err := h.site.UpdateDNSRule(c.Request().Context(), app, id, deref(p.IfMatch), r)
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, etag, r)
}

// AppTermSubscriptionsGET implements GET /mec_app_support/v1/applications/{id}/subscriptions.
func (h *handler) AppTermSubscriptionsGET(c echo.Context, app string) error {
	l, err := h.site.Subscriptions(platform.AppTerm, app)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, l)
}

// AppTermSubscriptionsPOST implements POST /mec_app_support/v1/applications/{id}/subscriptions.
func (h *handler) AppTermSubscriptionsPOST(c echo.Context, app string) error {
	var s mp1api.AppTerminationNotificationSubscription
	if _, err := decode(c, &s, "AppTerminationNotificationSubscription", "subscriptionType", "callbackReference", "appInstanceId"); err != nil {
		return err
	}
	return h.subscribe(c, platform.AppTerm, app, &s)
}

// AppTermSubscriptionGET implements GET .../subscriptions/{subscriptionId} (app support).
func (h *handler) AppTermSubscriptionGET(c echo.Context, app, id string) error {
	v, err := h.site.Subscription(platform.AppTerm, app, id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v)
}

// AppTermSubscriptionDELETE implements DELETE .../subscriptions/{subscriptionId} (app support).
func (h *handler) AppTermSubscriptionDELETE(c echo.Context, app, id string) error {
	if err := h.site.Unsubscribe(c.Request().Context(), platform.AppTerm, app, id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// ConfirmReady implements POST .../confirm_ready.
func (h *handler) ConfirmReady(c echo.Context, app string) error {
	var r mp1api.AppReadyConfirmation
	if _, err := decode(c, &r, "AppReadyConfirmation", "indication"); err != nil {
		return err
	}
	if err := h.site.ConfirmReady(c.Request().Context(), app, r); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// ConfirmTermination implements POST .../confirm_termination.
func (h *handler) ConfirmTermination(c echo.Context, app string) error {
	var r mp1api.AppTerminationConfirmation
	if _, err := decode(c, &r, "AppTerminationConfirmation", "operationAction"); err != nil {
		return err
	}
	if err := h.site.ConfirmTermination(c.Request().Context(), app, r); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// RegistrationsPOST implements POST /mec_app_support/v1/registrations.
func (h *handler) RegistrationsPOST(c echo.Context) error {
	var info mp1api.AppInfo
	if _, err := decode(c, &info, "AppInfo", "appName"); err != nil {
		return err
	}
	if p := principal(c); !p.Operator && (info.AppInstanceId == nil || *info.AppInstanceId != p.AppInstanceID) {
		return problem.Forbidden("an app may only register itself (appInstanceId %q)", p.AppInstanceID)
	}
	out, err := h.site.Register(c.Request().Context(), info, true)
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, h.cfg.APIRoot+"/mec_app_support/v1/registrations/"+*out.AppInstanceId)
	return c.JSON(http.StatusCreated, out)
}

// RegistrationGET implements GET /mec_app_support/v1/registrations/{appInstanceId}.
func (h *handler) RegistrationGET(c echo.Context, app string) error {
	info, err := h.site.Registration(app)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, info)
}

// RegistrationPUT implements PUT /mec_app_support/v1/registrations/{appInstanceId}.
func (h *handler) RegistrationPUT(c echo.Context, app string) error {
	var info mp1api.AppInfo
	if _, err := decode(c, &info, "AppInfo", "appName"); err != nil {
		return err
	}
	info.AppInstanceId = &app // the path id is authoritative
	out, err := h.site.Register(c.Request().Context(), info, false)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

// RegistrationDELETE implements DELETE /mec_app_support/v1/registrations/{appInstanceId}.
func (h *handler) RegistrationDELETE(c echo.Context, app string) error {
	if err := h.site.Deregister(c.Request().Context(), app); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// TimingCapsGET implements GET /mec_app_support/v1/timing/timing_caps.
func (h *handler) TimingCapsGET(c echo.Context) error {
	now := time.Now()
	caps := mp1api.TimingCaps{TimeStamp: &mp1api.TimeStamp{Seconds: now.Unix(), NanoSeconds: int32(now.Nanosecond())}}
	if h.cfg.NTPServers != nil {
		caps.NtpServers = &h.cfg.NTPServers
	}
	if h.cfg.PTPMasters != nil {
		caps.PtpMasters = &h.cfg.PTPMasters
	}
	return c.JSON(http.StatusOK, caps)
}

// CurrentTimeGET implements GET /mec_app_support/v1/timing/current_time.
func (h *handler) CurrentTimeGET(c echo.Context) error {
	now := time.Now()
	st := mp1api.NONTRACEABLE
	if h.cfg.TimeSourceTraceable {
		st = mp1api.TRACEABLE
	}
	return c.JSON(http.StatusOK, mp1api.CurrentTime{Seconds: now.Unix(), NanoSeconds: int32(now.Nanosecond()), TimeSourceStatus: st})
}

// IssueToken implements POST /oauth2/token (client credentials, RFC 6749 §4.4). Client
// credentials come in HTTP Basic auth or in the form body.
func (h *handler) IssueToken(c echo.Context) error {
	oauthErr := func(status int, code, desc string) error {
		c.Response().Header().Set("Cache-Control", "no-store")
		return c.JSON(status, mp1api.OAuthError{Error: code, ErrorDescription: &desc})
	}
	if gt := c.FormValue("grant_type"); gt != "client_credentials" {
		return oauthErr(http.StatusBadRequest, "unsupported_grant_type", "grant_type must be client_credentials")
	}
	id, secret, ok := c.Request().BasicAuth()
	if !ok {
		id, secret = c.FormValue("client_id"), c.FormValue("client_secret")
	}
	tok, ttl, err := h.auth.Issue(id, secret, h.site.Exists)
	if err != nil {
		return oauthErr(http.StatusUnauthorized, "invalid_client", "unknown client or wrong secret")
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, mp1api.TokenResponse{AccessToken: tok, TokenType: "Bearer", ExpiresIn: int(ttl.Seconds())})
}

func deref[T any](p *T) T {
	var z T
	if p == nil {
		return z
	}
	return *p
}
