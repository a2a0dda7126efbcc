package inventory

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/meo/internal/inventory/record"
	"github.com/edgemec/edgemec/meo/internal/placement"
	"github.com/edgemec/edgemec/vim-adapters/vim"
)

const kubeconfig = `apiVersion: v1
kind: Config
clusters:
- name: a
  cluster: {server: "https://127.0.0.1:6443", insecure-skip-tls-verify: true}
users:
- name: u
  user: {token: abc}
contexts:
- name: a
  context: {cluster: a, user: u}
current-context: a
`

func caPEM(t *testing.T) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ca"}, NotBefore: time.Now(),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	require.NoError(t, err)
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func validSpec() Spec {
	return Spec{ID: "site-a", Name: "Site A", Labels: map[string]string{"region": "eu-west"},
		Location: placement.Location{Lat: 48.1, Lon: 11.6, CountryCode: "DE",
			ServedAreas: []placement.ServedArea{{Area: placement.Area{TAC: "1a2b"}, LatencyMs: 4}}},
		MEP: MEPSpec{Endpoint: "http://mep.a:8080/mepm/v1", Token: "operator-token"},
		VIM: VIMSpec{Kind: vim.KindKubernetes, Kubeconfig: kubeconfig}}
}

func problems(err error) []string {
	var ie *InvalidError
	if errors.As(err, &ie) {
		return ie.Problems
	}
	return nil
}

func TestSpecValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*Spec)
		want   []string // substrings, one per expected problem, in order
	}{
		{"valid", func(*Spec) {}, nil},
		{"valid libvirt", func(s *Spec) { s.VIM = VIMSpec{Kind: vim.KindLibvirt, LibvirtURI: "qemu:///system"} }, nil},
		{"valid https with CA", func(s *Spec) { s.MEP.Endpoint = "https://mep.a/mepm/v1"; s.MEP.CACert = caPEM(t) }, nil},
		{"valid mp1 endpoint", func(s *Spec) { s.MP1Endpoint = "http://10.0.0.1:8080/mep/mec_service_mgmt/v1" }, nil},
		{"empty", func(s *Spec) { *s = Spec{} }, []string{"id: invalid id: empty", "mep.endpoint: required", "mep.token: required", "vim.kind: required"}},
		{"bad id", func(s *Spec) { s.ID = "Site_A" }, []string{"id: invalid id"}},
		{"every problem at once", func(s *Spec) {
			s.ID = "-x"
			s.Location.Lat = 91
			s.Location.Lon = -181
			s.Location.CountryCode = "DEU"
			s.MEP.Endpoint = "ftp://x"
			s.MEP.Token = ""
			s.VIM.Kubeconfig = ""
		}, []string{"id:", "location.lat: 91", "location.lon: -181", "country code \"DEU\"", "mep.endpoint: \"ftp://x\"", "mep.token: required", "vim.kubeconfig: required for a kubernetes site"}},
		{"long name", func(s *Spec) { s.Name = strings.Repeat("n", 257) }, []string{"name: longer than 256"}},
		{"bad label key", func(s *Spec) { s.Labels = map[string]string{"a=b": "c"} }, []string{`labels: key "a=b"`}},
		{"bad label value", func(s *Spec) { s.Labels = map[string]string{"a": "b,c"} }, []string{`labels: value of "a"`}},
		{"served area with two shapes", func(s *Spec) {
			s.Location.ServedAreas = []placement.ServedArea{{Area: placement.Area{TAC: "1", Circle: &placement.Circle{RadiusM: 5}}, LatencyMs: 1}}
		}, []string{"location: served area 0"}},
		{"negative latency", func(s *Spec) { s.Location.ServedAreas[0].LatencyMs = -1 }, []string{"latency -1 ms"}},
		{"credentials in endpoint", func(s *Spec) { s.MEP.Endpoint = "http://u:p@mep/mepm/v1" }, []string{"credentials belong in the token"}},
		{"relative endpoint", func(s *Spec) { s.MEP.Endpoint = "/mepm/v1" }, []string{"want an absolute http or https URL"}},
		{"bad CA", func(s *Spec) { s.MEP.CACert = "not pem" }, []string{"mep.caCert: no PEM certificate"}},
		{"bad mp1 endpoint", func(s *Spec) { s.MP1Endpoint = "mep:8080" }, []string{"mp1Endpoint:"}},
		{"unknown kind", func(s *Spec) { s.VIM.Kind = "openstack" }, []string{`vim.kind: "openstack" is not`}},
		{"kubeconfig not yaml", func(s *Spec) { s.VIM.Kubeconfig = "{{{" }, []string{"vim.kubeconfig: not a kubeconfig"}},
		{"kubeconfig with exec", func(s *Spec) {
			s.VIM.Kubeconfig = strings.Replace(kubeconfig, "user: {token: abc}", "user: {exec: {command: /bin/sh, apiVersion: client.authentication.k8s.io/v1}}", 1)
		}, []string{"exec and auth-provider plugins are not run"}},
		{"kubeconfig with files", func(s *Spec) {
			s.VIM.Kubeconfig = strings.Replace(kubeconfig, "user: {token: abc}", "user: {client-certificate: /etc/x.crt, client-key: /etc/x.key}", 1)
		}, []string{"client-certificate/client-key name files"}},
		{"kubeconfig with token file", func(s *Spec) {
			s.VIM.Kubeconfig = strings.Replace(kubeconfig, "user: {token: abc}", "user: {tokenFile: /etc/token}", 1)
		}, []string{"tokenFile names a file"}},
		{"libvirt without uri", func(s *Spec) { s.VIM = VIMSpec{Kind: vim.KindLibvirt} }, []string{"vim.libvirtUri: required"}},
		{"libvirt with kubeconfig", func(s *Spec) {
			s.VIM = VIMSpec{Kind: vim.KindLibvirt, LibvirtURI: "qemu:///system", Kubeconfig: kubeconfig}
		}, []string{"vim.kubeconfig: not for a libvirt site"}},
		{"kubernetes with libvirt uri", func(s *Spec) { s.VIM.LibvirtURI = "qemu:///system" }, []string{"vim.libvirtUri: only for a libvirt site"}},
		{"civic address type", func(s *Spec) {
			s.Location.CivicAddress = []placement.CivicAddressElement{{CaType: 300, CaValue: "x"}}
		}, []string{"caType: 300"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := validSpec()
			tc.change(&s)
			err := s.Validate()
			if tc.want == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrInvalid)
			got := problems(err)
			require.Len(t, got, len(tc.want), "problems: %q", got)
			for i, w := range tc.want {
				require.Contains(t, got[i], w)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestSpecApply(t *testing.T) {
	for _, tc := range []struct {
		name     string
		patch    Patch
		check    func(t *testing.T, s Spec)
		wantConn bool
	}{
		{"name and labels only", Patch{Name: ptr("B"), Labels: &map[string]string{"x": "y"}}, func(t *testing.T, s Spec) {
			require.Equal(t, "B", s.Name)
			require.Equal(t, map[string]string{"x": "y"}, s.Labels)
			require.Equal(t, "operator-token", s.MEP.Token)
		}, false},
		{"location", Patch{Location: &placement.Location{Lat: 1, Lon: 2}}, func(t *testing.T, s Spec) {
			require.Equal(t, 1.0, s.Location.Lat)
		}, false},
		{"token rotation", Patch{MEP: &MEPPatch{Token: ptr("new-token")}}, func(t *testing.T, s Spec) {
			require.Equal(t, "new-token", s.MEP.Token)
			require.Equal(t, "http://mep.a:8080/mepm/v1", s.MEP.Endpoint)
		}, true},
		{"same token", Patch{MEP: &MEPPatch{Token: ptr("operator-token")}}, func(*testing.T, Spec) {}, false},
		{"mp1 endpoint", Patch{MP1Endpoint: ptr("http://x/mep")}, func(t *testing.T, s Spec) {
			require.Equal(t, "http://x/mep", s.MP1Endpoint)
		}, true},
		{"vim kind", Patch{VIM: &VIMPatch{Kind: ptr(vim.KindK3s)}}, func(t *testing.T, s Spec) {
			require.Equal(t, vim.KindK3s, s.VIM.Kind)
			require.Equal(t, kubeconfig, s.VIM.Kubeconfig)
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := validSpec()
			require.Equal(t, tc.wantConn, s.apply(tc.patch))
			tc.check(t, s)
		})
	}
}

func TestViewHidesSecrets(t *testing.T) {
	box, err := NewBox(key(3))
	require.NoError(t, err)
	s := &Service{cfg: Config{Box: box}}
	r := &record.Site{ID: "site-a"}
	spec := validSpec()
	require.NoError(t, s.fill(r, spec))
	v := view(r, record.Usage{Committed: vim.Resources{MilliCPU: 500}, Instances: map[string]int{"app": 2}})
	b, err := json.Marshal(v)
	require.NoError(t, err)
	require.NotContains(t, string(b), "operator-token")
	require.NotContains(t, string(b), "token: abc")
	require.True(t, v.MEP.Token.Set)
	require.Equal(t, Fingerprint([]byte("operator-token")), v.MEP.Token.Fingerprint)
	require.NotNil(t, v.VIM.Kubeconfig)
	require.Equal(t, Fingerprint([]byte(kubeconfig)), v.VIM.Kubeconfig.Fingerprint)
	require.Equal(t, int64(500), v.State.Committed.MilliCPU)
	require.True(t, v.State.Schedulable)

	back, err := s.spec(r)
	require.NoError(t, err)
	require.Equal(t, spec.MEP.Token, back.MEP.Token)
	require.Equal(t, spec.VIM.Kubeconfig, back.VIM.Kubeconfig)
}

// Without a key nothing is registered, and the error says why; a bad spec is reported first.
func TestRegisterWithoutKey(t *testing.T) {
	s, err := New(Config{}, nil)
	require.NoError(t, err)
	_, err = s.Register(t.Context(), validSpec())
	require.ErrorIs(t, err, ErrNoKey)
	require.ErrorContains(t, err, "--secret-key-file")
	bad := validSpec()
	bad.ID = ""
	_, err = s.Register(t.Context(), bad)
	require.ErrorIs(t, err, ErrInvalid)
}
