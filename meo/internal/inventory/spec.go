package inventory

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/edgemec/edgemec/internal/ids"
	"github.com/edgemec/edgemec/meo/internal/inventory/record"
	"github.com/edgemec/edgemec/meo/internal/placement"
	"github.com/edgemec/edgemec/vim-adapters/vim"
)

// Spec is what an operator registers: a site and how to reach it. Token and Kubeconfig are
// secrets.
type Spec struct {
	ID          string             `json:"id"`
	Name        string             `json:"name,omitempty"`
	Labels      map[string]string  `json:"labels,omitempty"`
	Location    placement.Location `json:"location"`
	MEP         MEPSpec            `json:"mep"`
	MP1Endpoint string             `json:"mp1Endpoint,omitempty"`
	VIM         VIMSpec            `json:"vim"`
	// FiveG is the site's 5G data (optional; its NEF credentials are secrets).
	FiveG *FiveGSpec `json:"fiveG,omitempty"`
}

// MEPSpec reaches a site's MEP over Mm5.
type MEPSpec struct {
	// Endpoint is the Mm5 base URL, e.g. http://mep.site-a:8080/mepm/v1.
	Endpoint string `json:"endpoint"`
	// Token is the MEP's operator bearer token (secret).
	Token string `json:"token"`
	// CACert is an optional PEM bundle that verifies an https endpoint.
	CACert string `json:"caCert,omitempty"`
}

// VIMSpec reaches a site's VIM.
type VIMSpec struct {
	Kind vim.Kind `json:"kind"`
	// Kubeconfig is the kubeconfig of a kubernetes, k3s, kubeedge or kubevirt site (secret).
	// It must carry its credentials inline: file references and exec or auth-provider
	// plugins are refused, since they would run or read things on the MEO's host.
	Kubeconfig string `json:"kubeconfig,omitempty"`
	// LibvirtURI is the connection URI of a libvirt site (e.g. qemu:///system), opened on
	// LibvirtSocket (default /var/run/libvirt/libvirt-sock).
	LibvirtURI    string `json:"libvirtUri,omitempty"`
	LibvirtSocket string `json:"libvirtSocket,omitempty"`
}

// Patch changes a site; nil fields stay as they are. A change to MEP, VIM or MP1Endpoint
// is a change of connection: the new settings are checked as at registration.
type Patch struct {
	Name        *string             `json:"name,omitempty"`
	Labels      *map[string]string  `json:"labels,omitempty"`
	Location    *placement.Location `json:"location,omitempty"`
	MP1Endpoint *string             `json:"mp1Endpoint,omitempty"`
	MEP         *MEPPatch           `json:"mep,omitempty"`
	VIM         *VIMPatch           `json:"vim,omitempty"`
	// FiveG replaces the site's 5G data as a whole; it is not a change of connection.
	FiveG *FiveGSpec `json:"fiveG,omitempty"`
}

// MEPPatch changes the MEP connection (token rotation included).
type MEPPatch struct {
	Endpoint *string `json:"endpoint,omitempty"`
	Token    *string `json:"token,omitempty"`
	CACert   *string `json:"caCert,omitempty"`
}

// VIMPatch changes the VIM connection (kubeconfig rotation included).
type VIMPatch struct {
	Kind          *vim.Kind `json:"kind,omitempty"`
	Kubeconfig    *string   `json:"kubeconfig,omitempty"`
	LibvirtURI    *string   `json:"libvirtUri,omitempty"`
	LibvirtSocket *string   `json:"libvirtSocket,omitempty"`
}

// kubeKinds are the kinds reached with a kubeconfig.
var kubeKinds = map[vim.Kind]bool{vim.KindKubernetes: true, vim.KindK3s: true, vim.KindKubeEdge: true, vim.KindKubeVirt: true}

// Limits of free-text fields.
const (
	maxName       = 256
	maxLabelKey   = 253
	maxLabelValue = 63
	maxLabels     = 64
)

