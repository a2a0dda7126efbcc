package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/edgemec/edgemec/test/nef"
)

// site-1's 5G data: the DNAI its traffic leaves the 5G core at, the data network and slice,
// the AF id the MEO has at site-1's NEF, and the DNAI a UE leaves from before it is steered.
const (
	site1DNAI   = "dnai-munich-1"
	centralDNAI = "dnai-central"
	nefAFID     = "edgemec-meo"
)

// SteeringResult is what the 5G step saw: the MEO's traffic influence subscription for the
// first instance at site-1's NEF, and a UP path change the NEF reported.
type SteeringResult struct {
	// State and SubscriptionID are the instance's trafficSteering as the MEO shows it.
	State, SubscriptionID string
	// NEFRoute is the DNAI of the subscription the NEF holds; NEFFlows its flow descriptions.
	NEFRoute string
	NEFFlows []string
	// Wide is the STEERING column of `mecctl app get -o wide` after the UP path change.
	Wide string
	// PathChange is the UP path change recorded on the instance: "UE from → to".
	PathChange string
	// AfterTerminate is true when the NEF held no subscription after terminate.
	AfterTerminate bool
}

// fiveGYAML is site-1's "fiveG" data for mecctl site add: its DNAI, DNN and slice, and its
// NEF with the MEO's OAuth 2.0 client credentials.
func (d *driver) fiveGYAML() (string, error) {
	sec, err := os.ReadFile(filepath.Join(d.env.Dir, "tokens", "nef-client.token"))
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("fiveG:\n  dnais: [%s]\n  dnn: internet\n  snssai: {sst: 1, sd: \"000001\"}\n"+
		"  nef:\n    apiRoot: %s\n    afId: %s\n    oauth2: {tokenUrl: %s/oauth2/token, clientId: %s, clientSecret: %s}\n",
		site1DNAI, d.env.NEF, nefAFID, d.env.NEF, d.env.NEFClient, strings.TrimSpace(string(sec))), nil
}

// steeringView is the part of an app instance the 5G step reads (mecctl app get -o json).
type steeringView struct {
	TrafficSteering *struct {
		State          string `json:"state"`
		SubscriptionID string `json:"subscriptionId"`
		Dnais          []string
		Ues            []struct {
			UE   string `json:"ue"`
			DNAI string `json:"dnai"`
		} `json:"ues"`
		UpPathChanges []struct {
			SourceDnai string `json:"sourceDnai"`
			TargetDnai string `json:"targetDnai"`
			UeIpv4     string `json:"ueIpv4"`
		} `json:"upPathChanges"`
		LastError *struct {
			Detail string `json:"detail"`
		} `json:"lastError"`
	} `json:"trafficSteering"`
}

