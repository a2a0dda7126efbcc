package orchestrate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/edgemec/edgemec/internal/obs/logkeys"
	"github.com/edgemec/edgemec/meo/internal/af"
	"github.com/edgemec/edgemec/meo/internal/store"
)

// A site's 5G data replaced or removed (the inventory calls FiveGChanged once the change is
// stored, with the old data in clear). What a subscription cannot follow by PATCH is
// deleted at the NEF it was made at, with the old data's credentials, which nothing keeps
// afterwards:
//
//   - the NEF (API root) or the AF id changed, or the DNN or S-NSSAI (a TS 29.522 merge
//     patch cannot change them), or the 5G data was removed: the subscription is deleted at
//     the old NEF and the record made due at once, so that the loop subscribes with the new
//     data; without new data the record waits in NO_5G_DATA until the site has some again;
//   - only the DNAIs, the timeout or the credentials changed: the record is made due at
//     once and the loop PATCHes the routes (or does nothing).
//
// The delete is tried a few times (SteerConfig.Backoff). One the old NEF does not take is
// reported (the joined errors, the log, and lastError on the record until the next pass):
// the subscription may remain there, since no later pass can reach that NEF.
//
// A pass in flight when the data change may hold a subscription it made with the old data
// and not stored yet, which FiveGChanged cannot see. Whoever ran the pass therefore reads
// the site's 5G data again once the outcome is stored (afterPass): if the NEF moved, it
// deletes that subscription with the data the pass used, the same way.

// SteerNoFiveG is the state of a record whose site has no 5G data (any more).
const SteerNoFiveG = "NO_5G_DATA"

// siteSteering lists a site's steering records (pgstore.Store).
type siteSteering interface {
	SteeringOfSite(ctx context.Context, siteID string) ([]*store.Steering, error)
}

