package placement

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrNoSite is matched (errors.Is) by the error of a decision that chose no site.
var ErrNoSite = errors.New("no edge site fits")

// NoSiteError is the error of a decision that chose no site. The LCM fails the op occurrence
// with it: Error() for the title line, Detail for the ProblemDetails detail.
type NoSiteError struct {
	Decision Decision
}

// Error says that no site fits and how many were rejected.
func (e *NoSiteError) Error() string {
	return fmt.Sprintf("%s: %s", ErrNoSite, e.Decision.summary())
}

// Unwrap returns ErrNoSite.
func (e *NoSiteError) Unwrap() error { return ErrNoSite }

// Detail returns the decision's Detail.
func (e *NoSiteError) Detail() string { return e.Decision.Detail() }

// Err returns nil when d chose a site, else a *NoSiteError matching ErrNoSite.
func (d Decision) Err() error {
	if d.Chosen != nil {
		return nil
	}
	return &NoSiteError{Decision: d}
}

func (d Decision) summary() string {
	n := len(d.Rejected)
	switch {
	case n == 0 && len(d.UnknownPinned) == 0:
		return "no sites in the inventory"
	case n == 0:
		return "no pinned site in the inventory"
	case n == 1:
		return "1 site rejected"
	}
	return strconv.Itoa(n) + " sites rejected"
}

// Detail is the text for the detail of a FAILED op occurrence's ProblemDetails: a summary
// line, then one line per rejected site, "<id> (<name>): <reason>", in site ID order, then one
// line per pinned ID that matches no site. For a decision that chose a site it starts with
// "placed on <id>" instead of the summary.
func (d Decision) Detail() string {
	var b strings.Builder
	if d.Chosen != nil {
		b.WriteString("placed on ")
		b.WriteString(siteLabel(d.Chosen.SiteID, d.Chosen.SiteName))
	} else {
		b.WriteString(ErrNoSite.Error())
		b.WriteString(": ")
		b.WriteString(d.summary())
	}
	for _, r := range d.Rejected {
		b.WriteByte('\n')
		b.WriteString(siteLabel(r.SiteID, r.SiteName))
		b.WriteString(": ")
		b.WriteString(r.Reason)
	}
	for _, id := range d.UnknownPinned {
		b.WriteString("\n")
		b.WriteString(id)
		b.WriteString(": pinned in selectedMECHostInfo but not in the inventory")
	}
	return b.String()
}

func siteLabel(id, name string) string {
	if name == "" || name == id {
		return id
	}
	return id + " (" + name + ")"
}

// FormatBytes prints a byte count as Kubernetes does, in the largest binary unit that divides
// it exactly: 512Mi, 1536Mi, 2Gi, 1000.
func FormatBytes(n int64) string {
	if n == 0 {
		return "0"
	}
	units := []string{"Ei", "Pi", "Ti", "Gi", "Mi", "Ki"}
	for i, u := range units {
		shift := uint(10 * (len(units) - i))
		if n%(1<<shift) == 0 {
			return strconv.FormatInt(n>>shift, 10) + u
		}
	}
	return strconv.FormatInt(n, 10)
}
