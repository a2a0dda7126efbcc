// Command mecapp is a sample MEC application: what an app vendor's container does on an edge
// site. It reads the Mp1 access the VIM adapter injects (MEC_MEP_ENDPOINT, MEC_APP_INSTANCE_ID,
// MEC_CLIENT_ID, MEC_CLIENT_SECRET), then, against its MEP:
//
//  1. gets an OAuth 2.0 token (client credentials), retrying until the MEP answers;
//  2. confirms it is ready (POST confirm_ready; 409 means it already did, e.g. after a restart);
//  3. subscribes to AppTerminationNotification with a callback on its own address;
//  4. registers its service (MEC_SERVICE_NAME, default "mec-sample") with its own URL, replacing
//     a registration left by an earlier run of the instance.
//
// It serves GET / (a greeting), GET /readyz (200 once registered: a Kubernetes readiness probe
// then says "registered with the MEP"), GET /status (what it did, as JSON) and the termination
// callback, which it answers by POSTing confirm_termination. On SIGTERM it deregisters its
// service and exits 0.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"
)

type app struct {
	mep, id, clientID, secret, serName, self string
	http                                     *http.Client
	log                                      *slog.Logger

	mu     sync.Mutex
	token  string
	status Status
}

// Status is what GET /status returns.
type Status struct {
	AppInstanceID        string   `json:"appInstanceId"`
	Hostname             string   `json:"hostname"`
	URL                  string   `json:"url"`
	ReadyConfirmed       bool     `json:"readyConfirmed"`
	ServiceID            string   `json:"serviceId,omitempty"`
	SubscriptionID       string   `json:"subscriptionId,omitempty"`
	TerminationNotified  bool     `json:"terminationNotified"`
	TerminationConfirmed bool     `json:"terminationConfirmed"`
	Errors               []string `json:"errors,omitempty"`
}

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	if err := run(log); err != nil {
		log.Error("mecapp failed", "error", err)
		os.Exit(1)
	}
}

