package main

import (
	"net/netip"
	"testing"
)

func TestGPDURoundTrip(t *testing.T) {
	inner := udp4(netip.MustParseAddr("10.60.0.5"), netip.MustParseAddr("192.0.2.10"), 40000, 8080, []byte("hi"))
	if fold(sum(inner[:20])) != 0xffff {
		t.Fatal("bad IPv4 header checksum")
	}
	teid, qfi, got, err := parse(gpdu(0xabcdef, 1, 9, inner))
	if err != nil || teid != 0xabcdef || qfi != 9 || string(got) != string(inner) {
		t.Fatalf("parse: teid %x qfi %d err %v", teid, qfi, err)
	}
	if d := describe(got); d != `10.60.0.5:40000 → 192.0.2.10:8080 "hi"` {
		t.Fatalf("describe = %s", d)
	}
	if _, _, _, err := parse([]byte{0x34, 0xff, 0, 4, 0, 0, 0, 1, 0, 0, 0, 0x85, 9}); err == nil {
		t.Fatal("truncated extension accepted")
	}
}
