package platform

import (
	"context"
	"encoding/json"
	"time"

	"github.com/edgemec/edgemec/internal/mecrule"
	"github.com/edgemec/edgemec/mep/internal/store"
)

// Record is an app instance as Mm5 shows it, without credentials (the caller adds them).
func (s *MEP) record(a *appDoc) AppRecord {
	r := AppRecord{AppInstance: a.Spec, AppInstanceId: a.ID, State: a.State, CreatedAt: a.CreatedAt, Mp1Root: s.cfg.APIRoot}
	tr := append([]mecrule.TrafficRule{}, a.Traffic...)
	r.AppTrafficRule = &tr
	dr := make([]mecrule.DNSRule, len(a.DNS))
	for i, d := range a.DNS {
		dr[i] = d.Rule
	}
	r.AppDNSRule = &dr
	if a.Termination != nil {
		d := a.Termination.Deadline
		r.TerminationDeadline = &d
	}
	return r
}

// PutApp creates or replaces an app instance (Mm5 PUT). It reports whether it was created.
// On replace, a rule that keeps its id keeps its Mp1-set state unless the spec sets one.
func (s *MEP) PutApp(ctx context.Context, id string, spec AppInstance, explicitState map[string]bool) (AppRecord, bool, error) {
	if err := ValidateAppInstanceID(id); err != nil {
		return AppRecord{}, false, err
	}
	if err := ValidateAppInstance(&spec); err != nil {
		return AppRecord{}, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.Now()
	old := s.apps[id]
	if old != nil && old.Termination != nil {
		return AppRecord{}, false, conflict("app instance %q is %s", id, flowWord(old.Termination.Action))
	}
	a := &appDoc{ID: id, Spec: spec, State: AppInstantiated, CreatedAt: now, Incarnation: newID()}
	oldTraffic := map[string]mecrule.TrafficRule{}
	oldDNS := map[string]dnsRuleDoc{}
	if old != nil {
		a.CreatedAt, a.Ready, a.State, a.Registration = old.CreatedAt, old.Ready, old.State, old.Registration
		a.Incarnation, a.SecretGeneration = old.Incarnation, old.SecretGeneration
		for _, r := range old.Traffic {
			oldTraffic[r.TrafficRuleId] = r
		}
		for _, r := range old.DNS {
			oldDNS[r.Rule.DnsRuleId] = r
		}
	}
	if spec.AppTrafficRule != nil {
		for _, r := range *spec.AppTrafficRule {
			if o, ok := oldTraffic[r.TrafficRuleId]; ok && !explicitState["traffic/"+r.TrafficRuleId] {
				r.State = o.State
			}
			a.Traffic = append(a.Traffic, r)
		}
	}
	a.GrantTraffic = append([]mecrule.TrafficRule{}, a.Traffic...)
	if spec.AppDNSRule != nil {
		for _, r := range *spec.AppDNSRule {
			d := dnsRuleDoc{Rule: r, CreatedAt: now}
			if o, ok := oldDNS[r.DnsRuleId]; ok {
				d.CreatedAt = o.CreatedAt
				if !explicitState["dns/"+r.DnsRuleId] {
					d.Rule.State = o.Rule.State
				}
			}
			a.DNS = append(a.DNS, d)
			a.GrantDNS = append(a.GrantDNS, d.Rule)
		}
	}
	if a.GrantDNS == nil {
		a.GrantDNS = []mecrule.DNSRule{}
	}
	if err := s.grantsFitLocked(id, a.GrantTraffic); err != nil {
		return AppRecord{}, false, err
	}
	// The rules live on the app document; the spec copy would only duplicate them.
	a.Spec.AppTrafficRule, a.Spec.AppDNSRule = nil, nil
	t := s.begin()
	t.put(store.KindApp, id, a)
	t.traffic = old == nil && len(a.Traffic) > 0 || old != nil && !sameJSON(old.Traffic, a.Traffic)
	t.dns = old == nil && len(a.DNS) > 0 || old != nil && (!sameJSON(old.DNS, a.DNS) ||
		!sameJSON(old.Spec.DnsRuleClientSubnets, a.Spec.DnsRuleClientSubnets))
	t.then(func() { s.setAppLocked(a) })
	if err := t.commit(ctx); err != nil {
		return AppRecord{}, false, err
	}
	s.log.InfoContext(ctx, "app instance provisioned", "app_instance_id", id, "created", old == nil,
		"traffic_rules", len(a.Traffic), "dns_rules", len(a.DNS))
	return s.record(a), old == nil, nil
}

func sameJSON(a, b any) bool { return ETag(a) == ETag(b) }

// grantsFitLocked reports whether the traffic rules granted to every app instance, with
// those of id replaced by grant, fit the data plane whole (mecrule.Footprint): then no app,
// whatever it does within its grant, can make the UPGW refuse another app's rule. A site
// whose other grants do not fit already (state from before this check) is not blocked by
// it.
func (s *MEP) grantsFitLocked(id string, grant []mecrule.TrafficRule) error {
	var f mecrule.Footprint
	for _, a := range s.apps {
		if a.ID == id {
			continue
		}
		for i := range a.GrantTraffic {
			f.Add(&a.GrantTraffic[i])
		}
	}
	if f.Check() != nil {
		return nil
	}
	for i := range grant {
		f.Add(&grant[i])
	}
	if err := f.Check(); err != nil {
		return conflict("the traffic rules granted on this site would no longer fit the data plane with this instance's: %v", err)
	}
	return nil
}

// MECVersions returns the MEC versions app instance id declares (its AppD's mecVersion;
// none when the instance is unknown or declares none).
func (s *MEP) MECVersions(id string) []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if a := s.apps[id]; a != nil && a.Spec.MecVersion != nil {
		return *a.Spec.MecVersion
	}
	return nil
}

