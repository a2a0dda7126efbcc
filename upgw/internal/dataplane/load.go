package dataplane

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

// Options configures Load.
type Options struct {
	// PinDir, when set, is a bpffs directory where the data plane's state maps and its links
	// are pinned, so that the programs keep forwarding while the agent is down and a
	// restarted agent adopts them (see Datapath). Empty means nothing is pinned: the data
	// plane lives as long as the Datapath.
	PinDir string
	// MaxSessions sizes the sessions map (UEs whose downlink tunnel is known); zero takes
	// DefaultMaxSessions.
	MaxSessions int
	// Logf, when set, receives notices about pinned state that could not be kept.
	Logf func(format string, args ...any)

	noDLCache bool // tests: load with the session cache off, as on other architectures
}

// DefaultMaxSessions is the default size of the sessions map.
const DefaultMaxSessions = 65536

// MaxMaxSessions bounds Options.MaxSessions: 4 Mi UEs, about 400 MiB of map.
const MaxMaxSessions = 1 << 22

// pinnedMaps are the maps Load pins under Options.PinDir: everything the programs keep
// across a restart (sessions, counters) and everything they read to forward (rule set,
// output ports, configuration), so that a restarted agent's programs take over the very
// maps the running ones use. The trace maps are the agent's own and are not pinned.
var pinnedMaps = []string{"sessions", "rule_stats", "path_stats", "ruleset", "hostset", "dst_filter",
	"tx_ports", "targets", "config", "dl_cache"}

// Datapath is the loaded set of programs and maps.
//
// With a pin dir, Load takes over the maps a previous agent pinned when their layout still
// fits, and the attach methods take over its pinned links, replacing the program in each
// with BPF_LINK_UPDATE: the kernel swaps it atomically, so no packet sees an interface
// without a program. A map whose layout changed (another build, another --max-sessions) is
// created anew and filled from the old one where the entries keep their meaning
// (sessions, counters); the new map replaces the old pin only once every link runs the new
// programs. Close leaves pinned links and maps in place (the data plane keeps forwarding);
// Detach removes the links.
type Datapath struct {
	objs      upgwObjects
	innerSpec *ebpf.MapSpec // LPM trie of a generation
	hostSpec  *ebpf.MapSpec // host table of a generation
	pinDir    string
	owners    *ebpf.Map // rule_owners: which rule each counter slot belongs to
	logf      func(format string, args ...any)

	mu      sync.Mutex
	links   []pinnedLink
	gen     *ebpf.Map // active rule-set generation (LPM trie), owned here
	hosts   *ebpf.Map // active generation's host table, owned here
	filter  []uint64  // dst_filter as last written
	pending []pendingPin
	adopted int // links taken over from a previous agent

	traceReader bool // a TraceReader is open
}

// pendingPin is a map created to replace an incompatible pinned one; it is pinned once every
// link runs the new programs.
type pendingPin struct {
	name string
	m    *ebpf.Map
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
	if opts.MaxSessions < 0 || opts.MaxSessions > MaxMaxSessions {
		return nil, fmt.Errorf("max sessions %d: want 1-%d", opts.MaxSessions, MaxMaxSessions)
	}
	if opts.MaxSessions > 0 {
		spec.Maps["sessions"].MaxEntries = uint32(opts.MaxSessions)
	}
	if !dlCacheSafe || opts.noDLCache {
		if err := spec.Variables["upgw_dl_cache"].Set(uint32(0)); err != nil {
			return nil, fmt.Errorf("turn the session cache off: %w", err)
		}
		spec.Maps["dl_cache"].MaxEntries = 1 // unused: no need for its 6 MiB
	}
	d := &Datapath{innerSpec: inner.Copy(), hostSpec: hosts.Copy(), logf: opts.Logf}
	if d.logf == nil {
		d.logf = func(string, ...any) {}
	}
	var copts ebpf.CollectionOptions
	old := map[string]*ebpf.Map{} // incompatible pinned maps, to copy from
	defer func() {
		for _, m := range old {
			m.Close()
		}
	}()
	if opts.PinDir != "" {
		dir := filepath.Clean(opts.PinDir)
		if err := os.MkdirAll(filepath.Join(dir, linkDir), 0o700); err != nil {
			return nil, fmt.Errorf("pin dir: %w", err)
		}
		d.pinDir = dir
		for _, name := range pinnedMaps {
			ms := spec.Maps[name]
			m, err := ebpf.LoadPinnedMap(filepath.Join(dir, name), nil)
			switch {
			case errors.Is(err, os.ErrNotExist):
				ms.Pinning = ebpf.PinByName
			case err != nil:
				return nil, fmt.Errorf("open pinned map %s: %w", name, err)
			case compatible(ms, m):
				m.Close()
				ms.Pinning = ebpf.PinByName
			default:
				// Created unpinned; it takes the pin once the links run the new programs.
				old[name] = m
			}
		}
		copts.Maps.PinPath = dir
	}
	if err := loadInto(spec, &d.objs, &copts); err != nil {
		return nil, err
	}
	if err := d.openOwners(); err != nil {
		d.Close()
		return nil, err
	}
	for _, name := range pinnedMaps {
		o, ok := old[name]
		if !ok {
			continue
		}
		m := d.mapByName(name)
		n, err := migrate(name, o, m)
		if err != nil {
			d.Close()
			return nil, err
		}
		if n >= 0 {
			d.logf("pinned map %s has another layout (another build or size); copied %d entries into a new one", name, n)
		} else if name == "sessions" || name == "rule_stats" || name == "path_stats" {
			d.logf("pinned map %s has the layout of another build; starting it empty", name)
		}
		d.pending = append(d.pending, pendingPin{name: name, m: m})
	}
	// Sessions kept across a restart go into the session cache.
	if err := d.syncAllSessions(); err != nil {
		d.Close()
		return nil, err
	}
	if f, err := d.readFilter(); err == nil {
		d.filter = f
	}
	return d, nil
}

