// Command mep runs the MEC platform of one edge site: Mp1 and Mm5 over HTTP, and the site
// DNS server. See the README for the flags.
package main

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/edgemec/edgemec/internal/obs"
	"github.com/edgemec/edgemec/internal/run"
	"github.com/edgemec/edgemec/mep"
)

func main() { run.Main("mep", realMain) }

var env = run.Env

func realMain() error {
	var cfg mep.Config
	var o obs.Options
	var upstreams, allowed, deny string
	flag.StringVar(&cfg.HTTPAddr, "http-addr", env("MEP_HTTP_ADDR", "127.0.0.1:8080"), "listen address of Mp1 and Mm5")
	flag.StringVar(&cfg.DNSAddr, "dns-addr", env("MEP_DNS_ADDR", "127.0.0.1:5353"), `listen address of the site DNS server (UDP and TCP), or "off"`)
	flag.StringVar(&cfg.DataDir, "data-dir", env("MEP_DATA_DIR", ""), "directory of the embedded store")
	flag.StringVar(&cfg.PostgresDSN, "postgres-dsn", env("MEP_POSTGRES_DSN", ""), "use PostgreSQL instead of the embedded store")
	flag.StringVar(&cfg.OperatorToken, "operator-token", env("MEP_OPERATOR_TOKEN", ""), "bearer token of the operator and the orchestrator")
	flag.StringVar(&cfg.APIRoot, "api-root", env("MEP_API_ROOT", ""), "externally visible scheme://host:port (default from --http-addr)")
	flag.StringVar(&cfg.TLSCertFile, "tls-cert", env("MEP_TLS_CERT", ""), "TLS certificate file (enables TLS with --tls-key)")
	flag.StringVar(&cfg.TLSKeyFile, "tls-key", env("MEP_TLS_KEY", ""), "TLS key file")
	flag.DurationVar(&cfg.GracefulTimeout, "graceful-timeout", run.EnvDuration("MEP_GRACEFUL_TIMEOUT", 0), "default maxGracefulTimeout of app termination (default 10s)")
	flag.StringVar(&upstreams, "dns-upstream", env("MEP_DNS_UPSTREAMS", ""), "comma-separated upstream resolvers host:port")
	flag.StringVar(&allowed, "dns-allowed-clients", env("MEP_DNS_ALLOWED_CLIENTS", ""), "comma-separated prefixes allowed to recurse (default loopback)")
	flag.StringVar(&deny, "callback-deny", env("MEP_CALLBACK_DENY", "169.254.0.0/16,fe80::/10"),
		`comma-separated prefixes notification callbacks may not reach (default link-local, which holds cloud metadata services), or "none"`)
	flag.StringVar(&cfg.SiteName, "site", env("MEP_SITE", "site"), "site name for logs and traces")
	flag.StringVar(&o.LogLevel, "log-level", env("MEP_LOG_LEVEL", "info"), "debug, info, warn or error")
	flag.StringVar(&o.LogFormat, "log-format", env("MEP_LOG_FORMAT", "text"), "text or json")
	flag.StringVar(&o.OTLPEndpoint, "otlp-endpoint", env("OTEL_EXPORTER_OTLP_ENDPOINT", ""), "OTLP/HTTP trace collector host:port (off when empty)")
	flag.Parse()
	if upstreams != "" {
		cfg.DNSUpstreams = strings.Split(upstreams, ",")
	}
	var err error
	if cfg.DNSAllowedClients, err = run.Prefixes("--dns-allowed-clients", allowed); err != nil {
		return err
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
