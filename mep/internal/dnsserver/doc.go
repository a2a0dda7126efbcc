// Package dnsserver is the site DNS server of the MEP (issue 3): it answers the ACTIVE DNS rules
// of the app instances on the site authoritatively (ETSI GS MEC 011 DnsRule: domainName,
// ipAddressType, ipAddress, ttl) and forwards every other name to the configured upstream
// resolvers, with failover, a TTL-bounded cache and no open recursion.
//
// The MEP owns the rules: it calls [Server.SetRules] with the full set of ACTIVE rules whenever
// its store changes and before [Server.Run] after a restart. SetRules swaps an immutable rule
// table atomically, so the change is visible to the next query and queries already in flight
// finish against the table they started with.
//
// Resolution order when several app instances claim the same domain (see [Server.Conflicts]):
//
//  1. The instance whose best rule for the domain has the lowest non-zero Priority wins; an
//     instance with a Priority beats one without (Priority 0 means unset).
//  2. Then the instance whose oldest rule for the domain was created first wins.
//  3. Then the lexicographically smallest AppInstanceID wins (a total order, so never random).
//
// The winner owns the whole domain: only its rules for that domain are answered (all of them,
// A and AAAA, in the order Priority, Created, RuleID); the losers' rules for it are ignored until
// the winner's rules go away. A rule with ClientSubnets is answered only to clients inside one of
// them; when none of the winner's rules apply to a client, the name is handled as if it had no
// rule (forwarded), so the same name resolves to the local app only for the UEs of this site.
//
// Other behaviour, per RFC: names compare case-insensitively and with or without the trailing
// dot; a name with rules but none of the asked type gets NOERROR with no answers (NODATA); UDP
// answers are truncated with TC to the client's EDNS0 buffer size (512 bytes without EDNS0,
// capped at Config.MaxUDPAnswer) so the client retries over TCP; UDP answers to one client
// prefix are rate limited (Config.RateLimit, with slip), and one client holds at most
// Config.MaxTCPPerClient TCP connections; forwarding is only done for
// clients in Config.AllowedClients (REFUSED otherwise) and ends in SERVFAIL when every upstream
// fails.
package dnsserver
