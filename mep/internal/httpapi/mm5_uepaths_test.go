package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/mep/mm5api"
)

// TestMm5UEPaths drives /mepm/v1/ue_paths: an ARRIVED change lists the UE, a repeated or
// older one changes nothing, LEFT removes it, malformed and unauthenticated ones are refused.
func TestMm5UEPaths(t *testing.T) {
	e := newEnv(t)
	const p = "/mepm/v1/ue_paths"
	change := func(kind, at string) map[string]any {
		return map[string]any{"appInstanceId": "inst-1", "appDId": "mecapp", "ue": map[string]any{"ipv4Addr": "10.60.0.7"},
			"change": kind, "sourceDnai": "dnai-central", "targetDnai": "dnai-edge", "dnaiChgType": "LATE", "at": at}
	}
	list := func(q string) []mm5api.UEPath {
		rec := e.do(http.MethodGet, p+q, opToken, nil)
		expect(t, rec, http.StatusOK)
		return decodeJSON[[]mm5api.UEPath](t, rec)
	}
	require.Empty(t, list(""))

	expect(t, e.do(http.MethodPost, p, opToken, change("ARRIVED", "2026-12-03T06:00:00Z")), http.StatusNoContent)
	got := list("?appDId=mecapp")
	require.Len(t, got, 1)
	assert.Equal(t, "dnai-edge", got[0].Dnai)
	assert.Equal(t, "inst-1", got[0].AppInstanceId)
	require.NotNil(t, got[0].Ue.Ipv4Addr)
	assert.Equal(t, "10.60.0.7", *got[0].Ue.Ipv4Addr)
	assert.Empty(t, list("?appDId=other"))

	// LEFT older than the arrival: ignored; newer: the UE goes.
	leftOld := change("LEFT", "2026-12-03T05:59:00Z")
	leftOld["sourceDnai"], leftOld["targetDnai"] = "dnai-edge", "dnai-central"
	expect(t, e.do(http.MethodPost, p, opToken, leftOld), http.StatusNoContent)
	require.Len(t, list(""), 1)
	left := change("LEFT", "2026-12-03T06:01:00Z")
	left["sourceDnai"], left["targetDnai"] = "dnai-edge", "dnai-central"
	expect(t, e.do(http.MethodPost, p, opToken, left), http.StatusNoContent)
	require.Empty(t, list(""))

	for name, body := range map[string]map[string]any{
		"no UE":        {"appInstanceId": "i", "appDId": "a", "ue": map[string]any{}, "change": "ARRIVED", "targetDnai": "d", "at": "2026-12-03T06:00:00Z"},
		"bad change":   {"appInstanceId": "i", "appDId": "a", "ue": map[string]any{"gpsi": "msisdn-1"}, "change": "MOVED", "at": "2026-12-03T06:00:00Z"},
		"no target":    {"appInstanceId": "i", "appDId": "a", "ue": map[string]any{"gpsi": "msisdn-1"}, "change": "ARRIVED", "at": "2026-12-03T06:00:00Z"},
		"no timestamp": {"appInstanceId": "i", "appDId": "a", "ue": map[string]any{"gpsi": "msisdn-1"}, "change": "ARRIVED", "targetDnai": "d"},
	} {
		t.Run(name, func(t *testing.T) {
			expect(t, e.do(http.MethodPost, p, opToken, body), http.StatusBadRequest)
		})
	}
	expect(t, e.do(http.MethodPost, p, "", change("ARRIVED", "2026-12-03T06:00:00Z")), http.StatusUnauthorized)
	require.Empty(t, list(""), "nothing refused was kept")
}
