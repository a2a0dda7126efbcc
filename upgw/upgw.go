// Package upgw is the user-plane gateway agent: it loads the eBPF/XDP local-breakout data
// plane onto the site's N3 ports, follows the MEP's traffic-rule feed (MEC 011 TrafficRules,
// compiled into map entries and swapped in atomically) and serves a control API and
// Prometheus metrics. See upgw/README.md for the topology and the configuration.
package upgw

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/edgemec/edgemec/internal/obs"
	"github.com/edgemec/edgemec/internal/obs/logkeys"
	"github.com/edgemec/edgemec/internal/run"
	"github.com/edgemec/edgemec/mep/mp1api"
	"github.com/edgemec/edgemec/upgw/internal/controlapi"
	"github.com/edgemec/edgemec/upgw/internal/dataplane"
	"github.com/edgemec/edgemec/upgw/internal/feed"
	"github.com/edgemec/edgemec/upgw/internal/rules"
	"github.com/edgemec/edgemec/upgw/internal/ruleset"
	packettrace "github.com/edgemec/edgemec/upgw/internal/trace"
)

// AppPort is a local app reachable for FORWARD_DECAPSULATED / DUPLICATE_DECAPSULATED. A
// rule's dstInterface selects it by dstIpAddress (contained in one of Prefixes) or by
// dstMacAddress (equal to MAC). Decapsulated packets leave through Interface with MAC as
// destination; the app's replies enter through Interface and are re-encapsulated.
type AppPort struct {
	Interface string
	MAC       net.HardwareAddr
	Prefixes  []netip.Prefix
}

// Endpoint is a local GTP-U endpoint for FORWARD_ENCAPSULATED / DUPLICATE_ENCAPSULATED,
// selected by a TUNNEL dstInterface whose tunnelDstAddress equals Address.
type Endpoint struct {
	Address   netip.Addr
	Interface string
	MAC       net.HardwareAddr // next hop toward Address
	// TEID, when non-zero, replaces the uplink TEID; zero keeps it.
	TEID uint32
}

// Config configures the agent. Zero values take the documented defaults.
type Config struct {
	// GNBInterface is the N3 port facing the gNB (required).
	GNBInterface string
	// UPFInterface is the N3 port facing the central UPF (required).
	UPFInterface string
	// XDPMode is "native" (default) or "generic".
	XDPMode string
	// Apps are the app-facing ports.
	Apps []AppPort
	// Endpoints are the local GTP-U endpoints.
	Endpoints []Endpoint
	// KeepTxChecksum leaves the gNB-side port's TX checksum offload on. By default it is
	// turned off so that the kernel completes the partial checksums of co-located apps'
	// replies when they leave the TC return path (XDP cannot).
	KeepTxChecksum bool

	// MEPURL is the MEP base URL of the traffic-rule feed; empty disables the feed and the
	// rule set comes only through the control API.
	MEPURL string
	// MEPToken is the operator bearer token for the feed (required with MEPURL).
	MEPToken string
	// FeedTimeout is the long-poll timeout (zero: the default 30 s; otherwise 1 s to 60 s,
	// sent in whole seconds).
	FeedTimeout time.Duration

	// StateDir keeps the last applied rule snapshot, re-applied at start so that a restarted
	// agent enforces the last good set before the MEP answers. Empty disables persistence.
	StateDir string
	// PinDir is a bpffs directory where the data plane is pinned: its links (so the XDP/TC
	// programs keep forwarding with the last rule set while the agent is down, crashed or
	// being upgraded), the rule set, the learned sessions and the path and per-rule
	// counters. A restarted agent adopts them: it loads the saved rule set into the pinned
	// maps and replaces the programs in the pinned links atomically. Empty pins nothing:
	// the data plane lives and dies with the agent.
	PinDir string
	// DetachOnStop makes a deliberate stop (SIGTERM, systemctl stop) detach the data plane,
	// pinned links included; N3 traffic then stops crossing the gateway. By default a stop
	// leaves a pinned data plane forwarding with the last rule set, as a crash does. Pinned
	// maps stay either way.
	DetachOnStop bool
	// MaxSessions sizes the sessions map: the UEs whose replies the return path can serve
	// (default 65,536, at most 4,194,304; about 100 bytes each). Beyond it the least
	// recently used sessions are evicted, counted and logged.
	MaxSessions int
	// AllowManualRuleSets lets the control API's PUT /ruleset replace the rule set of an
	// agent that follows a MEP feed; otherwise such a PUT is answered 409.
	AllowManualRuleSets bool

	// Listen is the control API and /metrics address (default 127.0.0.1:8090).
	Listen string
	// APIToken, when set (at least 8 characters), is the bearer token every control API
	// request must carry; /metrics stays open. Without it the control API is open to
	// whoever reaches Listen, and the packet trace is refused (403): it shows subscriber
	// traffic.
	APIToken string
}

