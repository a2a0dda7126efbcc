package orchestrate

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestMEPTargets checks which sites' MEPs a UP path change concerns.
func TestMEPTargets(t *testing.T) {
	bySite := map[string][]string{
		"dnai-a":  {"site-a"},
		"dnai-a2": {"site-a"},
		"dnai-b":  {"site-b"},
		"dnai-ab": {"site-a", "site-b"},
	}
	for _, tc := range []struct {
		name           string
		source, target string
		want           []mepTarget
	}{
		{"from the centre to a site", "dnai-central", "dnai-a", []mepTarget{{siteID: "site-a", arrived: true}}},
		{"first path, no source", "", "dnai-a", []mepTarget{{siteID: "site-a", arrived: true}}},
		{"from a site to the centre", "dnai-a", "dnai-central", []mepTarget{{siteID: "site-a"}}},
		{"between two sites", "dnai-a", "dnai-b", []mepTarget{{siteID: "site-b", arrived: true}, {siteID: "site-a"}}},
		{"between two DNAIs of one site", "dnai-a", "dnai-a2", []mepTarget{{siteID: "site-a", arrived: true}}},
		{"to a DNAI two sites share", "dnai-b", "dnai-ab", []mepTarget{{siteID: "site-a", arrived: true}, {siteID: "site-b", arrived: true}}},
		{"nowhere the MEO knows", "dnai-x", "dnai-y", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, mepTargets(bySite, pathChange{SourceDNAI: tc.source, TargetDNAI: tc.target}))
		})
	}
}

func TestAddMEPPendingBounded(t *testing.T) {
	var list []mepPending
	for i := range maxMEPPending + 5 {
		list = addMEPPending(list, pathChange{TargetDNAI: string(rune('a' + i%26))})
	}
	assert.Len(t, list, maxMEPPending)
}
