// Package mep is the MEC platform of one edge site: the Mp1 API of ETSI GS MEC 011 for the
// apps on the site, the Mm5 management API for the orchestrator, the site DNS server that
// answers the apps' DNS rules, and the traffic-rule feed of the user-plane gateway.
//
// A site runs with no database server (embedded SQLite by default; PostgreSQL optional) and
// keeps serving when the orchestrator is away: all state it needs is its own.
package mep

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"

	"github.com/edgemec/edgemec/internal/obs"
	"github.com/edgemec/edgemec/internal/obs/logkeys"
	"github.com/edgemec/edgemec/internal/outbox"
	"github.com/edgemec/edgemec/internal/run"
	"github.com/edgemec/edgemec/mep/internal/auth"
	"github.com/edgemec/edgemec/mep/internal/connlimit"
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
	// OperatorToken is the bearer token of the operator and the orchestrator. It or
	// OperatorTokenFile is required.
	OperatorToken string
	// OperatorTokenFile holds operator tokens, one per line (blank lines and lines starting
	// with '#' are skipped), so that no token shows on a command line. It may hold two: both
	// are valid, which lets the token be rotated without downtime. The MEP re-reads the
	// file when it changes (checked every TokenFileInterval); a file that stops being valid
	// is ignored, with a warning, and the tokens read before stay.
	OperatorTokenFile string
	// TokenFileInterval is how often OperatorTokenFile is checked for changes (default 2 s).
	TokenFileInterval time.Duration
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
	// AppAddressRanges are the addresses of the site's apps: an app may point its DNS rules
	// at any address inside them, besides the address its grant names (none by default).
	AppAddressRanges []netip.Prefix
	// DNSDefaultTTL is the TTL of answers from rules without a ttl (default 60).
	DNSDefaultTTL uint32
	// DNSMaxTCPPerClient bounds the TCP connections of one DNS client (default 16).
	DNSMaxTCPPerClient int
	// DNSMaxUDPAnswer is the largest DNS answer sent over UDP; larger ones are truncated
	// with TC so that the client retries over TCP (default 512).
	DNSMaxUDPAnswer int
	// DNSRateLimit is the DNS answers per second sent over UDP to one client prefix, IPv4 /24
	// or IPv6 /56, loopback exempt (default 200; negative disables).
	DNSRateLimit int
	// DNSRateLimitSlip sends every n-th rate-limited answer as an empty TC answer (default 2;
	// negative never).
	DNSRateLimitSlip int
	// FeedToken and FeedTokenFile (one token per line, two while rotating; re-read when it
	// changes, like OperatorTokenFile) give read-only access to the rule feeds
	// (GET /mepm/v1/feeds/...) and nothing else: what a UPGW needs, without the operator
	// token. Optional.
	FeedToken     string
	FeedTokenFile string
	// MaxConnsPerClient bounds the HTTP connections one client (source address; an IPv6
	// client by its /64) may hold open (default 128): more are closed at once.
	MaxConnsPerClient int
	// BodyReadTimeout bounds the time a client may take to send a request body (default 10 s).
	BodyReadTimeout time.Duration
	// MaxServiceBytes bounds one service's stored representation, and one registration's
	// (default 64 KiB); MaxAppBytes all of one app's services and registration together
	// (default 1 MiB).
	MaxServiceBytes, MaxAppBytes int
	// DiscoveryScope is the discovery policy: "declared" (default; an app sees its own
	// services and those it declares in appServiceRequired/Optional) or "all".
	DiscoveryScope string
	// MEC011Version is the MEC 011 version whose representation the MEP answers in to
	// callers that declare none: the operator, and apps whose instance carries no
	// mecVersion (default "2.2.1"; "2.1.1" answers dstInterface as a single object).
	MEC011Version string
	// SiteName names the site in logs and traces.
	SiteName string
}

