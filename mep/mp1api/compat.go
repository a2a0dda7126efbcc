package mp1api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// ErrNotObject is returned by NormalizeTrafficRuleJSON for input that is not a JSON object.
var ErrNotObject = errors.New("not a JSON object")

// NormalizeTrafficRuleJSON rewrites a TrafficRule whose dstInterface has the MEC 011 V2.1.1
// form (a single object) into the V2.2.1 form (an array) that the spec and TrafficRule
// describe. Other input comes back unchanged.
func NormalizeTrafficRuleJSON(raw []byte) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("TrafficRule: %w: %w", ErrNotObject, err)
	}
	d, ok := m["dstInterface"]
	if !ok || len(d) == 0 || d[0] != '{' {
		return raw, nil
	}
	m["dstInterface"] = append(append([]byte{'['}, d...), ']')
	return json.Marshal(m)
}

// DestinationInterfaces is the type of TrafficRule.DstInterface (x-go-type in mp1.yaml). It
// reads both MEC 011 shapes of dstInterface, so that every Go decoder of a TrafficRule (the
// generated clients and servers, mecctl, the UPGW feed, the MEO) takes what a MEP answers: one
// DestinationInterface object (V2.1.1, as a MEP answers an app or an operator whose version is
// V2.1.1) and an array (V2.2.1 and later). It always holds the array form and encodes as one.
// It lives outside the generated file so that `make generate` keeps it.
type DestinationInterfaces []DestinationInterface

// UnmarshalJSON implements json.Unmarshaler.
func (d *DestinationInterfaces) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		*d = nil
	case len(b) > 0 && b[0] == '{':
		var one DestinationInterface
		if err := json.Unmarshal(b, &one); err != nil {
			return err
		}
		*d = DestinationInterfaces{one}
	default:
		var many []DestinationInterface
		if err := json.Unmarshal(b, &many); err != nil {
			return err
		}
		*d = many
	}
	return nil
}

// V211TrafficRuleJSON encodes a TrafficRule in the MEC 011 V2.1.1 form: dstInterface is one
// DestinationInterface object, the first of the array (V2.1.1 has room for one), and left
// out when there is none.
func V211TrafficRuleJSON(r *TrafficRule) ([]byte, error) {
	type v211 struct {
		TrafficRule
		DstInterface *DestinationInterface `json:"dstInterface,omitempty"`
	}
	v := v211{TrafficRule: *r}
	v.TrafficRule.DstInterface = nil
	if r.DstInterface != nil && len(*r.DstInterface) > 0 {
		v.DstInterface = &(*r.DstInterface)[0]
	}
	return json.Marshal(v)
}
