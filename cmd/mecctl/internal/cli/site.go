package cli

import (
	"context"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/edgemec/edgemec/mep/mm5api"
	"github.com/edgemec/edgemec/mep/mp1api"
)

// newSiteCommand is `mecctl site`: the views of one edge site, read from its MEP (Mm5 and,
// for services and subscriptions, Mp1 with the operator token) and its UPGW. SITE is a site
// name of the context; --mep/--upgw give the endpoints of a site that is not in it.
func newSiteCommand(o *Options) *cobra.Command {
	c := &cobra.Command{
		Use:   "site",
		Short: "Edge sites: the MEO's inventory, and each site's MEP apps, services, subscriptions, rules, DNS and UPGW",
	}
	c.AddCommand(newSiteAppsCommand(o), newSiteProvisionCommand(o), newSiteTerminateCommand(o),
		newSiteServicesCommand(o), newSiteSubscriptionsCommand(o), newSiteRulesCommand(o), newSiteDNSCommand(o),
		newSiteConflictsCommand(o), newSiteUPGWCommand(o))
	addInventoryCommands(c, o)
	return c
}

// completeSites completes the first argument with the context's site names.
func (o *Options) completeSites(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	if err := o.complete(cmd); err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	c, err := o.loadContext()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return c.siteNames(), cobra.ShellCompDirectiveNoFileComp
}

func appsView(apps []mm5api.AppInstanceRecord, list bool) View {
	v := View{Kind: "appinstance", List: list, Columns: []Column{
		{Header: "APP INSTANCE"}, {Header: "NAME"}, {Header: "APPD"}, {Header: "STATE"}, {Header: "TRAFFIC RULES"},
		{Header: "DNS RULES"}, {Header: "CREATED"},
		{Header: "PROVIDER", Wide: true}, {Header: "INSTANCE NAME", Wide: true}, {Header: "CLIENT ID", Wide: true},
		{Header: "MP1 ROOT", Wide: true}, {Header: "TERMINATION DEADLINE", Wide: true},
	}}
	for _, a := range apps {
		deadline := ""
		if a.TerminationDeadline != nil {
			deadline = a.TerminationDeadline.UTC().Format(time.RFC3339)
		}
		v.Rows = append(v.Rows, []string{a.AppInstanceId, a.AppName, a.AppDId, string(a.State),
			strconv.Itoa(len(deref(a.AppTrafficRule))), strconv.Itoa(len(deref(a.AppDNSRule))), a.CreatedAt.UTC().Format(time.RFC3339),
			a.AppProvider, str(a.AppInstanceName), a.Credentials.ClientId, a.Mp1Root, deadline})
		v.Names = append(v.Names, a.AppInstanceId)
	}
	if list {
		v.Object = nonNil(apps)
	} else if len(apps) == 1 {
		v.Object = apps[0]
	}
	return v
}

func newSiteAppsCommand(o *Options) *cobra.Command {
	return &cobra.Command{
		Use:     "apps SITE [APP_INSTANCE_ID...]",
		Aliases: []string{"app"},
		Short:   "List the app instances a site's MEP holds, or show some",
		Example: `  mecctl site apps edge-1
  mecctl site apps edge-1 3c1e… -o yaml --show-secrets`,
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: o.completeSites,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, t, err := o.mm5(args[0])
			if err != nil {
				return err
			}
			ids := args[1:]
			if len(ids) == 0 {
				r, err := c.ListAppInstancesWithResponse(cmd.Context())
				if err := t.check("list app instances", r, err); err != nil {
					return err
				}
				return o.printer().print(appsView(deref(r.JSON200), true))
			}
			var apps []mm5api.AppInstanceRecord
			for _, id := range ids {
				r, err := c.GetAppInstanceWithResponse(cmd.Context(), id, nil)
				if err := t.check("get app instance "+id, r, err); err != nil {
					return err
				}
				apps = append(apps, *r.JSON200)
			}
			return o.printer().print(appsView(apps, len(ids) > 1))
		},
	}
}

