//go:build integration

package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edgemec/edgemec/internal/outbox"
	"github.com/edgemec/edgemec/internal/problem"
	"github.com/edgemec/edgemec/internal/testutil"
	"github.com/edgemec/edgemec/internal/testutil/pgtest"
	"github.com/edgemec/edgemec/meo"
	"github.com/edgemec/edgemec/meo/internal/apppkg"
	"github.com/edgemec/edgemec/meo/internal/httpapi"
	"github.com/edgemec/edgemec/meo/internal/lcm"
	"github.com/edgemec/edgemec/meo/internal/notify"
	"github.com/edgemec/edgemec/meo/internal/orchestrate"
	"github.com/edgemec/edgemec/meo/internal/pkgm"
	"github.com/edgemec/edgemec/meo/internal/pkgm/pkgmtest"
	"github.com/edgemec/edgemec/meo/internal/reconcile"
	"github.com/edgemec/edgemec/meo/internal/store"
	"github.com/edgemec/edgemec/meo/internal/store/pgstore"
	"github.com/edgemec/edgemec/meo/mm1api"
	"github.com/edgemec/edgemec/vim-adapters/vim"
)

// lcmEnv serves Mm1 with app lifecycle management on a fresh database, with the outbox
// delivering notifications for real.
type lcmEnv struct {
	t      *testing.T
	srv    *httptest.Server
	st     *pgstore.Store
	pk     *pkgm.Service
	lc     *lcm.Service
	client *mm1api.ClientWithResponses
	root   string
}

func newLCMEnv(t *testing.T) *lcmEnv {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	e := &lcmEnv{t: t}
	e.srv = httptest.NewUnstartedServer(nil)
	e.root = "http://" + e.srv.Listener.Addr().String()
	var ob *outbox.Outbox[int64]
	var ns *notify.Store
	st, err := pgstore.Open(t.Context(), pgtest.New(t), pgstore.Config{Router: pkgm.Router(e.root), LCMRouter: lcm.Router(e.root),
		OnQueued: func(rows []pgstore.OutboxRow) { ob.Enqueue(ns.Deliveries(rows)...) }})
	require.NoError(t, err)
	e.st = st
	ns = notify.New(st)
	ob = outbox.New(outbox.Config{Namespace: "lcmtest", ReloadEvery: time.Second, BaseBackoff: 50 * time.Millisecond}, ns, prometheus.NewRegistry(), log)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = ob.Run(ctx) }()
	e.pk = pkgm.New(pkgm.Config{APIRoot: e.root, Reader: meo.PackageReader(apppkg.DefaultLimits()), MaxPackageBytes: 8 << 20}, st, log)
	e.lc = lcm.New(lcm.Config{Apps: meo.PackageApp, Unsubscribed: ns.Forget}, st, log)
	h, err := httpapi.New(t.Context(), httpapi.Config{Logger: log, APIRoot: e.root, OperatorToken: operator,
		ViewerTokens: []string{viewer}, PageSize: 2, Packages: e.pk, Lifecycle: e.lc})
	require.NoError(t, err)
	e.srv.Config.Handler = h
	e.srv.Start()
	e.client, err = mm1api.NewClientWithResponses(e.srv.URL, mm1api.WithRequestEditorFn(func(_ context.Context, r *http.Request) error {
		r.Header.Set("Authorization", "Bearer "+operator)
		return nil
	}))
	require.NoError(t, err)
	t.Cleanup(func() {
		e.srv.Close()
		cancel()
		<-done
		e.pk.Close()
		st.Close()
	})
	return e
}

// onboardSample onboards test/testdata/packages/mecapp and returns the package id.
func (e *lcmEnv) onboardSample() string {
	e.t.Helper()
	content := testutil.SamplePackage(e.t, "")
	p, err := e.pk.Create(e.t.Context(), pkgm.CreateInput{AppPkgName: "mecapp", AppPkgVersion: "1.0",
		Checksum: store.Checksum{Algorithm: "SHA-256", Hash: pkgmtest.SHA256(content)}})
	require.NoError(e.t, err)
	require.NoError(e.t, e.pk.Upload(e.t.Context(), p.ID, bytes.NewReader(content)))
	return p.ID
}

