package cli

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/edgemec/edgemec/meo/meoapi"
)

// The MEO's site inventory (/inventory/v1/sites, meo/meoapi): `site add|list|get|cordon|
// uncordon|drain|remove|fiveg`, next to the per-site views of the same `site` command. A site id of
// the inventory is the name the context gives the site's MEP and UPGW endpoints.

func (o *Options) meoapi() (*meoapi.ClientWithResponses, *target, error) {
	t, err := o.meo()
	if err != nil {
		return nil, nil, err
	}
	c, err := meoapi.NewClientWithResponses(t.URL, meoapi.WithHTTPClient(t.http), meoapi.WithRequestEditorFn(t.editor))
	return c, t, err
}

func addInventoryCommands(site *cobra.Command, o *Options) {
	site.AddCommand(newSiteAddCommand(o), newSiteListCommand(o), newSiteGetCommand(o),
		newSiteActionCommand(o, "cordon", "Stop placing new app instances on sites"),
		newSiteActionCommand(o, "uncordon", "Place app instances on sites again"),
		newSiteDrainCommand(o),
		newSiteRemoveCommand(o), newSiteFiveGCommand(o))
}

func health(h meoapi.Health) string {
	switch {
	case h.Reachable == nil:
		return "unknown"
	case *h.Reachable:
		return "reachable"
	}
	return "unreachable"
}

func sitesView(sites []meoapi.Site, list bool) View {
	v := View{Kind: "site", List: list, Columns: []Column{
		{Header: "ID"}, {Header: "NAME"}, {Header: "VIM"}, {Header: "STATUS"}, {Header: "MEP"}, {Header: "VIM HEALTH"},
		{Header: "INSTANCES"},
		{Header: "MEP ENDPOINT", Wide: true}, {Header: "LABELS", Wide: true}, {Header: "COMMITTED CPU", Wide: true},
		{Header: "CREATED", Wide: true},
	}}
	for _, s := range sites {
		status := "Ready"
		switch {
		case s.State.Draining:
			status = "Draining"
		case !s.State.Schedulable:
			status = "Cordoned"
		}
		n := 0
		if s.State.Instances != nil {
			for _, c := range *s.State.Instances {
				n += c
			}
		}
		var labels []string
		for k, val := range s.Labels {
			labels = append(labels, k+"="+val)
		}
		sort.Strings(labels)
		cpu := ""
		if s.State.Committed.MilliCPU != nil {
			cpu = strconv.FormatInt(*s.State.Committed.MilliCPU, 10) + "m"
		}
		v.Rows = append(v.Rows, []string{s.Id, s.Name, s.Vim.Kind, status, health(s.State.Mep), health(s.State.Vim),
			strconv.Itoa(n), s.Mep.Endpoint, strings.Join(labels, ","), cpu, s.Created.UTC().Format(time.RFC3339)})
		v.Names = append(v.Names, s.Id)
	}
	if list {
		v.Object = nonNil(sites)
	} else if len(sites) == 1 {
		v.Object = sites[0]
	}
	return v
}

func newSiteAddCommand(o *Options) *cobra.Command {
	var file string
	strict := true
	c := &cobra.Command{
		Use:   "add -f FILE",
		Short: "Register a site in the MEO's inventory from a YAML or JSON SiteSpec",
		Long: `Register a site in the MEO's inventory from a YAML or JSON SiteSpec (id, name, labels,
location with served areas and latencies, mep endpoint and token, vim kind and kubeconfig or
libvirt URI). The MEO checks that it reaches the MEP and the VIM before it registers the site.
A field the SiteSpec does not have is an error (a warning with --strict=false).`,
		Example: `  mecctl site add -f edge-1.yaml`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return usageErrorf("give the site with -f FILE ('-' reads stdin)")
			}
			var spec meoapi.SiteSpec
			body, err := o.readSpec(file, &spec, strict)
			if err != nil {
				return err
			}
			c, t, err := o.meoapi()
			if err != nil {
				return err
			}
			r, err := c.RegisterSiteWithBodyWithResponse(cmd.Context(), "application/json", strings.NewReader(string(body)))
			if err := t.check("add site "+str(spec.Id), r, err); err != nil {
				return err
			}
			if r.JSON201 == nil {
				return fmt.Errorf("add site %s: answer %d without a site", str(spec.Id), r.StatusCode())
			}
			return o.printer().print(sitesView([]meoapi.Site{*r.JSON201}, false))
		},
	}
	c.Flags().StringVarP(&file, "filename", "f", "", "SiteSpec file, YAML or JSON ('-' reads stdin)")
	c.Flags().BoolVar(&strict, "strict", true, "an unknown field is an error (false: a warning)")
	return c
}

