package httpapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/edgemec/edgemec/internal/obs/logkeys"
	"github.com/edgemec/edgemec/internal/problem"
	"github.com/edgemec/edgemec/mep/internal/uepath"
	"github.com/edgemec/edgemec/mep/mm5api"
	"github.com/edgemec/edgemec/mep/mm5api/mm5server"
)

// PostUEPathChange implements POST /mepm/v1/ue_paths (an addition to Mm5): the orchestrator
// reports that an app's traffic of a UE now leaves at one of the site's DNAIs (ARRIVED) or
// left one of them (LEFT). The change is kept in Config.UEPaths.
func (h *mm5Handler) PostUEPathChange(ctx context.Context, r mm5server.PostUEPathChangeRequestObject) (mm5server.PostUEPathChangeResponseObject, error) {
	b := r.Body
	c := uepath.Change{AppInstanceID: b.AppInstanceId, AppDID: b.AppDId, UE: ueFrom(b.Ue),
		Arrived: b.Change == mm5api.ARRIVED, SourceDNAI: deref(b.SourceDnai), TargetDNAI: deref(b.TargetDnai), At: b.At}
	changed, err := h.cfg.UEPaths.Apply(c)
	switch {
	case errors.Is(err, uepath.ErrFull):
		return nil, problem.New(http.StatusInsufficientStorage, "the MEP holds too many UE paths")
	case err != nil:
		return nil, problem.BadRequest("%v", err)
	}
	if changed {
		h.log.InfoContext(ctx, "ue path change", logkeys.AppInstanceID, c.AppInstanceID, logkeys.State, string(b.Change))
	}
	return mm5server.PostUEPathChange204Response{}, nil
}

// ListUEPaths implements GET /mepm/v1/ue_paths: the UEs whose traffic leaves at this site.
func (h *mm5Handler) ListUEPaths(_ context.Context, r mm5server.ListUEPathsRequestObject) (mm5server.ListUEPathsResponseObject, error) {
	paths := h.cfg.UEPaths.List(deref(r.Params.AppDId))
	out := make([]mm5api.UEPath, 0, len(paths))
	for _, p := range paths {
		out = append(out, mm5api.UEPath{AppInstanceId: p.AppInstanceID, AppDId: p.AppDID, Dnai: p.DNAI, Since: p.Since, Ue: ueTo(p.UE)})
	}
	return value{status: http.StatusOK, v: out}, nil
}

func (r value) VisitListUEPathsResponse(w http.ResponseWriter) error { return r.write(w) }

func ueFrom(u mm5api.UEIdentity) uepath.UE {
	return uepath.UE{IPv4: deref(u.Ipv4Addr), IPv6Prefix: deref(u.Ipv6Prefix), GPSI: deref(u.Gpsi)}
}

func ueTo(u uepath.UE) mm5api.UEIdentity {
	opt := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}
	return mm5api.UEIdentity{Ipv4Addr: opt(u.IPv4), Ipv6Prefix: opt(u.IPv6Prefix), Gpsi: opt(u.GPSI)}
}
