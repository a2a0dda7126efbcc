package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/edgemec/edgemec/upgw/tracefmt"
	"github.com/edgemec/edgemec/upgw/upgwapi"
)

// newSiteUPGWCommand is `mecctl site upgw`: a site's UPGW, through its control API.
func newSiteUPGWCommand(o *Options) *cobra.Command {
	c := &cobra.Command{
		Use:   "upgw SITE",
		Short: "Show a site's UPGW: status, compiled rules, counters, sessions",
		Long: `Show a site's UPGW through its control API (the context's upgw endpoint of the site, or
--upgw). 'mecctl site upgw SITE' shows its status; the subcommands show the rule set the data
plane enforces, the counters and the learned sessions.`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: o.completeSites,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, t, err := o.upgw(args[0])
			if err != nil {
				return err
			}
			r, err := c.GetStatusWithResponse(cmd.Context())
			if err := t.check("get UPGW status", r, err); err != nil {
				return err
			}
			return o.printer().print(upgwStatusView(args[0], *r.JSON200))
		},
	}
	c.AddCommand(newUPGWRulesCommand(o), newUPGWCountersCommand(o), newUPGWSessionsCommand(o))
	registerUPGWTrace(c, o)
	return c
}

// registerUPGWTrace is where `mecctl site upgw trace` plugs in: a command added to parent
// (`mecctl site upgw`), resolving its site with o.upgw(SITE) and printing through
// o.printer(), as its siblings do.
func registerUPGWTrace(parent *cobra.Command, o *Options) {
	parent.AddCommand(newUPGWTraceCommand(o))
}

type traceFlags struct {
	rule, app, ue, file string
	teid                int64
	paths               []string
	rate, sample        int
	duration            time.Duration
}

func newUPGWTraceCommand(o *Options) *cobra.Command {
	var f traceFlags
	c := &cobra.Command{
		Use:   "trace SITE [--rule ID] [--app ID] [--ue ADDR] [--teid N] [--path P] [--rate N] [--sample N] [--duration D] [-w FILE]",
		Short: "Trace the packets a site's UPGW data plane handles, one line each (or NDJSON, or a pcap file)",
		Long: `Trace packets in a site's UPGW data plane (GET /upgw/v1/trace): the packets selected by
rule, app instance, UE address, TEID or path, at most --rate a second, 1 in --sample, for
--duration (or until interrupted). Each event is printed on one line (-o json: the events as
NDJSON); -w FILE also writes them to a pcap file that Wireshark or tcpdump -r read.`,
		Example: `  mecctl site upgw trace edge-1 --app 5f0c… --duration 30s
  mecctl site upgw trace edge-1 --ue 10.45.0.7 --path ul_decap,dl_encap -w ue.pcap
  mecctl site upgw trace edge-1 --rule tr-cache --rate 100 --sample 10 -o json`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: o.completeSites,
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.trace(cmd, args[0], f)
		},
	}
	fs := c.Flags()
	fs.StringVar(&f.rule, "rule", "", "traffic rule id (with --app that instance's rule)")
	fs.StringVar(&f.app, "app", "", "app instance id (all its active rules)")
	fs.StringVar(&f.ue, "ue", "", "UE address (inner source uplink, destination downlink)")
	fs.Int64Var(&f.teid, "teid", 0, "TEID (uplink or downlink)")
	fs.StringSliceVar(&f.paths, "path", nil, "data plane paths (repeatable or comma separated; default all)")
	fs.IntVar(&f.rate, "rate", 0, "most events a second (0: the UPGW's default)")
	fs.IntVar(&f.sample, "sample", 0, "trace 1 in N selected packets (0: every one)")
	fs.DurationVar(&f.duration, "duration", 0, "end the trace after this long (0: the UPGW's default or until interrupted)")
	fs.StringVarP(&f.file, "write", "w", "", "also write the packets to this pcap file")
	return c
}

