// Package rules compiles ETSI GS MEC 011 TrafficRule objects into UPGW data plane rule-set
// entries. It validates every rule and reports the ones it cannot enforce with a reason,
// orders candidates so that the lowest priority value wins regardless of prefix length, and
// keeps per-rule counter slots stable across compilations.
package rules

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/edgemec/edgemec/mep/mp1api"
)

// TrafficRule is the MEC 011 TrafficRule (V2.1.1, with the V2.2.1 dstInterface array).
type TrafficRule struct {
	TrafficRuleID string          `json:"trafficRuleId"`
	FilterType    string          `json:"filterType"`
	Priority      int             `json:"priority"`
	TrafficFilter []TrafficFilter `json:"trafficFilter"`
	Action        string          `json:"action"`
	DstInterface  DstInterfaces   `json:"dstInterface,omitempty"`
	State         string          `json:"state"`
}

// TrafficFilter is the MEC 011 TrafficFilter. Tag (V3) and Token (V2) both carry a TEID.
type TrafficFilter struct {
	SrcAddress       []string `json:"srcAddress,omitempty"`
	DstAddress       []string `json:"dstAddress,omitempty"`
	SrcPort          []string `json:"srcPort,omitempty"`
	DstPort          []string `json:"dstPort,omitempty"`
	Protocol         []string `json:"protocol,omitempty"`
	Token            []string `json:"token,omitempty"`
	Tag              []string `json:"tag,omitempty"`
	SrcTunnelAddress []string `json:"srcTunnelAddress,omitempty"`
	TgtTunnelAddress []string `json:"tgtTunnelAddress,omitempty"`
	SrcTunnelPort    []string `json:"srcTunnelPort,omitempty"`
	DstTunnelPort    []string `json:"dstTunnelPort,omitempty"`
	QCI              *int     `json:"qCI,omitempty"`
	DSCP             *int     `json:"dSCP,omitempty"`
	TC               *int     `json:"tC,omitempty"`
}

// DestinationInterface is the MEC 011 DestinationInterface.
type DestinationInterface struct {
	InterfaceType string      `json:"interfaceType"`
	TunnelInfo    *TunnelInfo `json:"tunnelInfo,omitempty"`
	SrcMacAddress string      `json:"srcMacAddress,omitempty"`
	DstMacAddress string      `json:"dstMacAddress,omitempty"`
	DstIPAddress  string      `json:"dstIpAddress,omitempty"`
}

// TunnelInfo is the MEC 011 TunnelInfo.
type TunnelInfo struct {
	TunnelType       string `json:"tunnelType"`
	TunnelDstAddress string `json:"tunnelDstAddress,omitempty"`
	TunnelSrcAddress string `json:"tunnelSrcAddress,omitempty"`
}

// DstInterfaces accepts dstInterface as one object (V2.1.1) or an array of up to two
// (V2.2.1) and always marshals as an array.
type DstInterfaces []DestinationInterface

// UnmarshalJSON implements json.Unmarshaler.
func (d *DstInterfaces) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		*d = nil
		return nil
	case len(b) > 0 && b[0] == '{':
		var one DestinationInterface
		if err := json.Unmarshal(b, &one); err != nil {
			return err
		}
		*d = DstInterfaces{one}
		return nil
	}
	var many []DestinationInterface
	if err := json.Unmarshal(b, &many); err != nil {
		return fmt.Errorf("dstInterface: want an object or an array: %w", err)
	}
	*d = many
	return nil
}

// AppRule is one traffic rule of one app instance, as the MEP's feed delivers it.
type AppRule struct {
	AppInstanceID string      `json:"appInstanceId"`
	TrafficRule   TrafficRule `json:"trafficRule"`
}

// Key identifies a rule on the site.
func (r AppRule) Key() string { return RuleKey(r.AppInstanceID, r.TrafficRule.TrafficRuleID) }

// RuleKey is the key of an app instance's traffic rule, as Key returns it and Result.Slots
// holds it.
func RuleKey(app, rule string) string { return keyPart.Replace(app) + "/" + keyPart.Replace(rule) }

// keyPart escapes the separator of Key, so that app "a/b" with rule "c" and app "a" with
// rule "b/c" get different keys; ids without '/' or '%' read as they are.
var keyPart = strings.NewReplacer("%", "%25", "/", "%2F")

// wire returns r as the generated MEC 011 type that mecrule checks.
func (r TrafficRule) wire() mp1api.TrafficRule {
	w := mp1api.TrafficRule{
		TrafficRuleId: r.TrafficRuleID,
		FilterType:    mp1api.FilterType(r.FilterType),
		Priority:      r.Priority,
		Action:        mp1api.TrafficRuleAction(r.Action),
		State:         mp1api.RuleState(r.State),
		TrafficFilter: make([]mp1api.TrafficFilter, len(r.TrafficFilter)),
	}
	for i, f := range r.TrafficFilter {
		w.TrafficFilter[i] = mp1api.TrafficFilter{
			SrcAddress: opt(f.SrcAddress), DstAddress: opt(f.DstAddress),
			SrcPort: opt(f.SrcPort), DstPort: opt(f.DstPort), Protocol: opt(f.Protocol),
			Token: opt(f.Token), Tag: opt(f.Tag),
			SrcTunnelAddress: opt(f.SrcTunnelAddress), TgtTunnelAddress: opt(f.TgtTunnelAddress),
			SrcTunnelPort: opt(f.SrcTunnelPort), DstTunnelPort: opt(f.DstTunnelPort),
			QCI: f.QCI, DSCP: f.DSCP, TC: f.TC,
		}
	}
	if r.DstInterface != nil {
		dis := make([]mp1api.DestinationInterface, len(r.DstInterface))
		for i, d := range r.DstInterface {
			dis[i] = mp1api.DestinationInterface{
				InterfaceType: mp1api.DestinationInterfaceInterfaceType(d.InterfaceType),
				SrcMacAddress: optStr(d.SrcMacAddress), DstMacAddress: optStr(d.DstMacAddress),
				DstIpAddress: optStr(d.DstIPAddress),
			}
			if ti := d.TunnelInfo; ti != nil {
				dis[i].TunnelInfo = &mp1api.TunnelInfo{TunnelType: mp1api.TunnelInfoTunnelType(ti.TunnelType),
					TunnelDstAddress: optStr(ti.TunnelDstAddress), TunnelSrcAddress: optStr(ti.TunnelSrcAddress)}
			}
		}
		w.DstInterface = &dis
	}
	return w
}

func opt(xs []string) *[]string {
	if xs == nil {
		return nil
	}
	return &xs
}

func optStr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
