package callback

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPostRequest(t *testing.T) {
	type seen struct {
		method, uri, host, ctype, auth string
		length                         int64
		body                           string
	}
	got := make(chan seen, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{r.Method, r.RequestURI, r.Host, r.Header.Get("Content-Type"), r.Header.Get("Authorization"), r.ContentLength, string(b)}
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	c := New(Config{})
	defer c.Close()
	host := strings.TrimPrefix(srv.URL, "http://")

	for _, tt := range []struct {
		name, url string
		want      seen
	}{
		{"path and query", srv.URL + "/cb/1?x=%20y", seen{uri: "/cb/1?x=%20y"}},
		{"no path", srv.URL, seen{uri: "/"}},
		{"user info", "http://u:p%40ss@" + host + "/cb", seen{uri: "/cb", auth: "Basic dTpwQHNz"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, err := c.Post(t.Context(), tt.url, []byte(`{"a":1}`))
			require.NoError(t, err)
			require.Equal(t, http.StatusAccepted, code)
			want := tt.want
			want.method, want.host, want.ctype, want.length, want.body = "POST", host, "application/json", 7, `{"a":1}`
			require.Equal(t, want, <-got)
		})
	}
}

func TestPostBadURL(t *testing.T) {
	c := New(Config{})
	for _, u := range []string{"ftp://x/", "http:///path", "://", "http://a b/"} {
		_, err := c.Post(t.Context(), u, nil)
		require.Error(t, err, "url %q", u)
	}
}

func TestKeepAlive(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	c := New(Config{MaxIdlePerHost: 4})
	defer c.Close()

	for range 20 {
		code, err := c.Post(t.Context(), srv.URL+"/cb", []byte(`{}`))
		require.NoError(t, err)
		require.Equal(t, http.StatusNoContent, code)
	}
	require.Equal(t, int32(1), conns.Load(), "sequential posts must share one connection")

	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				_, err := c.Post(t.Context(), srv.URL+"/cb", []byte(`{}`))
				assert.NoError(t, err)
			}
		}()
	}
	wg.Wait()
	require.LessOrEqual(t, conns.Load(), int32(8), "got %d connections; want at most one per concurrent poster", conns.Load())
	c.mu.Lock()
	require.LessOrEqual(t, c.nIdle, 4, "idle connections beyond MaxIdlePerHost")
	c.mu.Unlock()
}

// scripted is a server that answers each request on a connection with the next response of
// its script and counts connections. After the script it answers 204.
type scripted struct {
	ln    net.Listener
	conns atomic.Int32
	reqs  atomic.Int32
}

