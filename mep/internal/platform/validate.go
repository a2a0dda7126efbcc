package platform

import (
	"fmt"
	"net/netip"
	"net/url"

	"github.com/edgemec/edgemec/internal/ids"
	"github.com/edgemec/edgemec/internal/mecrule"
)

// Limits on client-supplied values. They bound memory per request and per app instance.
const (
	maxString      = 1024
	maxURL         = 2048
	maxList        = 256
	maxFilterItems = 64
)

func str(field, v string, required bool) error {
	switch {
	case v == "" && required:
		return invalid("%s is required", field)
	case len(v) > maxString:
		return invalid("%s is longer than %d bytes", field, maxString)
	}
	return nil
}

// CallbackURL checks a notification target: an absolute http(s) URL of bounded length.
func CallbackURL(field, v string) error {
	if v == "" {
		return invalid("%s is required", field)
	}
	if len(v) > maxURL {
		return invalid("%s is longer than %d bytes", field, maxURL)
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return invalid("%s %q is not an absolute http or https URL", field, v)
	}
	return nil
}

func validateCategory(field string, c *CategoryRef) error {
	if c == nil {
		return nil
	}
	for _, f := range []struct{ n, v string }{{"href", c.Href}, {"id", c.Id}, {"name", c.Name}, {"version", c.Version}} {
		if err := str(field+"."+f.n, f.v, true); err != nil {
			return err
		}
	}
	return nil
}

func validateEndpoint(field string, e EndPointInfo) error {
	n := 0
	if e.Uris != nil {
		n++
		if len(*e.Uris) == 0 || len(*e.Uris) > maxList {
			return invalid("%s.uris must hold 1 to %d URIs", field, maxList)
		}
		for _, u := range *e.Uris {
			if err := str(field+".uris[]", u, true); err != nil {
				return err
			}
		}
	}
	if e.Addresses != nil {
		n++
		if len(*e.Addresses) == 0 || len(*e.Addresses) > maxList {
			return invalid("%s.addresses must hold 1 to %d addresses", field, maxList)
		}
		for _, a := range *e.Addresses {
			if err := str(field+".addresses[].host", a.Host, true); err != nil {
				return err
			}
			if a.Port < 1 || a.Port > 65535 {
				return invalid("%s.addresses[].port %d is out of range 1-65535", field, a.Port)
			}
		}
	}
	if e.Alternative != nil {
		n++
	}
	if n != 1 {
		return invalid("%s must have exactly one of uris, addresses or alternative", field)
	}
	return nil
}

// ValidateTransport checks a TransportInfo.
func ValidateTransport(field string, t TransportInfo) error {
	for _, f := range []struct{ n, v string }{{"id", t.Id}, {"name", t.Name}, {"protocol", t.Protocol}, {"version", t.Version}} {
		if err := str(field+"."+f.n, f.v, true); err != nil {
			return err
		}
	}
	if err := validateEndpoint(field+".endpoint", t.Endpoint); err != nil {
		return err
	}
	if o := t.Security.OAuth2Info; o != nil {
		if len(o.GrantTypes) == 0 {
			return invalid("%s.security.oAuth2Info.grantTypes is required", field)
		}
		if err := str(field+".security.oAuth2Info.tokenEndpoint", o.TokenEndpoint, true); err != nil {
			return err
		}
	}
	return nil
}

// validateServiceCommon checks what the spec cannot say about a service: non-empty,
// bounded names, and the liveness interval's range. Enums and required fields are checked
// at the edge against the spec.
func validateServiceCommon(serName, version string, cat *CategoryRef, liveness *int) error {
	if err := str("serName", serName, true); err != nil {
		return err
	}
	if err := str("version", version, true); err != nil {
		return err
	}
	if err := validateCategory("serCategory", cat); err != nil {
		return err
	}
	if liveness != nil && (*liveness < 0 || *liveness > 86400) {
		return invalid("livenessInterval %d is out of range 0-86400 seconds", *liveness)
	}
	return nil
}

// ValidateServiceInfo checks a ServiceInfo (PUT body).
func ValidateServiceInfo(s *ServiceInfo) error {
	if err := validateServiceCommon(s.SerName, s.Version, s.SerCategory, s.LivenessInterval); err != nil {
		return err
	}
	return ValidateTransport("transportInfo", s.TransportInfo)
}

