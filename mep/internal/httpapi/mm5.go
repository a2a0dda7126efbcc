package httpapi

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/edgemec/edgemec/internal/problem"
	"github.com/edgemec/edgemec/mep/internal/platform"
	"github.com/edgemec/edgemec/mep/mm5api"
)

// mm5Handler serves Mm5 (/mepm/v1); the authenticate middleware admits the operator only.
type mm5Handler struct{ *handler }

func (h *mm5Handler) withCredentials(r mm5api.AppInstanceRecord) mm5api.AppInstanceRecord {
	r.Credentials = mm5api.Credentials{
		ClientId: r.AppInstanceId, ClientSecret: h.auth.ClientSecret(r.AppInstanceId),
		TokenEndpoint: h.cfg.APIRoot + "/oauth2/token",
	}
	return r
}

// PutAppInstance implements PUT /mepm/v1/app_instances/{appInstanceId}.
func (h *mm5Handler) PutAppInstance(c echo.Context, id string) error {
	body, err := readJSON(c)
	if err != nil {
		return err
	}
	if err := platform.RequireFields(body, "AppInstance", "appName", "appProvider", "appDId"); err != nil {
		return err
	}
	body, explicit, err := normalizeAppInstance(body)
	if err != nil {
		return err
	}
	var spec mm5api.AppInstance
	if err := json.Unmarshal(body, &spec); err != nil {
		return problem.BadRequest("AppInstance: %v", jsonError(err))
	}
	rec, created, err := h.site.PutApp(c.Request().Context(), id, spec, explicit)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		c.Response().Header().Set(echo.HeaderLocation, h.cfg.APIRoot+"/mepm/v1/app_instances/"+id)
	}
	return c.JSON(status, h.withCredentials(rec))
}

// normalizeAppInstance rewrites V2.1.1 single-object dstInterface values into arrays, checks
// each rule's required fields by presence, and reports which rules set their state.
func normalizeAppInstance(body []byte) ([]byte, map[string]bool, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, nil, problem.BadRequest("AppInstance: body is not a JSON object")
	}
	explicit := map[string]bool{}
	var ids struct {
		TrafficRuleID string  `json:"trafficRuleId"`
		DNSRuleID     string  `json:"dnsRuleId"`
		State         *string `json:"state"`
	}
	if raw, ok := m["appTrafficRule"]; ok && string(raw) != "null" {
		var rules []json.RawMessage
		if err := json.Unmarshal(raw, &rules); err != nil {
			return nil, nil, problem.BadRequest("appTrafficRule must be an array")
		}
		for i, r := range rules {
			if err := platform.RequireFields(r, "appTrafficRule[]", "trafficRuleId", "filterType", "priority", "trafficFilter", "action"); err != nil {
				return nil, nil, err
			}
			n, err := platform.NormalizeTrafficRuleJSON(r)
			if err != nil {
				return nil, nil, err
			}
			rules[i] = n
			ids.State = nil
			_ = json.Unmarshal(n, &ids)
			explicit["traffic/"+ids.TrafficRuleID] = ids.State != nil
		}
		m["appTrafficRule"], _ = json.Marshal(rules)
	}
	if raw, ok := m["appDNSRule"]; ok && string(raw) != "null" {
		var rules []json.RawMessage
		if err := json.Unmarshal(raw, &rules); err != nil {
			return nil, nil, problem.BadRequest("appDNSRule must be an array")
		}
		for _, r := range rules {
			if err := platform.RequireFields(r, "appDNSRule[]", "dnsRuleId", "domainName", "ipAddressType", "ipAddress"); err != nil {
				return nil, nil, err
			}
			ids.State = nil
			_ = json.Unmarshal(r, &ids)
			explicit["dns/"+ids.DNSRuleID] = ids.State != nil
		}
	}
	out, err := json.Marshal(m)
	return out, explicit, err
}

// GetAppInstance implements GET /mepm/v1/app_instances/{appInstanceId}.
func (h *mm5Handler) GetAppInstance(c echo.Context, id string) error {
	rec, err := h.site.GetApp(id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, h.withCredentials(rec))
}

// ListAppInstances implements GET /mepm/v1/app_instances.
func (h *mm5Handler) ListAppInstances(c echo.Context) error {
	recs := h.site.ListApps()
	for i := range recs {
		recs[i] = h.withCredentials(recs[i])
	}
	return c.JSON(http.StatusOK, recs)
}

// DeleteAppInstance implements DELETE /mepm/v1/app_instances/{appInstanceId}: it starts the
// graceful termination flow and answers 202.
func (h *mm5Handler) DeleteAppInstance(c echo.Context, id string, p mm5api.DeleteAppInstanceParams) error {
	timeout := time.Duration(-1) // the site's default
	if p.GracefulTimeout != nil {
		if *p.GracefulTimeout < 0 || *p.GracefulTimeout > 3600 {
			return problem.BadRequest("graceful_timeout must be 0-3600 seconds")
		}
		timeout = time.Duration(*p.GracefulTimeout) * time.Second
	}
	rec, err := h.site.StartTermination(c.Request().Context(), id, timeout)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, h.withCredentials(rec))
}

func feedWait(t *int) (time.Duration, error) {
	if t == nil {
		return 30 * time.Second, nil
	}
	if *t < 0 || *t > 60 {
		return 0, problem.BadRequest("timeout must be 0-60 seconds")
	}
	return time.Duration(*t) * time.Second, nil
}

// TrafficRuleFeed implements GET /mepm/v1/feeds/traffic_rules (long poll).
func (h *mm5Handler) TrafficRuleFeed(c echo.Context, p mm5api.TrafficRuleFeedParams) error {
	wait, err := feedWait(p.Timeout)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, h.site.TrafficFeed(c.Request().Context(), p.After, wait))
}

// DnsRuleFeed implements GET /mepm/v1/feeds/dns_rules (long poll).
func (h *mm5Handler) DnsRuleFeed(c echo.Context, p mm5api.DnsRuleFeedParams) error {
	wait, err := feedWait(p.Timeout)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, h.site.DNSFeed(c.Request().Context(), p.After, wait))
}

// DnsConflicts implements GET /mepm/v1/dns/conflicts.
func (h *mm5Handler) DnsConflicts(c echo.Context) error {
	out := []mm5api.DnsConflict{}
	if h.cfg.Conflicts != nil {
		out = append(out, h.cfg.Conflicts()...)
	}
	return c.JSON(http.StatusOK, out)
}
