// Command meo runs the MEC orchestrator: the Mm1 API (ETSI GS MEC 010-2) over HTTP, with
// its state in PostgreSQL. See the README for the flags.
package main

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/edgemec/edgemec/internal/obs"
	"github.com/edgemec/edgemec/internal/run"
	"github.com/edgemec/edgemec/meo"
)

func main() { run.Main("meo", realMain) }

var env = run.Env

// listFlag is a repeatable flag that also takes comma-separated lists.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

func realMain() error {
	var cfg meo.Config
	var o obs.Options
	var deny string
	var viewers listFlag
	var operatorTokenFile, viewerTokenFile, databaseURLFile, afNotifyTokenFile string
	_ = viewers.Set(env("MEO_VIEWER_TOKENS", ""))
	flag.StringVar(&cfg.HTTPAddr, "http-addr", env("MEO_HTTP_ADDR", "127.0.0.1:8090"), "listen address of Mm1")
	flag.StringVar(&cfg.DatabaseURL, "database-url", env("MEO_DATABASE_URL", ""),
		"PostgreSQL URL, postgres://user@host:port/db (prefer --database-url-file when it holds a password: a command line shows in ps)")
	flag.StringVar(&databaseURLFile, "database-url-file", env("MEO_DATABASE_URL_FILE", ""), "file holding the PostgreSQL URL (instead of --database-url)")
	flag.StringVar(&cfg.OperatorToken, "operator-token", env("MEO_OPERATOR_TOKEN", ""), "bearer token that opens every Mm1 route")
	flag.Var(&viewers, "viewer-token", "read-only bearer token (repeatable or comma-separated; env MEO_VIEWER_TOKENS)")
	flag.StringVar(&operatorTokenFile, "operator-token-file", env("MEO_OPERATOR_TOKEN_FILE", ""), "file holding the operator token (instead of --operator-token, which ps shows)")
	flag.StringVar(&viewerTokenFile, "viewer-token-file", env("MEO_VIEWER_TOKEN_FILE", ""), "file of read-only bearer tokens, one per line")
	flag.StringVar(&cfg.APIRoot, "api-root", env("MEO_API_ROOT", ""), "externally visible scheme://host:port (default from --http-addr)")
	flag.StringVar(&cfg.TLSCertFile, "tls-cert", env("MEO_TLS_CERT", ""), "TLS certificate file (enables TLS with --tls-key)")
	flag.StringVar(&cfg.TLSKeyFile, "tls-key", env("MEO_TLS_KEY", ""), "TLS key file")
	flag.StringVar(&deny, "callback-deny", env("MEO_CALLBACK_DENY", "169.254.0.0/16,fe80::/10"),
		`comma-separated prefixes that notification callbacks and appPkgPath fetches may not reach (default link-local, which holds cloud metadata services), or "none"`)
	flag.Int64Var(&cfg.MaxPackageBytes, "max-package-bytes", run.EnvInt64("MEO_MAX_PACKAGE_BYTES", 1<<30), "largest package content accepted")
	flag.DurationVar(&cfg.FetchTimeout, "fetch-timeout", run.EnvDuration("MEO_FETCH_TIMEOUT", 0), "time limit of an appPkgPath fetch (default 10m)")
	flag.StringVar(&cfg.SecretKeyFile, "secret-key-file", env("MEO_SECRET_KEY_FILE", ""),
		"file holding the 32-byte key (hex or base64) that encrypts site secrets; make one with: head -c32 /dev/urandom | base64 > meo.key")
	flag.DurationVar(&cfg.SiteRefreshInterval, "site-refresh-interval", run.EnvDuration("MEO_SITE_REFRESH_INTERVAL", 0), "how often each site's MEP and VIM are probed (default 30s)")
	flag.DurationVar(&cfg.Lease, "lease", run.EnvDuration("MEO_LEASE", 0), "how long a claim on an op occurrence or a site holds unless renewed; another MEO takes over a dead one's work within about this time (default 15s)")
	flag.StringVar(&cfg.AFNotifyURL, "af-notify-url", env("MEO_AF_NOTIFY_URL", ""),
		"base URL at which the sites' NEFs reach the MEO's traffic influence notifications (default <api-root>/af/v1/notifications)")
	flag.StringVar(&cfg.AFNotifyToken, "af-notify-token", env("MEO_AF_NOTIFY_TOKEN", ""),
		"bearer token the NEFs must also send with their notifications (optional; the per-subscription token in the URL always applies)")
	flag.StringVar(&afNotifyTokenFile, "af-notify-token-file", env("MEO_AF_NOTIFY_TOKEN_FILE", ""), "file holding the --af-notify-token")
	flag.DurationVar(&cfg.AFCheckInterval, "af-check-interval", run.EnvDuration("MEO_AF_CHECK_INTERVAL", 0), "how often a traffic influence subscription is compared with the app's rules and its site's DNAIs (default 30s)")
	flag.DurationVar(&cfg.AFRetryInterval, "af-retry-interval", run.EnvDuration("MEO_AF_RETRY_INTERVAL", 0), "first wait before a failed traffic influence request is tried again, doubling (default 5s)")
	flag.DurationVar(&cfg.AFSweepInterval, "af-sweep-interval", run.EnvDuration("MEO_AF_SWEEP_INTERVAL", 0), "how often the sites' NEFs are searched for subscriptions no instance holds, deleted when found twice (default 5m)")
	flag.StringVar(&cfg.PprofAddr, "pprof-addr", env("MEO_PPROF_ADDR", ""), "loopback address serving Go's runtime profiles at /debug/pprof/ (off when empty)")
	var drift string
	flag.DurationVar(&cfg.Retention, "retention", run.EnvDuration("MEO_RETENTION", 0), "how long finished work (task journal entries, op occurrences of deleted instances) is kept before it is pruned (default 168h)")
	flag.StringVar(&drift, "drift-policy", env("MEO_DRIFT_POLICY", "REPORT"), "an instance deleted from its site behind the MEO's back: REPORT shows it on the instance, RECREATE also deploys it again")
	flag.StringVar(&o.LogLevel, "log-level", env("MEO_LOG_LEVEL", "info"), "debug, info, warn or error")
	flag.StringVar(&o.LogFormat, "log-format", env("MEO_LOG_FORMAT", "text"), "text or json")
	flag.StringVar(&o.OTLPEndpoint, "otlp-endpoint", env("OTEL_EXPORTER_OTLP_ENDPOINT", ""), "OTLP/HTTP trace collector host:port (off when empty)")
	flag.Parse()
	cfg.ViewerTokens = viewers
	cfg.Drift = strings.ToUpper(drift)
	if err := readTokenFiles(&cfg, operatorTokenFile, viewerTokenFile); err != nil {
		return err
	}
	var err error
	if cfg.DatabaseURL, err = run.SecretFile("database-url", cfg.DatabaseURL, databaseURLFile); err != nil {
		return err
	}
	if cfg.AFNotifyToken, err = run.SecretFile("af-notify-token", cfg.AFNotifyToken, afNotifyTokenFile); err != nil {
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
	o.ServiceName, o.InstanceID = "meo", cfg.HTTPAddr
	ctx, stop := run.SignalContext(context.Background())
	defer stop()
	tel, err := obs.Setup(ctx, o)
	if err != nil {
		return err
	}
	defer tel.Shutdown(context.Background()) //nolint:errcheck // best effort flush at exit
	m, err := meo.New(ctx, cfg, tel)
	if err != nil {
		return err
	}
	return m.Run(ctx)
}
