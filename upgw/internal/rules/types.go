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
	"bytes"
	"encoding/json"
	"fmt"
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

// AppRule is one traffic rule of one app instance (mm5api.AppTrafficRule).
type AppRule struct {
	AppInstanceID string             `json:"appInstanceId"`
	TrafficRule   mp1api.TrafficRule `json:"trafficRule"`
}

// UnmarshalJSON implements json.Unmarshaler: the trafficRule is decoded as
// DecodeTrafficRule does.
func (r *AppRule) UnmarshalJSON(b []byte) error {
	var w struct {
		AppInstanceID string       `json:"appInstanceId"`
		TrafficRule   tolerantRule `json:"trafficRule"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*r = AppRule{AppInstanceID: w.AppInstanceID, TrafficRule: w.TrafficRule.rule()}
	return nil
}

// DecodeTrafficRule decodes a MEC 011 TrafficRule, accepting dstInterface as one object
// (V2.1.1) or an array of up to two (V2.2.1); the result always holds an array. An empty
// string in an optional dstInterface field (dstIpAddress, dstMacAddress, srcMacAddress,
// tunnelInfo addresses) reads as absent.
func DecodeTrafficRule(b []byte) (mp1api.TrafficRule, error) {
	var t tolerantRule
	if err := json.Unmarshal(b, &t); err != nil {
		return mp1api.TrafficRule{}, err
	}
	return t.rule(), nil
}

// tolerantRule decodes like mp1api.TrafficRule except for dstInterface: the outer field
// shadows the embedded one for encoding/json.
type tolerantRule struct {
	mp1api.TrafficRule
	DstInterface dstInterfaces `json:"dstInterface,omitempty"`
}

func (t tolerantRule) rule() mp1api.TrafficRule {
	r := t.TrafficRule
	r.DstInterface = nil
	if t.DstInterface != nil {
		dis := []mp1api.DestinationInterface(t.DstInterface)
		r.DstInterface = &dis
	}
	return r
}

// dstInterfaces accepts dstInterface as one object or an array.
type dstInterfaces []mp1api.DestinationInterface

// UnmarshalJSON implements json.Unmarshaler.
func (d *dstInterfaces) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		*d = nil
		return nil
	case len(b) > 0 && b[0] == '{':
		var one mp1api.DestinationInterface
		if err := json.Unmarshal(b, &one); err != nil {
			return err
		}
		*d = dstInterfaces{dropEmpty(one)}
		return nil
	}
	var many []mp1api.DestinationInterface
	if err := json.Unmarshal(b, &many); err != nil {
		return fmt.Errorf("dstInterface: want an object or an array: %w", err)
	}
	for i := range many {
		many[i] = dropEmpty(many[i])
	}
	*d = many
	return nil
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
