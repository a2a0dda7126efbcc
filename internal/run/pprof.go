package run

import (
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
)

// PprofHandler serves Go's runtime profiles (/debug/pprof/: heap, goroutine, profile, …) for
// a listener of its own that an operator opens on demand (--pprof-addr), never on the API
// listener: the profiles show the process's internals and cost CPU while taken.
func PprofHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// PprofListener binds addr for PprofHandler. It refuses an address that is not on a
// loopback interface: the profiles are for someone on the machine.
func PprofListener(addr string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("pprof address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("pprof address %q: want a loopback address (127.0.0.1:PORT, [::1]:PORT or localhost:PORT)", addr)
	}
	return net.Listen("tcp", addr)
}
