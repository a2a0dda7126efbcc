package platform

import (
	"context"
	"net/netip"
	"sort"
	"time"

	"github.com/edgemec/edgemec/internal/mecrule"
	"github.com/edgemec/edgemec/mep/internal/store"
)

// TrafficRules returns the app's traffic rules.
func (s *MEP) TrafficRules(app string) ([]mecrule.TrafficRule, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	a, err := s.app(app)
	if err != nil {
		return nil, err
	}
	return append([]mecrule.TrafficRule{}, a.Traffic...), nil
}

// TrafficRule returns one traffic rule and its ETag.
func (s *MEP) TrafficRule(app, id string) (mecrule.TrafficRule, string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	a, err := s.app(app)
	if err != nil {
		return mecrule.TrafficRule{}, "", err
	}
	for _, r := range a.Traffic {
		if r.TrafficRuleId == id {
			return r, ETag(r), nil
		}
	}
	return mecrule.TrafficRule{}, "", notFound("traffic rule %q is not known for app instance %q", id, app)
}

// UpdateTrafficRule replaces a traffic rule (Mp1 PUT) for actor (Operator, or the app
// itself); the path id is authoritative. An app's change must stay inside its grant
// (mecrule.WithinTrafficGrant): else ErrForbidden, with the *mecrule.GrantError as cause.
func (s *MEP) UpdateTrafficRule(ctx context.Context, actor, app, id, ifMatch string, r mecrule.TrafficRule) (mecrule.TrafficRule, string, error) {
	r.TrafficRuleId = id
	if err := mecrule.ValidateTrafficRule(&r); err != nil {
		return r, "", ruleInvalid(err)
	}
	// The grant check can take a while for rules with many filters: it runs outside the
	// write lock, and the commit below makes sure the grant it checked is still the grant.
	var grantTag string
	if actor != Operator {
		s.mu.RLock()
		a, err := s.app(app)
		var g mecrule.TrafficRule
		ok := false
		if err == nil {
			g, ok = a.grantTraffic(id)
		}
		s.mu.RUnlock()
		if err != nil {
			return r, "", err
		}
		if !ok {
			return r, "", notFound("traffic rule %q is not known for app instance %q", id, app)
		}
		if err := mecrule.WithinTrafficGrant(&g, &r); err != nil {
			return r, "", beyondGrant(err)
		}
		grantTag = ETag(g)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a, err := s.app(app)
	if err != nil {
		return r, "", err
	}
	if actor != Operator {
		if g, ok := a.grantTraffic(id); !ok || ETag(g) != grantTag {
			return r, "", conflict("the grant of traffic rule %q changed meanwhile; retry", id)
		}
	}
	i := -1
	for j, o := range a.Traffic {
		if o.TrafficRuleId == id {
			i = j
		}
	}
	if i < 0 {
		return r, "", notFound("traffic rule %q is not known for app instance %q", id, app)
	}
	if cur := ETag(a.Traffic[i]); !ifMatchOK(ifMatch, cur) {
		return r, "", errf(ErrPreconditionFailed, "If-Match %s does not match the current ETag %s", ifMatch, cur)
	}
	n := *a
	n.Traffic = append([]mecrule.TrafficRule{}, a.Traffic...)
	n.Traffic[i] = r
	t := s.begin()
	t.put(store.KindApp, app, &n)
	t.traffic = true
	t.then(func() { s.setAppLocked(&n) })
	if err := t.commit(ctx); err != nil {
		return r, "", err
	}
	return r, ETag(r), nil
}

// DNSRules returns the app's DNS rules.
func (s *MEP) DNSRules(app string) ([]mecrule.DNSRule, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	a, err := s.app(app)
	if err != nil {
		return nil, err
	}
	out := make([]mecrule.DNSRule, len(a.DNS))
	for i, d := range a.DNS {
		out[i] = d.Rule
	}
	return out, nil
}

// DNSRule returns one DNS rule and its ETag.
func (s *MEP) DNSRule(app, id string) (mecrule.DNSRule, string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	a, err := s.app(app)
	if err != nil {
		return mecrule.DNSRule{}, "", err
	}
	for _, d := range a.DNS {
		if d.Rule.DnsRuleId == id {
			return d.Rule, ETag(d.Rule), nil
		}
	}
	return mecrule.DNSRule{}, "", notFound("DNS rule %q is not known for app instance %q", id, app)
}

// UpdateDNSRule replaces a DNS rule (Mp1 PUT) for actor (Operator, or the app itself); the
// path id is authoritative. An app keeps the granted domainName and may move the address
// only within the site's app address ranges (mecrule.WithinDNSGrant). The site DNS server
// sees the change before this returns.
func (s *MEP) UpdateDNSRule(ctx context.Context, actor, app, id, ifMatch string, r mecrule.DNSRule) (mecrule.DNSRule, string, error) {
	r.DnsRuleId = id
	if err := mecrule.ValidateDNSRule(&r); err != nil {
		return r, "", ruleInvalid(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a, err := s.app(app)
	if err != nil {
		return r, "", err
	}
	if actor != Operator {
		if g, ok := a.grantDNS(id); ok {
			if err := mecrule.WithinDNSGrant(&g, &r, s.cfg.AppAddressRanges); err != nil {
				return r, "", beyondGrant(err)
			}
		}
	}
	i := -1
	for j, o := range a.DNS {
		if o.Rule.DnsRuleId == id {
			i = j
		}
	}
	if i < 0 {
		return r, "", notFound("DNS rule %q is not known for app instance %q", id, app)
	}
	if cur := ETag(a.DNS[i].Rule); !ifMatchOK(ifMatch, cur) {
		return r, "", errf(ErrPreconditionFailed, "If-Match %s does not match the current ETag %s", ifMatch, cur)
	}
	n := *a
	n.DNS = append([]dnsRuleDoc{}, a.DNS...)
	n.DNS[i] = dnsRuleDoc{Rule: r, CreatedAt: a.DNS[i].CreatedAt}
	t := s.begin()
	t.put(store.KindApp, app, &n)
	t.dns = true
	t.then(func() { s.setAppLocked(&n) })
	if err := t.commit(ctx); err != nil {
		return r, "", err
	}
	return r, ETag(r), nil
}

// TrafficFeed returns the traffic-rule snapshot, waiting up to wait for a version newer than
// after when after is the current version.
func (s *MEP) TrafficFeed(ctx context.Context, after *int64, wait time.Duration) TrafficSnapshot {
	s.waitFor(ctx, after, wait, func() (int64, chan struct{}) { return s.trafficVersion, s.trafficCh })
	s.mu.RLock()
	defer s.mu.RUnlock()
	snap := TrafficSnapshot{Version: s.trafficVersion, Rules: []AppTrafficRule{}}
	for _, a := range s.sortedAppsLocked() {
		for _, r := range a.Traffic {
			snap.Rules = append(snap.Rules, AppTrafficRule{AppInstanceID: a.ID, TrafficRule: r})
		}
	}
	return snap
}

// DNSFeed returns the DNS-rule snapshot with the same long poll as TrafficFeed.
func (s *MEP) DNSFeed(ctx context.Context, after *int64, wait time.Duration) DNSSnapshot {
	s.waitFor(ctx, after, wait, func() (int64, chan struct{}) { return s.dnsVersion, s.dnsCh })
	s.mu.RLock()
	defer s.mu.RUnlock()
	snap := DNSSnapshot{Version: s.dnsVersion, Rules: []AppDNSRule{}}
	for _, a := range s.sortedAppsLocked() {
		for _, d := range a.DNS {
			snap.Rules = append(snap.Rules, AppDNSRule{AppInstanceID: a.ID, DNSRule: d.Rule, CreatedAt: d.CreatedAt})
		}
	}
	return snap
}

func (s *MEP) waitFor(ctx context.Context, after *int64, wait time.Duration, cur func() (int64, chan struct{})) {
	s.mu.RLock()
	v, ch := cur()
	s.mu.RUnlock()
	if after == nil || *after != v || wait <= 0 {
		return
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-ch:
	case <-timer.C:
	case <-ctx.Done():
	}
}

func (s *MEP) sortedAppsLocked() []*appDoc {
	out := make([]*appDoc, 0, len(s.apps))
	for _, a := range s.apps {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// ActiveDNSRule is an ACTIVE DNS rule of an app instance, as the site DNS server needs it.
type ActiveDNSRule struct {
	AppInstanceID string
	RuleID        string
	Domain        string
	Addr          netip.Addr
	TTL           uint32
	Created       time.Time
	// ClientSubnets, when set, limit the answer to clients inside them (Mm5 dnsRuleClientSubnets).
	ClientSubnets []netip.Prefix
}

// OnDNSChange registers f to receive the complete set of ACTIVE DNS rules now and after every
// change, synchronously (so a rule change is effective when the Mp1 PUT returns).
func (s *MEP) OnDNSChange(f func([]ActiveDNSRule)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dnsHook = f
	f(s.activeDNSLocked())
}

func (s *MEP) activeDNSLocked() []ActiveDNSRule {
	var out []ActiveDNSRule
	for _, a := range s.sortedAppsLocked() {
		for _, d := range a.DNS {
			if d.Rule.State != mecrule.RuleStateACTIVE {
				continue
			}
			addr, err := netip.ParseAddr(d.Rule.IpAddress)
			if err != nil {
				continue // validated on the way in; defensive
			}
			r := ActiveDNSRule{AppInstanceID: a.ID, RuleID: d.Rule.DnsRuleId, Domain: d.Rule.DomainName,
				Addr: addr.Unmap(), TTL: uint32(deref(d.Rule.Ttl)), Created: d.CreatedAt}
			if a.Spec.DnsRuleClientSubnets != nil {
				for _, p := range (*a.Spec.DnsRuleClientSubnets)[d.Rule.DnsRuleId] {
					if pfx, err := netip.ParsePrefix(p); err == nil { // validated on the way in
						r.ClientSubnets = append(r.ClientSubnets, pfx.Masked())
					}
				}
			}
			out = append(out, r)
		}
	}
	return out
}

func sortBy[T any](xs []T, key func(T) string) {
	sort.Slice(xs, func(i, j int) bool { return key(xs[i]) < key(xs[j]) })
}
