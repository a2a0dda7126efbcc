package httpapi

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/edgemec/edgemec/internal/problem"
	"github.com/edgemec/edgemec/mep/internal/platform"
)

// The generated strict handlers write typed responses. Two of the MEP's answers do not fit
// the generated types: bodies the domain has already encoded (services, served without a
// per-request copy) and values the domain returns untyped or with headers the spec does not
// list (subscriptions, rules with their ETag, the OAuth 2.0 token answer). encoded and value
// implement the generated response interfaces for those operations.

// encoded is a JSON body the domain has already encoded: body, or with array set the JSON
// array of parts, written part by part.
type encoded struct {
	status         int
	etag, location string
	body           []byte
	parts          [][]byte
	array          bool
}

func (r encoded) write(w http.ResponseWriter) error {
	setHeaders(w, r.etag, r.location, false)
	if r.array {
		w.Header().Set("Content-Length", strconv.Itoa(platform.ArrayLen(r.parts)))
		w.WriteHeader(r.status)
		_, err := platform.WriteArray(w, r.parts)
		return err
	}
	w.WriteHeader(r.status)
	_, err := w.Write(r.body)
	return err
}

// value is a response whose body is v encoded as JSON.
type value struct {
	status         int
	etag, location string
	noStore        bool // Cache-Control: no-store (RFC 6749 §5.1)
	v              any
}

func (r value) write(w http.ResponseWriter) error {
	b, err := json.Marshal(r.v)
	if err != nil {
		return err
	}
	setHeaders(w, r.etag, r.location, r.noStore)
	w.WriteHeader(r.status)
	_, err = w.Write(append(b, '\n'))
	return err
}

func setHeaders(w http.ResponseWriter, etag, location string, noStore bool) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	if etag != "" {
		h.Set("ETag", etag)
	}
	if location != "" {
		h.Set("Location", location)
	}
	if noStore {
		h.Set("Cache-Control", "no-store")
	}
}

// VisitServicesGETResponse implements mp1server.ServicesGETResponseObject.
func (r encoded) VisitServicesGETResponse(w http.ResponseWriter) error { return r.write(w) }

// VisitServiceGETResponse implements mp1server.ServiceGETResponseObject.
func (r encoded) VisitServiceGETResponse(w http.ResponseWriter) error { return r.write(w) }

// VisitAppServicesGETResponse implements mp1server.AppServicesGETResponseObject.
func (r encoded) VisitAppServicesGETResponse(w http.ResponseWriter) error { return r.write(w) }

// VisitAppServicesPOSTResponse implements mp1server.AppServicesPOSTResponseObject.
func (r encoded) VisitAppServicesPOSTResponse(w http.ResponseWriter) error { return r.write(w) }

// VisitAppServiceGETResponse implements mp1server.AppServiceGETResponseObject.
func (r encoded) VisitAppServiceGETResponse(w http.ResponseWriter) error { return r.write(w) }

// VisitAppServicePUTResponse implements mp1server.AppServicePUTResponseObject.
func (r encoded) VisitAppServicePUTResponse(w http.ResponseWriter) error { return r.write(w) }

// VisitSerAvailSubscriptionsPOSTResponse implements mp1server.SerAvailSubscriptionsPOSTResponseObject.
func (r value) VisitSerAvailSubscriptionsPOSTResponse(w http.ResponseWriter) error { return r.write(w) }

// VisitSerAvailSubscriptionGETResponse implements mp1server.SerAvailSubscriptionGETResponseObject.
func (r value) VisitSerAvailSubscriptionGETResponse(w http.ResponseWriter) error { return r.write(w) }

// VisitTransportsGETResponse implements mp1server.TransportsGETResponseObject.
func (r value) VisitTransportsGETResponse(w http.ResponseWriter) error { return r.write(w) }

// VisitTrafficRulesGETResponse implements mp1server.TrafficRulesGETResponseObject.
func (r value) VisitTrafficRulesGETResponse(w http.ResponseWriter) error { return r.write(w) }

// VisitTrafficRuleGETResponse implements mp1server.TrafficRuleGETResponseObject.
func (r value) VisitTrafficRuleGETResponse(w http.ResponseWriter) error { return r.write(w) }

