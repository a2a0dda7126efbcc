package dnsserver

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Rule is one ACTIVE DNS rule of an app instance (ETSI GS MEC 011 DnsRule).
type Rule struct {
	// AppInstanceID is the app instance that owns the rule.
	AppInstanceID string
	// RuleID is the dnsRuleId.
	RuleID string
	// Domain is the domainName as given: any case, with or without the trailing dot; printable
	// ASCII only (internationalised names as punycode).
	Domain string
	// Addr is the ipAddress; an IPv4 address (ipAddressType IP_V4) is answered as an A record,
	// an IPv6 address (IP_V6) as an AAAA record. IPv4-mapped IPv6 addresses count as IPv4.
	Addr netip.Addr
	// TTL is the ttl in seconds; 0 means Config.DefaultTTL.
	TTL uint32
	// Created is when the rule was first provisioned; older wins a conflict (see the package
	// doc for the whole order).
	Created time.Time
	// Priority orders conflicting claims: lower wins; 0 means unset and loses to any set value.
	Priority int
	// ClientSubnets, when not empty, limits the rule to clients inside one of the prefixes.
	ClientSubnets []netip.Prefix
}

// Claim is one app instance's claim on a domain.
type Claim struct {
	// AppInstanceID is the claiming app instance.
	AppInstanceID string
	// RuleIDs are its rules for the domain, in answer order.
	RuleIDs []string
	// Priority is the best (lowest non-zero) Priority among those rules, 0 if none is set.
	Priority int
	// Created is the oldest Created among those rules.
	Created time.Time
}

// Conflict is a domain claimed by more than one app instance.
type Conflict struct {
	// Domain is the domain in canonical form: lowercase, without the trailing dot.
	Domain string
	// Winner is the claim that is answered.
	Winner Claim
	// Losers are the ignored claims, in resolution order.
	Losers []Claim
	// Reason names the step of the resolution order that decided between the winner and the
	// first loser: "priority", "created" or "app_instance_id".
	Reason string
}

// Reasons reported in Conflict.Reason.
const (
	ReasonPriority      = "priority"
	ReasonCreated       = "created"
	ReasonAppInstanceID = "app_instance_id"
)

// localRR is one answerable record of a rule.
type localRR struct {
	ruleID  string
	rr      dns.RR // A or AAAA with the canonical owner name; copied before use
	subnets []netip.Prefix
}

// domain is the winner's records for one domain.
type domain struct {
	owner string
	rrs   []localRR
}

// ruleTable is an immutable snapshot of the rules, swapped atomically by SetRules.
type ruleTable struct {
	domains   map[string]*domain // key: canonical FQDN (lowercase, trailing dot)
	conflicts []Conflict
	rules     int // valid rules in the table, winners and losers
}

// applies reports whether the record may be given to the client.
func (l *localRR) applies(client netip.Addr) bool {
	if len(l.subnets) == 0 {
		return true
	}
	for _, p := range l.subnets {
		if p.Contains(client) {
			return true
		}
	}
	return false
}

// lookup returns the winner's records for name that apply to client, and whether any do. The
// name must be canonical.
func (t *ruleTable) lookup(name string, client netip.Addr) ([]*localRR, bool) {
	d := t.domains[name]
	if d == nil {
		return nil, false
	}
	var out []*localRR
	for i := range d.rrs {
		if d.rrs[i].applies(client) {
			out = append(out, &d.rrs[i])
		}
	}
	return out, len(out) > 0
}

// prioKey maps Priority to a sort key: set values in order, unset (0) last.
func prioKey(p int) int {
	if p == 0 {
		return math.MaxInt
	}
	return p
}

// checkRule validates a rule and returns its canonical domain and normalised address.
func checkRule(r Rule) (string, netip.Addr, error) {
	var errs []error
	if r.AppInstanceID == "" {
		errs = append(errs, errors.New("empty app instance id"))
	}
	name := strings.TrimSpace(r.Domain)
	if name == "" || name == "." {
		errs = append(errs, fmt.Errorf("domain %q: empty", r.Domain))
	} else if !validDomain(name) {
		errs = append(errs, fmt.Errorf("domain %q: not a domain name", r.Domain))
	}
	addr := r.Addr.Unmap().WithZone("")
	if !addr.IsValid() {
		errs = append(errs, errors.New("missing ip address"))
	}
	for _, p := range r.ClientSubnets {
		if !p.IsValid() {
			errs = append(errs, errors.New("invalid client subnet"))
			break
		}
	}
	return dns.CanonicalName(name), addr, errors.Join(errs...)
}

// validDomain accepts names of printable ASCII (internationalised names come as punycode
// A-labels, RFC 5891) that encode to the wire format, so every rule can be answered.
func validDomain(name string) bool {
	for i := 0; i < len(name); i++ {
		if name[i] <= ' ' || name[i] > '~' {
			return false
		}
	}
	if _, ok := dns.IsDomainName(name); !ok {
		return false
	}
	buf := make([]byte, 256)
	_, err := dns.PackDomainName(dns.Fqdn(name), buf, 0, nil, false)
	return err == nil
}

