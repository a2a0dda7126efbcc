package benchfig

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"syscall"
	"time"
)

// Server is a platform binary (meo, mep) run by a bench program on a loopback port of its
// own.
type Server struct {
	// Cmd is the running process.
	Cmd *exec.Cmd
	// Addr is its --http-addr (127.0.0.1:PORT) and Root the base URL on it.
	Addr, Root string
	done       chan struct{}
}

// StartServer runs bin with --http-addr on a free loopback port followed by args, its output
// to out, and waits until GET /readyz answers 200: at most d, and no longer than the process
// lives.
func StartServer(ctx context.Context, bin string, args []string, out io.Writer, d time.Duration) (*Server, error) {
	addr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	s := &Server{Addr: addr, Root: "http://" + addr, done: make(chan struct{})}
	s.Cmd = exec.CommandContext(ctx, bin, append([]string{"--http-addr", addr}, args...)...)
	s.Cmd.Stdout, s.Cmd.Stderr = out, out
	if err := s.Cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() { _ = s.Cmd.Wait(); close(s.done) }()
	deadline := time.Now().Add(d)
	for {
		if resp, err := http.Get(s.Root + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		select {
		case <-s.done:
			return nil, fmt.Errorf("%s exited at start: %s", bin, s.Cmd.ProcessState)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.Kill()
			return nil, fmt.Errorf("%s not ready after %v", bin, d)
		}
	}
}

// Stop asks the process to stop (SIGTERM) and waits up to 10 s before killing it.
func (s *Server) Stop() {
	_ = s.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		s.Kill()
	}
}

// Kill kills the process and waits for it.
func (s *Server) Kill() {
	_ = s.Cmd.Process.Kill()
	<-s.done
}

// Done is closed once the process has exited.
func (s *Server) Done() <-chan struct{} { return s.done }

// Pid is the process id.
func (s *Server) Pid() int { return s.Cmd.Process.Pid }

// FreeAddr returns a loopback TCP address free now.
func FreeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// FreeUDPTCPAddr returns a loopback address whose port is free for both UDP and TCP now, as
// a DNS server needs.
func FreeUDPTCPAddr() (string, error) {
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", err
		}
		addr := l.Addr().String()
		pc, err := net.ListenPacket("udp", addr)
		l.Close()
		if err == nil {
			pc.Close()
			return addr, nil
		}
	}
	return "", errors.New("no loopback port free for both UDP and TCP")
}

// MS is d in milliseconds, as the figures print it.
func MS(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
