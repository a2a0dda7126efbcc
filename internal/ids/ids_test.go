package ids_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/internal/ids"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name, id string
		ok       bool
	}{
		{"simple", "app1", true},
		{"inner dash", "video-cache", true},
		{"one char", "a", true},
		{"digits only", "42", true},
		{"uuid", "3f1c2a9e-0b7d-4c55-9a61-2f0e6d8b1c44", true},
		{"63 chars", strings.Repeat("a", 63), true},
		{"64 chars", strings.Repeat("a", 64), false},
		{"128 chars, accepted by the MEP before", strings.Repeat("a", 128), false},
		{"empty", "", false},
		{"dot", ".", false},
		{"dot dot", "..", false},
		{"inner dot", "a.b", false},
		{"uppercase", "App1", false},
		{"uppercase uuid", "3F1C2A9E-0B7D-4C55-9A61-2F0E6D8B1C44", false},
		{"underscore", "a_b", false},
		{"leading dash", "-a", false},
		{"trailing dash", "a-", false},
		{"slash", "a/b", false},
		{"escaped slash", "a%2F", false},
		{"space", "a b", false},
		{"non-ASCII", "ä", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ids.Validate(tt.id)
			if tt.ok {
				require.NoError(t, err, "Validate(%q)", tt.id)
				return
			}
			require.ErrorIs(t, err, ids.ErrInvalid, "Validate(%q) = %v; want ErrInvalid", tt.id, err)
		})
	}
}

func TestValidateRuleID(t *testing.T) {
	tests := []struct {
		name, id string
		ok       bool
	}{
		{"simple", "tr1", true},
		{"MEC 011 example", "TrafficRule123", true},
		{"dots and underscores", "rule_1.v2", true},
		{"128 chars", strings.Repeat("a", 128), true},
		{"129 chars", strings.Repeat("a", 129), false},
		{"empty", "", false},
		{"dot", ".", false},
		{"dot dot", "..", false},
		{"slash", "a/b", false},
		{"percent", "a%2F", false},
		{"space", "a b", false},
		{"non-ASCII", "ä", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ids.ValidateRuleID(tt.id)
			if tt.ok {
				require.NoError(t, err, "ValidateRuleID(%q)", tt.id)
				return
			}
			require.ErrorIs(t, err, ids.ErrInvalid, "ValidateRuleID(%q) = %v; want ErrInvalid", tt.id, err)
		})
	}
}