// callbacks records the notifications a subscriber receives.
type callbacks struct {
	mu  sync.Mutex
	got []map[string]any
}

func (c *callbacks) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var m map[string]any
	if json.Unmarshal(b, &m) == nil {
		c.mu.Lock()
		c.got = append(c.got, m)
		c.mu.Unlock()
	}
	w.WriteHeader(http.StatusNoContent)
}

// seen returns "subscriptionType/notificationType" of the notifications received for the
// subscription, in order.
func (c *callbacks) seen(subID string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, m := range c.got {
		if m["subscriptionId"] == subID {
			out = append(out, m["notificationType"].(string))
		}
	}
	return out
}

func (e *lcmEnv) subscribe(callback string, body string) string {
	e.t.Helper()
	var req mm1api.AppLcmSubscriptionRequest
	require.NoError(e.t, json.Unmarshal([]byte(strings.ReplaceAll(body, "CALLBACK", callback)), &req))
	r, err := e.client.CreateAppLcmSubscriptionWithResponse(e.t.Context(), nil, req)
	require.NoError(e.t, err)
	require.Equal(e.t, http.StatusCreated, r.StatusCode(), "body %s", r.Body)
	assert.Equal(e.t, e.root+"/app_lcm/v1/subscriptions/"+r.JSON201.Id, r.HTTPResponse.Header.Get("Location"))
	return r.JSON201.Id
}

func (e *lcmEnv) instance(id string) *mm1api.AppInstanceInfo {
	e.t.Helper()
	r, err := e.client.GetAppInstanceWithResponse(e.t.Context(), id)
	require.NoError(e.t, err)
	require.Equal(e.t, http.StatusOK, r.StatusCode(), "body %s", r.Body)
	return r.JSON200
}

func (e *lcmEnv) op(id string) *mm1api.AppInstanceLcmOpOcc {
	e.t.Helper()
	r, err := e.client.GetAppLcmOpOccWithResponse(e.t.Context(), id)
	require.NoError(e.t, err)
	require.Equal(e.t, http.StatusOK, r.StatusCode(), "body %s", r.Body)
	return r.JSON200
}

func (e *lcmEnv) usage(pkgID string) string {
	e.t.Helper()
	p, err := e.pk.Get(e.t.Context(), pkgID)
	require.NoError(e.t, err)
	return p.UsageState
}

// opID reads the op occurrence id from a 202's Location.
func (e *lcmEnv) opID(r *http.Response, body []byte) string {
	e.t.Helper()
	require.Equal(e.t, http.StatusAccepted, r.StatusCode, "body %s", body)
	loc := r.Header.Get("Location")
	require.True(e.t, strings.HasPrefix(loc, e.root+"/app_lcm/v1/app_lcm_op_occs/"), "Location %q", loc)
	return strings.TrimPrefix(loc, e.root+"/app_lcm/v1/app_lcm_op_occs/")
}

// run drives op occurrence id through the executor's side of the contract: claim, place,
// finish.
func (e *lcmEnv) run(holder, id, site string, state orchestrate.State, failure *problem.Details) orchestrate.Op {
	e.t.Helper()
	ctx := e.t.Context()
	ops, err := e.lc.Claim(ctx, holder, time.Minute, 10)
	require.NoError(e.t, err)
	require.Len(e.t, ops, 1)
	op := ops[0]
	require.Equal(e.t, id, op.ID)
	if site == "" {
		site = op.SiteID // an operate or terminate runs on its instance's site
	}
	if op.State == orchestrate.Starting {
		var decision json.RawMessage // OPERATE and TERMINATE have none
		if op.Operation == orchestrate.OpInstantiate {
			decision = json.RawMessage(`{"chosen":{"siteId":"` + site + `","siteName":"` + site + ` name"}}`)
		}
		require.NoError(e.t, e.lc.Placed(ctx, id, site, decision, vim.Resources{MilliCPU: 500, MemoryBytes: 128 << 20}))
	}
	require.NoError(e.t, e.lc.Finished(ctx, holder, id, state, failure, time.Time{}))
	return op
}

