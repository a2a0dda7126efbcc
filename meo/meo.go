// Package meo is the MEC orchestrator: the Mm1 API of ETSI GS MEC 010-2 through which an
// operator onboards application packages (and, later, manages app instances across sites).
//
// All state lives in PostgreSQL, package content included, so several MEO processes on one
// database serve the same packages; none keeps state on its local disk.
package meo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"

	"github.com/edgemec/edgemec/internal/obs"
	"github.com/edgemec/edgemec/internal/obs/logkeys"
	"github.com/edgemec/edgemec/internal/outbox"
	"github.com/edgemec/edgemec/internal/run"
	"github.com/edgemec/edgemec/meo/internal/apppkg"
	"github.com/edgemec/edgemec/meo/internal/httpapi"
	"github.com/edgemec/edgemec/meo/internal/notify"
	"github.com/edgemec/edgemec/meo/internal/pkgm"
	"github.com/edgemec/edgemec/meo/internal/selector"
	"github.com/edgemec/edgemec/meo/internal/store/pgstore"
)

// Config configures a MEO. Zero values take the documented defaults.
type Config struct {
	// HTTPAddr is the listen address of Mm1 (default 127.0.0.1:8090).
	HTTPAddr string
	// DatabaseURL is the PostgreSQL connection URL (required).
	DatabaseURL string
	// OperatorToken is the bearer token that opens every Mm1 route (required, 8+ characters).
	OperatorToken string
	// ViewerTokens are bearer tokens that may only read (GET).
	ViewerTokens []string
	// APIRoot is the externally visible scheme://host:port (default from HTTPAddr and TLS).
	APIRoot string
	// TLSCertFile and TLSKeyFile turn on TLS for HTTP.
	TLSCertFile, TLSKeyFile string
	// CallbackDeny lists the addresses that notification callbacks and appPkgPath fetches may
	// not reach (checked after name resolution).
	CallbackDeny []netip.Prefix
	// MaxPackageBytes bounds a package's content (default 1 GiB).
	MaxPackageBytes int64
	// FetchTimeout bounds an appPkgPath fetch (default 10 min).
	FetchTimeout time.Duration
	// MaxConns bounds the database connections (default 8).
	MaxConns int32
}

// Validate reports every problem with the configuration at once.
func (c *Config) Validate() error {
	var errs []error
	if c.DatabaseURL == "" {
		errs = append(errs, errors.New("database url is required"))
	}
	if c.OperatorToken == "" {
		errs = append(errs, errors.New("operator token is required"))
	} else if len(c.OperatorToken) < 8 {
		errs = append(errs, errors.New("operator token must be at least 8 characters"))
	}
	for i, v := range c.ViewerTokens {
		if len(v) < 8 {
			errs = append(errs, fmt.Errorf("viewer token %d must be at least 8 characters", i+1))
		}
		if v == c.OperatorToken {
			errs = append(errs, fmt.Errorf("viewer token %d equals the operator token", i+1))
		}
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		errs = append(errs, errors.New("TLS needs both a certificate and a key file"))
	}
	if c.HTTPAddr != "" {
		if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
			errs = append(errs, fmt.Errorf("http addr %q: %w", c.HTTPAddr, err))
		}
	}
	if c.MaxPackageBytes < 0 {
		errs = append(errs, fmt.Errorf("max package bytes %d: want a positive size", c.MaxPackageBytes))
	}
	if c.FetchTimeout < 0 {
		errs = append(errs, fmt.Errorf("fetch timeout %v: want a positive duration", c.FetchTimeout))
	}
	return errors.Join(errs...)
}

// MEO is a running orchestrator.
type MEO struct {
	cfg     Config
	log     *slog.Logger
	tel     *obs.Telemetry
	st      *pgstore.Store
	pk      *pkgm.Service
	ns      *notify.Store
	ob      *outbox.Outbox[int64]
	ln      net.Listener
	handler http.Handler
	ready   atomic.Bool
}