// Validate reports every problem with a spec at once.
func (s Spec) Validate() error {
	var p []string
	add := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }
	if err := ids.Validate(s.ID); err != nil {
		add("id: %v", err)
	}
	p = append(p, s.infoProblems()...)
	if err := checkURL(s.MEP.Endpoint); err != nil {
		add("mep.endpoint: %v", err)
	}
	if s.MEP.Token == "" {
		add("mep.token: required (the MEP's operator token)")
	}
	if s.MEP.CACert != "" {
		if err := checkPEM(s.MEP.CACert); err != nil {
			add("mep.caCert: %v", err)
		}
	}
	if s.MP1Endpoint != "" {
		if err := checkURL(s.MP1Endpoint); err != nil {
			add("mp1Endpoint: %v", err)
		}
	}
	switch k := s.VIM.Kind; {
	case kubeKinds[k]:
		if s.VIM.Kubeconfig == "" {
			add("vim.kubeconfig: required for a %s site", k)
		} else if err := checkKubeconfig(s.VIM.Kubeconfig); err != nil {
			add("vim.kubeconfig: %v", err)
		}
		if s.VIM.LibvirtURI != "" || s.VIM.LibvirtSocket != "" {
			add("vim.libvirtUri: only for a libvirt site")
		}
	case k == vim.KindLibvirt:
		if s.VIM.LibvirtURI == "" {
			add("vim.libvirtUri: required for a libvirt site")
		} else if u, err := url.Parse(s.VIM.LibvirtURI); err != nil || u.Scheme == "" {
			add("vim.libvirtUri: %q is not a libvirt URI (e.g. qemu:///system)", s.VIM.LibvirtURI)
		}
		if s.VIM.Kubeconfig != "" {
			add("vim.kubeconfig: not for a libvirt site")
		}
	case k == "":
		add("vim.kind: required (kubernetes, k3s, kubeedge, kubevirt or libvirt)")
	default:
		add("vim.kind: %q is not kubernetes, k3s, kubeedge, kubevirt or libvirt", k)
	}
	p = append(p, s.FiveG.problems(s.ID)...)
	if len(p) > 0 {
		return &InvalidError{Problems: p}
	}
	return nil
}

// infoProblems checks the descriptive attributes: name, labels, location.
func (s Spec) infoProblems() []string {
	var p []string
	if len(s.Name) > maxName {
		p = append(p, fmt.Sprintf("name: longer than %d characters", maxName))
	}
	p = append(p, labelProblems(s.Labels)...)
	return append(p, locationProblems(s.Location)...)
}

func labelProblems(labels map[string]string) []string {
	var p []string
	if len(labels) > maxLabels {
		p = append(p, fmt.Sprintf("labels: more than %d", maxLabels))
	}
	for _, k := range sortedKeys(labels) {
		v := labels[k]
		if k == "" || len(k) > maxLabelKey || strings.ContainsAny(k, "=,! \t\n") {
			p = append(p, fmt.Sprintf("labels: key %q: want 1-%d characters without '=', ',', '!' or spaces", k, maxLabelKey))
		}
		if len(v) > maxLabelValue || strings.ContainsAny(v, "=,! \t\n") {
			p = append(p, fmt.Sprintf("labels: value of %q: want up to %d characters without '=', ',', '!' or spaces", k, maxLabelValue))
		}
	}
	return p
}

func locationProblems(l placement.Location) []string {
	var p []string
	if !(l.Lat >= -90 && l.Lat <= 90) {
		p = append(p, fmt.Sprintf("location.lat: %v is not within [-90, 90]", l.Lat))
	}
	if !(l.Lon >= -180 && l.Lon <= 180) {
		p = append(p, fmt.Sprintf("location.lon: %v is not within [-180, 180]", l.Lon))
	}
	for i, c := range l.CivicAddress {
		if c.CaType < 0 || c.CaType > 255 {
			p = append(p, fmt.Sprintf("location.civicAddressElement[%d].caType: %d is not a CAtype (0-255)", i, c.CaType))
		}
	}
	if err := (placement.Site{ID: "site", Location: l}).Validate(); err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			p = append(p, "location: "+strings.TrimPrefix(line, placement.ErrInvalid.Error()+": site site: "))
		}
	}
	return p
}

