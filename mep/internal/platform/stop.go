package platform

import (
	"context"
	"time"

	"github.com/edgemec/edgemec/mep/internal/store"
)

// StartStop begins the stop flow of ETSI GS MEC 011 (Mm5 POST stop, run by the MEO before it
// stops the app's workload): the app's AppTerminationNotification subscribers are told
// operationAction STOPPING, then the MEP waits for confirm_termination (STOPPING) or the
// timeout (negative: Config.GracefulTimeout). With no subscriber, or a zero timeout, the stop
// is over at once. The instance is STOPPING meanwhile; stoppedLocked ends the flow.
func (s *MEP) StartStop(ctx context.Context, id string, timeout time.Duration) (AppRecord, error) {
	if timeout < 0 {
		timeout = s.cfg.GracefulTimeout
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a, err := s.app(id)
	if err != nil {
		return AppRecord{}, err
	}
	if a.Termination != nil {
		if a.Termination.Action == Stopping { // idempotent: the stop is under way
			return s.record(a), nil
		}
		return AppRecord{}, conflict("app instance %q is terminating", id)
	}
	n := *a
	secs := int((timeout + time.Second - 1) / time.Second)
	n.Termination = &termination{Action: Stopping, Timeout: secs, Deadline: s.cfg.Now().Add(timeout)}
	n.State = AppStopping
	subs := s.terminationSubsLocked(id)
	if len(subs) == 0 || timeout == 0 {
		reason := "no termination subscriber"
		if len(subs) > 0 {
			reason = "graceful timeout 0"
		}
		if err := s.stoppedLocked(ctx, &n, reason); err != nil {
			return AppRecord{}, err
		}
		return s.record(s.apps[id]), nil
	}
	t := s.begin()
	s.enqueue(t, subs, func(href string) any {
		return AppTerminationNotification{
			NotificationType: "AppTerminationNotification", OperationAction: Stopping, MaxGracefulTimeout: secs,
			UnderscoreLinks: AppTerminationLinks{
				Subscription:       LinkType{Href: href},
				ConfirmTermination: &LinkType{Href: s.cfg.APIRoot + "/mec_app_support/v1/applications/" + id + "/confirm_termination"},
			},
		}
	})
	t.put(store.KindApp, id, &n)
	t.then(func() { s.setAppLocked(&n) })
	if err := t.commit(ctx); err != nil {
		return AppRecord{}, err
	}
	s.log.InfoContext(ctx, "app stop started", "app_instance_id", id, "subscribers", len(subs), "timeout_s", secs)
	return s.record(&n), nil
}

// terminationSubsLocked returns the app's AppTerminationNotification subscriptions.
func (s *MEP) terminationSubsLocked(id string) []*subDoc {
	var subs []*subDoc
	for _, sub := range s.subs {
		if sub.AppInstanceID == id && sub.AppTerm != nil {
			subs = append(subs, sub)
		}
	}
	return subs
}

// stoppedLocked ends a stop flow: the instance is INSTANTIATED and not ready, so the app
// confirms ready again when it runs again. Its subscriptions and services go (REMOVED
// notifications to other apps' subscribers): their callbacks and endpoints were those of
// the stopped process. Its grant, rules, registration and credentials stay.
func (s *MEP) stoppedLocked(ctx context.Context, a *appDoc, reason string) error {
	t := s.begin()
	s.dropProcessLocked(t, a.ID)
	n := *a
	n.Termination, n.Ready, n.State = nil, false, AppInstantiated
	t.put(store.KindApp, a.ID, &n)
	t.then(func() { s.setAppLocked(&n) })
	if err := t.commit(ctx); err != nil {
		return err
	}
	s.log.InfoContext(ctx, "app instance stopped", "app_instance_id", a.ID, "reason", reason)
	return nil
}

// endFlowLocked ends the termination or stop flow of a, as its action says.
func (s *MEP) endFlowLocked(ctx context.Context, a *appDoc, reason string) error {
	if a.Termination != nil && a.Termination.Action == Stopping {
		return s.stoppedLocked(ctx, a, reason)
	}
	s.log.InfoContext(ctx, "app instance terminated", "app_instance_id", a.ID, "reason", reason)
	return s.finishLocked(ctx, a)
}

// flowWord names the flow under way for an error message.
func flowWord(a OperationAction) string {
	if a == Stopping {
		return "stopping"
	}
	return "terminating"
}