// trace streams the UPGW's trace events (NDJSON) to lines, JSON lines and a pcap file.
// An interrupt ends it as the UPGW's own end of the trace does, with exit 0.
func (o *Options) trace(cmd *cobra.Command, site string, f traceFlags) error {
	_, t, err := o.upgw(site)
	if err != nil {
		return err
	}
	hc := *t.http
	hc.Timeout = 0 // a stream: --request-timeout would cut it, --duration ends it
	c, err := upgwapi.NewClient(t.URL+"/upgw/v1", upgwapi.WithHTTPClient(&hc), upgwapi.WithRequestEditorFn(t.editor))
	if err != nil {
		return err
	}
	p := &upgwapi.TraceParams{}
	setStr := func(dst **string, v string) {
		if v != "" {
			*dst = &v
		}
	}
	setStr(&p.Rule, f.rule)
	setStr(&p.App, f.app)
	setStr(&p.Ue, f.ue)
	if f.teid != 0 {
		p.Teid = &f.teid
	}
	if len(f.paths) > 0 {
		p.Path = &f.paths
	}
	if f.rate > 0 {
		p.Rate = &f.rate
	}
	if f.sample > 0 {
		p.Sample = &f.sample
	}
	if f.duration > 0 {
		s := max(1, int((f.duration+time.Second-1)/time.Second))
		p.Duration = &s
	}
	var pw *tracefmt.PcapWriter
	if f.file != "" {
		file, err := os.Create(f.file)
		if err != nil {
			return usageErrorf("pcap file: %v", err)
		}
		defer file.Close()
		bw := bufio.NewWriter(file)
		defer bw.Flush()
		if pw, err = tracefmt.NewPcapWriter(bw); err != nil {
			return err
		}
	}
	ctx := cmd.Context()
	op := "trace UPGW of site " + site
	res, err := c.Trace(ctx, p)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return nil
		}
		return transportError(op, t.Name+" at "+t.URL, err)
	}
	defer res.Body.Close()
	if res.StatusCode/100 != 2 {
		body, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
		return checkResponse(op, res, body)
	}
	out := bufio.NewWriter(o.streams.Out)
	defer out.Flush()
	dec := json.NewDecoder(res.Body)
	events := 0
	for {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			if errors.Is(err, io.EOF) || ctx.Err() != nil {
				break
			}
			return fmt.Errorf("%s: read event %d: %w", op, events+1, err)
		}
		var line upgwapi.TraceLine
		if err := json.Unmarshal(raw, &line); err != nil {
			return fmt.Errorf("%s: line %d: %w", op, events+1, err)
		}
		if o.Output == FormatJSON {
			out.Write(raw)
			out.WriteByte('\n')
		}
		if e := line.End; e != nil {
			if o.Output != FormatJSON {
				fmt.Fprintf(out, "trace ended (%s): %d events, %d over the rate cap, %d lost\n", e.Reason, e.Events, e.Capped, e.Lost)
			}
			if err := out.Flush(); err != nil {
				return err
			}
			continue
		}
		if line.Event == nil {
			continue
		}
		events++
		if o.Output != FormatJSON {
			out.WriteString(tracefmt.Line(*line.Event) + "\n")
		}
		if err := out.Flush(); err != nil {
			return err
		}
		if pw != nil {
			if err := pw.Write(*line.Event); err != nil {
				return err
			}
		}
	}
	if pw != nil {
		fmt.Fprintf(o.streams.ErrOut, "%d packets written to %s\n", events, f.file)
	}
	return nil
}

func timeString(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func upgwStatusView(site string, s upgwapi.Status) View {
	feed := "off"
	if s.Feed.Enabled {
		feed = "disconnected"
		if s.Feed.Connected {
			feed = "connected"
		}
	}
	lastErr := ""
	if s.Feed.LastError != nil {
		lastErr = *s.Feed.LastError
	}
	return View{Kind: "upgw", Columns: []Column{
		{Header: "SITE"}, {Header: "RULE SET"}, {Header: "SOURCE"}, {Header: "ACTIVE"}, {Header: "REJECTED"},
		{Header: "SESSIONS"}, {Header: "FEED"},
		{Header: "APPLIED", Wide: true}, {Header: "LAST FEED SUCCESS", Wide: true}, {Header: "LAST FEED ERROR", Wide: true},
	}, Rows: [][]string{{site, strconv.FormatInt(s.RuleSetVersion, 10), string(s.RuleSetSource), strconv.Itoa(s.ActiveRules),
		strconv.Itoa(s.RejectedRules), strconv.Itoa(s.Sessions), feed, timeString(s.AppliedAt), timeString(s.Feed.LastSuccess), lastErr}},
		Names: []string{site}, Object: s}
}

func newUPGWRulesCommand(o *Options) *cobra.Command {
	return &cobra.Command{
		Use:               "rules SITE",
		Short:             "Show the rule set a site's UPGW enforces, with the rules it rejected and why",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: o.completeSites,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, t, err := o.upgw(args[0])
			if err != nil {
				return err
			}
			r, err := c.GetRuleSetWithResponse(cmd.Context())
			if err := t.check("get UPGW rule set", r, err); err != nil {
				return err
			}
			rs := *r.JSON200
			v := View{Kind: "upgwrule", List: true, Columns: []Column{
				{Header: "APP INSTANCE"}, {Header: "RULE"}, {Header: "PRIORITY"}, {Header: "ACTION"}, {Header: "STATUS"},
				{Header: "MATCHES", Wide: true}, {Header: "REASON", Wide: true},
			}}
			v.Header = "version " + strconv.FormatInt(rs.Version, 10) + " from " + string(rs.Source) +
				", " + strconv.Itoa(rs.Inactive) + " inactive"
			for _, x := range rs.Rules {
				v.Rows = append(v.Rows, []string{x.AppInstanceId, x.TrafficRuleId, strconv.Itoa(x.Priority), x.Action, "applied", strconv.Itoa(x.Matches), ""})
				v.Names = append(v.Names, x.AppInstanceId+"/"+x.TrafficRuleId)
			}
			for _, x := range rs.Rejected {
				v.Rows = append(v.Rows, []string{x.AppInstanceId, x.TrafficRuleId, "", "", "rejected", "", x.Reason})
				v.Names = append(v.Names, x.AppInstanceId+"/"+x.TrafficRuleId)
			}
			v.Object = rs
			return o.printer().print(v)
		},
	}
}