// Validate reports every problem with the configuration at once.
func (c *Config) Validate() error {
	var errs []error
	if _, err := c.operatorTokens(); err != nil {
		errs = append(errs, err)
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
	if ops, err := c.operatorTokens(); err == nil {
		if fts, err := c.feedTokens(); err != nil {
			errs = append(errs, err)
		} else if slices.ContainsFunc(fts, func(f string) bool { return slices.Contains(ops, f) }) {
			errs = append(errs, errors.New("a feed token must not be an operator token"))
		}
	}
	if c.MaxConnsPerClient < 0 {
		errs = append(errs, fmt.Errorf("max connections per client %d: want a positive number (0: default)", c.MaxConnsPerClient))
	}
	if c.BodyReadTimeout < 0 {
		errs = append(errs, fmt.Errorf("body read timeout %v: want a positive duration (0: default)", c.BodyReadTimeout))
	}
	if c.MaxServiceBytes < 0 || c.MaxAppBytes < 0 || c.MaxAppBytes > 0 && c.MaxServiceBytes > c.MaxAppBytes {
		errs = append(errs, fmt.Errorf("service/app byte limits %d/%d: want positive values, the service's at most the app's", c.MaxServiceBytes, c.MaxAppBytes))
	}
	if c.DiscoveryScope != "" {
		if _, err := platform.ParseDiscoveryScope(c.DiscoveryScope); err != nil {
			errs = append(errs, err)
		}
	}
	if c.MEC011Version != "" {
		if _, err := httpapi.ParseMECVersion(c.MEC011Version); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// setDefaults fills in the documented defaults, so that the configuration logged at
// start-up is the effective one.
func (c *Config) setDefaults() {
	c.HTTPAddr = cmp.Or(c.HTTPAddr, "127.0.0.1:8080")
	c.DNSAddr = cmp.Or(c.DNSAddr, "127.0.0.1:5353")
	c.GracefulTimeout = cmp.Or(c.GracefulTimeout, 10*time.Second)
	c.TokenTTL = cmp.Or(c.TokenTTL, time.Hour)
	c.MaxConnsPerClient = cmp.Or(c.MaxConnsPerClient, 128)
	c.BodyReadTimeout = cmp.Or(c.BodyReadTimeout, 10*time.Second)
	c.MaxServiceBytes = cmp.Or(c.MaxServiceBytes, 64<<10)
	c.MaxAppBytes = cmp.Or(c.MaxAppBytes, 1<<20)
	c.DiscoveryScope = cmp.Or(c.DiscoveryScope, string(platform.ScopeDeclared))
	c.MEC011Version = cmp.Or(c.MEC011Version, "2.2.1")
}

// maxFeedTokens is how many feed tokens may be valid at once (two while rotating).
const maxFeedTokens = 2

// feedTokens returns the valid feed tokens: FeedToken and those of FeedTokenFile (none is
// fine: then only the operator reads the feeds).
func (c *Config) feedTokens() ([]string, error) {
	var ts []string
	if c.FeedToken != "" {
		ts = append(ts, c.FeedToken)
	}
	if c.FeedTokenFile != "" {
		ft, err := readTokenFile("feed", c.FeedTokenFile)
		if err != nil {
			return nil, err
		}
		ts = append(ts, ft...)
	}
	if len(ts) > maxFeedTokens {
		return nil, fmt.Errorf("%d feed tokens: at most %d may be valid at once", len(ts), maxFeedTokens)
	}
	for _, t := range ts {
		if len(t) < 8 {
			return nil, errors.New("feed token must be at least 8 characters")
		}
	}
	return ts, nil
}

// maxOperatorTokens is how many operator tokens may be valid at once: two, the old and the
// new one while the token is rotated.
const maxOperatorTokens = 2

// operatorTokens returns the valid operator tokens: OperatorToken and those of
// OperatorTokenFile.
func (c *Config) operatorTokens() ([]string, error) {
	var ts []string
	if c.OperatorToken != "" {
		ts = append(ts, c.OperatorToken)
	}
	if c.OperatorTokenFile != "" {
		ft, err := readTokenFile("operator", c.OperatorTokenFile)
		if err != nil {
			return nil, err
		}
		ts = append(ts, ft...)
	}
	switch {
	case len(ts) == 0:
		return nil, errors.New("an operator token is required (--operator-token or --operator-token-file)")
	case len(ts) > maxOperatorTokens:
		return nil, fmt.Errorf("%d operator tokens: at most %d may be valid at once", len(ts), maxOperatorTokens)
	}
	for _, t := range ts {
		if len(t) < 8 {
			return nil, errors.New("operator token must be at least 8 characters")
		}
	}
	return ts, nil
}

// readTokenFile reads a token file: one token per line, blank lines and '#' comments
// skipped, surrounding white space trimmed.
func readTokenFile(kind, path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s token file: %w", kind, err)
	}
	var ts []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			ts = append(ts, l)
		}
	}
	if len(ts) == 0 {
		return nil, fmt.Errorf("%s token file %s holds no token", kind, path)
	}
	return ts, nil
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
	auth     *auth.Authority
	// lock holds the data dir's lock while the MEP lives (lockDataDir).
	lock *os.File
}

