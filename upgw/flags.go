package upgw

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// ParseAppPort parses "IFACE,MAC,PREFIX[,PREFIX...]", the command-line form of an AppPort.
func ParseAppPort(s string) (AppPort, error) {
	parts := strings.Split(s, ",")
	if len(parts) < 3 {
		return AppPort{}, fmt.Errorf("app port %q: want IFACE,MAC,PREFIX[,PREFIX...]", s)
	}
	mac, err := net.ParseMAC(parts[1])
	if err != nil {
		return AppPort{}, fmt.Errorf("app port %q: %w", s, err)
	}
	a := AppPort{Interface: parts[0], MAC: mac}
	for _, p := range parts[2:] {
		pfx, err := netip.ParsePrefix(p)
		if err != nil {
			addr, aerr := netip.ParseAddr(p)
			if aerr != nil {
				return AppPort{}, fmt.Errorf("app port %q: %w", s, err)
			}
			pfx = netip.PrefixFrom(addr, addr.BitLen())
		}
		a.Prefixes = append(a.Prefixes, pfx.Masked())
	}
	return a, nil
}

// ParseEndpoint parses "ADDRESS,IFACE,MAC[,TEID]", the command-line form of an Endpoint.
func ParseEndpoint(s string) (Endpoint, error) {
	parts := strings.Split(s, ",")
	if len(parts) != 3 && len(parts) != 4 {
		return Endpoint{}, fmt.Errorf("gtp-u endpoint %q: want ADDRESS,IFACE,MAC[,TEID]", s)
	}
	addr, err := netip.ParseAddr(parts[0])
	if err != nil {
		return Endpoint{}, fmt.Errorf("gtp-u endpoint %q: %w", s, err)
	}
	mac, err := net.ParseMAC(parts[2])
	if err != nil {
		return Endpoint{}, fmt.Errorf("gtp-u endpoint %q: %w", s, err)
	}
	e := Endpoint{Address: addr.Unmap(), Interface: parts[1], MAC: mac}
	if len(parts) == 4 {
		teid, err := strconv.ParseUint(parts[3], 0, 32)
		if err != nil {
			return Endpoint{}, fmt.Errorf("gtp-u endpoint %q: teid: %w", s, err)
		}
		e.TEID = uint32(teid)
	}
	return e, nil
}
