package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/edgemec/edgemec/meo/mm1api"
)

// newPackageCommand is `mecctl package`: Mm1 application package management (ETSI GS MEC
// 010-2 /app_pkgm/v1) on the MEO.
func newPackageCommand(o *Options) *cobra.Command {
	c := &cobra.Command{
		Use:     "package",
		Aliases: []string{"packages", "pkg"},
		Short:   "Onboard and manage app packages on the MEO (Mm1 app_pkgm)",
	}
	c.AddCommand(newPackageListCommand(o), newPackageGetCommand(o), newPackageOnboardCommand(o),
		newPackageStateCommand(o, "enable", mm1api.OperationalState("ENABLED")),
		newPackageStateCommand(o, "disable", mm1api.OperationalState("DISABLED")),
		newPackageDeleteCommand(o))
	return c
}

func packageView(pkgs []mm1api.AppPkgInfo, list bool) View {
	v := View{Kind: "package", List: list, Columns: []Column{
		{Header: "ID"}, {Header: "NAME"}, {Header: "VERSION"}, {Header: "APPD"}, {Header: "ONBOARDING"},
		{Header: "OPERATIONAL"}, {Header: "USAGE"},
		{Header: "PROVIDER", Wide: true}, {Header: "APP NAME", Wide: true}, {Header: "APPD VERSION", Wide: true},
		{Header: "SOFTWARE VERSION", Wide: true}, {Header: "IMAGES", Wide: true},
	}}
	for _, p := range pkgs {
		var images []string
		for _, im := range deref(p.SoftwareImages) {
			images = append(images, strOr(im.SwImage, im.Name))
		}
		v.Rows = append(v.Rows, []string{p.Id, str(p.AppPkgName), str(p.AppPkgVersion), str(p.AppDId),
			string(p.OnboardingState), string(p.OperationalState), string(p.UsageState),
			str(p.AppProvider), str(p.AppName), str(p.AppDVersion), str(p.AppSoftwareVersion), strings.Join(images, ",")})
		v.Names = append(v.Names, p.Id)
	}
	if list {
		v.Object = nonNil(pkgs)
	} else if len(pkgs) == 1 {
		v.Object = pkgs[0]
	}
	return v
}

func newPackageListCommand(o *Options) *cobra.Command {
	var filter string
	c := &cobra.Command{
		Use:   "list",
		Short: "List app packages",
		Example: `  mecctl package list
  mecctl package list --filter '(eq,operationalState,ENABLED)' -o wide`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pkgs, err := o.listPackages(cmd.Context(), filter)
			if err != nil {
				return err
			}
			return o.printer().print(packageView(pkgs, true))
		},
	}
	c.Flags().StringVar(&filter, "filter", "", "ETSI GS MEC 009 attribute filter, e.g. (eq,operationalState,ENABLED)")
	return c
}

var nextMarkerRE = regexp.MustCompile(`<([^>]*)>\s*;\s*rel="?next"?`)

// listPackages follows the Link rel="next" pages to the end.
func (o *Options) listPackages(ctx context.Context, filter string) ([]mm1api.AppPkgInfo, error) {
	c, t, err := o.mm1()
	if err != nil {
		return nil, err
	}
	return listPages("list packages", func(marker *string) ([]mm1api.AppPkgInfo, string, error) {
		params := &mm1api.ListAppPkgsParams{NextpageOpaqueMarker: marker}
		if filter != "" {
			params.Filter = &filter
		}
		if o.Output == FormatWide {
			all := mm1api.AllFields("true") // the software images, which a list leaves out by default
			params.AllFields = &all
		}
		r, err := c.ListAppPkgsWithResponse(ctx, params)
		if err := t.check("list packages", r, err); err != nil {
			return nil, "", err
		}
		return deref(r.JSON200), r.HTTPResponse.Header.Get("Link"), nil
	})
}

func newPackageGetCommand(o *Options) *cobra.Command {
	return &cobra.Command{
		Use:   "get ID|APPDID...",
		Short: "Show app packages by package id or by the appDId of an onboarded package",
		Example: `  mecctl package get 5f0c…
  mecctl package get mecapp -o yaml`,
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: o.completePackages,
		RunE: func(cmd *cobra.Command, args []string) error {
			var pkgs []mm1api.AppPkgInfo
			for _, id := range args {
				p, err := o.getPackage(cmd.Context(), id)
				if err != nil {
					return err
				}
				pkgs = append(pkgs, *p)
			}
			return o.printer().print(packageView(pkgs, len(args) > 1))
		},
	}
}

