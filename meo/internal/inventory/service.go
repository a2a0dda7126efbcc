package inventory

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/edgemec/edgemec/internal/obs/logkeys"
	"github.com/edgemec/edgemec/meo/internal/inventory/record"
	"github.com/edgemec/edgemec/meo/internal/orchestrate"
	"github.com/edgemec/edgemec/meo/internal/placement"
	"github.com/edgemec/edgemec/meo/internal/reconcile"
	"github.com/edgemec/edgemec/meo/internal/store"
	"github.com/prometheus/client_golang/prometheus"
)

// Store is what the inventory keeps its sites in (pgstore.Store). Missing sites give errors
// matching store.ErrNotFound, a duplicate id store.ErrConflict, a delete of a site in use
// record.ErrInUse.
type Store interface {
	CreateSite(ctx context.Context, s *record.Site, probeIn time.Duration) (*record.Site, error)
	GetSite(ctx context.Context, id string) (*record.Site, error)
	ListSites(ctx context.Context, q record.ListQuery) (record.Page, error)
	UpdateSite(ctx context.Context, id string, change func(*record.Site) error) (*record.Site, error)
	DeleteSite(ctx context.Context, id string) error
	SiteIDs(ctx context.Context) ([]string, error)
	ClaimProbes(ctx context.Context, n int, interval time.Duration) ([]*record.Site, error)
	SaveProbe(ctx context.Context, id string, generation int64, p record.Probe) error
	// SiteUsage is for the sites named, or every site when none is.
	SiteUsage(ctx context.Context, ids ...string) (map[string]record.Usage, error)
	// SiteHealth counts the sites per health class (healthy, unreachable, unknown).
	SiteHealth(ctx context.Context) (map[string]int, error)
	DrainStore
}

// Config tunes a Service. Zero values take the documented defaults.
type Config struct {
	// Box seals the sites' secrets; nil means no key is configured, and sites (which all
	// have a MEP token) cannot be registered.
	Box *Box
	// Interval is how often each site is probed (default 30 s).
	Interval time.Duration
	// ProbeTimeout bounds each side's probe (default 10 s, at most Interval).
	ProbeTimeout time.Duration
	// Batch is how many due sites one claim takes (default 16); they are probed
	// concurrently.
	Batch int
	// Registerer receives the metrics (nil: not registered).
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

// Service is the inventory.
type Service struct {
	cfg Config
	st  Store
	log *slog.Logger
	m   *metrics

	mu    sync.Mutex
	conns map[string]*conn
}

var _ orchestrate.Sites = (*Service)(nil)

// New returns a Service on st.
func New(cfg Config, st Store) (*Service, error) {
	if cfg.Interval <= 0 {
		cfg.Interval = 30 * time.Second
	}
	if cfg.ProbeTimeout <= 0 {
		cfg.ProbeTimeout = 10 * time.Second
	}
	cfg.ProbeTimeout = min(cfg.ProbeTimeout, cfg.Interval)
	if cfg.Batch <= 0 {
		cfg.Batch = 16
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	return &Service{cfg: cfg, st: st, log: cfg.Logger, m: m, conns: map[string]*conn{}}, nil
}

// Close closes every cached connection.
func (s *Service) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, c := range s.conns {
		c.close()
		delete(s.conns, id)
	}
}

func field(id, name string) string { return "site/" + id + "/" + name }

// mapStore turns store errors into the Service's.
func mapStore(err error, id string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound):
		return errorf(ErrNotFound, "site %s not found", id)
	case errors.Is(err, store.ErrConflict):
		return errorf(ErrExists, "site %s is already registered", id)
	case errors.Is(err, record.ErrInUse):
		return errorf(ErrInUse, "site %s: app instances are still placed on it; terminate or move them first", id)
	}
	return err
}

// Register checks a spec, checks that its MEP and VIM answer, and stores the site.
func (s *Service) Register(ctx context.Context, spec Spec) (View, error) {
	if spec.Name == "" {
		spec.Name = spec.ID
	}
	if err := spec.Validate(); err != nil {
		return View{}, err
	}
	if s.cfg.Box == nil {
		return View{}, errorf(ErrNoKey, "the MEO has no secret key (--secret-key-file), so it cannot store the site's secrets")
	}
	if _, err := s.st.GetSite(ctx, spec.ID); err == nil {
		return View{}, errorf(ErrExists, "site %s is already registered", spec.ID)
	} else if !errors.Is(err, store.ErrNotFound) {
		return View{}, err
	}
	c, res, err := s.check(ctx, spec.ID, spec)
	if err != nil {
		return View{}, err
	}
	r := &record.Site{ID: spec.ID, Generation: 1}
	if err := s.fill(r, spec); err != nil {
		c.close()
		return View{}, err
	}
	now := time.Now()
	r.MEPHealth, r.VIMHealth = healthy(now), healthy(now)
	r.Capacity, r.CapacityAt = &res.caps, &now
	out, err := s.st.CreateSite(ctx, r, s.cfg.Interval)
	if err != nil {
		c.close()
		return View{}, mapStore(err, spec.ID)
	}
	s.cache(out.ID, out.Generation, c)
	s.log.InfoContext(ctx, "site registered", logkeys.Site, out.ID, logkeys.Kind, string(out.VIM.Kind))
	return view(out, record.Usage{}), nil
}

