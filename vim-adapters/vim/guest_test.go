package vim

import "testing"

func TestStatusWaitingForGuest(t *testing.T) {
	tests := []struct {
		name string
		s    Status
		want bool
	}{
		{"pending guest starting", Status{Phase: PhasePending, Reasons: []Reason{{Code: ReasonGuestStarting}}}, true},
		{"pending other reason", Status{Phase: PhasePending, Reasons: []Reason{{Code: "ContainerCreating"}}}, false},
		{"pending no reason", Status{Phase: PhasePending}, false},
		{"running", Status{Phase: PhaseRunning, Reasons: []Reason{{Code: ReasonGuestStarting}}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.s.WaitingForGuest(); got != tt.want {
				t.Fatalf("WaitingForGuest() = %v; want %v", got, tt.want)
			}
		})
	}
}
