package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"reflect"
	"strings"

	"github.com/edgemec/edgemec/meo/mm1api"
	"github.com/edgemec/edgemec/mep/mm5api"
	"github.com/edgemec/edgemec/mep/mp1api"
	"github.com/edgemec/edgemec/upgw/upgwapi"
)

// target is one resolved endpoint: its base URL and how to reach it.
type target struct {
	// Name is what error messages call it ("MEO", "site edge-1 MEP").
	Name  string
	URL   string
	token string
	http  *http.Client
}

// editor sets the bearer token and the user agent on every request.
func (t *target) editor(_ context.Context, r *http.Request) error {
	if t.token != "" {
		r.Header.Set("Authorization", "Bearer "+t.token)
	}
	r.Header.Set("User-Agent", "mecctl/"+versionString())
	return nil
}

// loadContext returns the selected context: --context, else the config's current one. No
// config file, or no current context, gives an empty context (flags and environment only).
func (o *Options) loadContext() (*Context, error) {
	cfg, err := loadConfig(o.ConfigPath)
	if err != nil {
		return nil, err
	}
	name := o.Context
	if name == "" {
		name = cfg.CurrentContext
	}
	if name == "" {
		return &Context{}, nil
	}
	c, ok := cfg.context(name)
	if !ok {
		return nil, usageErrorf("context %q is not in %s (known: %s)", name, o.ConfigPath, strings.Join(cfg.names(), ", "))
	}
	return c, nil
}

// pick returns the flag (or environment) value when one was given, else the context's.
func (o *Options) pick(flag, flagValue, ctxValue string) string {
	if o.set[flag] {
		return flagValue
	}
	return ctxValue
}

// newTarget resolves an endpoint from the flag or the context, and builds its HTTP client.
func (o *Options) newTarget(name, flag, flagURL, ctxURL string, c *Context, tokenCtx, tokenFileCtx string) (*target, error) {
	raw := o.pick(flag, flagURL, ctxURL)
	if raw == "" {
		return nil, usageErrorf("no %s endpoint: give --%s (or %s) or set it in a context (mecctl config set-context)", name, flag, envName(flag))
	}
	u, err := NormalizeURL(raw)
	if err != nil {
		return nil, &UsageError{Err: fmt.Errorf("%s endpoint: %w", name, err)}
	}
	token, err := o.token(c, tokenCtx, tokenFileCtx)
	if err != nil {
		return nil, err
	}
	hc, err := o.httpClient(c)
	if err != nil {
		return nil, err
	}
	return &target{Name: name, URL: u, token: token, http: hc}, nil
}

// token: --token, else --token-file, else the site's or the context's token, else its file.
func (o *Options) token(c *Context, tokenCtx, tokenFileCtx string) (string, error) {
	read := func(f string) (string, error) {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", &UsageError{Err: fmt.Errorf("token file: %w", err)}
		}
		return strings.TrimSpace(string(b)), nil
	}
	switch {
	case o.set["token"]:
		return o.Token, nil
	case o.set["token-file"]:
		return read(o.TokenFile)
	case tokenCtx != "":
		return tokenCtx, nil
	case tokenFileCtx != "":
		return read(tokenFileCtx)
	case c.Token != "":
		return c.Token, nil
	case c.TokenFile != "":
		return read(c.TokenFile)
	}
	return "", nil
}

func (o *Options) httpClient(c *Context) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	caFile := o.pick("ca-file", o.CAFile, c.CAFile)
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, &UsageError{Err: fmt.Errorf("ca file: %w", err)}
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, usageErrorf("ca file %s: no PEM certificate in it", caFile)
		}
		tlsCfg.RootCAs = pool
	}
	if o.set["insecure-skip-verify"] {
		tlsCfg.InsecureSkipVerify = o.Insecure
	} else {
		tlsCfg.InsecureSkipVerify = c.InsecureSkipVerify
	}
	tr.TLSClientConfig = tlsCfg
	return &http.Client{Transport: tr, Timeout: o.RequestTimeout}, nil
}

// meo resolves the MEO of the context.
func (o *Options) meo() (*target, error) {
	c, err := o.loadContext()
	if err != nil {
		return nil, err
	}
	return o.newTarget("MEO", "meo", o.MEO, c.MEO, c, "", "")
}

// site resolves a site's MEP (upgw false) or UPGW (upgw true) through the context.
func (o *Options) site(name string, upgw bool) (*target, error) {
	c, err := o.loadContext()
	if err != nil {
		return nil, err
	}
	s, known := c.Sites[name]
	flag, flagURL, ctxURL, what := "mep", o.MEP, s.MEP, "MEP"
	if upgw {
		flag, flagURL, ctxURL, what = "upgw", o.UPGW, s.UPGW, "UPGW"
	}
	if !known && !o.set[flag] {
		known := strings.Join(c.siteNames(), ", ")
		if known == "" {
			known = "none"
		}
		return nil, usageErrorf("site %q is not in the context (sites: %s); add it with 'mecctl config set-context CONTEXT --site %s=URL' or give --%s",
			name, known, name, flag)
	}
	return o.newTarget(fmt.Sprintf("site %s %s", name, what), flag, flagURL, ctxURL, c, s.Token, s.TokenFile)
}

func (o *Options) mm1() (*mm1api.ClientWithResponses, *target, error) {
	t, err := o.meo()
	if err != nil {
		return nil, nil, err
	}
	c, err := mm1api.NewClientWithResponses(t.URL, mm1api.WithHTTPClient(t.http), mm1api.WithRequestEditorFn(t.editor))
	return c, t, err
}

func (o *Options) mm5(site string) (*mm5api.ClientWithResponses, *target, error) {
	t, err := o.site(site, false)
	if err != nil {
		return nil, nil, err
	}
	c, err := mm5api.NewClientWithResponses(t.URL+"/mepm/v1", mm5api.WithHTTPClient(t.http), mm5api.WithRequestEditorFn(t.editor))
	return c, t, err
}

func (o *Options) mp1(site string) (*mp1api.ClientWithResponses, *target, error) {
	t, err := o.site(site, false)
	if err != nil {
		return nil, nil, err
	}
	c, err := mp1api.NewClientWithResponses(t.URL, mp1api.WithHTTPClient(t.http), mp1api.WithRequestEditorFn(t.editor))
	return c, t, err
}

func (o *Options) upgw(site string) (*upgwapi.ClientWithResponses, *target, error) {
	t, err := o.site(site, true)
	if err != nil {
		return nil, nil, err
	}
	c, err := upgwapi.NewClientWithResponses(t.URL+"/upgw/v1", upgwapi.WithHTTPClient(t.http), upgwapi.WithRequestEditorFn(t.editor))
	return c, t, err
}

// check checks the outcome of one generated client call (r is its *XxxResponse): a transport
// error becomes a *ConnError, an answer outside 2xx an *APIError.
func (t *target) check(op string, r any, err error) error {
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return err
		}
		return transportError(op, t.Name+" at "+t.URL, err)
	}
	v := reflect.ValueOf(r).Elem()
	body := v.FieldByName("Body").Bytes()
	res, _ := v.FieldByName("HTTPResponse").Interface().(*http.Response)
	return checkResponse(op, res, body)
}