// ValidateServiceInfoPost checks a ServiceInfoPost (registration body).
func ValidateServiceInfoPost(s *ServiceInfoPost) error {
	if err := validateServiceCommon(s.SerName, s.Version, s.SerCategory, s.LivenessInterval); err != nil {
		return err
	}
	switch {
	case s.TransportInfo != nil && s.TransportId != nil:
		return invalid("give transportInfo or transportId, not both")
	case s.TransportInfo != nil:
		return ValidateTransport("transportInfo", *s.TransportInfo)
	case s.TransportId != nil:
		return str("transportId", *s.TransportId, true)
	}
	return invalid("transportInfo or transportId is required")
}

// ValidateSerAvailSubscription checks a SerAvailabilityNotificationSubscription.
func ValidateSerAvailSubscription(s *SerAvailSubscription) error {
	if s.SubscriptionType != SerAvailSubscriptionType {
		return invalid("subscriptionType must be %q", SerAvailSubscriptionType)
	}
	if err := CallbackURL("callbackReference", s.CallbackReference); err != nil {
		return err
	}
	f := s.FilteringCriteria
	if f == nil {
		return nil
	}
	n := 0
	if f.SerInstanceIds != nil {
		n++
		if len(*f.SerInstanceIds) > maxFilterItems {
			return invalid("filteringCriteria.serInstanceIds has more than %d entries", maxFilterItems)
		}
	}
	if f.SerNames != nil {
		n++
		if len(*f.SerNames) > maxFilterItems {
			return invalid("filteringCriteria.serNames has more than %d entries", maxFilterItems)
		}
	}
	if f.SerCategories != nil {
		n++
		if len(*f.SerCategories) > maxFilterItems {
			return invalid("filteringCriteria.serCategories has more than %d entries", maxFilterItems)
		}
		for i := range *f.SerCategories {
			if err := validateCategory("filteringCriteria.serCategories[]", &(*f.SerCategories)[i]); err != nil {
				return err
			}
		}
	}
	if n > 1 {
		return invalid("filteringCriteria: at most one of serInstanceIds, serNames and serCategories may be present")
	}
	return nil
}

// ValidateAppTermSubscription checks an AppTerminationNotificationSubscription for app id.
func ValidateAppTermSubscription(id string, s *AppTermSubscription) error {
	if s.SubscriptionType != AppTermSubscriptionType {
		return invalid("subscriptionType must be %q", AppTermSubscriptionType)
	}
	if err := CallbackURL("callbackReference", s.CallbackReference); err != nil {
		return err
	}
	if s.AppInstanceId != id {
		return invalid("appInstanceId %q is not the app instance %q of the path", s.AppInstanceId, id)
	}
	return nil
}

// beyondGrant turns a *mecrule.GrantError into a domain ErrForbidden that keeps the cause.
func beyondGrant(err error) error {
	return &Error{Kind: ErrForbidden, Detail: "beyond the grant: " + err.Error(), Cause: err}
}

// ruleInvalid turns a mecrule or ids error into a domain ErrInvalid that keeps the cause.
func ruleInvalid(err error) error {
	return &Error{Kind: ErrInvalid, Detail: err.Error(), Cause: err}
}