func run(log *slog.Logger) error {
	listen := env("LISTEN", ":8080")
	a := &app{
		mep: strings.TrimRight(os.Getenv("MEC_MEP_ENDPOINT"), "/"), id: os.Getenv("MEC_APP_INSTANCE_ID"),
		clientID: os.Getenv("MEC_CLIENT_ID"), secret: os.Getenv("MEC_CLIENT_SECRET"),
		serName: env("MEC_SERVICE_NAME", "mec-sample"),
		http:    &http.Client{Timeout: 5 * time.Second}, log: log,
	}
	var missing []string
	for k, v := range map[string]string{"MEC_MEP_ENDPOINT": a.mep, "MEC_APP_INSTANCE_ID": a.id, "MEC_CLIENT_ID": a.clientID, "MEC_CLIENT_SECRET": a.secret} {
		if v == "" {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing environment: %s", strings.Join(missing, ", "))
	}
	ip, err := ownIP()
	if err != nil {
		return err
	}
	_, port, err := net.SplitHostPort(listen)
	if err != nil {
		return fmt.Errorf("LISTEN %q: %w", listen, err)
	}
	a.self = "http://" + net.JoinHostPort(ip, port)
	host, _ := os.Hostname()
	a.status = Status{AppInstanceID: a.id, Hostname: host, URL: a.self}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	srv := &http.Server{Addr: listen, Handler: a.routes(), ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	go a.attach(ctx)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// Stopping: deregister first, so discovery stops handing out this address, then drain.
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	a.deregister(sctx)
	return srv.Shutdown(sctx)
}

// attach runs the start-up sequence against the MEP, retrying each step until it succeeds or
// ctx ends.
func (a *app) attach(ctx context.Context) {
	steps := []struct {
		name string
		fn   func(context.Context) error
	}{{"token", a.getToken}, {"confirm_ready", a.confirmReady}, {"subscribe", a.subscribe}, {"register", a.register}}
	for _, s := range steps {
		for delay := 200 * time.Millisecond; ; delay = min(2*delay, 5*time.Second) {
			err := s.fn(ctx)
			if err == nil {
				a.log.Info("mp1 step done", "step", s.name)
				break
			}
			a.note(fmt.Sprintf("%s: %v", s.name, err))
			select {
			case <-ctx.Done():
				return
			case <-time.After(delay):
			}
		}
	}
}

func (a *app) getToken(ctx context.Context) error {
	form := url.Values{"grant_type": {"client_credentials"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.mep+"/oauth2/token", strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.SetBasicAuth(a.clientID, a.secret)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := a.do(req, http.StatusOK, &tok); err != nil {
		return err
	}
	a.mu.Lock()
	a.token = tok.AccessToken
	a.mu.Unlock()
	return nil
}

func (a *app) confirmReady(ctx context.Context) error {
	err := a.call(ctx, http.MethodPost, "/mec_app_support/v1/applications/"+a.id+"/confirm_ready",
		map[string]string{"indication": "READY"}, http.StatusNoContent, nil)
	var se *statusError
	if errors.As(err, &se) && se.code == http.StatusConflict {
		err = nil // already confirmed by an earlier run of this instance
	}
	if err == nil {
		a.update(func(s *Status) { s.ReadyConfirmed = true })
	}
	return err
}

func (a *app) subscribe(ctx context.Context) error {
	var sub struct {
		Links struct {
			Self struct{ Href string } `json:"self"`
		} `json:"_links"`
	}
	err := a.call(ctx, http.MethodPost, "/mec_app_support/v1/applications/"+a.id+"/subscriptions", map[string]string{
		"subscriptionType": "AppTerminationNotificationSubscription", "appInstanceId": a.id,
		"callbackReference": a.self + "/notifications/termination",
	}, http.StatusCreated, &sub)
	if err == nil {
		a.update(func(s *Status) { s.SubscriptionID = lastSegment(sub.Links.Self.Href) })
	}
	return err
}

type serviceInfo struct {
	SerInstanceID string `json:"serInstanceId,omitempty"`
	SerName       string `json:"serName"`
}

func (a *app) register(ctx context.Context) error {
	base := "/mec_service_mgmt/v1/applications/" + a.id + "/services"
	var existing []serviceInfo
	if err := a.call(ctx, http.MethodGet, base, nil, http.StatusOK, &existing); err != nil {
		return err
	}
	for _, s := range existing {
		if s.SerName == a.serName { // left by an earlier run, probably with another address
			if err := a.call(ctx, http.MethodDelete, base+"/"+s.SerInstanceID, nil, http.StatusNoContent, nil); err != nil {
				return err
			}
		}
	}
	var created serviceInfo
	err := a.call(ctx, http.MethodPost, base, map[string]any{
		"serName": a.serName, "version": "1.0", "state": "ACTIVE", "serializer": "JSON",
		"transportInfo": map[string]any{
			"id": "rest-" + a.id, "name": "REST", "type": "REST_HTTP", "protocol": "HTTP", "version": "1.1",
			"endpoint": map[string]any{"uris": []string{a.self}},
		},
	}, http.StatusCreated, &created)
	if err == nil {
		a.update(func(s *Status) { s.ServiceID = created.SerInstanceID })
	}
	return err
}

func (a *app) deregister(ctx context.Context) {
	a.mu.Lock()
	id := a.status.ServiceID
	a.mu.Unlock()
	if id == "" {
		return
	}
	err := a.call(ctx, http.MethodDelete, "/mec_service_mgmt/v1/applications/"+a.id+"/services/"+id, nil, http.StatusNoContent, nil)
	if err != nil {
		a.log.Warn("deregister", "error", err)
	}
}

func (a *app) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "hello from %s (app instance %s)\n", a.status.Hostname, a.id)
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		a.mu.Lock()
		ok := a.status.ServiceID != ""
		a.mu.Unlock()
		if !ok {
			http.Error(w, "not registered with the MEP yet", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) {
		a.mu.Lock()
		b, _ := json.Marshal(a.status)
		a.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Write(b) //nolint:errcheck
	})
	mux.HandleFunc("POST /notifications/termination", func(w http.ResponseWriter, r *http.Request) {
		var n struct {
			NotificationType string `json:"notificationType"`
			OperationAction  string `json:"operationAction"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&n); err != nil || n.NotificationType != "AppTerminationNotification" {
			http.Error(w, "not an AppTerminationNotification", http.StatusBadRequest)
			return
		}
		a.update(func(s *Status) { s.TerminationNotified = true })
		w.WriteHeader(http.StatusNoContent)
		// Confirm after answering: the MEP may deliver on the same connection it waits on.
		go func() { //nolint:contextcheck // the confirmation outlives the request that announced the termination
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := a.call(ctx, http.MethodPost, "/mec_app_support/v1/applications/"+a.id+"/confirm_termination",
				map[string]string{"operationAction": n.OperationAction}, http.StatusNoContent, nil)
			if err != nil {
				a.note("confirm_termination: " + err.Error())
				return
			}
			a.update(func(s *Status) { s.TerminationConfirmed = true })
		}()
	})
	return mux
}

// call sends an authenticated JSON request to the MEP and decodes the answer into out.
func (a *app) call(ctx context.Context, method, path string, body any, want int, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.mep+path, rd)
	if err != nil {
		return err
	}
	a.mu.Lock()
	req.Header.Set("Authorization", "Bearer "+a.token)
	a.mu.Unlock()
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return a.do(req, want, out)
}

type statusError struct {
	code int
	body string
}

func (e *statusError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.code, e.body) }

func (a *app) do(req *http.Request, want int, out any) error {
	resp, err := a.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != want {
		return &statusError{resp.StatusCode, strings.TrimSpace(string(b))}
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

func (a *app) update(f func(*Status)) {
	a.mu.Lock()
	f(&a.status)
	a.mu.Unlock()
}

// note keeps the last few errors for /status and logs them.
func (a *app) note(msg string) {
	a.log.Warn("mp1 step failed", "error", msg)
	a.update(func(s *Status) {
		s.Errors = append(s.Errors, msg)
		if len(s.Errors) > 10 {
			s.Errors = s.Errors[len(s.Errors)-10:]
		}
	})
}

// ownIP is POD_IP when set (downward API), else the first global unicast address.
func ownIP() (string, error) {
	if ip := os.Getenv("POD_IP"); ip != "" {
		return ip, nil
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return "", err
	}
	for _, ad := range addrs {
		if n, ok := ad.(*net.IPNet); ok && n.IP.IsGlobalUnicast() {
			return n.IP.String(), nil
		}
	}
	return "", errors.New("no global unicast address; set POD_IP")
}

func lastSegment(s string) string { return s[strings.LastIndex(s, "/")+1:] }

func env(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