// New opens the database (migrating its schema) and binds the listener; Run serves.
func New(ctx context.Context, cfg Config, tel *obs.Telemetry) (*MEO, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.HTTPAddr == "" {
		cfg.HTTPAddr = "127.0.0.1:8090"
	}
	if cfg.MaxConns == 0 {
		cfg.MaxConns = 8
	}
	m := &MEO{cfg: cfg, log: tel.Logger, tel: tel}
	ok := false
	defer func() {
		if !ok {
			m.close(ctx)
		}
	}()
	var err error
	m.ln, err = net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", cfg.HTTPAddr, err)
	}
	if m.cfg.APIRoot == "" {
		scheme := "http"
		if cfg.TLSCertFile != "" {
			scheme = "https"
		}
		m.cfg.APIRoot = scheme + "://" + m.ln.Addr().String()
	}
	// Notifications are queued in the transaction of the change and handed to the delivery
	// engine once it commits.
	m.st, err = pgstore.Open(ctx, cfg.DatabaseURL, pgstore.Config{Router: pkgm.Router(m.cfg.APIRoot), MaxConns: cfg.MaxConns,
		OnQueued: func(rows []pgstore.OutboxRow) { m.ob.Enqueue(m.ns.Deliveries(rows)...) }})
	if err != nil {
		return nil, err
	}
	m.ns = notify.New(m.st)
	m.ob = outbox.New(outbox.Config{Deny: cfg.CallbackDeny, Namespace: "meo", ReloadEvery: 20 * time.Second,
		UserAgent: "edgemec-meo"}, m.ns, tel.Registry, m.log)
	fetcher := pkgm.NewFetcher(pkgm.FetcherConfig{Deny: cfg.CallbackDeny, Timeout: cfg.FetchTimeout})
	m.pk = pkgm.New(pkgm.Config{APIRoot: m.cfg.APIRoot, Reader: PackageReader(apppkg.DefaultLimits()), Fetcher: fetcher,
		MaxPackageBytes: cfg.MaxPackageBytes, Deny: fetcher.DenyHost, Unsubscribed: m.ns.Forget}, m.st, m.log)
	key, err := m.st.Secret(ctx, "page_marker_key", 32)
	if err != nil {
		return nil, err
	}
	markers, err := selector.NewMarkerCodec(key)
	if err != nil {
		return nil, err
	}
	h, err := httpapi.New(ctx, httpapi.Config{
		Markers:  markers,
		Packages: m.pk, Logger: m.log, Metrics: obs.NewHTTPMetrics(tel.Registry, "meo"),
		MetricsHandler: tel.MetricsHandler(), Ready: m.ready.Load, APIRoot: m.cfg.APIRoot,
		OperatorToken: cfg.OperatorToken, ViewerTokens: cfg.ViewerTokens,
	})
	if err != nil {
		return nil, err
	}
	m.handler = h
	if tel.Tracing() {
		m.handler = otelhttp.NewHandler(h, "meo", otelhttp.WithTracerProvider(tel.Tracer),
			otelhttp.WithFilter(func(r *http.Request) bool { return r.URL.Path != "/metrics" && r.URL.Path != "/readyz" }))
	}
	ok = true
	return m, nil
}

// Addr is the bound HTTP address.
func (m *MEO) Addr() net.Addr { return m.ln.Addr() }

// APIRoot is the externally visible apiRoot.
func (m *MEO) APIRoot() string { return m.cfg.APIRoot }

// Run serves until ctx ends. Shutdown order:
//  1. stop accepting HTTP and drain in-flight requests (grace 10 s), uploads included;
//  2. stop the notification engine: in-flight deliveries finish and are settled, the
//     undelivered stay in the outbox;
//  3. stop the housekeeping loop;
//  4. stop background appPkgPath fetches (a fetch cut short leaves its package in ERROR);
//  5. release this process's outbox claims, so the next process delivers at once;
//  6. close the database pool.
//
// Steps 1–3 run concurrently once ctx ends; steps 4–6 follow in order.
func (m *MEO) Run(ctx context.Context) error {
	// The stop steps after the group get a context that outlives ctx.
	defer m.close(context.WithoutCancel(ctx))
	m.ready.Store(true)
	err := run.Group(ctx,
		(&run.HTTPServer{Name: "meo", Handler: m.handler, Listener: m.ln, CertFile: m.cfg.TLSCertFile,
			KeyFile: m.cfg.TLSKeyFile, Logger: m.log}).Serve,
		m.ob.Run,
		m.housekeeping,
	)
	m.ready.Store(false)
	return err
}

// housekeeping fails onboardings a dead process left behind.
func (m *MEO) housekeeping(ctx context.Context) error {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		if err := m.pk.Recover(ctx); err != nil && ctx.Err() == nil {
			m.log.WarnContext(ctx, "recover stale onboardings", logkeys.Error, err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (m *MEO) close(ctx context.Context) {
	if m.ln != nil {
		m.ln.Close()
	}
	if m.pk != nil {
		m.pk.Close()
	}
	if m.st != nil {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		if err := m.st.ReleaseOutbox(ctx); err != nil {
			m.log.WarnContext(ctx, "release outbox claims", logkeys.Error, err)
		}
		cancel()
		_ = m.st.Close()
	}
}

// Registry exposes the metrics registry (for tests).
func (m *MEO) Registry() prometheus.Gatherer { return m.tel.Registry }