// FiveGChanged brings the steering of a site's instances after its 5G data changed: old is
// the data before (nil if none), next after (nil once removed).
func (s *Steerer) FiveGChanged(ctx context.Context, siteID string, old, next *af.SiteConfig) error {
	ss, ok := s.cfg.Store.(siteSteering)
	if !ok {
		return errors.New("steering: the store cannot list a site's records")
	}
	recs, err := ss.SteeringOfSite(ctx, siteID)
	if err != nil {
		return err
	}
	renew := next == nil || old == nil || moved(*old, *next)
	var oldClient *af.Client
	if renew && old != nil {
		//nolint:contextcheck // the client's token source outlives this call (see af.Client.resetToken)
		if oldClient, err = af.NewClient(*old, af.NotifyURLs{Base: s.cfg.NotifyBase}, s.cfg.Transport); err != nil {
			return fmt.Errorf("steering: site %s's old 5G data: %w", siteID, err)
		}
	}
	noClient := fmt.Errorf("%w: no old 5G data to reach its NEF", af.ErrInvalid)
	var errs []error
	for _, r := range recs {
		st, err := decodeSteering(r)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var (
			gone    *af.Subscription
			lastErr *store.Problem
		)
		if renew && st.Sub != nil {
			gone = st.Sub
			log := s.log.With(logkeys.AppInstanceID, st.AppInstanceID, logkeys.Site, siteID)
			if err := s.deleteAtFormerNEF(ctx, log, oldClient, noClient, old, *st.Sub); err != nil {
				errs = append(errs, fmt.Errorf("app instance %s: %w", st.AppInstanceID, err))
				lastErr = steerProblem(err)
			}
		}
		if err := s.afterSiteChange(ctx, st.AppInstanceID, gone, next == nil, lastErr); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// afterPass runs once a pass's outcome is stored: used is the site's 5G data the pass ran
// on. If the data moved the subscription (moved) or were removed since, the subscription
// st holds is at the former NEF, which FiveGChanged, run meanwhile, may not have seen: it is
// deleted there with used, and the record is due at once.
func (s *Steerer) afterPass(ctx context.Context, log *slog.Logger, st *steering, used af.SiteConfig) {
	if st.Sub == nil || used.SiteID == "" || ctx.Err() != nil {
		return
	}
	cur, ok, err := s.cfg.Sites.FiveG(ctx, st.SiteID)
	if err != nil {
		log.WarnContext(ctx, "read the site's 5G data after a pass failed", logkeys.Error, err.Error())
		return
	}
	if ok && !moved(used, cur) {
		return
	}
	sub := *st.Sub
	//nolint:contextcheck // the client's token source outlives this call (see af.Client.resetToken)
	c, cerr := af.NewClient(used, af.NotifyURLs{Base: s.cfg.NotifyBase}, s.cfg.Transport)
	var lastErr *store.Problem
	if err := s.deleteAtFormerNEF(ctx, log, c, cerr, &used, sub); err != nil {
		lastErr = steerProblem(err)
	}
	if err := s.afterSiteChange(ctx, st.AppInstanceID, &sub, !ok, lastErr); err != nil && ctx.Err() == nil {
		log.WarnContext(ctx, "save traffic steering failed", logkeys.Error, err.Error())
	}
}

// deleteAtFormerNEF deletes sub at the site's former NEF (old) through c, a few times
// (SteerConfig.Backoff), and logs the outcome; without a client, cerr says why. The error
// says the subscription may remain there.
func (s *Steerer) deleteAtFormerNEF(ctx context.Context, log *slog.Logger, c *af.Client, cerr error, old *af.SiteConfig, sub af.Subscription) error {
	err := cerr
	if c != nil {
		err = af.Retry(ctx, s.cfg.Backoff, func(ctx context.Context) error { return c.Unsubscribe(ctx, sub) })
	}
	log = log.With(logkeys.SubscriptionID, sub.ID)
	if err != nil {
		err = fmt.Errorf("delete subscription %s at the site's former NEF %s: %w; it may remain there", sub.ID, subNEF(old), err)
		log.WarnContext(ctx, "traffic influence subscription left at the former NEF", logkeys.Error, err.Error())
		return err
	}
	log.InfoContext(ctx, "traffic influence subscription deleted at the former NEF")
	return nil
}

// afterSiteChange updates a record after its site's 5G data changed: gone, if set, is the
// subscription no longer held (deleted, or left at the former NEF, lastErr saying so); the
// record is due at once.
func (s *Steerer) afterSiteChange(ctx context.Context, appInstanceID string, gone *af.Subscription, removed bool, lastErr *store.Problem) error {
	return s.cfg.Store.UpdateSteering(ctx, appInstanceID, func(cur *store.Steering) (*store.Steering, error) {
		if cur == nil {
			return nil, nil
		}
		st, err := decodeSteering(cur)
		if err != nil {
			return nil, err
		}
		if gone != nil && st.Sub != nil && st.Sub.ID == gone.ID && st.Sub.AFID == gone.AFID {
			st.Sub, st.Applied, st.DNAIs = nil, "", nil
			if !st.Present {
				return nil, nil // terminated: nothing left to delete
			}
		}
		if lastErr != nil {
			st.LastError = lastErr
		}
		switch {
		case removed && st.Present && st.Sub == nil:
			st.State = SteerNoFiveG
		case st.Present && st.Sub == nil && st.State != SteerNoTraffic:
			st.State = SteerPending
		}
		st.Gen++ // a pass in flight on the old data keeps only what it learnt of the NEF
		st.Updated = time.Now()
		out := *cur
		if out.Doc, err = json.Marshal(st); err != nil {
			return nil, err
		}
		out.View, out.Due = st.view(), time.Now()
		return &out, nil
	})
}

// moved is whether the subscriptions made with old cannot follow next by a PATCH.
func moved(old, next af.SiteConfig) bool {
	return strings.TrimSuffix(old.NEF.APIRoot, "/") != strings.TrimSuffix(next.NEF.APIRoot, "/") ||
		old.NEF.AFID != next.NEF.AFID || old.DNN != next.DNN || old.SNSSAI != next.SNSSAI
}

func subNEF(c *af.SiteConfig) string {
	if c == nil {
		return "(unknown)"
	}
	return c.NEF.APIRoot
}
