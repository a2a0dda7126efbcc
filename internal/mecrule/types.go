package mecrule

// The rule model of ETSI GS MEC 011 as the platform keeps it. Field names and JSON names are
// those of MEC 011 (V2.2.1 and later shapes: dstInterface is an array), so that a stored rule
// reads back unchanged; the shapes of other versions (V2.1.1's single dstInterface object)
// and the generated wire types of each API are converted to these at the edge
// (internal/mecrule/mp1rule for Mp1 and Mm5).

// FilterType is a traffic rule's filterType.
type FilterType string

// Filter types.
const (
	FLOW   FilterType = "FLOW"
	PACKET FilterType = "PACKET"
)

// Valid reports whether e is a known filter type.
func (e FilterType) Valid() bool { return e == FLOW || e == PACKET }

// Action is a traffic rule's action.
type Action string

// Traffic rule actions.
const (
	DROP                  Action = "DROP"
	DUPLICATEDECAPSULATED Action = "DUPLICATE_DECAPSULATED"
	DUPLICATEENCAPSULATED Action = "DUPLICATE_ENCAPSULATED"
	FORWARDDECAPSULATED   Action = "FORWARD_DECAPSULATED"
	FORWARDENCAPSULATED   Action = "FORWARD_ENCAPSULATED"
	PASSTHROUGH           Action = "PASSTHROUGH"
)

// Valid reports whether e is a MEC 011 traffic rule action.
func (e Action) Valid() bool {
	switch e {
	case DROP, DUPLICATEDECAPSULATED, DUPLICATEENCAPSULATED, FORWARDDECAPSULATED, FORWARDENCAPSULATED, PASSTHROUGH:
		return true
	}
	return false
}

// RuleState is the state of a traffic or DNS rule.
type RuleState string

// Rule states.
const (
	RuleStateACTIVE   RuleState = "ACTIVE"
	RuleStateINACTIVE RuleState = "INACTIVE"
)

// Valid reports whether e is ACTIVE or INACTIVE.
func (e RuleState) Valid() bool { return e == RuleStateACTIVE || e == RuleStateINACTIVE }

// InterfaceType is a destination interface's interfaceType.
type InterfaceType string

// Interface types.
const (
	IP     InterfaceType = "IP"
	MAC    InterfaceType = "MAC"
	TUNNEL InterfaceType = "TUNNEL"
)

// Valid reports whether e is IP, MAC or TUNNEL.
func (e InterfaceType) Valid() bool { return e == IP || e == MAC || e == TUNNEL }

// TunnelType is a tunnel's tunnelType.
type TunnelType string

// Tunnel types.
const (
	GRE  TunnelType = "GRE"
	GTPU TunnelType = "GTP_U"
)

// Valid reports whether e is a MEC 011 tunnel type.
func (e TunnelType) Valid() bool { return e == GRE || e == GTPU }

// AddressType is a DNS rule's ipAddressType.
type AddressType string

// Address types.
const (
	IPV4 AddressType = "IP_V4"
	IPV6 AddressType = "IP_V6"
)

// Valid reports whether e is IP_V4 or IP_V6.
func (e AddressType) Valid() bool { return e == IPV4 || e == IPV6 }

// TrafficRule is a MEC 011 traffic rule.
type TrafficRule struct {
	Action        Action                  `json:"action"`
	DstInterface  *[]DestinationInterface `json:"dstInterface,omitempty"`
	FilterType    FilterType              `json:"filterType"`
	Priority      int                     `json:"priority"`
	State         RuleState               `json:"state"`
	TrafficFilter []TrafficFilter         `json:"trafficFilter"`
	TrafficRuleId string                  `json:"trafficRuleId"`
}

// TrafficFilter is one trafficFilter entry of a traffic rule.
type TrafficFilter struct {
	DSCP             *int      `json:"dSCP,omitempty"`
	DstAddress       *[]string `json:"dstAddress,omitempty"`
	DstPort          *[]string `json:"dstPort,omitempty"`
	DstTunnelPort    *[]string `json:"dstTunnelPort,omitempty"`
	Protocol         *[]string `json:"protocol,omitempty"`
	QCI              *int      `json:"qCI,omitempty"`
	SrcAddress       *[]string `json:"srcAddress,omitempty"`
	SrcPort          *[]string `json:"srcPort,omitempty"`
	SrcTunnelAddress *[]string `json:"srcTunnelAddress,omitempty"`
	SrcTunnelPort    *[]string `json:"srcTunnelPort,omitempty"`
	TC               *int      `json:"tC,omitempty"`
	Tag              *[]string `json:"tag,omitempty"`
	TgtTunnelAddress *[]string `json:"tgtTunnelAddress,omitempty"`
	// Token is the V2 name of Tag: both carry a TEID.
	Token *[]string `json:"token,omitempty"`
}

// DestinationInterface is one dstInterface entry of a traffic rule.
type DestinationInterface struct {
	DstIpAddress  *string       `json:"dstIpAddress,omitempty"`
	DstMacAddress *string       `json:"dstMacAddress,omitempty"`
	InterfaceType InterfaceType `json:"interfaceType"`
	SrcMacAddress *string       `json:"srcMacAddress,omitempty"`
	TunnelInfo    *TunnelInfo   `json:"tunnelInfo,omitempty"`
}

// TunnelInfo is the tunnel of a TUNNEL destination interface.
type TunnelInfo struct {
	TunnelDstAddress *string    `json:"tunnelDstAddress,omitempty"`
	TunnelSrcAddress *string    `json:"tunnelSrcAddress,omitempty"`
	TunnelType       TunnelType `json:"tunnelType"`
}

// DNSRule is a MEC 011 DNS rule.
type DNSRule struct {
	DnsRuleId     string      `json:"dnsRuleId"`
	DomainName    string      `json:"domainName"`
	IpAddress     string      `json:"ipAddress"`
	IpAddressType AddressType `json:"ipAddressType"`
	State         RuleState   `json:"state"`
	Ttl           *int        `json:"ttl,omitempty"`
}
