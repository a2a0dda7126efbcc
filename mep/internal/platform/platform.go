// Package platform is the domain core of a MEP: the app instances on the site, their services,
// subscriptions, traffic and DNS rules, the termination flow, service liveness, and the
// versioned rule feeds. State lives in memory for fast reads and every change is written
// through the store in one atomic batch before it becomes visible, so nothing acknowledged is
// lost on a crash. Notifications are queued in the same batch (the outbox) and delivered by
// the Notifier.
package platform

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/edgemec/edgemec/internal/mecrule"
	"github.com/edgemec/edgemec/mep/internal/store"
)

// Subscription type names of ETSI GS MEC 011.
const (
	SerAvailSubscriptionType = "SerAvailabilityNotificationSubscription"
	AppTermSubscriptionType  = "AppTerminationNotificationSubscription"
)

// Config configures a MEP.
type Config struct {
	// APIRoot is the externally visible apiRoot (scheme://host:port) used in links.
	APIRoot string
	// GracefulTimeout is the default maxGracefulTimeout of a termination (default 10 s).
	GracefulTimeout time.Duration
	// LivenessGrace multiplies livenessInterval before a silent service turns INACTIVE (default 1.5).
	LivenessGrace float64
	// Transports are the transports offered by GET /transports (default: one REST_HTTP).
	Transports []TransportInfo
	// MaxServicesPerApp and MaxSubscriptionsPerApp bound per-app state (defaults 1000, 100).
	MaxServicesPerApp      int
	MaxSubscriptionsPerApp int
	// MaxServiceBytes bounds the stored representation of one service and of one app's
	// registration (default 64 KiB): free-form members (endpoint.alternative,
	// implSpecificInfo, appProfile) are otherwise unbounded but for the body limit.
	MaxServiceBytes int
	// MaxAppBytes bounds the stored representations of all of one app's services and its
	// registration together (default 1 MiB): one app cannot grow the MEP's memory past it.
	MaxAppBytes int
	// DiscoveryScope is the site's discovery policy: ScopeDeclared (default) or ScopeAll.
	DiscoveryScope DiscoveryScope
	// Now is the clock (default time.Now).
	Now func() time.Time
	// CallbackDeny lists the addresses a subscription's callbackReference may not name
	// literally (400); the notifier also refuses names that resolve into them.
	CallbackDeny []netip.Prefix
	// AppAddressRanges are the site's app addresses: an app may point its DNS rules at any
	// address inside them, besides the address its grant names (none by default).
	AppAddressRanges []netip.Prefix
}

