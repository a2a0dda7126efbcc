// Package mep is the MEC platform of one edge site: the Mp1 API of ETSI GS MEC 011 for the
// apps on the site, the Mm5 management API for the orchestrator, the site DNS server that
// answers the apps' DNS rules, and the traffic-rule feed of the user-plane gateway.
//
// A site runs with no database server (embedded SQLite by default; PostgreSQL optional) and
// keeps serving when the orchestrator is away: all state it needs is its own.
package mep

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"

	"github.com/edgemec/edgemec/internal/obs"
	"github.com/edgemec/edgemec/internal/outbox"
	"github.com/edgemec/edgemec/internal/run"
	"github.com/edgemec/edgemec/mep/internal/auth"
	"github.com/edgemec/edgemec/mep/internal/dnsserver"
	"github.com/edgemec/edgemec/mep/internal/httpapi"
	"github.com/edgemec/edgemec/mep/internal/platform"
	"github.com/edgemec/edgemec/mep/internal/store"
	"github.com/edgemec/edgemec/mep/internal/store/sqlstore"
	"github.com/edgemec/edgemec/mep/mm5api"
)

// Config configures a MEP. Zero values take the documented defaults.
type Config struct {
	// HTTPAddr is the listen address of Mp1 and Mm5 (default 127.0.0.1:8080).
	HTTPAddr string
	// DNSAddr is the listen address of the site DNS server, UDP and TCP (default 127.0.0.1:5353;
	// "off" disables it).
	DNSAddr string
	// DataDir holds the embedded database (required unless PostgresDSN is set).
	DataDir string
	// PostgresDSN selects PostgreSQL instead of the embedded store.
	PostgresDSN string
	// OperatorToken is the bearer token of the operator and the orchestrator (required).
	OperatorToken string
	// APIRoot is the externally visible scheme://host:port (default from HTTPAddr and TLS).
	APIRoot string
	// TLSCertFile and TLSKeyFile turn on TLS for HTTP.
	TLSCertFile, TLSKeyFile string
	// GracefulTimeout is the default app termination timeout (default 10 s).
	GracefulTimeout time.Duration
	// TokenTTL is the lifetime of app tokens (default 1 h).
	TokenTTL time.Duration
	// DNSUpstreams are the resolvers non-local names are forwarded to.
	DNSUpstreams []string
	// DNSAllowedClients may recurse through the site DNS (default loopback only).
	DNSAllowedClients []netip.Prefix
	// CallbackDeny lists the addresses notification callbacks may not reach: a subscription
	// naming one literally is refused, and the notifier never connects to one (names are
	// checked after resolution).
	CallbackDeny []netip.Prefix
	// DNSDefaultTTL is the TTL of answers from rules without a ttl (default 60).
	DNSDefaultTTL uint32
	// SiteName names the site in logs and traces.
	SiteName string
}

// Validate reports every problem with the configuration at once.
func (c *Config) Validate() error {
	var errs []error
	if c.OperatorToken == "" {
		errs = append(errs, errors.New("operator token is required"))
	} else if len(c.OperatorToken) < 8 {
		errs = append(errs, errors.New("operator token must be at least 8 characters"))
	}
	if c.DataDir == "" && c.PostgresDSN == "" {
		errs = append(errs, errors.New("data dir is required (or a PostgreSQL DSN)"))
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		errs = append(errs, errors.New("TLS needs both a certificate and a key file"))
	}
	if c.HTTPAddr != "" {
		if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
			errs = append(errs, fmt.Errorf("http addr %q: %w", c.HTTPAddr, err))
		}
	}
	if c.DNSAddr != "" && c.DNSAddr != "off" {
		if _, _, err := net.SplitHostPort(c.DNSAddr); err != nil {
			errs = append(errs, fmt.Errorf("dns addr %q: %w", c.DNSAddr, err))
		}
	}
	if c.GracefulTimeout < 0 || c.GracefulTimeout > time.Hour {
		errs = append(errs, fmt.Errorf("graceful timeout %v: want 0 to 1h", c.GracefulTimeout))
	}
	return errors.Join(errs...)
}

// MEP is a running site platform.
type MEP struct {
	cfg      Config
	log      *slog.Logger
	tel      *obs.Telemetry
	st       store.Store
	site     *platform.MEP
	notifier *platform.Notifier
	dns      *dnsserver.Server
	ln       net.Listener
	handler  http.Handler
	ready    atomic.Bool
}

