package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/edgemec/edgemec/meo/meoapi"
)

// A site's 5G data (/inventory/v1/sites/{siteId}/fiveG): `site fiveg set SITE -f FILE` gives
// or replaces it as a whole, `site fiveg remove SITE...` removes it. The MEO moves the
// traffic influence subscriptions of the site's app instances with it.

func newSiteFiveGCommand(o *Options) *cobra.Command {
	c := &cobra.Command{
		Use:   "fiveg",
		Short: "Give, replace or remove a site's 5G data (DNAIs, DNN, S-NSSAI, NEF)",
		Args:  cobra.NoArgs,
	}
	c.AddCommand(newSiteFiveGSetCommand(o), newSiteFiveGRemoveCommand(o))
	return c
}

func newSiteFiveGSetCommand(o *Options) *cobra.Command {
	var file string
	strict := true
	c := &cobra.Command{
		Use:   "set SITE -f FILE",
		Short: "Give a site 5G data, or replace its 5G data as a whole, from a YAML or JSON FiveGSpec",
		Long: `Give a site 5G data, or replace its 5G data as a whole (credentials included), from a
YAML or JSON FiveGSpec: dnais, dnn, snssai (sst, sd) and nef (apiRoot, afId, and a token or
oauth2 tokenUrl, clientId, clientSecret). The traffic influence subscriptions of the site's
app instances follow: new DNAIs are patched into them; a new NEF, AF id, DNN or S-NSSAI
moves them to the new NEF. The credentials are never shown again.`,
		Example: `  mecctl site fiveg set edge-1 -f edge-1-5g.yaml`,
		Args:    cobra.ExactArgs(1),
		ValidArgsFunction: func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
			if len(args) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			return o.completeSites(cmd, args, toComplete)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if file == "" {
				return usageErrorf("give the 5G data with -f FILE ('-' reads stdin)")
			}
			var spec meoapi.FiveGSpec
			body, err := o.readSpec(file, &spec, strict)
			if err != nil {
				return err
			}
			c, t, err := o.meoapi()
			if err != nil {
				return err
			}
			id := args[0]
			r, err := c.ReplaceSiteFiveGWithBodyWithResponse(cmd.Context(), id, "application/json", strings.NewReader(string(body)))
			if err := t.check("set 5G data of site "+id, r, err); err != nil {
				return err
			}
			if r.JSON200 == nil {
				return fmt.Errorf("set 5G data of site %s: answer %d without a site", id, r.StatusCode())
			}
			return o.printer().print(sitesView([]meoapi.Site{*r.JSON200}, false))
		},
	}
	c.Flags().StringVarP(&file, "filename", "f", "", "FiveGSpec file, YAML or JSON ('-' reads stdin)")
	c.Flags().BoolVar(&strict, "strict", true, "an unknown field is an error (false: a warning)")
	return c
}

func newSiteFiveGRemoveCommand(o *Options) *cobra.Command {
	return &cobra.Command{
		Use:               "remove SITE...",
		Short:             "Remove sites' 5G data; their app instances' traffic influence subscriptions are deleted",
		Example:           `  mecctl site fiveg remove edge-1`,
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: o.completeSites,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, t, err := o.meoapi()
			if err != nil {
				return err
			}
			for _, id := range args {
				r, err := c.RemoveSiteFiveGWithResponse(cmd.Context(), id)
				if err := t.check("remove 5G data of site "+id, r, err); err != nil {
					return err
				}
			}
			return o.printer().print(resultView("site", args, "5G data removed", len(args) > 1))
		},
	}
}
