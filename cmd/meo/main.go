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
	_ = viewers.Set(env("MEO_VIEWER_TOKENS", ""))
	flag.StringVar(&cfg.HTTPAddr, "http-addr", env("MEO_HTTP_ADDR", "127.0.0.1:8090"), "listen address of Mm1")
	flag.StringVar(&cfg.DatabaseURL, "database-url", env("MEO_DATABASE_URL", ""), "PostgreSQL URL, postgres://user@host:port/db")
	flag.StringVar(&cfg.OperatorToken, "operator-token", env("MEO_OPERATOR_TOKEN", ""), "bearer token that opens every Mm1 route")
	flag.Var(&viewers, "viewer-token", "read-only bearer token (repeatable or comma-separated; env MEO_VIEWER_TOKENS)")
	flag.StringVar(&cfg.APIRoot, "api-root", env("MEO_API_ROOT", ""), "externally visible scheme://host:port (default from --http-addr)")
	flag.StringVar(&cfg.TLSCertFile, "tls-cert", env("MEO_TLS_CERT", ""), "TLS certificate file (enables TLS with --tls-key)")
	flag.StringVar(&cfg.TLSKeyFile, "tls-key", env("MEO_TLS_KEY", ""), "TLS key file")
	flag.StringVar(&deny, "callback-deny", env("MEO_CALLBACK_DENY", "169.254.0.0/16,fe80::/10"),
		`comma-separated prefixes that notification callbacks and appPkgPath fetches may not reach (default link-local, which holds cloud metadata services), or "none"`)
	flag.Int64Var(&cfg.MaxPackageBytes, "max-package-bytes", 1<<30, "largest package content accepted")
	flag.DurationVar(&cfg.FetchTimeout, "fetch-timeout", 0, "time limit of an appPkgPath fetch (default 10m)")
	flag.StringVar(&o.LogLevel, "log-level", env("MEO_LOG_LEVEL", "info"), "debug, info, warn or error")
	flag.StringVar(&o.LogFormat, "log-format", env("MEO_LOG_FORMAT", "text"), "text or json")
	flag.StringVar(&o.OTLPEndpoint, "otlp-endpoint", env("OTEL_EXPORTER_OTLP_ENDPOINT", ""), "OTLP/HTTP trace collector host:port (off when empty)")
	flag.Parse()
	cfg.ViewerTokens = viewers
	if deny != "none" {
		var err error
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
