package dataplane

import (
	"fmt"
	"net/netip"
)

// Types shared with the C programs. They are generated from BTF, never mirrored by hand.
type (
	// Addr is an IPv6 address or an IPv4-mapped IPv4 address, in network byte order.
	Addr = upgwUpgwAddr
	// Prefix is an address and mask; a zero mask matches any address.
	Prefix = upgwUpgwPrefix
	// Match is one compiled traffic-filter tuple.
	Match = upgwUpgwMatch
	// Cands is the priority-ordered candidate list stored behind one destination prefix.
	Cands = upgwUpgwCands
	// LPMKey keys a rule-set generation by inner destination prefix.
	LPMKey = upgwUpgwLpmKey
	// Host is one slot of a generation's host table.
	Host = upgwUpgwHost
	// Target describes an output slot.
	Target = upgwUpgwTarget
	// Session is a UE's learned downlink tunnel.
	Session = upgwUpgwSession
	// Counter is a packets/bytes pair.
	Counter = upgwUpgwCounter
	// Meta is the XDP-to-TC metadata of DUPLICATE_* actions.
	Meta = upgwUpgwMeta
)

// Actions, numbered like ETSI GS MEC 011 TrafficRule.action.
const (
	ActDrop        = uint8(upgwUpgwActionUPGW_ACT_DROP)
	ActFwdDecap    = uint8(upgwUpgwActionUPGW_ACT_FWD_DECAP)
	ActFwdEncap    = uint8(upgwUpgwActionUPGW_ACT_FWD_ENCAP)
	ActPassthrough = uint8(upgwUpgwActionUPGW_ACT_PASSTHROUGH)
	ActDupDecap    = uint8(upgwUpgwActionUPGW_ACT_DUP_DECAP)
	ActDupEncap    = uint8(upgwUpgwActionUPGW_ACT_DUP_ENCAP)
)

// Match fields (Match.Fields bits).
const (
	FieldSrc      = uint32(upgwUpgwFieldUPGW_F_SRC)
	FieldProto    = uint32(upgwUpgwFieldUPGW_F_PROTO)
	FieldSport    = uint32(upgwUpgwFieldUPGW_F_SPORT)
	FieldDport    = uint32(upgwUpgwFieldUPGW_F_DPORT)
	FieldTunSrc   = uint32(upgwUpgwFieldUPGW_F_TUN_SRC)
	FieldTunDst   = uint32(upgwUpgwFieldUPGW_F_TUN_DST)
	FieldTunSport = uint32(upgwUpgwFieldUPGW_F_TUN_SPORT)
	FieldTunDport = uint32(upgwUpgwFieldUPGW_F_TUN_DPORT)
	FieldTEID     = uint32(upgwUpgwFieldUPGW_F_TEID)
	FieldQFI      = uint32(upgwUpgwFieldUPGW_F_QFI)
	FieldDSCP     = uint32(upgwUpgwFieldUPGW_F_DSCP)
	FieldTC       = uint32(upgwUpgwFieldUPGW_F_TC)
)

// Target kinds (Target.Kind).
const (
	TargetN3   = 1
	TargetApp  = 2
	TargetGTPU = 3
)

// Output slots 0 and 1 are the N3 ports; apps and GTP-U endpoints use the rest.
const (
	SlotGNB      = 0
	SlotUPF      = 1
	FirstAppSlot = 2
)

// Limits of the data plane (see upgw/bpf/lib/upgw.h).
const (
	MaxCands    = len(Cands{}.M)
	MaxRules    = 1024
	MaxTargets  = 64
	MaxPrefixes = 4096
	// HostSlots is the size of a generation's host table (UPGW_HOST_SLOTS).
	HostSlots = 1 << hostBits
	hostBits  = 10
)

// addrSlot is upgw_addr_slot in upgw/bpf/lib/upgw.h: an address hashed to one of 1<<bits
// slots.
func addrSlot(a Addr, bits uint) uint32 {
	h := a.W[0] ^ a.W[1] ^ a.W[2] ^ a.W[3]
	return (h * 0x9e3779b1) >> (32 - bits)
}

// HostSlot returns the host-table slot of an address (upgw_host_slot).
func HostSlot(a Addr) uint32 { return addrSlot(a, hostBits) }

// dlCacheBits is UPGW_DL_CACHE_BITS: the session cache has 1<<dlCacheBits slots.
const dlCacheBits = 16

// dlSlot is upgw_dl_slot: the session-cache slot of a UE.
func dlSlot(a Addr) uint32 { return addrSlot(a, dlCacheBits) }

// Stat indexes the per-path counters.
type Stat uint32

