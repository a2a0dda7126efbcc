// Package feed follows the MEP's versioned traffic-rule feed (Mm5 TrafficRuleFeed,
// GET {mep}/mepm/v1/feeds/traffic_rules?after=V&timeout=T, a long poll) through the generated
// Mm5 client and hands every new snapshot to an applier. While the MEP is unreachable it
// keeps retrying with backoff and applies nothing, so the data plane keeps enforcing the last
// good rule set.
package feed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/edgemec/edgemec/internal/obs/logkeys"
	"github.com/edgemec/edgemec/mep/mm5api"
	"github.com/edgemec/edgemec/upgw/internal/rules"
)

// BasePath is the Mm5 base path under the MEP base URL.
const BasePath = "/mepm/v1"

// Path is the feed path under the MEP base URL.
const Path = BasePath + "/feeds/traffic_rules"

// MinTimeout and MaxTimeout bound the long-poll timeout. The MEP takes whole seconds, so a
// shorter timeout would be sent as timeout=0 and answered at once.
const (
	MinTimeout = time.Second
	MaxTimeout = 60 * time.Second
)

// MinPollInterval is the least time between the starts of two polls when the first brought
// no new version. A MEP holds such a poll for the whole timeout (at least 1 s), so this only
// paces a MEP or proxy that answers at once, which would otherwise be polled in a tight loop.
const MinPollInterval = time.Second

// pollSlack is how much longer than the long-poll timeout one poll may take in all.
const pollSlack = 15 * time.Second

// maxBody bounds a snapshot body (a site has at most a few thousand rules).
const maxBody = 16 << 20

// Follower polls the feed. Zero durations take the documented defaults.
type Follower struct {
	// BaseURL is the MEP base URL (scheme://host:port), without /mepm/v1.
	BaseURL string
	// Token is the operator bearer token.
	Token string
	// Timeout is the long-poll timeout sent to the MEP (default 30 s, at least 1 s, at most
	// 60 s; whole seconds are sent).
	Timeout time.Duration
	// MinBackoff and MaxBackoff bound the retry delay after a failure (default 500 ms, 30 s).
	MinBackoff, MaxBackoff time.Duration
	// Client is the HTTP client (default: a client whose timeout is Timeout plus 15 s).
	// Whatever the client, each poll is bounded by Timeout plus 15 s.
	Client *http.Client
	// Apply installs a snapshot. An error keeps the version unapplied; it is retried.
	Apply  func(context.Context, rules.Snapshot) error
	Logger *slog.Logger

	mu     sync.Mutex
	status Status
}

// Status is what the follower last saw.
type Status struct {
	Connected   bool
	LastError   string
	LastSuccess time.Time
	Version     int64
}

// Status returns a copy of the current status.
func (f *Follower) Status() Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.status
}

func (f *Follower) setStatus(err error, version int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err != nil {
		f.status.Connected = false
		f.status.LastError = err.Error()
		return
	}
	f.status.Connected = true
	f.status.LastError = ""
	f.status.LastSuccess = time.Now()
	f.status.Version = version
}

// Run follows the feed from version after (the version already applied, 0 for none) until
// ctx ends.
func (f *Follower) Run(ctx context.Context, after int64) error {
	timeout := f.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	timeout = min(max(timeout, MinTimeout), MaxTimeout)
	minB, maxB := f.MinBackoff, f.MaxBackoff
	if minB <= 0 {
		minB = 500 * time.Millisecond
	}
	if maxB <= 0 {
		maxB = 30 * time.Second
	}
	hc := f.Client
	if hc == nil {
		hc = &http.Client{Timeout: timeout + pollSlack}
	}
	client, err := mm5api.NewClient(strings.TrimRight(f.BaseURL, "/")+BasePath, mm5api.WithHTTPClient(hc),
		mm5api.WithRequestEditorFn(f.headers))
	if err != nil {
		return fmt.Errorf("mm5 client: %w", err)
	}
	backoff := minB
	for ctx.Err() == nil {
		start := time.Now()
		snap, err := f.poll(ctx, client, after, timeout)
		changed := err == nil && snap.Version != after
		if changed {
			if snap.Version < after {
				f.Logger.WarnContext(ctx, "traffic rule feed version went backwards; applying the MEP's current set",
					logkeys.Version, snap.Version, "previous_version", after)
			}
			if aerr := f.Apply(ctx, snap); aerr != nil {
				err = fmt.Errorf("apply version %d: %w", snap.Version, aerr)
			} else {
				after = snap.Version
			}
		}
		if ctx.Err() != nil {
			break
		}
		f.setStatus(err, after)
		if err == nil {
			backoff = minB
			if !changed {
				sleep(ctx, MinPollInterval-time.Since(start))
			}
			continue
		}
		f.Logger.WarnContext(ctx, "traffic rule feed failed; keeping the last good rule set",
			logkeys.Error, err, logkeys.Version, after, "retry_in_ms", backoff.Milliseconds())
		// Equal jitter (half fixed, half random) keeps a fleet of UPGWs from hammering a
		// recovering MEP in step.
		sleep(ctx, backoff/2+rand.N(backoff/2+1))
		backoff = min(backoff*2, maxB)
	}
	return ctx.Err()
}

// sleep waits for d (nothing if d <= 0) or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// ProblemError is a non-200 answer from the MEP.
type ProblemError struct {
	Status int
	Detail string
}

func (e *ProblemError) Error() string {
	return fmt.Sprintf("mep answered %d: %s", e.Status, e.Detail)
}

// headers adds the operator bearer token to a request and asks for JSON.
func (f *Follower) headers(_ context.Context, req *http.Request) error {
	req.Header.Set("Authorization", "Bearer "+f.Token)
	req.Header.Set("Accept", "application/json")
	return nil
}

// poll makes one TrafficRuleFeed request. The answer is read by the follower, not by the
// generated ClientWithResponses: the body is bounded, and the rules are decoded as
// rules.AppRule does, which also takes the V2.1.1 single-object dstInterface that
// mm5api.TrafficRuleSnapshot cannot hold.
func (f *Follower) poll(ctx context.Context, client *mm5api.Client, after int64, timeout time.Duration) (rules.Snapshot, error) {
	secs := int(timeout / time.Second)
	rctx, cancel := context.WithTimeout(ctx, timeout+pollSlack)
	defer cancel()
	resp, err := client.TrafficRuleFeed(rctx, &mm5api.TrafficRuleFeedParams{After: &after, Timeout: &secs})
	if err != nil {
		return rules.Snapshot{}, fmt.Errorf("get traffic rule feed: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return rules.Snapshot{}, fmt.Errorf("read traffic rule feed: %w", err)
	}
	if len(body) > maxBody {
		return rules.Snapshot{}, errors.New("traffic rule feed body exceeds 16 MiB")
	}
	if resp.StatusCode != http.StatusOK {
		var pd mm5api.Problem
		_ = json.Unmarshal(body, &pd)
		detail := http.StatusText(resp.StatusCode)
		if pd.Detail != nil && *pd.Detail != "" {
			detail = *pd.Detail
		}
		return rules.Snapshot{}, &ProblemError{Status: resp.StatusCode, Detail: detail}
	}
	var s rules.Snapshot
	if err := json.Unmarshal(body, &s); err != nil {
		return rules.Snapshot{}, fmt.Errorf("decode traffic rule feed: %w", err)
	}
	return s, nil
}
