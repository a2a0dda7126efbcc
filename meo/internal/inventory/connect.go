package inventory

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	golibvirt "github.com/digitalocean/go-libvirt"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/edgemec/edgemec/meo/internal/reconcile"
	"github.com/edgemec/edgemec/mep/mm5api"
	"github.com/edgemec/edgemec/vim-adapters/k3s"
	"github.com/edgemec/edgemec/vim-adapters/kubeedge"
	"github.com/edgemec/edgemec/vim-adapters/kubernetes"
	"github.com/edgemec/edgemec/vim-adapters/kubevirt"
	"github.com/edgemec/edgemec/vim-adapters/libvirt"
	"github.com/edgemec/edgemec/vim-adapters/vim"
)

// DefaultLibvirtSocket is where libvirtd listens unless a site says otherwise.
const DefaultLibvirtSocket = "/var/run/libvirt/libvirt-sock"

// conn is a site's live connection: the clients Connect hands out, built from one generation
// of the site's settings.
type conn struct {
	gen   int64
	site  reconcile.Site
	mep   *mm5api.ClientWithResponses
	close func()
}

// dial builds the clients of a site from its settings in clear. Nothing is contacted yet. Its
// errors are *CheckError, naming the side that could not be set up.
func dial(id string, s Spec, log *slog.Logger) (*conn, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if s.MEP.CACert != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(s.MEP.CACert)) {
			return nil, &CheckError{MEP: errors.New("mep: caCert holds no certificate")}
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	token := s.MEP.Token
	mep, err := mm5api.NewClientWithResponses(strings.TrimRight(s.MEP.Endpoint, "/"),
		mm5api.WithHTTPClient(&http.Client{Transport: tr}),
		mm5api.WithRequestEditorFn(func(_ context.Context, r *http.Request) error {
			r.Header.Set("Authorization", "Bearer "+token)
			return nil
		}))
	if err != nil {
		return nil, &CheckError{MEP: fmt.Errorf("mep: %w", err)}
	}
	closers := []func(){tr.CloseIdleConnections}
	v, closeVIM, err := dialVIM(id, s.VIM, log)
	if err != nil {
		tr.CloseIdleConnections()
		return nil, &CheckError{VIM: fmt.Errorf("vim: %w", err)}
	}
	if closeVIM != nil {
		closers = append(closers, closeVIM)
	}
	return &conn{
		site: reconcile.Site{Name: id, MEP: mep, VIM: v, MEPEndpoint: s.MP1Endpoint},
		mep:  mep,
		close: func() {
			for _, c := range closers {
				c()
			}
		},
	}, nil
}

func dialVIM(id string, s VIMSpec, log *slog.Logger) (vim.VIM, func(), error) {
	if s.Kind == vim.KindLibvirt {
		socket := s.LibvirtSocket
		if socket == "" {
			socket = DefaultLibvirtSocket
		}
		lc := &libvirtConn{socket: socket, uri: golibvirt.ConnectURI(s.LibvirtURI)}
		a, err := libvirt.New(libvirt.Config{Site: id, Connect: lc.get, Logger: log})
		if err != nil {
			return nil, nil, err
		}
		return a, lc.close, nil
	}
	rc, err := clientcmd.RESTConfigFromKubeConfig([]byte(s.Kubeconfig))
	if err != nil {
		return nil, nil, fmt.Errorf("kubeconfig: %w", err)
	}
	rc.Timeout = 0 // watches are long; calls are bounded by their contexts
	clients, err := kubernetes.NewClients(rc)
	if err != nil {
		return nil, nil, err
	}
	kc := kubernetes.Config{Site: id, Clients: kubernetes.Static(clients), Logger: log}
	var a vim.VIM
	switch s.Kind {
	case vim.KindKubernetes:
		a, err = kubernetes.New(kc)
	case vim.KindK3s:
		a, err = k3s.New(kc)
	case vim.KindKubeEdge:
		a, err = kubeedge.New(kc)
	case vim.KindKubeVirt:
		a, err = kubevirt.New(kubevirt.Config{Site: id, Clients: kc.Clients, Logger: log})
	default:
		err = fmt.Errorf("kind %q has no adapter", s.Kind)
	}
	if err != nil {
		return nil, nil, err
	}
	return a, nil, nil
}

// libvirtConn dials libvirtd once and redials after a lost connection; close disconnects.
type libvirtConn struct {
	socket string
	uri    golibvirt.ConnectURI
	mu     sync.Mutex
	l      *golibvirt.Libvirt
	closed bool
}

func (c *libvirtConn) get(context.Context) (*golibvirt.Libvirt, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, errors.New("libvirt connection closed")
	}
	if c.l != nil && c.l.IsConnected() {
		return c.l, nil
	}
	l, err := libvirt.Dial(c.socket, c.uri)
	if err != nil {
		return nil, err
	}
	c.l = l
	return l, nil
}

func (c *libvirtConn) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	if c.l != nil {
		_ = c.l.Disconnect()
	}
}

// checkMEP makes an authenticated Mm5 call (GET app_instances).
func checkMEP(ctx context.Context, c *conn, endpoint string) error {
	resp, err := c.mep.ListAppInstancesWithResponse(ctx)
	if err != nil {
		return fmt.Errorf("mep: %w", err)
	}
	if resp.StatusCode() != http.StatusOK {
		return fmt.Errorf("mep: GET %s/app_instances: %s", strings.TrimRight(endpoint, "/"), resp.Status())
	}
	return nil
}

// checkVIM reads the VIM's capabilities.
func checkVIM(ctx context.Context, c *conn) (vim.Capabilities, error) {
	caps, err := c.site.VIM.Capabilities(ctx)
	if err != nil {
		return vim.Capabilities{}, fmt.Errorf("vim: %w", err)
	}
	return caps, nil
}

// probeResult is the outcome of checking both sides of a site.
type probeResult struct {
	mepErr, vimErr   error
	caps             vim.Capabilities
	mepTook, vimTook time.Duration
}

// probe checks the MEP and the VIM concurrently, each within timeout.
func probe(ctx context.Context, c *conn, endpoint string, timeout time.Duration) probeResult {
	var (
		r  probeResult
		wg sync.WaitGroup
	)
	wg.Go(func() {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		t0 := time.Now()
		r.mepErr = checkMEP(ctx, c, endpoint)
		r.mepTook = time.Since(t0)
	})
	wg.Go(func() {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		t0 := time.Now()
		r.caps, r.vimErr = checkVIM(ctx, c)
		r.vimTook = time.Since(t0)
	})
	wg.Wait()
	return r
}
