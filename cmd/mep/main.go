// Command mep runs the MEC platform of one edge site: Mp1 and Mm5 over HTTP, and the site
// DNS server. See the README for the flags.
package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/edgemec/edgemec/internal/obs"
	"github.com/edgemec/edgemec/internal/run"
	"github.com/edgemec/edgemec/mep"
)

func main() { run.Main("mep", realMain) }

var env = run.Env

func realMain() error {
	var cfg mep.Config
	var o obs.Options
	var upstreams, allowed, deny, appRanges, dsnFile string
	flag.StringVar(&cfg.HTTPAddr, "http-addr", env("MEP_HTTP_ADDR", "127.0.0.1:8080"), "listen address of Mp1 and Mm5")
	flag.StringVar(&cfg.DNSAddr, "dns-addr", env("MEP_DNS_ADDR", "127.0.0.1:5353"), `listen address of the site DNS server (UDP and TCP), or "off"`)
	flag.StringVar(&cfg.DataDir, "data-dir", env("MEP_DATA_DIR", ""), "directory of the embedded store")
	flag.StringVar(&cfg.PostgresDSN, "postgres-dsn", env("MEP_POSTGRES_DSN", ""),
		"use PostgreSQL instead of the embedded store (prefer --postgres-dsn-file when the URL holds a password: a command line shows in ps)")
	flag.StringVar(&dsnFile, "postgres-dsn-file", env("MEP_POSTGRES_DSN_FILE", ""), "file holding the PostgreSQL URL (instead of --postgres-dsn)")
	flag.StringVar(&cfg.OperatorToken, "operator-token", env("MEP_OPERATOR_TOKEN", ""),
		"bearer token of the operator and the orchestrator (prefer --operator-token-file: a command line shows in ps)")
	flag.StringVar(&cfg.OperatorTokenFile, "operator-token-file", env("MEP_OPERATOR_TOKEN_FILE", ""),
		"file of operator tokens, one per line, two while rotating; re-read when it changes")
	flag.StringVar(&cfg.FeedToken, "feed-token", env("MEP_FEED_TOKEN", ""),
		"bearer token that may only read the rule feeds, for the UPGW (prefer --feed-token-file)")
	flag.StringVar(&cfg.FeedTokenFile, "feed-token-file", env("MEP_FEED_TOKEN_FILE", ""),
		"file of feed tokens, one per line, two while rotating; re-read when it changes")
	flag.IntVar(&cfg.MaxConnsPerClient, "max-conns-per-client", run.EnvInt("MEP_MAX_CONNS_PER_CLIENT", 128),
		"HTTP connections one client address (IPv6: /64) may hold open; more are closed at once")
	flag.DurationVar(&cfg.BodyReadTimeout, "body-read-timeout", run.EnvDuration("MEP_BODY_READ_TIMEOUT", 10*time.Second),
		"time a client may take to send a request body")
	flag.IntVar(&cfg.MaxServiceBytes, "max-service-bytes", run.EnvInt("MEP_MAX_SERVICE_BYTES", 64<<10),
		"bytes one service's or registration's stored representation may hold (413 beyond)")
	flag.IntVar(&cfg.MaxAppBytes, "max-app-bytes", run.EnvInt("MEP_MAX_APP_BYTES", 1<<20),
		"bytes all of one app's services and its registration may hold together (429 beyond)")
	flag.StringVar(&cfg.DiscoveryScope, "discovery-scope", env("MEP_DISCOVERY_SCOPE", "declared"),
		`discovery policy: "declared" (own services and those in appServiceRequired/Optional) or "all"`)
	flag.StringVar(&cfg.MEC011Version, "mec011-version", env("MEP_MEC011_VERSION", "2.2.1"),
		"MEC 011 version of the answers to the operator and to apps that declare no mecVersion (2.1.1: dstInterface is one object)")
	flag.StringVar(&cfg.APIRoot, "api-root", env("MEP_API_ROOT", ""), "externally visible scheme://host:port (default from --http-addr)")
	flag.StringVar(&cfg.TLSCertFile, "tls-cert", env("MEP_TLS_CERT", ""), "TLS certificate file (enables TLS with --tls-key)")
	flag.StringVar(&cfg.TLSKeyFile, "tls-key", env("MEP_TLS_KEY", ""), "TLS key file")
	flag.DurationVar(&cfg.GracefulTimeout, "graceful-timeout", run.EnvDuration("MEP_GRACEFUL_TIMEOUT", 0), "default maxGracefulTimeout of app termination (default 10s)")
	flag.StringVar(&upstreams, "dns-upstream", env("MEP_DNS_UPSTREAMS", ""), "comma-separated upstream resolvers host:port")
	flag.StringVar(&allowed, "dns-allowed-clients", env("MEP_DNS_ALLOWED_CLIENTS", ""), "comma-separated prefixes allowed to recurse (default loopback)")
	flag.IntVar(&cfg.DNSMaxTCPPerClient, "dns-tcp-per-client", run.EnvInt("MEP_DNS_TCP_PER_CLIENT", 0), "TCP connections one DNS client may hold (default 16)")
	flag.IntVar(&cfg.DNSMaxUDPAnswer, "dns-udp-answer-max", run.EnvInt("MEP_DNS_UDP_ANSWER_MAX", 0),
		"largest DNS answer over UDP in bytes, larger ones are truncated so the client retries over TCP (default 512)")
	flag.IntVar(&cfg.DNSRateLimit, "dns-rate-limit", run.EnvInt("MEP_DNS_RATE_LIMIT", 0),
		"DNS answers per second over UDP to one client /24 or /56, loopback exempt (default 200, -1 off)")
	flag.IntVar(&cfg.DNSRateLimitSlip, "dns-rate-limit-slip", run.EnvInt("MEP_DNS_RATE_LIMIT_SLIP", 0),
		"every n-th rate-limited DNS answer goes out empty with TC, so a real client retries over TCP (default 2, -1 never)")
	flag.StringVar(&deny, "callback-deny", env("MEP_CALLBACK_DENY", "169.254.0.0/16,fe80::/10"),
		`comma-separated prefixes notification callbacks may not reach (default link-local, which holds cloud metadata services), or "none"`)
	flag.StringVar(&appRanges, "app-address-ranges", env("MEP_APP_ADDRESS_RANGES", ""),
		"comma-separated prefixes of the site's app addresses: an app may point its DNS rules anywhere inside them (default none: only the granted address)")
	flag.StringVar(&cfg.SiteName, "site", env("MEP_SITE", "site"), "site name for logs and traces")
	flag.StringVar(&o.LogLevel, "log-level", env("MEP_LOG_LEVEL", "info"), "debug, info, warn or error")
	flag.StringVar(&o.LogFormat, "log-format", env("MEP_LOG_FORMAT", "text"), "text or json")
	flag.StringVar(&o.OTLPEndpoint, "otlp-endpoint", env("OTEL_EXPORTER_OTLP_ENDPOINT", ""), "OTLP/HTTP trace collector host:port (off when empty)")
	flag.Parse()
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q: every setting is a flag (see -help)", flag.Args())
	}
	if upstreams != "" {
		cfg.DNSUpstreams = strings.Split(upstreams, ",")
	}
	var err error
	if cfg.PostgresDSN, err = run.SecretFile("postgres-dsn", cfg.PostgresDSN, dsnFile); err != nil {
		return err
	}
	if cfg.DNSAllowedClients, err = run.Prefixes("--dns-allowed-clients", allowed); err != nil {
		return err
	}
	if appRanges != "" {
		if cfg.AppAddressRanges, err = run.Prefixes("--app-address-ranges", appRanges); err != nil {
			return err
		}
	}
	if deny != "none" {
		if cfg.CallbackDeny, err = run.Prefixes("--callback-deny", deny); err != nil {
			return err
		}
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	o.ServiceName, o.InstanceID = "mep", cfg.SiteName
	ctx, stop := run.SignalContext(context.Background())
	defer stop()
	tel, err := obs.Setup(ctx, o)
	if err != nil {
		return err
	}
	defer tel.Shutdown(context.Background()) //nolint:errcheck // best effort flush at exit
	m, err := mep.New(ctx, cfg, tel)
	if err != nil {
		return err
	}
	return m.Run(ctx)
}
