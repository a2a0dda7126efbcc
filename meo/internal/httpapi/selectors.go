package httpapi

import (
	"encoding/base64"
	"net/url"
	"strconv"

	"github.com/edgemec/edgemec/internal/problem"
	"github.com/edgemec/edgemec/meo/internal/store"
)

// Selectors compiles the ETSI GS MEC 009 attribute selectors of a list request.
type Selectors interface {
	// Filter compiles a filter expression into a store filter.
	Filter(expr string) (store.Filter, error)
	// Fields returns the function that trims each document to the requested attributes
	// (fields, exclude_fields, all_fields, exclude_default); nil keeps documents whole.
	Fields(q url.Values) (func(doc map[string]any), error)
}

// noSelectors refuses selectors; it stands in when none are configured.
type noSelectors struct{}

func (noSelectors) Filter(string) (store.Filter, error) {
	return nil, problem.BadRequest("filter is not supported")
}

func (noSelectors) Fields(q url.Values) (func(map[string]any), error) {
	for _, k := range []string{"fields", "exclude_fields", "all_fields", "exclude_default"} {
		if q.Has(k) {
			return nil, problem.BadRequest("%s is not supported", k)
		}
	}
	return nil, nil
}

// encodeMarker and decodeMarker make the paging position opaque.
func encodeMarker(pos int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("p" + strconv.FormatInt(pos, 10)))
}

func decodeMarker(m string) (int64, error) {
	b, err := base64.RawURLEncoding.DecodeString(m)
	if err != nil || len(b) < 2 || b[0] != 'p' {
		return 0, problem.BadRequest("nextpage_opaque_marker is not valid")
	}
	n, err := strconv.ParseInt(string(b[1:]), 10, 64)
	if err != nil || n <= 0 {
		return 0, problem.BadRequest("nextpage_opaque_marker is not valid")
	}
	return n, nil
}