func healthy(now time.Time) record.Health {
	t := true
	return record.Health{Reachable: &t, LastSeen: &now, CheckedAt: &now}
}

// check dials a site and probes both sides; on success the connection is returned open.
func (s *Service) check(ctx context.Context, id string, spec Spec) (*conn, probeResult, error) {
	c, err := dial(id, spec, s.log)
	if err != nil {
		return nil, probeResult{}, err
	}
	res := probe(ctx, c, spec.MEP.Endpoint, s.cfg.ProbeTimeout)
	if res.mepErr != nil || res.vimErr != nil {
		c.close()
		return nil, res, &CheckError{MEP: res.mepErr, VIM: res.vimErr}
	}
	return c, res, nil
}

// fill sets a record's settings from a spec, sealing its secrets.
func (s *Service) fill(r *record.Site, spec Spec) error {
	r.Name, r.Labels, r.Location, r.MP1Endpoint = spec.Name, spec.Labels, spec.Location, spec.MP1Endpoint
	tok, err := s.cfg.Box.Seal([]byte(spec.MEP.Token), field(spec.ID, "mep.token"))
	if err != nil {
		return err
	}
	r.MEP = record.MEP{Endpoint: spec.MEP.Endpoint, Token: tok, CACert: spec.MEP.CACert}
	r.VIM = record.VIM{Kind: spec.VIM.Kind, LibvirtURI: spec.VIM.LibvirtURI, LibvirtSocket: spec.VIM.LibvirtSocket}
	if spec.VIM.Kubeconfig != "" {
		if r.VIM.Kubeconfig, err = s.cfg.Box.Seal([]byte(spec.VIM.Kubeconfig), field(spec.ID, "vim.kubeconfig")); err != nil {
			return err
		}
	}
	r.FiveG, err = s.sealFiveG(spec.ID, spec.FiveG)
	return err
}

// spec recovers a record's settings in clear.
func (s *Service) spec(r *record.Site) (Spec, error) {
	sp := Spec{ID: r.ID, Name: r.Name, Labels: r.Labels, Location: r.Location, MP1Endpoint: r.MP1Endpoint,
		MEP: MEPSpec{Endpoint: r.MEP.Endpoint, CACert: r.MEP.CACert},
		VIM: VIMSpec{Kind: r.VIM.Kind, LibvirtURI: r.VIM.LibvirtURI, LibvirtSocket: r.VIM.LibvirtSocket}}
	if r.MEP.Token != nil {
		b, err := s.cfg.Box.Open(r.MEP.Token, field(r.ID, "mep.token"))
		if err != nil {
			return Spec{}, fmt.Errorf("site %s: %w", r.ID, err)
		}
		sp.MEP.Token = string(b)
	}
	if r.VIM.Kubeconfig != nil {
		b, err := s.cfg.Box.Open(r.VIM.Kubeconfig, field(r.ID, "vim.kubeconfig"))
		if err != nil {
			return Spec{}, fmt.Errorf("site %s: %w", r.ID, err)
		}
		sp.VIM.Kubeconfig = string(b)
	}
	var err error
	if sp.FiveG, err = s.openFiveG(r.ID, r.FiveG); err != nil {
		return Spec{}, err
	}
	return sp, nil
}

// sealedSpec is a record's settings with placeholders for its secrets.
func sealedSpec(r *record.Site) Spec {
	sp := Spec{ID: r.ID, Name: r.Name, Labels: r.Labels, Location: r.Location, MP1Endpoint: r.MP1Endpoint,
		MEP: MEPSpec{Endpoint: r.MEP.Endpoint, CACert: r.MEP.CACert, Token: "(sealed)"},
		VIM: VIMSpec{Kind: r.VIM.Kind, LibvirtURI: r.VIM.LibvirtURI, LibvirtSocket: r.VIM.LibvirtSocket}}
	if r.VIM.Kubeconfig != nil {
		sp.VIM.Kubeconfig = "(sealed)"
	}
	return sp
}