// Validate reports every problem with the configuration at once.
func (c Config) Validate() error {
	var errs []error
	if c.GNBInterface == "" {
		errs = append(errs, errors.New("gNB-side N3 interface is required"))
	}
	if c.UPFInterface == "" {
		errs = append(errs, errors.New("UPF-side N3 interface is required"))
	}
	if c.GNBInterface != "" && c.GNBInterface == c.UPFInterface {
		errs = append(errs, errors.New("gNB-side and UPF-side N3 interfaces must differ"))
	}
	switch c.XDPMode {
	case "", "native", "generic":
	default:
		errs = append(errs, fmt.Errorf("xdp mode %q: want native or generic", c.XDPMode))
	}
	if n := len(c.Apps) + len(c.Endpoints); n > dataplane.MaxTargets-dataplane.FirstAppSlot {
		errs = append(errs, fmt.Errorf("%d app ports and GTP-U endpoints; at most %d", n, dataplane.MaxTargets-dataplane.FirstAppSlot))
	}
	for i, a := range c.Apps {
		if a.Interface == "" || len(a.MAC) != 6 {
			errs = append(errs, fmt.Errorf("app port %d: interface and a 6-byte MAC are required", i))
		}
		if a.Interface == c.GNBInterface || a.Interface == c.UPFInterface {
			errs = append(errs, fmt.Errorf("app port %d: interface %s is an N3 port", i, a.Interface))
		}
	}
	for i, e := range c.Endpoints {
		if !e.Address.IsValid() || e.Interface == "" || len(e.MAC) != 6 {
			errs = append(errs, fmt.Errorf("gtp-u endpoint %d: address, interface and a 6-byte MAC are required", i))
		}
	}
	if c.MEPURL != "" {
		if u, err := url.Parse(c.MEPURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("mep url %q: want http(s)://host[:port]", c.MEPURL))
		}
		if c.MEPToken == "" {
			errs = append(errs, errors.New("mep token is required with a mep url"))
		}
	}
	if c.APIToken != "" && len(c.APIToken) < 8 {
		errs = append(errs, errors.New("api token must have at least 8 characters"))
	}
	if c.MaxSessions < 0 || c.MaxSessions > dataplane.MaxMaxSessions {
		errs = append(errs, fmt.Errorf("max sessions %d: want 1-%d (0 for the default)", c.MaxSessions, dataplane.MaxMaxSessions))
	}
	if c.FeedTimeout != 0 && (c.FeedTimeout < feed.MinTimeout || c.FeedTimeout > feed.MaxTimeout) {
		errs = append(errs, fmt.Errorf("feed timeout %s: want 1s-60s", c.FeedTimeout))
	}
	return errors.Join(errs...)
}

// UPGW is the agent.
type UPGW struct {
	cfg    Config
	logger *slog.Logger
	reg    prometheus.Registerer
	gather prometheus.Gatherer
	tp     trace.TracerProvider
}

// Deps are the process-wide facilities the agent uses.
type Deps struct {
	Logger   *slog.Logger
	Registry *prometheus.Registry // optional
	Tracer   trace.TracerProvider // optional
}

// New validates cfg and returns an agent; nothing touches the kernel until Run.
func New(cfg Config, d Deps) (*UPGW, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:8090"
	}
	u := &UPGW{cfg: cfg, logger: d.Logger, tp: d.Tracer}
	if u.logger == nil {
		u.logger = slog.New(slog.DiscardHandler)
	}
	if u.tp == nil {
		u.tp = noop.NewTracerProvider()
	}
	reg := d.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	u.reg, u.gather = reg, reg
	return u, nil
}