// getPackage gets a package by id, or else the onboarded package of that appDId.
func (o *Options) getPackage(ctx context.Context, id string) (*mm1api.AppPkgInfo, error) {
	c, t, err := o.mm1()
	if err != nil {
		return nil, err
	}
	r, err := c.GetAppPkgWithResponse(ctx, id)
	err = t.check("get package "+id, r, err)
	if err == nil {
		return r.JSON200, nil
	}
	if ExitCode(err) != ExitNotFound {
		return nil, err
	}
	r2, err2 := c.GetOnboardedAppPkgWithResponse(ctx, id)
	if err2 = t.check("get package "+id, r2, err2); err2 != nil {
		return nil, err // the first 404 names the package id
	}
	return r2.JSON200, nil
}

func (o *Options) completePackages(cmd *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
	if err := o.complete(cmd); err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	pkgs, err := o.listPackages(cmd.Context(), "")
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var out []string
	for _, p := range pkgs {
		out = append(out, p.Id+"\t"+str(p.AppDId))
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

type onboardFlags struct {
	file, url, checksum, name, version, provider string
	wait                                         waitOptions
	doWait                                       bool
}

func newPackageOnboardCommand(o *Options) *cobra.Command {
	var f onboardFlags
	c := &cobra.Command{
		Use:   "onboard (-f PKG.zip | --url URL --checksum SHA256)",
		Short: "Onboard an app package from a zip file or from a URL the MEO fetches",
		Long: `Onboard an app package: create it on the MEO, then upload the zip (-f, '-' for stdin) or
let the MEO fetch it from --url. With --wait, follow onboarding until ONBOARDED or ERROR.`,
		Example: `  mecctl package onboard -f mecapp.zip --wait
  mecctl package onboard --url https://repo.example/mecapp.zip --checksum 3f…a1 --name mecapp --wait --timeout 10m`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := o.onboard(cmd.Context(), f)
			if err != nil {
				return err
			}
			return o.printer().print(packageView([]mm1api.AppPkgInfo{*p}, false))
		},
	}
	fs := c.Flags()
	fs.StringVarP(&f.file, "filename", "f", "", "package zip to upload ('-' reads stdin)")
	fs.StringVar(&f.url, "url", "", "http(s) URL of the package zip, fetched by the MEO (appPkgPath)")
	fs.StringVar(&f.checksum, "checksum", "", "SHA-256 of the zip in hexadecimal (required with --url; computed for -f)")
	fs.StringVar(&f.name, "name", "", "appPkgName (empty: the file or URL base name without .zip)")
	fs.StringVar(&f.version, "pkg-version", "1.0", "appPkgVersion")
	fs.StringVar(&f.provider, "provider", "", "appProvider (empty: none)")
	fs.BoolVar(&f.doWait, "wait", false, "follow onboarding until ONBOARDED or ERROR")
	fs.DurationVar(&f.wait.Timeout, "timeout", 5*time.Minute, "time limit of --wait")
	return c
}

func (o *Options) onboard(ctx context.Context, f onboardFlags) (*mm1api.AppPkgInfo, error) {
	if (f.file == "") == (f.url == "") {
		return nil, usageErrorf("give the package with either -f FILE or --url URL")
	}
	var content []byte
	source := f.url
	if f.file != "" {
		var err error
		if content, err = readInput(f.file, o.streams.In); err != nil {
			return nil, err
		}
		if len(content) == 0 {
			return nil, usageErrorf("package %s is empty", f.file)
		}
		sum := sha256.Sum256(content)
		if f.checksum != "" && !strings.EqualFold(f.checksum, hex.EncodeToString(sum[:])) {
			return nil, usageErrorf("--checksum %s does not match %s (sha256 %x)", f.checksum, f.file, sum)
		}
		f.checksum = hex.EncodeToString(sum[:])
		source = f.file
	} else if f.checksum == "" {
		return nil, usageErrorf("--url needs --checksum (the SHA-256 of the zip)")
	}
	if f.name == "" {
		if source == "-" {
			return nil, usageErrorf("a package read from stdin needs --name")
		}
		f.name = strings.TrimSuffix(filepath.Base(strings.TrimRight(source, "/")), ".zip")
	}
	c, t, err := o.mm1()
	if err != nil {
		return nil, err
	}
	body := mm1api.CreateAppPkg{AppPkgName: f.name, AppPkgVersion: f.version,
		Checksum: mm1api.Checksum{Algorithm: "SHA-256", Hash: f.checksum}}
	if f.url != "" {
		body.AppPkgPath = &f.url
	}
	if f.provider != "" {
		body.AppProvider = &f.provider
	}
	r, err := c.CreateAppPkgWithResponse(ctx, body)
	if err := t.check("create package "+f.name, r, err); err != nil {
		return nil, err
	}
	info := r.JSON201
	if info == nil {
		return nil, fmt.Errorf("create package %s: answer %d without a package", f.name, r.StatusCode())
	}
	id := info.Id
	progress := func(state string) { fmt.Fprintf(o.streams.ErrOut, "package/%s %s\n", id, state) }
	if f.doWait {
		progress("CREATED")
	}
	if content != nil {
		u, err := c.UploadAppPkgContentWithBodyWithResponse(ctx, id, "application/zip", bytes.NewReader(content))
		if err := t.check("upload package "+id, u, err); err != nil {
			return nil, err
		}
	}
	if !f.doWait {
		p, err := o.getPackage(ctx, id)
		if err != nil {
			return nil, err
		}
		return p, nil
	}
	var last *mm1api.AppPkgInfo
	err = waitFor(ctx, f.wait, "package "+id+" to onboard", func(ctx context.Context) (string, bool, error) {
		g, err := c.GetAppPkgWithResponse(ctx, id)
		if err := t.check("get package "+id, g, err); err != nil {
			return "", false, err
		}
		last = g.JSON200
		switch last.OnboardingState {
		case "ONBOARDED":
			return "ONBOARDED", true, nil
		case "ERROR":
			fe := &FailedError{What: "onboarding of package " + id, State: "ERROR"}
			if d := last.OnboardingFailureDetails; d != nil {
				fe.Problem = &Problem{Title: str(d.Title), Detail: str(d.Detail), Status: intOr(d.Status)}
			}
			return "ERROR", true, fe
		}
		return string(last.OnboardingState), false, nil
	}, func(state string) {
		if state != "CREATED" {
			progress(state)
		}
	})
	if err != nil {
		return nil, err
	}
	return last, nil
}

func newPackageStateCommand(o *Options, verb string, state mm1api.OperationalState) *cobra.Command {
	return &cobra.Command{
		Use:               verb + " ID|APPDID...",
		Short:             strings.ToUpper(verb[:1]) + verb[1:] + " app packages (operationalState " + string(state) + ")",
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: o.completePackages,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, t, err := o.mm1()
			if err != nil {
				return err
			}
			var pkgs []mm1api.AppPkgInfo
			for _, arg := range args {
				p, err := o.getPackage(cmd.Context(), arg)
				if err != nil {
					return err
				}
				if p.OperationalState == state {
					pkgs = append(pkgs, *p) // already: nothing to change, as a script expects
					continue
				}
				st := state
				r, err := c.PatchAppPkgWithResponse(cmd.Context(), p.Id, mm1api.AppPkgInfoModifications{OperationalState: &st})
				if err := t.check(verb+" package "+p.Id, r, err); err != nil {
					return err
				}
				p.OperationalState = state
				pkgs = append(pkgs, *p)
			}
			return o.printer().print(packageView(pkgs, len(args) > 1))
		},
	}
}

