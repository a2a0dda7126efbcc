package cli

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
)

// newConfigCommand is `mecctl config`: the contexts of the config file.
func newConfigCommand(o *Options) *cobra.Command {
	c := &cobra.Command{
		Use:   "config",
		Short: "Manage the contexts of the config file (MEO, sites, credentials)",
		Long: `Manage the contexts of the config file: ~/.config/mecctl/config.yaml (or
$XDG_CONFIG_HOME/mecctl/config.yaml), or --config / $MECCTL_CONFIG.

A context names a MEO, the sites (each with its MEP and UPGW endpoints and optionally its own
token), a token or token file, a CA file and insecure-skip-verify. The file is written with
mode 0600.`,
		Example: `  mecctl config set-context lab --meo meo.lab:8443 --token-file ~/.mec/meo.token \
      --site edge-1=mep1.lab:8080 --site-upgw edge-1=10.0.0.5:8090 --site-token-file edge-1=~/.mec/mep1.token
  mecctl config use-context lab
  mecctl config get-contexts`,
	}
	c.AddCommand(newUseContextCommand(o), newGetContextsCommand(o), newSetContextCommand(o), newCurrentContextCommand(o),
		newDeleteContextCommand(o))
	return c
}

func (o *Options) completeContexts(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 || o.complete(cmd) != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	cfg, err := loadConfig(o.ConfigPath)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return cfg.names(), cobra.ShellCompDirectiveNoFileComp
}

func newUseContextCommand(o *Options) *cobra.Command {
	return &cobra.Command{
		Use:               "use-context NAME",
		Short:             "Make a context the current one",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: o.completeContexts,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadConfig(o.ConfigPath)
			if err != nil {
				return err
			}
			if _, ok := cfg.context(args[0]); !ok {
				return usageErrorf("context %q is not in %s (known: %s)", args[0], o.ConfigPath, strings.Join(cfg.names(), ", "))
			}
			cfg.CurrentContext = args[0]
			if err := cfg.save(o.ConfigPath); err != nil {
				return err
			}
			return o.printer().print(resultView("context", []string{args[0]}, "current", false))
		},
	}
}

func newCurrentContextCommand(o *Options) *cobra.Command {
	return &cobra.Command{
		Use:   "current-context",
		Short: "Show the current context's name",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(o.ConfigPath)
			if err != nil {
				return err
			}
			if cfg.CurrentContext == "" {
				return usageErrorf("no current context in %s (mecctl config use-context NAME)", o.ConfigPath)
			}
			x, _ := cfg.context(cfg.CurrentContext)
			return o.printer().print(contextsView(cfg.CurrentContext, []Context{*x}, false))
		},
	}
}

func newDeleteContextCommand(o *Options) *cobra.Command {
	return &cobra.Command{
		Use:               "delete-context NAME",
		Short:             "Delete a context",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: o.completeContexts,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadConfig(o.ConfigPath)
			if err != nil {
				return err
			}
			if _, ok := cfg.context(args[0]); !ok {
				return usageErrorf("context %q is not in %s", args[0], o.ConfigPath)
			}
			var keep []Context
			for _, x := range cfg.Contexts {
				if x.Name != args[0] {
					keep = append(keep, x)
				}
			}
			cfg.Contexts = keep
			if cfg.CurrentContext == args[0] {
				cfg.CurrentContext = ""
			}
			if err := cfg.save(o.ConfigPath); err != nil {
				return err
			}
			return o.printer().print(resultView("context", []string{args[0]}, "deleted", false))
		},
	}
}

// contextsView shows contexts; tokens are hidden unless --show-secrets (the json and yaml
// printer hides "token" members).
func contextsView(current string, xs []Context, list bool) View {
	v := View{Kind: "context", List: list, Columns: []Column{
		{Header: "CURRENT", Blank: true}, {Header: "NAME"}, {Header: "MEO"}, {Header: "SITES"},
		{Header: "TOKEN", Wide: true}, {Header: "CA FILE", Wide: true}, {Header: "INSECURE", Wide: true},
	}}
	for _, x := range xs {
		cur := ""
		if x.Name == current {
			cur = "*"
		}
		tok := ""
		switch {
		case x.TokenFile != "":
			tok = "file " + x.TokenFile
		case x.Token != "":
			tok = "inline"
		}
		v.Rows = append(v.Rows, []string{cur, x.Name, x.MEO, strings.Join(x.siteNames(), ","), tok, x.CAFile, strconv.FormatBool(x.InsecureSkipVerify)})
		v.Names = append(v.Names, x.Name)
	}
	if list {
		v.Object = nonNil(xs)
	} else if len(xs) == 1 {
		v.Object = xs[0]
	}
	return v
}