func newUPGWCountersCommand(o *Options) *cobra.Command {
	var paths bool
	c := &cobra.Command{
		Use:               "counters SITE",
		Short:             "Show a site's UPGW packet counters per rule (or per data-plane path with --paths)",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: o.completeSites,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, t, err := o.upgw(args[0])
			if err != nil {
				return err
			}
			if paths {
				r, err := c.GetPathCountersWithResponse(cmd.Context())
				if err := t.check("get UPGW path counters", r, err); err != nil {
					return err
				}
				v := View{Kind: "path", List: true, Columns: []Column{{Header: "PATH"}, {Header: "PACKETS"}, {Header: "BYTES"}}}
				for _, x := range deref(r.JSON200) {
					v.Rows = append(v.Rows, []string{x.Path, strconv.FormatInt(x.Packets, 10), strconv.FormatInt(x.Bytes, 10)})
					v.Names = append(v.Names, x.Path)
				}
				v.Object = nonNil(deref(r.JSON200))
				return o.printer().print(v)
			}
			r, err := c.GetRuleCountersWithResponse(cmd.Context())
			if err := t.check("get UPGW rule counters", r, err); err != nil {
				return err
			}
			v := View{Kind: "upgwrule", List: true, Columns: []Column{{Header: "APP INSTANCE"}, {Header: "RULE"}, {Header: "PACKETS"}, {Header: "BYTES"}}}
			for _, x := range deref(r.JSON200) {
				v.Rows = append(v.Rows, []string{x.AppInstanceId, x.TrafficRuleId, strconv.FormatInt(x.Packets, 10), strconv.FormatInt(x.Bytes, 10)})
				v.Names = append(v.Names, x.AppInstanceId+"/"+x.TrafficRuleId)
			}
			v.Object = nonNil(deref(r.JSON200))
			return o.printer().print(v)
		},
	}
	c.Flags().BoolVar(&paths, "paths", false, "counters per data-plane path instead of per rule")
	return c
}

func newUPGWSessionsCommand(o *Options) *cobra.Command {
	return &cobra.Command{
		Use:               "sessions SITE",
		Short:             "Show the UE sessions a site's UPGW learned (downlink tunnel per UE address)",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: o.completeSites,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, t, err := o.upgw(args[0])
			if err != nil {
				return err
			}
			r, err := c.ListSessionsWithResponse(cmd.Context())
			if err := t.check("list UPGW sessions", r, err); err != nil {
				return err
			}
			v := View{Kind: "session", List: true, Columns: []Column{
				{Header: "UE"}, {Header: "GNB"}, {Header: "TEID"}, {Header: "QFI"},
				{Header: "UPF", Wide: true}, {Header: "LEARNED", Wide: true},
			}}
			for _, x := range deref(r.JSON200) {
				v.Rows = append(v.Rows, []string{x.UeAddress, x.GnbAddress, "0x" + strconv.FormatInt(x.Teid, 16), strconv.Itoa(x.Qfi),
					x.UpfAddress, strconv.FormatInt(x.Learned, 10)})
				v.Names = append(v.Names, x.UeAddress)
			}
			v.Object = nonNil(deref(r.JSON200))
			return o.printer().print(v)
		},
	}
}
