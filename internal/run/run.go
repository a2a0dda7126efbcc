// Package run owns process lifetime: signal handling, running components side by side and
// stopping them in a documented order with a bounded grace period.
package run

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/edgemec/edgemec/internal/obs/logkeys"
)

// SignalContext returns a context cancelled on SIGINT or SIGTERM.
func SignalContext(parent context.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(parent, syscall.SIGINT, syscall.SIGTERM)
}

// Group runs functions until the first returns or ctx ends, then cancels the rest and waits.
// It returns the first non-nil error that is not context.Canceled.
func Group(ctx context.Context, fns ...func(context.Context) error) error {
	g, gctx := errgroup.WithContext(ctx)
	for _, fn := range fns {
		g.Go(func() error {
			err := fn(gctx)
			if errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		})
	}
	return g.Wait()
}

// HTTPServer serves h on a listener until ctx ends, then drains in-flight requests for at
// most Grace before closing. TLS is on when CertFile and KeyFile are both set.
type HTTPServer struct {
	Name     string
	Handler  http.Handler
	Listener net.Listener
	CertFile string
	KeyFile  string
	// Grace bounds the drain on shutdown (default 10 s).
	Grace  time.Duration
	Logger *slog.Logger
	// MaxHeaderBytes caps request headers (default 64 KiB).
	MaxHeaderBytes int
	// NotifyManager makes Serve tell the service manager (Notify) READY=1 once the server
	// accepts requests and STOPPING=1 when it begins to drain. Set it on the one server whose
	// answers mean the process is ready, started when everything else is set up.
	NotifyManager bool
}

// Serve blocks until ctx ends and the server has drained, or the server fails.
func (s *HTTPServer) Serve(ctx context.Context) error {
	grace := s.Grace
	if grace == 0 {
		grace = 10 * time.Second
	}
	mhb := s.MaxHeaderBytes
	if mhb == 0 {
		mhb = 64 << 10
	}
	srv := &http.Server{
		Handler:           s.Handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    mhb,
		ErrorLog:          slog.NewLogLogger(s.Logger.Handler(), slog.LevelWarn),
	}
	if s.CertFile != "" {
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	errc := make(chan error, 1)
	go func() {
		var err error
		if s.CertFile != "" {
			err = srv.ServeTLS(s.Listener, s.CertFile, s.KeyFile)
		} else {
			err = srv.Serve(s.Listener)
		}
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		errc <- err
	}()
	s.Logger.InfoContext(ctx, "http server listening", "name", s.Name, "addr", s.Listener.Addr().String(), "tls", s.CertFile != "")
	// The listener is bound and Serve runs: a request made from now on is answered.
	s.notify(ctx, NotifyReady)
	select {
	case err := <-errc:
		if err != nil {
			return fmt.Errorf("%s server: %w", s.Name, err)
		}
		return nil
	case <-ctx.Done():
	}
	s.notify(ctx, NotifyStopping)
	// Shutdown gets a context that keeps ctx's values but not its cancellation: the Run
	// context is already done.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("%s server shutdown: %w", s.Name, err)
	}
	<-errc
	s.Logger.Info("http server stopped", "name", s.Name)
	return nil
}

// notify sends state to the service manager when NotifyManager is set. A failure is logged,
// not returned: the service itself works, only the manager's view of it lags.
func (s *HTTPServer) notify(ctx context.Context, state string) {
	if !s.NotifyManager {
		return
	}
	if told, err := Notify(state); err != nil {
		s.Logger.WarnContext(ctx, "notify service manager", logkeys.Error, err)
	} else if told {
		s.Logger.DebugContext(ctx, "service manager notified", logkeys.State, state)
	}
}