// GetApp returns one app instance.
func (s *MEP) GetApp(id string) (AppRecord, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	a, err := s.app(id)
	if err != nil {
		return AppRecord{}, err
	}
	return s.record(a), nil
}

// WaitApp returns the app instance once its state is no longer while, or when wait passed
// or ctx ended with the state unchanged (a long poll: the MEO waits so for the app's
// confirm_ready and for the end of a termination or a stop). An instance that is gone, or
// goes meanwhile, is ErrNotFound.
func (s *MEP) WaitApp(ctx context.Context, id string, while AppState, wait time.Duration) (AppRecord, error) {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		s.mu.RLock()
		ch := s.appsCh
		a, err := s.app(id)
		var rec AppRecord
		if err == nil {
			rec = s.record(a)
		}
		s.mu.RUnlock()
		if err != nil || rec.State != while {
			return rec, err
		}
		select {
		case <-ch:
		case <-timer.C:
			return rec, nil
		case <-ctx.Done():
			return rec, nil
		}
	}
}

// ListApps returns every app instance, oldest first.
func (s *MEP) ListApps() []AppRecord {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]AppRecord, 0, len(s.apps))
	for _, a := range s.apps {
		out = append(out, s.record(a))
	}
	sortBy(out, func(r AppRecord) string { return r.CreatedAt.Format(time.RFC3339Nano) + r.AppInstanceId })
	return out
}

