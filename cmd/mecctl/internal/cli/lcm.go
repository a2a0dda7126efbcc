package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/edgemec/edgemec/meo/mm1api"
)

// newAppCommand is `mecctl app`: Mm1 application lifecycle management (ETSI GS MEC 010-2
// /app_lcm/v1) on the MEO.
func newAppCommand(o *Options) *cobra.Command {
	c := &cobra.Command{
		Use:     "app",
		Aliases: []string{"apps"},
		Short:   "Create, instantiate, operate and terminate app instances on the MEO (Mm1 app_lcm)",
	}
	c.AddCommand(newAppListCommand(o), newAppGetCommand(o), newAppCreateCommand(o), newAppInstantiateCommand(o),
		newAppOperateCommand(o), newAppTerminateCommand(o), newAppDeleteCommand(o))
	return c
}

// newOpOccCommand is `mecctl opocc`: the app LCM operation occurrences on the MEO.
func newOpOccCommand(o *Options) *cobra.Command {
	c := &cobra.Command{
		Use:     "opocc",
		Aliases: []string{"opoccs", "op"},
		Short:   "Show and act on app LCM operation occurrences (retry, fail, cancel)",
	}
	c.AddCommand(newOpOccListCommand(o), newOpOccGetCommand(o),
		newOpOccActionCommand(o, "retry", "Retry a FAILED_TEMP operation occurrence"),
		newOpOccActionCommand(o, "fail", "Mark a FAILED_TEMP operation occurrence FAILED for good"),
		newOpOccActionCommand(o, "cancel", "Cancel an operation occurrence in progress or FAILED_TEMP"))
	return c
}

func hostID(h *mm1api.MECHostInformation) string {
	if h == nil || h.HostId == nil {
		return ""
	}
	if s, ok := h.HostId.(string); ok {
		return s
	}
	return fmt.Sprint(h.HostId)
}

func appView(apps []mm1api.AppInstanceInfo, list bool) View {
	v := View{Kind: "app", List: list, Columns: []Column{
		{Header: "ID"}, {Header: "NAME"}, {Header: "APPD"}, {Header: "STATE"}, {Header: "SITE"},
		{Header: "APP NAME", Wide: true}, {Header: "PROVIDER", Wide: true}, {Header: "VERSION", Wide: true},
		{Header: "PACKAGE", Wide: true}, {Header: "PHASE", Wide: true}, {Header: "STEERING", Wide: true},
	}}
	for _, a := range apps {
		state := string(a.InstantiationState)
		if a.InstantiatedAppState != nil {
			state += "/" + string(a.InstantiatedAppState.OperationalState)
		}
		phase := ""
		if a.ObservedState != nil {
			phase = str(a.ObservedState.Phase)
		}
		v.Rows = append(v.Rows, []string{a.Id, str(a.AppInstanceName), a.AppDId, state, hostID(a.MecHostInformation),
			a.AppName, a.AppProvider, a.AppDVersion, a.AppPkgId, phase, steering(a.TrafficSteering)})
		v.Names = append(v.Names, a.Id)
	}
	if list {
		v.Object = nonNil(apps)
	} else if len(apps) == 1 {
		v.Object = apps[0]
	}
	return v
}

// steering sums up an instance's traffic steering through the 5G core: its state, the DNAIs
// its traffic is routed to, and how many UEs the NEF reported leaving at a DNAI, e.g.
// "ACTIVE dnai-1 ues=2".
func steering(s *mm1api.TrafficSteering) string {
	if s == nil {
		return ""
	}
	out := string(s.State)
	if s.Dnais != nil && len(*s.Dnais) > 0 {
		out += " " + strings.Join(*s.Dnais, ",")
	}
	if s.Ues != nil && len(*s.Ues) > 0 {
		out += fmt.Sprintf(" ues=%d", len(*s.Ues))
	}
	return out
}

func stampTime(t mm1api.TimeStamp) time.Time {
	return time.Unix(t.Seconds, int64(t.NanoSeconds)).UTC()
}