// unmapPrefix turns an IPv4-mapped IPv6 prefix into the IPv4 prefix clients are compared with
// (client addresses are unmapped too) and masks it.
func unmapPrefix(p netip.Prefix) netip.Prefix {
	if a := p.Addr(); a.Is4In6() {
		return netip.PrefixFrom(a.Unmap(), max(p.Bits()-96, 0)).Masked()
	}
	return p.Masked()
}

// claim gathers one app instance's rules for one domain.
type claim struct {
	Claim
	rules []Rule
}

// buildTable compiles rules into a table. Invalid rules are skipped and reported.
func buildTable(rules []Rule, defaultTTL uint32) (*ruleTable, []error) {
	var errs []error
	byDomain := map[string]map[string]*claim{}
	t := &ruleTable{domains: map[string]*domain{}}
	for _, r := range rules {
		name, addr, err := checkRule(r)
		if err != nil {
			errs = append(errs, fmt.Errorf("dns rule %s of app instance %s: %w", r.RuleID, r.AppInstanceID, err))
			continue
		}
		r.Addr = addr
		subnets := make([]netip.Prefix, 0, len(r.ClientSubnets))
		for _, p := range r.ClientSubnets {
			subnets = append(subnets, unmapPrefix(p))
		}
		r.ClientSubnets = subnets
		t.rules++
		claims := byDomain[name]
		if claims == nil {
			claims = map[string]*claim{}
			byDomain[name] = claims
		}
		c := claims[r.AppInstanceID]
		if c == nil {
			c = &claim{Claim: Claim{AppInstanceID: r.AppInstanceID, Created: r.Created, Priority: r.Priority}}
			claims[r.AppInstanceID] = c
		}
		if prioKey(r.Priority) < prioKey(c.Priority) {
			c.Priority = r.Priority
		}
		if r.Created.Before(c.Created) {
			c.Created = r.Created
		}
		c.rules = append(c.rules, r)
	}
	for name, claims := range byDomain {
		ordered := make([]*claim, 0, len(claims))
		for _, c := range claims {
			slices.SortFunc(c.rules, func(a, b Rule) int {
				return cmp.Or(
					cmp.Compare(prioKey(a.Priority), prioKey(b.Priority)),
					a.Created.Compare(b.Created),
					strings.Compare(a.RuleID, b.RuleID),
					a.Addr.Compare(b.Addr),
				)
			})
			for _, r := range c.rules {
				c.RuleIDs = append(c.RuleIDs, r.RuleID)
			}
			ordered = append(ordered, c)
		}
		slices.SortFunc(ordered, compareClaims)
		win := ordered[0]
		d := &domain{owner: name}
		for _, r := range win.rules {
			d.rrs = append(d.rrs, localRR{ruleID: r.RuleID, rr: makeRR(name, r, defaultTTL), subnets: r.ClientSubnets})
		}
		t.domains[name] = d
		if len(ordered) > 1 {
			c := Conflict{Domain: strings.TrimSuffix(name, "."), Winner: win.Claim, Reason: reason(win, ordered[1])}
			for _, l := range ordered[1:] {
				c.Losers = append(c.Losers, l.Claim)
			}
			t.conflicts = append(t.conflicts, c)
		}
	}
	slices.SortFunc(t.conflicts, func(a, b Conflict) int { return strings.Compare(a.Domain, b.Domain) })
	return t, errs
}

// compareClaims is the resolution order of the package doc.
func compareClaims(a, b *claim) int {
	return cmp.Or(
		cmp.Compare(prioKey(a.Priority), prioKey(b.Priority)),
		a.Created.Compare(b.Created),
		strings.Compare(a.AppInstanceID, b.AppInstanceID),
	)
}

// reason names the step of the resolution order that put w before l.
func reason(w, l *claim) string {
	switch {
	case prioKey(w.Priority) != prioKey(l.Priority):
		return ReasonPriority
	case !w.Created.Equal(l.Created):
		return ReasonCreated
	default:
		return ReasonAppInstanceID
	}
}

// makeRR builds the A or AAAA record of a rule.
func makeRR(name string, r Rule, defaultTTL uint32) dns.RR {
	ttl := r.TTL
	if ttl == 0 {
		ttl = defaultTTL
	}
	ttl = min(ttl, maxRuleTTL)
	if r.Addr.Is4() {
		return &dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: ttl}, A: r.Addr.AsSlice()}
	}
	return &dns.AAAA{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeAAAA, Class: dns.ClassINET, Ttl: ttl}, AAAA: r.Addr.AsSlice()}
}

// cloneConflicts deep-copies conflicts so callers cannot mutate the table.
func cloneConflicts(cs []Conflict) []Conflict {
	out := make([]Conflict, len(cs))
	for i, c := range cs {
		c.Winner.RuleIDs = slices.Clone(c.Winner.RuleIDs)
		c.Losers = slices.Clone(c.Losers)
		for j := range c.Losers {
			c.Losers[j].RuleIDs = slices.Clone(c.Losers[j].RuleIDs)
		}
		out[i] = c
	}
	return out
}
