package dataplane

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// pinnedSession mounts a bpffs, loads a data plane that pins its maps there, gives it one
// session (ue4, TEID 0xabc) and closes it. It returns the pin directory.
func pinnedSession(t *testing.T) string {
	t.Helper()
	loadTest(t) // root and memlock checks
	dir := t.TempDir()
	if err := unix.Mount("bpf", dir, "bpf", 0, ""); err != nil {
		t.Fatalf("mount bpffs: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	pin := filepath.Join(dir, "upgw")
	d, err := Load(Options{PinDir: pin})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.PutSession(ue4, Session{Teid: 0xabc, Family: 4, Gnb: AddrFrom(gnb4)}); err != nil {
		t.Fatal(err)
	}
	return pin
}

// TestPinnedSessionsSurviveRestart: with a pin dir, learned sessions and counters outlive the
// agent's data plane object; without one nothing is left behind.
func TestPinnedSessionsSurviveRestart(t *testing.T) {
	pin := pinnedSession(t)

	d2, err := Load(Options{PinDir: pin})
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	ss, err := d2.Sessions()
	if err != nil {
		t.Fatal(err)
	}
	if len(ss) != 1 || ss[0].UE != ue4 || ss[0].Teid != 0xabc {
		t.Errorf("sessions after reload %+v; want the UE's session with TEID 0xabc", ss)
	}
	// The kept session is in the new session cache: a reply is served from it.
	if err := d2.SetConfig(loIfx, loIfx); err != nil {
		t.Fatal(err)
	}
	if ret, _ := run(t, d2.objs.UpgwApp, replyTo(t, ue4)); ret != tcRedirect {
		t.Fatalf("reply after reload: verdict %d; want TC_ACT_REDIRECT", ret)
	}
	if st := statsDelta(t, d2); st[StatDLEncap] != 1 || st[StatDLSlow] != 0 {
		t.Errorf("after reload: dl_encap %d, dl_slow %d; want 1, 0 (the session cache was refilled)", st[StatDLEncap], st[StatDLSlow])
	}

	d3, err := Load(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d3.Close()
	if ss, _ := d3.Sessions(); len(ss) != 0 {
		t.Errorf("unpinned data plane sees %d sessions; want 0", len(ss))
	}
}

// TestStalePinReplaced: a pinned map left by a build with another layout (here a counter
// array of another size) is recreated instead of failing the load, with the counters both
// layouts have copied over, and the maps that still fit are kept.
func TestStalePinReplaced(t *testing.T) {
	pin := pinnedSession(t)
	// Replace the pinned path counters with an older, smaller layout.
	if err := os.Remove(filepath.Join(pin, "path_stats")); err != nil {
		t.Fatal(err)
	}
	old, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: 16, MaxEntries: 3})
	if err != nil {
		t.Fatal(err)
	}
	if err := old.Pin(filepath.Join(pin, "path_stats")); err != nil {
		t.Fatal(err)
	}
	old.Close()

	var notices []string
	d2, err := Load(Options{PinDir: pin, Logf: func(f string, a ...any) { notices = append(notices, fmt.Sprintf(f, a...)) }})
	if err != nil {
		t.Fatalf("load over a stale pin: %v", err)
	}
	defer d2.Close()
	if len(notices) != 1 || !strings.Contains(notices[0], "path_stats") {
		t.Errorf("notices %q; want one about path_stats", notices)
	}
	if st, err := d2.PathStats(); err != nil || len(st) != NumStats {
		t.Errorf("path stats: %d entries, %v; want %d", len(st), err, NumStats)
	}
	// The new map takes the pin once the links run the new programs.
	if err := d2.Commit(); err != nil {
		t.Fatal(err)
	}
	if m, err := ebpf.LoadPinnedMap(filepath.Join(pin, "path_stats"), nil); err != nil || m.MaxEntries() != uint32(NumStats) {
		t.Errorf("pinned path_stats: %v; want the new layout with %d entries", err, NumStats)
	} else {
		m.Close()
	}
	if ss, err := d2.Sessions(); err != nil || len(ss) != 1 || ss[0].Teid != 0xabc {
		t.Errorf("sessions %+v, %v; want the kept session", ss, err)
	}
}
