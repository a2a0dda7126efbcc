package dataplane

import (
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestPinnedSessionsSurviveRestart: with a pin dir, learned sessions and counters outlive the
// agent's data plane object; without one nothing is left behind.
func TestPinnedSessionsSurviveRestart(t *testing.T) {
	loadTest(t) // root and memlock checks
	dir := t.TempDir()
	if err := unix.Mount("bpf", dir, "bpf", 0, ""); err != nil {
		t.Fatalf("mount bpffs: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	pin := filepath.Join(dir, "upgw")

	d1, err := Load(Options{PinDir: pin})
	if err != nil {
		t.Fatal(err)
	}
	if err := d1.PutSession(ue4, Session{Teid: 0xabc, Family: 4, Gnb: AddrFrom(gnb4)}); err != nil {
		t.Fatal(err)
	}
	d1.Close()

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

	d3, err := Load(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d3.Close()
	if ss, _ := d3.Sessions(); len(ss) != 0 {
		t.Errorf("unpinned data plane sees %d sessions; want 0", len(ss))
	}
}
