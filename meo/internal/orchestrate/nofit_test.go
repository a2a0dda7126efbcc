package orchestrate

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/edgemec/edgemec/meo/internal/placement"
)

func TestHealthOnly(t *testing.T) {
	rej := func(site string, code placement.Code) placement.Rejection {
		return placement.Rejection{SiteID: site, Code: code}
	}
	tests := []struct {
		name   string
		d      placement.Decision
		ignore string
		want   bool
	}{
		{"every site unhealthy", placement.Decision{Rejected: []placement.Rejection{rej("a", placement.CodeUnhealthy), rej("b", placement.CodeUnhealthy)}}, "", true},
		{"pinned site unhealthy, others not selected", placement.Decision{Rejected: []placement.Rejection{rej("a", placement.CodeUnhealthy), rej("b", placement.CodeNotSelected)}}, "", true},
		{"unhealthy and short of cpu", placement.Decision{Rejected: []placement.Rejection{rej("a", placement.CodeUnhealthy), rej("b", placement.CodeCPU)}}, "", false},
		{"unhealthy and outside the area", placement.Decision{Rejected: []placement.Rejection{rej("a", placement.CodeUnhealthy), rej("b", placement.CodeArea)}}, "", false},
		{"unhealthy and cordoned", placement.Decision{Rejected: []placement.Rejection{rej("a", placement.CodeUnhealthy), rej("b", placement.CodeNotSchedulable)}}, "", false},
		{"unhealthy and the site left", placement.Decision{Rejected: []placement.Rejection{rej("a", placement.CodeUnhealthy), rej("b", placement.CodeNotSchedulable)}}, "b", true},
		{"only the site left", placement.Decision{Rejected: []placement.Rejection{rej("b", placement.CodeNotSchedulable)}}, "b", false},
		{"no sites", placement.Decision{}, "", false},
		{"pinned to an unknown site", placement.Decision{Rejected: []placement.Rejection{rej("a", placement.CodeUnhealthy)}, UnknownPinned: []string{"z"}}, "", false},
		{"a site chosen", placement.Decision{Chosen: &placement.Candidate{SiteID: "a"}}, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, healthOnly(tc.d, tc.ignore))
		})
	}
}