func newSiteProvisionCommand(o *Options) *cobra.Command {
	var file string
	strict := true
	c := &cobra.Command{
		Use:   "provision SITE APP_INSTANCE_ID -f FILE",
		Short: "Create or replace an app instance on a site's MEP (Mm5) from a YAML or JSON file",
		Long: `Create or replace an app instance on a site's MEP over Mm5, from a YAML or JSON AppInstance
(appName, appProvider, appDId, appTrafficRule, appDNSRule, appServiceProduced, ...). The MEO
does this itself for the apps it places; this is for sites run without one, and for repairs.
A field the AppInstance does not have is an error (a warning with --strict=false).`,
		Example: `  mecctl site provision edge-1 cache-1 -f cache.yaml
  cat cache.json | mecctl site provision edge-1 cache-1 -f -`,
		Args:              cobra.ExactArgs(2),
		ValidArgsFunction: o.completeSites,
		RunE: func(cmd *cobra.Command, args []string) error {
			if file == "" {
				return usageErrorf("give the app instance with -f FILE ('-' reads stdin)")
			}
			var spec mm5api.AppInstance
			body, err := o.readSpec(file, &spec, strict)
			if err != nil {
				return err
			}
			c, t, err := o.mm5(args[0])
			if err != nil {
				return err
			}
			r, err := c.PutAppInstanceWithBodyWithResponse(cmd.Context(), args[1], "application/json", strings.NewReader(string(body)))
			if err := t.check("provision app instance "+args[1], r, err); err != nil {
				return err
			}
			rec := r.JSON200
			if rec == nil {
				rec = r.JSON201
			}
			if rec == nil {
				return fmt.Errorf("provision app instance %s: answer %d without an instance", args[1], r.StatusCode())
			}
			return o.printer().print(appsView([]mm5api.AppInstanceRecord{*rec}, false))
		},
	}
	c.Flags().StringVarP(&file, "filename", "f", "", "AppInstance file, YAML or JSON ('-' reads stdin)")
	c.Flags().BoolVar(&strict, "strict", true, "an unknown field is an error (false: a warning)")
	return c
}

func newSiteTerminateCommand(o *Options) *cobra.Command {
	var grace time.Duration
	c := &cobra.Command{
		Use:   "terminate SITE APP_INSTANCE_ID...",
		Short: "Start the graceful termination of app instances on a site's MEP (Mm5)",
		Long: `Start the graceful termination of app instances on a site's MEP over Mm5: the app is
notified and has --grace to confirm; a negative --grace takes the MEP's default.`,
		Args:              cobra.MinimumNArgs(2),
		ValidArgsFunction: o.completeSites,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, t, err := o.mm5(args[0])
			if err != nil {
				return err
			}
			params := &mm5api.DeleteAppInstanceParams{}
			if grace >= 0 {
				s := int(grace.Round(time.Second) / time.Second)
				params.GracefulTimeout = &s
			}
			for _, id := range args[1:] {
				r, err := c.DeleteAppInstanceWithResponse(cmd.Context(), id, params)
				if err := t.check("terminate app instance "+id, r, err); err != nil {
					return err
				}
			}
			return o.printer().print(resultView("appinstance", args[1:], "terminating", len(args) > 2))
		},
	}
	c.Flags().DurationVar(&grace, "grace", -1, "time the app has to confirm termination (0: at once; negative: the MEP's default)")
	return c
}

func servicesView(ss []mp1api.ServiceInfo, list bool) View {
	v := View{Kind: "service", List: list, Columns: []Column{
		{Header: "SERVICE ID"}, {Header: "NAME"}, {Header: "CATEGORY"}, {Header: "VERSION"}, {Header: "STATE"},
		{Header: "TRANSPORT"},
		{Header: "ENDPOINT", Wide: true}, {Header: "SERIALIZER", Wide: true}, {Header: "LOCALITY", Wide: true},
		{Header: "LIVENESS", Wide: true},
	}}
	for _, s := range ss {
		cat := ""
		if s.SerCategory != nil {
			cat = s.SerCategory.Name
		}
		var ep []string
		for _, u := range deref(s.TransportInfo.Endpoint.Uris) {
			ep = append(ep, u)
		}
		for _, a := range deref(s.TransportInfo.Endpoint.Addresses) {
			ep = append(ep, fmt.Sprintf("%s:%d", a.Host, a.Port))
		}
		loc := ""
		if s.ScopeOfLocality != nil {
			loc = string(*s.ScopeOfLocality)
		}
		live := ""
		if s.LivenessInterval != nil && *s.LivenessInterval > 0 {
			live = strconv.Itoa(*s.LivenessInterval) + "s"
		}
		v.Rows = append(v.Rows, []string{str(s.SerInstanceId), s.SerName, cat, s.Version, string(s.State),
			strings.Trim(string(s.TransportInfo.Type)+" "+s.TransportInfo.Protocol, " "),
			strings.Join(ep, ","), string(s.Serializer), loc, live})
		v.Names = append(v.Names, str(s.SerInstanceId))
	}
	if list {
		v.Object = nonNil(ss)
	} else if len(ss) == 1 {
		v.Object = ss[0]
	}
	return v
}

