package connlimit_test

import (
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/mep/internal/connlimit"
)

// A client past its limit has new connections closed; closing one frees a slot; the count
// is per client.
func TestPerClientLimit(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	l := connlimit.New(ln, 3)
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(c, c); c.Close() }() // echo until the client goes
		}
	}()
	dial := func(t *testing.T) net.Conn {
		t.Helper()
		c, err := net.Dial("tcp", ln.Addr().String())
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		return c
	}
	// echoes reports whether the server serves c (false: it closed c).
	echoes := func(c net.Conn) bool {
		_ = c.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := c.Write([]byte("x")); err != nil {
			return false
		}
		b := make([]byte, 1)
		_, err := io.ReadFull(c, b)
		return err == nil
	}
	var held []net.Conn
	for i := range 3 {
		c := dial(t)
		require.True(t, echoes(c), "connection %d within the limit is served", i)
		held = append(held, c)
	}
	over := dial(t)
	require.False(t, echoes(over), "the 4th connection of the client is closed")
	require.EqualValues(t, 1, l.Refused())
	other, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}).Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { other.Close() })
	require.True(t, echoes(other), "another client is served while the first is at its limit")

	held[0].Close()
	require.Eventually(t, func() bool { return l.Open(netip.MustParseAddr("127.0.0.1")) == 2 }, 2*time.Second, 10*time.Millisecond)
	require.True(t, echoes(dial(t)), "a closed connection frees its slot")
}