func newScripted(t *testing.T, script []string, closeAfter bool) *scripted {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &scripted{ln: ln}
	var next atomic.Int32
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			s.conns.Add(1)
			go func() {
				defer nc.Close()
				br := bufio.NewReader(nc)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					_, _ = io.Copy(io.Discard, req.Body)
					s.reqs.Add(1)
					i := int(next.Add(1)) - 1
					resp := "HTTP/1.1 204 No Content\r\n\r\n"
					if i < len(script) {
						resp = script[i]
					}
					if _, err := io.WriteString(nc, resp); err != nil || (closeAfter && i < len(script)) {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return s
}

func (s *scripted) url() string { return "http://" + s.ln.Addr().String() + "/cb" }

func TestResponses(t *testing.T) {
	long := strings.Repeat("x", 10000)
	for _, tt := range []struct {
		name       string
		resp       string
		closeAfter bool // the server closes after the response
		code       int
		reused     bool
	}{
		{"204", "HTTP/1.1 204 No Content\r\n\r\n", false, 204, true},
		{"content-length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", false, 200, true},
		{"chunked with trailer", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n0\r\nX-T: 1\r\n\r\n", false, 200, true},
		{"interim responses", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n", false, 201, true},
		{"connection close", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", true, 200, false},
		{"HTTP/1.0", "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", true, 200, false},
		{"HTTP/1.0 keep-alive", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", false, 200, true},
		{"body up to the close", "HTTP/1.1 200 OK\r\n\r\nuntil close", true, 200, false},
		{"long header field", "HTTP/1.1 200 OK\r\nX-Long: " + long + "\r\nContent-Length: 0\r\n\r\n", false, 200, true},
		{"body beyond the limit", "HTTP/1.1 200 OK\r\nContent-Length: 70000\r\n\r\n" + strings.Repeat("b", 70000), false, 200, false},
		{"chunked beyond the limit", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n11170\r\n" + strings.Repeat("b", 70000) + "\r\n0\r\n\r\n", false, 200, false},
		{"error status", "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy", false, 503, true},
		{"gone", "HTTP/1.1 410 Gone\r\nContent-Length: 0\r\n\r\n", false, 410, true},
		{"no reason phrase", "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", false, 200, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newScripted(t, []string{tt.resp}, tt.closeAfter)
			c := New(Config{})
			defer c.Close()
			code, err := c.Post(t.Context(), s.url(), []byte(`{}`))
			require.NoError(t, err)
			require.Equal(t, tt.code, code)
			// The next request goes on the same connection only if it could be kept.
			code, err = c.Post(t.Context(), s.url(), []byte(`{}`))
			require.NoError(t, err)
			require.Equal(t, 204, code)
			wantConns := int32(2)
			if tt.reused {
				wantConns = 1
			}
			require.Equal(t, wantConns, s.conns.Load(), "connections")
			require.Equal(t, int32(2), s.reqs.Load(), "requests")
		})
	}
}

func TestMalformedResponses(t *testing.T) {
	for _, tt := range []struct{ name, resp string }{
		{"not HTTP", "FOO\r\n\r\n"},
		{"bad code", "HTTP/1.1 2x0 OK\r\n\r\n"},
		{"HTTP/2 status line", "HTTP/2 200\r\n\r\n"},
		{"switching protocols", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n"},
		{"bad content-length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"},
		{"conflicting content-lengths", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nx"},
		{"cut off", "HTTP/1.1 200 OK\r\nContent-"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newScripted(t, []string{tt.resp}, true)
			c := New(Config{})
			defer c.Close()
			_, err := c.Post(t.Context(), s.url(), []byte(`{}`))
			require.Error(t, err)
			require.Equal(t, int32(1), s.reqs.Load(), "a request with a response started must not be repeated")
		})
	}
}

// TestStaleConnection: a kept-alive connection the server closed meanwhile costs a new
// connection, not a failed delivery.
func TestStaleConnection(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	var conns, reqs atomic.Int32
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func() { // one request per connection, then a silent close
				defer nc.Close()
				req, err := http.ReadRequest(bufio.NewReader(nc))
				if err != nil {
					return
				}
				_, _ = io.Copy(io.Discard, req.Body)
				reqs.Add(1)
				_, _ = io.WriteString(nc, "HTTP/1.1 204 No Content\r\n\r\n")
			}()
		}
	}()
	c := New(Config{})
	defer c.Close()
	url := "http://" + ln.Addr().String() + "/cb"
	for i := range 3 {
		code, err := c.Post(t.Context(), url, []byte(`{}`))
		require.NoError(t, err, "post %d", i)
		require.Equal(t, 204, code)
		time.Sleep(20 * time.Millisecond) // let the close arrive
	}
	require.Equal(t, int32(3), reqs.Load())
	require.Equal(t, int32(3), conns.Load())
}

func TestDeadlineAndCancel(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	go func() { // reads requests, never answers
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer nc.Close(); _, _ = io.Copy(io.Discard, nc) }()
		}
	}()
	c := New(Config{})
	defer c.Close()
	url := "http://" + ln.Addr().String() + "/cb"

	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = c.Post(ctx, url, []byte(`{}`))
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Less(t, time.Since(start), 2*time.Second)

	ctx, cancel = context.WithCancel(t.Context())
	time.AfterFunc(100*time.Millisecond, cancel)
	start = time.Now()
	_, err = c.Post(ctx, url, []byte(`{}`))
	require.ErrorIs(t, err, context.Canceled)
	require.Less(t, time.Since(start), 2*time.Second)
	c.mu.Lock()
	require.Zero(t, c.nIdle, "an interrupted connection must not be kept")
	c.mu.Unlock()
}

func TestTLS(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || r.ProtoMajor != 1 {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the untrusting client's handshake fails on purpose
	srv.StartTLS()
	defer srv.Close()
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	c := New(Config{TLS: &tls.Config{RootCAs: roots}})
	defer c.Close()
	for range 2 {
		code, err := c.Post(t.Context(), srv.URL+"/cb", []byte(`{}`))
		require.NoError(t, err)
		require.Equal(t, http.StatusNoContent, code)
	}
	// Without the test CA the server is not trusted.
	_, err := New(Config{}).Post(t.Context(), srv.URL+"/cb", []byte(`{}`))
	var unknown x509.UnknownAuthorityError
	require.True(t, errors.As(err, &unknown), "got %v; want an unknown authority error", err)
}

// FuzzReadResponse: whatever a subscriber answers, reading it ends without a panic, and a
// connection is kept only after a complete response.
func FuzzReadResponse(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 204 No Content\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;e\r\nhello\r\n0\r\nT: 1\r\n\r\n",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.0 200 OK\r\nConnection: keep-alive, x\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
		"HTTP/1.1 999 ?\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bytes.NewReader(b)
		code, keep, _, err := readResponse(bufio.NewReader(r), 1024)
		if err == nil && (code < 200 || code > 999) {
			t.Fatalf("code %d without an error", code)
		}
		if keep && err != nil {
			t.Fatal("keep with an error")
		}
	})
}

// TestDeny: a callback whose address (after name resolution) is in Config.Deny gets no
// connection, and the error matches ErrDenied; other addresses are reached as usual.
func TestDeny(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	port := srv.URL[strings.LastIndexByte(srv.URL, ':')+1:]
	for _, tt := range []struct {
		name, url string
		deny      []netip.Prefix
		denied    bool
	}{
		{"literal address denied", srv.URL, []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, true},
		{"name resolving into a denied range", "http://localhost:" + port, []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}, true},
		{"other ranges denied only", srv.URL, []netip.Prefix{netip.MustParsePrefix("169.254.0.0/16"), netip.MustParsePrefix("fe80::/10")}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := New(Config{Deny: tt.deny})
			defer c.Close()
			before := hits.Load()
			code, err := c.Post(context.Background(), tt.url+"/cb", []byte(`{}`))
			if tt.denied {
				require.ErrorIs(t, err, ErrDenied)
				require.Equal(t, before, hits.Load(), "a denied callback was reached")
				return
			}
			require.NoError(t, err)
			require.Equal(t, http.StatusNoContent, code)
		})
	}
}

