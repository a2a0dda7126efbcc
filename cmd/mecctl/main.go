// Command mecctl is the operator CLI. `mecctl site …` talks to one site's MEP over Mm5:
//
//	mecctl site apps                       list app instances (table)
//	mecctl site app ID                     one app instance (JSON)
//	mecctl site provision ID FILE          create or replace an app instance from a JSON file ("-" = stdin)
//	mecctl site terminate ID [-timeout S]  start graceful termination
//	mecctl site conflicts                  DNS names claimed by more than one app
//	mecctl site rules traffic|dns          the rule feeds the UPGW and the DNS server follow
//
// The MEP and the token come from --mep/--token or MECCTL_MEP/MECCTL_TOKEN. -o json prints
// the raw API answers.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/edgemec/edgemec/internal/run"
	"github.com/edgemec/edgemec/mep/mm5api"
)

func main() {
	if err := mecctl(context.Background(), os.Args[1:], os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "mecctl:", err)
		os.Exit(1)
	}
}

const usage = `usage: mecctl site [--mep URL] [--token TOKEN] [-o table|json] COMMAND
commands: apps | app ID | provision ID FILE | terminate ID [-timeout SECONDS] | conflicts | rules traffic|dns`

func mecctl(ctx context.Context, args []string, stdin io.Reader, out io.Writer) error {
	if len(args) == 0 || args[0] != "site" {
		return errors.New(usage)
	}
	fs := flag.NewFlagSet("site", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	mep := fs.String("mep", run.Env("MECCTL_MEP", "http://127.0.0.1:8080"), "MEP apiRoot")
	token := fs.String("token", os.Getenv("MECCTL_TOKEN"), "operator token")
	format := fs.String("o", "table", "output: table or json")
	timeout := fs.Int("timeout", -1, "graceful termination timeout in seconds (terminate)")
	// Flags may come before or after the command's arguments.
	var rest []string
	for a := args[1:]; ; {
		if err := fs.Parse(a); err != nil {
			return fmt.Errorf("%w\n%s", err, usage)
		}
		if a = fs.Args(); len(a) == 0 {
			break
		}
		rest, a = append(rest, a[0]), a[1:]
	}
	if len(rest) == 0 {
		return errors.New(usage)
	}
	if *format != "table" && *format != "json" {
		return fmt.Errorf("-o %q: want table or json", *format)
	}
	c, err := mm5api.NewClientWithResponses(strings.TrimSuffix(*mep, "/")+"/mepm/v1",
		mm5api.WithHTTPClient(&http.Client{Timeout: 90 * time.Second}),
		mm5api.WithRequestEditorFn(func(_ context.Context, r *http.Request) error {
			r.Header.Set("Authorization", "Bearer "+*token)
			return nil
		}))
	if err != nil {
		return err
	}
	p := printer{out: out, json: *format == "json"}
	need := func(n int) error {
		if len(rest) != n+1 {
			return errors.New(usage)
		}
		return nil
	}
	switch rest[0] {
	case "apps":
		r, err := c.ListAppInstancesWithResponse(ctx)
		if err != nil {
			return err
		}
		if err := fail(r.StatusCode(), r.Body); err != nil {
			return err
		}
		return p.apps(r.Body, *r.JSON200)
	case "app":
		if err := need(1); err != nil {
			return err
		}
		r, err := c.GetAppInstanceWithResponse(ctx, rest[1])
		if err != nil {
			return err
		}
		if err := fail(r.StatusCode(), r.Body); err != nil {
			return err
		}
		return p.raw(r.Body)
	case "provision":
		if err := need(2); err != nil {
			return err
		}
		var body io.Reader = stdin
		if rest[2] != "-" {
			f, err := os.Open(rest[2])
			if err != nil {
				return err
			}
			defer f.Close()
			body = f
		}
		r, err := c.PutAppInstanceWithBodyWithResponse(ctx, rest[1], "application/json", body)
		if err != nil {
			return err
		}
		if err := fail(r.StatusCode(), r.Body); err != nil {
			return err
		}
		return p.raw(r.Body)
	case "terminate":
		if err := need(1); err != nil {
			return err
		}
		params := &mm5api.DeleteAppInstanceParams{}
		if *timeout >= 0 {
			params.GracefulTimeout = timeout
		}
		r, err := c.DeleteAppInstanceWithResponse(ctx, rest[1], params)
		if err != nil {
			return err
		}
		if err := fail(r.StatusCode(), r.Body); err != nil {
			return err
		}
		if p.json {
			return p.raw(r.Body)
		}
		fmt.Fprintf(out, "termination of %s started\n", rest[1])
		return nil
	case "conflicts":
		r, err := c.DnsConflictsWithResponse(ctx)
		if err != nil {
			return err
		}
		if err := fail(r.StatusCode(), r.Body); err != nil {
			return err
		}
		return p.conflicts(r.Body, *r.JSON200)
	case "rules":
		if err := need(1); err != nil {
			return err
		}
		switch rest[1] {
		case "traffic":
			r, err := c.TrafficRuleFeedWithResponse(ctx, &mm5api.TrafficRuleFeedParams{})
			if err != nil {
				return err
			}
			if err := fail(r.StatusCode(), r.Body); err != nil {
				return err
			}
			return p.traffic(r.Body, *r.JSON200)
		case "dns":
			r, err := c.DnsRuleFeedWithResponse(ctx, &mm5api.DnsRuleFeedParams{})
			if err != nil {
				return err
			}
			if err := fail(r.StatusCode(), r.Body); err != nil {
				return err
			}
			return p.dns(r.Body, *r.JSON200)
		}
		return fmt.Errorf("rules %q: want traffic or dns", rest[1])
	}
	return fmt.Errorf("unknown command %q\n%s", rest[0], usage)
}

// fail turns a ProblemDetails answer into an error.
func fail(code int, body []byte) error {
	if code < 300 {
		return nil
	}
	var pd struct{ Detail string }
	if json.Unmarshal(body, &pd) == nil && pd.Detail != "" {
		return fmt.Errorf("%d %s: %s", code, http.StatusText(code), pd.Detail)
	}
	return fmt.Errorf("%d %s", code, http.StatusText(code))
}

type printer struct {
	out  io.Writer
	json bool
}

func (p printer) raw(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	e := json.NewEncoder(p.out)
	e.SetIndent("", "  ")
	return e.Encode(v)
}

func (p printer) table(header string, rows [][]string) error {
	w := tabwriter.NewWriter(p.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, header)
	for _, r := range rows {
		fmt.Fprintln(w, strings.Join(r, "\t"))
	}
	return w.Flush()
}

func (p printer) apps(body []byte, apps []mm5api.AppInstanceRecord) error {
	if p.json {
		return p.raw(body)
	}
	rows := make([][]string, 0, len(apps))
	for _, a := range apps {
		rows = append(rows, []string{a.AppInstanceId, a.AppName, a.AppDId, string(a.State),
			fmt.Sprint(lenOf(a.AppTrafficRule)), fmt.Sprint(lenOf(a.AppDNSRule)), a.CreatedAt.UTC().Format(time.RFC3339)})
	}
	return p.table("APP INSTANCE\tNAME\tAPPD\tSTATE\tTRAFFIC RULES\tDNS RULES\tCREATED", rows)
}

func lenOf[T any](p *[]T) int {
	if p == nil {
		return 0
	}
	return len(*p)
}

func (p printer) conflicts(body []byte, cs []mm5api.DnsConflict) error {
	if p.json {
		return p.raw(body)
	}
	rows := make([][]string, 0, len(cs))
	for _, c := range cs {
		var losers []string
		for _, l := range c.Losers {
			losers = append(losers, l.AppInstanceId+"/"+l.DnsRuleId)
		}
		rows = append(rows, []string{c.DomainName, c.Winner.AppInstanceId + "/" + c.Winner.DnsRuleId, strings.Join(losers, ",")})
	}
	return p.table("DOMAIN\tANSWERED BY\tIGNORED", rows)
}

func (p printer) traffic(body []byte, s mm5api.TrafficRuleSnapshot) error {
	if p.json {
		return p.raw(body)
	}
	fmt.Fprintf(p.out, "version %d\n", s.Version)
	rows := make([][]string, 0, len(s.Rules))
	for _, r := range s.Rules {
		rows = append(rows, []string{r.AppInstanceId, r.TrafficRule.TrafficRuleId, fmt.Sprint(r.TrafficRule.Priority),
			string(r.TrafficRule.Action), string(r.TrafficRule.State)})
	}
	return p.table("APP INSTANCE\tRULE\tPRIORITY\tACTION\tSTATE", rows)
}

func (p printer) dns(body []byte, s mm5api.DnsRuleSnapshot) error {
	if p.json {
		return p.raw(body)
	}
	fmt.Fprintf(p.out, "version %d\n", s.Version)
	rows := make([][]string, 0, len(s.Rules))
	for _, r := range s.Rules {
		rows = append(rows, []string{r.AppInstanceId, r.DnsRule.DnsRuleId, r.DnsRule.DomainName, r.DnsRule.IpAddress, string(r.DnsRule.State)})
	}
	return p.table("APP INSTANCE\tRULE\tDOMAIN\tADDRESS\tSTATE", rows)
}
