package placement

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/vim-adapters/vim"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/name, rewriting it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, string(want), string(got), "%s differs; rerun with -update if the change is intended", path)
}

// mixed is a request and a set of sites with one rejection of each kind and two candidates.
func mixed() (Request, []Site) {
	req := request(func(r *Request) {
		r.Resources = vim.Resources{MilliCPU: 2000, MemoryBytes: 512 * mi}
		r.Architectures = []string{"amd64"}
		r.MaxLatencyMs = 10
		r.Location = LocationConstraints{CountryCode: "DE", Area: &Area{TAC: "12345"}}
	})
	sites := []Site{
		site("edge-cpu", alloc(4000, 16*gi), committed(2800, 0)),
		site("edge-mem", alloc(8000, gi), committed(0, 768*mi)),
		site("edge-lat", served(tac("12345", 14))),
		site("edge-cordoned", func(s *Site) { s.Schedulable = false }),
		site("edge-vim", func(s *Site) { s.VIMReachable = false }),
		site("edge-vm", kind(vim.KindLibvirt)),
		site("edge-arm", func(s *Site) { s.Capabilities.Architectures = []string{"arm64"} }),
		site("edge-fr", func(s *Site) { s.Location.CountryCode = "FR" }),
		site("edge-tac", served(tac("54321", 1))),
		site("edge-good", served(tac("12345", 2)), instances("appd-1", 1)),
		site("edge-best", served(tac("12345", 3))),
	}
	sites[0].Name = "Munich 1"
	return req, sites
}

func TestDetailGolden(t *testing.T) {
	req, sites := mixed()
	t.Run("chosen", func(t *testing.T) {
		d := Decide(req, sites)
		require.NotNil(t, d.Chosen)
		assert.Equal(t, "edge-best", d.Chosen.SiteID)
		golden(t, "detail-chosen.golden", []byte(d.Detail()+"\n"))
	})
	t.Run("none", func(t *testing.T) {
		d := Decide(req, sites[:9])
		require.Nil(t, d.Chosen)
		golden(t, "detail-none.golden", []byte(d.Detail()+"\n"))
	})
}

func TestDecisionJSONGolden(t *testing.T) {
	req, sites := mixed()
	d := Decide(req, sites)
	b, err := json.MarshalIndent(d, "", "  ")
	require.NoError(t, err)
	golden(t, "decision.golden.json", append(b, '\n'))

	// The record reads back into the same decision.
	var back Decision
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, d, back)
}

func TestFormatBytes(t *testing.T) {
	tests := []struct {
		n    int64
		want string
	}{
		{0, "0"},
		{1000, "1000"},
		{1024, "1Ki"},
		{256 * mi, "256Mi"},
		{512 * mi, "512Mi"},
		{3 * gi / 2, "1536Mi"},
		{2 * gi, "2Gi"},
		{1 << 40, "1Ti"},
		{1 << 60, "1Ei"},
		{gi + 1, "1073741825"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			assert.Equal(t, tt.want, FormatBytes(tt.n))
		})
	}
}
