package nef

import (
	"errors"
	"net/http"
)

// AdminPath is the root of the control endpoints AdminHandler serves.
const AdminPath = "/nef-admin/v1"

// upPathChangeRequest is the body of an admin request for a UP path change notification.
type upPathChangeRequest struct {
	SourceDNAI   string `json:"sourceDnai"`
	TargetDNAI   string `json:"targetDnai"`
	UEIPv4       string `json:"ueIpv4,omitempty"`
	UEIPv6Prefix string `json:"ueIpv6Prefix,omitempty"`
	GPSI         string `json:"gpsi,omitempty"`
}

// AdminHandler serves what the 5G core would otherwise cause, for demos driving the NEF
// from outside a Go test. It has no authentication: serve it on a loopback address only.
//
//	POST /nef-admin/v1/{afId}/subscriptions/{subscriptionId}/up-path-change
//	     {"sourceDnai": "...", "targetDnai": "...", "ueIpv4": "..."}
//	     → 200 with the EventNotification sent, 404, or 502 if the AF refused it.
func (s *Server) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+AdminPath+"/{afId}/subscriptions/{subscriptionId}/up-path-change", func(w http.ResponseWriter, r *http.Request) {
		var req upPathChangeRequest
		if !decode(w, r, mediaJSON, &req) {
			return
		}
		ev, err := s.NotifyUPPathChange(r.Context(), r.PathValue("afId"), r.PathValue("subscriptionId"), UPPathChange{
			SourceDNAI: req.SourceDNAI, TargetDNAI: req.TargetDNAI,
			UEIPv4: req.UEIPv4, UEIPv6Prefix: req.UEIPv6Prefix, GPSI: req.GPSI,
		})
		switch {
		case errors.Is(err, ErrNotFound):
			writeProblem(w, r, http.StatusNotFound, "SUBSCRIPTION_NOT_FOUND", "%v", err)
		case errors.Is(err, ErrNotSubscribed):
			writeProblem(w, r, http.StatusConflict, "", "%v", err)
		case err != nil:
			writeProblem(w, r, http.StatusBadGateway, "", "%v", err)
		default:
			writeJSON(w, http.StatusOK, ev)
		}
	})
	return mux
}