// New opens the store, loads the site state and binds the listeners; Run serves.
func New(ctx context.Context, cfg Config, tel *obs.Telemetry) (*MEP, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.HTTPAddr == "" {
		cfg.HTTPAddr = "127.0.0.1:8080"
	}
	if cfg.DNSAddr == "" {
		cfg.DNSAddr = "127.0.0.1:5353"
	}
	log := tel.Logger
	m := &MEP{cfg: cfg, log: log, tel: tel}
	ok := false
	defer func() {
		if !ok {
			m.close()
		}
	}()
	var err error
	if cfg.PostgresDSN != "" {
		m.st, err = sqlstore.OpenPostgres(ctx, cfg.PostgresDSN)
	} else {
		m.st, err = sqlstore.OpenSQLite(ctx, filepath.Join(cfg.DataDir, "mep.db"))
	}
	if err != nil {
		return nil, err
	}
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
	key, err := siteKey(ctx, m.st)
	if err != nil {
		return nil, err
	}
	authority, err := auth.New(key, cfg.OperatorToken, "mep", cfg.TokenTTL)
	if err != nil {
		return nil, err
	}
	m.site, err = platform.New(ctx, platform.Config{APIRoot: m.cfg.APIRoot, GracefulTimeout: cfg.GracefulTimeout, CallbackDeny: cfg.CallbackDeny}, m.st, log)
	if err != nil {
		return nil, err
	}
	m.notifier = platform.NewNotifier(outbox.Config{Deny: cfg.CallbackDeny}, m.site, tel.Registry, log)
	var conflicts func() []mm5api.DnsConflict
	if cfg.DNSAddr != "off" {
		m.dns, err = dnsserver.New(dnsserver.Config{Addr: cfg.DNSAddr, Upstreams: cfg.DNSUpstreams,
			AllowedClients: cfg.DNSAllowedClients, DefaultTTL: cfg.DNSDefaultTTL}, log.With("subsystem", "dns"), tel.Registry)
		if err != nil {
			return nil, fmt.Errorf("dns server: %w", err)
		}
		// The DNS server answers from the store's rules before it serves its first query, and
		// every rule change reaches it before the API call that made it returns.
		m.site.OnDNSChange(func(rs []platform.ActiveDNSRule) { m.dns.SetRules(dnsRules(rs)) })
		conflicts = func() []mm5api.DnsConflict { return dnsConflicts(m.dns.Conflicts()) }
	}
	h, err := httpapi.New(httpapi.Config{ //nolint:contextcheck // building the handler and its validator does no I/O
		Site: m.site, Authority: authority, Logger: log, Metrics: obs.NewHTTPMetrics(tel.Registry, "mep"),
		MetricsHandler: tel.MetricsHandler(), Conflicts: conflicts, Ready: m.ready.Load, APIRoot: m.cfg.APIRoot,
	})
	if err != nil {
		return nil, err
	}
	m.handler = h
	if tel.Tracing() {
		m.handler = otelhttp.NewHandler(h, "mep", otelhttp.WithTracerProvider(tel.Tracer),
			otelhttp.WithFilter(func(r *http.Request) bool { return r.URL.Path != "/metrics" && r.URL.Path != "/readyz" }))
	}
	ok = true
	return m, nil
}

// siteKey returns the site's secret key, creating it on first start. It signs app tokens and
// derives app client secrets; it lives in the store so that a restart keeps credentials valid.
func siteKey(ctx context.Context, st store.Store) (string, error) {
	k, err := st.Meta(ctx, "site_key")
	if err == nil {
		return k, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return "", err
	}
	k = auth.NewSiteKey()
	if err := st.Apply(ctx, &store.Batch{Meta: map[string]string{"site_key": k}}); err != nil {
		return "", fmt.Errorf("store site key: %w", err)
	}
	return k, nil
}

func dnsRules(rs []platform.ActiveDNSRule) []dnsserver.Rule {
	out := make([]dnsserver.Rule, len(rs))
	for i, r := range rs {
		out[i] = dnsserver.Rule{AppInstanceID: r.AppInstanceID, RuleID: r.RuleID, Domain: r.Domain, Addr: r.Addr, TTL: r.TTL,
			Created: r.Created, ClientSubnets: r.ClientSubnets}
	}
	return out
}

func dnsConflicts(cs []dnsserver.Conflict) []mm5api.DnsConflict {
	out := make([]mm5api.DnsConflict, 0, len(cs))
	for _, c := range cs {
		dc := mm5api.DnsConflict{DomainName: c.Domain, Winner: ref(c.Winner), Losers: []mm5api.DnsRuleRef{}}
		for _, l := range c.Losers {
			dc.Losers = append(dc.Losers, ref(l))
		}
		out = append(out, dc)
	}
	return out
}

func ref(c dnsserver.Claim) mm5api.DnsRuleRef {
	id := ""
	if len(c.RuleIDs) > 0 {
		id = c.RuleIDs[0]
	}
	return mm5api.DnsRuleRef{AppInstanceId: c.AppInstanceID, DnsRuleId: id}
}

// Addr is the bound HTTP address.
func (m *MEP) Addr() net.Addr { return m.ln.Addr() }

// APIRoot is the externally visible apiRoot.
func (m *MEP) APIRoot() string { return m.cfg.APIRoot }

// DNSAddr returns the bound DNS addresses (nil when DNS is off or not yet running).
func (m *MEP) DNSAddr() (udp, tcp net.Addr) {
	if m.dns == nil {
		return nil, nil
	}
	return m.dns.Addr()
}

// Run serves until ctx ends. Shutdown order:
//  1. stop accepting HTTP and drain in-flight requests (grace 10 s);
//  2. stop the DNS server (in-flight queries answered);
//  3. stop the notifier (in-flight deliveries finish; undelivered ones stay in the outbox);
//  4. close the store.
//
// Steps 1–3 run concurrently once ctx ends; the store closes after all of them returned.
func (m *MEP) Run(ctx context.Context) error {
	defer m.close()
	m.ready.Store(true)
	fns := []func(context.Context) error{
		(&run.HTTPServer{Name: "mep", Handler: m.handler, Listener: m.ln, CertFile: m.cfg.TLSCertFile,
			KeyFile: m.cfg.TLSKeyFile, Logger: m.log}).Serve,
		m.notifier.Run,
		m.housekeeping,
	}
	if m.dns != nil {
		fns = append(fns, m.dns.Run)
	}
	err := run.Group(ctx, fns...)
	m.ready.Store(false)
	return err
}

// housekeeping finishes timed-out terminations and deactivates silent services.
func (m *MEP) housekeeping(ctx context.Context) error {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		m.site.ReapTerminations(ctx)
		m.site.CheckLiveness(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (m *MEP) close() {
	if m.ln != nil {
		m.ln.Close()
	}
	if m.st != nil {
		if err := m.st.Close(); err != nil {
			m.log.Error("close store", "error", err)
		}
	}
}

// Registry exposes the metrics registry (for tests).
func (m *MEP) Registry() prometheus.Gatherer { return m.tel.Registry }
