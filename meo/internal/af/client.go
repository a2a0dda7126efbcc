package af

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"

	"github.com/free5gc/openapi"
	"github.com/free5gc/openapi/models"
	ti "github.com/free5gc/openapi/nef/TrafficInfluence"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// Client talks Nnef_TrafficInfluence to one site's NEF through free5gc's generated client.
// It is safe for concurrent use.
type Client struct {
	site   SiteConfig
	notify NotifyURLs
	http   *http.Client
	api    *ti.APIClient

	// tokenMu guards tokens, the cached OAuth 2.0 token source (nil with a static token).
	tokenMu sync.Mutex
	tokens  oauth2.TokenSource
}

// NewClient returns a Client for the site. notify builds the notification URLs the
// subscriptions carry. transport carries the requests (nil: a clone of
// http.DefaultTransport); wrap it for tracing.
func NewClient(site SiteConfig, notify NotifyURLs, transport http.RoundTripper) (*Client, error) {
	if err := site.Validate(); err != nil {
		return nil, err
	}
	if transport == nil {
		transport = http.DefaultTransport.(*http.Transport).Clone()
	}
	timeout := site.NEF.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	hc := &http.Client{Timeout: timeout, Transport: problemTransport{next: transport}}
	cfg := ti.NewConfiguration()
	cfg.SetBasePath(strings.TrimSuffix(site.NEF.APIRoot, "/"))
	cfg.SetHTTPClient(hc)
	cfg.SetUserAgent("edgemec-meo")
	c := &Client{site: site, notify: notify, http: hc, api: ti.NewAPIClient(cfg)}
	c.resetToken()
	return c, nil
}

// Site returns the site the client serves.
func (c *Client) Site() SiteConfig { return c.site }

// resetToken drops the cached OAuth 2.0 token so that the next request fetches a new one.
func (c *Client) resetToken() {
	o := c.site.NEF.OAuth2
	if o == nil {
		return
	}
	cc := &clientcredentials.Config{ClientID: o.ClientID, ClientSecret: o.ClientSecret, TokenURL: o.TokenURL, Scopes: o.Scopes}
	// The token source keeps this context for its fetches; it carries only the HTTP client
	// (the oauth2 package's way of choosing one), never a deadline.
	tctx := context.WithValue(context.Background(), oauth2.HTTPClient, c.http)
	c.tokenMu.Lock()
	c.tokens = cc.TokenSource(tctx)
	c.tokenMu.Unlock()
}

// authContext puts the AF's credentials where free5gc's client takes them.
func (c *Client) authContext(ctx context.Context) context.Context {
	if c.site.NEF.OAuth2 != nil {
		c.tokenMu.Lock()
		ts := c.tokens
		c.tokenMu.Unlock()
		return context.WithValue(ctx, openapi.ContextOAuth2, ts)
	}
	return context.WithValue(ctx, openapi.ContextAccessToken, c.site.NEF.Token)
}

// Created is a subscription the NEF accepted.
type Created struct {
	// ID is the NEF's subscription id, Location the resource's URI.
	ID, Location string
	// Sub is the subscription as the NEF returned it.
	Sub models.NefTrafficInfluSub
}

// Create posts a subscription and returns the NEF's id for it (the last segment of
// Location).
func (c *Client) Create(ctx context.Context, sub models.NefTrafficInfluSub) (Created, error) {
	req := &ti.CreateNewSubscriptionRequest{}
	req.SetAfId(c.site.NEF.AFID)
	req.SetNefTrafficInfluSub(sub)
	resp, err := c.api.TrafficInfluenceSubscriptionApi.CreateNewSubscription(c.authContext(ctx), req)
	if err != nil {
		return Created{}, c.classify(ctx, "create", err)
	}
	id, err := subscriptionID(resp.Location)
	if err != nil {
		return Created{}, &NEFError{Op: "create", Status: http.StatusCreated, Err: err}
	}
	return Created{ID: id, Location: resp.Location, Sub: resp.NefTrafficInfluSub}, nil
}

// Get reads a subscription.
func (c *Client) Get(ctx context.Context, id string) (models.NefTrafficInfluSub, error) {
	req := &ti.ReadAnSubscriptionRequest{}
	req.SetAfId(c.site.NEF.AFID)
	req.SetSubscriptionId(id)
	resp, err := c.api.IndividualTrafficInfluenceSubscriptionApi.ReadAnSubscription(c.authContext(ctx), req)
	if err != nil {
		return models.NefTrafficInfluSub{}, c.classify(ctx, "get", err)
	}
	return resp.NefTrafficInfluSub, nil
}

