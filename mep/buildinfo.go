package mep

import (
	"context"
	"net/url"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgemec/edgemec/internal/obs/logkeys"
)

// Version is the release version, set at build time with
// -ldflags "-X github.com/edgemec/edgemec/mep.Version=v1.2.3"; without it the module
// version or the VCS revision of the build stands in.
var Version = ""

// buildInfo is the version and the VCS revision of the running binary.
type buildInfo struct {
	version, revision string
}

func readBuildInfo() buildInfo {
	b := buildInfo{version: Version}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if b.version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			b.version = bi.Main.Version
		}
		dirty := false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				b.revision = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if dirty {
			b.revision += "+dirty"
		}
	}
	if b.version == "" {
		b.version = "devel"
	}
	return b
}

// registerBuildInfo registers mep_build_info{version,revision,goversion} 1, the usual way
// to tell which build every MEP of a fleet runs.
func registerBuildInfo(reg prometheus.Registerer) {
	b := readBuildInfo()
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "mep_build_info", Help: "Build of the running MEP (always 1).",
		ConstLabels: prometheus.Labels{"version": b.version, "revision": b.revision, "goversion": runtime.Version()}})
	g.Set(1)
	reg.MustRegister(g)
}

// logConfig logs the version and the effective configuration at start-up, secrets masked:
// tokens are counted, never shown, and a DSN's password is replaced.
func (m *MEP) logConfig(ctx context.Context, ops, feeds []string) {
	c := m.cfg
	b := readBuildInfo()
	m.log.InfoContext(ctx, "mep starting", logkeys.Version, b.version, "revision", b.revision, logkeys.Site, c.SiteName,
		"http_addr", m.ln.Addr().String(), "api_root", c.APIRoot, "tls", c.TLSCertFile != "", "dns_addr", c.DNSAddr,
		"data_dir", c.DataDir, "postgres_dsn", maskDSN(c.PostgresDSN),
		"operator_tokens", len(ops), "operator_token_file", c.OperatorTokenFile,
		"feed_tokens", len(feeds), "feed_token_file", c.FeedTokenFile,
		"graceful_timeout", c.GracefulTimeout.String(), "token_ttl", c.TokenTTL.String(),
		"dns_upstreams", strings.Join(c.DNSUpstreams, ","), "dns_allowed_clients", prefixes(c.DNSAllowedClients),
		"callback_deny", prefixes(c.CallbackDeny), "app_address_ranges", prefixes(c.AppAddressRanges),
		"max_conns_per_client", c.MaxConnsPerClient, "body_read_timeout", c.BodyReadTimeout.String(),
		"max_service_bytes", c.MaxServiceBytes, "max_app_bytes", c.MaxAppBytes,
		"discovery_scope", c.DiscoveryScope, "mec011_version", c.MEC011Version)
}

func prefixes[T interface{ String() string }](ps []T) string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return strings.Join(out, ",")
}

var dsnPassword = regexp.MustCompile(`(?i)(password\s*=\s*)('[^']*'|\S+)`)

// maskDSN hides the password of a PostgreSQL URL or key=value DSN.
func maskDSN(dsn string) string {
	if dsn == "" {
		return ""
	}
	if u, err := url.Parse(dsn); err == nil && u.Scheme != "" {
		q := u.Query()
		if q.Has("password") {
			q.Set("password", "xxxxx")
			u.RawQuery = q.Encode()
		}
		return u.Redacted()
	}
	return dsnPassword.ReplaceAllString(dsn, "${1}xxxxx")
}