// Per-path counters.
const (
	StatULPass     = Stat(upgwUpgwStatUPGW_STAT_UL_PASS)
	StatULDecap    = Stat(upgwUpgwStatUPGW_STAT_UL_DECAP)
	StatULEncap    = Stat(upgwUpgwStatUPGW_STAT_UL_ENCAP)
	StatULDrop     = Stat(upgwUpgwStatUPGW_STAT_UL_DROP)
	StatULPassRule = Stat(upgwUpgwStatUPGW_STAT_UL_PASS_RULE)
	StatULDup      = Stat(upgwUpgwStatUPGW_STAT_UL_DUP)
	StatDLPass     = Stat(upgwUpgwStatUPGW_STAT_DL_PASS)
	StatDLLearn    = Stat(upgwUpgwStatUPGW_STAT_DL_LEARN)
	StatDLEncap    = Stat(upgwUpgwStatUPGW_STAT_DL_ENCAP)
	StatDLMiss     = Stat(upgwUpgwStatUPGW_STAT_DL_MISS)
	StatNonGTP     = Stat(upgwUpgwStatUPGW_STAT_NON_GTP)
	StatGTPOther   = Stat(upgwUpgwStatUPGW_STAT_GTP_OTHER)
	StatFrag       = Stat(upgwUpgwStatUPGW_STAT_FRAG)
	StatMalformed  = Stat(upgwUpgwStatUPGW_STAT_MALFORMED)
	StatDupDone    = Stat(upgwUpgwStatUPGW_STAT_DUP_DONE)
	StatErr        = Stat(upgwUpgwStatUPGW_STAT_ERR)
	StatGSO        = Stat(upgwUpgwStatUPGW_STAT_GSO)
	StatDLSlow     = Stat(upgwUpgwStatUPGW_STAT_DL_SLOW)
	StatDLNew      = Stat(upgwUpgwStatUPGW_STAT_DL_NEW)
	NumStats       = int(upgwUpgwStatUPGW_STAT_MAX)
)

var statNames = [...]string{
	StatULPass: "ul_pass", StatULDecap: "ul_decap", StatULEncap: "ul_encap", StatULDrop: "ul_drop",
	StatULPassRule: "ul_pass_rule", StatULDup: "ul_dup", StatDLPass: "dl_pass", StatDLLearn: "dl_learn",
	StatDLEncap: "dl_encap", StatDLMiss: "dl_miss", StatNonGTP: "non_gtp", StatGTPOther: "gtp_other",
	StatFrag: "frag", StatMalformed: "malformed", StatDupDone: "dup_done", StatErr: "error", StatGSO: "gso_drop",
	StatDLSlow: "dl_slow", StatDLNew: "dl_new",
}

// String returns the snake_case name used in metrics and the control API.
func (s Stat) String() string {
	if int(s) < len(statNames) {
		return statNames[s]
	}
	return fmt.Sprintf("stat_%d", uint32(s))
}

// AddrFrom converts an address to the data plane form (IPv4 as ::ffff:a.b.c.d).
func AddrFrom(a netip.Addr) Addr {
	b := a.As16()
	var out Addr
	for i := range 4 {
		// Words hold network-order bytes in host memory order.
		out.W[i] = nativeWord(b[i*4 : i*4+4])
	}
	return out
}

// AddrTo converts a data plane address back; IPv4-mapped addresses come back as IPv4.
func AddrTo(a Addr) netip.Addr {
	var b [16]byte
	for i := range 4 {
		putNativeWord(b[i*4:i*4+4], a.W[i])
	}
	return netip.AddrFrom16(b).Unmap()
}

// PrefixFrom converts a prefix to address+mask form; IPv4 prefixes become IPv4-mapped.
func PrefixFrom(p netip.Prefix) Prefix {
	p = p.Masked()
	bits := p.Bits()
	if p.Addr().Is4() {
		bits += 96
	}
	var mask [16]byte
	for i := range 16 {
		switch {
		case bits >= 8:
			mask[i] = 0xff
			bits -= 8
		case bits > 0:
			mask[i] = byte(0xff << (8 - bits))
			bits = 0
		}
	}
	m := AddrFrom(netip.AddrFrom16(mask))
	return Prefix{Addr: AddrFrom(p.Addr()), Mask: m}
}

// KeyFrom returns the LPM key of a destination prefix.
func KeyFrom(p netip.Prefix) LPMKey {
	p = p.Masked()
	bits := p.Bits()
	if p.Addr().Is4() {
		bits += 96
	}
	return LPMKey{Prefixlen: uint32(bits), Addr: AddrFrom(p.Addr())}
}
