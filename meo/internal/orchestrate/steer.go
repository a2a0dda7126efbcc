package orchestrate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"reflect"
	"sync"
	"time"

	"github.com/edgemec/edgemec/internal/obs/logkeys"
	"github.com/edgemec/edgemec/meo/internal/af"
	"github.com/edgemec/edgemec/meo/internal/reconcile"
	"github.com/edgemec/edgemec/meo/internal/store"
	"github.com/edgemec/edgemec/mep/mp1api"
)

// Traffic steering through the 5G core: the MEO as a 3GPP Application Function (package af)
// asks the NEF of an instance's site to steer the app's traffic to the site's DNAIs
// (Nnef_TrafficInfluence, TS 29.522). The NEF never decides whether an instance runs: the
// site-local breakout through the UPGW works without it, so a NEF failure is a warning on
// the instance and its op occurrence, retried with backoff, never a failed operation.
//
//  1. Instantiate completed on a site with 5G data (inventory FiveG), for an app whose
//     traffic rules give an IP flow (or an afAppId is given): a steering record is stored
//     and the subscription created at once, a few attempts with backoff
//     (SteerConfig.Backoff). A failure adds a warning to the op occurrence; the record stays
//     RETRYING and the steering loop tries again.
//  2. The steering loop (Steerer.Run) claims due records (FOR UPDATE SKIP LOCKED with a
//     lease, so several MEO processes share them): failed ones are retried with backoff
//     (RetryInitial doubling to RetryMax); active ones are compared every Check with the
//     traffic rules the site's MEP holds for the app (which the app may change over Mp1)
//     and with the site's DNAIs, and PATCHed when they changed. A subscription the NEF lost
//     (404) is created again. Rules that no longer give anything to steer delete the
//     subscription (NO_TRAFFIC) until they do again.
//  3. Terminate completed: the subscription is deleted (404 counts as deleted) and the record
//     with it; a failure is a warning on the op occurrence, and the loop retries. The record
//     outlives its instance until the NEF's subscription is gone.
//  4. Notifications: Steerer is the af.Lookup and af.Recorder of the MEO's notification
//     endpoint; UP path changes are recorded on the record, shown in the instance's
//     trafficSteering (Mm1), the last MaxPathChanges of them, with each UE's current DNAI,
//     and told over Mm5 to the MEP of the site with the new DNAI (ARRIVED) and of the site
//     the traffic left (LEFT), see steer_mep.go.
//  5. Orphans: every SteerConfig.Sweep the loop lists the AF's subscriptions at the sites'
//     NEFs and deletes those of this MEO no record holds (a crash between the NEF's 201 and
//     storing it) once two sweeps found them so, see steer_sweep.go.
//  6. A site's 5G data replaced or removed (FiveGChanged, called by the inventory): DNAIs
//     are PATCHed; a new NEF, AF id, DNN or S-NSSAI, or no 5G data any more, deletes the
//     subscriptions at the former NEF with its credentials, and the loop subscribes anew
//     (NO_5G_DATA while the site has none), see steer_site.go.
//
// The UE target comes from the instantiate request's additionalParams (af.TargetFromParams:
// ueExternalGroupId, ueGpsi, ueIpv4Addr/ueIpv6Addr, anyUe; any UE by default; more than one,
// or anyUe false alone, is a 400 warning on the op occurrence and nothing is steered; ETSI
// MEC 010-2 locationConstraints say where an instance may run, not whose traffic it serves,
// so they are not read for it); an afAppId
// member there sends afAppId instead of traffic filters; appN6Address (and appN6Port) give
// the route to the app, by default the dstIpAddress of the first forwarding rule's
// dstInterface.

