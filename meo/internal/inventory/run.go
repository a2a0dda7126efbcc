package inventory

import (
	"context"
	"sync"
	"time"

	"github.com/edgemec/edgemec/internal/obs/logkeys"
	"github.com/edgemec/edgemec/meo/internal/inventory/record"
)

// Run probes the sites until ctx ends: every tick it claims the sites whose probe is due
// (moving their next probe one interval ahead), probes each one's MEP and VIM concurrently,
// and stores their health and capacity. It returns nil when ctx ends.
func (s *Service) Run(ctx context.Context) error {
	tick := min(max(s.cfg.Interval/4, 100*time.Millisecond), 5*time.Second)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		s.Refresh(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Refresh probes the sites that are due now, batch by batch, and updates the site gauge.
func (s *Service) Refresh(ctx context.Context) {
	for ctx.Err() == nil {
		due, err := s.st.ClaimProbes(ctx, s.cfg.Batch, s.cfg.Interval)
		if err != nil {
			if ctx.Err() == nil {
				s.log.WarnContext(ctx, "claim site probes", logkeys.Error, err)
			}
			return
		}
		var wg sync.WaitGroup
		for _, r := range due {
			wg.Go(func() { s.probeSite(ctx, r) })
		}
		wg.Wait()
		if len(due) < s.cfg.Batch {
			break
		}
	}
	s.count(ctx)
}

func (s *Service) probeSite(ctx context.Context, r *record.Site) {
	now := time.Now()
	p := record.Probe{At: now, MEP: r.MEPHealth, VIM: r.VIMHealth}
	c, err := s.conn(r)
	if err != nil {
		// The settings cannot be used (a key this MEO lacks, a kubeconfig that no longer
		// parses): both sides are unreachable from here.
		p.MEP, p.VIM = down(p.MEP, now, err), down(p.VIM, now, err)
	} else {
		res := probe(ctx, c, r.MEP.Endpoint, s.cfg.ProbeTimeout)
		if ctx.Err() != nil {
			return // stopping: a cut-short probe says nothing about the site
		}
		p.MEP = outcome(p.MEP, now, res.mepErr)
		p.VIM = outcome(p.VIM, now, res.vimErr)
		if res.vimErr == nil {
			p.Capacity = &res.caps
		}
		s.m.probe.WithLabelValues("mep", result(res.mepErr)).Observe(res.mepTook.Seconds())
		s.m.probe.WithLabelValues("vim", result(res.vimErr)).Observe(res.vimTook.Seconds())
	}
	if reachable(r.MEPHealth) && !reachable(p.MEP) || reachable(r.VIMHealth) && !reachable(p.VIM) {
		s.log.WarnContext(ctx, "site unreachable", logkeys.Site, r.ID, logkeys.Error, joinErrors(p.MEP.LastError, p.VIM.LastError))
	} else if (!reachable(r.MEPHealth) || !reachable(r.VIMHealth)) && reachable(p.MEP) && reachable(p.VIM) {
		s.log.InfoContext(ctx, "site reachable", logkeys.Site, r.ID)
	}
	if err := s.st.SaveProbe(ctx, r.ID, r.Generation, p); err != nil && ctx.Err() == nil {
		s.log.WarnContext(ctx, "save site probe", logkeys.Site, r.ID, logkeys.Error, err)
	}
}

func result(err error) string {
	if err != nil {
		return "error"
	}
	return "ok"
}

func outcome(h record.Health, now time.Time, err error) record.Health {
	if err != nil {
		return down(h, now, err)
	}
	t := true
	return record.Health{Reachable: &t, LastSeen: &now, CheckedAt: &now}
}

// down records a failed probe; LastSeen keeps when the side last answered.
func down(h record.Health, now time.Time, err error) record.Health {
	f := false
	return record.Health{Reachable: &f, LastSeen: h.LastSeen, LastError: err.Error(), CheckedAt: &now}
}

// count refreshes the sites gauge.
func (s *Service) count(ctx context.Context) {
	n, err := s.st.SiteHealth(ctx)
	if err != nil {
		return
	}
	for _, h := range []string{healthHealthy, healthUnreachable, healthUnknown} {
		s.m.sites.WithLabelValues(h).Set(float64(n[h]))
	}
}

func joinErrors(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "; " + b
}
