// Package dataplane loads the UPGW eBPF programs (upgw/bpf/upgw.c, compiled by bpf2go into
// the committed upgw_bpfel.{go,o}), attaches them to the N3 and app ports and exposes the
// maps through a typed API: output targets, atomic rule-set swaps, learned sessions and
// per-CPU counters summed over CPUs.
package dataplane

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
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
	NumStats       = int(upgwUpgwStatUPGW_STAT_MAX)
)

var statNames = [...]string{
	StatULPass: "ul_pass", StatULDecap: "ul_decap", StatULEncap: "ul_encap", StatULDrop: "ul_drop",
	StatULPassRule: "ul_pass_rule", StatULDup: "ul_dup", StatDLPass: "dl_pass", StatDLLearn: "dl_learn",
	StatDLEncap: "dl_encap", StatDLMiss: "dl_miss", StatNonGTP: "non_gtp", StatGTPOther: "gtp_other",
	StatFrag: "frag", StatMalformed: "malformed", StatDupDone: "dup_done", StatErr: "error", StatGSO: "gso_drop",
	StatDLSlow: "dl_slow",
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

// Options configures Load.
type Options struct {
	// PinDir, when set, is a bpffs directory where the learned sessions and the counters
	// are pinned so that they survive an agent restart. Empty means nothing is pinned.
	PinDir string
	// Logf, when set, receives notices about pinned state that could not be kept.
	Logf func(format string, args ...any)

	noDLCache bool // tests: load with the session cache off, as on other architectures
}

// pinnedMaps are the maps Load pins under Options.PinDir.
var pinnedMaps = []string{"sessions", "rule_stats", "path_stats"}

// Datapath is the loaded set of programs and maps.
type Datapath struct {
	objs      upgwObjects
	innerSpec *ebpf.MapSpec // LPM trie of a generation
	hostSpec  *ebpf.MapSpec // host table of a generation

	mu     sync.Mutex
	links  []link.Link
	gen    *ebpf.Map // active rule-set generation (LPM trie), owned here
	hosts  *ebpf.Map // active generation's host table, owned here
	filter []uint64  // dst_filter as last written
}

// Load loads the programs and maps into the kernel. It does not attach anything.
func Load(opts Options) (*Datapath, error) {
	spec, err := loadUpgw()
	if err != nil {
		return nil, fmt.Errorf("load bpf spec: %w", err)
	}
	inner, hosts := spec.Maps["ruleset"].InnerMap, spec.Maps["hostset"].InnerMap
	if inner == nil || hosts == nil {
		return nil, errors.New("ruleset or hostset map has no inner map spec")
	}
	if !dlCacheSafe || opts.noDLCache {
		if err := spec.Variables["upgw_dl_cache"].Set(uint32(0)); err != nil {
			return nil, fmt.Errorf("turn the session cache off: %w", err)
		}
		spec.Maps["dl_cache"].MaxEntries = 1 // unused: no need for its 6 MiB
	}
	var copts ebpf.CollectionOptions
	if opts.PinDir != "" {
		if err := os.MkdirAll(opts.PinDir, 0o700); err != nil {
			return nil, fmt.Errorf("pin dir: %w", err)
		}
		dir := filepath.Clean(opts.PinDir)
		dropped, err := dropIncompatiblePins(spec, dir)
		if err != nil {
			return nil, err
		}
		for _, name := range dropped {
			if opts.Logf != nil {
				opts.Logf("pinned map %s has the layout of another build; starting it empty", name)
			}
		}
		for _, name := range pinnedMaps {
			spec.Maps[name].Pinning = ebpf.PinByName
		}
		copts.Maps.PinPath = dir
	}
	d := &Datapath{innerSpec: inner.Copy(), hostSpec: hosts.Copy()}
	if err := loadInto(spec, &d.objs, &copts); err != nil {
		return nil, err
	}
	// Sessions kept across a restart go into the new (empty) session cache.
	if err := d.syncAllSessions(); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// dlCacheSafe reports whether the return path's session cache may be used: its lock-free
// readers need loads that stay in program order, which x86-64 gives the JIT's plain loads.
// Elsewhere the data plane looks every session up in the sessions map.
const dlCacheSafe = runtime.GOARCH == "amd64"

// dropIncompatiblePins removes the pinned maps under dir whose type, key or value size,
// entries or flags no longer match spec (a build that changed them), so that Load recreates
// them empty instead of failing. It returns the names it removed. A change that keeps every
// size (fields reordered within a value) is not detected: such a change must rename the map.
func dropIncompatiblePins(spec *ebpf.CollectionSpec, dir string) ([]string, error) {
	var dropped []string
	for _, name := range pinnedMaps {
		path := filepath.Join(dir, name)
		m, err := ebpf.LoadPinnedMap(path, nil)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("open pinned map %s: %w", path, err)
		}
		ms := spec.Maps[name]
		same := m.Type() == ms.Type && m.KeySize() == ms.KeySize && m.ValueSize() == ms.ValueSize &&
			m.MaxEntries() == ms.MaxEntries && m.Flags() == ms.Flags
		m.Close()
		if same {
			continue
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("remove stale pinned map %s: %w", path, err)
		}
		dropped = append(dropped, name)
	}
	return dropped, nil
}

// loadInto loads the objects of spec that objs names; the benchmarks reuse it with the
// benchmark build of the programs.
func loadInto(spec *ebpf.CollectionSpec, objs any, copts *ebpf.CollectionOptions) error {
	if err := spec.LoadAndAssign(objs, copts); err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return fmt.Errorf("load bpf objects: %+v", ve)
		}
		return fmt.Errorf("load bpf objects: %w", err)
	}
	return nil
}

