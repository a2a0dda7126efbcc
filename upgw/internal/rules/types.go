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
