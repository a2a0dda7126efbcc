package selector_test

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/edgemec/edgemec/meo/internal/selector"
)

// Example shows a list endpoint: parse and check the filter, push it into SQL when possible,
// prune with the attribute selectors, and link the next page.
func Example() {
	req, _ := url.Parse("http://meo/app_pkgm/v1/app_packages?filter=(eq,onboardingState,ONBOARDED);(cont,appName,vid)&fields=softwareImages/name")
	q, err := selector.ParseQuery(req.RawQuery) // not req.Query(): it drops the filter for its ";"
	if err != nil {
		fmt.Println("400:", err)
		return
	}

	e, err := selector.ParseFilter(q.Get(selector.ParamFilter))
	if err == nil {
		err = e.Check(func(attr string) bool { return attr == "onboardingState" || attr == "appName" })
	}
	if err != nil {
		fmt.Println("400:", err) // the error matches selector.ErrInvalid
		return
	}
	args := []any{}
	where, err := e.SQLColumns("info", map[string]string{"onboardingState": "onboarding_state"}, &args)
	if errors.Is(err, selector.ErrUnsupported) {
		where = "TRUE" // select everything and filter each row with e.Match
	}
	fmt.Println("WHERE", where)

	fields, err := selector.ParseFields(q, selector.FieldSpec{
		Default: []string{"softwareImages", "additionalArtifacts"},
		Keep:    []string{"id", "_links"},
	})
	if err != nil {
		fmt.Println("400:", err)
		return
	}
	doc := map[string]any{"id": "p1", "appName": "video", "onboardingState": "ONBOARDED",
		"softwareImages":      []any{map[string]any{"name": "img", "size": 3.0}},
		"additionalArtifacts": []any{}}
	if e.Match(doc) {
		fields.Apply(doc)
		fmt.Println(doc)
	}

	codec, _ := selector.NewMarkerCodec([]byte("a secret shared by every replica"))
	marker := codec.EncodeMarker(struct{ List, LastID string }{"app_packages", "p1"})
	link, _, _ := strings.Cut(selector.NextLink(req, marker), selector.ParamMarker)
	fmt.Println(link)
	// Output:
	// WHERE (onboarding_state) = $1::text AND COALESCE(jsonb_path_exists(info, $2::text::jsonpath, $3::text::jsonb, true), false)
	// map[appName:video id:p1 onboardingState:ONBOARDED softwareImages:[map[name:img]]]
	// <http://meo/app_pkgm/v1/app_packages?filter=(eq,onboardingState,ONBOARDED);(cont,appName,vid)&fields=softwareImages/name&
}