func newSiteListCommand(o *Options) *cobra.Command {
	var selector string
	c := &cobra.Command{
		Use:     "list",
		Short:   "List the sites of the MEO's inventory",
		Example: `  mecctl site list -l region=west -o wide`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sites, err := o.listSites(cmd.Context(), selector)
			if err != nil {
				return err
			}
			return o.printer().print(sitesView(sites, true))
		},
	}
	c.Flags().StringVarP(&selector, "selector", "l", "", "only sites with all these labels, k=v[,k=v...]")
	return c
}

func (o *Options) listSites(ctx context.Context, selector string) ([]meoapi.Site, error) {
	c, t, err := o.meoapi()
	if err != nil {
		return nil, err
	}
	return listPages("list sites", func(marker *string) ([]meoapi.Site, string, error) {
		params := &meoapi.ListSitesParams{NextpageOpaqueMarker: marker}
		if selector != "" {
			params.LabelSelector = &selector
		}
		r, err := c.ListSitesWithResponse(ctx, params)
		if err := t.check("list sites", r, err); err != nil {
			return nil, "", err
		}
		return deref(r.JSON200), r.HTTPResponse.Header.Get("Link"), nil
	})
}

func newSiteGetCommand(o *Options) *cobra.Command {
	return &cobra.Command{
		Use:               "get SITE...",
		Short:             "Show sites of the MEO's inventory",
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: o.completeSites,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, t, err := o.meoapi()
			if err != nil {
				return err
			}
			var sites []meoapi.Site
			for _, id := range args {
				r, err := c.GetSiteWithResponse(cmd.Context(), id)
				if err := t.check("get site "+id, r, err); err != nil {
					return err
				}
				sites = append(sites, *r.JSON200)
			}
			return o.printer().print(sitesView(sites, len(args) > 1))
		},
	}
}

func newSiteActionCommand(o *Options, verb, short string) *cobra.Command {
	return &cobra.Command{
		Use:               verb + " SITE...",
		Short:             short,
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: o.completeSites,
		RunE: func(cmd *cobra.Command, args []string) error {
			sites, err := o.siteAction(cmd.Context(), verb, args)
			if err != nil {
				return err
			}
			return o.printer().print(sitesView(sites, len(args) > 1))
		},
	}
}

func newSiteRemoveCommand(o *Options) *cobra.Command {
	return &cobra.Command{
		Use:               "remove SITE...",
		Short:             "Remove sites without app instances from the MEO's inventory",
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: o.completeSites,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, t, err := o.meoapi()
			if err != nil {
				return err
			}
			for _, id := range args {
				r, err := c.DeleteSiteWithResponse(cmd.Context(), id)
				if err := t.check("remove site "+id, r, err); err != nil {
					return err
				}
			}
			return o.printer().print(resultView("site", args, "removed", len(args) > 1))
		},
	}
}

// siteAction cordons, uncordons or drains the sites and returns them as they are then.
func (o *Options) siteAction(ctx context.Context, verb string, args []string) ([]meoapi.Site, error) {
	c, t, err := o.meoapi()
	if err != nil {
		return nil, err
	}
	var sites []meoapi.Site
	for _, id := range args {
		var site *meoapi.Site
		switch verb {
		case "cordon":
			var r *meoapi.CordonSiteResponse
			r, err = c.CordonSiteWithResponse(ctx, id)
			if err = t.check(verb+" site "+id, r, err); err == nil {
				site = r.JSON200
			}
		case "uncordon":
			var r *meoapi.UncordonSiteResponse
			r, err = c.UncordonSiteWithResponse(ctx, id)
			if err = t.check(verb+" site "+id, r, err); err == nil {
				site = r.JSON200
			}
		default:
			var r *meoapi.DrainSiteResponse
			r, err = c.DrainSiteWithResponse(ctx, id)
			if err = t.check(verb+" site "+id, r, err); err == nil {
				site = r.JSON200
			}
		}
		if err != nil {
			return nil, err
		}
		if site == nil {
			g, err := c.GetSiteWithResponse(ctx, id)
			if err := t.check("get site "+id, g, err); err != nil {
				return nil, err
			}
			site = g.JSON200
		}
		sites = append(sites, *site)
	}
	return sites, nil
}