// Close detaches every link and releases programs and maps. Pinned maps stay pinned.
func (d *Datapath) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	var errs []error
	for i := len(d.links) - 1; i >= 0; i-- {
		errs = append(errs, d.links[i].Close())
	}
	d.links = nil
	for _, m := range []**ebpf.Map{&d.gen, &d.hosts} {
		if *m != nil {
			errs = append(errs, (*m).Close())
			*m = nil
		}
	}
	errs = append(errs, d.objs.Close())
	return errors.Join(errs...)
}

// XDPMode selects how XDP programs attach.
type XDPMode int

// XDP attach modes.
const (
	XDPNative XDPMode = iota
	XDPGeneric
)

func (m XDPMode) flags() link.XDPAttachFlags {
	if m == XDPGeneric {
		return link.XDPGenericMode
	}
	return link.XDPDriverMode
}

// AttachN3 attaches the uplink program to the gNB-side port and the downlink program to the
// UPF-side port (XDP), the DUPLICATE_* half to both (TCX ingress), and records the ports in
// slots 0 and 1 and in the config map.
func (d *Datapath) AttachN3(gnb, upf int, mode XDPMode) error {
	if err := d.objs.Config.Put(uint32(0), upgwUpgwConfig{GnbIfindex: uint32(gnb), UpfIfindex: uint32(upf)}); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	for slot, ifx := range map[uint32]int{SlotGNB: gnb, SlotUPF: upf} {
		if err := d.SetTarget(slot, Target{Ifindex: uint32(ifx), Kind: TargetN3}); err != nil {
			return err
		}
	}
	attach := []struct {
		prog *ebpf.Program
		ifx  int
		tc   bool
	}{
		{d.objs.UpgwUl, gnb, false}, {d.objs.UpgwDl, upf, false},
		{d.objs.UpgwN3Tc, gnb, true}, {d.objs.UpgwN3Tc, upf, true},
	}
	for _, a := range attach {
		var (
			l   link.Link
			err error
		)
		if a.tc {
			l, err = link.AttachTCX(link.TCXOptions{Interface: a.ifx, Program: a.prog, Attach: ebpf.AttachTCXIngress})
		} else {
			l, err = link.AttachXDP(link.XDPOptions{Interface: a.ifx, Program: a.prog, Flags: mode.flags()})
		}
		if err != nil {
			return fmt.Errorf("attach %s to ifindex %d: %w", a.prog, a.ifx, err)
		}
		d.addLink(l)
	}
	return nil
}

// AttachApp attaches the return-path program to an app-facing port (TCX ingress).
func (d *Datapath) AttachApp(ifindex int) error {
	l, err := link.AttachTCX(link.TCXOptions{Interface: ifindex, Program: d.objs.UpgwApp, Attach: ebpf.AttachTCXIngress})
	if err != nil {
		return fmt.Errorf("attach app program to ifindex %d: %w", ifindex, err)
	}
	d.addLink(l)
	return nil
}

