package dataplane

import (
	"bytes"
	"testing"

	"github.com/cilium/ebpf"
)

// TestDownlinkEncapShippedLoop checks the looping harness of BenchmarkDownlinkEncap:
// after one run and after several runs in one BPF_PROG_RUN, the packet and verdict are
// byte-identical to one run of the shipped upgw_app, the dl_encap counter advanced once per
// run, and the twins leave a packet of the same size (44 bytes pushed, nothing else).
func TestDownlinkEncapShippedLoop(t *testing.T) {
	in := dlBenchFrame(t)
	d, bl := loadShippedLoop(t, in)
	wantRet, want := run(t, d.objs.UpgwApp, in)
	if wantRet != tcRedirect || len(want) != len(in)+44 {
		t.Fatalf("shipped program: verdict %d, %d bytes; want redirect, %d bytes", wantRet, len(want), len(in)+44)
	}
	loop := func(p *ebpf.Program, repeat int) (uint32, []byte) {
		t.Helper()
		opts := &ebpf.RunOptions{Data: in, DataOut: make([]byte, 4096), Repeat: uint32(repeat)}
		ret, err := p.Run(opts)
		if err != nil {
			t.Fatal(err)
		}
		return ret, opts.DataOut
	}
	for _, repeat := range []int{1, 2, 3, 1000} {
		before := statsDelta(t, d)[StatDLEncap]
		ret, out := loop(bl.BenchDlShipped, repeat)
		if ret != wantRet || !bytes.Equal(out, want) {
			t.Fatalf("repeat %d: verdict %d, packet\n% x\nwant verdict %d, packet\n% x", repeat, ret, out, wantRet, want)
		}
		if got := statsDelta(t, d)[StatDLEncap] - before; got != uint64(repeat) {
			t.Fatalf("repeat %d: dl_encap counted %d runs", repeat, got)
		}
		for _, twin := range []*ebpf.Program{bl.BenchDlTwin, bl.BenchDlTwin2} {
			ret, out := loop(twin, repeat)
			if ret != tcRedirect || len(out) != len(in)+44 || !bytes.Equal(out[44:], in) || !bytes.Equal(out[:44], make([]byte, 44)) {
				t.Fatalf("twin, repeat %d: verdict %d, packet\n% x", repeat, ret, out)
			}
		}
	}
}
