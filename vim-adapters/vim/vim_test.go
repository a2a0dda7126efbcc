package vim

import (
	"errors"
	"testing"
)

func TestStatusErr(t *testing.T) {
	tests := []struct {
		name string
		st   Status
		want error
	}{
		{"running", Status{Phase: PhaseRunning}, nil},
		{"pending plain", Status{Phase: PhasePending, Reasons: []Reason{{Code: "ContainerCreating"}}}, nil},
		{"pending unschedulable", Status{Phase: PhasePending, Reasons: []Reason{{Code: "Unschedulable", Err: ErrUnschedulable}}}, ErrUnschedulable},
		{"failed image", Status{Phase: PhaseFailed, Reasons: []Reason{{Code: "ErrImagePull", Err: ErrImageMissing}}}, ErrImageMissing},
		{"failed other", Status{Phase: PhaseFailed, Reasons: []Reason{{Code: "CrashLoopBackOff"}}}, ErrFailed},
		{"unreachable is no failure", Status{Phase: PhaseUnreachable, Reasons: []Reason{{Code: "NodeUnreachable"}}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.st.Err()
			if tt.want == nil {
				if err != nil {
					t.Fatalf("got %v; want nil", err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v; want errors.Is %v", err, tt.want)
			}
			var ve *Error
			if !errors.As(err, &ve) {
				t.Fatalf("got %T; want *vim.Error", err)
			}
		})
	}
}

func TestErrorUnwrap(t *testing.T) {
	cause := errors.New("boom")
	err := error(&Error{Op: "deploy", AppInstanceID: "a1", Err: ErrForbidden, Cause: cause})
	if !errors.Is(err, ErrForbidden) || !errors.Is(err, cause) {
		t.Fatalf("errors.Is failed on %v", err)
	}
	if got, want := err.Error(), "deploy a1: forbidden: boom"; got != want {
		t.Fatalf("got %q; want %q", got, want)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		req  DeployRequest
		ok   bool
	}{
		{"ok", DeployRequest{AppInstanceID: "3f1c2a9e-0b7d-4c55-9a61-2f0e6d8b1c44", AppDID: "d"}, true},
		{"upper", DeployRequest{AppInstanceID: "App1", AppDID: "d"}, false},
		{"empty", DeployRequest{AppDID: "d"}, false},
		{"no appd", DeployRequest{AppInstanceID: "a"}, false},
		{"too long", DeployRequest{AppInstanceID: "a123456789012345678901234567890123456789012345678901234567890123", AppDID: "d"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.req.Validate()
			if (err == nil) != tt.ok {
				t.Fatalf("got %v; want ok=%v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalid) {
				t.Fatalf("got %v; want ErrInvalid", err)
			}
		})
	}
}
