//go:build integration

package httpapi_test

import (
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/meo/internal/inventory/record"
	"github.com/edgemec/edgemec/meo/internal/placement"
	"github.com/edgemec/edgemec/meo/internal/selector"
	"github.com/edgemec/edgemec/vim-adapters/vim"
)

var nextLinkRE = regexp.MustCompile(`<([^>]+)>;\s*rel="?next"?`)

// TestSitesFilterAndFields checks the ETSI GS MEC 009 filter and attribute selectors of the
// site list on PostgreSQL: each filter selects, in the database, exactly the sites that
// selector.Match selects from the documents the API serves, pages keep the filter, and the
// attribute selectors prune the complex attributes.
func TestSitesFilterAndFields(t *testing.T) {
	e := newSitesEnv(t, testBox(t), time.Hour) // page size 2
	mk := func(id, kind, country string, labels map[string]string, cordoned bool, cpu int64) {
		s := &record.Site{ID: id, Name: "Site " + id, Labels: labels, Generation: 1, Cordoned: cordoned,
			Location: placement.Location{Lat: 45, Lon: 7, CountryCode: country,
				ServedAreas: []placement.ServedArea{{Area: placement.Area{TAC: "00a1"}, LatencyMs: 3}}},
			MEP: record.MEP{Endpoint: "http://127.0.0.1:1/mepm/v1", Token: &record.Sealed{KeyID: "k1", Nonce: []byte{1}, Ciphertext: []byte{2}, Fingerprint: "sha256:ab"}},
			VIM: record.VIM{Kind: vim.Kind(kind), Kubeconfig: &record.Sealed{KeyID: "k1", Nonce: []byte{3}, Ciphertext: []byte{4}, Fingerprint: "sha256:cd"}}}
		if cpu > 0 {
			s.Capacity = &vim.Capabilities{Kind: vim.Kind(kind), Allocatable: vim.Resources{MilliCPU: cpu}, Architectures: []string{"amd64"}}
		}
		_, err := e.st.CreateSite(t.Context(), s, time.Hour)
		require.NoError(t, err)
	}
	mk("f-a", "kubernetes", "FR", map[string]string{"region": "eu-1", "tier": "gold"}, false, 8000)
	mk("f-b", "k3s", "DE", map[string]string{"region": "eu-1"}, false, 2000)
	mk("f-c", "kubernetes", "DE", map[string]string{"region": "eu-2", "tier": "gold"}, true, 0)
	mk("f-d", "kubeedge", "IT", nil, false, 16000)
	mk("f-e", "k3s", "FR", map[string]string{"tier": "silver"}, false, 4000)

	const base = "/inventory/v1/sites"
	// all follows the pages of a list and returns its documents.
	all := func(t *testing.T, query string) []map[string]any {
		t.Helper()
		var out []map[string]any
		u := base + query
		for range 10 {
			r := e.do("GET", u, nil)
			require.Equal(t, http.StatusOK, r.status, "%s", r.body)
			out = append(out, r.list(t)...)
			next := r.header.Get("Link")
			if next == "" {
				return out
			}
			m := nextLinkRE.FindStringSubmatch(next)
			require.NotNil(t, m, "Link %q", next)
			u = m[1]
		}
		t.Fatalf("more than 10 pages of %s", query)
		return nil
	}
	ids := func(docs []map[string]any) []string {
		var out []string
		for _, d := range docs {
			out = append(out, d["id"].(string))
		}
		return out
	}
	every := all(t, "")
	require.Equal(t, []string{"f-a", "f-b", "f-c", "f-d", "f-e"}, ids(every))

	for _, tc := range []struct {
		name, filter string
		want         []string
	}{
		{"vim kind (column)", "(eq,vim/kind,k3s)", []string{"f-b", "f-e"}},
		{"id in (column)", "(in,id,f-a,f-d,nope)", []string{"f-a", "f-d"}},
		{"name neq (column)", "(neq,name,Site f-a)", []string{"f-b", "f-c", "f-d", "f-e"}},
		{"label", "(eq,labels/region,eu-1)", []string{"f-a", "f-b"}},
		{"label absent counts as not equal", "(neq,labels/tier,gold)", []string{"f-b", "f-d", "f-e"}},
		{"label and country", "(eq,labels/tier,gold);(eq,location/countryCode,DE)", []string{"f-c"}},
		{"schedulable", "(eq,state/schedulable,false)", []string{"f-c"}},
		{"capacity number", "(gte,state/capacity/allocatable/milliCPU,4000)", []string{"f-a", "f-d", "f-e"}},
		{"cont on a name", "(cont,name,f-)", []string{"f-a", "f-b", "f-c", "f-d", "f-e"}},
		{"mep endpoint", "(eq,mep/endpoint,http://127.0.0.1:1/mepm/v1);(neq,vim/kind,kubernetes)", []string{"f-b", "f-d", "f-e"}},
		{"with a label selector", "(eq,location/countryCode,FR)", []string{"f-a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := "?filter=" + url.QueryEscape(tc.filter)
			if tc.name == "with a label selector" {
				q += "&labelSelector=tier%3Dgold"
			}
			got := ids(all(t, q))
			require.Equal(t, tc.want, got)
			if tc.name == "with a label selector" {
				return
			}
			// The database agrees with the specification's matching on the served documents.
			ex, err := selector.ParseFilter(tc.filter)
			require.NoError(t, err)
			var match []string
			for _, d := range every {
				if ex.Match(d) {
					match = append(match, d["id"].(string))
				}
			}
			require.Equal(t, match, got, "SQL and Match disagree")
		})
	}

	t.Run("refused filters", func(t *testing.T) {
		for _, f := range []string{
			"(eq,state/committed/milliCPU,0)", // computed, not stored
			"(eq,created,2026-01-01T00:00:00Z)",
			"(eq,nope,1)",
			"(eq,vim/kubeconfig/set,true)",
			"(eq,labels",
		} {
			r := e.do("GET", base+"?filter="+url.QueryEscape(f), nil)
			require.Equal(t, http.StatusBadRequest, r.status, "filter %s: %s", f, r.body)
		}
	})

	t.Run("fields", func(t *testing.T) {
		docs := all(t, "?exclude_fields=state,location")
		require.Len(t, docs, 5)
		for _, d := range docs {
			require.NotContains(t, d, "state")
			require.NotContains(t, d, "location")
			require.Contains(t, d, "labels")
			require.Contains(t, d, "_links")
		}
		docs = all(t, "?fields=vim&filter="+url.QueryEscape("(eq,vim/kind,kubeedge)"))
		require.Len(t, docs, 1)
		require.Equal(t, "kubeedge", dig(docs[0], "vim", "kind"))
		require.Contains(t, docs[0], "id")
		require.Contains(t, docs[0], "name")
		r := e.do("GET", base+"?fields=nope", nil)
		require.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
	})

	t.Run("next page keeps filter and fields", func(t *testing.T) {
		r := e.do("GET", base+"?exclude_fields=state&filter="+url.QueryEscape("(neq,vim/kind,kubeedge)"), nil)
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		require.Equal(t, []string{"f-a", "f-b"}, ids(r.list(t)))
		m := nextLinkRE.FindStringSubmatch(r.header.Get("Link"))
		require.NotNil(t, m)
		next, err := url.Parse(m[1])
		require.NoError(t, err)
		require.Equal(t, "(neq,vim/kind,kubeedge)", next.Query().Get("filter"))
		require.Equal(t, "state", next.Query().Get("exclude_fields"))
		r = e.do("GET", m[1], nil)
		got := r.list(t)
		require.Equal(t, []string{"f-c", "f-e"}, ids(got))
		require.False(t, slices.ContainsFunc(got, func(d map[string]any) bool { _, ok := d["state"]; return ok }))
	})
}
