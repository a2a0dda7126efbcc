package main

import (
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	const pass = `{"Action":"pass","Package":"p","Test":"TestA"}
{"Action":"pass","Package":"p"}
`
	const skip = `{"Action":"output","Package":"p","Test":"TestB","Output":"    x_test.go:1: needs root\n"}
{"Action":"skip","Package":"p","Test":"TestB"}
`
	const fail = `{"Action":"output","Package":"p","Test":"TestC","Output":"boom\n"}
{"Action":"fail","Package":"p","Test":"TestC"}
`
	tests := []struct {
		name   string
		in     string
		noSkip bool
		want   int
		line   string
	}{
		{"all pass", pass, true, 0, "1 passed, 0 failed, 0 skipped"},
		{"skip allowed locally", pass + skip, false, 0, "1 passed, 0 failed, 1 skipped"},
		{"skip fails in CI", pass + skip, true, 1, "1 passed, 0 failed, 1 skipped"},
		{"failure", pass + fail, false, 1, "1 passed, 1 failed, 0 skipped"},
		{"nothing ran", `{"Action":"pass","Package":"p"}` + "\n", false, 1, "0 passed, 0 failed, 0 skipped"},
		{"build failure", "# p\nx.go:1: undefined\n" + `{"Action":"fail","Package":"p"}` + "\n" + pass, false, 1, "1 passed, 0 failed, 0 skipped"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out strings.Builder
			if got := run(strings.NewReader(tc.in), &out, tc.noSkip, false); got != tc.want {
				t.Errorf("exit = %d; want %d\n%s", got, tc.want, out.String())
			}
			if !strings.Contains(out.String(), tc.line) {
				t.Errorf("output lacks %q:\n%s", tc.line, out.String())
			}
		})
	}
}
