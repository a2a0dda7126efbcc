package rules

import (
	"encoding/json"
	"testing"

	"github.com/edgemec/edgemec/mep/mp1api"
	"github.com/edgemec/edgemec/upgw/internal/dataplane"
)

// FuzzCompile feeds arbitrary rule JSON to the compiler and checks the invariants the data
// plane relies on: bounded candidate lists, priority order within every list, every accepted
// rule reachable, every rule either accepted, rejected or inactive.
func FuzzCompile(f *testing.F) {
	seeds := []string{
		`[{"appInstanceId":"a","trafficRule":{"trafficRuleId":"r1","filterType":"FLOW","priority":1,"action":"DROP","state":"ACTIVE","trafficFilter":[{"dstAddress":["192.0.2.0/24"],"dstPort":["80","8000-8080"],"protocol":["TCP"]}]}}]`,
		`[{"appInstanceId":"a","trafficRule":{"trafficRuleId":"r1","filterType":"PACKET","priority":3,"action":"FORWARD_DECAPSULATED","state":"ACTIVE","dstInterface":{"interfaceType":"IP","dstIpAddress":"192.0.2.10"},"trafficFilter":[{"dstAddress":["192.0.2.10"]},{"srcAddress":["10.0.0.1-10.0.0.9"],"tag":["0x10"]}]}},` +
			`{"appInstanceId":"b","trafficRule":{"trafficRuleId":"r2","filterType":"FLOW","priority":1,"action":"PASSTHROUGH","state":"ACTIVE","trafficFilter":[{"dstAddress":["192.0.0.0/16","2001:db8::/32"],"qCI":9,"dSCP":46}]}}]`,
		`[{"appInstanceId":"a","trafficRule":{"trafficRuleId":"r","filterType":"FLOW","priority":0,"action":"DUPLICATE_ENCAPSULATED","state":"ACTIVE","dstInterface":[{"interfaceType":"TUNNEL","tunnelInfo":{"tunnelType":"GTP_U","tunnelDstAddress":"10.99.0.1"}}],"trafficFilter":[{}]}}]`,
		`[{"trafficRule":{"state":"INACTIVE"}}]`,
		`[]`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var in []AppRule
		if err := json.Unmarshal(b, &in); err != nil {
			return
		}
		res := Compile(in, fakeTargets{}, nil)
		if got := len(res.Rules) + len(res.Rejected) + res.Inactive; got > len(in) || (got < len(in) && !hasDuplicates(in)) {
			t.Fatalf("accounted for %d of %d rules", got, len(in))
		}
		prio := map[uint32]int{}
		for _, r := range res.Rules {
			prio[r.Slot] = r.Priority
		}
		reached := map[uint32]bool{}
		for _, e := range res.Entries {
			if e.Cands.N > uint32(dataplane.MaxCands) {
				t.Fatalf("entry with %d candidates", e.Cands.N)
			}
			last := -1
			for i := range e.Cands.N {
				m := e.Cands.M[i]
				p, ok := prio[m.RuleSlot]
				if !ok {
					t.Fatalf("candidate of unknown rule slot %d", m.RuleSlot)
				}
				if p < last {
					t.Fatalf("priority %d listed after %d", p, last)
				}
				last = p
				reached[m.RuleSlot] = true
			}
		}
		for _, r := range res.Rules {
			if !reached[r.Slot] {
				t.Fatalf("accepted rule %s is in no entry", r.TrafficRuleID)
			}
		}
	})
}

func hasDuplicates(in []AppRule) bool {
	seen := map[string]bool{}
	for _, r := range in {
		if r.TrafficRule.State == mp1api.RuleStateACTIVE && seen[r.Key()] {
			return true
		}
		seen[r.Key()] = true
	}
	return false
}