// New opens the store, loads the site state and binds the listeners; Run serves.
func New(ctx context.Context, cfg Config, tel *obs.Telemetry) (*MEP, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	log := tel.Logger
	m := &MEP{cfg: cfg, log: log, tel: tel}
	ok := false
	defer func() {
		if !ok {
			m.close()
		}
	}()
	var err error
	if cfg.DataDir != "" {
		if m.lock, err = lockDataDir(cfg.DataDir); err != nil {
			return nil, err
		}
	}
	if cfg.PostgresDSN != "" {
		m.st, err = sqlstore.OpenPostgres(ctx, cfg.PostgresDSN)
	} else {
		m.st, err = sqlstore.OpenSQLite(ctx, filepath.Join(cfg.DataDir, "mep.db"))
	}
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", cfg.HTTPAddr, err)
	}
	cl := connlimit.New(ln, cfg.MaxConnsPerClient)
	refusedConns := prometheus.NewCounter(prometheus.CounterOpts{Name: "mep_http_connections_refused_total",
		Help: "HTTP connections closed at once because their client held too many."})
	tel.Registry.MustRegister(refusedConns)
	var lastRefusal atomic.Int64
	cl.OnRefuse = func(client netip.Prefix) {
		refusedConns.Inc()
		// One line per client and second at most: a flood must not flood the log too.
		if now := time.Now().Unix(); lastRefusal.Swap(now) != now {
			log.Warn("connection refused: the client holds too many", logkeys.Addr, client.String(), "limit", cfg.MaxConnsPerClient)
		}
	}
	m.ln = cl
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
	authority, err := auth.New(key, "", "mep", cfg.TokenTTL)
	if err != nil {
		return nil, err
	}
	ops, err := cfg.operatorTokens()
	if err != nil {
		return nil, err
	}
	authority.SetOperatorTokens(ops...)
	fts, err := cfg.feedTokens()
	if err != nil {
		return nil, err
	}
	authority.SetFeedTokens(fts...)
	m.auth = authority
	scope, _ := platform.ParseDiscoveryScope(cfg.DiscoveryScope)
	m.site, err = platform.New(ctx, platform.Config{APIRoot: m.cfg.APIRoot, GracefulTimeout: cfg.GracefulTimeout, CallbackDeny: cfg.CallbackDeny,
		AppAddressRanges: cfg.AppAddressRanges, MaxServiceBytes: cfg.MaxServiceBytes, MaxAppBytes: cfg.MaxAppBytes,
		DiscoveryScope: scope}, m.st, log)
	if err != nil {
		return nil, err
	}
	m.notifier = platform.NewNotifier(outbox.Config{Deny: cfg.CallbackDeny}, m.site, tel.Registry, log)
	var conflicts func() []mm5api.DnsConflict
	if cfg.DNSAddr != "off" {
		m.dns, err = dnsserver.New(dnsserver.Config{Addr: cfg.DNSAddr, Upstreams: cfg.DNSUpstreams,
			AllowedClients: cfg.DNSAllowedClients, DefaultTTL: cfg.DNSDefaultTTL,
			MaxTCPPerClient: cfg.DNSMaxTCPPerClient, MaxUDPAnswer: cfg.DNSMaxUDPAnswer,
			RateLimit: cfg.DNSRateLimit, RateLimitSlip: cfg.DNSRateLimitSlip}, log.With("subsystem", "dns"), tel.Registry)
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
		BodyReadTimeout: cfg.BodyReadTimeout, MEC011Version: cfg.MEC011Version,
	})
	if err != nil {
		return nil, err
	}
	m.handler = h
	if tel.Tracing() {
		m.handler = otelhttp.NewHandler(h, "mep", otelhttp.WithTracerProvider(tel.Tracer),
			otelhttp.WithFilter(func(r *http.Request) bool { return r.URL.Path != "/metrics" && r.URL.Path != "/readyz" }))
	}
	registerBuildInfo(tel.Registry)
	m.logConfig(ctx, ops, fts)
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
			KeyFile: m.cfg.TLSKeyFile, Logger: m.log, NotifyManager: true}).Serve,
		m.notifier.Run,
		m.housekeeping,
	}
	if m.cfg.OperatorTokenFile != "" || m.cfg.FeedTokenFile != "" {
		fns = append(fns, m.watchTokenFiles)
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

// watchTokenFiles applies changes of the operator and feed token files: a rotation needs
// no restart.
func (m *MEP) watchTokenFiles(ctx context.Context) error {
	every := m.cfg.TokenFileInterval
	if every <= 0 {
		every = 2 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	lastOps, _ := m.cfg.operatorTokens()
	lastFeeds, _ := m.cfg.feedTokens()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if ts, err := m.cfg.operatorTokens(); err != nil {
			m.log.WarnContext(ctx, "operator token file ignored: the tokens read before stay valid", logkeys.Error, err)
		} else if !slices.Equal(ts, lastOps) {
			m.auth.SetOperatorTokens(ts...)
			lastOps = ts
			m.log.InfoContext(ctx, "operator tokens reloaded", logkeys.Count, len(ts))
		}
		if ts, err := m.cfg.feedTokens(); err != nil {
			m.log.WarnContext(ctx, "feed token file ignored: the tokens read before stay valid", logkeys.Error, err)
		} else if !slices.Equal(ts, lastFeeds) {
			m.auth.SetFeedTokens(ts...)
			lastFeeds = ts
			m.log.InfoContext(ctx, "feed tokens reloaded", logkeys.Count, len(ts))
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
	if m.lock != nil {
		m.lock.Close() // releases the data dir lock
	}
}

// Registry exposes the metrics registry (for tests).
func (m *MEP) Registry() prometheus.Gatherer { return m.tel.Registry }