func problemStatus(t *testing.T, status int, body []byte, want int, contains string) {
	t.Helper()
	require.Equal(t, want, status, "body %s", body)
	var p map[string]any
	require.NoError(t, json.Unmarshal(body, &p))
	assert.EqualValues(t, want, p["status"])
	assert.Contains(t, p["detail"], contains)
}

func TestAppLifecycle(t *testing.T) {
	e := newLCMEnv(t)
	ctx := t.Context()
	pkgID := e.onboardSample()
	cb := &callbacks{}
	cbSrv := httptest.NewServer(cb)
	defer cbSrv.Close()
	subState := e.subscribe(cbSrv.URL, `{"subscriptionType":"AppInstanceStateChange","callbackUri":"CALLBACK"}`)
	subOps := e.subscribe(cbSrv.URL, `{"subscriptionType":"AppLcmOpOccStateChange","callbackUri":"CALLBACK",
		"appLcmOpOccSubscriptionFilter":{"operationTypes":"INSTATIATE"}}`)
	subCreated := e.subscribe(cbSrv.URL, `{"subscriptionType":"AppInstanceIdentifierCreation","callbackUri":"CALLBACK"}`)
	subDeleted := e.subscribe(cbSrv.URL, `{"subscriptionType":"AppInstanceIdentifierDeletion","callbackUri":"CALLBACK",
		"appInstanceSubscriptionFilter":{"appInstSelectorType":"APP_D_ID","appInstances":["mecapp"]}}`)

	// Create.
	name := "edge-1"
	cr, err := e.client.CreateAppInstanceWithResponse(ctx, mm1api.CreateAppInstanceRequest{AppDId: "mecapp", AppInstanceName: &name})
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, cr.StatusCode(), "body %s", cr.Body)
	inst := cr.JSON201
	id := inst.Id
	assert.Equal(t, e.root+"/app_lcm/v1/app_instances/"+id, cr.HTTPResponse.Header.Get("Location"))
	assert.Equal(t, mm1api.InstantiationState("NOT_INSTANTIATED"), inst.InstantiationState)
	assert.Equal(t, pkgID, inst.AppPkgId)
	assert.Equal(t, "mecapp", inst.AppName)
	require.NotNil(t, inst.UnderscoreLinks.Instantiate)
	assert.Nil(t, inst.UnderscoreLinks.Terminate)
	assert.Equal(t, "IN_USE", e.usage(pkgID))

	// The package cannot go while the instance exists.
	_, err = e.pk.SetOperationalState(ctx, pkgID, "DISABLED")
	require.NoError(t, err)
	require.ErrorIs(t, e.pk.Delete(ctx, pkgID), pkgm.ErrConflict)
	cr, err = e.client.CreateAppInstanceWithResponse(ctx, mm1api.CreateAppInstanceRequest{AppDId: "mecapp"})
	require.NoError(t, err)
	problemStatus(t, cr.StatusCode(), cr.Body, http.StatusConflict, "DISABLED")
	_, err = e.pk.SetOperationalState(ctx, pkgID, "ENABLED")
	require.NoError(t, err)
	cr, err = e.client.CreateAppInstanceWithResponse(ctx, mm1api.CreateAppInstanceRequest{AppDId: "nope"})
	require.NoError(t, err)
	problemStatus(t, cr.StatusCode(), cr.Body, http.StatusBadRequest, "no onboarded app package")

	// Tasks that need INSTANTIATED are refused.
	tr, err := e.client.TerminateAppInstanceWithResponse(ctx, id, mm1api.TerminateAppRequest{TerminationType: "FORCEFUL"})
	require.NoError(t, err)
	problemStatus(t, tr.StatusCode(), tr.Body, http.StatusConflict, "NOT_INSTANTIATED")

	// Instantiate, pinned to a site.
	hostName := "Site A"
	ir, err := e.client.InstantiateAppInstanceWithResponse(ctx, id, mm1api.InstantiateAppRequest{
		SelectedMECHostInfo: &[]mm1api.MECHostInformation{{HostId: "site-a", HostName: &hostName}}})
	require.NoError(t, err)
	opInst := e.opID(ir.HTTPResponse, ir.Body)
	ir, err = e.client.InstantiateAppInstanceWithResponse(ctx, id, mm1api.InstantiateAppRequest{})
	require.NoError(t, err)
	problemStatus(t, ir.StatusCode(), ir.Body, http.StatusConflict, "in progress")
	o := e.op(opInst)
	assert.Equal(t, mm1api.OperationState("STARTING"), o.OperationState)
	assert.Equal(t, mm1api.LcmOperation("INSTANTIATE"), o.LcmOperation)
	assert.NotNil(t, o.UnderscoreLinks.Cancel)
	assert.Equal(t, e.root+"/app_lcm/v1/app_instances/"+id, o.UnderscoreLinks.AppInstance.Href)
	assert.Equal(t, "site-a", (*o.OperationParams)["selectedMECHostInfo"].([]any)[0].(map[string]any)["hostId"])

	claimed := e.run("meo-1", opInst, "site-a", orchestrate.Completed, nil)
	assert.Equal(t, orchestrate.OpInstantiate, claimed.Operation)
	assert.Equal(t, "mecapp", claimed.AppDID)
	assert.Equal(t, []string{"site-a"}, claimed.Placement.Pinned)
	assert.Equal(t, reconcile.KindInstantiate, claimed.Task.Kind)
	assert.Equal(t, opInst, claimed.Task.ID)
	assert.Equal(t, "local/mecapp:dev", claimed.Task.Deploy.Image.Ref)
	assert.NotEmpty(t, claimed.Task.Deploy.Artifacts.Manifests, "the package's manifests travel with the task")
	require.NotNil(t, claimed.Task.App.AppDNSRule)
	assert.Equal(t, "mecapp.mec.example", (*claimed.Task.App.AppDNSRule)[0].DomainName)

	o = e.op(opInst)
	assert.Equal(t, mm1api.OperationState("COMPLETED"), o.OperationState)
	assert.Equal(t, "site-a", *o.SiteId)
	assert.Equal(t, "site-a", (*o.Placement)["chosen"].(map[string]any)["siteId"])
	inst = e.instance(id)
	assert.Equal(t, mm1api.InstantiationState("INSTANTIATED"), inst.InstantiationState)
	assert.Equal(t, mm1api.AppOperationalState("STARTED"), inst.InstantiatedAppState.OperationalState)
	assert.Equal(t, "site-a", inst.MecHostInformation.HostId)
	assert.Equal(t, "Site A", *inst.MecHostInformation.HostName)
	require.NotNil(t, inst.UnderscoreLinks.Terminate)
	assert.True(t, *inst.ObservedState.AppConfirmedReady)

	// The site reports it; what the watcher needs is known.
	require.NoError(t, e.lc.Observed(ctx, reconcile.Observation{Site: "site-a", AppInstanceID: id, Phase: vim.PhaseRunning,
		Endpoints: []vim.Endpoint{{Name: "http", Kind: "ClusterIP", Address: "10.0.0.5", Port: 8080}}}))
	require.NoError(t, e.lc.Observed(ctx, reconcile.Observation{Site: "site-a", AppInstanceID: "unknown", Phase: vim.PhaseRunning}))
	// A site the instance is not on (a VIM shared by two sites sees both) does not count.
	require.NoError(t, e.lc.Observed(ctx, reconcile.Observation{Site: "site-b", AppInstanceID: id, Phase: reconcile.PhaseUnknown}))
	inst = e.instance(id)
	assert.Equal(t, "Running", *inst.ObservedState.Phase)
	assert.Equal(t, "10.0.0.5", *(*inst.ObservedState.Endpoints)[0].Address)
	deployed, err := e.lc.Deployed(ctx, "site-a")
	require.NoError(t, err)
	require.Len(t, deployed, 1)
	assert.Equal(t, id, deployed[0].AppInstanceID)

	// Stop, then stopping again is refused.
	graceful := mm1api.StopType("GRACEFUL")
	timeout := 5
	or, err := e.client.OperateAppInstanceWithResponse(ctx, id, mm1api.OperateAppRequest{ChangeStateTo: "STOPPED", StopType: &graceful, GracefulStopTimeout: &timeout})
	require.NoError(t, err)
	opStop := e.opID(or.HTTPResponse, or.Body)
	claimed = e.run("meo-1", opStop, "", orchestrate.Completed, nil)
	assert.Equal(t, "site-a", claimed.SiteID, "an operate runs on the instance's site")
	assert.Equal(t, reconcile.KindStop, claimed.Task.Kind)
	assert.Equal(t, 5*time.Second, claimed.Task.GracefulTimeout)
	assert.Equal(t, mm1api.AppOperationalState("STOPPED"), e.instance(id).InstantiatedAppState.OperationalState)
	or, err = e.client.OperateAppInstanceWithResponse(ctx, id, mm1api.OperateAppRequest{ChangeStateTo: "STOPPED"})
	require.NoError(t, err)
	problemStatus(t, or.StatusCode(), or.Body, http.StatusConflict, "STOPPED already")

	// Terminate: the first run fails for a while, a retry completes it.
	tr, err = e.client.TerminateAppInstanceWithResponse(ctx, id, mm1api.TerminateAppRequest{TerminationType: "GRACEFUL"})
	require.NoError(t, err)
	opTerm := e.opID(tr.HTTPResponse, tr.Body)
	e.run("meo-1", opTerm, "", orchestrate.FailedTemp, &problem.Details{Status: 503, Title: "MEP unreachable", Detail: "dial tcp: connection refused"})
	o = e.op(opTerm)
	assert.Equal(t, mm1api.OperationState("FAILED_TEMP"), o.OperationState)
	assert.Equal(t, "dial tcp: connection refused", *o.Error.Detail)
	assert.Equal(t, 1, *o.Attempts)
	require.NotNil(t, o.UnderscoreLinks.Retry)
	require.NotNil(t, o.UnderscoreLinks.Fail)
	dr, err := e.client.DeleteAppInstanceWithResponse(ctx, id)
	require.NoError(t, err)
	problemStatus(t, dr.StatusCode(), dr.Body, http.StatusConflict, "FAILED_TEMP")
	ops, err := e.lc.Claim(ctx, "meo-2", time.Minute, 10)
	require.NoError(t, err)
	assert.Empty(t, ops, "a FAILED_TEMP op without a retry time waits for a retry")
	rr, err := e.client.RetryAppLcmOpOccWithResponse(ctx, opTerm)
	require.NoError(t, err)
	assert.Equal(t, opTerm, e.opID(rr.HTTPResponse, rr.Body))
	assert.Equal(t, mm1api.OperationState("PROCESSING"), e.op(opTerm).OperationState)
	rr, err = e.client.RetryAppLcmOpOccWithResponse(ctx, opTerm)
	require.NoError(t, err)
	problemStatus(t, rr.StatusCode(), rr.Body, http.StatusConflict, "only FAILED_TEMP")
	e.run("meo-2", opTerm, "", orchestrate.Completed, nil)
	inst = e.instance(id)
	assert.Equal(t, mm1api.InstantiationState("NOT_INSTANTIATED"), inst.InstantiationState)
	assert.Nil(t, inst.MecHostInformation)
	assert.Nil(t, inst.InstantiatedAppState)

	// Lists with filters and paging.
	filter := "(eq,lcmOperation,OPERATE)"
	lr, err := e.client.ListAppLcmOpOccsWithResponse(ctx, &mm1api.ListAppLcmOpOccsParams{Filter: &filter})
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, lr.StatusCode(), "body %s", lr.Body)
	require.Len(t, *lr.JSON200, 1)
	assert.Equal(t, opStop, (*lr.JSON200)[0].Id)
	assert.Nil(t, (*lr.JSON200)[0].OperationParams, "excluded by default")
	lr, err = e.client.ListAppLcmOpOccsWithResponse(ctx, nil)
	require.NoError(t, err)
	assert.Len(t, *lr.JSON200, 2, "page size 2")
	assert.Contains(t, lr.HTTPResponse.Header.Get("Link"), `rel="next"`)
	bad := "(eq,nope,1)"
	lr, err = e.client.ListAppLcmOpOccsWithResponse(ctx, &mm1api.ListAppLcmOpOccsParams{Filter: &bad})
	require.NoError(t, err)
	assert.Equal(t, http.StatusBadRequest, lr.StatusCode())
	filter = "(eq,instantiationState,NOT_INSTANTIATED);(eq,appDId,mecapp)"
	li, err := e.client.ListAppInstancesWithResponse(ctx, &mm1api.ListAppInstancesParams{Filter: &filter})
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, li.StatusCode(), "body %s", li.Body)
	require.Len(t, *li.JSON200, 1)

	// Delete; the package is free again.
	dr, err = e.client.DeleteAppInstanceWithResponse(ctx, id)
	require.NoError(t, err)
	require.Equal(t, http.StatusNoContent, dr.StatusCode(), "body %s", dr.Body)
	assert.Equal(t, "NOT_IN_USE", e.usage(pkgID))
	gr, err := e.client.GetAppInstanceWithResponse(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, http.StatusNotFound, gr.StatusCode())
	assert.Equal(t, mm1api.OperationState("COMPLETED"), e.op(opTerm).OperationState, "op occurrences outlive their instance")

	// Every notification arrives, in order per subscription.
	require.Eventually(t, func() bool { return len(cb.seen(subDeleted)) == 1 }, 10*time.Second, 20*time.Millisecond)
	require.Eventually(t, func() bool { return len(cb.seen(subState)) == 3 }, 10*time.Second, 20*time.Millisecond)
	assert.Equal(t, []string{"STARTED", "STOPPED", "NOT_INSTANTIATED"}, cb.seen(subState))
	assert.Equal(t, []string{"STARTING", "PROCESSING", "COMPLETED"}, cb.seen(subOps), "only the instantiate, as filtered")
	assert.Equal(t, []string{lcm.IdentifierCreationNotification}, cb.seen(subCreated))
	assert.Equal(t, []string{lcm.IdentifierDeletionNotification}, cb.seen(subDeleted))
}