// SteerStore keeps the steering records (pgstore.Store).
type SteerStore interface {
	// GetSteering returns the instance's record (store.ErrNotFound if none).
	GetSteering(ctx context.Context, appInstanceID string) (*store.Steering, error)
	// UpdateSteering locks the instance's record (nil when none), runs fn and stores what fn
	// returns (nil deletes the record).
	UpdateSteering(ctx context.Context, appInstanceID string, fn func(cur *store.Steering) (*store.Steering, error)) error
	// ClaimSteering returns up to n due records, moving their due time lease ahead.
	ClaimSteering(ctx context.Context, n int, lease time.Duration) ([]*store.Steering, error)
	// AddOpWarning appends a warning to an op occurrence.
	AddOpWarning(ctx context.Context, opID string, w store.Problem) error
}

// FiveGSites is what the steering needs of the inventory.
type FiveGSites interface {
	// FiveG returns the site's 5G data with its NEF credentials, ok false without any.
	FiveG(ctx context.Context, siteID string) (cfg af.SiteConfig, ok bool, err error)
	// Connect reaches the site's MEP (for the app's current traffic rules).
	Connect(ctx context.Context, siteID string) (reconcile.Site, error)
	// IDs lists the registered sites (for the orphan sweep).
	IDs(ctx context.Context) ([]string, error)
}

// SteerConfig shapes a Steerer. Zero values take the documented defaults.
type SteerConfig struct {
	// Store and Sites are required.
	Store SteerStore
	Sites FiveGSites
	// NotifyBase is the externally reachable URL of the MEO's notification endpoint,
	// <public URL>/af/v1/notifications (required).
	NotifyBase string
	// Transport carries the requests to the NEFs (nil: a clone of the default transport).
	Transport http.RoundTripper
	// Backoff bounds the attempts made while an operation waits (default 3 attempts, 500 ms
	// doubling).
	Backoff af.Backoff
	// RetryInitial and RetryMax space the steering loop's retries of a failing record
	// (default 5 s doubling up to 5 min).
	RetryInitial, RetryMax time.Duration
	// Check is how often an active subscription is compared with the app's rules and the
	// site's DNAIs (default 30 s).
	Check time.Duration
	// Poll is how often the loop looks for due records (default 1 s); Lease how long a
	// claimed record stays with this process (default 30 s).
	Poll, Lease time.Duration
	// Sweep is how often the NEFs of the sites are searched for subscriptions of this MEO
	// that no steering record holds, which are deleted when a second sweep still finds
	// them unclaimed (default 5 min; see steer_sweep.go).
	Sweep  time.Duration
	Logger *slog.Logger
}

// MaxPathChanges bounds the UP path changes kept per instance.
const MaxPathChanges = 32

// Steering states, as trafficSteering.state shows them.
const (
	SteerPending   = "PENDING"    // not subscribed yet
	SteerActive    = "ACTIVE"     // the NEF holds the subscription as last built
	SteerRetrying  = "RETRYING"   // the last attempt failed; lastError says why
	SteerNoTraffic = "NO_TRAFFIC" // the rules give nothing to steer: no subscription
	SteerDeleting  = "DELETING"   // the instance was terminated; the subscription is being deleted
)

// Steerer keeps the instances' traffic influence subscriptions. Its methods are safe for
// concurrent use.
type Steerer struct {
	cfg SteerConfig
	log *slog.Logger

	mu      sync.Mutex
	clients map[string]*af.Client // by site id, rebuilt when the site's 5G data changes

	// orphans are the subscriptions the last sweep found unclaimed, by orphanKey; only
	// the sweep goroutine (Run) uses it.
	orphans map[string]bool
}

var (
	_ af.Lookup   = (*Steerer)(nil)
	_ af.Recorder = (*Steerer)(nil)
)

