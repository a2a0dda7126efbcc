package orchestrate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/edgemec/edgemec/internal/obs/logkeys"
	"github.com/edgemec/edgemec/meo/internal/store"
	"github.com/edgemec/edgemec/mep/mm5api"
)

// Telling the MEPs. A UP path change the NEF reports (RecordUPPathChange) concerns the
// sites whose DNAIs it names, whichever site the instance runs on:
//
//   - the MEP of each site with the target DNAI learns that the app's traffic of the UE now
//     leaves there (Mm5 POST /ue_paths, change ARRIVED);
//   - the MEP of each site with the source DNAI, unless it has the target DNAI too, learns
//     that it left (change LEFT).
//
// The MEP keeps, per app and UE, the latest change (Mm5 GET /ue_paths lists the UEs served
// at its site), so deliveries may repeat. The change is stored on the steering record with
// the path change, as pending, in the notification's transaction; it is delivered right
// after (each MEP bounded by mepTellTimeout, so the NEF's answer is not held long) and,
// for the sites that did not take it, again on each pass of the steering loop, until they
// do, for at most mepTellFor, or until maxMEPPending newer changes push it out.

const (
	mepTellTimeout = 3 * time.Second
	mepTellFor     = time.Hour
	maxMEPPending  = 64
)

// mepPending is a path change not yet taken by every MEP it concerns.
type mepPending struct {
	Change pathChange `json:"change"`
	// Told are the sites whose MEP took it.
	Told []string `json:"told,omitempty"`
}

// addMEPPending queues a path change for the MEPs.
func addMEPPending(list []mepPending, p pathChange) []mepPending {
	list = append(list, mepPending{Change: p})
	if n := len(list); n > maxMEPPending {
		list = list[n-maxMEPPending:]
	}
	return list
}

// ueChangeSender is the Mm5 call of the generated client (*mm5api.ClientWithResponses)
// that tells a MEP of a path change.
type ueChangeSender interface {
	PostUEPathChangeWithResponse(ctx context.Context, body mm5api.PostUEPathChangeJSONRequestBody, reqEditors ...mm5api.RequestEditorFn) (*mm5api.PostUEPathChangeResponse, error)
}

var _ ueChangeSender = (*mm5api.ClientWithResponses)(nil)