// TestDialer: the dialer guards any http.Transport with the deny list, after name resolution.
func TestDialer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	port := srv.URL[strings.LastIndexByte(srv.URL, ':')+1:]
	for _, tt := range []struct {
		name   string
		deny   []netip.Prefix
		denied bool
	}{
		{"loopback denied", []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}, true},
		{"no deny list", nil, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			hc := &http.Client{Transport: &http.Transport{DialContext: Dialer(tt.deny).DialContext}}
			resp, err := hc.Get("http://localhost:" + port + "/pkg.zip")
			if tt.denied {
				require.ErrorIs(t, err, ErrDenied)
				return
			}
			require.NoError(t, err)
			resp.Body.Close()
			require.Equal(t, http.StatusOK, resp.StatusCode)
		})
	}
}

// TestDenied: what a connection to the address reaches is checked, whatever its spelling.
func TestDenied(t *testing.T) {
	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	linkLocal := []netip.Prefix{netip.MustParsePrefix("169.254.0.0/16"), netip.MustParsePrefix("fe80::/10")}
	for _, tt := range []struct {
		name   string
		deny   []netip.Prefix
		addr   string
		denied bool
	}{
		{"ipv4 in range", linkLocal, "169.254.169.254", true},
		{"ipv4 outside", linkLocal, "10.0.0.1", false},
		{"ipv6 with zone", linkLocal, "fe80::1%eth0", true},
		{"ipv4-mapped", linkLocal, "::ffff:169.254.169.254", true},
		{"ipv4-compatible", linkLocal, "::169.254.169.254", true},
		{"nat64 well-known prefix", linkLocal, "64:ff9b::169.254.169.254", true},
		{"nat64 of an allowed address", linkLocal, "64:ff9b::10.0.0.1", false},
		{"unspecified ipv4 is loopback", loopback, "0.0.0.0", true},
		{"unspecified ipv6 is loopback", loopback, "::", true},
		{"unspecified ipv4-mapped is loopback", loopback, "::ffff:0.0.0.0", true},
		{"unspecified with only ipv4 loopback denied", loopback[:1], "::", true},
		{"unspecified with only ipv6 loopback denied", loopback[1:], "0.0.0.0", true},
		{"unspecified when loopback is allowed", linkLocal, "0.0.0.0", false},
		{"ipv6 loopback is not ipv4-compatible", []netip.Prefix{netip.MustParsePrefix("0.0.0.0/8")}, "::1", false},
		{"empty deny list", nil, "0.0.0.0", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.denied, Denied(tt.deny, netip.MustParseAddr(tt.addr)))
		})
	}
}