// AttachPass attaches the XDP_PASS program, which lets native XDP redirects into a veth
// reach its peer (the peer of a redirect target needs an XDP program).
func (d *Datapath) AttachPass(ifindex int, mode XDPMode) error {
	l, err := link.AttachXDP(link.XDPOptions{Interface: ifindex, Program: d.objs.UpgwPass, Flags: mode.flags()})
	if err != nil {
		return fmt.Errorf("attach pass program to ifindex %d: %w", ifindex, err)
	}
	d.addLink(l)
	return nil
}

func (d *Datapath) addLink(l link.Link) {
	d.mu.Lock()
	d.links = append(d.links, l)
	d.mu.Unlock()
}

// SetTarget writes an output slot: its description and, for real interfaces, the devmap.
func (d *Datapath) SetTarget(slot uint32, t Target) error {
	if slot >= MaxTargets {
		return fmt.Errorf("target slot %d out of range", slot)
	}
	if err := d.objs.Targets.Put(slot, t); err != nil {
		return fmt.Errorf("write target %d: %w", slot, err)
	}
	if t.Ifindex != 0 {
		if err := d.objs.TxPorts.Put(slot, t.Ifindex); err != nil {
			return fmt.Errorf("write tx port %d: %w", slot, err)
		}
	}
	return nil
}

// SetConfig writes the N3 ifindexes without attaching (for tests of the return path).
func (d *Datapath) SetConfig(gnb, upf int) error {
	return d.objs.Config.Put(uint32(0), upgwUpgwConfig{GnbIfindex: uint32(gnb), UpfIfindex: uint32(upf)})
}

// Entry is one destination prefix of a rule set and its candidates.
type Entry struct {
	Key   LPMKey
	Cands Cands
}

// SwapRuleSet makes entries the active rule set: it builds a new generation aside (a fresh
// LPM trie and a fresh host table), fills it, then puts the trie into slot 0 of ruleset
// and the host table into slot 0 of hostset. The old generation is freed once no program
// uses it.
//
// Each packet gets the answer of one whole generation, old or new, even between the two
// updates: a host-table hit gives exactly what that generation's trie gives, and a miss
// falls back to a trie that is complete on its own.
func (d *Datapath) SwapRuleSet(entries []Entry) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(entries) > MaxPrefixes {
		return fmt.Errorf("rule set has %d prefixes; limit is %d", len(entries), MaxPrefixes)
	}
	m, err := ebpf.NewMap(d.innerSpec.Copy())
	if err != nil {
		return fmt.Errorf("create rule-set generation: %w", err)
	}
	for i := range entries {
		if err := m.Put(&entries[i].Key, &entries[i].Cands); err != nil {
			m.Close()
			return fmt.Errorf("fill rule-set generation: %w", err)
		}
	}
	h, err := d.newHostTable(entries)
	if err != nil {
		m.Close()
		return err
	}
	// The destination pre-filter must cover both sets while the swap happens: first add the
	// new set's bits, swap, then drop the bits only the old set needed.
	want := filterOf(entries)
	union := make([]uint64, filterWords)
	for i := range union {
		union[i] = want[i]
		if d.filter != nil {
			union[i] |= d.filter[i]
		}
	}
	if err := d.writeFilter(union); err != nil {
		m.Close()
		h.Close()
		return err
	}
	if err := d.objs.Ruleset.Put(uint32(0), m); err != nil {
		m.Close()
		h.Close()
		return fmt.Errorf("swap rule-set generation: %w", err)
	}
	if d.gen != nil {
		d.gen.Close()
	}
	d.gen = m
	if err := d.objs.Hostset.Put(uint32(0), h); err != nil {
		// The old host table stays with the new trie: still one generation per packet,
		// but the old set's hosts shadow the new trie. Clear it so the trie decides.
		h.Close()
		return errors.Join(fmt.Errorf("swap host table: %w", err), d.objs.Hostset.Delete(uint32(0)))
	}
	if d.hosts != nil {
		d.hosts.Close()
	}
	d.hosts = h
	return d.writeFilter(want)
}

