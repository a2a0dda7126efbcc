package apppkg_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/meo/internal/apppkg"
	"github.com/edgemec/edgemec/meo/internal/apppkg/apppkgtest"
)

// chartPackage builds a package whose chart (a directory) has the one template tpl beside
// a Service, and values.yaml values.
func chartPackage(t *testing.T, tpl, values string) []byte {
	t.Helper()
	chart := apppkgtest.Chart("app")
	chart["templates/hostile.yaml"] = tpl
	if values != "" {
		chart["values.yaml"] = values
	}
	return apppkgtest.Zip(t, withChart("Artifacts/Deployment/app/", map[string]string{
		"appd.yaml": apppkgtest.AppD("app1", "registry.example/app:1")}, chart))
}

// TestRenderBudget: hostile charts are refused with ReasonRenderBudget naming what they
// exceeded, quickly, while the same functions within the budget render as Helm's do.
func TestRenderBudget(t *testing.T) {
	cm := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {v: '%s'}\n"
	for _, tc := range []struct {
		name   string
		tpl    string
		lim    apppkg.Limits
		detail string // "" renders
		want   string // in the rendered ConfigMap
	}{
		{"until a hundred million", "{{ range until 100000000 }}x{{ end }}", apppkg.Limits{}, "until builds 100000000 elements", ""},
		{"untilStep huge", "{{ range untilStep 0 2000000000 3 }}{{ end }}", apppkg.Limits{}, "untilStep builds 666666667 elements", ""},
		{"seq huge", "{{ seq 1 500000000 }}", apppkg.Limits{}, "seq builds", ""},
		{"nested loops", "{{ range until 1000 }}{{ range until 1000 }}{{ end }}{{ end }}", apppkg.Limits{}, "the chart may build at most 100000 in all", ""},
		{"huge repeat", `{{ repeat 1000000000 "abcd" }}`, apppkg.Limits{}, "repeat makes 4000000000 bytes", ""},
		{"repeat overflowing", `{{ repeat 9223372036854775807 "ab" }}`, apppkg.Limits{}, "repeat makes more than 2^63 bytes", ""},
		{"negative repeat", `{{ repeat -1 "ab" }}`, apppkg.Limits{}, "repeat makes -1 bytes", ""},
		{"over time", "{{ range until 10 }}{{ $x := until 1 }}{{ end }}", apppkg.Limits{RenderTimeout: time.Nanosecond}, "took longer than 1ns", ""},
		{"within budget", fmt.Sprintf(cm, `{{ range until 3 }}{{ . }}{{ end }}|{{ range untilStep 10 0 -4 }}{{ . }},{{ end }}|{{ seq 3 }}|{{ seq 5 -1 }}|{{ seq 1 2 7 }}|{{ repeat 3 "ab" }}|{{ until -2 }}|{{ seq 5 -1 5 }}|{{ seq 0 }}`),
			apppkg.Limits{}, "", "012|10,6,2,|1 2 3|5 4 3 2 1 0 -1|1 3 5 7|ababab|[0 -1]||1 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			waitIdle(t) // a render cut short by its time budget may still be ending
			zb := chartPackage(t, tc.tpl, "")
			t0 := time.Now()
			p, err := read(t, zb, tc.lim)
			assert.Less(t, time.Since(t0), 3*time.Second, "refused quickly")
			if tc.detail == "" {
				require.NoError(t, err)
				require.Len(t, p.Artifacts, 1)
				assert.Contains(t, p.Artifacts[0].Rendered, tc.want)
				return
			}
			require.ErrorIs(t, err, apppkg.ErrInvalid)
			var pe *apppkg.Error
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, apppkg.ReasonRenderBudget, pe.Reason, "error %v", err)
			assert.Equal(t, "Artifacts/Deployment/app/", pe.Entry)
			assert.Contains(t, err.Error(), tc.detail)
		})
	}
}

// waitIdle waits until no render runs past its budget: a small chart reads.
func waitIdle(t *testing.T) {
	t.Helper()
	good := chartPackage(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n", "")
	require.Eventually(t, func() bool {
		_, err := read(t, good, apppkg.Limits{})
		return err == nil
	}, 2*time.Minute, 20*time.Millisecond, "a small chart reads once no render runs past its budget")
}

// TestRenderBudgetStrayLoop: a template that loops over its own values without calling a
// function cannot be interrupted; the read is refused at RenderTimeout all the same, other
// charts are refused as busy while it runs on, and accepted again once it ended.
func TestRenderBudgetStrayLoop(t *testing.T) {
	items := make([]string, 300)
	for i := range items {
		items[i] = fmt.Sprint(i)
	}
	values := "l: [" + strings.Join(items, ",") + "]\n"
	loop := "{{- range $.Values.l }}{{- range $.Values.l }}{{- range $.Values.l }}{{- end }}{{- end }}{{- end }}"
	lim := apppkg.Limits{RenderTimeout: 100 * time.Millisecond}
	waitIdle(t)

	t0 := time.Now()
	_, err := read(t, chartPackage(t, loop, values), lim)
	assert.Less(t, time.Since(t0), 2*time.Second, "the read ends at the render timeout")
	var pe *apppkg.Error
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, apppkg.ReasonRenderBudget, pe.Reason, "error %v", err)
	assert.Contains(t, err.Error(), "rendering took longer than 100ms")

	good := chartPackage(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n", "")
	_, err = read(t, good, apppkg.Limits{})
	require.ErrorAs(t, err, &pe, "refused while the stray render runs")
	assert.Contains(t, err.Error(), "still being rendered")

	waitIdle(t) // accepted again once the stray render ended
}