// NewSteerer returns a Steerer.
func NewSteerer(cfg SteerConfig) (*Steerer, error) {
	var errs []error
	if cfg.Store == nil || cfg.Sites == nil {
		errs = append(errs, errors.New("steering: store and sites are required"))
	}
	if _, _, err := (af.NotifyURLs{Base: cfg.NotifyBase}).New("probe"); err != nil {
		errs = append(errs, fmt.Errorf("steering: notification base: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if cfg.Backoff.Attempts == 0 {
		cfg.Backoff = af.Backoff{Initial: 500 * time.Millisecond, Max: 2 * time.Second, Attempts: 3}
	}
	if cfg.RetryInitial <= 0 {
		cfg.RetryInitial = 5 * time.Second
	}
	if cfg.RetryMax <= 0 {
		cfg.RetryMax = 5 * time.Minute
	}
	if cfg.Check <= 0 {
		cfg.Check = 30 * time.Second
	}
	if cfg.Poll <= 0 {
		cfg.Poll = time.Second
	}
	if cfg.Lease <= 0 {
		cfg.Lease = 30 * time.Second
	}
	if cfg.Sweep <= 0 {
		cfg.Sweep = 5 * time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Steerer{cfg: cfg, log: cfg.Logger.With(logkeys.Component, "steering"), clients: map[string]*af.Client{},
		orphans: map[string]bool{}}, nil
}

// steering is a record's document (store.Steering.Doc).
type steering struct {
	AppInstanceID string `json:"appInstanceId"`
	AppDID        string `json:"appDId"`
	SiteID        string `json:"siteId"`
	// Gen counts the changes of what is wanted (Present); a pass that ran on an older
	// generation keeps only what it learnt of the NEF.
	Gen int64 `json:"gen"`
	// Present is whether the subscription is wanted (false once terminated).
	Present bool `json:"present"`
	// OpID is the op occurrence that last changed what is wanted.
	OpID    string               `json:"opId,omitempty"`
	Rules   []mp1api.TrafficRule `json:"rules,omitempty"`
	AFAppID string               `json:"afAppId,omitempty"`
	Address string               `json:"address,omitempty"`
	Port    uint16               `json:"port,omitempty"`
	Target  af.UETarget          `json:"target"`
	// Sub is the NEF's subscription, nil when there is none; Applied the fingerprint of
	// what the NEF took, DNAIs the DNAIs it routes to.
	Sub     *af.Subscription `json:"subscription,omitempty"`
	Applied string           `json:"applied,omitempty"`
	DNAIs   []string         `json:"dnais,omitempty"`

	State       string         `json:"state"`
	LastError   *store.Problem `json:"lastError,omitempty"`
	Attempts    int            `json:"attempts"`
	PathChanges []pathChange   `json:"upPathChanges,omitempty"`
	// MEPPending are path changes not yet taken by every MEP they concern (steer_mep.go).
	MEPPending []mepPending `json:"mepPending,omitempty"`
	Updated    time.Time    `json:"updated"`
}

// pathChange is one UP path change as trafficSteering.upPathChanges shows it.
type pathChange struct {
	UEIPv4       string    `json:"ueIpv4,omitempty"`
	UEIPv6Prefix string    `json:"ueIpv6Prefix,omitempty"`
	GPSI         string    `json:"gpsi,omitempty"`
	SourceDNAI   string    `json:"sourceDnai,omitempty"`
	TargetDNAI   string    `json:"targetDnai"`
	ChangeType   string    `json:"dnaiChgType,omitempty"`
	At           time.Time `json:"at"`
}

func (p pathChange) ue() string {
	switch {
	case p.GPSI != "":
		return p.GPSI
	case p.UEIPv4 != "":
		return p.UEIPv4
	}
	return p.UEIPv6Prefix
}

// view is AppInstanceInfo.trafficSteering.
func (st *steering) view() json.RawMessage {
	type ueAt struct {
		UE    string    `json:"ue"`
		DNAI  string    `json:"dnai"`
		Since time.Time `json:"since"`
	}
	v := struct {
		SiteID         string         `json:"siteId"`
		State          string         `json:"state"`
		AFID           string         `json:"afId,omitempty"`
		SubscriptionID string         `json:"subscriptionId,omitempty"`
		Subscription   string         `json:"subscription,omitempty"`
		DNAIs          []string       `json:"dnais,omitempty"`
		UETarget       map[string]any `json:"ueTarget"`
		LastError      *store.Problem `json:"lastError,omitempty"`
		Attempts       int            `json:"attempts,omitempty"`
		UEs            []ueAt         `json:"ues,omitempty"`
		UPPathChanges  []pathChange   `json:"upPathChanges,omitempty"`
		Updated        time.Time      `json:"updated"`
	}{SiteID: st.SiteID, State: st.State, DNAIs: st.DNAIs, LastError: st.LastError, Attempts: st.Attempts,
		UPPathChanges: st.PathChanges, Updated: st.Updated, UETarget: targetView(st.Target)}
	if st.Sub != nil {
		v.AFID, v.SubscriptionID, v.Subscription = st.Sub.AFID, st.Sub.ID, st.Sub.Location
	}
	// Each UE's current DNAI: its latest change.
	idx := map[string]int{}
	for _, p := range st.PathChanges {
		u := p.ue()
		if u == "" {
			continue
		}
		if i, ok := idx[u]; ok {
			v.UEs[i] = ueAt{UE: u, DNAI: p.TargetDNAI, Since: p.At}
			continue
		}
		idx[u] = len(v.UEs)
		v.UEs = append(v.UEs, ueAt{UE: u, DNAI: p.TargetDNAI, Since: p.At})
	}
	b, _ := json.Marshal(v)
	return b
}

func targetView(t af.UETarget) map[string]any {
	m := map[string]any{}
	switch {
	case t.ExternalGroupID != "":
		m["externalGroupId"] = t.ExternalGroupID
	case t.GPSI != "":
		m["gpsi"] = t.GPSI
	case t.IPv4.IsValid() || t.IPv6.IsValid():
		if t.IPv4.IsValid() {
			m["ipv4Addr"] = t.IPv4.String()
		}
		if t.IPv6.IsValid() {
			m["ipv6Addr"] = t.IPv6.String()
		}
	default:
		m["anyUe"] = true
	}
	return m
}

func decodeSteering(s *store.Steering) (*steering, error) {
	var st steering
	if err := json.Unmarshal(s.Doc, &st); err != nil {
		return nil, fmt.Errorf("steering of %s: decode: %w", s.AppInstanceID, err)
	}
	return &st, nil
}

// Instantiated is the executor's hook after an instantiate completed on siteID: it starts
// steering the instance's traffic when the site has 5G data and the app something to steer.
func (s *Steerer) Instantiated(ctx context.Context, op Op, siteID string, task reconcile.Task) {
	log := s.log.With(logkeys.AppInstanceID, op.AppInstanceID, logkeys.OpID, op.ID, logkeys.Site, siteID)
	site, ok, err := s.cfg.Sites.FiveG(ctx, siteID)
	if err != nil {
		s.warn(ctx, log, op.ID, http.StatusInternalServerError, fmt.Errorf("read site %s's 5G data: %w", siteID, err))
		return
	}
	if !ok {
		return
	}
	var params struct {
		Additional map[string]any `json:"additionalParams"`
	}
	if len(op.Params) > 0 {
		_ = json.Unmarshal(op.Params, &params)
	}
	target, err := af.TargetFromParams(params.Additional)
	if err != nil {
		// Nothing to retry: the request itself names no usable UE target.
		s.warnDetail(ctx, log, op.ID, http.StatusBadRequest, fmt.Sprintf("the UE target in additionalParams: %v; "+
			"the instance runs without steering through the 5G core (the site's own breakout is unaffected)", err))
		return
	}
	st := &steering{AppInstanceID: op.AppInstanceID, AppDID: op.AppDID, SiteID: siteID, Present: true, OpID: op.ID,
		Target: target, State: SteerPending}
	if task.App.AppTrafficRule != nil {
		st.Rules = *task.App.AppTrafficRule
	}
	st.AFAppID, _ = params.Additional["afAppId"].(string)
	st.Address, st.Port = routeAddress(params.Additional, st.Rules)
	if st.AFAppID == "" {
		if _, err := af.FlowInfos(st.Rules); errors.Is(err, af.ErrNoTraffic) {
			return
		}
	}
	// A resumed run finds the record of its first run: keep what the NEF holds.
	if cur, err := s.cfg.Store.GetSteering(ctx, op.AppInstanceID); err == nil {
		if prev, err := decodeSteering(cur); err == nil && prev.Present && prev.SiteID == siteID {
			st.Sub, st.Applied, st.DNAIs, st.Gen = prev.Sub, prev.Applied, prev.DNAIs, prev.Gen
		}
	}
	st.Gen++
	s.now(ctx, log, st, site)
}

// Terminated is the executor's hook after a terminate completed: the instance's
// subscription is deleted.
func (s *Steerer) Terminated(ctx context.Context, op Op) {
	log := s.log.With(logkeys.AppInstanceID, op.AppInstanceID, logkeys.OpID, op.ID)
	cur, err := s.cfg.Store.GetSteering(ctx, op.AppInstanceID)
	if errors.Is(err, store.ErrNotFound) {
		return
	}
	var st *steering
	if err == nil {
		st, err = decodeSteering(cur)
	}
	if err != nil {
		s.warn(ctx, log, op.ID, http.StatusInternalServerError, err)
		return
	}
	st.Present, st.OpID, st.State = false, op.ID, SteerDeleting
	st.Gen++
	site, ok, err := s.cfg.Sites.FiveG(ctx, st.SiteID)
	if err != nil || !ok {
		site = af.SiteConfig{}
	}
	s.now(ctx, log, st, site)
}

// now runs a pass while the operation waits, a few attempts, and stores the outcome; a
// failure becomes a warning on the op occurrence and is left to the loop.
func (s *Steerer) now(ctx context.Context, log *slog.Logger, st *steering, site af.SiteConfig) {
	// Keep the loop off the record while this runs.
	if err := s.save(ctx, st, time.Now().Add(s.cfg.Lease), true); err != nil {
		s.warn(ctx, log, st.OpID, http.StatusInternalServerError, err)
		return
	}
	err := af.Retry(ctx, s.cfg.Backoff, func(ctx context.Context) error { return s.pass(ctx, st, site, false) })
	s.settle(ctx, log, st, err)
	s.afterPass(ctx, log, st, site)
	if err != nil {
		s.warn(ctx, log, st.OpID, warnStatus(err), fmt.Errorf("traffic steering at the NEF: %w", err))
	}
}

// settle records the outcome of a pass and when the record is due again.
func (s *Steerer) settle(ctx context.Context, log *slog.Logger, st *steering, err error) {
	now := time.Now()
	st.Updated = now
	var due time.Time
	switch {
	case err == nil:
		st.LastError, st.Attempts = nil, 0
		due = now.Add(s.cfg.Check)
	default:
		st.Attempts++
		st.LastError = steerProblem(err)
		if st.Present {
			st.State = SteerRetrying
		}
		d := s.cfg.RetryInitial << min(st.Attempts-1, 16)
		due = now.Add(min(d, s.cfg.RetryMax))
		log.WarnContext(ctx, "traffic steering failed", logkeys.Attempt, st.Attempts, logkeys.Error, err.Error())
	}
	if serr := s.save(ctx, st, due, false); serr != nil && ctx.Err() == nil {
		log.WarnContext(ctx, "save traffic steering failed", logkeys.Error, serr.Error())
	}
}

// steerProblem is a failed pass or delete as the record's lastError shows it.
func steerProblem(err error) *store.Problem {
	return &store.Problem{Title: "traffic steering failed", Status: warnStatus(err), Detail: err.Error()}
}

func warnStatus(err error) int {
	var ne *af.NEFError
	switch {
	case errors.As(err, &ne) && ne.Status != 0:
		return ne.Status
	case errors.Is(err, af.ErrInvalid):
		return http.StatusUnprocessableEntity
	case errors.Is(err, af.ErrRetryable):
		return http.StatusServiceUnavailable
	}
	return http.StatusBadGateway
}

// warn adds a warning to the op occurrence.
func (s *Steerer) warn(ctx context.Context, log *slog.Logger, opID string, status int, err error) {
	s.warnDetail(ctx, log, opID, status,
		err.Error()+"; the instance runs (the site's own breakout is unaffected) and the MEO keeps trying")
}

// warnDetail adds a warning with the given detail to the op occurrence.
func (s *Steerer) warnDetail(ctx context.Context, log *slog.Logger, opID string, status int, detail string) {
	log.WarnContext(ctx, "traffic steering warning", logkeys.Error, detail)
	if opID == "" {
		return
	}
	w := store.Problem{Title: "traffic steering not in place", Status: status, Detail: detail}
	if werr := s.cfg.Store.AddOpWarning(ctx, opID, w); werr != nil && ctx.Err() == nil {
		log.WarnContext(ctx, "add op occurrence warning failed", logkeys.Error, werr.Error())
	}
}

// errGone stops a save whose record was deleted meanwhile.
var errGone = errors.New("steering record gone")

// save stores st with its due time. Without create, a record deleted meanwhile stays
// deleted, and a record no longer wanted whose subscription is gone is deleted. A record whose wanted state changed meanwhile (a newer Gen) keeps it and takes
// only what st learnt of the NEF, and is due at once. Path changes are the store's.
func (s *Steerer) save(ctx context.Context, st *steering, due time.Time, create bool) error {
	err := s.cfg.Store.UpdateSteering(ctx, st.AppInstanceID, func(cur *store.Steering) (*store.Steering, error) {
		out := st
		if cur == nil && !create {
			return nil, errGone
		}
		if cur != nil {
			c, err := decodeSteering(cur)
			if err != nil {
				return nil, err
			}
			st.PathChanges, st.MEPPending = c.PathChanges, c.MEPPending
			if c.Gen > st.Gen {
				c.Sub, c.Applied, c.DNAIs = st.Sub, st.Applied, st.DNAIs
				out, due = c, time.Now()
			}
		}
		if !out.Present && out.Sub == nil && !create {
			return nil, nil // unsubscribed: the record goes
		}
		doc, err := json.Marshal(out)
		if err != nil {
			return nil, err
		}
		return &store.Steering{AppInstanceID: out.AppInstanceID, SiteID: out.SiteID, Doc: doc, View: out.view(), Due: due}, nil
	})
	if errors.Is(err, errGone) {
		return nil
	}
	return err
}

// client returns the site's AF client, rebuilt when the site's 5G data changed.
func (s *Steerer) client(site af.SiteConfig) (*af.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.clients[site.SiteID]; c != nil && reflect.DeepEqual(c.Site(), site) {
		return c, nil
	}
	c, err := af.NewClient(site, af.NotifyURLs{Base: s.cfg.NotifyBase}, s.cfg.Transport)
	if err != nil {
		return nil, err
	}
	s.clients[site.SiteID] = c
	return c, nil
}

// pass brings the NEF in line with st once: subscribe, patch, or unsubscribe. refresh reads
// the app's current rules from the site's MEP first.
func (s *Steerer) pass(ctx context.Context, st *steering, site af.SiteConfig, refresh bool) error {
	if site.SiteID == "" {
		if st.Sub == nil {
			return nil
		}
		return fmt.Errorf("%w: site %s has no 5G data (any more): its NEF cannot be reached", af.ErrInvalid, st.SiteID)
	}
	c, err := s.client(site) //nolint:contextcheck // a new client's token source outlives this pass (see af.Client.resetToken)
	if err != nil {
		return err
	}
	if !st.Present {
		if st.Sub != nil {
			if err := c.Unsubscribe(ctx, *st.Sub); err != nil {
				return err
			}
			s.log.InfoContext(ctx, "traffic influence subscription deleted", logkeys.AppInstanceID, st.AppInstanceID,
				logkeys.SubscriptionID, st.Sub.ID)
			st.Sub, st.Applied, st.DNAIs = nil, "", nil
		}
		return nil
	}
	if refresh {
		s.refreshRules(ctx, st)
	}
	inst := af.Instance{AppInstanceID: st.AppInstanceID, AppDID: st.AppDID, AFAppID: st.AFAppID, Rules: st.Rules, Port: st.Port}
	if a, err := netip.ParseAddr(st.Address); err == nil {
		inst.Address = a
	} else {
		return fmt.Errorf("%w: no address of the app for the route (give appN6Address in additionalParams, or a dstInterface dstIpAddress in a forwarding rule)", af.ErrInvalid)
	}
	patch, err := af.BuildPatch(site, inst)
	if errors.Is(err, af.ErrNoTraffic) {
		if st.Sub != nil {
			if err := c.Unsubscribe(ctx, *st.Sub); err != nil {
				return err
			}
			st.Sub, st.Applied, st.DNAIs = nil, "", nil
		}
		st.State = SteerNoTraffic
		return nil
	}
	if err != nil {
		return err
	}
	b, _ := json.Marshal(patch)
	sum := sha256.Sum256(b)
	fp := hex.EncodeToString(sum[:])
	switch {
	case st.Sub == nil:
		sub, err := c.Subscribe(ctx, inst, st.Target)
		if err != nil {
			return err
		}
		st.Sub, st.Applied = &sub, fp
		s.log.InfoContext(ctx, "traffic influence subscription created", logkeys.AppInstanceID, st.AppInstanceID,
			logkeys.Site, st.SiteID, logkeys.SubscriptionID, sub.ID)
	case st.Applied != fp:
		err := c.Update(ctx, *st.Sub, inst)
		if errors.Is(err, af.ErrNotFound) {
			// The NEF lost it: subscribe again.
			sub, err := c.Subscribe(ctx, inst, st.Target)
			if err != nil {
				return err
			}
			st.Sub = &sub
		} else if err != nil {
			return err
		}
		st.Applied = fp
		s.log.InfoContext(ctx, "traffic influence subscription updated", logkeys.AppInstanceID, st.AppInstanceID,
			logkeys.SubscriptionID, st.Sub.ID)
	}
	st.DNAIs = append([]string(nil), site.DNAIs...)
	st.State = SteerActive
	return nil
}

// refreshRules takes the app's traffic rules as the site's MEP holds them now (the app may
// have changed them over Mp1); on any failure the rules stay as they were.
func (s *Steerer) refreshRules(ctx context.Context, st *steering) {
	site, err := s.cfg.Sites.Connect(ctx, st.SiteID)
	if err != nil || site.MEP == nil {
		return
	}
	res, err := site.MEP.GetAppInstanceWithResponse(ctx, st.AppInstanceID, nil)
	if err != nil || res.JSON200 == nil || res.JSON200.AppTrafficRule == nil {
		return
	}
	st.Rules = *res.JSON200.AppTrafficRule
}

// routeAddress is the app's address for the routes: additionalParams appN6Address (and
// appN6Port), else the first forwarding rule's dstInterface dstIpAddress.
func routeAddress(params map[string]any, rules []mp1api.TrafficRule) (string, uint16) {
	var port uint16
	if p, ok := params["appN6Port"].(float64); ok && p > 0 && p < 65536 {
		port = uint16(p)
	}
	if a, ok := params["appN6Address"].(string); ok && a != "" {
		return a, port
	}
	for _, r := range rules {
		if r.Action != mp1api.FORWARDDECAPSULATED && r.Action != mp1api.FORWARDENCAPSULATED {
			continue
		}
		if r.DstInterface == nil {
			continue
		}
		for _, d := range *r.DstInterface {
			if d.DstIpAddress != nil && *d.DstIpAddress != "" {
				return *d.DstIpAddress, port
			}
		}
	}
	return "", port
}

// Run is the steering loop: until ctx ends it claims due records every Poll and brings
// each one's NEF in line, and every Sweep it deletes the orphans at the sites' NEFs.
func (s *Steerer) Run(ctx context.Context) error {
	t := time.NewTicker(s.cfg.Poll)
	defer t.Stop()
	var swept time.Time
	for {
		if time.Since(swept) >= s.cfg.Sweep {
			s.sweep(ctx)
			swept = time.Now()
		}
		recs, err := s.cfg.Store.ClaimSteering(ctx, 16, s.cfg.Lease)
		if err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "claim steering records failed", logkeys.Error, err.Error())
		}
		for _, r := range recs {
			s.loopPass(ctx, r)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (s *Steerer) loopPass(ctx context.Context, r *store.Steering) {
	log := s.log.With(logkeys.AppInstanceID, r.AppInstanceID, logkeys.Site, r.SiteID)
	st, err := decodeSteering(r)
	if err != nil {
		log.WarnContext(ctx, "steering record unreadable", logkeys.Error, err.Error())
		return
	}
	site, ok, err := s.cfg.Sites.FiveG(ctx, st.SiteID)
	if err == nil && !ok {
		site = af.SiteConfig{}
	}
	if err == nil {
		err = s.pass(ctx, st, site, true)
	}
	if ctx.Err() != nil {
		return
	}
	s.settle(ctx, log, st, err)
	s.afterPass(ctx, log, st, site)
	s.tellMEPs(ctx, r.AppInstanceID)
}

// NotifyBinding implements af.Lookup: the instance's subscription's notification binding.
func (s *Steerer) NotifyBinding(ctx context.Context, appInstanceID string) (af.Binding, error) {
	r, err := s.cfg.Store.GetSteering(ctx, appInstanceID)
	if errors.Is(err, store.ErrNotFound) {
		return af.Binding{}, fmt.Errorf("app instance %s: %w", appInstanceID, af.ErrUnknownSubscription)
	}
	if err != nil {
		return af.Binding{}, err
	}
	st, err := decodeSteering(r)
	if err != nil {
		return af.Binding{}, err
	}
	if st.Sub == nil || st.Sub.Binding.TokenSHA256 == "" {
		return af.Binding{}, fmt.Errorf("app instance %s: %w", appInstanceID, af.ErrUnknownSubscription)
	}
	return st.Sub.Binding, nil
}

// RecordUPPathChange implements af.Recorder: the change is kept on the instance's record
// (the last MaxPathChanges) and told to the MEPs of the sites whose DNAIs it names
// (steer_mep.go).
func (s *Steerer) RecordUPPathChange(ctx context.Context, appInstanceID string, ch af.UPPathChange) error {
	err := s.cfg.Store.UpdateSteering(ctx, appInstanceID, func(cur *store.Steering) (*store.Steering, error) {
		if cur == nil {
			return nil, fmt.Errorf("app instance %s: %w", appInstanceID, af.ErrUnknownSubscription)
		}
		st, err := decodeSteering(cur)
		if err != nil {
			return nil, err
		}
		p := pathChange{GPSI: ch.GPSI, SourceDNAI: ch.SourceDNAI, TargetDNAI: ch.TargetDNAI, ChangeType: ch.ChangeType, At: ch.At.UTC()}
		if ch.UEIPv4.IsValid() {
			p.UEIPv4 = ch.UEIPv4.String()
		}
		if ch.UEIPv6Prefix.IsValid() {
			p.UEIPv6Prefix = ch.UEIPv6Prefix.String()
		}
		st.PathChanges = append(st.PathChanges, p)
		if n := len(st.PathChanges); n > MaxPathChanges {
			st.PathChanges = st.PathChanges[n-MaxPathChanges:]
		}
		st.MEPPending = addMEPPending(st.MEPPending, p)
		return st.record(cur)
	})
	if err != nil {
		return err
	}
	// The sites' MEPs learn of it now; the steering loop retries those that do not answer.
	s.tellMEPs(ctx, appInstanceID)
	return nil
}

// steerAfter is the executor's hook between a task's end and the op occurrence's: a
// completed instantiate starts the instance's traffic steering, a completed terminate ends
// it. Neither changes the op occurrence's outcome.
func (e *Executor) steerAfter(ctx context.Context, op Op, siteID string, task reconcile.Task, p reconcile.Progress) {
	if e.cfg.Steering == nil || p.Outcome != reconcile.Completed || ctx.Err() != nil {
		return
	}
	switch task.Kind {
	case reconcile.KindInstantiate:
		e.cfg.Steering.Instantiated(ctx, op, siteID, task)
	case reconcile.KindTerminate:
		e.cfg.Steering.Terminated(ctx, op)
	}
}
