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
	"net/url"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"

	"github.com/edgemec/edgemec/internal/obs"
	"github.com/edgemec/edgemec/internal/obs/logkeys"
	"github.com/edgemec/edgemec/internal/outbox"
	"github.com/edgemec/edgemec/internal/run"
	"github.com/edgemec/edgemec/meo/internal/af"
	"github.com/edgemec/edgemec/meo/internal/apppkg"
	"github.com/edgemec/edgemec/meo/internal/httpapi"
	"github.com/edgemec/edgemec/meo/internal/inventory"
	"github.com/edgemec/edgemec/meo/internal/lcm"
	"github.com/edgemec/edgemec/meo/internal/notify"
	"github.com/edgemec/edgemec/meo/internal/orchestrate"
	"github.com/edgemec/edgemec/meo/internal/pkgm"
	"github.com/edgemec/edgemec/meo/internal/reconcile"
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
	// SecretKeyFile holds the 32-byte key (hex or base64) that encrypts the sites' secrets
	// (MEP tokens, kubeconfigs). Without it no site can be registered.
	SecretKeyFile string
	// SiteRefreshInterval is how often each site's MEP and VIM are probed (default 30 s).
	SiteRefreshInterval time.Duration
	// Lease is how long this process's claim on an op occurrence or a site holds unless
	// renewed; another MEO takes over the work of a dead one within about this time
	// (default 15 s).
	Lease time.Duration
	// Drift is what the MEO does about an instance deleted from its site behind its back:
	// REPORT (default) shows it on the instance, RECREATE also deploys it again.
	Drift string
	// AFNotifyURL is the base URL at which the sites' NEFs reach the MEO's traffic influence
	// notification endpoint (default APIRoot + /af/v1/notifications); each subscription's
	// notificationDestination is AFNotifyURL/{appInstanceId}/{token}.
	AFNotifyURL string
	// AFNotifyToken, if set, is a bearer token the NEFs must also send with their
	// notifications (8+ characters).
	AFNotifyToken string
	// AFCheckInterval is how often an instance's traffic influence subscription is compared
	// with the app's rules and its site's DNAIs (default 30 s); AFRetryInterval the first
	// wait before a failed one is tried again, doubling up to 64 times as long or 5 min
	// (default 5 s).
	AFCheckInterval, AFRetryInterval time.Duration
	// AFSweepInterval is how often the sites' NEFs are searched for traffic influence
	// subscriptions of this MEO that no instance holds (orphans, deleted when a second
	// search still finds them; default 5 min).
	AFSweepInterval time.Duration
	// PprofAddr, if set, serves Go's runtime profiles (/debug/pprof/) on this loopback
	// address, apart from the API.
	PprofAddr string
	// Retention is how long finished work is kept before it is pruned: task journal entries
	// of instances with no operation in progress, and op occurrences of deleted instances
	// (default 7 days; see pgstore.Prune).
	Retention time.Duration
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
	if c.Retention < 0 {
		errs = append(errs, fmt.Errorf("retention %v: want a positive duration", c.Retention))
	}
	if c.Lease < 0 {
		errs = append(errs, fmt.Errorf("lease %v: want a positive duration", c.Lease))
	}
	if d := reconcile.DriftPolicy(c.Drift); d != "" && d != reconcile.DriftReport && d != reconcile.DriftRecreate {
		errs = append(errs, fmt.Errorf("drift policy %q: want REPORT or RECREATE", c.Drift))
	}
	if c.AFNotifyURL != "" {
		if u, err := url.Parse(c.AFNotifyURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("af notify url %q: want an absolute http(s) URL", c.AFNotifyURL))
		}
	}
	if c.AFNotifyToken != "" && len(c.AFNotifyToken) < 8 {
		errs = append(errs, errors.New("af notify token must be at least 8 characters"))
	}
	if c.AFCheckInterval < 0 || c.AFRetryInterval < 0 || c.AFSweepInterval < 0 {
		errs = append(errs, errors.New("af check and retry intervals: want positive durations"))
	}
	if c.SiteRefreshInterval < 0 {
		errs = append(errs, fmt.Errorf("site refresh interval %v: want a positive duration", c.SiteRefreshInterval))
	}
	if c.SecretKeyFile != "" {
		if _, err := inventory.LoadKey(c.SecretKeyFile); err != nil {
			errs = append(errs, err)
		}
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
	inv     *inventory.Service
	lc      *lcm.Service
	ex      *orchestrate.Executor
	steer   *orchestrate.Steerer
	ns      *notify.Store
	ob      *outbox.Outbox[int64]
	ln      net.Listener
	pprofLn net.Listener // nil unless Config.PprofAddr
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
	if cfg.Retention == 0 {
		cfg.Retention = 7 * 24 * time.Hour
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
	if cfg.PprofAddr != "" {
		if m.pprofLn, err = run.PprofListener(cfg.PprofAddr); err != nil {
			return nil, err
		}
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
	m.st, err = pgstore.Open(ctx, cfg.DatabaseURL, pgstore.Config{Router: pkgm.Router(m.cfg.APIRoot),
		LCMRouter: lcm.Router(m.cfg.APIRoot), MaxConns: cfg.MaxConns,
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
	m.lc = lcm.New(lcm.Config{Apps: PackageApp, Deny: fetcher.DenyHost, Unsubscribed: m.ns.Forget,
		Runnable: func() { m.ex.Kick() }}, m.st, m.log)
	key, err := m.st.Secret(ctx, "page_marker_key", 32)
	if err != nil {
		return nil, err
	}
	markers, err := selector.NewMarkerCodec(key)
	if err != nil {
		return nil, err
	}
	var box *inventory.Box
	if cfg.SecretKeyFile != "" {
		k, err := inventory.LoadKey(cfg.SecretKeyFile)
		if err != nil {
			return nil, err
		}
		if box, err = inventory.NewBox(k); err != nil {
			return nil, err
		}
	}
	m.inv, err = inventory.New(inventory.Config{Box: box, Interval: cfg.SiteRefreshInterval, Registerer: tel.Registry,
		Logger: m.log}, m.st)
	if err != nil {
		return nil, err
	}
	notifyBase := cfg.AFNotifyURL
	if notifyBase == "" {
		notifyBase = m.cfg.APIRoot + "/af/v1/notifications"
	}
	var retryMax time.Duration
	if cfg.AFRetryInterval > 0 {
		retryMax = min(64*cfg.AFRetryInterval, 5*time.Minute)
	}
	var nefTransport http.RoundTripper
	if tel.Tracing() {
		nefTransport = otelhttp.NewTransport(http.DefaultTransport.(*http.Transport).Clone(), otelhttp.WithTracerProvider(tel.Tracer))
	}
	m.steer, err = orchestrate.NewSteerer(orchestrate.SteerConfig{Store: m.st, Sites: m.inv, NotifyBase: notifyBase,
		Transport: nefTransport, Check: cfg.AFCheckInterval, RetryInitial: cfg.AFRetryInterval, RetryMax: retryMax,
		Sweep: cfg.AFSweepInterval, Logger: m.log})
	if err != nil {
		return nil, err
	}
	m.ex, err = orchestrate.New(orchestrate.Config{Ops: m.lc, Sites: m.inv, Journal: m.st.Journal(), Leases: m.st.Leases(),
		Lease: cfg.Lease, Drift: reconcile.DriftPolicy(cfg.Drift), Reconcile: reconcile.Config{Logger: m.log},
		Steering: m.steer, Drains: drains{m.inv, m.lc}}, tel.Registry, m.log)
	if err != nil {
		return nil, err
	}
	h, err := httpapi.New(ctx, httpapi.Config{
		Markers: markers, Sites: m.inv, Steering: m.steer,
		Packages: m.pk, Lifecycle: m.lc, Logger: m.log, Metrics: obs.NewHTTPMetrics(tel.Registry, "meo"),
		MetricsHandler: tel.MetricsHandler(), Ready: m.ready.Load, APIRoot: m.cfg.APIRoot,
		OperatorToken: cfg.OperatorToken, ViewerTokens: cfg.ViewerTokens,
		Notifications: af.NewNotifyHandler(m.steer, m.steer, m.log), NotifyToken: cfg.AFNotifyToken,
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
//  3. stop the housekeeping loop and the site probes, and the executor: its runs stop at
//     their current step (the journal keeps them) and its op claims and site leases are
//     released, so another MEO resumes them at once; and the traffic steering loop (its
//     claims lapse after their lease);
//  4. stop background appPkgPath fetches (a fetch cut short leaves its package in ERROR);
//  5. release this process's outbox claims, so the next process delivers at once;
//  6. close the database pool.
//
// Steps 1–3 run concurrently once ctx ends; steps 4–6 follow in order.
func (m *MEO) Run(ctx context.Context) error {
	// The stop steps after the group get a context that outlives ctx.
	defer m.close(context.WithoutCancel(ctx))
	m.ready.Store(true)
	fns := []func(context.Context) error{
		(&run.HTTPServer{Name: "meo", Handler: m.handler, Listener: m.ln, CertFile: m.cfg.TLSCertFile,
			KeyFile: m.cfg.TLSKeyFile, Logger: m.log, NotifyManager: true}).Serve,
		m.ob.Run,
		m.housekeeping,
		m.inv.Run,
		m.ex.Run,
		m.steer.Run,
	}
	if m.pprofLn != nil {
		fns = append(fns, (&run.HTTPServer{Name: "pprof", Handler: run.PprofHandler(), Listener: m.pprofLn, Logger: m.log, Grace: time.Second}).Serve)
	}
	err := run.Group(ctx, fns...)
	m.ready.Store(false)
	return err
}

// housekeeping fails onboardings a dead process left behind, and prunes finished work
// older than the retention.
func (m *MEO) housekeeping(ctx context.Context) error {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		if err := m.pk.Recover(ctx); err != nil && ctx.Err() == nil {
			m.log.WarnContext(ctx, "recover stale onboardings", logkeys.Error, err)
		}
		if res, err := m.st.Prune(ctx, m.cfg.Retention, 0); err != nil && ctx.Err() == nil {
			m.log.WarnContext(ctx, "prune finished work", logkeys.Error, err)
		} else if res.Journal+res.Ops > 0 {
			m.log.InfoContext(ctx, "finished work pruned", logkeys.Count, res.Journal+res.Ops)
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
	if m.pprofLn != nil {
		m.pprofLn.Close()
	}
	if m.pk != nil {
		m.pk.Close()
	}
	if m.inv != nil {
		m.inv.Close()
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
