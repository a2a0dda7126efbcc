package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/edgemec/edgemec/mep/mm5api"
	"github.com/edgemec/edgemec/mep/mp1api"
)

// fairResult holds a victim app's notification latencies without and with an attacker app
// whose 100 callbacks answer 2xx just under the MEP's delivery timeout.
type fairResult struct {
	shared              bool
	unloaded, attacked  []time.Duration // of the notifications that arrived
	gotUnloaded, gotAtk int
}

// fairness measures one fairness attack on notification delivery. The victim
// app has one SerAvailability subscription; a producer registers o.fairN services, one
// every 100 ms, first alone (the unloaded figure), then after an attacker app subscribed 100
// callbacks that answer 204 after o.fairSlow. With shared, the victim's callback is on the
// attacker's host:port (one ingress for both). A notification that has not arrived 30 s
// after the last registration counts as undelivered.
func (c *client) fairness(ctx context.Context, o options, shared bool) (fairResult, error) {
	k := "own-host"
	if shared {
		k = "shared-host"
	}
	name := "bench-fair-" + k
	type arrival struct {
		id string
		at time.Time
	}
	arrivals := make(chan arrival, 4*o.fairN)
	release := make(chan struct{})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	defer unblock()
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/slow/") {
			select {
			case <-time.After(o.fairSlow):
			case <-release:
			}
			w.WriteHeader(http.StatusNoContent)
			return
		}
		at := time.Now()
		var n mp1api.ServiceAvailabilityNotification
		if err := json.NewDecoder(r.Body).Decode(&n); err == nil {
			for _, ref := range n.ServiceReferences {
				if ref.ChangeType == mp1api.ADDED {
					arrivals <- arrival{ref.SerInstanceId, at}
				}
			}
		}
		w.WriteHeader(http.StatusNoContent)
	})
	serve := func() (string, func(), error) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", nil, err
		}
		srv := &http.Server{Handler: handler}
		go func() { _ = srv.Serve(ln) }()
		return "http://" + ln.Addr().String(), func() { srv.Close() }, nil
	}
	atkURL, closeAtk, err := serve()
	if err != nil {
		return fairResult{}, err
	}
	defer closeAtk()
	victimURL := atkURL
	if !shared {
		u, closeV, err := serve()
		if err != nil {
			return fairResult{}, err
		}
		defer closeV()
		victimURL = u
	}

	subscribe := func(app string, urls []string) (*mp1api.ClientWithResponses, []string, error) {
		tok, err := c.provision(ctx, app, mm5api.AppInstance{AppName: app, AppProvider: "bench", AppDId: app,
			AppServiceRequired: &[]mp1api.ServiceDependency{{SerName: name, Version: "1"}}})
		if err != nil {
			return nil, nil, err
		}
		mp1, err := c.mp1(tok)
		if err != nil {
			return nil, nil, err
		}
		var ids []string
		for _, u := range urls {
			resp, err := mp1.SerAvailSubscriptionsPOSTWithResponse(ctx, app, mp1api.SerAvailabilityNotificationSubscription{
				SubscriptionType: "SerAvailabilityNotificationSubscription", CallbackReference: u,
				FilteringCriteria: &mp1api.SerAvailabilityFilteringCriteria{SerNames: &[]string{name}},
			})
			if err == nil && resp.JSON201 == nil {
				err = fmt.Errorf("subscribe: %s %s", resp.Status(), resp.Body)
			}
			if err != nil {
				return nil, nil, err
			}
			ids = append(ids, subscriptionID(resp.HTTPResponse.Header.Get("Location")))
		}
		return mp1, ids, nil
	}
	if _, _, err := subscribe("bench-victim-"+k, []string{victimURL + "/victim"}); err != nil {
		return fairResult{}, err
	}
	producer := "bench-fair-producer-" + k
	ptok, err := c.provision(ctx, producer, mm5api.AppInstance{AppName: producer, AppProvider: "bench", AppDId: producer,
		AppServiceProduced: &[]mm5api.ServiceDescriptor{{SerName: name, Version: "1"}}})
	if err != nil {
		return fairResult{}, err
	}
	mp1, err := c.mp1(ptok)
	if err != nil {
		return fairResult{}, err
	}
	measure := func() ([]time.Duration, int, error) {
		sent := map[string]time.Time{}
		for range o.fairN {
			tid := "rest-http"
			t0 := time.Now()
			resp, err := mp1.AppServicesPOSTWithResponse(ctx, producer, mp1api.ServiceInfoPost{
				SerName: name, Version: "1", State: mp1api.ServiceStateACTIVE, Serializer: mp1api.JSON, TransportId: &tid})
			if err == nil && resp.JSON201 == nil {
				err = fmt.Errorf("register: %s %s", resp.Status(), resp.Body)
			}
			if err != nil {
				return nil, 0, err
			}
			sent[*resp.JSON201.SerInstanceId] = t0
			time.Sleep(100 * time.Millisecond)
		}
		var lat []time.Duration
		timeout := time.After(30 * time.Second)
		for len(lat) < o.fairN {
			select {
			case a := <-arrivals:
				if t0, ok := sent[a.id]; ok {
					lat = append(lat, a.at.Sub(t0))
					delete(sent, a.id)
				}
			case <-timeout:
				return lat, len(lat), nil
			}
		}
		return lat, len(lat), nil
	}
	r := fairResult{shared: shared}
	if r.unloaded, r.gotUnloaded, err = measure(); err != nil {
		return r, err
	}
	attacker := "bench-attacker-" + k
	urls := make([]string, 100)
	for i := range urls {
		urls[i] = fmt.Sprintf("%s/slow/%d", atkURL, i)
	}
	amp1, subs, err := subscribe(attacker, urls)
	if err != nil {
		return r, err
	}
	if r.attacked, r.gotAtk, err = measure(); err != nil {
		return r, err
	}
	// Leave no backlog to the next figure: the attacker's queued notifications are dropped
	// once its subscriptions are gone, and the ones in flight answer now.
	for _, id := range subs {
		resp, err := amp1.SerAvailSubscriptionDELETE(ctx, attacker, id)
		if err != nil {
			return r, err
		}
		resp.Body.Close()
	}
	unblock()
	time.Sleep(o.fairSlow + time.Second)
	return r, nil
}