func newGetContextsCommand(o *Options) *cobra.Command {
	return &cobra.Command{
		Use:               "get-contexts [NAME...]",
		Short:             "List the contexts, or show some",
		ValidArgsFunction: o.completeContexts,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadConfig(o.ConfigPath)
			if err != nil {
				return err
			}
			if len(args) == 0 {
				return o.printer().print(contextsView(cfg.CurrentContext, cfg.Contexts, true))
			}
			var xs []Context
			for _, n := range args {
				x, ok := cfg.context(n)
				if !ok {
					return usageErrorf("context %q is not in %s", n, o.ConfigPath)
				}
				xs = append(xs, *x)
			}
			return o.printer().print(contextsView(cfg.CurrentContext, xs, len(args) > 1))
		},
	}
}

func newSetContextCommand(o *Options) *cobra.Command {
	var (
		sites, upgws, siteTokenFiles, removeSites []string
		current                                   bool
	)
	c := &cobra.Command{
		Use:   "set-context NAME",
		Short: "Create or change a context",
		Long: `Create a context, or change the settings given of an existing one. The global flags
--meo, --token, --token-file, --ca-file and --insecure-skip-verify given on this command line
set the context's values (an empty value clears one); --site, --site-upgw and
--site-token-file set a site's endpoints and token file.`,
		Example: `  mecctl config set-context lab --meo meo.lab:8443 --token-file ~/.mec/meo.token --site edge-1=mep1.lab:8080 --current
  mecctl config set-context lab --site-upgw edge-1=10.0.0.5:8090
  mecctl config set-context lab --remove-site edge-1`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadConfig(o.ConfigPath)
			if err != nil {
				return err
			}
			x, ok := cfg.context(args[0])
			if !ok {
				cfg.Contexts = append(cfg.Contexts, Context{Name: args[0]})
				x = &cfg.Contexts[len(cfg.Contexts)-1]
			}
			gf := cmd.Flags()
			changed := func(n string) bool { f := gf.Lookup(n); return f != nil && f.Changed }
			if changed("meo") {
				if x.MEO, err = optionalURL(o.MEO); err != nil {
					return &UsageError{Err: fmt.Errorf("--meo: %w", err)}
				}
			}
			if changed("token") {
				x.Token = o.Token
			}
			if changed("token-file") {
				x.TokenFile = o.TokenFile
			}
			if changed("ca-file") {
				x.CAFile = o.CAFile
			}
			if changed("insecure-skip-verify") {
				x.InsecureSkipVerify = o.Insecure
			}
			if changed("mep") || changed("upgw") {
				return usageErrorf("set a site's endpoints with --site NAME=URL and --site-upgw NAME=URL")
			}
			set := func(list []string, flag string, apply func(*Site, string) error) error {
				for _, kv := range list {
					name, val, ok := strings.Cut(kv, "=")
					if !ok || name == "" {
						return usageErrorf("--%s %q: want SITE=VALUE", flag, kv)
					}
					if x.Sites == nil {
						x.Sites = map[string]Site{}
					}
					s := x.Sites[name]
					if err := apply(&s, val); err != nil {
						return &UsageError{Err: fmt.Errorf("--%s %s: %w", flag, kv, err)}
					}
					x.Sites[name] = s
				}
				return nil
			}
			if err := set(sites, "site", func(s *Site, v string) (err error) { s.MEP, err = optionalURL(v); return }); err != nil {
				return err
			}
			if err := set(upgws, "site-upgw", func(s *Site, v string) (err error) { s.UPGW, err = optionalURL(v); return }); err != nil {
				return err
			}
			if err := set(siteTokenFiles, "site-token-file", func(s *Site, v string) error { s.TokenFile = v; return nil }); err != nil {
				return err
			}
			for _, n := range removeSites {
				if _, ok := x.Sites[n]; !ok {
					return usageErrorf("--remove-site %s: no such site in context %s", n, x.Name)
				}
				delete(x.Sites, n)
			}
			if current || cfg.CurrentContext == "" {
				cfg.CurrentContext = x.Name
			}
			if err := cfg.save(o.ConfigPath); err != nil {
				return err
			}
			result := "changed"
			if !ok {
				result = "created"
			}
			return o.printer().print(resultView("context", []string{x.Name}, result, false))
		},
	}
	fs := c.Flags()
	fs.StringArrayVar(&sites, "site", nil, "a site and its MEP base URL, SITE=URL (repeatable)")
	fs.StringArrayVar(&upgws, "site-upgw", nil, "a site and its UPGW control API base URL, SITE=URL (repeatable)")
	fs.StringArrayVar(&siteTokenFiles, "site-token-file", nil, "a site and the file of its MEP operator token, SITE=FILE (repeatable)")
	fs.StringArrayVar(&removeSites, "remove-site", nil, "remove a site from the context (repeatable)")
	fs.BoolVar(&current, "current", false, "also make it the current context (the first context always is)")
	return c
}

// optionalURL normalises a URL; empty stays empty (it clears the value).
func optionalURL(v string) (string, error) {
	if v == "" {
		return "", nil
	}
	return NormalizeURL(v)
}