// Patch modifies a subscription by JSON merge patch and returns it as the NEF holds it now.
func (c *Client) Patch(ctx context.Context, id string, p models.NefTrafficInfluSubPatch) (models.NefTrafficInfluSub, error) {
	req := &ti.PartialUpdateAnSubscriptionRequest{}
	req.SetAfId(c.site.NEF.AFID)
	req.SetSubscriptionId(id)
	req.SetNefTrafficInfluSubPatch(p)
	resp, err := c.api.IndividualTrafficInfluenceSubscriptionApi.PartialUpdateAnSubscription(c.authContext(ctx), req)
	if err != nil {
		return models.NefTrafficInfluSub{}, c.classify(ctx, "update", err)
	}
	return resp.NefTrafficInfluSub, nil
}

// Delete deletes a subscription. A subscription the NEF does not know counts as deleted, so
// that a repeated delete (after a crash, a lost answer) succeeds.
func (c *Client) Delete(ctx context.Context, id string) error {
	req := &ti.DeleteAnSubscriptionRequest{}
	req.SetAfId(c.site.NEF.AFID)
	req.SetSubscriptionId(id)
	_, err := c.api.IndividualTrafficInfluenceSubscriptionApi.DeleteAnSubscription(c.authContext(ctx), req)
	if err != nil {
		err = c.classify(ctx, "delete", err)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		return err
	}
	return nil
}

// classify turns what free5gc's client returned into a *NEFError, or the caller's context
// error when the caller gave up.
func (c *Client) classify(ctx context.Context, op string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("nef %s: %w", op, ctx.Err())
	}
	var apiErr openapi.GenericOpenAPIError
	if errors.As(err, &apiErr) {
		e := &NEFError{Op: op, Status: apiErr.ErrorStatus, Retryable: retryableStatus(apiErr.ErrorStatus)}
		var pd models.ProblemDetails
		if json.Unmarshal(apiErr.RawBody, &pd) == nil && (pd.Detail != "" || pd.Title != "" || pd.Cause != "") {
			e.Problem = &pd
		}
		if e.Status == http.StatusUnauthorized && c.site.NEF.OAuth2 != nil {
			// The NEF no longer takes the cached token (revoked, keys rotated): fetch a new
			// one on the next attempt.
			c.resetToken() //nolint:contextcheck // dropping a cached token needs no context
			e.Retryable = true
		}
		return e
	}
	var rerr *oauth2.RetrieveError
	if errors.As(err, &rerr) {
		e := &NEFError{Op: op, Token: true, Err: err}
		if rerr.Response != nil {
			e.Status = rerr.Response.StatusCode
		}
		e.Retryable = e.Status == 0 || retryableStatus(e.Status)
		return e
	}
	var uerr *url.Error
	if errors.As(err, &uerr) {
		// No answer: refused, reset, timed out, DNS. The token fetch fails this way too.
		return &NEFError{Op: op, Token: c.isTokenURL(uerr.URL), Retryable: true, Err: err}
	}
	// An answer that does not follow the API (an undecodable body, a 201 without Location).
	return &NEFError{Op: op, Retryable: false, Err: err}
}

func (c *Client) isTokenURL(u string) bool {
	return c.site.NEF.OAuth2 != nil && strings.HasPrefix(u, c.site.NEF.OAuth2.TokenURL)
}

// subscriptionID takes the subscription id from a Location.
func subscriptionID(loc string) (string, error) {
	u, err := url.Parse(loc)
	if err != nil || loc == "" {
		return "", fmt.Errorf("location %q is not a subscription URI", loc)
	}
	dir, id := path.Split(strings.TrimSuffix(u.Path, "/"))
	if id == "" || !strings.HasSuffix(dir, "/subscriptions/") {
		return "", fmt.Errorf("location %q is not a subscription URI", loc)
	}
	return id, nil
}

// problemTransport makes every error answer decodable by free5gc's client. The generated
// code decodes the bodies of the statuses the API lists as ProblemDetails and fails with
// "undefined response type" when a proxy or a failing NEF answers with an empty or non-JSON
// body, which loses the status; this rewrites such bodies into a ProblemDetails carrying the
// status and the start of the text.
type problemTransport struct{ next http.RoundTripper }

// RoundTrip passes the request on and rewrites an error answer that is not JSON.
func (t problemTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil || resp.StatusCode < 400 {
		return resp, err
	}
	ct := resp.Header.Get("Content-Type")
	if openapi.KindOfMediaType(ct) == openapi.MediaKindJSON && resp.ContentLength != 0 {
		return resp, nil
	}
	text, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_ = resp.Body.Close()
	pd := models.ProblemDetails{
		Status: int32(resp.StatusCode),
		Title:  http.StatusText(resp.StatusCode),
		Detail: strings.TrimSpace(string(text)),
	}
	b, _ := json.Marshal(pd)
	resp.Body = io.NopCloser(bytes.NewReader(b))
	resp.ContentLength = int64(len(b))
	resp.Header.Set("Content-Type", "application/problem+json")
	resp.Header.Del("Content-Length")
	return resp, nil
}
