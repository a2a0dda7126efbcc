package httpapi

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/edgemec/edgemec/internal/problem"
	"github.com/edgemec/edgemec/meo/internal/pkgm"
	"github.com/edgemec/edgemec/meo/internal/store"
	"github.com/edgemec/edgemec/meo/mm1api"
)

func (h *handler) subInfo(s *store.Subscription) map[string]any {
	doc := map[string]any{
		"id": s.ID, "subscriptionType": s.SubscriptionType, "callbackUri": s.CallbackURI,
		"_links": map[string]any{"self": map[string]string{"href": h.cfg.APIRoot + base + "/subscriptions/" + s.ID}},
	}
	if len(s.Filter) > 0 {
		doc["appPkgFilter"] = json.RawMessage(s.Filter)
	}
	return doc
}

func list(p *[]string) []string {
	if p == nil {
		return nil
	}
	return *p
}

// CreateAppPkgSubscription implements POST /subscriptions.
func (h *handler) CreateAppPkgSubscription(ctx context.Context, req mm1api.CreateAppPkgSubscriptionRequestObject) (mm1api.CreateAppPkgSubscriptionResponseObject, error) {
	b := req.Body
	typ := b.SubscriptionType
	if b.SubsctiptionType != nil {
		if typ != nil && pkgm.NormalizeSubscriptionType(string(*typ)) != pkgm.NormalizeSubscriptionType(string(*b.SubsctiptionType)) {
			return nil, problem.BadRequest("subscriptionType and subsctiptionType disagree")
		}
		typ = b.SubsctiptionType
	}
	if typ == nil {
		return nil, problem.BadRequest("AppPkgSubscription: subscriptionType is required")
	}
	in := pkgm.SubscriptionInput{CallbackURI: b.CallbackUri, SubscriptionType: string(*typ)}
	if b.AppPkgFilter != nil {
		for _, f := range *b.AppPkgFilter {
			pf := pkgm.Filter{AppPkgID: list(f.AppPkgId), AppDID: list(f.AppDId), AppProvider: list(f.AppProvider), AppName: list(f.AppName)}
			if f.NotificationTypes != nil {
				for _, t := range *f.NotificationTypes {
					pf.NotificationTypes = append(pf.NotificationTypes, string(t))
				}
			}
			in.Filters = append(in.Filters, pf)
		}
	}
	s, err := h.pk.Subscribe(ctx, in)
	if err != nil {
		return nil, err
	}
	return jsonResponse{status: http.StatusCreated, body: h.subInfo(s), location: h.cfg.APIRoot + base + "/subscriptions/" + s.ID}, nil
}

// ListAppPkgSubscriptions implements GET /subscriptions.
func (h *handler) ListAppPkgSubscriptions(ctx context.Context, _ mm1api.ListAppPkgSubscriptionsRequestObject) (mm1api.ListAppPkgSubscriptionsResponseObject, error) {
	subs, err := h.pk.Subscriptions(ctx)
	if err != nil {
		return nil, err
	}
	links := make([]map[string]string, 0, len(subs))
	for _, s := range subs {
		links = append(links, map[string]string{"href": h.cfg.APIRoot + base + "/subscriptions/" + s.ID, "subscriptionType": s.SubscriptionType})
	}
	return jsonResponse{status: http.StatusOK, body: map[string]any{"_links": map[string]any{
		"self": map[string]string{"href": h.cfg.APIRoot + base + "/subscriptions"}, "subscriptions": links}}}, nil
}

// GetAppPkgSubscription implements GET /subscriptions/{subscriptionId}.
func (h *handler) GetAppPkgSubscription(ctx context.Context, req mm1api.GetAppPkgSubscriptionRequestObject) (mm1api.GetAppPkgSubscriptionResponseObject, error) {
	s, err := h.pk.Subscription(ctx, req.SubscriptionId)
	if err != nil {
		return nil, err
	}
	return jsonResponse{status: http.StatusOK, body: h.subInfo(s)}, nil
}

// DeleteAppPkgSubscription implements DELETE /subscriptions/{subscriptionId}.
func (h *handler) DeleteAppPkgSubscription(ctx context.Context, req mm1api.DeleteAppPkgSubscriptionRequestObject) (mm1api.DeleteAppPkgSubscriptionResponseObject, error) {
	if err := h.pk.Unsubscribe(ctx, req.SubscriptionId); err != nil {
		return nil, err
	}
	return mm1api.DeleteAppPkgSubscription204Response{}, nil
}