func subscriptionID(loc string) string { return loc[strings.LastIndexByte(loc, '/')+1:] }

func (r fairResult) rows(o options) []row {
	where := "victim on its own host"
	if r.shared {
		where = "victim on the attacker's host:port"
	}
	base := pct(r.unloaded, 99)
	// Undelivered notifications count as the 30 s deadline.
	atk := r.attacked
	for len(atk) < o.fairN {
		atk = append(atk, 30*time.Second)
	}
	p99 := pct(atk, 99)
	return []row{
		{"victim notification p50 / p99, unloaded (" + where + ")", fmtDur(pct(r.unloaded, 50)) + " / " + fmtDur(base), "",
			fmt.Sprintf("%d/%d delivered", r.gotUnloaded, o.fairN)},
		{fmt.Sprintf("… with 100 callbacks of another app answering 2xx after %v", o.fairSlow), fmtDur(pct(atk, 50)) + " / " + fmtDur(p99),
			"p99 < unloaded + 300 ms", verdict(p99 < base+300*time.Millisecond) + fmt.Sprintf("; %d/%d delivered within 30 s", r.gotAtk, o.fairN)},
	}
}

// fairRows runs both fairness attacks when o.fair is set.
func (c *client) fairRows(ctx context.Context, o options) ([]row, error) {
	if !o.fair {
		return nil, nil
	}
	var rows []row
	for _, shared := range []bool{false, true} {
		r, err := c.fairness(ctx, o, shared)
		if err != nil {
			return nil, fmt.Errorf("fairness figure: %w", err)
		}
		rows = append(rows, r.rows(o)...)
	}
	return rows, nil
}
