package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// `site drain SITE... [--wait] [--timeout D]`: cordon the sites and have the MEO move their
// app instances elsewhere (meo/internal/orchestrate/drain.go). --wait follows each site's
// state.drain until the site holds no app instance; at the timeout it prints the instances
// that stay, with why (one line per rejected site), and exits 6.

// drainProgress is the part of a site's state.drain that --wait follows.
type drainProgress struct {
	Pending int `json:"pending"`
	Moved   int `json:"moved"`
	Moving  []struct {
		AppInstanceID string   `json:"appInstanceId"`
		OpID          string   `json:"appLcmOpOccId"`
		State         string   `json:"operationState"`
		Reasons       []string `json:"reasons"`
	} `json:"moving"`
	Stuck []struct {
		AppInstanceID string     `json:"appInstanceId"`
		Reasons       []string   `json:"reasons"`
		OpID          string     `json:"appLcmOpOccId"`
		RetryAt       *time.Time `json:"retryAt"`
	} `json:"stuck"`
}

// siteDrain is what one look at a draining site finds.
type siteDrain struct {
	draining  bool
	instances int
	progress  *drainProgress
}

func (d siteDrain) state() string {
	s := fmt.Sprintf("%d instance(s) on the site", d.instances)
	if p := d.progress; p != nil {
		s += fmt.Sprintf(", %d moving, %d moved, %d stuck", len(p.Moving), p.Moved, len(p.Stuck))
	}
	return s
}

// printStuck writes the instances that stay on the site, one reason a line.
func (d siteDrain) printStuck(w io.Writer, site string) {
	p := d.progress
	if p == nil {
		fmt.Fprintf(w, "site/%s: %d app instance(s) left, no drain round recorded yet\n", site, d.instances)
		return
	}
	for _, s := range p.Stuck {
		fmt.Fprintf(w, "site/%s: app instance %s stays:\n", site, s.AppInstanceID)
		for _, r := range s.Reasons {
			fmt.Fprintf(w, "  %s\n", r)
		}
		if s.RetryAt != nil {
			fmt.Fprintf(w, "  (relocation %s retried at %s)\n", s.OpID, s.RetryAt.UTC().Format(time.RFC3339))
		}
	}
	for _, m := range p.Moving {
		line := fmt.Sprintf("site/%s: app instance %s moving (op occurrence %s, %s)", site, m.AppInstanceID, m.OpID, m.State)
		if len(m.Reasons) > 0 {
			line += ": " + strings.Join(m.Reasons, "; ")
		}
		fmt.Fprintln(w, line)
	}
}

// getSiteDrain reads a site's instances and drain progress.
func (o *Options) getSiteDrain(ctx context.Context, id string) (siteDrain, error) {
	c, t, err := o.meoapi()
	if err != nil {
		return siteDrain{}, err
	}
	r, err := c.GetSiteWithResponse(ctx, id)
	if err := t.check("get site "+id, r, err); err != nil {
		return siteDrain{}, err
	}
	var d siteDrain
	d.draining = r.JSON200.State.Draining
	if in := r.JSON200.State.Instances; in != nil {
		for _, n := range *in {
			d.instances += n
		}
	}
	// state.drain is decoded from the body: the progress is the orchestrator's record.
	var raw struct {
		State struct {
			Drain *drainProgress `json:"drain"`
		} `json:"state"`
	}
	if err := json.Unmarshal(r.Body, &raw); err != nil {
		return siteDrain{}, fmt.Errorf("get site %s: decode state.drain: %w", id, err)
	}
	d.progress = raw.State.Drain
	return d, nil
}

func newSiteDrainCommand(o *Options) *cobra.Command {
	var wait bool
	var w waitOptions
	c := &cobra.Command{
		Use:   "drain SITE...",
		Short: "Cordon sites and move their app instances elsewhere",
		Long: `Cordon the sites and have the MEO move their app instances to other sites: each
instance is deployed on a site that fits, then terminated gracefully on the drained one (its
app is notified through the MEP). An instance no site fits stays, with one reason per
rejected site in the site's state.drain, and is tried again later. 'site uncordon' ends the
drain.

With --wait the command follows each site until it holds no app instance (exit 0); at the
timeout it prints the instances that stay, with why, and exits 6. A drain ended meanwhile
(uncordon) exits 4.`,
		Example:           `  mecctl site drain edge-1 --wait --timeout 10m`,
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: o.completeSites,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			sites, err := o.siteAction(ctx, "drain", args)
			if err != nil {
				return err
			}
			if !wait {
				return o.printer().print(sitesView(sites, len(args) > 1))
			}
			deadline := time.Now().Add(w.Timeout)
			for _, id := range args {
				ww := w
				if w.Timeout > 0 {
					if ww.Timeout = time.Until(deadline); ww.Timeout <= 0 {
						ww.Timeout = time.Nanosecond
					}
				}
				var last siteDrain
				err := waitFor(ctx, ww, "the drain of site "+id, func(ctx context.Context) (string, bool, error) {
					d, err := o.getSiteDrain(ctx, id)
					if err != nil {
						return "", false, err
					}
					last = d
					if d.instances == 0 {
						return "drained", true, nil
					}
					if !d.draining {
						return d.state(), true, &FailedError{What: "the drain of site " + id, State: "ended",
							Problem: &Problem{Detail: fmt.Sprintf("the site no longer drains (uncordoned?); %d app instance(s) stay", d.instances)}}
					}
					return d.state(), false, nil
				}, func(state string) { fmt.Fprintf(o.streams.ErrOut, "site/%s %s\n", id, state) })
				if err != nil {
					if last.instances > 0 {
						last.printStuck(o.streams.ErrOut, id)
					}
					return err
				}
			}
			c, t, err := o.meoapi()
			if err != nil {
				return err
			}
			sites = sites[:0]
			for _, id := range args {
				r, err := c.GetSiteWithResponse(ctx, id)
				if err := t.check("get site "+id, r, err); err != nil {
					return err
				}
				sites = append(sites, *r.JSON200)
			}
			return o.printer().print(sitesView(sites, len(args) > 1))
		},
	}
	c.Flags().BoolVar(&wait, "wait", false, "follow the sites until they hold no app instance (exit 0), or print the ones that stay and exit 6 at the timeout")
	c.Flags().DurationVar(&w.Timeout, "timeout", 10*time.Minute, "time limit of --wait (exit 6)")
	c.Flags().DurationVar(&w.Interval, "interval", 2*time.Second, "how often --wait looks at the sites")
	return c
}
