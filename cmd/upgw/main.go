// Command upgw runs a site's user-plane gateway: the eBPF/XDP local-breakout data plane on
// the N3 ports, following the MEP's traffic-rule feed. It needs CAP_BPF, CAP_NET_ADMIN and
// CAP_PERFMON (or root). See upgw/README.md for the flags.
package main

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/edgemec/edgemec/internal/obs"
	"github.com/edgemec/edgemec/internal/run"
	"github.com/edgemec/edgemec/upgw"
)

func main() { run.Main("upgw", realMain) }

var env = run.Env

// multi is a repeatable string flag.
type multi []string

func (m *multi) String() string     { return strings.Join(*m, " ") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

func realMain() error {
	var (
		cfg                        upgw.Config
		o                          obs.Options
		apps, eps                  multi
		site                       string
		mepTokenFile, apiTokenFile string
	)
	flag.StringVar(&cfg.GNBInterface, "gnb-if", env("UPGW_GNB_IF", ""), "N3 interface facing the gNB")
	flag.StringVar(&cfg.UPFInterface, "upf-if", env("UPGW_UPF_IF", ""), "N3 interface facing the UPF")
	flag.StringVar(&cfg.XDPMode, "xdp-mode", env("UPGW_XDP_MODE", "native"), "native or generic")
	flag.Var(&apps, "app", "app port IFACE,MAC,PREFIX[,PREFIX...] (repeatable; env UPGW_APPS, space-separated)")
	flag.Var(&eps, "gtpu-endpoint", "local GTP-U endpoint ADDRESS,IFACE,MAC[,TEID] (repeatable; env UPGW_GTPU_ENDPOINTS, space-separated)")
	flag.BoolVar(&cfg.KeepTxChecksum, "keep-tx-checksum", run.EnvBool("UPGW_KEEP_TX_CHECKSUM", false), "leave TX checksum offload on the gNB-side port on")
	flag.StringVar(&cfg.MEPURL, "mep-url", env("UPGW_MEP_URL", ""), "MEP base URL of the traffic-rule feed (off when empty)")
	flag.StringVar(&cfg.MEPToken, "mep-token", env("UPGW_MEP_TOKEN", ""),
		"bearer token for the MEP's rule feed: the MEP's read-only feed token (mep --feed-token-file), or its operator token (prefer --mep-token-file: a command line shows in ps)")
	flag.StringVar(&mepTokenFile, "mep-token-file", env("UPGW_MEP_TOKEN_FILE", ""), "file holding the MEP feed's bearer token (instead of --mep-token)")
	flag.DurationVar(&cfg.FeedTimeout, "feed-timeout", run.EnvDuration("UPGW_FEED_TIMEOUT", 0), "long-poll timeout of the MEP feed, 1s-60s (default 30s)")
	flag.StringVar(&cfg.StateDir, "state-dir", env("UPGW_STATE_DIR", ""), "directory keeping the last applied rule set (off when empty)")
	flag.StringVar(&cfg.PinDir, "pin-dir", env("UPGW_PIN_DIR", ""), "bpffs directory pinning the data plane (links, rule set, sessions, counters) so it forwards while the agent is down (off when empty)")
	flag.BoolVar(&cfg.DetachOnStop, "detach-on-stop", run.EnvBool("UPGW_DETACH_ON_STOP", false), "detach the data plane on a deliberate stop (default: a pinned data plane keeps forwarding)")
	flag.IntVar(&cfg.MaxSessions, "max-sessions", run.EnvInt("UPGW_MAX_SESSIONS", 0), "size of the sessions map, the UEs whose replies can be served (default 65536)")
	flag.BoolVar(&cfg.AllowManualRuleSets, "allow-manual-rulesets", run.EnvBool("UPGW_ALLOW_MANUAL_RULESETS", false), "accept PUT /upgw/v1/ruleset while following a MEP feed")
	flag.StringVar(&cfg.Listen, "listen", env("UPGW_LISTEN", "127.0.0.1:8090"), "control API and /metrics address")
	flag.StringVar(&cfg.APIToken, "api-token", env("UPGW_API_TOKEN", ""),
		"bearer token of the control API (open when empty; the packet trace needs it; prefer --api-token-file)")
	flag.StringVar(&apiTokenFile, "api-token-file", env("UPGW_API_TOKEN_FILE", ""), "file holding the control API's bearer token (instead of --api-token)")
	flag.StringVar(&site, "site", env("UPGW_SITE", "site"), "site name for logs and traces")
	flag.StringVar(&o.LogLevel, "log-level", env("UPGW_LOG_LEVEL", "info"), "debug, info, warn or error")
	flag.StringVar(&o.LogFormat, "log-format", env("UPGW_LOG_FORMAT", "text"), "text or json")
	flag.StringVar(&o.OTLPEndpoint, "otlp-endpoint", env("OTEL_EXPORTER_OTLP_ENDPOINT", ""), "OTLP/HTTP trace collector host:port (off when empty)")
	flag.Parse()
	// The repeatable flags take their environment variables only when none is given: the
	// values contain commas, so the variables separate them with spaces.
	if len(apps) == 0 {
		apps = strings.Fields(env("UPGW_APPS", ""))
	}
	if len(eps) == 0 {
		eps = strings.Fields(env("UPGW_GTPU_ENDPOINTS", ""))
	}
	var err error
	if cfg.MEPToken, err = run.SecretFile("mep-token", cfg.MEPToken, mepTokenFile); err != nil {
		return err
	}
	if cfg.APIToken, err = run.SecretFile("api-token", cfg.APIToken, apiTokenFile); err != nil {
		return err
	}
	for _, s := range apps {
		a, err := upgw.ParseAppPort(s)
		if err != nil {
			return fmt.Errorf("--app: %w", err)
		}
		cfg.Apps = append(cfg.Apps, a)
	}
	for _, s := range eps {
		e, err := upgw.ParseEndpoint(s)
		if err != nil {
			return fmt.Errorf("--gtpu-endpoint: %w", err)
		}
		cfg.Endpoints = append(cfg.Endpoints, e)
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	o.ServiceName, o.InstanceID = "upgw", site
	ctx, stop := run.SignalContext(context.Background())
	defer stop()
	tel, err := obs.Setup(ctx, o)
	if err != nil {
		return err
	}
	defer tel.Shutdown(context.Background()) //nolint:errcheck // best effort flush at exit
	u, err := upgw.New(cfg, upgw.Deps{Logger: tel.Logger, Registry: tel.Registry, Tracer: tel.Tracer})
	if err != nil {
		return err
	}
	return u.Run(ctx)
}
