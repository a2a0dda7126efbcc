package inventory

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"

	"github.com/edgemec/edgemec/meo/internal/inventory/record"
)

// KeySize is the size of a MEO secret key: AES-256.
const KeySize = 32

// ErrSecret is matched by every error opening a sealed secret: unknown key, tampering,
// another site's or field's secret.
var ErrSecret = errors.New("cannot open secret")

// Box seals and opens site secrets with AES-256-GCM. Each sealed secret records the id of the
// key that sealed it, so that a Box holding the new key and the old ones still opens what the
// old ones sealed (key rotation). A secret is bound to its site and field (additional
// authenticated data), so a ciphertext copied to another site or field does not open.
type Box struct {
	current string
	keys    map[string]cipher.AEAD
}

// KeyID returns the id of a key: a prefix of the SHA-256 of a domain string and the key,
// which names the key without revealing it.
func KeyID(key []byte) string {
	h := sha256.Sum256(append([]byte("edgemec meo secret key id\x00"), key...))
	return hex.EncodeToString(h[:6])
}

// NewBox returns a Box that seals with the first key and opens with any of them.
func NewBox(keys ...[]byte) (*Box, error) {
	if len(keys) == 0 {
		return nil, errors.New("secret box: no key")
	}
	b := &Box{keys: map[string]cipher.AEAD{}}
	for i, k := range keys {
		if len(k) != KeySize {
			return nil, fmt.Errorf("secret key %d: %d bytes, want %d", i+1, len(k), KeySize)
		}
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, fmt.Errorf("secret key %d: %w", i+1, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("secret key %d: %w", i+1, err)
		}
		id := KeyID(k)
		if i == 0 {
			b.current = id
		}
		b.keys[id] = aead
	}
	return b, nil
}

// ParseKey decodes a key file's content: 32 bytes written as hex or base64 (standard or URL
// alphabet, padded or not), surrounding white space ignored. Make one with
// `head -c32 /dev/urandom | base64 > meo.key`.
func ParseKey(b []byte) ([]byte, error) {
	s := string(bytes.TrimSpace(b))
	if k, err := hex.DecodeString(s); err == nil && len(k) == KeySize {
		return k, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil && len(k) == KeySize {
			return k, nil
		}
	}
	return nil, fmt.Errorf("secret key: want %d bytes as hex or base64", KeySize)
}

// LoadKey reads and parses a key file (see ParseKey).
func LoadKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("secret key file: %w", err)
	}
	k, err := ParseKey(b)
	if err != nil {
		return nil, fmt.Errorf("secret key file %s: %w", path, err)
	}
	return k, nil
}

// Fingerprint is a short digest of a secret, shown instead of it so that an operator can tell
// which secret is set: "sha256:" and the first 12 hex digits of its SHA-256.
func Fingerprint(secret []byte) string {
	h := sha256.Sum256(secret)
	return "sha256:" + hex.EncodeToString(h[:6])
}

// Seal encrypts a secret for the field (for example "site/a1/mep.token").
func (b *Box) Seal(secret []byte, field string) (*record.Sealed, error) {
	if b == nil {
		return nil, ErrNoKey
	}
	aead := b.keys[b.current]
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return &record.Sealed{KeyID: b.current, Nonce: nonce, Ciphertext: aead.Seal(nil, nonce, secret, []byte(field)),
		Fingerprint: Fingerprint(secret)}, nil
}

// Open decrypts a secret sealed for the field.
func (b *Box) Open(s *record.Sealed, field string) ([]byte, error) {
	if b == nil {
		return nil, ErrNoKey
	}
	aead, ok := b.keys[s.KeyID]
	if !ok {
		return nil, fmt.Errorf("%w: %s: sealed with key %s, which this MEO does not have", ErrSecret, field, s.KeyID)
	}
	if len(s.Nonce) != aead.NonceSize() {
		return nil, fmt.Errorf("%w: %s: bad nonce", ErrSecret, field)
	}
	out, err := aead.Open(nil, s.Nonce, s.Ciphertext, []byte(field))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: authentication failed", ErrSecret, field)
	}
	return out, nil
}
