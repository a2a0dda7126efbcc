package dataplane

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/cilium/ebpf"
)

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

// SessionCapacity is the size of the sessions map: the UEs whose tunnels it can hold before
// the least recently used are evicted (the kernel's LRU may start evicting a little before
// the map is full: it hands out free entries to each CPU in batches).
func (d *Datapath) SessionCapacity() int { return int(d.objs.Sessions.MaxEntries()) }

// CountSessions counts the sessions map's entries with batch lookups (a few hundred
// system calls for a full map of 65,536, not one per entry). The agent counts in the
// background; requests read the last count.
func (d *Datapath) CountSessions() (int, error) {
	const batch = 4096
	keys := make([]Addr, batch)
	vals := make([]Session, batch)
	var (
		cursor ebpf.MapBatchCursor
		n      int
	)
	for {
		c, err := d.objs.Sessions.BatchLookup(&cursor, keys, vals, nil)
		n += c
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return n, nil
		}
		if err != nil {
			return n, fmt.Errorf("count sessions: %w", err)
		}
	}
}
