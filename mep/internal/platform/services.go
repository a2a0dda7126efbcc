package platform

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/edgemec/edgemec/mep/internal/store"
)

// Filter is a service query (ETSI GS MEC 011 §8.2.3.3.1). At most one of InstanceIDs, Names
// and CategoryID is set; the rest AND together. InstanceIDs and Names hold at most
// MaxQueryItems entries.
type Filter struct {
	InstanceIDs       []string
	Names             []string
	CategoryID        *string
	ConsumedLocalOnly *bool
	IsLocal           *bool
	Scope             *LocalityType
}

// MaxQueryItems bounds the values of one list query parameter (ser_instance_id, ser_name):
// discovery runs under the site lock, and its work must stay bounded per request.
const MaxQueryItems = maxList

func (f *Filter) match(sv *service) bool {
	if f.CategoryID != nil && (sv.catID == "" || sv.catID != *f.CategoryID) {
		return false
	}
	if f.ConsumedLocalOnly != nil && sv.consumedLocal != *f.ConsumedLocalOnly {
		return false
	}
	if f.IsLocal != nil && sv.isLocal != *f.IsLocal {
		return false
	}
	if f.Scope != nil && (sv.scope == "" || sv.scope != *f.Scope) {
		return false
	}
	return true
}

func (f *Filter) check() error {
	if len(f.InstanceIDs) > MaxQueryItems {
		return invalid("ser_instance_id has more than %d values", MaxQueryItems)
	}
	if len(f.Names) > MaxQueryItems {
		return invalid("ser_name has more than %d values", MaxQueryItems)
	}
	return nil
}

func deref[T any](p *T) T {
	var z T
	if p == nil {
		return z
	}
	return *p
}

// Operator is the viewer id of the operator, who sees every service.
const Operator = ""

// DiscoveryScope is the site's discovery policy: which other apps' services an app sees.
type DiscoveryScope string

// The discovery policies.
const (
	// ScopeDeclared: an app sees its own services and those it declared in
	// appServiceRequired/appServiceOptional (by serName, or by serCategory id), from its
	// AppD or its registration.
	ScopeDeclared DiscoveryScope = "declared"
	// ScopeAll: every app sees every service of the site.
	ScopeAll DiscoveryScope = "all"
)

// ParseDiscoveryScope parses a discovery policy name.
func ParseDiscoveryScope(v string) (DiscoveryScope, error) {
	switch d := DiscoveryScope(v); d {
	case ScopeDeclared, ScopeAll:
		return d, nil
	}
	return "", fmt.Errorf("discovery scope %q: want declared or all", v)
}

// visibleLocked implements the discovery policy (Config.DiscoveryScope). The operator sees
// everything. It costs two map look-ups whatever the app declared.
func (s *MEP) visibleLocked(viewer string, sv *service) bool {
	if viewer == Operator || sv.app == viewer {
		return true
	}
	a := s.apps[viewer]
	if a == nil {
		return false
	}
	if s.cfg.DiscoveryScope == ScopeAll {
		return true
	}
	d := a.sees
	if d == nil {
		d = newDeclaredSet(a)
	}
	if _, ok := d.names[sv.name]; ok {
		return true
	}
	if sv.catID != "" {
		if _, ok := d.cats[sv.catID]; ok {
			return true
		}
	}
	return false
}

// Discover writes the JSON array of services visible to viewer that match f, optionally only
// those produced by producer (see DiscoverParts).
func (s *MEP) Discover(viewer, producer string, f *Filter, w io.Writer) error {
	parts, err := s.DiscoverParts(viewer, producer, f)
	if err != nil {
		return err
	}
	_, err = WriteArray(w, parts)
	return err
}

