package apppkg_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/edgemec/edgemec/meo/internal/apppkg"
	"github.com/edgemec/edgemec/meo/internal/apppkg/apppkgtest"
)

// FuzzRead checks that Read never panics, fails only with ErrInvalid, and that an accepted
// package serialises.
func FuzzRead(f *testing.F) {
	f.Add(apppkgtest.Package(f, "fuzz"))
	f.Add(apppkgtest.Zip(f, map[string]string{"appd.yaml": apppkgtest.AppD("a", "img"), "Artifacts/k.yaml": "apiVersion: v1\nkind: Service\nmetadata: {name: s}\n"}))
	chart := map[string]string{"appd.yaml": apppkgtest.AppD("a", "img")}
	for k, v := range apppkgtest.Chart("c") {
		chart["Artifacts/Deployment/c/"+k] = v
	}
	f.Add(apppkgtest.Zip(f, chart))
	f.Add(apppkgtest.ZipEntries(f, apppkgtest.Entry{Name: "../x", Data: []byte("x")}))
	f.Add([]byte("PK\x05\x06" + string(make([]byte, 18))))
	lim := apppkg.Limits{MaxEntries: 64, MaxEntrySize: 1 << 20, MaxTotalSize: 4 << 20, RatioFloor: 64 << 10}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := apppkg.Read(bytes.NewReader(data), int64(len(data)), lim)
		if err != nil {
			if !errors.Is(err, apppkg.ErrInvalid) {
				t.Fatalf("error %v does not match ErrInvalid", err)
			}
			return
		}
		if _, err := json.Marshal(p); err != nil {
			t.Fatalf("marshal: %v", err)
		}
		_ = p.DeployRequest("x")
	})
}

// FuzzToscaMeta checks that ParseToscaMeta never panics, fails only with ErrInvalid, and
// always finds Entry-Definitions when it succeeds.
func FuzzToscaMeta(f *testing.F) {
	f.Add([]byte("TOSCA-Meta-File-Version: 1.0\nCSAR-Version: 1.1\nEntry-Definitions: Definitions/a.yaml\n\nName: x\nContent-Type: y\n"))
	f.Add([]byte("Entry-Definitions: a\n continued\n"))
	f.Add([]byte(" \n\n:\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := apppkg.ParseToscaMeta(data)
		if err != nil {
			if !errors.Is(err, apppkg.ErrInvalid) {
				t.Fatalf("error %v does not match ErrInvalid", err)
			}
			return
		}
		if m.EntryDefinitions == "" {
			t.Fatal("accepted TOSCA.meta without Entry-Definitions")
		}
	})
}
