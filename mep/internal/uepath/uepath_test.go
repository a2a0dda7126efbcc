package uepath_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/mep/internal/uepath"
)

func TestApply(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 6, 0, 0, 0, time.UTC)
	ue := uepath.UE{IPv4: "10.60.0.7"}
	arrive := func(dnai string, at time.Time) uepath.Change {
		return uepath.Change{AppInstanceID: "i1", AppDID: "app", UE: ue, Arrived: true, TargetDNAI: dnai, At: at}
	}
	leave := func(dnai string, at time.Time) uepath.Change {
		return uepath.Change{AppInstanceID: "i1", AppDID: "app", UE: ue, SourceDNAI: dnai, At: at}
	}
	for _, tc := range []struct {
		name    string
		changes []uepath.Change
		want    []string // DNAIs held for the UE
	}{
		{"arrive", []uepath.Change{arrive("d1", t0)}, []string{"d1"}},
		{"arrive then leave", []uepath.Change{arrive("d1", t0), leave("d1", t0.Add(time.Second))}, nil},
		{"repeated arrive", []uepath.Change{arrive("d1", t0), arrive("d1", t0)}, []string{"d1"}},
		{"late leave of an older arrival ignored", []uepath.Change{arrive("d1", t0.Add(2*time.Second)), leave("d1", t0.Add(time.Second))}, []string{"d1"}},
		{"leave of another DNAI ignored", []uepath.Change{arrive("d2", t0), leave("d1", t0.Add(time.Second))}, []string{"d2"}},
		{"move between the site's DNAIs", []uepath.Change{arrive("d1", t0), arrive("d2", t0.Add(time.Second))}, []string{"d2"}},
		{"leave of an unknown UE", []uepath.Change{leave("d1", t0)}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var tb uepath.Table
			for _, c := range tc.changes {
				_, err := tb.Apply(c)
				require.NoError(t, err)
			}
			var got []string
			for _, p := range tb.List("app") {
				got = append(got, p.DNAI)
			}
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestApplyBounds(t *testing.T) {
	tb := uepath.Table{Max: 1}
	at := time.Now()
	_, err := tb.Apply(uepath.Change{AppDID: "app", UE: uepath.UE{GPSI: "msisdn-1"}, Arrived: true, TargetDNAI: "d", At: at})
	require.NoError(t, err)
	_, err = tb.Apply(uepath.Change{AppDID: "app", UE: uepath.UE{GPSI: "msisdn-2"}, Arrived: true, TargetDNAI: "d", At: at})
	require.ErrorIs(t, err, uepath.ErrFull)
	_, err = tb.Apply(uepath.Change{AppDID: "app", Arrived: true, TargetDNAI: "d", At: at})
	require.Error(t, err, "a change without a UE")
	assert.Len(t, tb.List(""), 1)
	assert.Empty(t, tb.List("other"))
}
