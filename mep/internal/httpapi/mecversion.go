package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/edgemec/edgemec/mep/mp1api"
)

// MECVersion is a MEC 011 version: major, minor, patch ("2.1.1"; "v2.1.1" and "2.1" are
// read too).
type MECVersion [3]int

// ParseMECVersion parses a version.
func ParseMECVersion(s string) (MECVersion, error) {
	var v MECVersion
	parts := strings.Split(strings.TrimPrefix(strings.TrimSpace(s), "v"), ".")
	if len(parts) < 1 || len(parts) > 3 {
		return v, fmt.Errorf("MEC 011 version %q: want major.minor.patch, e.g. 2.2.1", s)
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || n > 999 {
			return v, fmt.Errorf("MEC 011 version %q: want major.minor.patch, e.g. 2.2.1", s)
		}
		v[i] = n
	}
	return v, nil
}

// Less orders versions.
func (v MECVersion) Less(o MECVersion) bool {
	for i := range v {
		if v[i] != o[i] {
			return v[i] < o[i]
		}
	}
	return false
}

// arrayDstInterface is the first MEC 011 version whose TrafficRule.dstInterface is an array.
var arrayDstInterface = MECVersion{2, 2, 1}

// newest returns the newest of the versions that parse, and false when none does.
func newest(vs []string) (MECVersion, bool) {
	var best MECVersion
	ok := false
	for _, s := range vs {
		v, err := ParseMECVersion(s)
		if err != nil {
			continue // an AppD may name versions of other specs; they do not count
		}
		if !ok || best.Less(v) {
			best, ok = v, true
		}
	}
	return best, ok
}

// mecVersion is the MEC 011 version the caller of a request is answered in: for an app the
// newest its instance declares (mecVersion), else the site default.
func (h *handler) mecVersion(ctx context.Context) MECVersion {
	if p := principal(ctx); !p.Operator && p.AppInstanceID != "" {
		if v, ok := newest(h.site.MECVersions(p.AppInstanceID)); ok {
			return v
		}
	}
	return h.defaultVersion
}

// trafficRules renders traffic rules in the representation of the caller's MEC 011 version:
// before V2.2.1, dstInterface is a single object.
func (h *handler) trafficRules(ctx context.Context, rules ...mp1api.TrafficRule) (any, error) {
	if !h.mecVersion(ctx).Less(arrayDstInterface) {
		return nil, nil
	}
	out := make([]json.RawMessage, len(rules))
	for i := range rules {
		b, err := mp1api.V211TrafficRuleJSON(&rules[i])
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}