// TestDenyUnspecified: with loopback denied, no spelling of the unspecified or loopback
// address connects to a listener on 127.0.0.1 or ::1; with only link-local denied the same
// URLs do connect, which shows they reach the listeners.
func TestDenyUnspecified(t *testing.T) {
	var hits atomic.Int32
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusNoContent)
	})
	srv4 := httptest.NewServer(h)
	defer srv4.Close()
	ln6, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no ipv6 loopback: %v", err)
		}
		t.Skipf("no ipv6 loopback: %v", err)
	}
	srv6 := &httptest.Server{Listener: ln6, Config: &http.Server{Handler: h}}
	srv6.Start()
	defer srv6.Close()
	port4 := srv4.URL[strings.LastIndexByte(srv4.URL, ':')+1:]
	port6 := srv6.URL[strings.LastIndexByte(srv6.URL, ':')+1:]

	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	linkLocal := []netip.Prefix{netip.MustParsePrefix("169.254.0.0/16"), netip.MustParsePrefix("fe80::/10")}
	for _, u := range []string{
		"http://0.0.0.0:" + port4,
		"http://[::ffff:0.0.0.0]:" + port4,
		"http://[::ffff:127.0.0.1]:" + port4,
		"http://[::]:" + port6,
		"http://[::1]:" + port6,
	} {
		for _, tt := range []struct {
			name   string
			deny   []netip.Prefix
			denied bool
		}{
			{"loopback denied", loopback, true},
			{"link-local denied", linkLocal, false},
		} {
			t.Run(u+"/"+tt.name, func(t *testing.T) {
				c := New(Config{Deny: tt.deny})
				defer c.Close()
				before := hits.Load()
				code, err := c.Post(t.Context(), u+"/cb", []byte(`{}`))
				if tt.denied {
					require.ErrorIs(t, err, ErrDenied)
					require.Equal(t, before, hits.Load(), "a denied callback was reached")
					return
				}
				require.NoError(t, err)
				require.Equal(t, http.StatusNoContent, code)
				require.Equal(t, before+1, hits.Load())
			})
		}
	}
}

// TestRequestLineEncoded: bytes a request line cannot carry are percent-encoded, so the
// request line on the wire is one well-formed line.
func TestRequestLineEncoded(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	lines := make(chan string, 1)
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			br := bufio.NewReader(nc)
			line, _ := br.ReadString('\n')
			lines <- line
			for { // the rest of the header, then the 2-byte body
				l, err := br.ReadString('\n')
				if err != nil || l == "\r\n" {
					break
				}
			}
			_, _ = br.Discard(2)
			_, _ = io.WriteString(nc, "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
			nc.Close()
		}
	}()
	base := "http://" + ln.Addr().String()
	for _, tt := range []struct{ name, url, line string }{
		{"space in query", base + "/cb?a=1 2", "POST /cb?a=1%202 HTTP/1.1\r\n"},
		{"space in path", base + "/c b", "POST /c%20b HTTP/1.1\r\n"},
		{"quotes and brackets in query", base + `/cb?q="<{|}>"`, "POST /cb?q=%22%3C%7B%7C%7D%3E%22 HTTP/1.1\r\n"},
		{"non-ascii in query", base + "/cb?n=é", "POST /cb?n=%C3%A9 HTTP/1.1\r\n"},
		{"escapes kept", base + "/cb?x=%20y&z=a+b", "POST /cb?x=%20y&z=a+b HTTP/1.1\r\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, err := New(Config{}).Post(t.Context(), tt.url, []byte(`{}`))
			require.NoError(t, err)
			require.Equal(t, http.StatusNoContent, code)
			require.Equal(t, tt.line, <-lines)
		})
	}
}

// TestCheckURL: the check of a callback URL before it is stored.
func TestCheckURL(t *testing.T) {
	deny := []netip.Prefix{netip.MustParsePrefix("169.254.0.0/16"), netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	for _, tt := range []struct {
		name, url string
		want      error
	}{
		{"plain", "http://app.example:8080/cb?a=1&b=%20", nil},
		{"https with ipv6 literal", "https://[2001:db8::1]/cb", nil},
		{"fragment", "http://app.example/cb#x", nil},
		{"space in path", "http://app.example/c b", ErrBadURL},
		{"space in query", "http://app.example/cb?a b", ErrBadURL},
		{"tab in query", "http://app.example/cb?a\tb", ErrBadURL},
		{"crlf in query", "http://app.example/cb?a\r\nX-Injected: 1", ErrBadURL},
		{"non-ascii", "http://app.example/cb?n=é", ErrBadURL},
		{"angle brackets", "http://app.example/cb?<x>", ErrBadURL},
		{"other scheme", "ftp://app.example/cb", ErrBadURL},
		{"no host", "http:///cb", ErrBadURL},
		{"denied literal", "http://169.254.169.254/latest", ErrDenied},
		{"denied ipv4-mapped literal", "http://[::ffff:169.254.169.254]/latest", ErrDenied},
		{"unspecified ipv4", "http://0.0.0.0:8080/cb", ErrDenied},
		{"unspecified ipv6", "http://[::]:8080/cb", ErrDenied},
		{"unspecified ipv4-mapped", "http://[::ffff:0.0.0.0]:8080/cb", ErrDenied},
		{"denied literal with zone", "http://[::1%25lo]:8080/cb", ErrDenied},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckURL(tt.url, deny)
			if tt.want == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tt.want)
		})
	}
}