// Get returns one site.
func (s *Service) Get(ctx context.Context, id string) (View, error) {
	r, err := s.st.GetSite(ctx, id)
	if err != nil {
		return View{}, mapStore(err, id)
	}
	usage, err := s.st.SiteUsage(ctx, id)
	if err != nil {
		return View{}, err
	}
	v := []View{view(r, usage[id])}
	if err := s.drains(ctx, v); err != nil {
		return View{}, err
	}
	return v[0], nil
}

// ListQuery selects a page of sites.
type ListQuery = record.ListQuery

// Page is a page of sites; Next is the position to continue after (0 on the last page).
type Page struct {
	Sites []View
	Next  int64
}

// List returns a page of sites.
func (s *Service) List(ctx context.Context, q ListQuery) (Page, error) {
	p, err := s.st.ListSites(ctx, q)
	if err != nil {
		return Page{}, err
	}
	ids := make([]string, 0, len(p.Sites))
	for _, r := range p.Sites {
		ids = append(ids, r.ID)
	}
	usage := map[string]record.Usage{}
	if len(ids) > 0 {
		usage, err = s.st.SiteUsage(ctx, ids...)
	}
	if err != nil {
		return Page{}, err
	}
	out := Page{Sites: make([]View, 0, len(p.Sites)), Next: p.Next}
	for _, r := range p.Sites {
		out.Sites = append(out.Sites, view(r, usage[r.ID]))
	}
	if err := s.drains(ctx, out.Sites); err != nil {
		return Page{}, err
	}
	return out, nil
}

// Update applies a patch. A change of connection (MEP, VIM, mp1Endpoint, secrets included)
// is checked as at registration before anything is stored, and replaces the cached
// connection.
func (s *Service) Update(ctx context.Context, id string, p Patch) (View, error) {
	cur, err := s.st.GetSite(ctx, id)
	if err != nil {
		return View{}, mapStore(err, id)
	}
	if (p.MEP != nil || p.VIM != nil) && s.cfg.Box == nil {
		return View{}, errorf(ErrNoKey, "the MEO has no secret key (--secret-key-file), so it cannot change the site's connection")
	}
	sp, err := s.spec(cur)
	if err != nil {
		// Without the secrets in clear only the descriptive attributes can change; the
		// placeholders stand for the sealed secrets, which stay as they are.
		sp, err = sealedSpec(cur), errorf(ErrNoKey, "site %s: its secrets cannot be opened with this MEO's key, so its connection cannot change", id)
	}
	connChanged := sp.apply(p)
	if connChanged && err != nil {
		return View{}, err
	}
	var fiveG *record.FiveG
	if p.FiveG != nil {
		if s.cfg.Box == nil {
			return View{}, errorf(ErrNoKey, "the MEO has no secret key (--secret-key-file), so it cannot store the site's NEF credentials")
		}
		if probs := p.FiveG.problems(id); len(probs) > 0 {
			return View{}, &InvalidError{Problems: probs}
		}
		if fiveG, err = s.sealFiveG(id, p.FiveG); err != nil {
			return View{}, err
		}
	}
	if connChanged {
		if err := sp.Validate(); err != nil {
			return View{}, err
		}
	} else if probs := sp.infoProblems(); len(probs) > 0 {
		return View{}, &InvalidError{Problems: probs}
	}
	var (
		c   *conn
		res probeResult
	)
	if connChanged {
		if c, res, err = s.check(ctx, id, sp); err != nil {
			return View{}, err
		}
	}
	out, err := s.st.UpdateSite(ctx, id, func(r *record.Site) error {
		if r.Generation != cur.Generation {
			return errorf(ErrExists, "site %s changed meanwhile; retry", id)
		}
		if !connChanged {
			r.Name, r.Labels, r.Location = sp.Name, sp.Labels, sp.Location
			if p.FiveG != nil {
				r.FiveG = fiveG
			}
			return nil
		}
		if err := s.fill(r, sp); err != nil {
			return err
		}
		now := time.Now()
		r.Generation++
		r.MEPHealth, r.VIMHealth = healthy(now), healthy(now)
		r.Capacity, r.CapacityAt = &res.caps, &now
		return nil
	})
	if err != nil {
		if c != nil {
			c.close()
		}
		return View{}, mapStore(err, id)
	}
	if c != nil {
		s.cache(id, out.Generation, c)
		s.log.InfoContext(ctx, "site connection changed", logkeys.Site, id)
	}
	return s.Get(ctx, id)
}

// Delete removes a site no app instance is placed on.
func (s *Service) Delete(ctx context.Context, id string) error {
	if err := s.st.DeleteSite(ctx, id); err != nil {
		return mapStore(err, id)
	}
	s.mu.Lock()
	if c := s.conns[id]; c != nil {
		c.close()
		delete(s.conns, id)
	}
	s.mu.Unlock()
	s.log.InfoContext(ctx, "site deleted", logkeys.Site, id)
	return nil
}