func (c *Config) setDefaults() {
	if c.GracefulTimeout == 0 {
		c.GracefulTimeout = 10 * time.Second
	}
	if c.LivenessGrace == 0 {
		c.LivenessGrace = 1.5
	}
	if c.MaxServicesPerApp == 0 {
		c.MaxServicesPerApp = 1000
	}
	if c.MaxSubscriptionsPerApp == 0 {
		c.MaxSubscriptionsPerApp = 100
	}
	if c.MaxServiceBytes == 0 {
		c.MaxServiceBytes = 64 << 10
	}
	if c.MaxAppBytes == 0 {
		c.MaxAppBytes = 1 << 20
	}
	if c.DiscoveryScope == "" {
		c.DiscoveryScope = ScopeDeclared
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Transports == nil {
		c.Transports = []TransportInfo{{
			Id: "rest-http", Name: "REST over HTTP", Type: TransportRESTHTTP, Protocol: "HTTP", Version: "1.1",
			Endpoint: EndPointInfo{Uris: &[]string{c.APIRoot}},
			Security: SecurityInfo{OAuth2Info: &OAuth2Info{
				GrantTypes: []GrantType{GrantClientCredentials}, TokenEndpoint: c.APIRoot + "/oauth2/token"}},
		}}
	}
}

// appDoc is the stored form of an app instance, rules included.
type appDoc struct {
	ID           string       `json:"id"`
	Spec         AppInstance  `json:"spec"`
	State        AppState     `json:"state"`
	CreatedAt    time.Time    `json:"createdAt"`
	Ready        bool         `json:"ready"`
	Termination  *termination `json:"termination,omitempty"`
	Registration *AppInfo     `json:"registration,omitempty"`
	// Rules in AppD order; Mp1 PUT changes them in place.
	Traffic []mecrule.TrafficRule `json:"traffic"`
	DNS     []dnsRuleDoc          `json:"dns"`
	// GrantTraffic and GrantDNS are the rules as Mm5 last gave them: the grant an app's Mp1
	// changes must stay inside (mecrule.WithinTrafficGrant, WithinDNSGrant). Documents
	// written before grants existed have none: New takes their rules as stored.
	GrantTraffic []mecrule.TrafficRule `json:"grantTraffic,omitempty"`
	GrantDNS     []mecrule.DNSRule     `json:"grantDns,omitempty"`
	// Incarnation is new each time the instance id is created on the site, and
	// SecretGeneration counts the rotations of its client secret: app credentials and
	// tokens are bound to both (CredentialEpoch), so neither outlives a termination or a
	// rotation. Empty in documents from before incarnations: their credentials stay those
	// derived from the id alone until the next rotation.
	Incarnation      string `json:"incarnation,omitempty"`
	SecretGeneration int    `json:"secretGeneration,omitempty"`

	// sees is what the app declared it uses (appServiceRequired/Optional of the spec and
	// the registration), as sets: discovery asks it once per service under the site lock,
	// so its cost must not grow with the lists. setAppLocked computes it.
	sees *declaredSet
	// regBytes is the size of the stored registration (counted in Config.MaxAppBytes).
	regBytes int
}

// declaredSet holds the service names and category ids an app declared it uses.
type declaredSet struct {
	names, cats map[string]struct{}
}

func newDeclaredSet(a *appDoc) *declaredSet {
	d := &declaredSet{names: map[string]struct{}{}, cats: map[string]struct{}{}}
	add := func(name string, cat *string) {
		d.names[name] = struct{}{}
		if cat != nil {
			d.cats[*cat] = struct{}{}
		}
	}
	lists := []*[]ServiceDependency{a.Spec.AppServiceRequired, a.Spec.AppServiceOptional}
	if r := a.Registration; r != nil {
		lists = append(lists, r.AppServiceRequired, r.AppServiceOptional)
	}
	for _, deps := range lists {
		for _, x := range deref(deps) {
			var cat *string
			if x.SerCategory != nil {
				cat = &x.SerCategory.Id
			}
			add(x.SerName, cat)
		}
	}
	return d
}

// setAppLocked makes a the app document of its id, with its derived state. The caller holds
// s.mu for writing.
func (s *MEP) setAppLocked(a *appDoc) {
	a.sees = newDeclaredSet(a)
	a.regBytes = 0
	if a.Registration != nil {
		b, _ := json.Marshal(a.Registration)
		a.regBytes = len(b)
	}
	s.apps[a.ID] = a
}

// grantTraffic returns the granted version of traffic rule id.
func (a *appDoc) grantTraffic(id string) (mecrule.TrafficRule, bool) {
	for _, r := range a.GrantTraffic {
		if r.TrafficRuleId == id {
			return r, true
		}
	}
	return mecrule.TrafficRule{}, false
}

// grantDNS returns the granted version of DNS rule id.
func (a *appDoc) grantDNS(id string) (mecrule.DNSRule, bool) {
	for _, r := range a.GrantDNS {
		if r.DnsRuleId == id {
			return r, true
		}
	}
	return mecrule.DNSRule{}, false
}

// CredentialEpoch names the incarnation and secret generation of an app instance: the
// client secret is derived from it and every token carries it ("" for documents from
// before incarnations).
func (a *appDoc) CredentialEpoch() string {
	if a.Incarnation == "" {
		return ""
	}
	return a.Incarnation + "." + strconv.Itoa(a.SecretGeneration)
}

type dnsRuleDoc struct {
	Rule      mecrule.DNSRule `json:"rule"`
	CreatedAt time.Time       `json:"createdAt"`
}

type termination struct {
	Action   OperationAction `json:"action"`
	Timeout  int             `json:"timeout"`
	Deadline time.Time       `json:"deadline"`
}

type serviceDoc struct {
	AppInstanceID string      `json:"appInstanceId"`
	Info          ServiceInfo `json:"info"`
}

type subDoc struct {
	ID            string                `json:"id"`
	AppInstanceID string                `json:"appInstanceId"`
	Type          string                `json:"type"`
	SerAvail      *SerAvailSubscription `json:"serAvail,omitempty"`
	AppTerm       *AppTermSubscription  `json:"appTerm,omitempty"`
}

// service is a registered service: its precomputed representation plus only the attributes
// that indexing, filters and visibility read on every request. The full ServiceInfo is
// decoded from json on the rare paths that need it, which keeps a site with tens of
// thousands of services small.
type service struct {
	app, id, name, catID   string
	state                  ServiceState
	scope                  LocalityType
	isLocal, consumedLocal bool
	liveness               int
	json                   []byte
	etag                   string
	heartbeat              time.Time
}

// storedService is the stored form of a service; Info is the representation as served.
type storedService struct {
	AppInstanceID string          `json:"appInstanceId"`
	Info          json.RawMessage `json:"info"`
}

// MEP is the in-memory, write-through state of one MEP.
type MEP struct {
	cfg Config
	st  store.Store
	log *slog.Logger

	mu       sync.RWMutex
	apps     map[string]*appDoc
	services map[string]*service
	byName   map[string]map[string]*service
	// appServices counts the services of each app (MaxServicesPerApp is checked on every
	// registration; counting the services would cost a scan of all of them), and
	// appServiceBytes sums the size of their representations (MaxAppBytes).
	appServices     map[string]int
	appServiceBytes map[string]int
	subs            map[string]*subDoc
	// owners maps each subscription's id to its app instance, like subs, for the Notifier:
	// it reads it on every dispatch and must not wait for s.mu, which a commit holds
	// through its store write.
	owners sync.Map

	trafficVersion, dnsVersion int64
	trafficCh, dnsCh           chan struct{}
	// appsCh is closed (and replaced) by every commit that changed an app instance, for
	// the long polls of WaitApp.
	appsCh chan struct{}

	// outbox receives the notifications of every commit, IDs assigned, once they are durable
	// (the Notifier's in-memory queue).
	outbox func([]store.Notification)
	// dnsHook receives the active DNS rules after every change (for the site DNS server).
	dnsHook func([]ActiveDNSRule)
}

// New loads the site state from st.
func New(ctx context.Context, cfg Config, st store.Store, log *slog.Logger) (*MEP, error) {
	cfg.setDefaults()
	s := &MEP{
		cfg: cfg, st: st, log: log,
		apps: map[string]*appDoc{}, services: map[string]*service{}, byName: map[string]map[string]*service{},
		appServices: map[string]int{}, appServiceBytes: map[string]int{}, subs: map[string]*subDoc{}, trafficCh: make(chan struct{}), dnsCh: make(chan struct{}), appsCh: make(chan struct{}),
	}
	docs, err := st.LoadAll(ctx)
	if err != nil {
		return nil, fmt.Errorf("load site state: %w", err)
	}
	now := cfg.Now()
	for _, d := range docs {
		switch d.Kind {
		case store.KindApp:
			var a appDoc
			if err := json.Unmarshal(d.Body, &a); err != nil {
				return nil, fmt.Errorf("decode app %s: %w", d.ID, err)
			}
			if a.GrantTraffic == nil { // written before grants: the rules as stored are the grant
				a.GrantTraffic = append([]mecrule.TrafficRule{}, a.Traffic...)
			}
			if a.GrantDNS == nil {
				a.GrantDNS = make([]mecrule.DNSRule, 0, len(a.DNS))
				for _, d := range a.DNS {
					a.GrantDNS = append(a.GrantDNS, d.Rule)
				}
			}
			s.setAppLocked(&a)
		case store.KindService:
			var sd serviceDoc
			if err := json.Unmarshal(d.Body, &sd); err != nil {
				return nil, fmt.Errorf("decode service %s: %w", d.ID, err)
			}
			// Heartbeats are not persisted: after a restart every service gets a fresh interval.
			s.index(newService(sd.AppInstanceID, &sd.Info, now))
		case store.KindSubscription:
			var sub subDoc
			if err := json.Unmarshal(d.Body, &sub); err != nil {
				return nil, fmt.Errorf("decode subscription %s: %w", d.ID, err)
			}
			s.subs[sub.ID] = &sub
			s.owners.Store(sub.ID, sub.AppInstanceID)
		}
	}
	for _, k := range []struct {
		key string
		v   *int64
	}{{"traffic_version", &s.trafficVersion}, {"dns_version", &s.dnsVersion}} {
		v, err := st.Meta(ctx, k.key)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if *k.v, err = strconv.ParseInt(v, 10, 64); err != nil {
			return nil, fmt.Errorf("meta %s: %w", k.key, err)
		}
	}
	log.InfoContext(ctx, "site state loaded", "apps", len(s.apps), "services", len(s.services), "subscriptions", len(s.subs),
		"traffic_version", s.trafficVersion, "dns_version", s.dnsVersion)
	return s, nil
}

func newService(app string, i *ServiceInfo, now time.Time) *service {
	b, _ := json.Marshal(i)
	sv := &service{app: app, id: *i.SerInstanceId, name: i.SerName, state: i.State, isLocal: deref(i.IsLocal),
		consumedLocal: deref(i.ConsumedLocalOnly), liveness: deref(i.LivenessInterval), json: b, etag: etagOf(b), heartbeat: now}
	if i.SerCategory != nil {
		sv.catID = i.SerCategory.Id
	}
	if i.ScopeOfLocality != nil {
		sv.scope = *i.ScopeOfLocality
	}
	return sv
}

// info decodes the full representation.
func (sv *service) info() ServiceInfo {
	var i ServiceInfo
	_ = json.Unmarshal(sv.json, &i) // our own encoding of a validated ServiceInfo
	return i
}

func (sv *service) stored() storedService { return storedService{AppInstanceID: sv.app, Info: sv.json} }

func etagOf(b []byte) string {
	h := sha256.Sum256(b)
	return `"` + hex.EncodeToString(h[:12]) + `"`
}

// ETag returns the entity tag of any JSON representation.
func ETag(v any) string {
	b, _ := json.Marshal(v)
	return etagOf(b)
}

func (s *MEP) index(sv *service) {
	if old := s.services[sv.id]; old != nil {
		s.unindex(old)
	}
	s.services[sv.id] = sv
	s.appServices[sv.app]++
	s.appServiceBytes[sv.app] += len(sv.json)
	m := s.byName[sv.name]
	if m == nil {
		m = map[string]*service{}
		s.byName[sv.name] = m
	}
	m[sv.id] = sv
}

func (s *MEP) unindex(sv *service) {
	delete(s.services, sv.id)
	s.appServices[sv.app]--
	s.appServiceBytes[sv.app] -= len(sv.json)
	if s.appServices[sv.app] == 0 {
		delete(s.appServices, sv.app)
		delete(s.appServiceBytes, sv.app)
	}
	if m := s.byName[sv.name]; m != nil {
		delete(m, sv.id)
		if len(m) == 0 {
			delete(s.byName, sv.name)
		}
	}
}

// tx collects the changes of one operation: the store batch plus in-memory effects that are
// applied only after the batch is durable.
type tx struct {
	s       *MEP
	b       store.Batch
	after   []func()
	traffic bool
	dns     bool
	apps    bool // an app instance document changed
}

func (s *MEP) begin() *tx { return &tx{s: s} }

func (t *tx) put(kind store.Kind, id string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("marshal %s %s: %v", kind, id, err)) // only our own types are marshalled
	}
	t.b.Put = append(t.b.Put, store.Doc{Kind: kind, ID: id, Body: b})
	t.apps = t.apps || kind == store.KindApp
}

