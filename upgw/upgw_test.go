package upgw

import (
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	mac, _ := net.ParseMAC("02:00:00:00:00:a1")
	ok := Config{GNBInterface: "n3g", UPFInterface: "n3u",
		Apps: []AppPort{{Interface: "app0", MAC: mac, Prefixes: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}}}}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	bad := Config{GNBInterface: "x", UPFInterface: "x", XDPMode: "offload", MEPURL: "ftp://mep", FeedTimeout: 2 * time.Minute,
		Apps: []AppPort{{Interface: "x"}}, Endpoints: []Endpoint{{}}}
	err := bad.Validate()
	if err == nil {
		t.Fatal("invalid config: got no error")
	}
	for _, want := range []string{"must differ", "xdp mode", "app port 0", "is an N3 port", "gtp-u endpoint 0", "mep url", "mep token", "feed timeout"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q; want it to mention %q", err, want)
		}
	}
}

func TestConfigValidateFeedTimeout(t *testing.T) {
	tests := []struct {
		timeout time.Duration
		ok      bool
	}{
		{0, true}, // the default, 30 s
		{time.Second, true},
		{30 * time.Second, true},
		{60 * time.Second, true},
		{-time.Second, false},
		{time.Nanosecond, false},
		{500 * time.Millisecond, false},
		{time.Second - 1, false},
		{60*time.Second + 1, false},
		{2 * time.Minute, false},
	}
	for _, tt := range tests {
		c := Config{GNBInterface: "n3g", UPFInterface: "n3u", MEPURL: "http://mep:8080", MEPToken: "t", FeedTimeout: tt.timeout}
		err := c.Validate()
		if tt.ok && err != nil {
			t.Errorf("feed timeout %s: %v; want it accepted", tt.timeout, err)
		}
		if !tt.ok && (err == nil || !strings.Contains(err.Error(), "feed timeout")) {
			t.Errorf("feed timeout %s: got %v; want a feed timeout error", tt.timeout, err)
		}
	}
}

func TestParseFlags(t *testing.T) {
	a, err := ParseAppPort("app0,02:00:00:00:00:a1,192.0.2.10,2001:db8::/64")
	if err != nil || a.Interface != "app0" || len(a.Prefixes) != 2 || a.Prefixes[0].String() != "192.0.2.10/32" {
		t.Errorf("ParseAppPort: got %+v, %v", a, err)
	}
	e, err := ParseEndpoint("10.99.0.1,ep0,02:00:00:00:00:e1,0x10")
	if err != nil || e.TEID != 16 || e.Address.String() != "10.99.0.1" {
		t.Errorf("ParseEndpoint: got %+v, %v", e, err)
	}
	for _, bad := range []string{"app0", "app0,zz,10.0.0.1", "app0,02:00:00:00:00:a1,nope"} {
		if _, err := ParseAppPort(bad); err == nil {
			t.Errorf("ParseAppPort(%q): got no error", bad)
		}
	}
}

// TestDeps keeps the UPGW talking to the MEP over HTTP only: no store drivers, no
// Kubernetes client, nothing from other components but the generated API packages: the
// MEC 011 wire types (mep/mp1api), which the shared rule check (internal/mecrule) operates
// on and the compiler reads, and the Mm5 client (mep/mm5api) that follows the rule feed.
func TestDeps(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/edgemec/edgemec/upgw/...", "github.com/edgemec/edgemec/cmd/upgw").Output()
	if err != nil {
		t.Skipf("go list unavailable: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{"github.com/jackc/pgx", "k8s.io/client-go", "github.com/edgemec/edgemec/mep", "github.com/edgemec/edgemec/meo", "modernc.org/sqlite"} {
			if strings.HasPrefix(dep, banned) && dep != "github.com/edgemec/edgemec/mep/mp1api" && dep != "github.com/edgemec/edgemec/mep/mm5api" {
				t.Errorf("upgw depends on %s", dep)
			}
		}
	}
}