func newSiteServicesCommand(o *Options) *cobra.Command {
	var name string
	c := &cobra.Command{
		Use:     "services SITE [SERVICE_ID...]",
		Aliases: []string{"service"},
		Short:   "List the services registered on a site's MEP (Mp1), or show some",
		Args:    cobra.MinimumNArgs(1),
		Example: `  mecctl site services edge-1
  mecctl site services edge-1 --name cache-api -o wide`,
		ValidArgsFunction: o.completeSites,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, t, err := o.mp1(args[0])
			if err != nil {
				return err
			}
			ids := args[1:]
			if len(ids) == 0 {
				params := &mp1api.ServicesGETParams{}
				if name != "" {
					n := mp1api.SerNames(strings.Split(name, ","))
					params.SerName = &n
				}
				r, err := c.ServicesGETWithResponse(cmd.Context(), params)
				if err := t.check("list services", r, err); err != nil {
					return err
				}
				return o.printer().print(servicesView(deref(r.JSON200), true))
			}
			var ss []mp1api.ServiceInfo
			for _, id := range ids {
				r, err := c.ServiceGETWithResponse(cmd.Context(), id)
				if err := t.check("get service "+id, r, err); err != nil {
					return err
				}
				ss = append(ss, *r.JSON200)
			}
			return o.printer().print(servicesView(ss, len(ids) > 1))
		},
	}
	c.Flags().StringVar(&name, "name", "", "only services of these serNames (comma-separated)")
	return c
}

// Subscription is one Mp1 subscription of an app, as `site subscriptions` shows it: the
// subscription, and the app that holds it, so a failing callback maps to its app.
type Subscription struct {
	AppInstanceID     string                                   `json:"appInstanceId"`
	SubscriptionID    string                                   `json:"subscriptionId"`
	SubscriptionType  string                                   `json:"subscriptionType"`
	Href              string                                   `json:"href"`
	CallbackReference string                                   `json:"callbackReference,omitempty"`
	FilteringCriteria *mp1api.SerAvailabilityFilteringCriteria `json:"filteringCriteria,omitempty"`
}

func subscriptionsView(subs []Subscription) View {
	v := View{Kind: "subscription", List: true, Columns: []Column{
		{Header: "APP INSTANCE"}, {Header: "SUBSCRIPTION ID"}, {Header: "TYPE"},
		{Header: "CALLBACK", Wide: true}, {Header: "FILTER", Wide: true},
	}}
	for _, s := range subs {
		filter := ""
		if f := s.FilteringCriteria; f != nil {
			var parts []string
			if f.SerNames != nil {
				parts = append(parts, "serNames="+strings.Join(*f.SerNames, ","))
			}
			if f.SerInstanceIds != nil {
				parts = append(parts, "serInstanceIds="+strings.Join(*f.SerInstanceIds, ","))
			}
			if f.SerCategories != nil {
				var ids []string
				for _, c := range *f.SerCategories {
					ids = append(ids, c.Id)
				}
				parts = append(parts, "serCategories="+strings.Join(ids, ","))
			}
			if f.States != nil {
				var st []string
				for _, x := range *f.States {
					st = append(st, string(x))
				}
				parts = append(parts, "states="+strings.Join(st, ","))
			}
			filter = strings.Join(parts, ";")
		}
		v.Rows = append(v.Rows, []string{s.AppInstanceID, s.SubscriptionID, s.SubscriptionType, s.CallbackReference, filter})
		v.Names = append(v.Names, s.AppInstanceID+"/"+s.SubscriptionID)
	}
	v.Object = nonNil(subs)
	return v
}

