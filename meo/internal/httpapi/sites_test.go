package httpapi

import (
	"errors"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/api/openapi"
	"github.com/edgemec/edgemec/internal/apispec"
	"github.com/edgemec/edgemec/meo/internal/inventory"
)

// The Mm1 and inventory specifications load together into the one validator.
func TestSpecsLoad(t *testing.T) {
	_, err := apispec.New(apispec.Config{Docs: []apispec.Doc{
		{Name: "mm1.yaml", Data: openapi.MM1}, {Name: "meo.yaml", Data: openapi.MEO}}})
	require.NoError(t, err)
}

func TestParseLabelSelector(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     map[string]string
		ok       bool
	}{
		{"one", "a=b", map[string]string{"a": "b"}, true},
		{"two with spaces", "a=b, c = d", map[string]string{"a": "b", "c": "d"}, true},
		{"double equals", "a==b", map[string]string{"a": "b"}, true},
		{"empty value", "a=", map[string]string{"a": ""}, true},
		{"empty", "", map[string]string{}, true},
		{"no value", "a", nil, false},
		{"no key", "=b", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseLabelSelector(tc.in)
			if !tc.ok {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestMapSiteError(t *testing.T) {
	for _, tc := range []struct {
		name   string
		err    error
		status int
	}{
		{"invalid", &inventory.InvalidError{Problems: []string{"id: bad"}}, http.StatusBadRequest},
		{"check", &inventory.CheckError{MEP: errors.New("mep: down")}, http.StatusUnprocessableEntity},
		{"not found", &inventory.Error{Kind: inventory.ErrNotFound, Detail: "x"}, http.StatusNotFound},
		{"exists", &inventory.Error{Kind: inventory.ErrExists, Detail: "x"}, http.StatusConflict},
		{"in use", &inventory.Error{Kind: inventory.ErrInUse, Detail: "x"}, http.StatusConflict},
		{"no key", &inventory.Error{Kind: inventory.ErrNoKey, Detail: "x"}, http.StatusServiceUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, _, ok := mapSiteError(tc.err)
			require.True(t, ok)
			require.Equal(t, tc.status, status)
		})
	}
	_, _, ok := mapSiteError(errors.New("other"))
	require.False(t, ok)
}