// mapByName returns one of the pinnable maps.
func (d *Datapath) mapByName(name string) *ebpf.Map {
	switch name {
	case "sessions":
		return d.objs.Sessions
	case "rule_stats":
		return d.objs.RuleStats
	case "path_stats":
		return d.objs.PathStats
	case "ruleset":
		return d.objs.Ruleset
	case "hostset":
		return d.objs.Hostset
	case "dst_filter":
		return d.objs.DstFilter
	case "tx_ports":
		return d.objs.TxPorts
	case "targets":
		return d.objs.Targets
	case "config":
		return d.objs.Config
	case "dl_cache":
		return d.objs.DlCache
	}
	panic("unknown map " + name)
}

// compatible reports whether the pinned map m can serve as ms: same type, sizes and flags,
// and for a map of maps, an inner map (if any) of the same layout.
func compatible(ms *ebpf.MapSpec, m *ebpf.Map) bool {
	if m.Type() != ms.Type || m.KeySize() != ms.KeySize || m.ValueSize() != ms.ValueSize ||
		m.MaxEntries() != ms.MaxEntries || m.Flags() != ms.Flags {
		return false
	}
	if ms.InnerMap == nil {
		return true
	}
	var in *ebpf.Map
	if err := m.Lookup(uint32(0), &in); err != nil {
		return errors.Is(err, ebpf.ErrKeyNotExist)
	}
	defer in.Close()
	is := ms.InnerMap
	return in.Type() == is.Type && in.KeySize() == is.KeySize && in.ValueSize() == is.ValueSize &&
		in.MaxEntries() == is.MaxEntries && in.Flags() == is.Flags
}

// migrate copies what keeps its meaning from an incompatible pinned map into its
// replacement: sessions (when the entry layout is the same) and counters (per slot, as far
// as both arrays reach). It returns the entries copied, or -1 for a map it does not copy
// (the agent writes those again before the programs are swapped in).
func migrate(name string, from, to *ebpf.Map) (int, error) {
	switch name {
	case "sessions":
		if from.KeySize() != to.KeySize() || from.ValueSize() != to.ValueSize() {
			return -1, nil
		}
		var (
			k Addr
			v Session
			n int
		)
		it := from.Iterate()
		for it.Next(&k, &v) {
			if n >= int(to.MaxEntries()) {
				break
			}
			if err := to.Put(&k, &v); err != nil {
				return n, fmt.Errorf("copy session: %w", err)
			}
			n++
		}
		if err := it.Err(); err != nil {
			return n, fmt.Errorf("copy sessions: %w", err)
		}
		return n, nil
	case "rule_stats", "path_stats":
		if from.ValueSize() != to.ValueSize() || from.Type() != to.Type() {
			return -1, nil
		}
		n := min(from.MaxEntries(), to.MaxEntries())
		for i := range n {
			var vals []Counter
			if err := from.Lookup(i, &vals); err != nil {
				return int(i), fmt.Errorf("copy %s: %w", name, err)
			}
			if err := to.Put(i, vals); err != nil {
				return int(i), fmt.Errorf("copy %s: %w", name, err)
			}
		}
		return int(n), nil
	}
	return -1, nil
}

// dlCacheSafe reports whether the return path's session cache may be used: its lock-free
// readers need loads that stay in program order, which x86-64 gives the JIT's plain loads.
// Elsewhere the data plane looks every session up in the sessions map.
const dlCacheSafe = runtime.GOARCH == "amd64"

// loadInto loads the objects of spec that objs names; the benchmarks reuse it with the
// benchmark build of the programs.
func loadInto(spec *ebpf.CollectionSpec, objs any, copts *ebpf.CollectionOptions) error {
	if err := spec.LoadAndAssign(objs, copts); err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return fmt.Errorf("load bpf objects: %+v", ve) //nolint:errorlint // %+v prints the whole verifier log
		}
		return fmt.Errorf("load bpf objects: %w", err)
	}
	return nil
}

// Pinned reports whether the data plane is pinned (outlives the agent).
func (d *Datapath) Pinned() bool { return d.pinDir != "" }

// Adopted returns how many links were taken over from a previous agent.
func (d *Datapath) Adopted() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.adopted
}

// Close releases the agent's hold on the data plane. Unpinned links detach; pinned links and
// maps stay, and the programs keep forwarding with the last rule set.
func (d *Datapath) Close() error { return d.close(false) }

// Detach removes the data plane from the interfaces, pinned links included, and releases it.
// Pinned maps (sessions, counters, the rule set) stay for the next agent.
func (d *Datapath) Detach() error { return d.close(true) }

func (d *Datapath) close(detach bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	var errs []error
	for i := len(d.links) - 1; i >= 0; i-- {
		l := d.links[i]
		if detach && l.path != "" {
			errs = append(errs, l.Unpin())
		}
		errs = append(errs, l.Close())
	}
	d.links = nil
	for _, m := range []**ebpf.Map{&d.gen, &d.hosts, &d.owners} {
		if *m != nil {
			errs = append(errs, (*m).Close())
			*m = nil
		}
	}
	d.pending = nil // closed with objs
	errs = append(errs, d.objs.Close())
	return errors.Join(errs...)
}

// pinnedLink is an attached link and its pin path ("" when not pinned).
type pinnedLink struct {
	link.Link
	path string
}