// ValidateAppInstance checks an Mm5 AppInstance and fills rule defaults (state ACTIVE).
func ValidateAppInstance(a *AppInstance) error {
	for _, f := range []struct{ n, v string }{{"appName", a.AppName}, {"appProvider", a.AppProvider}, {"appDId", a.AppDId}} {
		if err := str(f.n, f.v, true); err != nil {
			return err
		}
	}
	if a.MecVersion != nil {
		if len(*a.MecVersion) > maxFilterItems {
			return invalid("mecVersion has more than %d entries", maxFilterItems)
		}
		for _, v := range *a.MecVersion {
			if err := str("mecVersion[]", v, true); err != nil {
				return err
			}
		}
	}
	if a.AppTrafficRule != nil {
		if len(*a.AppTrafficRule) > mecrule.MaxTrafficRulesPerApp {
			return invalid("appTrafficRule has more than %d rules", mecrule.MaxTrafficRulesPerApp)
		}
		seen := map[string]bool{}
		for i := range *a.AppTrafficRule {
			r := &(*a.AppTrafficRule)[i]
			if r.State == "" {
				r.State = mecrule.RuleStateACTIVE
			}
			if err := mecrule.ValidateTrafficRule(r); err != nil {
				return ruleInvalid(mecrule.At(fmt.Sprintf("/appTrafficRule/%d", i), err))
			}
			if seen[r.TrafficRuleId] {
				return invalid("appTrafficRule[%d]: duplicate trafficRuleId %q", i, r.TrafficRuleId)
			}
			seen[r.TrafficRuleId] = true
		}
	}
	if a.AppDNSRule != nil {
		if len(*a.AppDNSRule) > mecrule.MaxDNSRulesPerApp {
			return invalid("appDNSRule has more than %d rules", mecrule.MaxDNSRulesPerApp)
		}
		seen := map[string]bool{}
		for i := range *a.AppDNSRule {
			r := &(*a.AppDNSRule)[i]
			if r.State == "" {
				r.State = mecrule.RuleStateACTIVE
			}
			if err := mecrule.ValidateDNSRule(r); err != nil {
				return ruleInvalid(mecrule.At(fmt.Sprintf("/appDNSRule/%d", i), err))
			}
			if seen[r.DnsRuleId] {
				return invalid("appDNSRule[%d]: duplicate dnsRuleId %q", i, r.DnsRuleId)
			}
			seen[r.DnsRuleId] = true
		}
	}
	if a.DnsRuleClientSubnets != nil {
		ids := map[string]bool{}
		if a.AppDNSRule != nil {
			for _, r := range *a.AppDNSRule {
				ids[r.DnsRuleId] = true
			}
		}
		if len(*a.DnsRuleClientSubnets) > maxList {
			return invalid("dnsRuleClientSubnets has more than %d rules", maxList)
		}
		for id, pfxs := range *a.DnsRuleClientSubnets {
			if !ids[id] {
				return invalid("dnsRuleClientSubnets: %q is not a dnsRuleId of appDNSRule", id)
			}
			if len(pfxs) == 0 || len(pfxs) > maxFilterItems {
				return invalid("dnsRuleClientSubnets[%q] must hold 1 to %d prefixes", id, maxFilterItems)
			}
			for _, p := range pfxs {
				if _, err := netip.ParsePrefix(p); err != nil {
					return invalid("dnsRuleClientSubnets[%q]: %q is not an IP prefix", id, p)
				}
			}
		}
	}
	for _, deps := range []*[]ServiceDependency{a.AppServiceRequired, a.AppServiceOptional} {
		if deps == nil {
			continue
		}
		if len(*deps) > maxList {
			return invalid("appServiceRequired/Optional has more than %d entries", maxList)
		}
		for _, d := range *deps {
			if err := str("appServiceRequired[].serName", d.SerName, true); err != nil {
				return err
			}
		}
	}
	return nil
}

// validateAppInfoLists bounds the lists of a registration (ETSI GS MEC 011 AppInfo): each
// service dependency is looked up on every discovery by the app.
func validateAppInfoLists(info *AppInfo) error {
	for _, l := range []struct {
		n string
		v int
	}{
		{"appServiceRequired", lenOf(info.AppServiceRequired)}, {"appServiceOptional", lenOf(info.AppServiceOptional)},
		{"appFeatureRequired", lenOf(info.AppFeatureRequired)}, {"appFeatureOptional", lenOf(info.AppFeatureOptional)},
	} {
		if l.v > maxList {
			return invalid("%s has more than %d entries", l.n, maxList)
		}
	}
	for _, deps := range []*[]ServiceDependency{info.AppServiceRequired, info.AppServiceOptional} {
		if deps == nil {
			continue
		}
		for _, d := range *deps {
			if err := str("appServiceRequired[].serName", d.SerName, true); err != nil {
				return err
			}
		}
	}
	return nil
}

func lenOf[T any](p *[]T) int {
	if p == nil {
		return 0
	}
	return len(*p)
}

// ValidateAppInstanceID checks an app instance id against the platform's id rule
// (internal/ids): a lowercase DNS label of at most 63 characters, so that it also names the
// instance on every VIM.
func ValidateAppInstanceID(id string) error {
	if err := ids.Validate(id); err != nil {
		return ruleInvalid(fmt.Errorf("appInstanceId: %w", err))
	}
	return nil
}
