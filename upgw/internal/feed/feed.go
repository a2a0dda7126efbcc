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
	// MinBackoff and MaxBackoff bound the retry delay after a failure (default 100 ms, 1 s).
	// The cap is low so that a MEP that comes back is followed again within a second: a
	// failed poll costs the MEP next to nothing, and the retries are jittered.
	MinBackoff, MaxBackoff time.Duration
	// Client is the HTTP client (default: a client whose timeout is Timeout plus 15 s).
	// Whatever the client, each poll is bounded by Timeout plus 15 s.
	Client *http.Client
	// ProbeInterval is how often, while a long poll waits, the MEP's /readyz is asked
	// whether the MEP still answers (default 2 s); ProbeTimeout bounds one probe (default
	// 1 s). A MEP that stops answering (frozen, or cut off without a reset) is so seen within
	// about their sum instead of at the end of the long poll: the feed stops counting as
	// connected and the poll is abandoned and retried.
	ProbeInterval, ProbeTimeout time.Duration
	// Apply installs a snapshot. An error keeps the version unapplied; it is retried.
	Apply  func(context.Context, rules.Snapshot) error
	Logger *slog.Logger

	mu         sync.Mutex
	status     Status
	ok         bool               // the last poll succeeded
	inFlight   time.Time          // start of the poll in flight (zero: none)
	liveFor    time.Duration      // how long a poll may be in flight on a live feed
	cancelPoll context.CancelFunc // abandons the poll in flight
	probeErr   error              // the probe that abandoned the poll in flight
}

// errProbe is the error of a poll abandoned because the MEP missed a readiness probe.
var errProbe = errors.New("the mep did not answer its readiness probe while a long poll waited")

// LiveGrace is how much longer than the long-poll timeout a poll may stay unanswered while
// the feed still counts as connected: a MEP answers a long poll within the timeout.
const LiveGrace = 2 * time.Second

// Status is what the follower last saw.
type Status struct {
	// Connected is true only while the feed is live: the last poll succeeded and the poll
	// in flight, if any, is not overdue (older than the timeout plus LiveGrace) and the MEP
	// answers its readiness probes meanwhile.
	Connected   bool
	LastError   string
	LastSuccess time.Time
	Version     int64
}

// Status returns a copy of the current status.
func (f *Follower) Status() Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.status
	st.Connected = f.ok && (f.inFlight.IsZero() || time.Since(f.inFlight) <= f.liveFor)
	return st
}

func (f *Follower) startPoll(liveFor time.Duration, cancel context.CancelFunc) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inFlight, f.liveFor, f.cancelPoll, f.probeErr = time.Now(), liveFor, cancel, nil
}

func (f *Follower) setStatus(err error, version int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inFlight, f.cancelPoll = time.Time{}, nil
	if f.probeErr != nil {
		err = f.probeErr
	}
	if err != nil {
		f.ok = false
		f.status.LastError = err.Error()
		return
	}
	f.ok = true
	f.status.LastError = ""
	f.status.LastSuccess = time.Now()
	f.status.Version = version
}

// Run follows the feed from the rule set already applied (version after, rules digest
// digest; 0 and "" for none) until ctx ends. The first poll, and the first after a failure,
// asks for the MEP's current snapshot at once; the others wait for a newer version. A
// snapshot is applied when its version or its rules differ from the applied ones, so a rule
// set restored from the state file that the MEP does not serve (same version, other rules)
// is replaced at once.
func (f *Follower) Run(ctx context.Context, after int64, digest string) error {
	timeout := f.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	timeout = min(max(timeout, MinTimeout), MaxTimeout)
	minB, maxB := f.MinBackoff, f.MaxBackoff
	if minB <= 0 {
		minB = 100 * time.Millisecond
	}
	if maxB <= 0 {
		maxB = time.Second
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
	immediate := true
	go f.probe(ctx, hc)
	for ctx.Err() == nil {
		start := time.Now()
		pctx, cancel := context.WithCancel(ctx)
		f.startPoll(timeout+LiveGrace, cancel)
		snap, err := f.poll(pctx, client, after, timeout, immediate)
		cancel()
		changed := err == nil && (snap.Version != after || snap.Digest() != digest)
		if changed {
			if snap.Version < after {
				f.Logger.WarnContext(ctx, "traffic rule feed version went backwards; applying the MEP's current set",
					logkeys.Version, snap.Version, "previous_version", after)
			} else if snap.Version == after {
				f.Logger.WarnContext(ctx, "traffic rule feed serves other rules under the applied version; applying the MEP's current set",
					logkeys.Version, snap.Version)
			}
			if aerr := f.Apply(ctx, snap); aerr != nil {
				err = fmt.Errorf("apply version %d: %w", snap.Version, aerr)
			} else {
				after, digest = snap.Version, snap.Digest()
			}
		}
		if ctx.Err() != nil {
			break
		}
		f.setStatus(err, after)
		if err == nil {
			immediate = false
			backoff = minB
			if !changed {
				sleep(ctx, MinPollInterval-time.Since(start))
			}
			continue
		}
		immediate = true
		f.Logger.WarnContext(ctx, "traffic rule feed failed; keeping the last good rule set",
			logkeys.Error, err, logkeys.Version, after, "retry_in_ms", backoff.Milliseconds())
		// Equal jitter (half fixed, half random) keeps a fleet of UPGWs from hammering a
		// recovering MEP in step.
		sleep(ctx, backoff/2+rand.N(backoff/2+1))
		backoff = min(backoff*2, maxB)
	}
	return ctx.Err()
}

// probe asks the MEP's /readyz every ProbeInterval while a poll has waited that long, and
// abandons the poll when the MEP does not answer within ProbeTimeout. Any answer counts: the
// MEP process is alive and serving HTTP.
func (f *Follower) probe(ctx context.Context, hc *http.Client) {
	every, limit := f.ProbeInterval, f.ProbeTimeout
	if every <= 0 {
		every = 2 * time.Second
	}
	if limit <= 0 {
		limit = time.Second
	}
	url := strings.TrimRight(f.BaseURL, "/") + "/readyz"
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		f.mu.Lock()
		waiting := !f.inFlight.IsZero() && time.Since(f.inFlight) >= every
		f.mu.Unlock()
		if !waiting {
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, limit)
		req, err := http.NewRequestWithContext(pctx, http.MethodGet, url, nil)
		if err == nil {
			var resp *http.Response
			if resp, err = hc.Do(req); err == nil {
				_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
				resp.Body.Close()
			}
		}
		cancel()
		if err == nil || ctx.Err() != nil {
			continue
		}
		f.mu.Lock()
		if f.cancelPoll != nil {
			f.probeErr = fmt.Errorf("%w: %w", errProbe, err)
			f.ok = false
			f.cancelPoll()
		}
		f.mu.Unlock()
	}
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
func (f *Follower) poll(ctx context.Context, client *mm5api.Client, after int64, timeout time.Duration, immediate bool) (rules.Snapshot, error) {
	secs := int(timeout / time.Second)
	rctx, cancel := context.WithTimeout(ctx, timeout+pollSlack)
	defer cancel()
	params := &mm5api.TrafficRuleFeedParams{After: &after, Timeout: &secs}
	if immediate {
		params = &mm5api.TrafficRuleFeedParams{}
	}
	resp, err := client.TrafficRuleFeed(rctx, params)
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
