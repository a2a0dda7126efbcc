package httpapi

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/edgemec/edgemec/internal/problem"
	"github.com/edgemec/edgemec/meo/internal/selector"
	"github.com/edgemec/edgemec/meo/internal/store"
)

// appPkgInfoAttrs are the AppPkgInfo attributes a filter or a fields list may name; for the
// complex ones, any path below them.
var appPkgInfoAttrs = map[string]bool{
	"id": true, "appDId": true, "appProvider": true, "appName": true, "appSoftwareVersion": true,
	"appDVersion": true, "appPkgName": true, "appPkgVersion": true, "onboardingState": true,
	"operationalState": true, "usageState": true,
}

var appPkgInfoComplex = map[string]bool{
	"checksum": true, "softwareImages": true, "additionalArtifacts": true, "userDefinedData": true,
	"onboardingFailureDetails": true,
}

func knownAttr(path string) bool {
	head, rest, nested := strings.Cut(path, "/")
	if !nested {
		return appPkgInfoAttrs[head] || appPkgInfoComplex[head]
	}
	if head == "checksum" {
		return rest == "algorithm" || rest == "hash"
	}
	return appPkgInfoComplex[head] && rest != ""
}

// fieldSpec is the attribute selector behaviour of AppPkgInfo: ETSI GS MEC 010-2 (as NFV-SOL
// 005 for VNF packages) excludes these complex attributes by default.
var fieldSpec = selector.FieldSpec{
	Default: []string{"softwareImages", "additionalArtifacts", "userDefinedData", "checksum"},
	Complex: []string{"softwareImages", "additionalArtifacts", "userDefinedData", "checksum", "onboardingFailureDetails"},
	Keep:    []string{"id", "_links"},
	Known:   knownAttr,
}

// compileFilter parses and checks a MEC 009 filter against the AppPkgInfo attributes.
func compileFilter(s string) (store.Filter, error) { return compileFilterOf(s, knownAttr) }

// compileFilterOf parses and checks a MEC 009 filter against a resource's attributes.
func compileFilterOf(s string, known func(string) bool) (store.Filter, error) {
	e, err := selector.ParseFilter(s)
	if err == nil {
		err = e.Check(known)
	}
	if err == nil {
		// Everything the resources hold is a string, number or boolean the database compares
		// as Match would, except ordering on timestamps: refuse that rather than answer
		// differently from the specification.
		_, err = e.SQL("doc", new([]any))
		if errors.Is(err, selector.ErrUnsupported) {
			return nil, problem.BadRequest("filter: %v", err)
		}
	}
	if err != nil {
		return nil, problem.BadRequest("%v", err)
	}
	return e, nil
}

// normalizeQuery re-encodes a query that holds an unencoded ";" (MEC 009 filters join clauses
// with it), which net/url, and so echo and the request validation, would otherwise drop.
func normalizeQuery(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		u := c.Request().URL
		if strings.Contains(u.RawQuery, ";") {
			q, err := selector.ParseQuery(u.RawQuery)
			if err != nil {
				return problem.BadRequest("%v", err)
			}
			u.RawQuery = q.Encode()
		}
		return next(c)
	}
}

// pageKey is what a page marker holds: the list and the position of its last item.
type pageKey struct {
	List string `json:"l"`
	Pos  int64  `json:"p"`
}

func (h *handler) decodeMarker(list, m string) (int64, error) {
	var k pageKey
	if err := h.cfg.Markers.DecodeMarker(m, &k); err != nil {
		return 0, problem.BadRequest("%v", err)
	}
	if k.List != list || k.Pos <= 0 {
		return 0, problem.New(http.StatusBadRequest, "%s does not belong to this list", selector.ParamMarker)
	}
	return k.Pos, nil
}

func (h *handler) nextLink(list, path string, filter *string, sel url.Values, pos int64) string {
	next := url.Values{}
	for k, v := range sel {
		next[k] = v
	}
	if filter != nil {
		next.Set(selector.ParamFilter, *filter)
	}
	next.Set(selector.ParamMarker, h.cfg.Markers.EncodeMarker(pageKey{List: list, Pos: pos}))
	return "<" + h.cfg.APIRoot + path + "?" + next.Encode() + `>; rel="next"`
}
