package cli

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/edgemec/edgemec/meo/mm1api"
)

func TestSteeringColumn(t *testing.T) {
	dnais := []string{"dnai-1", "dnai-2"}
	ues := make([]struct {
		Dnai  string     `json:"dnai"`
		Since *time.Time `json:"since,omitempty"`
		Ue    string     `json:"ue"`
	}, 2)
	for _, c := range []struct {
		name string
		in   *mm1api.TrafficSteering
		want string
	}{
		{"not steered", nil, ""},
		{"retrying", &mm1api.TrafficSteering{State: "RETRYING"}, "RETRYING"},
		{"active with UEs moved", &mm1api.TrafficSteering{State: "ACTIVE", Dnais: &dnais, Ues: &ues}, "ACTIVE dnai-1,dnai-2 ues=2"},
	} {
		t.Run(c.name, func(t *testing.T) {
			assert.Equal(t, c.want, steering(c.in))
		})
	}
}