func TestOpOccCancelAndFail(t *testing.T) {
	e := newLCMEnv(t)
	ctx := t.Context()
	e.onboardSample()
	mk := func() string {
		cr, err := e.client.CreateAppInstanceWithResponse(ctx, mm1api.CreateAppInstanceRequest{AppDId: "mecapp"})
		require.NoError(t, err)
		require.Equal(t, http.StatusCreated, cr.StatusCode(), "body %s", cr.Body)
		return cr.JSON201.Id
	}
	instantiate := func(id string) string {
		ir, err := e.client.InstantiateAppInstanceWithResponse(ctx, id, mm1api.InstantiateAppRequest{})
		require.NoError(t, err)
		return e.opID(ir.HTTPResponse, ir.Body)
	}

	// Not claimed: a cancel ends it FAILED_TEMP at once; fail ends it for good.
	a := mk()
	opA := instantiate(a)
	cr, err := e.client.CancelAppLcmOpOccWithResponse(ctx, opA, mm1api.CancelMode{CancelMode: "FORCEFUL"})
	require.NoError(t, err)
	assert.Equal(t, opA, e.opID(cr.HTTPResponse, cr.Body))
	o := e.op(opA)
	assert.Equal(t, mm1api.OperationState("FAILED_TEMP"), o.OperationState)
	assert.Equal(t, mm1api.CancelModeType("FORCEFUL"), *o.CancelMode)
	cr, err = e.client.CancelAppLcmOpOccWithResponse(ctx, opA, mm1api.CancelMode{CancelMode: "FORCEFUL"})
	require.NoError(t, err)
	problemStatus(t, cr.StatusCode(), cr.Body, http.StatusConflict, "FAILED_TEMP")
	fr, err := e.client.FailAppLcmOpOccWithResponse(ctx, opA)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, fr.StatusCode(), "body %s", fr.Body)
	assert.Equal(t, mm1api.OperationState("FAILED"), fr.JSON200.OperationState)
	fr, err = e.client.FailAppLcmOpOccWithResponse(ctx, opA)
	require.NoError(t, err)
	problemStatus(t, fr.StatusCode(), fr.Body, http.StatusConflict, "FAILED")

	// Claimed and placed: the cancel is pending until the executor ends the run; an
	// instantiate failed for good gives its site back.
	b := mk()
	opB := instantiate(b)
	ops, err := e.lc.Claim(ctx, "meo-1", time.Minute, 10)
	require.NoError(t, err)
	require.Len(t, ops, 1)
	require.NoError(t, e.lc.Placed(ctx, opB, "site-b", nil, vim.Resources{MilliCPU: 500}))
	assert.Equal(t, "site-b", e.instance(b).MecHostInformation.HostId, "placed: the site's resources are committed")
	cr, err = e.client.CancelAppLcmOpOccWithResponse(ctx, opB, mm1api.CancelMode{CancelMode: "GRACEFUL"})
	require.NoError(t, err)
	e.opID(cr.HTTPResponse, cr.Body)
	o = e.op(opB)
	assert.Equal(t, mm1api.OperationState("PROCESSING"), o.OperationState)
	assert.True(t, *o.IsCancelPending)
	assert.Nil(t, o.UnderscoreLinks.Cancel)
	held, cancelled, err := e.lc.Renew(ctx, "meo-1", time.Minute)
	require.NoError(t, err)
	assert.Contains(t, held, opB)
	assert.Equal(t, []string{opB}, cancelled)
	require.NoError(t, e.lc.Finished(ctx, "meo-1", opB, orchestrate.FailedTemp, &problem.Details{Status: 409, Detail: "cancelled"}, time.Now()))
	o = e.op(opB)
	assert.Equal(t, mm1api.OperationState("FAILED_TEMP"), o.OperationState)
	assert.False(t, *o.IsCancelPending)
	ops, err = e.lc.Claim(ctx, "meo-1", time.Minute, 10)
	require.NoError(t, err)
	assert.Empty(t, ops, "a cancelled op is not retried by itself")
	fr, err = e.client.FailAppLcmOpOccWithResponse(ctx, opB)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, fr.StatusCode(), "body %s", fr.Body)
	inst := e.instance(b)
	assert.Nil(t, inst.MecHostInformation)
	assert.Equal(t, mm1api.InstantiationState("NOT_INSTANTIATED"), inst.InstantiationState)
	dr, err := e.client.DeleteAppInstanceWithResponse(ctx, b)
	require.NoError(t, err)
	assert.Equal(t, http.StatusNoContent, dr.StatusCode())
}