func newPackageDeleteCommand(o *Options) *cobra.Command {
	return &cobra.Command{
		Use:               "delete ID|APPDID...",
		Short:             "Delete app packages (disabled and not in use)",
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: o.completePackages,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, t, err := o.mm1()
			if err != nil {
				return err
			}
			var ids []string
			for _, arg := range args {
				p, err := o.getPackage(cmd.Context(), arg)
				if err != nil {
					return err
				}
				r, err := c.DeleteAppPkgWithResponse(cmd.Context(), p.Id)
				if err := t.check("delete package "+p.Id, r, err); err != nil {
					return err
				}
				ids = append(ids, p.Id)
			}
			return o.printer().print(resultView("package", ids, "deleted", len(args) > 1))
		},
	}
}

// Result is what json and yaml show of a change that leaves no object to show (delete).
type Result struct {
	Kind   string `json:"kind"`
	ID     string `json:"id"`
	Result string `json:"result"`
}

func resultView(kind string, ids []string, result string, list bool) View {
	v := View{Kind: kind, Columns: []Column{{Header: strings.ToUpper(kind)}, {Header: "RESULT"}}}
	var objs []Result
	for _, id := range ids {
		v.Rows = append(v.Rows, []string{kind + "/" + id, result})
		v.Names = append(v.Names, id)
		objs = append(objs, Result{Kind: kind, ID: id, Result: result})
	}
	if list {
		v.Object = objs
	} else {
		v.Object = objs[0]
	}
	return v
}

func deref[S ~[]T, T any](p *S) S {
	if p == nil {
		return nil
	}
	return *p
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func strOr(p *string, d string) string {
	if p == nil || *p == "" {
		return d
	}
	return *p
}

func intOr(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}
