package selector

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// ParamMarker is the paging query parameter of MEC 009 clause 6.20 (NFV-SOL 013 clause 5.4).
const ParamMarker = "nextpage_opaque_marker"

// MaxMarkerLen bounds an accepted marker, so a client cannot make the server decode much.
const MaxMarkerLen = 1024

// MinMarkerKeyLen is the shortest HMAC key NewMarkerCodec accepts.
const MinMarkerKeyLen = 16

const (
	markerVersion = '1'
	macLen        = 16 // truncated HMAC-SHA256, 128 bits
)

// MarkerCodec turns the key of the last item of a page (any JSON-encodable value, typically a
// small struct of sort columns) into an opaque nextpage_opaque_marker and back. The marker is
// base64url(version || JSON(key)) "." base64url(HMAC-SHA256(secret, version || JSON(key))), so
// a client can neither forge nor alter one; it is not encrypted, so the key must hold nothing
// secret. Include the resource name in the key to keep markers from moving between lists.
type MarkerCodec struct {
	secret []byte
}

// NewMarkerCodec returns a codec using secret (at least MinMarkerKeyLen bytes), which every
// replica serving the same API must share.
func NewMarkerCodec(secret []byte) (*MarkerCodec, error) {
	if len(secret) < MinMarkerKeyLen {
		return nil, fmt.Errorf("marker key: %d bytes, need at least %d", len(secret), MinMarkerKeyLen)
	}
	return &MarkerCodec{secret: bytes.Clone(secret)}, nil
}

func (c *MarkerCodec) mac(payload []byte) []byte {
	h := hmac.New(sha256.New, c.secret)
	h.Write(payload)
	return h.Sum(nil)[:macLen]
}

// EncodeMarker returns the marker for key. It panics if key cannot be encoded as JSON, which
// is a programming error (keys are the caller's own plain values).
func (c *MarkerCodec) EncodeMarker(key any) string {
	j, err := json.Marshal(key)
	if err != nil {
		panic(fmt.Sprintf("selector: marker key not JSON-encodable: %v", err))
	}
	payload := append([]byte{markerVersion}, j...)
	enc := base64.RawURLEncoding
	return enc.EncodeToString(payload) + "." + enc.EncodeToString(c.mac(payload))
}

// DecodeMarker checks the marker s and decodes its key into into (a pointer). Any marker not
// made by EncodeMarker with the same secret yields an error matching ErrInvalid.
func (c *MarkerCodec) DecodeMarker(s string, into any) error {
	if len(s) > MaxMarkerLen {
		return invalidf("%s longer than %d bytes", ParamMarker, MaxMarkerLen)
	}
	p, m, ok := strings.Cut(s, ".")
	if !ok {
		return invalidf("malformed %s", ParamMarker)
	}
	enc := base64.RawURLEncoding
	payload, err1 := enc.DecodeString(p)
	mac, err2 := enc.DecodeString(m)
	if err := errors.Join(err1, err2); err != nil || len(payload) == 0 {
		return invalidf("malformed %s", ParamMarker)
	}
	if !hmac.Equal(mac, c.mac(payload)) {
		return invalidf("%s was not issued by this server", ParamMarker)
	}
	if payload[0] != markerVersion {
		return invalidf("%s of unknown version", ParamMarker)
	}
	d := json.NewDecoder(bytes.NewReader(payload[1:]))
	d.DisallowUnknownFields()
	if err := d.Decode(into); err != nil {
		return invalidf("%s does not fit this list: %v", ParamMarker, err)
	}
	return nil
}

// LinkHeader is the response header carrying the next-page link.
const LinkHeader = "Link"

// NextLink returns the Link header value pointing at the next page: reqURL (the absolute URL
// of the current request) with nextpage_opaque_marker set to marker, as <url>; rel="next".
// Every other query parameter is kept byte for byte, so a filter with unencoded ";" survives.
func NextLink(reqURL *url.URL, marker string) string {
	u := *reqURL
	var kept []string
	for _, pair := range strings.Split(u.RawQuery, "&") {
		k, _, _ := strings.Cut(pair, "=")
		if pair == "" || k == ParamMarker {
			continue
		}
		kept = append(kept, pair)
	}
	u.RawQuery = strings.Join(append(kept, ParamMarker+"="+url.QueryEscape(marker)), "&")
	u.Fragment, u.RawFragment = "", ""
	return "<" + u.String() + `>; rel="next"`
}

// ParseQuery parses a raw URL query like url.ParseQuery, but with "&" as the only separator.
// MEC 009 filters join clauses with ";", which net/url (since Go 1.17) refuses in a query:
// url.URL.Query and echo's QueryParam drop a "filter=(eq,a,b);(eq,c,d)" pair silently, so
// list handlers read their parameters with ParseQuery(req.URL.RawQuery) instead. Errors (bad
// percent-encoding) match ErrInvalid.
func ParseQuery(raw string) (url.Values, error) {
	q := url.Values{}
	for _, pair := range strings.Split(raw, "&") {
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		key, err1 := url.QueryUnescape(k)
		val, err2 := url.QueryUnescape(v)
		if err := errors.Join(err1, err2); err != nil {
			return nil, invalidf("query parameter %q: bad percent-encoding", k)
		}
		q[key] = append(q[key], val)
	}
	return q, nil
}