// One task at a time per instance, under concurrent requests.
func TestOneActiveOp(t *testing.T) {
	e := newLCMEnv(t)
	ctx := t.Context()
	e.onboardSample()
	cr, err := e.client.CreateAppInstanceWithResponse(ctx, mm1api.CreateAppInstanceRequest{AppDId: "mecapp"})
	require.NoError(t, err)
	id := cr.JSON201.Id
	const n = 12
	codes := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := e.client.InstantiateAppInstanceWithResponse(ctx, id, mm1api.InstantiateAppRequest{})
			if err == nil {
				codes[i] = r.StatusCode()
			}
		}()
	}
	wg.Wait()
	count := map[int]int{}
	for _, c := range codes {
		count[c]++
	}
	assert.Equal(t, map[int]int{http.StatusAccepted: 1, http.StatusConflict: n - 1}, count)
}

func TestLCMRequestValidation(t *testing.T) {
	e := newLCMEnv(t)
	e.onboardSample()
	cr, err := e.client.CreateAppInstanceWithResponse(t.Context(), mm1api.CreateAppInstanceRequest{AppDId: "mecapp"})
	require.NoError(t, err)
	id := cr.JSON201.Id
	outer := t
	env := &env{t: t, srv: e.srv, root: e.root}
	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		detail                   string
	}{
		{"unknown instance", "GET", "/app_lcm/v1/app_instances/nope", "", 404, "not found"},
		{"unknown op", "GET", "/app_lcm/v1/app_lcm_op_occs/nope", "", 404, "not found"},
		{"no appDId", "POST", "/app_lcm/v1/app_instances", `{}`, 400, "appDId"},
		{"bad changeStateTo", "POST", "/app_lcm/v1/app_instances/" + id + "/operate", `{"changeStateTo":"PAUSED"}`, 400, "changeStateTo"},
		{"bad hostId", "POST", "/app_lcm/v1/app_instances/" + id + "/instantiate", `{"selectedMECHostInfo":[{"hostId":7}]}`, 400, "hostId"},
		{"bad override", "POST", "/app_lcm/v1/app_instances/" + id + "/instantiate", `{"appDNSRule":[{"dnsRuleId":"x"}]}`, 400, "appDNSRule/0"},
		{"bad area", "POST", "/app_lcm/v1/app_instances/" + id + "/instantiate", `{"locationConstraints":{"area":{"tac":"1","point":{"lat":1,"lon":2}}}}`, 400, "area"},
		{"bad cancel mode", "POST", "/app_lcm/v1/app_lcm_op_occs/x/cancel", `{"cancelMode":"SOFT"}`, 400, "cancelMode"},
		{"unknown subscription type", "POST", "/app_lcm/v1/subscriptions", `{"subscriptionType":"X","callbackUri":"http://a/b"}`, 400, "subscriptionType"},
		{"filter of another type", "POST", "/app_lcm/v1/subscriptions", `{"subscriptionType":"AppInstanceIdentifierCreation","callbackUri":"http://a/b","appInstanceState":"STARTED"}`, 400, "appInstanceState"},
		{"query type disagrees", "POST", "/app_lcm/v1/subscriptions?subscriptionType=AppLcmOpOccStateChange", `{"subscriptionType":"AppInstanceStateChange","callbackUri":"http://a/b"}`, 400, "disagree"},
		{"bad callback", "POST", "/app_lcm/v1/subscriptions", `{"subscriptionType":"AppInstanceStateChange","callbackUri":"ftp://a/b"}`, 400, "callbackUri"},
		{"unknown query parameter", "GET", "/app_lcm/v1/app_instances?limit=1", "", 400, "limit"},
		{"filter on observed state", "GET", "/app_lcm/v1/app_instances?filter=(eq,observedState/phase,Running)", "", 400, "observedState"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env.t = t
			var body any
			if tc.body != "" {
				body = tc.body
			}
			d := problemOf(t, env.do(tc.method, tc.path, body), tc.status)
			assert.Contains(t, d, tc.detail)
		})
	}
	// A viewer reads but cannot act.
	env.t = outer
	r := env.do("GET", "/app_lcm/v1/app_instances/"+id, nil, "Authorization", "Bearer "+viewer)
	assert.Equal(t, http.StatusOK, r.status)
	problemOf(t, env.do("POST", "/app_lcm/v1/app_instances/"+id+"/instantiate", `{}`, "Authorization", "Bearer "+viewer), http.StatusForbidden)
}
