package libvirt

import (
	"context"
	"fmt"
	"sync"
	"time"

	golibvirt "github.com/digitalocean/go-libvirt"
	"github.com/digitalocean/go-libvirt/socket/dialers"

	"github.com/edgemec/edgemec/vim-adapters/vim"
)

// ConnectFunc returns an open connection to one site's libvirtd. The MEO injects one per site;
// it is called on every operation and should hand out one long-lived connection.
type ConnectFunc func(ctx context.Context) (*golibvirt.Libvirt, error)

// Dial connects to the libvirtd listening on the unix socket and opens uri on it
// (libvirt.TestDefault in tests, "qemu:///system" in production).
func Dial(socket string, uri golibvirt.ConnectURI) (*golibvirt.Libvirt, error) {
	l := golibvirt.NewWithDialer(dialers.NewLocal(dialers.WithSocket(socket), dialers.WithLocalTimeout(5*time.Second)))
	if err := l.ConnectToURI(uri); err != nil {
		return nil, fmt.Errorf("connect %s on %s: %w", uri, socket, err)
	}
	return l, nil
}

// Once returns a ConnectFunc that dials once and reuses the connection.
func Once(socket string, uri golibvirt.ConnectURI) ConnectFunc {
	var (
		mu sync.Mutex
		l  *golibvirt.Libvirt
	)
	return func(context.Context) (*golibvirt.Libvirt, error) {
		mu.Lock()
		defer mu.Unlock()
		if l != nil && l.IsConnected() {
			return l, nil
		}
		var err error
		l, err = Dial(socket, uri)
		return l, err
	}
}

func (a *Adapter) conn(ctx context.Context, op, id string) (*golibvirt.Libvirt, error) {
	l, err := a.cfg.Connect(ctx)
	if err != nil {
		return nil, &vim.Error{Op: op, AppInstanceID: id, Err: vim.ErrUnavailable, Detail: "site " + a.cfg.Site, Cause: err}
	}
	return l, nil
}