// dnaiSites maps each DNAI of the sites with 5G data to the sites that have it.
func (s *Steerer) dnaiSites(ctx context.Context) (map[string][]string, error) {
	ids, err := s.cfg.Sites.IDs(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for _, id := range ids {
		site, ok, err := s.cfg.Sites.FiveG(ctx, id)
		if err != nil || !ok {
			continue
		}
		for _, d := range site.DNAIs {
			out[d] = append(out[d], id)
		}
	}
	return out, nil
}

// tellMEPs delivers the instance's pending path changes to the MEPs they concern and keeps
// what is left. Failures are logged; the steering loop calls it again.
func (s *Steerer) tellMEPs(ctx context.Context, appInstanceID string) {
	r, err := s.cfg.Store.GetSteering(ctx, appInstanceID)
	if err != nil {
		return
	}
	st, err := decodeSteering(r)
	if err != nil || len(st.MEPPending) == 0 {
		return
	}
	log := s.log.With(logkeys.AppInstanceID, appInstanceID)
	bySite, err := s.dnaiSites(ctx)
	if err != nil {
		log.WarnContext(ctx, "tell meps: list sites failed", logkeys.Error, err.Error())
		return
	}
	// Deliver outside the record's lock; then merge what was told into the record as it
	// is now (new changes may have come meanwhile).
	told := map[int][]string{} // index in st.MEPPending → sites that took it now
	for i, p := range st.MEPPending {
		for _, tg := range mepTargets(bySite, p.Change) {
			siteID := tg.siteID
			if slices.Contains(p.Told, siteID) {
				continue
			}
			if err := s.tellMEP(ctx, tg, st, p.Change); err != nil {
				log.WarnContext(ctx, "tell mep of ue path change failed", logkeys.Site, siteID, logkeys.Error, err.Error())
				continue
			}
			told[i] = append(told[i], siteID)
		}
	}
	now := time.Now()
	err = s.cfg.Store.UpdateSteering(ctx, appInstanceID, func(cur *store.Steering) (*store.Steering, error) {
		if cur == nil {
			return nil, errGone
		}
		c, err := decodeSteering(cur)
		if err != nil {
			return nil, err
		}
		var keep []mepPending
		for _, p := range c.MEPPending {
			for i, q := range st.MEPPending {
				if q.Change == p.Change {
					p.Told = append(p.Told, told[i]...)
				}
			}
			all := true
			for _, tg := range mepTargets(bySite, p.Change) {
				all = all && slices.Contains(p.Told, tg.siteID)
			}
			if !all && now.Sub(p.Change.At) < mepTellFor {
				keep = append(keep, p)
			}
		}
		c.MEPPending = keep
		return c.record(cur)
	})
	if err != nil && !errors.Is(err, errGone) && ctx.Err() == nil {
		log.WarnContext(ctx, "tell meps: save failed", logkeys.Error, err.Error())
	}
}

// mepTarget is a site a change concerns and whether the traffic arrived there or left.
type mepTarget struct {
	siteID  string
	arrived bool
}

// mepTargets are the sites a change concerns: those with its target DNAI (arrived), and
// those with its source DNAI but not the target (left).
func mepTargets(bySite map[string][]string, p pathChange) []mepTarget {
	var out []mepTarget
	for _, id := range bySite[p.TargetDNAI] {
		out = append(out, mepTarget{siteID: id, arrived: true})
	}
	if p.SourceDNAI != "" && p.SourceDNAI != p.TargetDNAI {
		for _, id := range bySite[p.SourceDNAI] {
			if !slices.Contains(bySite[p.TargetDNAI], id) {
				out = append(out, mepTarget{siteID: id})
			}
		}
	}
	return out
}

// tellMEP posts one change to one site's MEP.
func (s *Steerer) tellMEP(ctx context.Context, tg mepTarget, st *steering, p pathChange) error {
	siteID := tg.siteID
	site, err := s.cfg.Sites.Connect(ctx, siteID)
	if err != nil {
		return err
	}
	mep, ok := site.MEP.(ueChangeSender)
	if !ok {
		return fmt.Errorf("site %s: its MEP client cannot tell ue path changes", siteID)
	}
	change := mm5api.LEFT
	if tg.arrived {
		change = mm5api.ARRIVED
	}
	body := mm5api.UEPathChange{AppInstanceId: st.AppInstanceID, AppDId: st.AppDID, Change: change, At: p.At,
		Ue:         mm5api.UEIdentity{Ipv4Addr: optString(p.UEIPv4), Ipv6Prefix: optString(p.UEIPv6Prefix), Gpsi: optString(p.GPSI)},
		SourceDnai: optString(p.SourceDNAI), TargetDnai: optString(p.TargetDNAI)}
	if p.ChangeType != "" {
		ct := mm5api.UEPathChangeDnaiChgType(p.ChangeType)
		body.DnaiChgType = &ct
	}
	tctx, cancel := context.WithTimeout(ctx, mepTellTimeout)
	defer cancel()
	res, err := mep.PostUEPathChangeWithResponse(tctx, body)
	if err != nil {
		return err
	}
	if res.StatusCode() != http.StatusNoContent {
		return fmt.Errorf("mep answered %d: %s", res.StatusCode(), truncate(res.Body, 200))
	}
	s.log.InfoContext(ctx, "mep told of ue path change", logkeys.AppInstanceID, st.AppInstanceID, logkeys.Site, siteID,
		logkeys.State, string(change))
	return nil
}

// record is cur with st as its document and view.
func (st *steering) record(cur *store.Steering) (*store.Steering, error) {
	doc, err := json.Marshal(st)
	if err != nil {
		return nil, err
	}
	out := *cur
	out.Doc, out.View = doc, st.view()
	return &out, nil
}

func optString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}
