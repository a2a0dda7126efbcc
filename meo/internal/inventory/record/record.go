// Package record holds a site as the inventory stores it, so that the inventory declares the
// store it needs (inventory.Store) and the store (pgstore) implements it without depending on
// the VIM adapters the inventory imports. Secrets are kept sealed (see inventory.Box): a
// store never sees them in clear.
package record

import (
	"errors"
	"strings"
	"time"

	"github.com/edgemec/edgemec/meo/internal/placement"
	"github.com/edgemec/edgemec/vim-adapters/vim"
)

// ErrInUse is returned when deleting a site that app instances are still placed on.
var ErrInUse = errors.New("site in use")

// Sealed is a secret encrypted with AES-256-GCM under the MEO key KeyID.
type Sealed struct {
	// KeyID names the key that sealed it (a prefix of the key's SHA-256), so that a key can
	// be rotated: records sealed under an older key stay readable while that key is kept.
	KeyID string `json:"keyId"`
	// Nonce and Ciphertext are the GCM nonce and the sealed secret with its tag.
	Nonce      []byte `json:"nonce"`
	Ciphertext []byte `json:"ciphertext"`
	// Fingerprint is a short SHA-256 prefix of the clear secret, shown instead of it.
	Fingerprint string `json:"fingerprint"`
}

// MEP is how the MEO reaches a site's MEP over Mm5.
type MEP struct {
	// Endpoint is the Mm5 base URL (http://host:port/mepm/v1).
	Endpoint string
	// Token is the MEP's operator bearer token.
	Token *Sealed
	// CACert is the PEM bundle that verifies the MEP's TLS certificate ("" = system roots).
	CACert string
}

// VIM is how the MEO reaches a site's VIM.
type VIM struct {
	Kind vim.Kind
	// Kubeconfig is the kubeconfig of the Kubernetes family and KubeVirt.
	Kubeconfig *Sealed
	// LibvirtURI and LibvirtSocket reach a libvirt VIM.
	LibvirtURI    string
	LibvirtSocket string
}

// Health is the last probe of one side of a site (MEP or VIM).
type Health struct {
	// Reachable is nil until the first probe.
	Reachable *bool `json:"reachable,omitempty"`
	// LastSeen is when it last answered.
	LastSeen *time.Time `json:"lastSeen,omitempty"`
	// LastError is what the last failed probe said ("" once it answers again).
	LastError string `json:"lastError,omitempty"`
	// CheckedAt is when it was last probed.
	CheckedAt *time.Time `json:"checkedAt,omitempty"`
}

// Probe is the outcome of probing a site.
type Probe struct {
	MEP Health
	VIM Health
	// Capacity is set when the VIM answered.
	Capacity *vim.Capabilities
	At       time.Time
}

// Site is a registered edge site.
type Site struct {
	ID       string
	Name     string
	Labels   map[string]string
	Location placement.Location
	MEP      MEP
	// MP1Endpoint, if set, is the Mp1 URL the site's apps use.
	MP1Endpoint string
	VIM         VIM
	// Generation counts changes to the connection settings (MEP, VIM, MP1Endpoint), so that
	// cached connections are rebuilt when it moves.
	Generation int64
	Cordoned   bool
	Draining   bool
	// Capacity is the VIM's last capabilities, CapacityAt when they were read.
	Capacity   *vim.Capabilities
	CapacityAt *time.Time
	MEPHealth  Health
	VIMHealth  Health
	// FiveG is the site's 5G data, nil when the MEO does not steer traffic there through
	// the 5G core.
	FiveG   *FiveG
	Created time.Time
	Updated time.Time
	// Pos is the creation order, the paging position.
	Pos int64
}

// Usage is what the MEO has committed on a site, from the app instances placed there.
type Usage struct {
	Committed vim.Resources
	// Instances counts the instances per appDId.
	Instances map[string]int
}

// ListQuery selects a page of sites.
type ListQuery struct {
	// Labels must all be present with equal values.
	Labels map[string]string
	// Filter restricts the sites further (nil: all): an ETSI GS MEC 009 filter over the
	// site as the inventory API shows it, checked against SiteFilterable.
	Filter Filter
	// After is the Pos of the last site of the previous page.
	After int64
	// Limit bounds the page (0 = no bound).
	Limit int
}

// Page is a page of sites; Next is the Pos to continue after (0 on the last page).
type Page struct {
	Sites []*Site
	Next  int64
}

// FiveG is a site's 5G data as stored: where its traffic leaves the 5G core, which data
// network and slice its apps serve, and the NEF the MEO asks, as an Application Function,
// to steer the apps' traffic there. The NEF credentials are sealed.
type FiveG struct {
	DNAIs  []string `json:"dnais"`
	DNN    string   `json:"dnn"`
	SNSSAI SNSSAI   `json:"snssai"`
	NEF    NEF      `json:"nef"`
}

// SNSSAI is a network slice (TS 23.003 clause 28.4.2).
type SNSSAI struct {
	SST int    `json:"sst"`
	SD  string `json:"sd,omitempty"`
}

// NEF is a NEF northbound endpoint and the AF's credentials there: a static bearer token or
// an OAuth 2.0 client credentials grant.
type NEF struct {
	APIRoot string  `json:"apiRoot"`
	AFID    string  `json:"afId"`
	Token   *Sealed `json:"token,omitempty"`
	OAuth2  *OAuth2 `json:"oauth2,omitempty"`
	// TimeoutMS bounds one exchange with the NEF (0: the default).
	TimeoutMS int64 `json:"timeoutMs,omitempty"`
}

// OAuth2 is an OAuth 2.0 client credentials grant with its client secret sealed.
type OAuth2 struct {
	TokenURL     string   `json:"tokenUrl"`
	ClientID     string   `json:"clientId"`
	ClientSecret *Sealed  `json:"clientSecret"`
	Scopes       []string `json:"scopes,omitempty"`
}

// Filter is a compiled attribute filter (selector.Expr is one): it appends its arguments to
// args and returns an SQL condition on the jsonb expression col, reading the attributes that
// columns maps from those (indexed) columns instead.
type Filter interface {
	SQLColumns(col string, columns map[string]string, args *[]any) (string, error)
}

// SiteFilterable reports whether a filter may name path (attribute names joined with "/"):
// the attributes of a site's view that the store holds as they are shown. The per-app
// counts and committed resources (computed from the instances), the timestamps (whose
// ordering a database compares differently from the specification) and the 5G settings
// (shown without their secrets) are not.
func SiteFilterable(path string) bool {
	head, rest, nested := strings.Cut(path, "/")
	switch head {
	case "id", "name", "mp1Endpoint":
		return !nested
	case "labels", "location":
		return !nested || rest != ""
	case "mep":
		return nested && rest == "endpoint"
	case "vim":
		return nested && (rest == "kind" || rest == "libvirtUri" || rest == "libvirtSocket")
	case "state":
		if !nested {
			return false
		}
		sub, _, _ := strings.Cut(rest, "/")
		switch sub {
		case "schedulable", "draining":
			return rest == sub
		case "capacity", "mep", "vim":
			return true
		}
	}
	return false
}