// VisitTrafficRulePUTResponse implements mp1server.TrafficRulePUTResponseObject.
func (r value) VisitTrafficRulePUTResponse(w http.ResponseWriter) error { return r.write(w) }

// VisitDnsRulesGETResponse implements mp1server.DnsRulesGETResponseObject.
func (r value) VisitDnsRulesGETResponse(w http.ResponseWriter) error { return r.write(w) }

// VisitDnsRuleGETResponse implements mp1server.DnsRuleGETResponseObject.
func (r value) VisitDnsRuleGETResponse(w http.ResponseWriter) error { return r.write(w) }

// VisitDnsRulePUTResponse implements mp1server.DnsRulePUTResponseObject.
func (r value) VisitDnsRulePUTResponse(w http.ResponseWriter) error { return r.write(w) }

// VisitAppTermSubscriptionsPOSTResponse implements mp1server.AppTermSubscriptionsPOSTResponseObject.
func (r value) VisitAppTermSubscriptionsPOSTResponse(w http.ResponseWriter) error { return r.write(w) }

// VisitAppTermSubscriptionGETResponse implements mp1server.AppTermSubscriptionGETResponseObject.
func (r value) VisitAppTermSubscriptionGETResponse(w http.ResponseWriter) error { return r.write(w) }

// VisitRegistrationsPOSTResponse implements mp1server.RegistrationsPOSTResponseObject.
func (r value) VisitRegistrationsPOSTResponse(w http.ResponseWriter) error { return r.write(w) }

// VisitIssueTokenResponse implements mp1server.IssueTokenResponseObject.
func (r value) VisitIssueTokenResponse(w http.ResponseWriter) error { return r.write(w) }

// VisitListAppInstancesResponse implements mm5server.ListAppInstancesResponseObject.
func (r value) VisitListAppInstancesResponse(w http.ResponseWriter) error { return r.write(w) }

// VisitGetAppInstanceResponse implements mm5server.GetAppInstanceResponseObject.
func (r value) VisitGetAppInstanceResponse(w http.ResponseWriter) error { return r.write(w) }

// VisitPutAppInstanceResponse implements mm5server.PutAppInstanceResponseObject.
func (r value) VisitPutAppInstanceResponse(w http.ResponseWriter) error { return r.write(w) }

// VisitDeleteAppInstanceResponse implements mm5server.DeleteAppInstanceResponseObject.
func (r value) VisitDeleteAppInstanceResponse(w http.ResponseWriter) error { return r.write(w) }

// VisitStopAppInstanceResponse implements mm5server.StopAppInstanceResponseObject.
func (r value) VisitStopAppInstanceResponse(w http.ResponseWriter) error { return r.write(w) }

// VisitTrafficRuleFeedResponse implements mm5server.TrafficRuleFeedResponseObject.
func (r value) VisitTrafficRuleFeedResponse(w http.ResponseWriter) error { return r.write(w) }

// VisitDnsRuleFeedResponse implements mm5server.DnsRuleFeedResponseObject.
func (r value) VisitDnsRuleFeedResponse(w http.ResponseWriter) error { return r.write(w) }

// VisitDnsConflictsResponse implements mm5server.DnsConflictsResponseObject.
func (r value) VisitDnsConflictsResponse(w http.ResponseWriter) error { return r.write(w) }

// VisitRotateAppSecretResponse implements mm5server.RotateAppSecretResponseObject.
func (r value) VisitRotateAppSecretResponse(w http.ResponseWriter) error { return r.write(w) }

// tooMany is a 429 ProblemDetails with Retry-After, for the token endpoint, whose other
// errors are OAuth errors and so do not go through the error mapper.
type tooMany struct {
	retryAfter time.Duration
	detail     string
}

// VisitIssueTokenResponse implements mp1server.IssueTokenResponseObject.
func (r tooMany) VisitIssueTokenResponse(w http.ResponseWriter) error {
	secs := int((r.retryAfter + time.Second - 1) / time.Second)
	w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", problem.ContentType)
	w.WriteHeader(http.StatusTooManyRequests)
	return json.NewEncoder(w).Encode(problem.Details{Title: http.StatusText(http.StatusTooManyRequests),
		Status: http.StatusTooManyRequests, Detail: r.detail})
}