// sessionScanInterval is how often the learned sessions are counted (in the background:
// the status and /metrics read the last count).
const sessionScanInterval = 2 * time.Second

// Run loads the data plane (adopting a pinned one), re-applies the persisted rule set,
// attaches the programs, then serves the control API and follows the MEP feed until ctx
// ends.
//
// Start order (no packet meets a program without its rule set):
//  1. load the programs; with a pin dir, into the maps the running data plane uses
//     (sessions, counters, rule set), or into new ones filled from them;
//  2. write the output ports and apply the saved rule set;
//  3. attach: with a pin dir, replace the program in each pinned link atomically
//     (BPF_LINK_UPDATE), else attach and pin new links;
//  4. serve the control API, follow the feed, count sessions.
//
// Stop order:
//  1. ctx ends: the feed follower stops polling (no new rule sets), and a running packet
//     trace ends (its stream gets its last line);
//  2. the HTTP server stops accepting and drains in-flight requests (grace 10 s);
//  3. the data plane is released: pinned links and maps stay and keep forwarding, unless
//     DetachOnStop; unpinned links detach.
func (u *UPGW) Run(ctx context.Context) error {
	mode := dataplane.XDPNative
	if u.cfg.XDPMode == "generic" {
		mode = dataplane.XDPGeneric
	}
	dp, err := dataplane.Load(dataplane.Options{PinDir: u.cfg.PinDir, MaxSessions: u.cfg.MaxSessions, Logf: func(format string, args ...any) {
		u.logger.Warn("data plane", logkeys.Reason, fmt.Sprintf(format, args...))
	}})
	if err != nil {
		return err
	}
	defer func() {
		if u.cfg.DetachOnStop {
			if err := dp.Detach(); err != nil {
				u.logger.Warn("detach data plane", logkeys.Error, err)
			}
			u.logger.Info("data plane detached")
			return
		}
		if err := dp.Close(); err != nil {
			u.logger.Warn("close data plane", logkeys.Error, err)
		}
		if dp.Pinned() {
			u.logger.Info("data plane left forwarding with the last rule set (pinned)", logkeys.Path, u.cfg.PinDir)
		} else {
			u.logger.Info("data plane detached")
		}
	}()
	tg, err := u.configure(dp)
	if err != nil {
		return err
	}

	stateFile := ""
	if u.cfg.StateDir != "" {
		if err := os.MkdirAll(u.cfg.StateDir, 0o700); err != nil {
			return fmt.Errorf("state dir: %w", err)
		}
		stateFile = filepath.Join(u.cfg.StateDir, "ruleset.json")
	}
	m := ruleset.New(dp, tg, stateFile, u.logger, u.tp)
	restored, err := m.Restore(ctx)
	switch {
	case err != nil:
		// A corrupt state file must not keep the gateway down: the feed brings the truth.
		u.logger.ErrorContext(ctx, "could not re-apply the persisted rule set", logkeys.Error, err)
	case restored.Version > 0:
		u.logger.InfoContext(ctx, "re-applied persisted rule set", logkeys.Version, restored.Version)
	}
	if restored.Version == 0 && dp.Pinned() {
		// An adopted data plane may hold a rule set this agent cannot describe: start from
		// none, as the status says, until the feed or the API brings one.
		if _, err := m.Apply(ctx, rules.Snapshot{}, ruleset.SourceNone, false); err != nil && !errors.Is(err, ruleset.ErrNotSaved) {
			return err
		}
		if u.cfg.StateDir == "" {
			u.logger.WarnContext(ctx, "pinned data plane without a state dir: a restart forgets the rule set until the feed or the API brings it")
		}
	}
	if err := u.attach(dp, mode); err != nil {
		return err
	}
	if err := dp.Commit(); err != nil {
		return err
	}
	u.logger.InfoContext(ctx, "data plane attached", "pinned", dp.Pinned(), "adopted_links", dp.Adopted(), "detach_on_stop", u.cfg.DetachOnStop)
	sw := ruleset.NewSessionWatcher(dp, u.logger)
	sw.Scan(ctx)
	if err := u.reg.Register(ruleset.NewCollector(m, sw)); err != nil {
		return fmt.Errorf("register metrics: %w", err)
	}

	var (
		follower *feed.Follower
		fs       controlapi.FeedStatus
	)
	if u.cfg.MEPURL != "" {
		follower = &feed.Follower{BaseURL: u.cfg.MEPURL, Token: u.cfg.MEPToken, Timeout: u.cfg.FeedTimeout, Logger: u.logger,
			Apply: func(ctx context.Context, s rules.Snapshot) error {
				_, err := m.Apply(ctx, s, ruleset.SourceFeed, false)
				if errors.Is(err, ruleset.ErrNotSaved) {
					return nil // in force; the status and metrics show it is not saved
				}
				return err
			}}
		fs = follower.Status
	}
	tracer, err := packettrace.New(dp, m, u.logger)
	if err != nil {
		return err
	}
	hm := obs.NewHTTPMetrics(u.reg, "upgw")
	dps := controlapi.DataPlaneStatus{Pinned: dp.Pinned(), AdoptedLinks: dp.Adopted(), DetachOnStop: u.cfg.DetachOnStop}
	e, err := controlapi.NewHandler(m, fs, controlapi.Options{Token: u.cfg.APIToken, Tracer: tracer, //nolint:contextcheck // start-up work; requests carry their own contexts
		AllowManualRuleSets: u.cfg.AllowManualRuleSets, Sessions: sw.Stats,
		DataPlane: func() controlapi.DataPlaneStatus { return dps }}, u.logger, hm.Middleware())
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(u.gather, promhttp.HandlerOpts{}))
	mux.Handle("/", e)
	ln, err := net.Listen("tcp", u.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", u.cfg.Listen, err)
	}
	srv := &run.HTTPServer{Name: "upgw-control", Handler: mux, Listener: ln, Logger: u.logger, NotifyManager: true}
	fns := []func(context.Context) error{srv.Serve, func(ctx context.Context) error {
		// A trace streams until it ends: end it when the agent stops, or the HTTP
		// server's drain would wait for it.
		<-ctx.Done()
		tracer.Close()
		return nil
	}, func(ctx context.Context) error { return sw.Run(ctx, sessionScanInterval) }}
	if follower != nil {
		cur := m.Current()
		fns = append(fns, func(ctx context.Context) error { return follower.Run(ctx, cur.Version, cur.Digest) })
	}
	u.logger.InfoContext(ctx, "upgw running", logkeys.Addr, ln.Addr().String(), "gnb_port", u.cfg.GNBInterface, "upf_port", u.cfg.UPFInterface)
	return run.Group(ctx, fns...)
}

