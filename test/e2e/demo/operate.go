package demo

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/edgemec/edgemec/vim-adapters/vim"
)

// OperateResult is what the operate step saw of the first instance on site-1.
type OperateResult struct {
	// Stopped is true when site-1's VIM reported the workload Stopped (and, on the real
	// node, the app no longer answered); Started when it ran again.
	Stopped, Started bool
	// PodBefore and PodAfter are the app's pod addresses before the stop and after the start.
	PodBefore, PodAfter string
	// App is the app's own account after the start (real node only): it confirmed ready anew.
	App AppStatus
}

// operate stops the first instance and starts it again with mecctl app operate: the
// container stops and runs again, and the app, a new process, confirms ready by itself.
func (d *driver) operate(ctx context.Context) error {
	d.title("Operate: stop the app on site-1 and start it again")
	id := d.res.First.ID
	r := &OperateResult{PodBefore: d.res.Pod}
	d.res.Operate = r
	if _, err := d.ctl(ctx, "app", "operate", id, "--state", "STOPPED", "--stop-type", "GRACEFUL", "--graceful-timeout", "5s", "--watch", "--timeout", "2m"); err != nil {
		return fmt.Errorf("operate STOPPED: %w", err)
	}
	if err := until(ctx, 60*time.Second, "site-1's VIM to report the app Stopped", func() (bool, error) {
		st, err := d.site1.adapter.Status(ctx, id)
		// The Service's addresses stay; no pod may be left serving.
		return st.Phase == vim.PhaseStopped && !slices.ContainsFunc(st.Endpoints, func(e vim.Endpoint) bool { return e.Kind == "Pod" }), err
	}); err != nil {
		return err
	}
	if d.env.RealApp() {
		if _, err := getText(ctx, "http://"+r.PodBefore+":8080/status"); err == nil {
			return fmt.Errorf("the app at %s still answers after the stop", r.PodBefore)
		}
		d.note("$ curl http://%s:8080/status  →  no answer", r.PodBefore)
	}
	r.Stopped = true
	if _, err := d.ctl(ctx, "app", "get", id, "-o", "wide"); err != nil {
		return err
	}
	d.ok("STOPPED: site-1's Kubernetes reports the workload Stopped, no container runs")

	if _, err := d.ctl(ctx, "app", "operate", id, "--state", "STARTED", "--watch", "--timeout", "2m"); err != nil {
		return fmt.Errorf("operate STARTED: %w", err)
	}
	if err := until(ctx, 60*time.Second, "the app to run again", func() (bool, error) {
		st, err := d.site1.adapter.Status(ctx, id)
		if err != nil || st.Phase != vim.PhaseRunning {
			return false, err
		}
		for _, e := range st.Endpoints {
			if e.Kind == "Pod" {
				r.PodAfter = e.Address
			}
		}
		if !d.env.RealApp() {
			return true, nil
		}
		if r.PodAfter == "" {
			return false, nil
		}
		var s AppStatus
		if getJSON(ctx, "http://"+r.PodAfter+":8080/status", &s) != nil {
			return false, nil
		}
		r.App = s
		return s.ReadyConfirmed && s.ServiceID != "", nil
	}); err != nil {
		return err
	}
	r.Started = true
	// The app network's NAT follows the pod.
	d.res.Pod = r.PodAfter
	if d.env.RealApp() {
		d.note("$ curl http://%s:8080/status  →  readyConfirmed=%v, service %s (hostname %s)", r.PodAfter, r.App.ReadyConfirmed, r.App.ServiceID, r.App.Hostname)
	}
	if _, err := d.ctl(ctx, "app", "get", id, "-o", "wide"); err != nil {
		return err
	}
	if err := until(ctx, 20*time.Second, "site-1's MEP to hold the app READY", func() (bool, error) {
		var apps []struct {
			AppInstanceID string `json:"appInstanceId"`
			State         string `json:"state"`
		}
		err := d.ctlJSON(ctx, &apps, "site", "apps", "site-1")
		return len(apps) == 1 && apps[0].AppInstanceID == id && apps[0].State == "READY", err
	}); err != nil {
		return err
	}
	if d.env.RealApp() {
		d.ok("STARTED: a new container (pod %s) runs, and the app confirmed ready again over Mp1 by itself", r.PodAfter)
	} else {
		d.ok("STARTED: the workload runs again on site-1's kwok nodes, READY at the MEP")
	}
	return nil
}

// restart starts MEO replica n again (demo.sh meo N) and shows that both replicas serve.
func (d *driver) restart(ctx context.Context, n int) error {
	d.note("$ deploy/demo/demo.sh meo %d   (start the killed replica again)", n)
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(d.env.Repo, "deploy", "demo", "demo.sh"), "meo", fmt.Sprint(n))
	cmd.Env = append(cmd.Environ(), "DEMO_DIR="+d.env.Dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("restart MEO replica %d: %w: %s", n, err, strings.TrimSpace(string(out)))
	}
	var lists [2][]struct {
		ID string `json:"id"`
	}
	for i, u := range d.env.MEO {
		cur := d.meo
		d.meo = u
		if _, err := d.ctl(ctx, "--meo", u, "app", "list"); err != nil {
			d.meo = cur
			return fmt.Errorf("MEO replica %d: %w", i+1, err)
		}
		err := d.ctlJSON(ctx, &lists[i], "app", "list")
		d.meo = cur
		if err != nil {
			return fmt.Errorf("MEO replica %d: %w", i+1, err)
		}
	}
	if len(lists[0]) != 2 || len(lists[1]) != 2 {
		return fmt.Errorf("the replicas list %d and %d instances; want 2 each", len(lists[0]), len(lists[1]))
	}
	d.res.Restarted = n
	d.ok("MEO replica %d is back: both replicas serve the same instances from the shared database", n)
	return nil
}
