package orchestrate

import (
	"context"
	"errors"
	"strings"

	"github.com/free5gc/openapi/models"

	"github.com/edgemec/edgemec/internal/obs/logkeys"
	"github.com/edgemec/edgemec/meo/internal/af"
	"github.com/edgemec/edgemec/meo/internal/store"
)

// The orphan sweep. A subscription can exist at a NEF with no steering record holding it:
// the MEO stopped between the NEF's 201 and storing the answer, or the answer was lost and
// the next attempt made another one. Nothing would ever delete it, and the 5G core would
// keep steering traffic to an app that may be gone. So every SteerConfig.Sweep the steering
// loop lists the AF's subscriptions at each NEF the sites name (once per NEF and AF id)
// and deletes the orphans:
//
//   - only subscriptions whose notificationDestination is under this MEO's NotifyBase are
//     considered; others the AF id may hold are left alone;
//   - a subscription is claimed when the record of the instance its afTransId names holds
//     it (same subscription id and AF id); a record that cannot be read claims it too;
//   - an unclaimed subscription is deleted only when the next sweep finds it unclaimed
//     again, so that a pass between the NEF's 201 and storing the record (which takes at
//     most a few NEF exchanges, far less than Sweep) never loses its subscription.
//
// Several MEO processes may sweep the same NEF; deletes are idempotent (404 is done).

// sweep runs one round over the sites' NEFs. Failures are logged; the next round retries.
func (s *Steerer) sweep(ctx context.Context) {
	ids, err := s.cfg.Sites.IDs(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.log.WarnContext(ctx, "orphan sweep: list sites failed", logkeys.Error, err.Error())
		}
		return
	}
	seen := map[string]bool{}
	next := map[string]bool{}
	for _, id := range ids {
		site, ok, err := s.cfg.Sites.FiveG(ctx, id)
		if err != nil || !ok {
			continue
		}
		nefKey := strings.TrimSuffix(site.NEF.APIRoot, "/") + "|" + site.NEF.AFID
		if seen[nefKey] {
			continue
		}
		seen[nefKey] = true
		if err := s.sweepNEF(ctx, site, nefKey, next); err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "orphan sweep failed", logkeys.Site, id, logkeys.Error, err.Error())
			// Keep what this NEF's candidates were, so that the next round can decide.
			for k := range s.orphans {
				if strings.HasPrefix(k, nefKey+"|") {
					next[k] = true
				}
			}
		}
	}
	s.orphans = next
}

// sweepNEF deletes the orphans at one NEF that the previous round found too, and adds the
// new candidates to next.
func (s *Steerer) sweepNEF(ctx context.Context, site af.SiteConfig, nefKey string, next map[string]bool) error {
	c, err := s.client(site) //nolint:contextcheck // see pass
	if err != nil {
		return err
	}
	base := strings.TrimSuffix(s.cfg.NotifyBase, "/") + "/"
	deleted, err := c.Sweep(ctx, func(sub models.NefTrafficInfluSub, id string) bool {
		if !strings.HasPrefix(sub.NotificationDestination, base) || s.claimed(ctx, site.NEF.AFID, sub.AfTransId, id) {
			return true
		}
		k := nefKey + "|" + id
		if s.orphans[k] {
			return false
		}
		next[k] = true
		return true
	})
	for _, id := range deleted {
		s.log.InfoContext(ctx, "orphan traffic influence subscription deleted", logkeys.Site, site.SiteID,
			logkeys.SubscriptionID, id)
	}
	return err
}

// claimed is whether the steering record of appInstanceID holds the subscription; a record
// that cannot be read counts as holding it.
func (s *Steerer) claimed(ctx context.Context, afID, appInstanceID, id string) bool {
	if appInstanceID == "" {
		return false
	}
	r, err := s.cfg.Store.GetSteering(ctx, appInstanceID)
	if errors.Is(err, store.ErrNotFound) {
		return false
	}
	if err != nil {
		return true
	}
	st, err := decodeSteering(r)
	if err != nil {
		return true
	}
	return st.Sub != nil && st.Sub.ID == id && st.Sub.AFID == afID
}
