package inventory

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/meo/internal/inventory/record"
)

func key(b byte) []byte { return bytes.Repeat([]byte{b}, KeySize) }

func TestBoxSealOpen(t *testing.T) {
	box, err := NewBox(key(1))
	require.NoError(t, err)
	s, err := box.Seal([]byte("s3cret-token"), "site/a/mep.token")
	require.NoError(t, err)
	require.NotContains(t, string(s.Ciphertext), "s3cret")
	require.Equal(t, KeyID(key(1)), s.KeyID)
	require.Equal(t, Fingerprint([]byte("s3cret-token")), s.Fingerprint)
	require.True(t, strings.HasPrefix(s.Fingerprint, "sha256:") && len(s.Fingerprint) == len("sha256:")+12, s.Fingerprint)
	got, err := box.Open(s, "site/a/mep.token")
	require.NoError(t, err)
	require.Equal(t, "s3cret-token", string(got))

	again, err := box.Seal([]byte("s3cret-token"), "site/a/mep.token")
	require.NoError(t, err)
	require.NotEqual(t, s.Nonce, again.Nonce, "nonces must not repeat")
}

func TestBoxOpenRefuses(t *testing.T) {
	box, err := NewBox(key(1))
	require.NoError(t, err)
	other, err := NewBox(key(2))
	require.NoError(t, err)
	sealed, err := box.Seal([]byte("kubeconfig"), "site/a/vim.kubeconfig")
	require.NoError(t, err)
	flip := func(b []byte, i int) []byte { c := bytes.Clone(b); c[i] ^= 1; return c }
	for _, tc := range []struct {
		name  string
		box   *Box
		s     record.Sealed
		field string
	}{
		{"tampered ciphertext", box, record.Sealed{KeyID: sealed.KeyID, Nonce: sealed.Nonce, Ciphertext: flip(sealed.Ciphertext, 0)}, "site/a/vim.kubeconfig"},
		{"tampered tag", box, record.Sealed{KeyID: sealed.KeyID, Nonce: sealed.Nonce, Ciphertext: flip(sealed.Ciphertext, len(sealed.Ciphertext)-1)}, "site/a/vim.kubeconfig"},
		{"tampered nonce", box, record.Sealed{KeyID: sealed.KeyID, Nonce: flip(sealed.Nonce, 3), Ciphertext: sealed.Ciphertext}, "site/a/vim.kubeconfig"},
		{"short nonce", box, record.Sealed{KeyID: sealed.KeyID, Nonce: sealed.Nonce[:4], Ciphertext: sealed.Ciphertext}, "site/a/vim.kubeconfig"},
		{"other site", box, *sealed, "site/b/vim.kubeconfig"},
		{"other field", box, *sealed, "site/a/mep.token"},
		{"wrong key", other, *sealed, "site/a/vim.kubeconfig"},
		{"wrong key with the right id", other, record.Sealed{KeyID: KeyID(key(2)), Nonce: sealed.Nonce, Ciphertext: sealed.Ciphertext}, "site/a/vim.kubeconfig"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.box.Open(&tc.s, tc.field)
			require.ErrorIs(t, err, ErrSecret)
			require.Nil(t, got)
		})
	}
}

func TestBoxRotation(t *testing.T) {
	old, err := NewBox(key(1))
	require.NoError(t, err)
	sealed, err := old.Seal([]byte("token"), "f")
	require.NoError(t, err)
	rotated, err := NewBox(key(2), key(1))
	require.NoError(t, err)
	got, err := rotated.Open(sealed, "f")
	require.NoError(t, err)
	require.Equal(t, "token", string(got))
	fresh, err := rotated.Seal([]byte("token"), "f")
	require.NoError(t, err)
	require.Equal(t, KeyID(key(2)), fresh.KeyID, "the first key seals")
	_, err = old.Open(fresh, "f")
	require.ErrorIs(t, err, ErrSecret)
}

func TestNilBox(t *testing.T) {
	var b *Box
	_, err := b.Seal([]byte("x"), "f")
	require.ErrorIs(t, err, ErrNoKey)
	_, err = b.Open(&record.Sealed{}, "f")
	require.ErrorIs(t, err, ErrNoKey)
}

func TestParseKey(t *testing.T) {
	k := make([]byte, KeySize)
	for i := range k {
		k[i] = byte(i * 7)
	}
	for _, tc := range []struct {
		name, in string
		ok       bool
	}{
		{"hex", hex.EncodeToString(k), true},
		{"hex with newline", hex.EncodeToString(k) + "\n", true},
		{"base64", base64.StdEncoding.EncodeToString(k) + "\n", true},
		{"base64 raw url", base64.RawURLEncoding.EncodeToString(k), true},
		{"too short", base64.StdEncoding.EncodeToString(k[:16]), false},
		{"too long hex", hex.EncodeToString(append(k, 1)), false},
		{"garbage", "not a key at all", false},
		{"empty", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseKey([]byte(tc.in))
			if !tc.ok {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, k, got)
		})
	}
	_, err := NewBox(k[:16])
	require.Error(t, err)
}

func TestLoadKey(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "meo.key")
	require.NoError(t, os.WriteFile(p, []byte(base64.StdEncoding.EncodeToString(key(9))+"\n"), 0o600))
	k, err := LoadKey(p)
	require.NoError(t, err)
	require.Equal(t, key(9), k)
	_, err = LoadKey(filepath.Join(dir, "missing"))
	require.Error(t, err)
	require.False(t, errors.Is(err, ErrSecret))
}