func checkURL(s string) error {
	if s == "" {
		return fmt.Errorf("required")
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%q is not a URL", s)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q: want an absolute http or https URL", s)
	}
	if u.User != nil {
		return fmt.Errorf("credentials belong in the token, not the URL")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%q: no query or fragment", s)
	}
	return nil
}

func checkPEM(s string) error {
	rest := []byte(s)
	n := 0
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return fmt.Errorf("PEM block %q is not a CERTIFICATE", b.Type)
		}
		if _, err := x509.ParseCertificate(b.Bytes); err != nil {
			return fmt.Errorf("certificate %d: %w", n+1, err)
		}
		n++
	}
	if n == 0 {
		return fmt.Errorf("no PEM certificate")
	}
	return nil
}

// checkKubeconfig refuses a kubeconfig that would make the MEO read its own files or run
// programs: credentials must be inline. It does not check that it connects: the check does.
func checkKubeconfig(s string) error {
	cfg, err := clientcmd.Load([]byte(s))
	if err != nil {
		return fmt.Errorf("not a kubeconfig: %w", err)
	}
	var p []string
	for name, c := range cfg.Clusters {
		if c.CertificateAuthority != "" {
			p = append(p, fmt.Sprintf("cluster %q: certificate-authority names a file; use certificate-authority-data", name))
		}
	}
	for name, a := range cfg.AuthInfos {
		if a.ClientCertificate != "" || a.ClientKey != "" {
			p = append(p, fmt.Sprintf("user %q: client-certificate/client-key name files; use the -data fields", name))
		}
		if a.TokenFile != "" {
			p = append(p, fmt.Sprintf("user %q: tokenFile names a file; use token", name))
		}
		if a.Exec != nil || a.AuthProvider != nil {
			p = append(p, fmt.Sprintf("user %q: exec and auth-provider plugins are not run by the MEO", name))
		}
	}
	if len(p) > 0 {
		return fmt.Errorf("%s", strings.Join(p, ", "))
	}
	if _, err := clientcmd.NewDefaultClientConfig(*cfg, nil).ClientConfig(); err != nil {
		return fmt.Errorf("unusable: %w", err)
	}
	return nil
}

// apply changes a spec by a patch, reporting whether the connection changed.
func (s *Spec) apply(p Patch) (connChanged bool) {
	if p.Name != nil {
		s.Name = *p.Name
	}
	if p.Labels != nil {
		s.Labels = *p.Labels
	}
	if p.Location != nil {
		s.Location = *p.Location
	}
	if p.FiveG != nil {
		s.FiveG = p.FiveG
	}
	if p.MP1Endpoint != nil && *p.MP1Endpoint != s.MP1Endpoint {
		s.MP1Endpoint, connChanged = *p.MP1Endpoint, true
	}
	set := func(dst *string, src *string) {
		if src != nil && *src != *dst {
			*dst, connChanged = *src, true
		}
	}
	if m := p.MEP; m != nil {
		set(&s.MEP.Endpoint, m.Endpoint)
		set(&s.MEP.Token, m.Token)
		set(&s.MEP.CACert, m.CACert)
	}
	if v := p.VIM; v != nil {
		if v.Kind != nil && *v.Kind != s.VIM.Kind {
			s.VIM.Kind, connChanged = *v.Kind, true
		}
		set(&s.VIM.Kubeconfig, v.Kubeconfig)
		set(&s.VIM.LibvirtURI, v.LibvirtURI)
		set(&s.VIM.LibvirtSocket, v.LibvirtSocket)
	}
	return connChanged
}

