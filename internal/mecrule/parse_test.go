package mecrule

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseAddress(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		err  bool
	}{
		{in: "192.0.2.10", want: []string{"192.0.2.10/32"}},
		{in: "192.0.2.0/24", want: []string{"192.0.2.0/24"}},
		{in: "192.0.2.77/24", want: []string{"192.0.2.0/24"}},
		{in: "192.0.2.0/255.255.255.0", want: []string{"192.0.2.0/24"}},
		{in: "192.0.2.0 255.255.255.128", want: []string{"192.0.2.0/25"}},
		{in: "192.0.2.1-192.0.2.6", want: []string{"192.0.2.1/32", "192.0.2.2/31", "192.0.2.4/31", "192.0.2.6/32"}},
		{in: "2001:db8::/32", want: []string{"2001:db8::/32"}},
		{in: "2001:db8::1", want: []string{"2001:db8::1/128"}},
		{in: "::ffff:192.0.2.1", want: []string{"192.0.2.1/32"}},
		{in: "::ffff:192.0.2.0/120", want: []string{"192.0.2.0/24"}},
		{in: "0.0.0.0-255.255.255.255", want: []string{"0.0.0.0/0"}},
		{in: "192.0.2.0/255.0.255.0", err: true},
		{in: "192.0.2.9-192.0.2.1", err: true},
		{in: "192.0.2.1-2001:db8::1", err: true},
		{in: "0.0.0.1-255.255.255.254", err: true},
		{in: "foo", err: true},
		{in: "", err: true},
		{in: "192.0.2.0/33", err: true},
		{in: "fe80::1%eth0", err: true},                    // a zone names a host interface, not traffic
		{in: "::ffff:0:0/95", err: true},                   // wider than the IPv4-mapped block: mixes families
		{in: "::ffff:0:0/96", want: []string{"0.0.0.0/0"}}, // the whole IPv4-mapped block: every IPv4 address
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseAddress(tt.in)
			if (err != nil) != tt.err {
				t.Fatalf("error %v; want error %v", err, tt.err)
			}
			var gs []string
			for _, p := range got {
				gs = append(gs, p.String())
			}
			if fmt.Sprint(gs) != fmt.Sprint(tt.want) && !tt.err {
				t.Errorf("got %v; want %v", gs, tt.want)
			}
		})
	}
}

func TestParsePortProtoTEID(t *testing.T) {
	if got, err := ParsePort("8000-8080"); err != nil || got != (PortRange{8000, 8080}) {
		t.Errorf("ParsePort range: got %v, %v; want 8000-8080", got, err)
	}
	for _, bad := range []string{"", "-1", "70000", "9-1", "a", "0x10"} {
		if _, err := ParsePort(bad); err == nil {
			t.Errorf("ParsePort(%q): got no error; want one", bad)
		}
	}
	for in, want := range map[string]uint8{"tcp": 6, "UDP": 17, "ICMPv6": 58, "132": 132} {
		if got, err := ParseProtocol(in); err != nil || got != want {
			t.Errorf("ParseProtocol(%q): got %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"256", "ANY", "http", ""} {
		if _, err := ParseProtocol(bad); err == nil {
			t.Errorf("ParseProtocol(%q): got no error; want one", bad)
		}
	}
	if got, err := ParseTEID("0x1f"); err != nil || got != 31 {
		t.Errorf("ParseTEID(0x1f): got %d, %v; want 31", got, err)
	}
}

// TrafficFilter.protocol is a list of strings: IANA names and numbers are IP protocols,
// other well-formed names application protocols (valid, not restricting the IP protocol),
// and only malformed values are errors.
func TestProtocols(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     uint8
		app, bad bool
	}{
		{name: "name", in: "tcp", want: 6},
		{name: "IANA keyword", in: "IPv6-ICMP", want: 58},
		{name: "alias", in: "ICMPv6", want: 58},
		{name: "less common IANA name", in: "OSPFIGP", want: 89},
		{name: "number", in: "132", want: 132},
		{name: "number zero", in: "0", want: 0},
		{name: "application protocol", in: "HTTP", app: true},
		{name: "application protocol with digits", in: "HTTP/2", app: true},
		{name: "number out of range", in: "256", bad: true},
		{name: "empty", in: "", bad: true},
		{name: "space inside", in: "a b", bad: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ParseProtocol(tc.in)
			switch {
			case tc.bad:
				require.Error(t, err)
				require.NotErrorIs(t, err, ErrNotIPProtocol)
			case tc.app:
				require.ErrorIs(t, err, ErrNotIPProtocol)
			default:
				require.NoError(t, err)
				require.Equal(t, tc.want, p)
			}
		})
	}
	ps, err := IPProtocols([]string{"TCP", "17"})
	require.NoError(t, err)
	require.Equal(t, []uint8{6, 17}, ps)
	ps, err = IPProtocols([]string{"TCP", "QUIC"})
	require.NoError(t, err)
	require.Nil(t, ps, "an application protocol does not restrict the IP protocol")
}
