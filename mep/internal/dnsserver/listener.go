package dnsserver

import (
	"net"
	"net/netip"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// limitListener bounds the number of open TCP connections: Accept waits for a free slot, so
// excess clients wait in the kernel's listen backlog instead of costing goroutines here. It
// also bounds the connections of one client (an IPv4 address, an IPv6 /64): one beyond
// perClient is closed at once, so no client can hold every slot with idle connections.
type limitListener struct {
	net.Listener
	slots     chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	open      prometheus.Gauge
	refused   prometheus.Counter
	perClient int

	mu      sync.Mutex
	clients map[netip.Prefix]int
}

func newLimitListener(l net.Listener, n, perClient int, open prometheus.Gauge, refused prometheus.Counter) *limitListener {
	return &limitListener{Listener: l, slots: make(chan struct{}, n), done: make(chan struct{}), open: open,
		refused: refused, perClient: perClient, clients: map[netip.Prefix]int{}}
}

// Accept waits for a free slot and then for a connection of a client under its own limit.
func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.slots <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			<-l.slots
			return nil, err
		}
		key := clientPrefix(addrOf(c.RemoteAddr()), 32, 64)
		l.mu.Lock()
		n := l.clients[key]
		if n >= l.perClient {
			l.mu.Unlock()
			l.refused.Inc()
			c.Close()
			continue
		}
		l.clients[key] = n + 1
		l.mu.Unlock()
		l.open.Inc()
		return &limitConn{Conn: c, release: func() { l.release(key) }}, nil
	}
}

// release gives back the slot and the client count of a closed connection.
func (l *limitListener) release(key netip.Prefix) {
	l.mu.Lock()
	if l.clients[key]--; l.clients[key] <= 0 {
		delete(l.clients, key)
	}
	l.mu.Unlock()
	<-l.slots
	l.open.Dec()
}

// Close closes the listener and wakes a waiting Accept.
func (l *limitListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// limitConn gives its slot back once, on the first Close.
type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

// Close closes the connection and frees its slot.
func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
