package pkgm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"time"

	"github.com/edgemec/edgemec/internal/callback"
)

// FetcherConfig configures a Fetcher.
type FetcherConfig struct {
	// Deny lists the addresses appPkgPath may not reach, checked on the address dialled
	// (after name resolution and on every redirect), so that the MEO cannot be pointed at
	// internal services. The same list as notification callbacks.
	Deny []netip.Prefix
	// Timeout bounds one fetch, body included (default 10 min).
	Timeout time.Duration
	// MaxRedirects bounds the redirects followed (default 5).
	MaxRedirects int
}

// Fetcher downloads package content from appPkgPath URIs.
type Fetcher struct {
	cfg    FetcherConfig
	client *http.Client
}

func denied(deny []netip.Prefix, addr netip.Addr) bool { return callback.Denied(deny, addr) }

// NewFetcher returns a Fetcher.
func NewFetcher(cfg FetcherConfig) *Fetcher {
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Minute
	}
	if cfg.MaxRedirects == 0 {
		cfg.MaxRedirects = 5
	}
	// The dialer of notification callbacks: it checks the address dialled, after name
	// resolution, on every connection (redirects included).
	d := callback.Dialer(cfg.Deny)
	d.Timeout = 10 * time.Second
	tr := &http.Transport{
		Proxy:                 nil, // a proxy would dial for us and bypass the deny list
		DialContext:           d.DialContext,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		MaxIdleConns:          4,
		IdleConnTimeout:       30 * time.Second,
	}
	f := &Fetcher{cfg: cfg}
	f.client = &http.Client{Transport: tr, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if len(via) > cfg.MaxRedirects {
			return fmt.Errorf("more than %d redirects", cfg.MaxRedirects)
		}
		return f.Check(req.URL.String())
	}}
	return f
}

// Check refuses URIs that are not absolute http or https URIs, or that name a denied
// address literally.
func (f *Fetcher) Check(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errorf(ErrInvalid, "appPkgPath %q: want an absolute http or https URI", raw)
	}
	if a, err := netip.ParseAddr(u.Hostname()); err == nil && denied(f.cfg.Deny, a) {
		return errorf(ErrInvalid, "appPkgPath %q: the address is not allowed", raw)
	}
	return nil
}

// DenyHost reports whether host is a literal address in the deny list.
func (f *Fetcher) DenyHost(host string) bool {
	a, err := netip.ParseAddr(host)
	return err == nil && denied(f.cfg.Deny, a)
}

// Fetch GETs raw and passes the body to put. Failures are domain errors that say what went
// wrong without echoing the response.
func (f *Fetcher) Fetch(ctx context.Context, raw string, max int64, put func(io.Reader) error) error {
	ctx, cancel := context.WithTimeout(ctx, f.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, raw, nil)
	if err != nil {
		return errorf(ErrInvalid, "appPkgPath: %v", err)
	}
	req.Header.Set("Accept", "application/zip, application/octet-stream;q=0.9, */*;q=0.1")
	resp, err := f.client.Do(req)
	if err != nil {
		switch {
		case errors.Is(err, callback.ErrDenied):
			return errorf(ErrInvalid, "fetch appPkgPath: the address is not allowed")
		case errors.Is(err, context.DeadlineExceeded):
			return errorf(ErrInvalid, "fetch appPkgPath: timed out after %v", f.cfg.Timeout)
		}
		var de *Error
		if errors.As(err, &de) {
			return de
		}
		return errorf(ErrInvalid, "fetch appPkgPath: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return errorf(ErrInvalid, "fetch appPkgPath: the server answered %s", resp.Status)
	}
	if resp.ContentLength > max {
		return errorf(ErrTooLarge, "fetch appPkgPath: content of %d bytes is over the limit of %d", resp.ContentLength, max)
	}
	if err := put(resp.Body); err != nil {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return errorf(ErrInvalid, "fetch appPkgPath: timed out after %v", f.cfg.Timeout)
		}
		return err
	}
	return nil
}