// configure resolves the interfaces and writes the output slots.
func (u *UPGW) configure(dp *dataplane.Datapath) (*targets, error) {
	for _, n := range []string{u.cfg.GNBInterface, u.cfg.UPFInterface} {
		if _, err := net.InterfaceByName(n); err != nil {
			return nil, fmt.Errorf("N3 interface: %w", err)
		}
	}
	tg := &targets{}
	slot := uint32(dataplane.FirstAppSlot)
	for _, a := range u.cfg.Apps {
		ifc, err := net.InterfaceByName(a.Interface)
		if err != nil {
			return nil, fmt.Errorf("app interface: %w", err)
		}
		t := dataplane.Target{Ifindex: uint32(ifc.Index), Kind: dataplane.TargetApp}
		copy(t.Smac[:], ifc.HardwareAddr)
		copy(t.Dmac[:], a.MAC)
		if err := dp.SetTarget(slot, t); err != nil {
			return nil, err
		}
		tg.apps = append(tg.apps, appTarget{AppPort: a, slot: uint8(slot)})
		slot++
	}
	for _, ep := range u.cfg.Endpoints {
		ifc, err := net.InterfaceByName(ep.Interface)
		if err != nil {
			return nil, fmt.Errorf("gtp-u endpoint interface: %w", err)
		}
		t := dataplane.Target{Ifindex: uint32(ifc.Index), Kind: dataplane.TargetGTPU, Family: 4,
			TunDst: dataplane.AddrFrom(ep.Address), Teid: ep.TEID}
		if ep.Address.Is6() && !ep.Address.Is4In6() {
			t.Family = 6
		}
		if ep.TEID != 0 {
			t.SetTeid = 1
		}
		copy(t.Smac[:], ifc.HardwareAddr)
		copy(t.Dmac[:], ep.MAC)
		if err := dp.SetTarget(slot, t); err != nil {
			return nil, err
		}
		tg.endpoints = append(tg.endpoints, endpointTarget{Endpoint: ep, slot: uint8(slot)})
		slot++
	}
	return tg, nil
}

