package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Streams are the process's standard streams and environment; tests give their own.
type Streams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
	// Env looks up an environment variable (os.LookupEnv by default).
	Env func(string) (string, bool)
}

// Main runs mecctl with args (without the program name) and returns the exit code.
func Main(ctx context.Context, args []string, s Streams) int {
	if s.Env == nil {
		s.Env = os.LookupEnv
	}
	o := &Options{streams: s}
	root := NewRootCommand(o) //nolint:contextcheck // commands take their context from cobra at run time
	if args == nil {
		args = []string{} // cobra reads os.Args for nil
	}
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return ExitOK
	}
	printError(s.ErrOut, err)
	var ue *UsageError
	if errors.As(err, &ue) && cmd != nil && !isInputError(err) {
		fmt.Fprintf(s.ErrOut, "Run '%s --help' for usage.\n", cmd.CommandPath())
	}
	return ExitCode(err)
}

func isInputError(err error) bool {
	var ie *InputError
	return errors.As(err, &ie)
}

// envPrefix starts the environment variable of every global flag: MECCTL_ and the flag's
// name in capitals with _ for - (--request-timeout: MECCTL_REQUEST_TIMEOUT).
const envPrefix = "MECCTL_"

// envAnnotation marks a flag's environment variable.
const envAnnotation = "mecctl_env"

func envName(flag string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// NewRootCommand builds the command tree.
func NewRootCommand(o *Options) *cobra.Command {
	root := &cobra.Command{
		Use:   "mecctl",
		Short: "mecctl operates the edgemec MEC platform: the MEO and its edge sites",
		Long: `mecctl operates the edgemec MEC platform: app packages on the MEO (Mm1), and the
MEP (Mm5, Mp1) and UPGW of each edge site.

Endpoints and credentials come from the current context of the config file
(~/.config/mecctl/config.yaml or $MECCTL_CONFIG; see 'mecctl config'), and are overridden by
the environment (MECCTL_MEO, MECCTL_TOKEN, ...) and then by flags. A URL without a scheme
means https, or http for a loopback host (localhost, 127.0.0.1, ::1).

Exit codes: 0 ok, 1 error, 2 usage, 3 not found, 4 refused, 5 unreachable, 6 timed out.`,
		SilenceErrors: true,
		SilenceUsage:  true,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageErrorf("unknown command %q for %q", args[0], cmd.CommandPath())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return o.complete(cmd)
		},
	}
	// Set before the completion command is made: it keeps the writer it sees then.
	root.SetIn(o.streams.In)
	root.SetOut(o.streams.Out)
	root.SetErr(o.streams.ErrOut)
	o.addFlags(root.PersistentFlags())
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &UsageError{Err: err} })
	root.CompletionOptions.HiddenDefaultCmd = false

	root.AddGroup(&cobra.Group{ID: "meo", Title: "MEO commands:"}, &cobra.Group{ID: "site", Title: "Site commands:"},
		&cobra.Group{ID: "settings", Title: "Settings and other commands:"})
	for _, c := range []*cobra.Command{newPackageCommand(o), newAppCommand(o), newOpOccCommand(o)} {
		c.GroupID = "meo"
		root.AddCommand(c)
	}
	for _, c := range []*cobra.Command{newSiteCommand(o)} {
		c.GroupID = "site"
		root.AddCommand(c)
	}
	for _, c := range []*cobra.Command{newConfigCommand(o), newVersionCommand(o)} {
		c.GroupID = "settings"
		root.AddCommand(c)
	}
	root.SetHelpCommandGroupID("settings")
	root.SetCompletionCommandGroupID("settings")
	root.InitDefaultCompletionCmd()
	root.InitDefaultHelpCmd()
	setup(root)
	return root
}

