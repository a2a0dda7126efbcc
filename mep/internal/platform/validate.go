package platform

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/edgemec/edgemec/mep/mm5api"
	"github.com/edgemec/edgemec/mep/mp1api"
)

// Limits on client-supplied values. They bound memory per request and per app instance.
const (
	maxString      = 1024
	maxURL         = 2048
	maxList        = 256
	maxFilterItems = 64
)

// RequireFields reports the first of fields missing from the JSON object in raw. Go's decoder
// cannot tell an absent number from 0, and ETSI marks some numbers required (priority).
func RequireFields(raw []byte, what string, fields ...string) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return invalid("%s: body is not a JSON object: %v", what, err)
	}
	for _, f := range fields {
		v, ok := m[f]
		if !ok || string(v) == "null" {
			return invalid("%s: %s is required", what, f)
		}
	}
	return nil
}

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

type enum interface{ Valid() bool }

func enumOK[T interface {
	~string
	enum
}](field string, v T, required bool) error {
	if v == "" {
		if required {
			return invalid("%s is required", field)
		}
		return nil
	}
	if !v.Valid() {
		return invalid("%s %q is not a valid value", field, string(v))
	}
	return nil
}

func validateCategory(field string, c *mp1api.CategoryRef) error {
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

func validateEndpoint(field string, e mp1api.EndPointInfo) error {
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
func ValidateTransport(field string, t mp1api.TransportInfo) error {
	for _, f := range []struct{ n, v string }{{"id", t.Id}, {"name", t.Name}, {"protocol", t.Protocol}, {"version", t.Version}} {
		if err := str(field+"."+f.n, f.v, true); err != nil {
			return err
		}
	}
	if err := enumOK(field+".type", t.Type, true); err != nil {
		return err
	}
	if err := validateEndpoint(field+".endpoint", t.Endpoint); err != nil {
		return err
	}
	if o := t.Security.OAuth2Info; o != nil {
		if len(o.GrantTypes) == 0 {
			return invalid("%s.security.oAuth2Info.grantTypes is required", field)
		}
		for _, g := range o.GrantTypes {
			if err := enumOK(field+".security.oAuth2Info.grantTypes[]", g, true); err != nil {
				return err
			}
		}
		if err := str(field+".security.oAuth2Info.tokenEndpoint", o.TokenEndpoint, true); err != nil {
			return err
		}
	}
	return nil
}

func validateServiceCommon(serName, version string, state mp1api.ServiceState, ser mp1api.SerializerType,
	cat *mp1api.CategoryRef, scope *mp1api.LocalityType, liveness *int) error {
	if err := str("serName", serName, true); err != nil {
		return err
	}
	if err := str("version", version, true); err != nil {
		return err
	}
	if err := enumOK("state", state, true); err != nil {
		return err
	}
	if err := enumOK("serializer", ser, true); err != nil {
		return err
	}
	if err := validateCategory("serCategory", cat); err != nil {
		return err
	}
	if scope != nil {
		if err := enumOK("scopeOfLocality", *scope, true); err != nil {
			return err
		}
	}
	if liveness != nil && (*liveness < 0 || *liveness > 86400) {
		return invalid("livenessInterval %d is out of range 0-86400 seconds", *liveness)
	}
	return nil
}

// ValidateServiceInfo checks a ServiceInfo (PUT body).
func ValidateServiceInfo(s *mp1api.ServiceInfo) error {
	if err := validateServiceCommon(s.SerName, s.Version, s.State, s.Serializer, s.SerCategory, s.ScopeOfLocality, s.LivenessInterval); err != nil {
		return err
	}
	return ValidateTransport("transportInfo", s.TransportInfo)
}

// ValidateServiceInfoPost checks a ServiceInfoPost (registration body).
func ValidateServiceInfoPost(s *mp1api.ServiceInfoPost) error {
	if err := validateServiceCommon(s.SerName, s.Version, s.State, s.Serializer, s.SerCategory, s.ScopeOfLocality, s.LivenessInterval); err != nil {
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
func ValidateSerAvailSubscription(s *mp1api.SerAvailabilityNotificationSubscription) error {
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
	if f.States != nil {
		for _, st := range *f.States {
			if err := enumOK("filteringCriteria.states[]", st, true); err != nil {
				return err
			}
		}
	}
	return nil
}

// ValidateAppTermSubscription checks an AppTerminationNotificationSubscription for app id.
func ValidateAppTermSubscription(id string, s *mp1api.AppTerminationNotificationSubscription) error {
	if s.SubscriptionType != AppTermSubscriptionType {
		return invalid("subscriptionType must be %q", AppTermSubscriptionType)
	}
	if err := CallbackURL("callbackReference", s.CallbackReference); err != nil {
		return err
	}
	if s.AppInstanceId != id {
		return invalid("appInstanceId %q does not match the path", s.AppInstanceId)
	}
	return nil
}

var protocols = map[string]bool{"TCP": true, "UDP": true, "ICMP": true, "ICMPV6": true, "SCTP": true, "ANY": true}

func validPrefix(s string) bool {
	if _, err := netip.ParsePrefix(s); err == nil {
		return true
	}
	a, err := netip.ParseAddr(s)
	return err == nil && a.Zone() == ""
}

func validPort(s string) bool {
	lo, hi, isRange := strings.Cut(s, "-")
	a, err := strconv.ParseUint(strings.TrimSpace(lo), 10, 16)
	if err != nil {
		return false
	}
	if !isRange {
		return true
	}
	b, err := strconv.ParseUint(strings.TrimSpace(hi), 10, 16)
	return err == nil && a <= b
}

func validProtocol(s string) bool {
	if protocols[strings.ToUpper(s)] {
		return true
	}
	n, err := strconv.ParseUint(s, 10, 8)
	return err == nil && n <= 255
}

func validTEID(s string) bool {
	_, err := strconv.ParseUint(s, 0, 32)
	return err == nil
}

func eachOK(field string, vs *[]string, ok func(string) bool, what string) error {
	if vs == nil {
		return nil
	}
	if len(*vs) > maxFilterItems {
		return invalid("%s has more than %d entries", field, maxFilterItems)
	}
	for _, v := range *vs {
		if !ok(v) {
			return invalid("%s: %q is not %s", field, v, what)
		}
	}
	return nil
}

func rangeOK(field string, v *int, hi int) error {
	if v != nil && (*v < 0 || *v > hi) {
		return invalid("%s %d is out of range 0-%d", field, *v, hi)
	}
	return nil
}

// ValidateTrafficRule checks every field and enum of a TrafficRule.
func ValidateTrafficRule(r *mp1api.TrafficRule) error {
	if err := str("trafficRuleId", r.TrafficRuleId, true); err != nil {
		return err
	}
	if err := enumOK("filterType", r.FilterType, true); err != nil {
		return err
	}
	if err := enumOK("action", r.Action, true); err != nil {
		return err
	}
	if err := enumOK("state", r.State, true); err != nil {
		return err
	}
	if r.Priority < 0 || r.Priority > 255 {
		return invalid("priority %d is out of range 0-255", r.Priority)
	}
	if len(r.TrafficFilter) == 0 || len(r.TrafficFilter) > maxFilterItems {
		return invalid("trafficFilter must hold 1 to %d filters", maxFilterItems)
	}
	for i, f := range r.TrafficFilter {
		p := fmt.Sprintf("trafficFilter[%d].", i)
		for _, c := range []struct {
			n    string
			v    *[]string
			ok   func(string) bool
			what string
		}{
			{"srcAddress", f.SrcAddress, validPrefix, "an IP address or prefix"},
			{"dstAddress", f.DstAddress, validPrefix, "an IP address or prefix"},
			{"srcTunnelAddress", f.SrcTunnelAddress, validPrefix, "an IP address or prefix"},
			{"tgtTunnelAddress", f.TgtTunnelAddress, validPrefix, "an IP address or prefix"},
			{"srcPort", f.SrcPort, validPort, "a port or port range"},
			{"dstPort", f.DstPort, validPort, "a port or port range"},
			{"srcTunnelPort", f.SrcTunnelPort, validPort, "a port or port range"},
			{"dstTunnelPort", f.DstTunnelPort, validPort, "a port or port range"},
			{"protocol", f.Protocol, validProtocol, "a protocol name or number"},
			{"tag", f.Tag, validTEID, "a 32-bit TEID"},
			{"token", f.Token, func(s string) bool { return len(s) <= maxString }, "a token"},
		} {
			if err := eachOK(p+c.n, c.v, c.ok, c.what); err != nil {
				return err
			}
		}
		if err := rangeOK(p+"qCI", f.QCI, 255); err != nil {
			return err
		}
		if err := rangeOK(p+"dSCP", f.DSCP, 63); err != nil {
			return err
		}
		if err := rangeOK(p+"tC", f.TC, 255); err != nil {
			return err
		}
	}
	if r.DstInterface != nil {
		if len(*r.DstInterface) > 2 {
			return invalid("dstInterface holds at most 2 entries")
		}
		for i, d := range *r.DstInterface {
			p := fmt.Sprintf("dstInterface[%d].", i)
			if err := enumOK(p+"interfaceType", d.InterfaceType, true); err != nil {
				return err
			}
			if d.TunnelInfo != nil {
				if err := enumOK(p+"tunnelInfo.tunnelType", d.TunnelInfo.TunnelType, true); err != nil {
					return err
				}
			}
			if d.DstIpAddress != nil {
				if _, err := netip.ParseAddr(*d.DstIpAddress); err != nil {
					return invalid("%sdstIpAddress %q is not an IP address", p, *d.DstIpAddress)
				}
			}
		}
	}
	return nil
}

// NormalizeTrafficRuleJSON accepts the V2.1.1 form of dstInterface (a single object) by
// rewriting it into the V2.2.1 array form before decoding.
func NormalizeTrafficRuleJSON(raw []byte) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, invalid("body is not a JSON object: %v", err)
	}
	d, ok := m["dstInterface"]
	if !ok || len(d) == 0 || d[0] != '{' {
		return raw, nil
	}
	m["dstInterface"] = append(append([]byte{'['}, d...), ']')
	return json.Marshal(m)
}

// ValidDomainName reports whether s is a DNS name (RFC 1035 lengths, LDH labels, optional
// trailing dot, a leading "*." wildcard label allowed).
func ValidDomainName(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for i, l := range strings.Split(s, ".") {
		if l == "*" && i == 0 {
			continue
		}
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, c := range l {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// ValidateDNSRule checks a DnsRule.
func ValidateDNSRule(r *mp1api.DnsRule) error {
	if err := str("dnsRuleId", r.DnsRuleId, true); err != nil {
		return err
	}
	if !ValidDomainName(r.DomainName) {
		return invalid("domainName %q is not a valid DNS name", r.DomainName)
	}
	if err := enumOK("ipAddressType", r.IpAddressType, true); err != nil {
		return err
	}
	if err := enumOK("state", r.State, true); err != nil {
		return err
	}
	a, err := netip.ParseAddr(r.IpAddress)
	if err != nil || a.Zone() != "" { // a zone index cannot go into an AAAA answer
		return invalid("ipAddress %q is not an IP address", r.IpAddress)
	}
	if (r.IpAddressType == mp1api.IPV4) != a.Unmap().Is4() {
		return invalid("ipAddress %q does not match ipAddressType %s", r.IpAddress, r.IpAddressType)
	}
	if r.Ttl != nil && (*r.Ttl < 0 || *r.Ttl > 604800) {
		return invalid("ttl %d is out of range 0-604800", *r.Ttl)
	}
	return nil
}

// ValidateAppInstance checks an Mm5 AppInstance and fills rule defaults (state ACTIVE).
func ValidateAppInstance(a *mm5api.AppInstance) error {
	for _, f := range []struct{ n, v string }{{"appName", a.AppName}, {"appProvider", a.AppProvider}, {"appDId", a.AppDId}} {
		if err := str(f.n, f.v, true); err != nil {
			return err
		}
	}
	if a.AppTrafficRule != nil {
		if len(*a.AppTrafficRule) > maxList {
			return invalid("appTrafficRule has more than %d rules", maxList)
		}
		seen := map[string]bool{}
		for i := range *a.AppTrafficRule {
			r := &(*a.AppTrafficRule)[i]
			if r.State == "" {
				r.State = mp1api.RuleStateACTIVE
			}
			if err := ValidateTrafficRule(r); err != nil {
				return invalid("appTrafficRule[%d]: %v", i, err)
			}
			if seen[r.TrafficRuleId] {
				return invalid("appTrafficRule[%d]: duplicate trafficRuleId %q", i, r.TrafficRuleId)
			}
			seen[r.TrafficRuleId] = true
		}
	}
	if a.AppDNSRule != nil {
		if len(*a.AppDNSRule) > maxList {
			return invalid("appDNSRule has more than %d rules", maxList)
		}
		seen := map[string]bool{}
		for i := range *a.AppDNSRule {
			r := &(*a.AppDNSRule)[i]
			if r.State == "" {
				r.State = mp1api.RuleStateACTIVE
			}
			if err := ValidateDNSRule(r); err != nil {
				return invalid("appDNSRule[%d]: %v", i, err)
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
	for _, deps := range []*[]mp1api.ServiceDependency{a.AppServiceRequired, a.AppServiceOptional} {
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

// ValidAppInstanceID reports whether id is usable in URLs and as a key.
func ValidAppInstanceID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}
