package lcm

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/edgemec/edgemec/meo/internal/store"
)

func TestRelocationOf(t *testing.T) {
	tests := []struct {
		name      string
		operation string
		params    string
		want      *relocationParams
	}{
		{"relocation", store.OpInstantiate, `{"relocation":{"fromSiteId":"a","gracefulTerminationTimeout":30,"stopped":true},"additionalParams":{}}`,
			&relocationParams{From: "a", GracefulTimeout: 30, Stopped: true}},
		{"instantiate", store.OpInstantiate, `{"selectedMECHostInfo":[{"hostId":"a"}]}`, nil},
		{"no site", store.OpInstantiate, `{"relocation":{}}`, nil},
		{"terminate", store.OpTerminate, `{"relocation":{"fromSiteId":"a"}}`, nil},
		{"no params", store.OpInstantiate, ``, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			op := &store.OpOcc{LcmOperation: tc.operation, OperationParams: json.RawMessage(tc.params)}
			assert.Equal(t, tc.want, relocationOf(op))
		})
	}
}
