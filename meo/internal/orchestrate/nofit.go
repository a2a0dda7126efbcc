package orchestrate

import (
	"github.com/edgemec/edgemec/meo/internal/placement"
)

// healthOnly reports whether a decision that chose no site failed for want of healthy sites
// alone: at least one site was rejected as unhealthy (its MEP or VIM unreachable) and every
// other rejection is one that the request or the move made itself (pinning left the site
// out, or it is the site an instance moves away from, named in ignore). Such a placement may
// succeed once a site answers again, so the op ends FAILED_TEMP and is retried; a capacity,
// kind, architecture, location or cordon rejection needs a change and ends it FAILED.
func healthOnly(d placement.Decision, ignore string) bool {
	if d.Chosen != nil || len(d.UnknownPinned) > 0 {
		return false
	}
	unhealthy := false
	for _, r := range d.Rejected {
		switch {
		case r.SiteID == ignore && ignore != "", r.Code == placement.CodeNotSelected:
		case r.Code == placement.CodeUnhealthy:
			unhealthy = true
		default:
			return false
		}
	}
	return unhealthy
}
