package appd

import (
	"errors"
	"fmt"

	"github.com/edgemec/edgemec/internal/mecrule"
	"github.com/edgemec/edgemec/internal/mecrule/mp1rule"
	"github.com/edgemec/edgemec/mep/mp1api"
)

// validateRules checks the AppD's traffic and DNS rules with the platform's one rule check
// (internal/mecrule), the same the MEP applies when the orchestrator hands it the instance
// and the UPGW applies before it compiles a rule: a package with a rule the site would refuse
// is refused at onboarding. A rule without state is checked as ACTIVE, as the MEP defaults
// it. Rule ids must be unique within each list, as the MEP requires of one app instance.
func (a *AppD) validateRules() error {
	seen := map[string]bool{}
	for i := range a.AppTrafficRule {
		r := a.AppTrafficRule[i]
		if r.State == "" {
			r.State = mp1api.RuleStateACTIVE
		}
		p := fmt.Sprintf("/appTrafficRule/%d", i)
		if err := mp1rule.ValidateTrafficRule(&r); err != nil {
			return ruleErr(p, err)
		}
		if seen[r.TrafficRuleId] {
			return fieldErr(p+"/trafficRuleId", fmt.Sprintf("%q is the id of an earlier rule", r.TrafficRuleId))
		}
		seen[r.TrafficRuleId] = true
	}
	clear(seen)
	for i := range a.AppDNSRule {
		r := a.AppDNSRule[i]
		if r.State == "" {
			r.State = mp1api.RuleStateACTIVE
		}
		p := fmt.Sprintf("/appDNSRule/%d", i)
		if err := mp1rule.ValidateDNSRule(&r); err != nil {
			return ruleErr(p, err)
		}
		if seen[r.DnsRuleId] {
			return fieldErr(p+"/dnsRuleId", fmt.Sprintf("%q is the id of an earlier rule", r.DnsRuleId))
		}
		seen[r.DnsRuleId] = true
	}
	return nil
}

// ruleErr turns a mecrule error into a FieldError pointing from the AppD's root.
func ruleErr(prefix string, err error) error {
	if fe := (*mecrule.FieldError)(nil); errors.As(mecrule.At(prefix, err), &fe) {
		return fieldErr(fe.Pointer, fe.Reason)
	}
	return fieldErr(prefix, err.Error())
}