// attach attaches (or, pinned, takes over) the programs on the N3 and app ports.
func (u *UPGW) attach(dp *dataplane.Datapath, mode dataplane.XDPMode) error {
	gnb, err := net.InterfaceByName(u.cfg.GNBInterface)
	if err != nil {
		return fmt.Errorf("gNB-side interface: %w", err)
	}
	upf, err := net.InterfaceByName(u.cfg.UPFInterface)
	if err != nil {
		return fmt.Errorf("UPF-side interface: %w", err)
	}
	if err := dp.AttachN3(gnb.Index, upf.Index, mode); err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, a := range u.cfg.Apps {
		if seen[a.Interface] {
			continue
		}
		seen[a.Interface] = true
		ifc, err := net.InterfaceByName(a.Interface)
		if err != nil {
			return fmt.Errorf("app interface: %w", err)
		}
		if err := dp.AttachApp(ifc.Index, a.Interface); err != nil {
			return err
		}
	}
	if !u.cfg.KeepTxChecksum {
		if err := dataplane.SetTxChecksum(u.cfg.GNBInterface, false); err != nil {
			return fmt.Errorf("turn off tx checksum offload on %s: %w", u.cfg.GNBInterface, err)
		}
	}
	return nil
}

// targets resolves MEC destination interfaces against the configured ports.
type targets struct {
	apps      []appTarget
	endpoints []endpointTarget
}

type appTarget struct {
	AppPort
	slot uint8
}

type endpointTarget struct {
	Endpoint
	slot uint8
}

var _ rules.Targets = (*targets)(nil)

func (t *targets) App(d mp1api.DestinationInterface) (uint8, error) {
	switch d.InterfaceType {
	case mp1api.IP:
		a, err := netip.ParseAddr(deref(d.DstIpAddress))
		if err != nil {
			return 0, fmt.Errorf("dstIpAddress %q: %w", deref(d.DstIpAddress), err)
		}
		a = a.Unmap()
		for _, ap := range t.apps {
			for _, p := range ap.Prefixes {
				if p.Contains(a) {
					return ap.slot, nil
				}
			}
		}
		return 0, fmt.Errorf("%w: no app port serves %s", rules.ErrNoTarget, a)
	case mp1api.MAC:
		mac, err := net.ParseMAC(deref(d.DstMacAddress))
		if err != nil {
			return 0, fmt.Errorf("dstMacAddress %q: %w", deref(d.DstMacAddress), err)
		}
		for _, ap := range t.apps {
			if strings.EqualFold(ap.MAC.String(), mac.String()) {
				return ap.slot, nil
			}
		}
		return 0, fmt.Errorf("%w: no app port with MAC %s", rules.ErrNoTarget, mac)
	}
	return 0, fmt.Errorf("interfaceType %q", d.InterfaceType)
}

func (t *targets) Endpoint(d mp1api.DestinationInterface) (uint8, error) {
	var dst string
	if d.TunnelInfo != nil {
		dst = deref(d.TunnelInfo.TunnelDstAddress)
	}
	a, err := netip.ParseAddr(dst)
	if err != nil {
		return 0, fmt.Errorf("tunnelDstAddress %q: %w", dst, err)
	}
	for _, ep := range t.endpoints {
		if ep.Address.Unmap() == a.Unmap() {
			return ep.slot, nil
		}
	}
	return 0, fmt.Errorf("%w: no GTP-U endpoint %s", rules.ErrNoTarget, a)
}

// deref returns the optional string s points to ("" when absent).
func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
