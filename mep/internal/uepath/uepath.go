// Package uepath keeps what the orchestrator tells a MEP about the user plane paths of UEs
// (Mm5 /ue_paths, an addition to Mm5): which UEs' traffic for an app now leaves the 5G core
// at this site. The orchestrator, acting as a 3GPP Application Function, learns it from the
// NEF's UP_PATH_CHANGE notifications (TS 29.522 clause 5.4.4.2) and tells the MEP of the
// site whose DNAI is the new path (ARRIVED) and the MEP of the site the traffic left
// (LEFT).
//
// The table is level-triggered per app and UE: it holds each UE's latest change and ignores
// older ones, so that repeated deliveries (the orchestrator retries until the MEP answers)
// and reordered ones leave it right. It is kept in memory, bounded by Max entries: a
// restarted MEP knows the UEs of the changes after its start.
package uepath

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"time"
)

// ErrFull is returned by Apply when the table holds Max entries and the change would add one.
var ErrFull = errors.New("ue path table full")

// DefaultMax bounds the entries of a Table whose Max is 0.
const DefaultMax = 100000

// UE names a UE as the NEF does; at least one member is set.
type UE struct {
	IPv4, IPv6Prefix, GPSI string
}

// key identifies the UE: its GPSI if known, else its address.
func (u UE) key() string {
	switch {
	case u.GPSI != "":
		return "gpsi:" + u.GPSI
	case u.IPv4 != "":
		return "ipv4:" + u.IPv4
	}
	return "ipv6:" + u.IPv6Prefix
}

// Valid reports whether the UE is named at all.
func (u UE) Valid() bool { return u.IPv4 != "" || u.IPv6Prefix != "" || u.GPSI != "" }

// Change is one path change as the orchestrator reports it.
type Change struct {
	AppInstanceID, AppDID string
	UE                    UE
	// Arrived: the traffic now leaves at this site's TargetDNAI; else it left this site's
	// SourceDNAI.
	Arrived                bool
	SourceDNAI, TargetDNAI string
	At                     time.Time
}

// Path is a UE whose traffic for an app leaves at this site.
type Path struct {
	AppInstanceID, AppDID string
	UE                    UE
	DNAI                  string
	Since                 time.Time
}

type entry struct {
	path    Path
	at      time.Time // the latest change applied, ARRIVED or LEFT
	present bool
}

// Table is the MEP's record of UE paths. The zero value is ready; it is safe for
// concurrent use.
type Table struct {
	// Max bounds the entries (default DefaultMax).
	Max int

	mu sync.Mutex
	m  map[string]*entry // by appDId + UE key
}

// Apply records a change. It returns whether the table changed: a change older than the
// one held for the same app and UE changes nothing.
func (t *Table) Apply(c Change) (bool, error) {
	if c.AppDID == "" || !c.UE.Valid() {
		return false, errors.New("ue path change: appDId and a UE are required")
	}
	if c.Arrived && c.TargetDNAI == "" {
		return false, errors.New("ue path change: ARRIVED needs targetDnai")
	}
	k := c.AppDID + "\x00" + c.UE.key()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = map[string]*entry{}
	}
	e := t.m[k]
	if e != nil && c.At.Before(e.at) {
		return false, nil
	}
	if !c.Arrived {
		if e == nil || !e.present {
			return false, nil
		}
		// LEFT only ends what it names: a UE that arrived at another of the site's DNAIs
		// since stays.
		if c.SourceDNAI != "" && c.SourceDNAI != e.path.DNAI {
			return false, nil
		}
		delete(t.m, k)
		return true, nil
	}
	if e == nil {
		limit := t.Max
		if limit <= 0 {
			limit = DefaultMax
		}
		if len(t.m) >= limit {
			return false, ErrFull
		}
		e = &entry{}
		t.m[k] = e
	}
	e.present, e.at = true, c.At
	e.path = Path{AppInstanceID: c.AppInstanceID, AppDID: c.AppDID, UE: c.UE, DNAI: c.TargetDNAI, Since: c.At}
	return true, nil
}

// List returns the UEs served at this site, of one app when appDID is set, ordered by app
// and UE.
func (t *Table) List(appDID string) []Path {
	t.mu.Lock()
	out := make([]Path, 0, len(t.m))
	for _, e := range t.m {
		if e.present && (appDID == "" || e.path.AppDID == appDID) {
			out = append(out, e.path)
		}
	}
	t.mu.Unlock()
	slices.SortFunc(out, func(a, b Path) int {
		if c := strings.Compare(a.AppDID, b.AppDID); c != 0 {
			return c
		}
		return strings.Compare(a.UE.key(), b.UE.key())
	})
	return out
}
