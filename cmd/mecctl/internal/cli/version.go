package cli

import (
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// Version is the release version, set at build time with
// -ldflags "-X github.com/edgemec/edgemec/cmd/mecctl/internal/cli.Version=v1.2.3"; without it
// the module version or the VCS revision of the build stands in.
var Version = ""

// BuildInfo is what `mecctl version` shows.
type BuildInfo struct {
	Version   string `json:"version"`
	Commit    string `json:"commit,omitempty"`
	CommitAt  string `json:"commitTime,omitempty"`
	Modified  bool   `json:"modified,omitempty"`
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
}

func buildInfo() BuildInfo {
	b := BuildInfo{Version: Version, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if b.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			b.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				b.Commit = s.Value
			case "vcs.time":
				b.CommitAt = s.Value
			case "vcs.modified":
				b.Modified = s.Value == "true"
			}
		}
	}
	if b.Version == "" {
		b.Version = "devel"
	}
	return b
}

func versionString() string { return buildInfo().Version }

func newVersionCommand(o *Options) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Show mecctl's version and build",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b := buildInfo()
			commit := b.Commit
			if len(commit) > 12 {
				commit = commit[:12]
			}
			if b.Modified {
				commit += "+dirty"
			}
			return o.printer().print(View{Kind: "version", Columns: []Column{
				{Header: "VERSION"}, {Header: "COMMIT"}, {Header: "GO"}, {Header: "PLATFORM"}, {Header: "COMMIT TIME", Wide: true},
			}, Rows: [][]string{{b.Version, commit, b.GoVersion, b.Platform, b.CommitAt}}, Names: []string{b.Version}, Object: b})
		},
	}
}