// newHostTable builds the host table of a generation: every whole-address key (/32, /128)
// with its candidates, at its hash slot. A host whose slot is already taken is left to the
// trie, which holds every entry anyway.
func (d *Datapath) newHostTable(entries []Entry) (*ebpf.Map, error) {
	h, err := ebpf.NewMap(d.hostSpec.Copy())
	if err != nil {
		return nil, fmt.Errorf("create host table: %w", err)
	}
	used := make(map[uint32]bool)
	for i := range entries {
		e := &entries[i]
		if e.Key.Prefixlen != 128 {
			continue
		}
		slot := HostSlot(e.Key.Addr)
		if used[slot] {
			continue
		}
		used[slot] = true
		if err := h.Put(slot, &Host{Addr: e.Key.Addr, Used: 1, C: e.Cands}); err != nil {
			h.Close()
			return nil, fmt.Errorf("fill host table: %w", err)
		}
	}
	return h, nil
}

// PathStats returns the per-path counters summed over CPUs.
func (d *Datapath) PathStats() ([]Counter, error) {
	out := make([]Counter, NumStats)
	for i := range out {
		c, err := sumPerCPU(d.objs.PathStats, uint32(i))
		if err != nil {
			return nil, fmt.Errorf("read path stats: %w", err)
		}
		out[i] = c
	}
	return out, nil
}

// RuleCounter returns the counter of one rule slot summed over CPUs.
func (d *Datapath) RuleCounter(slot uint32) (Counter, error) {
	return sumPerCPU(d.objs.RuleStats, slot)
}

// ResetRuleCounter zeroes a rule slot, for reuse by another rule.
func (d *Datapath) ResetRuleCounter(slot uint32) error {
	n, err := ebpf.PossibleCPU()
	if err != nil {
		return err
	}
	return d.objs.RuleStats.Put(slot, make([]Counter, n))
}

func sumPerCPU(m *ebpf.Map, key uint32) (Counter, error) {
	var vals []Counter
	if err := m.Lookup(key, &vals); err != nil {
		return Counter{}, err
	}
	var c Counter
	for _, v := range vals {
		c.Packets += v.Packets
		c.Bytes += v.Bytes
	}
	return c, nil
}

// SessionEntry is one learned session with its UE address.
type SessionEntry struct {
	UE netip.Addr
	Session
}

// Sessions lists the learned downlink sessions.
func (d *Datapath) Sessions() ([]SessionEntry, error) {
	var (
		k   Addr
		v   Session
		out []SessionEntry
	)
	it := d.objs.Sessions.Iterate()
	for it.Next(&k, &v) {
		out = append(out, SessionEntry{UE: AddrTo(k), Session: v})
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("iterate sessions: %w", err)
	}
	return out, nil
}

// PutSession provisions a session from the control plane (or a test).
func (d *Datapath) PutSession(ue netip.Addr, s Session) error {
	if err := d.objs.Sessions.Put(AddrFrom(ue), s); err != nil {
		return err
	}
	return d.syncSession(AddrFrom(ue))
}

// DeleteSession forgets a UE's session. The session cache is cleared even when the sessions
// map no longer had the UE (the LRU map may have evicted it while the cache kept it).
func (d *Datapath) DeleteSession(ue netip.Addr) error {
	err := d.objs.Sessions.Delete(AddrFrom(ue))
	if err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return err
	}
	if serr := d.syncSession(AddrFrom(ue)); serr != nil {
		return serr
	}
	return err
}

// xdpPass is XDP_PASS, the verdict of upgw_dl_sync.
const xdpPass = 2

// syncSession brings the UE's session-cache slot in line with the sessions map. The cache
// has lock-free readers, so only the data plane writes it: upgw_dl_sync does, run on the
// UE's address.
func (d *Datapath) syncSession(ue Addr) error {
	var b [16]byte
	for i, w := range ue.W {
		putNativeWord(b[i*4:], w)
	}
	ret, err := d.objs.UpgwDlSync.Run(&ebpf.RunOptions{Data: b[:]})
	if err != nil {
		return fmt.Errorf("sync session cache: %w", err)
	}
	if ret != xdpPass {
		return fmt.Errorf("sync session cache: verdict %d", ret)
	}
	return nil
}

// syncAllSessions puts every session of the sessions map into the session cache.
func (d *Datapath) syncAllSessions() error {
	var (
		k Addr
		v Session
	)
	it := d.objs.Sessions.Iterate()
	for it.Next(&k, &v) {
		if err := d.syncSession(k); err != nil {
			return err
		}
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("iterate sessions: %w", err)
	}
	return nil
}
