package af

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"time"
)

// SiteConfig is the 5G data of one edge site: where its traffic can leave the 5G core
// (DNAIs), which data network and slice its apps serve, and the NEF to ask.
type SiteConfig struct {
	// SiteID is the site's id in the inventory.
	SiteID string `json:"siteId"`
	// DNAIs are the Data Network Access Identifiers (TS 23.501 clause 5.6.7) of the site's
	// user plane; every subscription routes the app's traffic to each of them.
	DNAIs []string `json:"dnais"`
	// DNN is the data network the site's apps are reached in, e.g. "internet".
	DNN string `json:"dnn"`
	// SNSSAI is the network slice.
	SNSSAI SNSSAI `json:"snssai"`
	// NEF is the NEF endpoint and the AF's credentials there.
	NEF NEFConfig `json:"nef"`
}

// SNSSAI is a Single Network Slice Selection Assistance Information (TS 23.003 clause 28.4.2).
type SNSSAI struct {
	// SST is the Slice/Service Type, 0-255.
	SST int `json:"sst"`
	// SD is the optional Slice Differentiator, 6 hex digits.
	SD string `json:"sd,omitempty"`
}

// NEFConfig is a NEF northbound endpoint and the AF's identity and credentials there.
// Exactly one of Token and OAuth2 is set.
type NEFConfig struct {
	// APIRoot is the NEF's API root, scheme://host[:port][/prefix]; the client appends
	// /3gpp-traffic-influence/v1.
	APIRoot string `json:"apiRoot"`
	// AFID is the AF's identifier at the NEF (the {afId} of the resource URIs).
	AFID string `json:"afId"`
	// Token is a static bearer token.
	Token string `json:"token,omitempty"`
	// OAuth2 gets tokens by the client credentials grant, as 3GPP northbound APIs do
	// (TS 33.122, CAPIF).
	OAuth2 *OAuth2Config `json:"oauth2,omitempty"`
	// Timeout bounds one HTTP exchange with the NEF, token fetches included (default 10 s).
	Timeout time.Duration `json:"timeout,omitempty"`
}

// OAuth2Config is an OAuth 2.0 client credentials grant (RFC 6749 clause 4.4).
type OAuth2Config struct {
	TokenURL     string   `json:"tokenUrl"`
	ClientID     string   `json:"clientId"`
	ClientSecret string   `json:"clientSecret"`
	Scopes       []string `json:"scopes,omitempty"`
}

// DefaultTimeout is NEFConfig.Timeout when unset.
const DefaultTimeout = 10 * time.Second

var (
	sdRe   = regexp.MustCompile(`^[A-Fa-f0-9]{6}$`)
	dnaiRe = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)
	// afIDRe keeps the AF id to one path segment.
	afIDRe = regexp.MustCompile(`^[A-Za-z0-9._~-]{1,64}$`)
)

// Validate returns every problem of the configuration, joined; each matches ErrInvalid.
func (c SiteConfig) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, invalid(format, args...))
	}
	if c.SiteID == "" {
		bad("siteId: required")
	}
	if len(c.DNAIs) == 0 {
		bad("dnais: at least one DNAI is required")
	}
	seen := map[string]bool{}
	for i, d := range c.DNAIs {
		if !dnaiRe.MatchString(d) {
			bad("dnais/%d: %q is not a DNAI", i, d)
		}
		if seen[d] {
			bad("dnais/%d: %q is listed twice", i, d)
		}
		seen[d] = true
	}
	if c.DNN == "" {
		bad("dnn: required")
	}
	if c.SNSSAI.SST < 0 || c.SNSSAI.SST > 255 {
		bad("snssai/sst: %d: want 0-255", c.SNSSAI.SST)
	}
	if c.SNSSAI.SD != "" && !sdRe.MatchString(c.SNSSAI.SD) {
		bad("snssai/sd: %q: want 6 hex digits", c.SNSSAI.SD)
	}
	errs = append(errs, c.NEF.validate()...)
	return errors.Join(errs...)
}

func (n NEFConfig) validate() []error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, invalid(format, args...))
	}
	if u, err := url.Parse(n.APIRoot); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
		bad("nef/apiRoot: %q: want scheme://host[:port][/prefix]", n.APIRoot)
	}
	if !afIDRe.MatchString(n.AFID) {
		bad("nef/afId: %q: want 1-64 characters of [A-Za-z0-9._~-]", n.AFID)
	}
	switch {
	case n.Token != "" && n.OAuth2 != nil:
		bad("nef: token and oauth2 are exclusive")
	case n.Token == "" && n.OAuth2 == nil:
		bad("nef: token or oauth2 is required")
	case n.OAuth2 != nil:
		if u, err := url.Parse(n.OAuth2.TokenURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("nef/oauth2/tokenUrl: %q is not an absolute http(s) URL", n.OAuth2.TokenURL)
		}
		if n.OAuth2.ClientID == "" || n.OAuth2.ClientSecret == "" {
			bad("nef/oauth2: clientId and clientSecret are required")
		}
	}
	if n.Timeout < 0 {
		bad("nef/timeout: %s is negative", n.Timeout)
	}
	return errs
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}