// DiscoverParts returns the representations of the services visible to viewer that match
// f, optionally only those produced by producer, in serInstanceId order. The parts are the
// services' stored representations themselves, which are never modified (a change
// replaces them): a discovery costs a slice of references, not a copy of the documents,
// and the site lock is not held while the answer is written.
func (s *MEP) DiscoverParts(viewer, producer string, f *Filter) ([][]byte, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if producer != "" {
		if _, err := s.app(producer); err != nil {
			return nil, err
		}
	}
	var cands []*service
	switch {
	case f.Names != nil:
		for _, n := range f.Names {
			for _, sv := range s.byName[n] {
				cands = append(cands, sv)
			}
		}
	case f.InstanceIDs != nil:
		for _, id := range f.InstanceIDs {
			if sv := s.services[id]; sv != nil {
				cands = append(cands, sv)
			}
		}
	default:
		cands = make([]*service, 0, len(s.services))
		for _, sv := range s.services {
			cands = append(cands, sv)
		}
	}
	sort.Slice(cands, func(i, j int) bool { return cands[i].id < cands[j].id })
	var parts [][]byte
	for i, sv := range cands {
		if i > 0 && sv == cands[i-1] { // a name or id listed twice
			continue
		}
		if producer != "" && sv.app != producer {
			continue
		}
		if !f.match(sv) || !s.visibleLocked(viewer, sv) {
			continue
		}
		parts = append(parts, sv.json)
	}
	return parts, nil
}

// WriteArray writes parts, each a JSON value, as one JSON array.
func WriteArray(w io.Writer, parts [][]byte) (int64, error) {
	var n int64
	write := func(b []byte) error {
		m, err := w.Write(b)
		n += int64(m)
		return err
	}
	if err := write([]byte{'['}); err != nil {
		return n, err
	}
	for i, p := range parts {
		if i > 0 {
			if err := write([]byte{','}); err != nil {
				return n, err
			}
		}
		if err := write(p); err != nil {
			return n, err
		}
	}
	return n, write([]byte{']'})
}

// ArrayLen is the length of the array WriteArray writes.
func ArrayLen(parts [][]byte) int {
	n := 2 + max(len(parts)-1, 0)
	for _, p := range parts {
		n += len(p)
	}
	return n
}

// Service returns one service's representation and ETag if viewer may see it (else 404, to
// not reveal its existence). producer, when set, must be its producing app.
func (s *MEP) Service(viewer, producer, id string) ([]byte, string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if producer != "" {
		if _, err := s.app(producer); err != nil {
			return nil, "", err
		}
	}
	sv := s.services[id]
	if sv == nil || (producer != "" && sv.app != producer) || !s.visibleLocked(viewer, sv) {
		return nil, "", notFound("service %q is not known", id)
	}
	return sv.json, sv.etag, nil
}

func (s *MEP) transport(id string) (TransportInfo, bool) {
	for _, t := range s.cfg.Transports {
		if t.Id == id {
			return t, true
		}
	}
	return TransportInfo{}, false
}

// Transports returns the transports offered to service producers.
func (s *MEP) Transports() []TransportInfo { return s.cfg.Transports }

// declared reports whether app a may produce a service named serName in category cat:
// its Mm5 instance declares it in appServiceProduced, by serName and, where the
// declaration gives one, by category id. The error is ErrForbidden naming the field.
func declared(a *appDoc, serName string, cat *CategoryRef) error {
	var ds []ServiceDescriptor
	if a.Spec.AppServiceProduced != nil {
		ds = *a.Spec.AppServiceProduced
	}
	nameKnown := false
	for _, d := range ds {
		if d.SerName != serName {
			continue
		}
		nameKnown = true
		if d.SerCategory == nil || cat != nil && cat.Id == d.SerCategory.Id {
			return nil
		}
	}
	if nameKnown {
		return errf(ErrForbidden, "/serCategory: app instance %q declares service %q in another category (appServiceProduced)", a.ID, serName)
	}
	return errf(ErrForbidden, "/serName: app instance %q does not declare a service %q (appServiceProduced)", a.ID, serName)
}