// View is a site as the API shows it: no secret, only whether one is set and its
// fingerprint.
type View struct {
	ID          string             `json:"id"`
	Name        string             `json:"name"`
	Labels      map[string]string  `json:"labels"`
	Location    placement.Location `json:"location"`
	MEP         MEPView            `json:"mep"`
	MP1Endpoint string             `json:"mp1Endpoint,omitempty"`
	VIM         VIMView            `json:"vim"`
	FiveG       *FiveGView         `json:"fiveG,omitempty"`
	State       State              `json:"state"`
	Created     time.Time          `json:"created"`
	Updated     time.Time          `json:"updated"`
}

// SecretView stands for a secret.
type SecretView struct {
	Set         bool   `json:"set"`
	Fingerprint string `json:"fingerprint,omitempty"`
}

// MEPView is the MEP connection without its token.
type MEPView struct {
	Endpoint string     `json:"endpoint"`
	Token    SecretView `json:"token"`
	CACert   string     `json:"caCert,omitempty"`
}

// VIMView is the VIM connection without its kubeconfig.
type VIMView struct {
	Kind          vim.Kind    `json:"kind"`
	Kubeconfig    *SecretView `json:"kubeconfig,omitempty"`
	LibvirtURI    string      `json:"libvirtUri,omitempty"`
	LibvirtSocket string      `json:"libvirtSocket,omitempty"`
}

// State is what the MEO knows of a site beyond its settings.
type State struct {
	// Schedulable is false once the site is cordoned (or drained).
	Schedulable bool `json:"schedulable"`
	// Draining asks for the site's instances to move elsewhere.
	Draining bool `json:"draining"`
	// Drain is the progress of the drain (orchestrate.DrainStatus), once the orchestrator
	// made its first round.
	Drain json.RawMessage `json:"drain,omitempty"`
	// Capacity is the VIM's last capabilities, read at CapacityUpdated.
	Capacity        *vim.Capabilities `json:"capacity,omitempty"`
	CapacityUpdated *time.Time        `json:"capacityUpdated,omitempty"`
	// Committed sums the resources of the app instances placed on the site; Instances
	// counts them per appDId.
	Committed vim.Resources  `json:"committed"`
	Instances map[string]int `json:"instances,omitempty"`
	// MEP and VIM are the last health of each side.
	MEP record.Health `json:"mep"`
	VIM record.Health `json:"vim"`
}

func view(r *record.Site, u record.Usage) View {
	v := View{ID: r.ID, Name: r.Name, Labels: r.Labels, Location: r.Location, MP1Endpoint: r.MP1Endpoint,
		MEP: MEPView{Endpoint: r.MEP.Endpoint, CACert: r.MEP.CACert, Token: secretView(r.MEP.Token)},
		VIM: VIMView{Kind: r.VIM.Kind, LibvirtURI: r.VIM.LibvirtURI, LibvirtSocket: r.VIM.LibvirtSocket},
		State: State{Schedulable: !r.Cordoned, Draining: r.Draining, Capacity: r.Capacity, CapacityUpdated: r.CapacityAt,
			Committed: u.Committed, Instances: u.Instances, MEP: r.MEPHealth, VIM: r.VIMHealth},
		Created: r.Created, Updated: r.Updated, FiveG: fiveGView(r.FiveG)}
	if v.Labels == nil {
		v.Labels = map[string]string{}
	}
	if kubeKinds[r.VIM.Kind] {
		sv := secretView(r.VIM.Kubeconfig)
		v.VIM.Kubeconfig = &sv
	}
	return v
}

func secretView(s *record.Sealed) SecretView {
	if s == nil {
		return SecretView{}
	}
	return SecretView{Set: true, Fingerprint: s.Fingerprint}
}

func sortedKeys(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) }
