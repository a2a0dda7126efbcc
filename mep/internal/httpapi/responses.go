package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"sync"
)

// The generated strict handlers write typed responses. Two of the MEP's answers do not fit
// the generated types: bodies the domain has already encoded (services, served without a
// per-request copy) and values the domain returns untyped or with headers the spec does not
// list (subscriptions, rules with their ETag, the OAuth 2.0 token answer). encoded and value
// implement the generated response interfaces for those operations.

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// encoded is a JSON body the domain has already encoded.
type encoded struct {
	status         int
	etag, location string
	body           []byte
	release        func() // returns body's buffer to its pool once written
}

func (r encoded) write(w http.ResponseWriter) error {
	if r.release != nil {
		defer r.release()
	}
	setHeaders(w, r.etag, r.location, false)
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

// VisitServicesGETResponse implements mp1api.ServicesGETResponseObject.
func (r encoded) VisitServicesGETResponse(w http.ResponseWriter) error { return r.write(w) }

// VisitServiceGETResponse implements mp1api.ServiceGETResponseObject.
func (r encoded) VisitServiceGETResponse(w http.ResponseWriter) error { return r.write(w) }

// VisitAppServicesGETResponse implements mp1api.AppServicesGETResponseObject.
func (r encoded) VisitAppServicesGETResponse(w http.ResponseWriter) error { return r.write(w) }

// VisitAppServicesPOSTResponse implements mp1api.AppServicesPOSTResponseObject.
func (r encoded) VisitAppServicesPOSTResponse(w http.ResponseWriter) error { return r.write(w) }

// VisitAppServiceGETResponse implements mp1api.AppServiceGETResponseObject.
func (r encoded) VisitAppServiceGETResponse(w http.ResponseWriter) error { return r.write(w) }

// VisitAppServicePUTResponse implements mp1api.AppServicePUTResponseObject.
func (r encoded) VisitAppServicePUTResponse(w http.ResponseWriter) error { return r.write(w) }

// VisitSerAvailSubscriptionsPOSTResponse implements mp1api.SerAvailSubscriptionsPOSTResponseObject.
func (r value) VisitSerAvailSubscriptionsPOSTResponse(w http.ResponseWriter) error { return r.write(w) }

// VisitSerAvailSubscriptionGETResponse implements mp1api.SerAvailSubscriptionGETResponseObject.
func (r value) VisitSerAvailSubscriptionGETResponse(w http.ResponseWriter) error { return r.write(w) }

// VisitTransportsGETResponse implements mp1api.TransportsGETResponseObject.
func (r value) VisitTransportsGETResponse(w http.ResponseWriter) error { return r.write(w) }

// VisitTrafficRulesGETResponse implements mp1api.TrafficRulesGETResponseObject.
func (r value) VisitTrafficRulesGETResponse(w http.ResponseWriter) error { return r.write(w) }

// VisitTrafficRuleGETResponse implements mp1api.TrafficRuleGETResponseObject.
func (r value) VisitTrafficRuleGETResponse(w http.ResponseWriter) error { return r.write(w) }

// VisitTrafficRulePUTResponse implements mp1api.TrafficRulePUTResponseObject.
func (r value) VisitTrafficRulePUTResponse(w http.ResponseWriter) error { return r.write(w) }

// VisitDnsRulesGETResponse implements mp1api.DnsRulesGETResponseObject.
func (r value) VisitDnsRulesGETResponse(w http.ResponseWriter) error { return r.write(w) }

// VisitDnsRuleGETResponse implements mp1api.DnsRuleGETResponseObject.
func (r value) VisitDnsRuleGETResponse(w http.ResponseWriter) error { return r.write(w) }

// VisitDnsRulePUTResponse implements mp1api.DnsRulePUTResponseObject.
func (r value) VisitDnsRulePUTResponse(w http.ResponseWriter) error { return r.write(w) }

// VisitAppTermSubscriptionsPOSTResponse implements mp1api.AppTermSubscriptionsPOSTResponseObject.
func (r value) VisitAppTermSubscriptionsPOSTResponse(w http.ResponseWriter) error { return r.write(w) }

// VisitAppTermSubscriptionGETResponse implements mp1api.AppTermSubscriptionGETResponseObject.
func (r value) VisitAppTermSubscriptionGETResponse(w http.ResponseWriter) error { return r.write(w) }

// VisitRegistrationsPOSTResponse implements mp1api.RegistrationsPOSTResponseObject.
func (r value) VisitRegistrationsPOSTResponse(w http.ResponseWriter) error { return r.write(w) }

// VisitIssueTokenResponse implements mp1api.IssueTokenResponseObject.
func (r value) VisitIssueTokenResponse(w http.ResponseWriter) error { return r.write(w) }

// VisitListAppInstancesResponse implements mm5api.ListAppInstancesResponseObject.
func (r value) VisitListAppInstancesResponse(w http.ResponseWriter) error { return r.write(w) }

// VisitGetAppInstanceResponse implements mm5api.GetAppInstanceResponseObject.
func (r value) VisitGetAppInstanceResponse(w http.ResponseWriter) error { return r.write(w) }

// VisitPutAppInstanceResponse implements mm5api.PutAppInstanceResponseObject.
func (r value) VisitPutAppInstanceResponse(w http.ResponseWriter) error { return r.write(w) }

// VisitDeleteAppInstanceResponse implements mm5api.DeleteAppInstanceResponseObject.
func (r value) VisitDeleteAppInstanceResponse(w http.ResponseWriter) error { return r.write(w) }

// VisitTrafficRuleFeedResponse implements mm5api.TrafficRuleFeedResponseObject.
func (r value) VisitTrafficRuleFeedResponse(w http.ResponseWriter) error { return r.write(w) }

// VisitDnsRuleFeedResponse implements mm5api.DnsRuleFeedResponseObject.
func (r value) VisitDnsRuleFeedResponse(w http.ResponseWriter) error { return r.write(w) }

// VisitDnsConflictsResponse implements mm5api.DnsConflictsResponseObject.
func (r value) VisitDnsConflictsResponse(w http.ResponseWriter) error { return r.write(w) }