// steering shows the traffic influence subscription the MEO, as the 3GPP AF, made at site-1's
// NEF for the first instance (TS 29.522 Nnef_TrafficInfluence), checks it on the NEF, and has
// the NEF report a UP path change, which the MEO records on the instance.
func (d *driver) steering(ctx context.Context) error {
	d.title("site-1's 5G core: the MEO asked the NEF to steer the app's traffic to site-1")
	id := d.res.First.ID
	r := &SteeringResult{}
	d.res.Steering = r
	var v steeringView
	if err := until(ctx, 30*time.Second, "the instance's traffic steering to be ACTIVE", func() (bool, error) {
		err := d.ctlJSON(ctx, &v, "app", "get", id)
		if err == nil && v.TrafficSteering != nil && v.TrafficSteering.LastError != nil {
			err = fmt.Errorf("traffic steering %s: %s", v.TrafficSteering.State, v.TrafficSteering.LastError.Detail)
		}
		return v.TrafficSteering != nil && v.TrafficSteering.State == "ACTIVE", err
	}); err != nil {
		return err
	}
	r.State, r.SubscriptionID = v.TrafficSteering.State, v.TrafficSteering.SubscriptionID
	if _, err := d.ctl(ctx, "app", "get", id, "-o", "wide"); err != nil {
		return err
	}
	subs, err := d.nefSubscriptions(ctx)
	if err != nil {
		return err
	}
	for _, s := range subs {
		if s.ID != r.SubscriptionID {
			continue
		}
		if s.AfTransID != id {
			return fmt.Errorf("NEF subscription %s is for %q; want instance %s", s.ID, s.AfTransID, id)
		}
		for _, rt := range s.TrafficRoutes {
			r.NEFRoute = rt.Dnai
		}
		for _, f := range s.TrafficFilters {
			r.NEFFlows = append(r.NEFFlows, f.FlowDescriptions...)
		}
	}
	d.note("the NEF (%s) holds subscription %s of AF %s: traffic of %q routed to DNAI %s, UP path changes notified to the MEO",
		d.env.NEF, r.SubscriptionID, nefAFID, r.NEFFlows, r.NEFRoute)
	if len(subs) != 1 || r.NEFRoute != site1DNAI || len(r.NEFFlows) == 0 {
		return fmt.Errorf("the NEF holds %d subscriptions, the MEO's routed to %q; want one to %s with the app's flows", len(subs), r.NEFRoute, site1DNAI)
	}
	d.ok("traffic steering ACTIVE: the NEF routes the app's traffic (%s) to site-1's DNAI %s", r.NEFFlows[0], site1DNAI)

	// The 5G core moves a UE's traffic to the edge: the NEF notifies the MEO.
	body := fmt.Sprintf(`{"sourceDnai":%q,"targetDnai":%q,"ueIpv4":%q}`, centralDNAI, site1DNAI, ueAddr)
	u := fmt.Sprintf("%s%s/%s/subscriptions/%s/up-path-change", d.env.NEFAdmin, nef.AdminPath, nefAFID, r.SubscriptionID)
	d.note("the 5G core moves UE %s from %s to %s; the NEF notifies the MEO:", ueAddr, centralDNAI, site1DNAI)
	d.note("$ curl -X POST %s -d '%s'", u, body)
	if _, err := send(ctx, http.MethodPost, u, "", "application/json", body); err != nil {
		return fmt.Errorf("UP path change: %w", err)
	}
	if err := until(ctx, 10*time.Second, "the UP path change on the instance", func() (bool, error) {
		err := d.ctlJSON(ctx, &v, "app", "get", id)
		return v.TrafficSteering != nil && len(v.TrafficSteering.UpPathChanges) == 1, err
	}); err != nil {
		return err
	}
	c := v.TrafficSteering.UpPathChanges[0]
	r.PathChange = fmt.Sprintf("%s %s → %s", c.UeIpv4, c.SourceDnai, c.TargetDnai)
	out, err := d.ctl(ctx, "app", "get", id, "-o", "wide")
	if err != nil {
		return err
	}
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) == 2 {
		if i := strings.Index(lines[0], "STEERING"); i >= 0 && i < len(lines[1]) {
			r.Wide = strings.TrimSpace(lines[1][i:])
		}
	}
	b, _ := json.MarshalIndent(v.TrafficSteering.UpPathChanges, "     ", "  ")
	d.note("upPathChanges (mecctl app get %s -o json):\n     %s", id, b)
	if r.PathChange != fmt.Sprintf("%s %s → %s", ueAddr, centralDNAI, site1DNAI) {
		return fmt.Errorf("UP path change recorded as %q", r.PathChange)
	}
	d.ok("the MEO recorded the UP path change: UE %s", r.PathChange)
	return nil
}

// nefSub is what the flow reads of a TS 29.522 TrafficInfluSub.
type nefSub struct {
	ID             string
	AfTransID      string                  `json:"afTransId"`
	Self           string                  `json:"self"`
	TrafficRoutes  []struct{ Dnai string } `json:"trafficRoutes"`
	TrafficFilters []struct {
		FlowDescriptions []string `json:"flowDescriptions"`
	} `json:"trafficFilters"`
}

// nefSubscriptions lists the MEO's subscriptions at the NEF, with a token of the MEO's client.
func (d *driver) nefSubscriptions(ctx context.Context) ([]nefSub, error) {
	sec, err := os.ReadFile(filepath.Join(d.env.Dir, "tokens", "nef-client.token"))
	if err != nil {
		return nil, err
	}
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {d.env.NEFClient}, "client_secret": {strings.TrimSpace(string(sec))}}
	b, err := send(ctx, http.MethodPost, d.env.NEF+"/oauth2/token", "", "application/x-www-form-urlencoded", form.Encode())
	if err != nil {
		return nil, fmt.Errorf("NEF token: %w", err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(b, &tok); err != nil {
		return nil, fmt.Errorf("NEF token: %w", err)
	}
	b, err = send(ctx, http.MethodGet, d.env.NEF+nef.BasePath+"/"+nefAFID+"/subscriptions", tok.AccessToken, "", "")
	if err != nil {
		return nil, fmt.Errorf("NEF subscriptions: %w", err)
	}
	var subs []nefSub
	if err := json.Unmarshal(b, &subs); err != nil {
		return nil, fmt.Errorf("NEF subscriptions: %w", err)
	}
	for i := range subs {
		subs[i].ID = subs[i].Self[strings.LastIndex(subs[i].Self, "/")+1:]
	}
	return subs, nil
}

// send makes one HTTP request and returns the body of a 2xx answer.
func send(ctx context.Context, method, u, token, contentType, body string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var rd io.Reader
	if body != "" {
		rd = bytes.NewBufferString(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if res.StatusCode/100 != 2 {
		return nil, fmt.Errorf("%s %s: HTTP %d %s", method, u, res.StatusCode, bytes.TrimSpace(b))
	}
	return b, err
}
