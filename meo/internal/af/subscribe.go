package af

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
	"net/url"
	"strings"
	"time"

	"github.com/free5gc/openapi/models"
	ti "github.com/free5gc/openapi/nef/TrafficInfluence"
)

// NotifyURLs makes the notification URLs of subscriptions: Base/{appInstanceId}/{token},
// where token is 32 random bytes (base64url) fresh for each subscription. The token is the
// notification's credential: the NEF sends to the URL it was given and to no other, so a
// sender that knows the token is the NEF the subscription was made at. TS 29.522 leaves the
// authentication of notifications to the deployment; a secret in the URL needs nothing from
// the NEF beyond sending where it was told (unlike a bearer token the NEF would have to be
// configured with), and only its hash is stored.
type NotifyURLs struct {
	// Base is the externally reachable URL the MEO serves NotifyHandler at, e.g.
	// "https://meo.example/af/v1/notifications".
	Base string
}

// Binding ties a notification URL to an app instance: what NotifyHandler needs to
// authenticate a notification. It holds the token's SHA-256, never the token.
type Binding struct {
	AppInstanceID string `json:"appInstanceId"`
	// TokenSHA256 is the hex SHA-256 of the URL's token.
	TokenSHA256 string `json:"tokenSha256"`
}

// New returns a fresh notification URL for the instance and its Binding.
func (n NotifyURLs) New(appInstanceID string) (string, Binding, error) {
	u, err := url.Parse(n.Base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", Binding{}, invalid("notification base %q is not an absolute http(s) URL", n.Base)
	}
	if appInstanceID == "" || strings.ContainsAny(appInstanceID, "/?#") {
		return "", Binding{}, invalid("app instance id %q cannot be a path segment", appInstanceID)
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", Binding{}, fmt.Errorf("notification token: %w", err)
	}
	tok := base64.RawURLEncoding.EncodeToString(b)
	return strings.TrimSuffix(n.Base, "/") + "/" + url.PathEscape(appInstanceID) + "/" + tok,
		Binding{AppInstanceID: appInstanceID, TokenSHA256: tokenHash(tok)}, nil
}

func tokenHash(tok string) string {
	h := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(h[:])
}

// Subscription is what the orchestrator keeps per app instance to update and delete the
// NEF's subscription and to authenticate its notifications.
type Subscription struct {
	SiteID string `json:"siteId"`
	AFID   string `json:"afId"`
	// ID is the NEF's subscription id, Location its resource URI.
	ID       string  `json:"id"`
	Location string  `json:"location"`
	Binding  Binding `json:"binding"`
}

// Subscribe builds the instance's subscription (BuildSubscription) with a fresh
// notification URL and creates it at the NEF.
func (c *Client) Subscribe(ctx context.Context, inst Instance, target UETarget) (Subscription, error) {
	notifyURL, b, err := c.notify.New(inst.AppInstanceID)
	if err != nil {
		return Subscription{}, err
	}
	sub, err := BuildSubscription(c.site, inst, target, notifyURL)
	if err != nil {
		return Subscription{}, err
	}
	created, err := c.Create(ctx, sub)
	if err != nil {
		return Subscription{}, err
	}
	return Subscription{SiteID: c.site.SiteID, AFID: c.site.NEF.AFID, ID: created.ID, Location: created.Location, Binding: b}, nil
}

// Update patches the subscription after the instance's rules or address changed
// (BuildPatch). ErrNotFound means the NEF lost it: subscribe again.
func (c *Client) Update(ctx context.Context, sub Subscription, inst Instance) error {
	p, err := BuildPatch(c.site, inst)
	if err != nil {
		return err
	}
	_, err = c.Patch(ctx, sub.ID, p)
	return err
}

// Unsubscribe deletes the subscription; one already gone counts as deleted.
func (c *Client) Unsubscribe(ctx context.Context, sub Subscription) error {
	return c.Delete(ctx, sub.ID)
}

// List returns the AF's subscriptions at the NEF.
func (c *Client) List(ctx context.Context) ([]models.NefTrafficInfluSub, error) {
	req := &ti.ReadAllSubscriptionsRequest{}
	req.SetAfId(c.site.NEF.AFID)
	resp, err := c.api.TrafficInfluenceSubscriptionApi.ReadAllSubscriptions(c.authContext(ctx), req)
	if err != nil {
		return nil, c.classify(ctx, "list", err)
	}
	return resp.NefTrafficInfluSub, nil
}

// Sweep deletes the AF's subscriptions at the NEF that keep does not claim, given each
// one as the NEF holds it and its subscription id, and returns the ids it deleted. A
// Create whose answer was lost (or whose outcome was never recorded) leaves a subscription
// the orchestrator does not know; Sweep removes it. A subscription whose Self is not a
// subscription URI is left alone.
func (c *Client) Sweep(ctx context.Context, keep func(sub models.NefTrafficInfluSub, id string) bool) ([]string, error) {
	list, err := c.List(ctx)
	if err != nil {
		return nil, err
	}
	var deleted []string
	for _, s := range list {
		id, err := subscriptionID(s.Self)
		if err != nil || keep(s, id) {
			continue
		}
		if err := c.Delete(ctx, id); err != nil {
			return deleted, err
		}
		deleted = append(deleted, id)
	}
	return deleted, nil
}

// Backoff spaces the attempts of Retry: the first retry waits about Initial, each next one
// twice as long up to Max, with jitter (each wait is drawn from [d/2, d)).
type Backoff struct {
	Initial, Max time.Duration
	// Attempts bounds the calls, the first included.
	Attempts int
}

// DefaultBackoff tries 6 times over about 15 s.
var DefaultBackoff = Backoff{Initial: 500 * time.Millisecond, Max: 8 * time.Second, Attempts: 6}

// Retry calls fn until it succeeds, fails with an error that is not retryable
// (IsRetryable), the attempts run out or ctx ends. It returns fn's last error.
func Retry(ctx context.Context, b Backoff, fn func(context.Context) error) error {
	if b.Attempts < 1 {
		b.Attempts = 1
	}
	d := b.Initial
	for attempt := 1; ; attempt++ {
		err := fn(ctx)
		if err == nil || !IsRetryable(err) || attempt >= b.Attempts {
			return err
		}
		wait := d / 2
		if d > 1 {
			wait += mrand.N(d - d/2)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (gave up: %w)", err, ctx.Err())
		case <-t.C:
		}
		d = min(2*d, b.Max)
	}
}
