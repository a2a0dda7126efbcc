package mp1api

import (
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