// RegisterService registers a service produced by app (Mp1 POST .../services) for actor
// (Operator, or the app itself). An app registers only the services its instance declares
// (declared); the operator registers anything.
func (s *MEP) RegisterService(ctx context.Context, actor, app string, p ServiceInfoPost) ([]byte, string, string, error) {
	if err := ValidateServiceInfoPost(&p); err != nil {
		return nil, "", "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a, err := s.app(app)
	if err != nil {
		return nil, "", "", err
	}
	if actor != Operator {
		if err := declared(a, p.SerName, p.SerCategory); err != nil {
			return nil, "", "", err
		}
	}
	if a.Termination != nil {
		return nil, "", "", conflict("app instance %q is %s", app, flowWord(a.Termination.Action))
	}
	if n := s.appServices[app]; n >= s.cfg.MaxServicesPerApp {
		return nil, "", "", errf(ErrLimit, "app instance %q already has %d services", app, n)
	}
	var ti TransportInfo
	if p.TransportId != nil {
		t, ok := s.transport(*p.TransportId)
		if !ok {
			return nil, "", "", invalid("transportId %q is not offered by this platform (see GET /transports)", *p.TransportId)
		}
		ti = t
	} else {
		ti = *p.TransportInfo
	}
	id := newID()
	info := ServiceInfo{
		SerInstanceId: &id, SerName: p.SerName, SerCategory: p.SerCategory, Version: p.Version, State: p.State,
		TransportInfo: ti, Serializer: p.Serializer, ScopeOfLocality: p.ScopeOfLocality,
		ConsumedLocalOnly: p.ConsumedLocalOnly, IsLocal: p.IsLocal, LivenessInterval: p.LivenessInterval,
	}
	s.setLinks(app, &info)
	sv := newService(app, &info, s.cfg.Now())
	if err := s.fitsLocked(a, sv, nil); err != nil {
		return nil, "", "", err
	}
	t := s.begin()
	t.put(store.KindService, id, sv.stored())
	s.notifyServiceChange(t, sv, ServiceAdded, "")
	t.then(func() { s.index(sv) })
	if err := t.commit(ctx); err != nil {
		return nil, "", "", err
	}
	return sv.json, sv.etag, s.serviceHref(app, id), nil
}

func (s *MEP) setLinks(app string, info *ServiceInfo) {
	links := &ServiceLinks{Self: LinkType{Href: s.serviceHref(app, *info.SerInstanceId)}}
	if deref(info.LivenessInterval) > 0 {
		links.Liveness = &LinkType{Href: s.serviceHref(app, *info.SerInstanceId) + "/liveness"}
	}
	info.UnderscoreLinks = links
}

// UpdateService replaces a service (Mp1 PUT) for actor (Operator, or the app itself), which
// an app may only keep among its declared services. ifMatch, when set, must name the
// current ETag. The path id is authoritative; the MEP-owned _links are recomputed.
func (s *MEP) UpdateService(ctx context.Context, actor, app, id, ifMatch string, info ServiceInfo) ([]byte, string, error) {
	if err := ValidateServiceInfo(&info); err != nil {
		return nil, "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a, err := s.app(app)
	if err != nil {
		return nil, "", err
	}
	if actor != Operator {
		if err := declared(a, info.SerName, info.SerCategory); err != nil {
			return nil, "", err
		}
	}
	old := s.services[id]
	if old == nil || old.app != app {
		return nil, "", notFound("service %q is not registered by app instance %q", id, app)
	}
	if !ifMatchOK(ifMatch, old.etag) {
		return nil, "", errf(ErrPreconditionFailed, "If-Match %s does not match the current ETag %s", ifMatch, old.etag)
	}
	info.SerInstanceId = &id
	s.setLinks(app, &info)
	sv := newService(app, &info, s.cfg.Now())
	if sv.etag == old.etag {
		return old.json, old.etag, nil
	}
	if err := s.fitsLocked(a, sv, old); err != nil {
		return nil, "", err
	}
	change := ServiceAttributesChanged
	if info.State != old.state {
		change = ServiceStateChanged
	}
	t := s.begin()
	t.put(store.KindService, id, sv.stored())
	s.notifyServiceChange(t, sv, change, "")
	if info.SerName != old.name { // subscribers filtering on the old name see it go
		s.notifyServiceChange(t, old, ServiceRemoved, "")
	}
	t.then(func() { s.index(sv) })
	if err := t.commit(ctx); err != nil {
		return nil, "", err
	}
	return sv.json, sv.etag, nil
}

// DeleteService deregisters a service (Mp1 DELETE).
func (s *MEP) DeleteService(ctx context.Context, app, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.app(app); err != nil {
		return err
	}
	sv := s.services[id]
	if sv == nil || sv.app != app {
		return notFound("service %q is not registered by app instance %q", id, app)
	}
	t := s.begin()
	t.del(store.KindService, id)
	s.notifyServiceChange(t, sv, ServiceRemoved, "")
	t.then(func() { s.unindex(sv) })
	return t.commit(ctx)
}

// fitsLocked checks the storage limits for a service sv of app a that replaces old (nil for
// a new one): its representation within MaxServiceBytes, the app's services and
// registration within MaxAppBytes.
func (s *MEP) fitsLocked(a *appDoc, sv, old *service) error {
	if len(sv.json) > s.cfg.MaxServiceBytes {
		return errf(ErrTooLarge, "the service's representation has %d bytes, more than the %d a service may hold", len(sv.json), s.cfg.MaxServiceBytes)
	}
	total := s.appServiceBytes[a.ID] + a.regBytes + len(sv.json)
	if old != nil {
		total -= len(old.json)
	}
	if total > s.cfg.MaxAppBytes {
		return errf(ErrLimit, "app instance %q would hold %d bytes of services and registration, more than %d", a.ID, total, s.cfg.MaxAppBytes)
	}
	return nil
}

// Liveness returns the liveness resource of a service that has a livenessInterval.
func (s *MEP) Liveness(app, id string) (Liveness, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	sv, err := s.livenessService(app, id)
	if err != nil {
		return Liveness{}, err
	}
	return sv.livenessInfo(), nil
}

func (sv *service) livenessInfo() Liveness {
	return Liveness{State: sv.state, Interval: sv.liveness, LastHeartbeat: sv.heartbeat}
}

func (s *MEP) livenessService(app, id string) (*service, error) {
	if _, err := s.app(app); err != nil {
		return nil, err
	}
	sv := s.services[id]
	if sv == nil || sv.app != app {
		return nil, notFound("service %q is not registered by app instance %q", id, app)
	}
	if sv.liveness <= 0 {
		return nil, notFound("service %q has no liveness resource (no livenessInterval)", id)
	}
	return sv, nil
}

// Heartbeat records a liveness update (Mp1 PATCH liveness) with the state the service
// reports. ACTIVE is the heartbeat; it reactivates a service that went INACTIVE for
// silence. INACTIVE takes it down.
func (s *MEP) Heartbeat(ctx context.Context, app, id string, state ServiceState) (Liveness, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sv, err := s.livenessService(app, id)
	if err != nil {
		return Liveness{}, err
	}
	now := s.cfg.Now()
	if sv.state == state {
		sv.heartbeat = now
		return sv.livenessInfo(), nil
	}
	if err := s.setServiceStateLocked(ctx, sv, state, now); err != nil {
		return Liveness{}, err
	}
	return s.services[id].livenessInfo(), nil
}

func (s *MEP) setServiceStateLocked(ctx context.Context, sv *service, st ServiceState, now time.Time) error {
	info := sv.info()
	info.State = st
	n := newService(sv.app, &info, now)
	t := s.begin()
	t.put(store.KindService, sv.id, n.stored())
	s.notifyServiceChange(t, n, ServiceStateChanged, "")
	t.then(func() { s.index(n) })
	return t.commit(ctx)
}

// CheckLiveness turns ACTIVE services whose heartbeats stopped INACTIVE (STATE_CHANGED
// notifications go out). Run calls it periodically.
func (s *MEP) CheckLiveness(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.Now()
	for _, sv := range s.services {
		iv := sv.liveness
		if iv <= 0 || sv.state != ServiceActive {
			continue
		}
		limit := time.Duration(float64(iv) * s.cfg.LivenessGrace * float64(time.Second))
		if now.Sub(sv.heartbeat) <= limit {
			continue
		}
		s.log.WarnContext(ctx, "service missed its heartbeats", "service_id", sv.id,
			"app_instance_id", sv.app, "interval_s", iv)
		if err := s.setServiceStateLocked(ctx, sv, ServiceInactive, sv.heartbeat); err != nil {
			s.log.ErrorContext(ctx, "deactivate silent service", "service_id", sv.id, "error", err)
		}
	}
}

// ifMatchOK evaluates an If-Match header against the current (strong) ETag, as RFC 9110
// §13.1.1 says: empty (no precondition) and "*" pass, otherwise one of the listed entity
// tags must equal it by strong comparison, so a weak tag (W/"...") never matches.
func ifMatchOK(ifMatch, cur string) bool {
	ifMatch = strings.TrimSpace(ifMatch)
	if ifMatch == "" || ifMatch == "*" {
		return true
	}
	for _, tag := range strings.Split(ifMatch, ",") {
		if strings.TrimSpace(tag) == cur {
			return true
		}
	}
	return false
}
