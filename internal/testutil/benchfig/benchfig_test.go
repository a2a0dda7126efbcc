package benchfig

import (
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPercentile(t *testing.T) {
	var hundred []time.Duration
	for i := 100; i >= 1; i-- {
		hundred = append(hundred, time.Duration(i))
	}
	for _, tc := range []struct {
		name string
		d    []time.Duration
		p    float64
		want time.Duration
	}{
		{name: "no samples", d: nil, p: .5, want: 0},
		{name: "one sample", d: []time.Duration{7}, p: .99, want: 7},
		{name: "p50 of 1..100", d: hundred, p: .5, want: 50},
		{name: "p99 of 1..100", d: hundred, p: .99, want: 99},
		{name: "maximum", d: hundred, p: 1, want: 100},
		{name: "minimum", d: hundred, p: 0, want: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, Percentile(tc.d, tc.p))
		})
	}
	assert.Equal(t, time.Duration(100), hundred[0], "the samples are not sorted in place")
}

func TestMemory(t *testing.T) {
	rss, peak, err := Memory(os.Getpid())
	require.NoError(t, err)
	assert.Positive(t, rss)
	assert.GreaterOrEqual(t, peak, rss)
	_, _, err = Memory(-1)
	assert.Error(t, err)
}

func TestLoadAvg(t *testing.T) {
	assert.NotEqual(t, "?", LoadAvg())
}

func TestLoad(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer good" {
			w.WriteHeader(http.StatusUnauthorized)
		}
	}))
	defer srv.Close()
	lat, err := Load(srv.URL, "good", 2, 50*time.Millisecond)
	require.NoError(t, err)
	assert.NotEmpty(t, lat)
	_, err = Load(srv.URL, "bad", 2, 50*time.Millisecond)
	assert.ErrorContains(t, err, "status 401")
}

func TestHistogramMeans(t *testing.T) {
	const text = `# HELP x_seconds Time.
# TYPE x_seconds histogram
x_seconds_bucket{phase="a",task="T",le="0.1"} 1
x_seconds_sum{phase="a",task="T"} 0.3
x_seconds_count{phase="a",task="T"} 3
x_seconds_sum{phase="b",task="T"} 2
x_seconds_count{phase="b",task="T"} 0
x_seconds_total_sum 7
x_seconds_total_count 1
x_seconds_sum 1.5
x_seconds_count 2
`
	got := HistogramMeans(text, "x_seconds")
	assert.Equal(t, map[string]Observed{
		`phase="a",task="T"`: {N: 3, Mean: 100 * time.Millisecond},
		"":                   {N: 2, Mean: 750 * time.Millisecond},
	}, got)
}