// Cordon makes a site unschedulable: placement no longer chooses it; its instances stay.
func (s *Service) Cordon(ctx context.Context, id string) (View, error) {
	return s.setFlags(ctx, id, true, false)
}

// Uncordon makes a site schedulable again and ends a drain.
func (s *Service) Uncordon(ctx context.Context, id string) (View, error) {
	return s.setFlags(ctx, id, false, false)
}

// Drain cordons a site and marks it draining: the orchestrator moves its instances
// elsewhere (meo/internal/orchestrate/drain.go) and records its progress (state.drain).
// Cordon and Uncordon end a drain.
func (s *Service) Drain(ctx context.Context, id string) (View, error) {
	return s.setFlags(ctx, id, true, true)
}

func (s *Service) setFlags(ctx context.Context, id string, cordoned, draining bool) (View, error) {
	_, err := s.st.UpdateSite(ctx, id, func(r *record.Site) error {
		r.Cordoned, r.Draining = cordoned, draining
		return nil
	})
	if err != nil {
		return View{}, mapStore(err, id)
	}
	if !draining {
		// The drain ended: its progress goes (relocations already placed finish).
		if err := s.st.ClearSiteDrain(ctx, id); err != nil {
			return View{}, err
		}
	}
	switch {
	case draining:
		s.log.InfoContext(ctx, "site draining", logkeys.Site, id)
	case cordoned:
		s.log.InfoContext(ctx, "site cordoned", logkeys.Site, id)
	default:
		s.log.InfoContext(ctx, "site uncordoned", logkeys.Site, id)
	}
	return s.Get(ctx, id)
}

// Placement returns every site, or the sites of ids, as placement sees it
// (orchestrate.Sites).
func (s *Service) Placement(ctx context.Context, ids ...string) ([]placement.Site, error) {
	var recs []*record.Site
	if len(ids) == 0 {
		p, err := s.st.ListSites(ctx, record.ListQuery{})
		if err != nil {
			return nil, err
		}
		recs = p.Sites
	} else {
		for _, id := range ids {
			r, err := s.st.GetSite(ctx, id)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, err
			}
			recs = append(recs, r)
		}
	}
	usage, err := s.st.SiteUsage(ctx, ids...)
	if err != nil {
		return nil, err
	}
	out := make([]placement.Site, 0, len(recs))
	for _, r := range recs {
		ps := placement.Site{ID: r.ID, Name: r.Name, Labels: r.Labels, Schedulable: !r.Cordoned,
			MEPReachable: reachable(r.MEPHealth), VIMReachable: reachable(r.VIMHealth), VIMKind: r.VIM.Kind,
			Location: r.Location, Committed: usage[r.ID].Committed, Instances: usage[r.ID].Instances}
		if r.Capacity != nil {
			ps.Capabilities = *r.Capacity
		}
		out = append(out, ps)
	}
	return out, nil
}

func reachable(h record.Health) bool { return h.Reachable != nil && *h.Reachable }

// IDs lists every site id (orchestrate.Sites).
func (s *Service) IDs(ctx context.Context) ([]string, error) { return s.st.SiteIDs(ctx) }

// Connect returns the site's MEP client and VIM adapter (orchestrate.Sites), cached until the
// site's connection settings change.
func (s *Service) Connect(ctx context.Context, id string) (reconcile.Site, error) {
	r, err := s.st.GetSite(ctx, id)
	if err != nil {
		return reconcile.Site{}, mapStore(err, id)
	}
	c, err := s.conn(r)
	if err != nil {
		return reconcile.Site{}, err
	}
	return c.site, nil
}

// conn returns the cached connection of a record's generation, dialling a new one (and
// closing the old) when the generation moved.
func (s *Service) conn(r *record.Site) (*conn, error) {
	s.mu.Lock()
	c := s.conns[r.ID]
	s.mu.Unlock()
	if c != nil && c.gen == r.Generation {
		return c, nil
	}
	sp, err := s.spec(r)
	if err != nil {
		return nil, err
	}
	c, err = dial(r.ID, sp, s.log)
	if err != nil {
		return nil, fmt.Errorf("site %s: %w", r.ID, err)
	}
	return s.cache(r.ID, r.Generation, c), nil
}

// cache keeps c as the connection of generation gen unless a newer one is cached, and
// returns the one kept.
func (s *Service) cache(id string, gen int64, c *conn) *conn {
	c.gen = gen
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.conns[id]
	if old != nil && old.gen >= gen {
		if old != c {
			c.close()
		}
		return old
	}
	if old != nil {
		old.close()
	}
	s.conns[id] = c
	return c
}