func (t *tx) del(kind store.Kind, id string) {
	t.b.Delete = append(t.b.Delete, store.Key{Kind: kind, ID: id})
	t.apps = t.apps || kind == store.KindApp
}

func (t *tx) then(f func()) { t.after = append(t.after, f) }

// commit writes the batch and then applies the in-memory effects. The caller holds s.mu.
func (t *tx) commit(ctx context.Context) error {
	s := t.s
	if t.traffic {
		t.b.Meta = setMeta(t.b.Meta, "traffic_version", s.trafficVersion+1)
	}
	if t.dns {
		t.b.Meta = setMeta(t.b.Meta, "dns_version", s.dnsVersion+1)
	}
	// A commit must not be abandoned halfway because a client went away.
	if err := s.st.Apply(context.WithoutCancel(ctx), &t.b); err != nil {
		return fmt.Errorf("persist: %w", err)
	}
	for _, f := range t.after {
		f()
	}
	if t.apps {
		close(s.appsCh)
		s.appsCh = make(chan struct{})
	}
	if t.traffic {
		s.trafficVersion++
		close(s.trafficCh)
		s.trafficCh = make(chan struct{})
	}
	if t.dns {
		s.dnsVersion++
		close(s.dnsCh)
		s.dnsCh = make(chan struct{})
		if s.dnsHook != nil {
			s.dnsHook(s.activeDNSLocked())
		}
	}
	if len(t.b.Enqueue) > 0 && s.outbox != nil {
		s.outbox(t.b.Enqueue)
	}
	return nil
}

