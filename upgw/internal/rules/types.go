// Package rules compiles ETSI GS MEC 011 TrafficRule objects into UPGW data plane rule-set
// entries. It validates every rule and reports the ones it cannot enforce with a reason,
// orders candidates so that the lowest priority value wins regardless of prefix length, and
// keeps per-rule counter slots stable across compilations.
//
// Rules are the generated MEC 011 wire type (mp1api.TrafficRule): the type the MEP stores
// and serves, and the one internal/mecrule checks, so the UPGW holds no copy of the MEC 011
// data model. Only their JSON decoding is the UPGW's own (AppRule.UnmarshalJSON,
// DecodeTrafficRule), to accept the V2.1.1 single-object dstInterface that the generated
// type cannot hold.
package rules

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"

	"github.com/edgemec/edgemec/mep/mp1api"
)

// Snapshot is one version of the site's traffic rules: what the MEP's Mm5 feed serves
// (mm5api.TrafficRuleSnapshot), what the control API takes, and what the rule-set manager
// applies and persists. Its JSON is that of mm5api.TrafficRuleSnapshot, which is also the
// format of the UPGW's state file.
type Snapshot struct {
	Version int64     `json:"version"`
	Rules   []AppRule `json:"rules"`
}

// Digest identifies the snapshot's rules whatever its version: the hex SHA-256 of their JSON.
// A version alone does not identify a rule set (a MEP that lost its store, or another MEP,
// can serve other rules under the same version); version and digest together do.
func (s Snapshot) Digest() string {
	rs := s.Rules
	if rs == nil {
		rs = []AppRule{}
	}
	b, err := json.Marshal(rs)
	if err != nil {
		return ""
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// AppRule is one traffic rule of one app instance (mm5api.AppTrafficRule).
type AppRule struct {
	AppInstanceID string             `json:"appInstanceId"`
	TrafficRule   mp1api.TrafficRule `json:"trafficRule"`
}

// UnmarshalJSON implements json.Unmarshaler: the trafficRule is decoded as
// DecodeTrafficRule does.
func (r *AppRule) UnmarshalJSON(b []byte) error {
	var w struct {
		AppInstanceID string             `json:"appInstanceId"`
		TrafficRule   mp1api.TrafficRule `json:"trafficRule"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*r = AppRule{AppInstanceID: w.AppInstanceID, TrafficRule: tolerant(w.TrafficRule)}
	return nil
}

// DecodeTrafficRule decodes a MEC 011 TrafficRule, accepting dstInterface as one object
// (V2.1.1) or an array of up to two (V2.2.1), as mp1api.TrafficRule does; the result always
// holds an array. An empty string in an optional dstInterface field (dstIpAddress,
// dstMacAddress, srcMacAddress, tunnelInfo addresses) reads as absent.
func DecodeTrafficRule(b []byte) (mp1api.TrafficRule, error) {
	var r mp1api.TrafficRule
	if err := json.Unmarshal(b, &r); err != nil {
		return mp1api.TrafficRule{}, err
	}
	return tolerant(r), nil
}

// tolerant clears the empty optional strings of r's destination interfaces.
func tolerant(r mp1api.TrafficRule) mp1api.TrafficRule {
	if r.DstInterface != nil {
		dis := make(mp1api.DestinationInterfaces, len(*r.DstInterface))
		for i, d := range *r.DstInterface {
			dis[i] = dropEmpty(d)
		}
		r.DstInterface = &dis
	}
	return r
}

// dropEmpty clears the optional strings of d that are empty: the UPGW has always read "" as
// "not given", and mecrule checks only the fields that are given.
func dropEmpty(d mp1api.DestinationInterface) mp1api.DestinationInterface {
	for _, p := range []**string{&d.DstIpAddress, &d.DstMacAddress, &d.SrcMacAddress} {
		if *p != nil && **p == "" {
			*p = nil
		}
	}
	if d.TunnelInfo != nil {
		ti := *d.TunnelInfo
		for _, p := range []**string{&ti.TunnelDstAddress, &ti.TunnelSrcAddress} {
			if *p != nil && **p == "" {
				*p = nil
			}
		}
		d.TunnelInfo = &ti
	}
	return d
}

// Key identifies a rule on the site.
func (r AppRule) Key() string { return RuleKey(r.AppInstanceID, r.TrafficRule.TrafficRuleId) }

// RuleKey is the key of an app instance's traffic rule, as Key returns it and Result.Slots
// holds it.
func RuleKey(app, rule string) string { return keyPart.Replace(app) + "/" + keyPart.Replace(rule) }

// keyPart escapes the separator of Key, so that app "a/b" with rule "c" and app "a" with
// rule "b/c" get different keys; ids without '/' or '%' read as they are.
var keyPart = strings.NewReplacer("%", "%25", "/", "%2F")
