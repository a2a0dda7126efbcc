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
			return fmt.Errorf("load bpf objects: %+v", ve) //nolint:errorlint // %+v prints the whole verifier log
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
