// Package connlimit bounds the TCP connections one client may hold open on a listener. A
// client past its limit has its new connection closed at once, before a byte is read, so
// that thousands of idle or slow connections from one source cannot exhaust the server's
// file descriptors and memory while other clients still get through.
//
// A client is a source IP address (an IPv6 client by its /64, which one host usually
// holds whole). Connections are counted from Accept until Close.
package connlimit

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
)

// Listener is a net.Listener that admits at most PerClient open connections per client.
type Listener struct {
	net.Listener
	perClient int
	// OnRefuse, when set, is called with the client of each refused connection.
	OnRefuse func(client netip.Prefix)

	mu      sync.Mutex
	open    map[netip.Prefix]int
	refused atomic.Int64
}

// New wraps ln. perClient must be positive.
func New(ln net.Listener, perClient int) *Listener {
	return &Listener{Listener: ln, perClient: perClient, open: map[netip.Prefix]int{}}
}

// Refused returns the number of connections refused so far.
func (l *Listener) Refused() int64 { return l.refused.Load() }

// Open returns the number of open connections of the client of addr.
func (l *Listener) Open(addr netip.Addr) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open[clientOf(addr)]
}

// clientOf names the client of a source address.
func clientOf(a netip.Addr) netip.Prefix {
	a = a.Unmap()
	if a.Is4() {
		return netip.PrefixFrom(a, 32)
	}
	p, _ := a.Prefix(64)
	return p
}

// Accept returns the next connection of a client within its limit.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ap, err := netip.ParseAddrPort(c.RemoteAddr().String())
		if err != nil { // not an IP connection: not counted
			return c, nil
		}
		key := clientOf(ap.Addr())
		l.mu.Lock()
		if l.open[key] >= l.perClient {
			l.mu.Unlock()
			l.refused.Add(1)
			c.Close()
			if l.OnRefuse != nil {
				l.OnRefuse(key)
			}
			continue
		}
		l.open[key]++
		l.mu.Unlock()
		return &conn{Conn: c, l: l, key: key}, nil
	}
}

func (l *Listener) release(key netip.Prefix) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[key]--; l.open[key] <= 0 {
		delete(l.open, key)
	}
}

type conn struct {
	net.Conn
	l    *Listener
	key  netip.Prefix
	once sync.Once
}

// Close closes the connection and frees its slot.
func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.key) })
	return err
}