func newSiteSubscriptionsCommand(o *Options) *cobra.Command {
	return &cobra.Command{
		Use:     "subscriptions SITE [APP_INSTANCE_ID...]",
		Aliases: []string{"subscription", "subs"},
		Short:   "List the Mp1 subscriptions of a site's apps (service availability, app termination)",
		Args:    cobra.MinimumNArgs(1),
		Example: `  mecctl site subscriptions edge-1
  mecctl site subscriptions edge-1 3c1e… -o wide`,
		ValidArgsFunction: o.completeSites,
		RunE: func(cmd *cobra.Command, args []string) error {
			subs, err := o.subscriptions(cmd.Context(), args[0], args[1:])
			if err != nil {
				return err
			}
			return o.printer().print(subscriptionsView(subs))
		},
	}
}

func (o *Options) subscriptions(ctx context.Context, site string, ids []string) ([]Subscription, error) {
	if len(ids) == 0 {
		c, t, err := o.mm5(site)
		if err != nil {
			return nil, err
		}
		r, err := c.ListAppInstancesWithResponse(ctx)
		if err := t.check("list app instances", r, err); err != nil {
			return nil, err
		}
		for _, a := range deref(r.JSON200) {
			ids = append(ids, a.AppInstanceId)
		}
	}
	c, t, err := o.mp1(site)
	if err != nil {
		return nil, err
	}
	var out []Subscription
	for _, id := range ids {
		sa, err := c.SerAvailSubscriptionsGETWithResponse(ctx, id)
		if err := t.check("list subscriptions of "+id, sa, err); err != nil {
			return nil, err
		}
		for _, l := range deref(sa.JSON200.UnderscoreLinks.Subscriptions) {
			s := Subscription{AppInstanceID: id, SubscriptionID: path.Base(l.Href), SubscriptionType: l.SubscriptionType, Href: l.Href}
			g, err := c.SerAvailSubscriptionGETWithResponse(ctx, id, s.SubscriptionID)
			if err := t.check("get subscription "+s.SubscriptionID, g, err); err != nil {
				return nil, err
			}
			s.CallbackReference = g.JSON200.CallbackReference
			s.FilteringCriteria = g.JSON200.FilteringCriteria
			out = append(out, s)
		}
		at, err := c.AppTermSubscriptionsGETWithResponse(ctx, id)
		if err := t.check("list termination subscriptions of "+id, at, err); err != nil {
			return nil, err
		}
		for _, l := range deref(at.JSON200.UnderscoreLinks.Subscriptions) {
			s := Subscription{AppInstanceID: id, SubscriptionID: path.Base(l.Href), SubscriptionType: l.SubscriptionType, Href: l.Href}
			g, err := c.AppTermSubscriptionGETWithResponse(ctx, id, s.SubscriptionID)
			if err := t.check("get subscription "+s.SubscriptionID, g, err); err != nil {
				return nil, err
			}
			s.CallbackReference = g.JSON200.CallbackReference
			out = append(out, s)
		}
	}
	return out, nil
}

func trafficRulesView(s mm5api.TrafficRuleSnapshot) View {
	v := View{Kind: "trafficrule", List: true, Header: fmt.Sprintf("version %d", s.Version), Columns: []Column{
		{Header: "APP INSTANCE"}, {Header: "RULE"}, {Header: "PRIORITY"}, {Header: "ACTION"}, {Header: "STATE"},
		{Header: "FILTER TYPE", Wide: true}, {Header: "FILTERS", Wide: true}, {Header: "DESTINATION", Wide: true},
	}}
	for _, r := range s.Rules {
		tr := r.TrafficRule
		dst := ""
		if d := deref(tr.DstInterface); len(d) > 0 {
			dst = string(d[0].InterfaceType)
			if d[0].DstIpAddress != nil {
				dst += " " + *d[0].DstIpAddress
			}
		}
		v.Rows = append(v.Rows, []string{r.AppInstanceId, tr.TrafficRuleId, strconv.Itoa(tr.Priority), string(tr.Action),
			string(tr.State), string(tr.FilterType), strconv.Itoa(len(tr.TrafficFilter)), dst})
		v.Names = append(v.Names, r.AppInstanceId+"/"+tr.TrafficRuleId)
	}
	if s.Rules == nil {
		s.Rules = []mm5api.AppTrafficRule{}
	}
	v.Object = s
	return v
}

