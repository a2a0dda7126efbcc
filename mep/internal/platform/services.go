package platform

import (
	"bytes"
	"context"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/edgemec/edgemec/mep/internal/store"
	"github.com/edgemec/edgemec/mep/mp1api"
)

// Filter is a service query (ETSI GS MEC 011 §8.2.3.3.1). At most one of InstanceIDs, Names
// and CategoryID is set; the rest AND together.
type Filter struct {
	InstanceIDs       []string
	Names             []string
	CategoryID        *string
	ConsumedLocalOnly *bool
	IsLocal           *bool
	Scope             *mp1api.LocalityType
}

func (f *Filter) match(sv *service) bool {
	if f.InstanceIDs != nil && !slices.Contains(f.InstanceIDs, sv.id) {
		return false
	}
	if f.Names != nil && !slices.Contains(f.Names, sv.name) {
		return false
	}
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

func deref[T any](p *T) T {
	var z T
	if p == nil {
		return z
	}
	return *p
}

// Operator is the viewer id of the operator, who sees every service.
const Operator = ""

// visibleLocked implements the discovery policy: an app sees its own services and those it
// declared in appServiceRequired/appServiceOptional (by serName, or by serCategory id),
// from its AppD or its registration. The operator sees everything.
func (s *MEP) visibleLocked(viewer string, sv *service) bool {
	if viewer == Operator || sv.app == viewer {
		return true
	}
	a := s.apps[viewer]
	if a == nil {
		return false
	}
	match := func(deps *[]mp1api.ServiceDependency) bool {
		if deps == nil {
			return false
		}
		for _, d := range *deps {
			if d.SerName == sv.name {
				return true
			}
			if d.SerCategory != nil && sv.catID != "" && d.SerCategory.Id == sv.catID {
				return true
			}
		}
		return false
	}
	if match(a.Spec.AppServiceRequired) || match(a.Spec.AppServiceOptional) {
		return true
	}
	if r := a.Registration; r != nil && (match(r.AppServiceRequired) || match(r.AppServiceOptional)) {
		return true
	}
	return false
}

// Discover writes the JSON array of services visible to viewer that match f, optionally only
// those produced by producer. It appends precomputed representations: the hot path of Mp1.
func (s *MEP) Discover(viewer, producer string, f *Filter, buf *bytes.Buffer) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if producer != "" {
		if _, err := s.app(producer); err != nil {
			return err
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
	buf.WriteByte('[')
	first := true
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
		if !first {
			buf.WriteByte(',')
		}
		first = false
		buf.Write(sv.json)
	}
	buf.WriteByte(']')
	return nil
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

func (s *MEP) transport(id string) (mp1api.TransportInfo, bool) {
	for _, t := range s.cfg.Transports {
		if t.Id == id {
			return t, true
		}
	}
	return mp1api.TransportInfo{}, false
}

// Transports returns the transports offered to service producers.
func (s *MEP) Transports() []mp1api.TransportInfo { return s.cfg.Transports }

// RegisterService registers a service produced by app (Mp1 POST .../services).
func (s *MEP) RegisterService(ctx context.Context, app string, p mp1api.ServiceInfoPost) ([]byte, string, string, error) {
	if err := ValidateServiceInfoPost(&p); err != nil {
		return nil, "", "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a, err := s.app(app)
	if err != nil {
		return nil, "", "", err
	}
	if a.Termination != nil {
		return nil, "", "", conflict("app instance %q is terminating", app)
	}
	if n := s.appServices[app]; n >= s.cfg.MaxServicesPerApp {
		return nil, "", "", errf(ErrLimit, "app instance %q already has %d services", app, n)
	}
	var ti mp1api.TransportInfo
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
	info := mp1api.ServiceInfo{
		SerInstanceId: &id, SerName: p.SerName, SerCategory: p.SerCategory, Version: p.Version, State: p.State,
		TransportInfo: ti, Serializer: p.Serializer, ScopeOfLocality: p.ScopeOfLocality,
		ConsumedLocalOnly: p.ConsumedLocalOnly, IsLocal: p.IsLocal, LivenessInterval: p.LivenessInterval,
	}
	s.setLinks(app, &info)
	sv := newService(app, &info, s.cfg.Now())
	t := s.begin()
	t.put(store.KindService, id, sv.stored())
	s.notifyServiceChange(t, sv, mp1api.ADDED, "")
	t.then(func() { s.index(sv) })
	if err := t.commit(ctx); err != nil {
		return nil, "", "", err
	}
	return sv.json, sv.etag, s.serviceHref(app, id), nil
}

func (s *MEP) setLinks(app string, info *mp1api.ServiceInfo) {
	links := &mp1api.ServiceLinks{Self: mp1api.LinkType{Href: s.serviceHref(app, *info.SerInstanceId)}}
	if deref(info.LivenessInterval) > 0 {
		links.Liveness = &mp1api.LinkType{Href: s.serviceHref(app, *info.SerInstanceId) + "/liveness"}
	}
	info.UnderscoreLinks = links
}

// UpdateService replaces a service (Mp1 PUT). ifMatch, when set, must name the current ETag.
// The path id is authoritative; the MEP-owned _links are recomputed.
func (s *MEP) UpdateService(ctx context.Context, app, id, ifMatch string, info mp1api.ServiceInfo) ([]byte, string, error) {
	if err := ValidateServiceInfo(&info); err != nil {
		return nil, "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.app(app); err != nil {
		return nil, "", err
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
	change := mp1api.ATTRIBUTESCHANGED
	if info.State != old.state {
		change = mp1api.STATECHANGED
	}
	t := s.begin()
	t.put(store.KindService, id, sv.stored())
	s.notifyServiceChange(t, sv, change, "")
	if info.SerName != old.name { // subscribers filtering on the old name see it go
		s.notifyServiceChange(t, old, mp1api.REMOVED, "")
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
	s.notifyServiceChange(t, sv, mp1api.REMOVED, "")
	t.then(func() { s.unindex(sv) })
	return t.commit(ctx)
}

// Liveness returns the liveness resource of a service that has a livenessInterval.
func (s *MEP) Liveness(app, id string) (mp1api.ServiceLivenessInfo, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	sv, err := s.livenessService(app, id)
	if err != nil {
		return mp1api.ServiceLivenessInfo{}, err
	}
	return s.livenessInfo(sv), nil
}

func (s *MEP) livenessInfo(sv *service) mp1api.ServiceLivenessInfo {
	return mp1api.ServiceLivenessInfo{
		State: sv.state, Interval: sv.liveness,
		TimeStamp: mp1api.TimeStamp{Seconds: sv.heartbeat.Unix(), NanoSeconds: int32(sv.heartbeat.Nanosecond())},
	}
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

// Heartbeat records a liveness update (Mp1 PATCH liveness). state ACTIVE is the heartbeat;
// it reactivates a service that went INACTIVE for silence. INACTIVE takes it down.
func (s *MEP) Heartbeat(ctx context.Context, app, id string, u mp1api.ServiceLivenessUpdate) (mp1api.ServiceLivenessInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sv, err := s.livenessService(app, id)
	if err != nil {
		return mp1api.ServiceLivenessInfo{}, err
	}
	now := s.cfg.Now()
	if sv.state == u.State {
		sv.heartbeat = now
		return s.livenessInfo(sv), nil
	}
	if err := s.setServiceStateLocked(ctx, sv, u.State, now); err != nil {
		return mp1api.ServiceLivenessInfo{}, err
	}
	return s.livenessInfo(s.services[id]), nil
}

func (s *MEP) setServiceStateLocked(ctx context.Context, sv *service, st mp1api.ServiceState, now time.Time) error {
	info := sv.info()
	info.State = st
	n := newService(sv.app, &info, now)
	t := s.begin()
	t.put(store.KindService, sv.id, n.stored())
	s.notifyServiceChange(t, n, mp1api.STATECHANGED, "")
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
		if iv <= 0 || sv.state != mp1api.ServiceStateACTIVE {
			continue
		}
		limit := time.Duration(float64(iv) * s.cfg.LivenessGrace * float64(time.Second))
		if now.Sub(sv.heartbeat) <= limit {
			continue
		}
		s.log.WarnContext(ctx, "service missed its heartbeats", "service_id", sv.id,
			"app_instance_id", sv.app, "interval_s", iv)
		if err := s.setServiceStateLocked(ctx, sv, mp1api.ServiceStateINACTIVE, sv.heartbeat); err != nil {
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