func setMeta(m map[string]string, k string, v int64) map[string]string {
	if m == nil {
		m = map[string]string{}
	}
	m[k] = strconv.FormatInt(v, 10)
	return m
}

func (s *MEP) app(id string) (*appDoc, error) {
	a := s.apps[id]
	if a == nil {
		return nil, notFound("app instance %q is not known on this site", id)
	}
	return a, nil
}

// Exists reports whether the app instance is known.
func (s *MEP) Exists(id string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.apps[id] != nil
}

// CredentialEpoch returns the credential epoch of an app instance (see appDoc) and whether
// the instance is on the site. A token or secret of another epoch is not the instance's.
func (s *MEP) CredentialEpoch(id string) (string, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	a := s.apps[id]
	if a == nil {
		return "", false
	}
	return a.CredentialEpoch(), true
}

// RotateSecret starts a new secret generation of an app instance: its client secret
// changes and every token issued before stops working; other apps are not affected.
func (s *MEP) RotateSecret(ctx context.Context, id string) (AppRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, err := s.app(id)
	if err != nil {
		return AppRecord{}, err
	}
	n := *a
	if n.Incarnation == "" {
		n.Incarnation = newID()
	}
	n.SecretGeneration++
	t := s.begin()
	t.put(store.KindApp, id, &n)
	t.then(func() { s.setAppLocked(&n) })
	if err := t.commit(ctx); err != nil {
		return AppRecord{}, err
	}
	s.log.InfoContext(ctx, "app client secret rotated", "app_instance_id", id, "version", n.SecretGeneration)
	return s.record(&n), nil
}

func newID() string { return uuid.NewString() }

// Links.
func (s *MEP) serviceHref(app, id string) string {
	return s.cfg.APIRoot + "/mec_service_mgmt/v1/applications/" + app + "/services/" + id
}

func (s *MEP) serSubHref(app, id string) string {
	return s.cfg.APIRoot + "/mec_service_mgmt/v1/applications/" + app + "/subscriptions/" + id
}

func (s *MEP) termSubHref(app, id string) string {
	return s.cfg.APIRoot + "/mec_app_support/v1/applications/" + app + "/subscriptions/" + id
}