// ConfirmReady records the app's READY indication (Mp1 confirm_ready).
func (s *MEP) ConfirmReady(ctx context.Context, id, indication string) error {
	if indication != "READY" {
		return invalid("indication must be READY")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a, err := s.app(id)
	if err != nil {
		return err
	}
	if a.Termination != nil {
		return conflict("app instance %q is %s", id, flowWord(a.Termination.Action))
	}
	if a.Ready {
		return conflict("app instance %q has already confirmed ready", id)
	}
	n := *a
	n.Ready, n.State = true, AppReady
	t := s.begin()
	t.put(store.KindApp, id, &n)
	t.then(func() { s.setAppLocked(&n) })
	return t.commit(ctx)
}

// StartTermination begins the graceful termination flow of ETSI GS MEC 011 §5.2.x: notify
// the app's AppTerminationNotification subscribers, then wait for confirm_termination or the
// timeout (negative: Config.GracefulTimeout). With no subscriber there is nobody to wait for,
// and with a zero timeout nobody is waited for: the instance goes at once.
func (s *MEP) StartTermination(ctx context.Context, id string, timeout time.Duration) (AppRecord, error) {
	if timeout < 0 {
		timeout = s.cfg.GracefulTimeout
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a, err := s.app(id)
	if err != nil {
		return AppRecord{}, err
	}
	if a.Termination != nil && a.Termination.Action != Stopping { // idempotent: the flow is already under way
		return s.record(a), nil
	}
	// A termination overrides a stop under way: the app is told TERMINATING and its
	// confirmation of the stop no longer counts.
	n := *a
	secs := int((timeout + time.Second - 1) / time.Second)
	n.Termination = &termination{Action: Terminating, Timeout: secs, Deadline: s.cfg.Now().Add(timeout)}
	n.State = AppTerminating
	t := s.begin()
	subs := s.terminationSubsLocked(id)
	subscribers := len(subs)
	if subscribers > 0 && timeout > 0 {
		s.enqueue(t, subs, func(href string) any {
			return AppTerminationNotification{
				NotificationType: "AppTerminationNotification", OperationAction: Terminating, MaxGracefulTimeout: secs,
				UnderscoreLinks: AppTerminationLinks{
					Subscription:       LinkType{Href: href},
					ConfirmTermination: &LinkType{Href: s.cfg.APIRoot + "/mec_app_support/v1/applications/" + id + "/confirm_termination"},
				},
			}
		})
	}
	if subscribers == 0 || timeout == 0 {
		reason := "no termination subscriber"
		if subscribers > 0 {
			reason = "graceful timeout 0"
		}
		s.log.InfoContext(ctx, "app instance terminated", "app_instance_id", id, "reason", reason)
		if err := s.finishLocked(ctx, &n); err != nil {
			return AppRecord{}, err
		}
		return s.record(&n), nil
	}
	t.put(store.KindApp, id, &n)
	t.then(func() { s.setAppLocked(&n) })
	if err := t.commit(ctx); err != nil {
		return AppRecord{}, err
	}
	s.log.InfoContext(ctx, "app termination started", "app_instance_id", id, "subscribers", subscribers, "timeout_s", secs)
	return s.record(&n), nil
}

// ConfirmTermination ends a pending termination early (Mp1 confirm_termination) for the
// operationAction the app confirms.
func (s *MEP) ConfirmTermination(ctx context.Context, id string, action OperationAction) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, err := s.app(id)
	if err != nil {
		return err
	}
	if a.Termination == nil {
		return conflict("no termination is pending for app instance %q", id)
	}
	if a.Termination.Action != action {
		return conflict("pending operation is %s, not %s", a.Termination.Action, action)
	}
	return s.endFlowLocked(ctx, a, "confirmed")
}

// finishLocked completes a termination: the app's services are removed (REMOVED notifications
// to other apps' subscribers), its rules are withdrawn from the feeds, and the instance with
// its subscriptions disappears — all in one batch.
func (s *MEP) finishLocked(ctx context.Context, a *appDoc) error {
	t := s.begin()
	s.dropProcessLocked(t, a.ID)
	t.del(store.KindApp, a.ID)
	t.traffic = len(a.Traffic) > 0
	t.dns = len(a.DNS) > 0
	t.then(func() { delete(s.apps, a.ID) })
	return t.commit(ctx)
}

// dropProcessLocked adds to t the removal of what the app's running process made: its
// services (REMOVED notifications to other apps' subscribers) and its subscriptions. A
// termination and the end of a stop both do it.
func (s *MEP) dropProcessLocked(t *tx, app string) {
	for id, sv := range s.services {
		if sv.app != app {
			continue
		}
		t.del(store.KindService, id)
		s.notifyServiceChange(t, sv, ServiceRemoved, app)
		t.then(func() { s.unindex(sv) })
	}
	for id, sub := range s.subs {
		if sub.AppInstanceID == app {
			t.del(store.KindSubscription, id)
			t.then(func() { delete(s.subs, id); s.owners.Delete(id) })
		}
	}
}

// ReapTerminations finishes every termination whose deadline has passed. Run calls it
// periodically; it also resumes flows that were pending when the MEP stopped.
func (s *MEP) ReapTerminations(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.Now()
	for _, a := range s.apps {
		if a.Termination != nil && !now.Before(a.Termination.Deadline) {
			if err := s.endFlowLocked(ctx, a, "graceful timeout"); err != nil {
				s.log.ErrorContext(ctx, "finish termination or stop", "app_instance_id", a.ID, "error", err)
			}
		}
	}
}

// Register stores an app's self-registration (Mp1 /registrations, MEC 011 V3).
func (s *MEP) Register(ctx context.Context, info AppInfo, create bool) (AppInfo, error) {
	if err := str("appName", info.AppName, true); err != nil {
		return info, err
	}
	if info.AppInstanceId == nil || *info.AppInstanceId == "" {
		return info, invalid("appInstanceId is required")
	}
	if info.Endpoint != nil {
		if err := validateEndpoint("endpoint", *info.Endpoint); err != nil {
			return info, err
		}
	}
	if err := validateAppInfoLists(&info); err != nil {
		return info, err
	}
	b, _ := json.Marshal(&info)
	if len(b) > s.cfg.MaxServiceBytes {
		return info, errf(ErrTooLarge, "the registration has %d bytes, more than the %d it may hold", len(b), s.cfg.MaxServiceBytes)
	}
	id := *info.AppInstanceId
	s.mu.Lock()
	defer s.mu.Unlock()
	a, err := s.app(id)
	if err != nil {
		return info, err
	}
	if create && a.Registration != nil {
		return info, conflict("app instance %q is already registered", id)
	}
	if !create && a.Registration == nil {
		return info, notFound("app instance %q has no registration", id)
	}
	if total := s.appServiceBytes[id] + len(b); total > s.cfg.MaxAppBytes {
		return info, errf(ErrLimit, "app instance %q would hold %d bytes of services and registration, more than %d", id, total, s.cfg.MaxAppBytes)
	}
	n := *a
	n.Registration = &info
	t := s.begin()
	t.put(store.KindApp, id, &n)
	t.then(func() { s.setAppLocked(&n) })
	return info, t.commit(ctx)
}

// Registration returns an app's registration.
func (s *MEP) Registration(id string) (AppInfo, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	a, err := s.app(id)
	if err != nil {
		return AppInfo{}, err
	}
	if a.Registration == nil {
		return AppInfo{}, notFound("app instance %q has no registration", id)
	}
	return *a.Registration, nil
}

// Deregister removes an app's registration.
func (s *MEP) Deregister(ctx context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, err := s.app(id)
	if err != nil {
		return err
	}
	if a.Registration == nil {
		return notFound("app instance %q has no registration", id)
	}
	n := *a
	n.Registration = nil
	t := s.begin()
	t.put(store.KindApp, id, &n)
	t.then(func() { s.setAppLocked(&n) })
	return t.commit(ctx)
}
