package appd_test

import (
	"encoding/json"
	"errors"
	"os"
	"testing"

	"github.com/edgemec/edgemec/meo/internal/appd"
	"github.com/edgemec/edgemec/vim-adapters/vim"
)

// FuzzParse checks that Parse never panics, that every error matches ErrInvalid, and that an
// accepted AppD survives a JSON round trip unchanged.
func FuzzParse(f *testing.F) {
	for _, p := range []string{"testdata/mecapp.yaml", "testdata/tosca.yaml"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"appDId":"a","appName":"a","appProvider":"p","appSoftVersion":"1","appDVersion":"1","mecVersion":"2","appTrafficRule":[{"trafficRuleId":"t","filterType":"FLOW","priority":1,"action":"DROP","trafficFilter":[{}],"dstInterface":{"interfaceType":"IP"}}]}`))
	f.Add([]byte("tosca_definitions_version: x\ntopology_template: {node_templates: {a: {type: MecApp, properties: {appd_id: a}}}}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := appd.Parse(data)
		if err != nil {
			if !errors.Is(err, appd.ErrInvalid) {
				t.Fatalf("error %v does not match ErrInvalid", err)
			}
			return
		}
		out, err := json.Marshal(a)
		if err != nil {
			t.Fatalf("marshal accepted AppD: %v", err)
		}
		b, err := appd.Parse(out)
		if err != nil {
			t.Fatalf("re-parse of %s: %v", out, err)
		}
		out2, _ := json.Marshal(b)
		if string(out) != string(out2) {
			t.Fatalf("round trip changed the AppD:\n%s\n%s", out, out2)
		}
		_ = a.DeployRequest("x", vim.Artifacts{})
		_ = a.AppInstance("")
		_ = a.Workload()
	})
}