// setup gives every command the help layout (defaults and environment variables of every
// flag), usage errors for bad arguments and unknown subcommands, and the flag error mapping.
func setup(c *cobra.Command) {
	c.SetUsageTemplate(usageTemplate)
	c.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &UsageError{Err: err} })
	if c.HasSubCommands() && c.RunE == nil && c.Run == nil {
		c.Args = func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageErrorf("unknown command %q for %q", args[0], cmd.CommandPath())
			}
			return nil
		}
		c.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
	} else if c.Args != nil {
		check := c.Args
		c.Args = func(cmd *cobra.Command, args []string) error {
			if err := check(cmd, args); err != nil {
				var ue *UsageError
				if errors.As(err, &ue) {
					return err
				}
				return &UsageError{Err: err}
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		setup(sub)
	}
}

func init() {
	cobra.AddTemplateFunc("flagHelp", flagHelp)
}

// usageTemplate is cobra's, with flagHelp listing every flag's default and environment
// variable.
const usageTemplate = `Usage:{{if .Runnable}}
  {{.UseLine}}{{end}}{{if .HasAvailableSubCommands}}
  {{.CommandPath}} [command]{{end}}{{if gt (len .Aliases) 0}}

Aliases:
  {{.NameAndAliases}}{{end}}{{if .HasExample}}

Examples:
{{.Example}}{{end}}{{if .HasAvailableSubCommands}}{{$cmds := .Commands}}{{if eq (len .Groups) 0}}

Available Commands:{{range $cmds}}{{if (or .IsAvailableCommand (eq .Name "help"))}}
  {{rpad .Name .NamePadding }} {{.Short}}{{end}}{{end}}{{else}}{{range $group := .Groups}}

{{.Title}}{{range $cmds}}{{if (and (eq .GroupID $group.ID) (or .IsAvailableCommand (eq .Name "help")))}}
  {{rpad .Name .NamePadding }} {{.Short}}{{end}}{{end}}{{end}}{{if not .AllChildCommandsHaveGroup}}

Additional Commands:{{range $cmds}}{{if (and (eq .GroupID "") (or .IsAvailableCommand (eq .Name "help")))}}
  {{rpad .Name .NamePadding }} {{.Short}}{{end}}{{end}}{{end}}{{end}}{{end}}{{if .HasAvailableLocalFlags}}

Flags:
{{flagHelp .LocalFlags}}{{end}}{{if .HasAvailableInheritedFlags}}

Global Flags:
{{flagHelp .InheritedFlags}}{{end}}{{if .HasHelpSubCommands}}

Additional help topics:{{range .Commands}}{{if .IsAdditionalHelpTopicCommand}}
  {{rpad .CommandPath .CommandPathPadding}} {{.Short}}{{end}}{{end}}{{end}}{{if .HasAvailableSubCommands}}

Use "{{.CommandPath}} [command] --help" for more information about a command.{{end}}
`

// flagHelp lists flags with their default (always, also an empty one) and their
// environment variable.
func flagHelp(fs *pflag.FlagSet) string {
	type line struct{ left, right string }
	var lines []line
	width := 0
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Hidden {
			return
		}
		left := "      --" + f.Name
		if f.Shorthand != "" {
			left = "  -" + f.Shorthand + ", --" + f.Name
		}
		varname, usage := pflag.UnquoteUsage(f)
		if varname != "" && f.Value.Type() != "bool" {
			left += " " + varname
		}
		def := f.DefValue
		switch f.Value.Type() {
		case "string":
			def = fmt.Sprintf("%q", def)
		case "stringArray", "stringSlice":
			if def == "[]" {
				def = "none"
			}
		}
		right := usage + " (default " + def + ")"
		if env := f.Annotations[envAnnotation]; len(env) > 0 {
			right += " [$" + env[0] + "]"
		}
		lines = append(lines, line{left, right})
		width = max(width, len(left))
	})
	var b strings.Builder
	for i, l := range lines {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%-*s   %s", width, l.left, l.right)
	}
	return b.String()
}

// Options are the global flags, and what they resolve to. Each field holds the flag of the
// same name (see addFlags for their meaning and defaults); after complete, a field not given
// on the command line holds its environment variable's value when that is set.
type Options struct {
	ConfigPath     string
	Context        string
	MEO            string
	MEP            string
	UPGW           string
	Token          string
	TokenFile      string
	CAFile         string
	Insecure       bool
	RequestTimeout time.Duration
	Output         string
	ShowSecrets    bool

	streams Streams
	cmd     *cobra.Command
	// set records the global flags given on the command line or through the environment.
	set map[string]bool
}

func (o *Options) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.ConfigPath, "config", "", "config file of contexts (empty: $XDG_CONFIG_HOME/mecctl/config.yaml or ~/.config/mecctl/config.yaml)")
	fs.StringVar(&o.Context, "context", "", "context to use (empty: the config file's current context)")
	fs.StringVar(&o.MEO, "meo", "", "MEO base URL (overrides the context's)")
	fs.StringVar(&o.MEP, "mep", "", "MEP base URL of the site named on the command line (overrides the context's)")
	fs.StringVar(&o.UPGW, "upgw", "", "UPGW control API base URL of the site named on the command line (overrides the context's)")
	fs.StringVar(&o.Token, "token", "", "bearer token (overrides the context's; prefer --token-file, ps shows arguments)")
	fs.StringVar(&o.TokenFile, "token-file", "", "file holding the bearer token")
	fs.StringVar(&o.CAFile, "ca-file", "", "PEM file of CA certificates to trust besides the system's")
	fs.BoolVar(&o.Insecure, "insecure-skip-verify", false, "do not check TLS certificates (test sites only)")
	fs.DurationVar(&o.RequestTimeout, "request-timeout", 30*time.Second, "time limit of each request (0: none)")
	fs.StringVarP(&o.Output, "output", "o", FormatTable, "output format: "+strings.Join(formats, "|"))
	fs.BoolVar(&o.ShowSecrets, "show-secrets", false, "show secrets (clientSecret, tokens) in json and yaml output")
	fs.VisitAll(func(f *pflag.Flag) {
		_ = fs.SetAnnotation(f.Name, envAnnotation, []string{envName(f.Name)})
	})
}

// complete applies the environment to the global flags not given on the command line and
// checks them.
func (o *Options) complete(cmd *cobra.Command) error {
	o.cmd = cmd
	o.set = map[string]bool{}
	var errs []error
	cmd.Root().PersistentFlags().VisitAll(func(f *pflag.Flag) {
		if f.Changed {
			o.set[f.Name] = true
			return
		}
		env := f.Annotations[envAnnotation]
		if len(env) == 0 {
			return
		}
		v, ok := o.streams.Env(env[0])
		if !ok || v == "" {
			return
		}
		if err := f.Value.Set(v); err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: %w", env[0], v, err))
			return
		}
		o.set[f.Name] = true
	})
	if err := errors.Join(errs...); err != nil {
		return &UsageError{Err: err}
	}
	if !slices.Contains(formats, o.Output) {
		return usageErrorf("output format %q: want one of %s", o.Output, strings.Join(formats, ", "))
	}
	if o.RequestTimeout < 0 {
		return usageErrorf("request timeout %s: want 0 or more", o.RequestTimeout)
	}
	if o.ConfigPath == "" {
		o.ConfigPath = defaultConfigPath(o.streams.Env)
	}
	return nil
}

func (o *Options) printer() *printer {
	return &printer{out: o.streams.Out, errOut: o.streams.ErrOut, format: o.Output, showSecrets: o.ShowSecrets}
}
