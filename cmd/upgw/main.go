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
		cfg       upgw.Config
		o         obs.Options
		apps, eps multi
		site      string
	)
	flag.StringVar(&cfg.GNBInterface, "gnb-if", env("UPGW_GNB_IF", ""), "N3 interface facing the gNB")
	flag.StringVar(&cfg.UPFInterface, "upf-if", env("UPGW_UPF_IF", ""), "N3 interface facing the UPF")
	flag.StringVar(&cfg.XDPMode, "xdp-mode", env("UPGW_XDP_MODE", "native"), "native or generic")
	flag.Var(&apps, "app", "app port IFACE,MAC,PREFIX[,PREFIX...] (repeatable)")
	flag.Var(&eps, "gtpu-endpoint", "local GTP-U endpoint ADDRESS,IFACE,MAC[,TEID] (repeatable)")
	flag.BoolVar(&cfg.KeepTxChecksum, "keep-tx-checksum", run.EnvBool("UPGW_KEEP_TX_CHECKSUM", false), "leave TX checksum offload on the gNB-side port on")
	flag.StringVar(&cfg.MEPURL, "mep-url", env("UPGW_MEP_URL", ""), "MEP base URL of the traffic-rule feed (off when empty)")
	flag.StringVar(&cfg.MEPToken, "mep-token", env("UPGW_MEP_TOKEN", ""), "operator bearer token for the MEP feed")
	flag.DurationVar(&cfg.FeedTimeout, "feed-timeout", run.EnvDuration("UPGW_FEED_TIMEOUT", 0), "long-poll timeout of the MEP feed, 1s-60s (default 30s)")
	flag.StringVar(&cfg.StateDir, "state-dir", env("UPGW_STATE_DIR", ""), "directory keeping the last applied rule set (off when empty)")
	flag.StringVar(&cfg.PinDir, "pin-dir", env("UPGW_PIN_DIR", ""), "bpffs directory for pinned sessions and counters (off when empty)")
	flag.StringVar(&cfg.Listen, "listen", env("UPGW_LISTEN", "127.0.0.1:8090"), "control API and /metrics address")
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
