package httpapi

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"

	"github.com/edgemec/edgemec/internal/problem"
	"github.com/edgemec/edgemec/meo/internal/store"
)

// jsonResponse is a JSON answer with optional Location and Link headers. The API's
// representations are built as documents (attribute selectors trim them), so one response
// type serves every JSON operation.
type jsonResponse struct {
	status   int
	body     any
	location string
	link     string
}

func (r jsonResponse) visit(w http.ResponseWriter) error {
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(r.body); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	if r.location != "" {
		w.Header().Set("Location", r.location)
	}
	if r.link != "" {
		w.Header().Set("Link", r.link)
	}
	w.WriteHeader(r.status)
	_, err := buf.WriteTo(w)
	return err
}

func (r jsonResponse) VisitCreateAppPkgResponse(w http.ResponseWriter) error { return r.visit(w) }
func (r jsonResponse) VisitCreateAppPkgSubscriptionResponse(w http.ResponseWriter) error {
	return r.visit(w)
}
func (r jsonResponse) VisitGetAppPkgResponse(w http.ResponseWriter) error { return r.visit(w) }
func (r jsonResponse) VisitGetAppPkgSubscriptionResponse(w http.ResponseWriter) error {
	return r.visit(w)
}
func (r jsonResponse) VisitGetOnboardedAppPkgResponse(w http.ResponseWriter) error { return r.visit(w) }
func (r jsonResponse) VisitListAppPkgSubscriptionsResponse(w http.ResponseWriter) error {
	return r.visit(w)
}
func (r jsonResponse) VisitListAppPkgsResponse(w http.ResponseWriter) error { return r.visit(w) }
func (r jsonResponse) VisitListOnboardedAppPkgsResponse(w http.ResponseWriter) error {
	return r.visit(w)
}
func (r jsonResponse) VisitPatchAppPkgResponse(w http.ResponseWriter) error { return r.visit(w) }

// rawResponse is a body of a given media type (the AppD).
type rawResponse struct {
	status      int
	contentType string
	body        []byte
}

func (r rawResponse) visit(w http.ResponseWriter) error {
	w.Header().Set("Content-Type", r.contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(r.body)))
	w.Header().Set("Vary", "Accept")
	w.WriteHeader(r.status)
	_, err := w.Write(r.body)
	return err
}

func (r rawResponse) VisitGetAppPkgAppDResponse(w http.ResponseWriter) error    { return r.visit(w) }
func (r rawResponse) VisitGetOnboardedAppDResponse(w http.ResponseWriter) error { return r.visit(w) }

// contentResponse streams stored package content, whole (200) or one range (206), or
// answers 416 for a range outside it.
type contentResponse struct {
	c           store.Content
	off, n      int64
	total       int64
	partial     bool
	unsatisfied bool
}

func (r contentResponse) visit(w http.ResponseWriter) error {
	h := w.Header()
	h.Set("Accept-Ranges", "bytes")
	if r.unsatisfied {
		h.Set("Content-Range", "bytes */"+strconv.FormatInt(r.total, 10))
		problem.Write(w, http.StatusRequestedRangeNotSatisfiable, "the range is outside the package content of "+
			strconv.FormatInt(r.total, 10)+" bytes", "")
		return nil
	}
	defer r.c.Close()
	h.Set("Content-Type", "application/zip")
	h.Set("Content-Length", strconv.FormatInt(r.n, 10))
	status := http.StatusOK
	if r.partial {
		status = http.StatusPartialContent
		h.Set("Content-Range", "bytes "+strconv.FormatInt(r.off, 10)+"-"+strconv.FormatInt(r.off+r.n-1, 10)+"/"+strconv.FormatInt(r.total, 10))
	}
	w.WriteHeader(status)
	_, err := io.Copy(w, io.NewSectionReader(r.c, r.off, r.n))
	return err
}

func (r contentResponse) VisitGetAppPkgContentResponse(w http.ResponseWriter) error {
	return r.visit(w)
}
func (r contentResponse) VisitGetOnboardedAppPkgContentResponse(w http.ResponseWriter) error {
	return r.visit(w)
}