// age is the kubectl-style age of a time: 42s, 5m, 3h, 2d.
func age(t time.Time, now time.Time) string {
	d := now.Sub(t)
	switch {
	case d < 0:
		return "0s"
	case d < 2*time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < 2*time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

func opOccView(ops []mm1api.AppInstanceLcmOpOcc, list bool, now time.Time) View {
	v := View{Kind: "opocc", List: list, Columns: []Column{
		{Header: "ID"}, {Header: "OPERATION"}, {Header: "STATE"}, {Header: "INSTANCE"}, {Header: "SITE"}, {Header: "AGE"},
		{Header: "STARTED", Wide: true}, {Header: "STATE ENTERED", Wide: true}, {Header: "ATTEMPTS", Wide: true},
		{Header: "ERROR", Wide: true},
	}}
	for _, op := range ops {
		errText := ""
		if op.Error != nil {
			errText = strOr(op.Error.Detail, str(op.Error.Title))
		}
		attempts := ""
		if op.Attempts != nil {
			attempts = fmt.Sprint(*op.Attempts)
		}
		start := stampTime(op.StartTime)
		v.Rows = append(v.Rows, []string{op.Id, string(op.LcmOperation), string(op.OperationState), str(op.AppInstanceId),
			str(op.SiteId), age(start, now), start.Format(time.RFC3339), stampTime(op.StateEnteredTime).Format(time.RFC3339),
			attempts, errText})
		v.Names = append(v.Names, op.Id)
	}
	if list {
		v.Object = nonNil(ops)
	} else if len(ops) == 1 {
		v.Object = ops[0]
	}
	return v
}

// listPages follows a list's Link rel="next" pages to the end.
func listPages[T any](what string, get func(marker *string) ([]T, string, error)) ([]T, error) {
	var out []T
	var marker *string
	for range 10000 {
		page, link, err := get(marker)
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		m := nextMarkerRE.FindStringSubmatch(link)
		if m == nil {
			return out, nil
		}
		u, err := url.Parse(m[1])
		if err != nil {
			return nil, fmt.Errorf("%s: next page link %q: %w", what, m[1], err)
		}
		next := u.Query().Get("nextpage_opaque_marker")
		if next == "" {
			return out, nil
		}
		marker = &next
	}
	return nil, fmt.Errorf("%s: too many pages", what)
}

func (o *Options) listApps(ctx context.Context, filter string) ([]mm1api.AppInstanceInfo, error) {
	c, t, err := o.mm1()
	if err != nil {
		return nil, err
	}
	return listPages("list app instances", func(marker *string) ([]mm1api.AppInstanceInfo, string, error) {
		params := &mm1api.ListAppInstancesParams{NextpageOpaqueMarker: marker}
		if filter != "" {
			params.Filter = &filter
		}
		r, err := c.ListAppInstancesWithResponse(ctx, params)
		if err := t.check("list app instances", r, err); err != nil {
			return nil, "", err
		}
		return deref(r.JSON200), r.HTTPResponse.Header.Get("Link"), nil
	})
}

func (o *Options) listOpOccs(ctx context.Context, filter string, all bool) ([]mm1api.AppInstanceLcmOpOcc, error) {
	c, t, err := o.mm1()
	if err != nil {
		return nil, err
	}
	return listPages("list op occurrences", func(marker *string) ([]mm1api.AppInstanceLcmOpOcc, string, error) {
		params := &mm1api.ListAppLcmOpOccsParams{NextpageOpaqueMarker: marker}
		if filter != "" {
			params.Filter = &filter
		}
		if all {
			a := mm1api.AllFields("true")
			params.AllFields = &a
		}
		r, err := c.ListAppLcmOpOccsWithResponse(ctx, params)
		if err := t.check("list op occurrences", r, err); err != nil {
			return nil, "", err
		}
		return deref(r.JSON200), r.HTTPResponse.Header.Get("Link"), nil
	})
}

func (o *Options) getApp(ctx context.Context, id string) (*mm1api.AppInstanceInfo, error) {
	c, t, err := o.mm1()
	if err != nil {
		return nil, err
	}
	r, err := c.GetAppInstanceWithResponse(ctx, id)
	if err := t.check("get app instance "+id, r, err); err != nil {
		return nil, err
	}
	return r.JSON200, nil
}

func (o *Options) getOpOcc(ctx context.Context, id string) (*mm1api.AppInstanceLcmOpOcc, error) {
	c, t, err := o.mm1()
	if err != nil {
		return nil, err
	}
	r, err := c.GetAppLcmOpOccWithResponse(ctx, id)
	if err := t.check("get op occurrence "+id, r, err); err != nil {
		return nil, err
	}
	return r.JSON200, nil
}

func (o *Options) completeApps(cmd *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
	if err := o.complete(cmd); err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	apps, err := o.listApps(cmd.Context(), "")
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var out []string
	for _, a := range apps {
		out = append(out, a.Id+"\t"+strOr(a.AppInstanceName, a.AppDId))
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

func newAppListCommand(o *Options) *cobra.Command {
	var filter string
	c := &cobra.Command{
		Use:   "list",
		Short: "List app instances",
		Example: `  mecctl app list
  mecctl app list --filter '(eq,instantiationState,INSTANTIATED)' -o wide`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			apps, err := o.listApps(cmd.Context(), filter)
			if err != nil {
				return err
			}
			return o.printer().print(appView(apps, true))
		},
	}
	c.Flags().StringVar(&filter, "filter", "", "ETSI GS MEC 009 attribute filter, e.g. (eq,appDId,mecapp)")
	return c
}

func newAppGetCommand(o *Options) *cobra.Command {
	return &cobra.Command{
		Use:               "get ID...",
		Short:             "Show app instances",
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: o.completeApps,
		RunE: func(cmd *cobra.Command, args []string) error {
			var apps []mm1api.AppInstanceInfo
			for _, id := range args {
				a, err := o.getApp(cmd.Context(), id)
				if err != nil {
					return err
				}
				apps = append(apps, *a)
			}
			return o.printer().print(appView(apps, len(args) > 1))
		},
	}
}

func newAppCreateCommand(o *Options) *cobra.Command {
	var appDId, name, description, file string
	var strict bool
	c := &cobra.Command{
		Use:   "create (--appd-id ID [--name N] | -f request.yaml)",
		Short: "Create an app instance (NOT_INSTANTIATED) of an onboarded, enabled package",
		Example: `  mecctl app create --appd-id mecapp --name mecapp-1
  mecctl app create -f create.yaml -o name`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var req mm1api.CreateAppInstanceRequest
			doc := map[string]any{}
			if file != "" {
				body, err := o.readSpec(file, &req, strict)
				if err != nil {
					return err
				}
				if err := json.Unmarshal(body, &doc); err != nil {
					return usageErrorf("%s: %v", file, err)
				}
			}
			if appDId != "" {
				doc["appDId"] = appDId
			}
			if name != "" {
				doc["appInstanceName"] = name
			}
			if description != "" {
				doc["appInstanceDescription"] = description
			}
			if s, _ := doc["appDId"].(string); s == "" {
				return usageErrorf("give the app with --appd-id ID (or appDId in -f FILE)")
			}
			body, err := json.Marshal(doc)
			if err != nil {
				return fmt.Errorf("create app instance: %w", err)
			}
			c, t, err := o.mm1()
			if err != nil {
				return err
			}
			r, err := c.CreateAppInstanceWithBodyWithResponse(cmd.Context(), "application/json", strings.NewReader(string(body)))
			if err := t.check("create app instance of "+fmt.Sprint(doc["appDId"]), r, err); err != nil {
				return err
			}
			if r.JSON201 == nil {
				return fmt.Errorf("create app instance: answer %d without an instance", r.StatusCode())
			}
			return o.printer().print(appView([]mm1api.AppInstanceInfo{*r.JSON201}, false))
		},
	}
	fs := c.Flags()
	fs.StringVar(&appDId, "appd-id", "", "appDId of the onboarded package")
	fs.StringVar(&name, "name", "", "appInstanceName")
	fs.StringVar(&description, "description", "", "appInstanceDescription")
	fs.StringVarP(&file, "filename", "f", "", "CreateAppInstanceRequest file, YAML or JSON ('-' reads stdin); flags override it")
	fs.BoolVar(&strict, "strict", true, "an unknown field is an error (false: a warning)")
	return c
}

// followFlags are the flags of a command that starts an LCM operation.
type followFlags struct {
	wait, watch bool
	w           waitOptions
}

func (f *followFlags) add(c *cobra.Command, what string) {
	c.Flags().BoolVar(&f.wait, "wait", false, "follow the op occurrence until COMPLETED (exit 0) or FAILED/FAILED_TEMP (exit 4) "+what)
	c.Flags().BoolVar(&f.watch, "watch", false, "as --wait, printing each state change and the placement")
	c.Flags().DurationVar(&f.w.Timeout, "timeout", 10*time.Minute, "time limit of --wait and --watch (exit 6)")
}

// placementInfo is what the CLI reads of an op occurrence's placement decision.
type placementInfo struct {
	Chosen *struct {
		SiteID   string `json:"siteId"`
		SiteName string `json:"siteName"`
	} `json:"chosen"`
	Rejected []struct {
		SiteID   string `json:"siteId"`
		SiteName string `json:"siteName"`
		Code     string `json:"code"`
		Reason   string `json:"reason"`
	} `json:"rejected"`
	UnknownPinned []string `json:"unknownPinned"`
}

func readPlacement(op *mm1api.AppInstanceLcmOpOcc) *placementInfo {
	if op == nil || op.Placement == nil {
		return nil
	}
	b, err := json.Marshal(op.Placement)
	if err != nil {
		return nil
	}
	var p placementInfo
	if json.Unmarshal(b, &p) != nil {
		return nil
	}
	return &p
}

// printPlacement writes the chosen site and the rejected ones with their reasons.
func (o *Options) printPlacement(op *mm1api.AppInstanceLcmOpOcc) {
	if op == nil || op.LcmOperation != "INSTANTIATE" {
		return
	}
	w := o.streams.ErrOut
	p := readPlacement(op)
	if p == nil {
		if op.SiteId != nil {
			fmt.Fprintf(w, "placement: site %s\n", *op.SiteId)
		} else {
			fmt.Fprintln(w, "placement: no site chosen")
		}
		return
	}
	if p.Chosen != nil {
		fmt.Fprintf(w, "placement: site %s\n", p.Chosen.SiteID)
	} else {
		fmt.Fprintln(w, "placement: no site chosen")
	}
	for _, r := range p.Rejected {
		fmt.Fprintf(w, "  rejected %s: %s (%s)\n", r.SiteID, r.Reason, r.Code)
	}
	for _, id := range p.UnknownPinned {
		fmt.Fprintf(w, "  unknown site %s\n", id)
	}
}

// opOccID is the op occurrence a 202's Location names.
func opOccID(location string) string {
	if location == "" {
		return ""
	}
	if u, err := url.Parse(location); err == nil {
		location = u.Path
	}
	return path.Base(strings.TrimRight(location, "/"))
}

// started prints or follows the op occurrence an LCM request started (its 202's Location).
func (o *Options) started(ctx context.Context, op, location string, f followFlags) error {
	id := opOccID(location)
	if id == "" {
		return fmt.Errorf("%s: the answer names no op occurrence (no Location)", op)
	}
	if !f.wait && !f.watch {
		occ, err := o.getOpOcc(ctx, id)
		if err != nil {
			return err
		}
		return o.printer().print(opOccView([]mm1api.AppInstanceLcmOpOcc{*occ}, false, time.Now()))
	}
	occ, err := o.followOpOcc(ctx, id, f)
	if occ != nil && (f.watch || err != nil) {
		o.printPlacement(occ)
	}
	if err != nil {
		return err
	}
	return o.printer().print(opOccView([]mm1api.AppInstanceLcmOpOcc{*occ}, false, time.Now()))
}

// followOpOcc polls op occurrence id with waitFor until it is COMPLETED, FAILED or
// FAILED_TEMP (a *FailedError with the occurrence's error, exit 4) or ROLLED_BACK.
func (o *Options) followOpOcc(ctx context.Context, id string, f followFlags) (*mm1api.AppInstanceLcmOpOcc, error) {
	c, t, err := o.mm1()
	if err != nil {
		return nil, err
	}
	var last *mm1api.AppInstanceLcmOpOcc
	var progress func(string)
	if f.watch {
		progress = func(state string) { fmt.Fprintf(o.streams.ErrOut, "opocc/%s %s\n", id, state) }
	}
	err = waitFor(ctx, f.w, "op occurrence "+id, func(ctx context.Context) (string, bool, error) {
		r, err := c.GetAppLcmOpOccWithResponse(ctx, id)
		if err := t.check("get op occurrence "+id, r, err); err != nil {
			return "", false, err
		}
		last = r.JSON200
		state := string(last.OperationState)
		switch state {
		case "COMPLETED":
			return state, true, nil
		case "FAILED", "FAILED_TEMP", "ROLLED_BACK":
			fe := &FailedError{What: string(last.LcmOperation) + " op occurrence " + id, State: state}
			if e := last.Error; e != nil {
				fe.Problem = &Problem{Type: str(e.Type), Title: str(e.Title), Detail: str(e.Detail), Status: intOr(e.Status)}
			}
			return state, true, fe
		}
		return state, false, nil
	}, progress)
	var fe *FailedError
	if progress != nil && errors.As(err, &fe) {
		progress(fe.State) // waitFor stops at the error before reporting the final state
	}
	return last, err
}

func newAppInstantiateCommand(o *Options) *cobra.Command {
	var sites []string
	var tac, country, file string
	var strict bool
	var f followFlags
	c := &cobra.Command{
		Use:   "instantiate ID [--site S ...] [--tac T] [--country CC] [-f request.yaml]",
		Short: "Instantiate an app instance: the MEO places it on a site and deploys it",
		Long: `Instantiate an app instance. Without --site the MEO places it on the best site that serves
the area (--tac, or locationConstraints in -f) and has room; --site pins it to one of the sites
named. The answer is the op occurrence; --wait follows it to COMPLETED or FAILED (exit 4, with
the error and the rejected sites), --watch also prints each state and the placement.`,
		Example: `  mecctl app instantiate 5f0c… --tac 00a1 --wait
  mecctl app instantiate 5f0c… --site edge-1 --watch --timeout 5m
  mecctl app instantiate 5f0c… -f instantiate.yaml`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: o.completeApps,
		RunE: func(cmd *cobra.Command, args []string) error {
			doc := map[string]any{}
			if file != "" {
				var req mm1api.InstantiateAppRequest
				body, err := o.readSpec(file, &req, strict)
				if err != nil {
					return err
				}
				if err := json.Unmarshal(body, &doc); err != nil {
					return usageErrorf("%s: %v", file, err)
				}
			}
			if len(sites) > 0 {
				var hosts []map[string]any
				for _, s := range sites {
					hosts = append(hosts, map[string]any{"hostId": s})
				}
				doc["selectedMECHostInfo"] = hosts
			}
			if tac != "" || country != "" {
				lc, _ := doc["locationConstraints"].(map[string]any)
				if lc == nil {
					lc = map[string]any{}
				}
				if tac != "" {
					lc["area"] = map[string]any{"tac": tac}
				}
				if country != "" {
					lc["countryCode"] = country
				}
				doc["locationConstraints"] = lc
			}
			body, err := json.Marshal(doc)
			if err != nil {
				return fmt.Errorf("instantiate app instance: %w", err)
			}
			c, t, err := o.mm1()
			if err != nil {
				return err
			}
			op := "instantiate app instance " + args[0]
			r, err := c.InstantiateAppInstanceWithBodyWithResponse(cmd.Context(), args[0], "application/json", strings.NewReader(string(body)))
			if err := t.check(op, r, err); err != nil {
				return err
			}
			return o.started(cmd.Context(), op, r.HTTPResponse.Header.Get("Location"), f)
		},
	}
	fs := c.Flags()
	fs.StringSliceVar(&sites, "site", nil, "pin to these sites (selectedMECHostInfo; repeatable)")
	fs.StringVar(&tac, "tac", "", "tracking area code the users are in (locationConstraints.area.tac)")
	fs.StringVar(&country, "country", "", "country code (locationConstraints.countryCode)")
	fs.StringVarP(&file, "filename", "f", "", "InstantiateAppRequest file, YAML or JSON ('-' reads stdin); flags override it")
	fs.BoolVar(&strict, "strict", true, "an unknown field is an error (false: a warning)")
	f.add(c, "")
	return c
}

func newAppOperateCommand(o *Options) *cobra.Command {
	var state, stopType string
	var graceful time.Duration
	var f followFlags
	c := &cobra.Command{
		Use:               "operate ID --state STARTED|STOPPED [--stop-type FORCEFUL|GRACEFUL] [--graceful-timeout D]",
		Short:             "Start or stop an instantiated app instance",
		Example:           `  mecctl app operate 5f0c… --state STOPPED --stop-type GRACEFUL --graceful-timeout 30s --wait`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: o.completeApps,
		RunE: func(cmd *cobra.Command, args []string) error {
			state = strings.ToUpper(state)
			if state != "STARTED" && state != "STOPPED" {
				return usageErrorf("--state must be STARTED or STOPPED, not %q", state)
			}
			req := mm1api.OperateAppRequest{ChangeStateTo: mm1api.AppOperationalState(state)}
			if stopType != "" {
				st := mm1api.StopType(strings.ToUpper(stopType))
				req.StopType = &st
			}
			if graceful > 0 {
				s := int(graceful.Round(time.Second) / time.Second)
				req.GracefulStopTimeout = &s
			}
			c, t, err := o.mm1()
			if err != nil {
				return err
			}
			op := "operate app instance " + args[0]
			r, err := c.OperateAppInstanceWithResponse(cmd.Context(), args[0], req)
			if err := t.check(op, r, err); err != nil {
				return err
			}
			return o.started(cmd.Context(), op, r.HTTPResponse.Header.Get("Location"), f)
		},
	}
	c.Flags().StringVar(&state, "state", "", "STARTED or STOPPED (required)")
	c.Flags().StringVar(&stopType, "stop-type", "", "FORCEFUL or GRACEFUL (when stopping)")
	c.Flags().DurationVar(&graceful, "graceful-timeout", 0, "time a graceful stop may take")
	f.add(c, "")
	return c
}

func newAppTerminateCommand(o *Options) *cobra.Command {
	var forceful bool
	var graceful time.Duration
	var f followFlags
	c := &cobra.Command{
		Use:               "terminate ID [--forceful] [--graceful-timeout D]",
		Short:             "Terminate an app instance: remove it from its site (GRACEFUL unless --forceful)",
		Example:           `  mecctl app terminate 5f0c… --graceful-timeout 1m --wait`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: o.completeApps,
		RunE: func(cmd *cobra.Command, args []string) error {
			req := mm1api.TerminateAppRequest{TerminationType: "GRACEFUL"}
			if forceful {
				req.TerminationType = "FORCEFUL"
			}
			if graceful > 0 {
				s := int(graceful.Round(time.Second) / time.Second)
				req.GracefulTerminationTimeout = &s
			}
			c, t, err := o.mm1()
			if err != nil {
				return err
			}
			op := "terminate app instance " + args[0]
			r, err := c.TerminateAppInstanceWithResponse(cmd.Context(), args[0], req)
			if err := t.check(op, r, err); err != nil {
				return err
			}
			return o.started(cmd.Context(), op, r.HTTPResponse.Header.Get("Location"), f)
		},
	}
	c.Flags().BoolVar(&forceful, "forceful", false, "FORCEFUL termination (no graceful stop)")
	c.Flags().DurationVar(&graceful, "graceful-timeout", 0, "time a graceful termination may take")
	f.add(c, "")
	return c
}

func newAppDeleteCommand(o *Options) *cobra.Command {
	return &cobra.Command{
		Use:               "delete ID...",
		Short:             "Delete app instances (NOT_INSTANTIATED)",
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: o.completeApps,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, t, err := o.mm1()
			if err != nil {
				return err
			}
			for _, id := range args {
				r, err := c.DeleteAppInstanceWithResponse(cmd.Context(), id)
				if err := t.check("delete app instance "+id, r, err); err != nil {
					return err
				}
			}
			return o.printer().print(resultView("app", args, "deleted", len(args) > 1))
		},
	}
}

func newOpOccListCommand(o *Options) *cobra.Command {
	var filter, app string
	c := &cobra.Command{
		Use:   "list",
		Short: "List op occurrences",
		Example: `  mecctl opocc list
  mecctl opocc list --app 5f0c… -o wide
  mecctl opocc list --filter '(eq,operationState,FAILED_TEMP)'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if app != "" {
				f := "(eq,appInstanceId," + app + ")"
				if filter != "" {
					f = filter + ";" + f
				}
				filter = f
			}
			ops, err := o.listOpOccs(cmd.Context(), filter, o.Output == FormatWide)
			if err != nil {
				return err
			}
			return o.printer().print(opOccView(ops, true, time.Now()))
		},
	}
	c.Flags().StringVar(&filter, "filter", "", "ETSI GS MEC 009 attribute filter, e.g. (eq,operationState,FAILED)")
	c.Flags().StringVar(&app, "app", "", "only the op occurrences of this app instance")
	return c
}

func newOpOccGetCommand(o *Options) *cobra.Command {
	return &cobra.Command{
		Use:   "get ID...",
		Short: "Show op occurrences, with their error and placement (json, yaml)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var ops []mm1api.AppInstanceLcmOpOcc
			for _, id := range args {
				op, err := o.getOpOcc(cmd.Context(), id)
				if err != nil {
					return err
				}
				ops = append(ops, *op)
			}
			return o.printer().print(opOccView(ops, len(args) > 1, time.Now()))
		},
	}
}

func newOpOccActionCommand(o *Options, verb, short string) *cobra.Command {
	var mode string
	var f followFlags
	c := &cobra.Command{
		Use:   verb + " ID",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, t, err := o.mm1()
			if err != nil {
				return err
			}
			id := args[0]
			op := verb + " op occurrence " + id
			switch verb {
			case "fail":
				r, err := c.FailAppLcmOpOccWithResponse(cmd.Context(), id)
				if err := t.check(op, r, err); err != nil {
					return err
				}
				if r.JSON200 == nil {
					return fmt.Errorf("%s: answer %d without an op occurrence", op, r.StatusCode())
				}
				return o.printer().print(opOccView([]mm1api.AppInstanceLcmOpOcc{*r.JSON200}, false, time.Now()))
			case "retry":
				r, err := c.RetryAppLcmOpOccWithResponse(cmd.Context(), id)
				if err := t.check(op, r, err); err != nil {
					return err
				}
				return o.started(cmd.Context(), op, strOr(ptr(r.HTTPResponse.Header.Get("Location")), "/"+id), f)
			default:
				m := mm1api.CancelModeType(strings.ToUpper(mode))
				r, err := c.CancelAppLcmOpOccWithResponse(cmd.Context(), id, mm1api.CancelMode{CancelMode: m})
				if err := t.check(op, r, err); err != nil {
					return err
				}
				return o.started(cmd.Context(), op, strOr(ptr(r.HTTPResponse.Header.Get("Location")), "/"+id), f)
			}
		},
	}
	switch verb {
	case "cancel":
		c.Flags().StringVar(&mode, "mode", "GRACEFUL", "cancelMode: GRACEFUL or FORCEFUL")
		f.add(c, "after the cancel")
	case "retry":
		f.add(c, "")
	}
	return c
}

func ptr[T any](v T) *T { return &v }