func newSiteRulesCommand(o *Options) *cobra.Command {
	return &cobra.Command{
		Use:               "rules SITE",
		Aliases:           []string{"traffic-rules"},
		Short:             "Show the traffic rules of a site, as the MEP feeds them to the UPGW",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: o.completeSites,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, t, err := o.mm5(args[0])
			if err != nil {
				return err
			}
			r, err := c.TrafficRuleFeedWithResponse(cmd.Context(), &mm5api.TrafficRuleFeedParams{})
			if err := t.check("get traffic rules", r, err); err != nil {
				return err
			}
			return o.printer().print(trafficRulesView(*r.JSON200))
		},
	}
}

func dnsRulesView(s mm5api.DnsRuleSnapshot) View {
	v := View{Kind: "dnsrule", List: true, Header: fmt.Sprintf("version %d", s.Version), Columns: []Column{
		{Header: "APP INSTANCE"}, {Header: "RULE"}, {Header: "DOMAIN"}, {Header: "ADDRESS"}, {Header: "STATE"},
		{Header: "TYPE", Wide: true}, {Header: "TTL", Wide: true}, {Header: "CREATED", Wide: true},
	}}
	for _, r := range s.Rules {
		d := r.DnsRule
		ttl := ""
		if d.Ttl != nil {
			ttl = strconv.Itoa(*d.Ttl)
		}
		v.Rows = append(v.Rows, []string{r.AppInstanceId, d.DnsRuleId, d.DomainName, d.IpAddress, string(d.State),
			string(d.IpAddressType), ttl, r.CreatedAt.UTC().Format(time.RFC3339)})
		v.Names = append(v.Names, r.AppInstanceId+"/"+d.DnsRuleId)
	}
	if s.Rules == nil {
		s.Rules = []mm5api.AppDnsRule{}
	}
	v.Object = s
	return v
}

func newSiteDNSCommand(o *Options) *cobra.Command {
	return &cobra.Command{
		Use:               "dns SITE",
		Aliases:           []string{"dns-rules"},
		Short:             "Show the DNS rules of a site, as the MEP feeds them to its DNS server",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: o.completeSites,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, t, err := o.mm5(args[0])
			if err != nil {
				return err
			}
			r, err := c.DnsRuleFeedWithResponse(cmd.Context(), &mm5api.DnsRuleFeedParams{})
			if err := t.check("get DNS rules", r, err); err != nil {
				return err
			}
			return o.printer().print(dnsRulesView(*r.JSON200))
		},
	}
}

func conflictsView(cs []mm5api.DnsConflict) View {
	v := View{Kind: "dnsconflict", List: true, Columns: []Column{
		{Header: "DOMAIN"}, {Header: "ANSWERED BY"}, {Header: "IGNORED"},
	}}
	for _, c := range cs {
		var losers []string
		for _, l := range c.Losers {
			losers = append(losers, l.AppInstanceId+"/"+l.DnsRuleId)
		}
		v.Rows = append(v.Rows, []string{c.DomainName, c.Winner.AppInstanceId + "/" + c.Winner.DnsRuleId, strings.Join(losers, ",")})
		v.Names = append(v.Names, c.DomainName)
	}
	v.Object = nonNil(cs)
	return v
}

func newSiteConflictsCommand(o *Options) *cobra.Command {
	return &cobra.Command{
		Use:               "conflicts SITE",
		Short:             "Show the DNS names more than one app claims on a site, and which rule answers",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: o.completeSites,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, t, err := o.mm5(args[0])
			if err != nil {
				return err
			}
			r, err := c.DnsConflictsWithResponse(cmd.Context())
			if err := t.check("get DNS conflicts", r, err); err != nil {
				return err
			}
			return o.printer().print(conflictsView(deref(r.JSON200)))
		},
	}
}
