package orchestrate

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the executor's Prometheus collectors, all prefixed meo_orchestrate_.
type metrics struct {
	claimed  prometheus.Counter
	finished *prometheus.CounterVec   // operation, state
	duration *prometheus.HistogramVec // operation, state
	phase    *prometheus.HistogramVec // task, phase
	running  prometheus.Gauge
	sites    prometheus.Gauge
	drift    prometheus.Counter
	replaced prometheus.Counter
	lost     prometheus.Counter
	fences   prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		claimed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "meo_orchestrate_ops_claimed_total",
			Help: "Op occurrences this process claimed to run.",
		}),
		finished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meo_orchestrate_ops_finished_total",
			Help: "Op occurrence runs ended by this process, by operation and by the state recorded (COMPLETED, FAILED, FAILED_TEMP), or LEASE_LOST when another process had taken the op over.",
		}, []string{"operation", "state"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "meo_orchestrate_op_duration_seconds",
			Help:    "Time from the claim of an op occurrence to the record of its end, by operation and state.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600},
		}, []string{"operation", "state"}),
		phase: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "meo_orchestrate_phase_duration_seconds",
			Help:    "Time an op occurrence's run spent in each phase, by task kind (INSTANTIATE, TERMINATE, OPERATE_STOP, OPERATE_START) and phase: placement (place), connecting to the site (connect), each reconcile step (its name, its journal record included) and the record of the op's end (finish).",
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300},
		}, []string{"task", "phase"}),
		running: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "meo_orchestrate_ops_running", Help: "Op occurrences this process is running.",
		}),
		sites: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "meo_orchestrate_sites_watched", Help: "Sites whose lease this process holds and whose VIM it follows.",
		}),
		drift: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "meo_orchestrate_drift_total", Help: "Instances found deleted behind the MEO's back on their site.",
		}),
		lost: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "meo_orchestrate_claims_lost_total",
			Help: "Runs stopped because a renewal found their op occurrence claimed by another process.",
		}),
		fences: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "meo_orchestrate_fences_total",
			Help: "Times this process stopped all its runs because it could not renew its claims in time.",
		}),
		replaced: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "meo_orchestrate_placement_conflicts_total",
			Help: "Placements placed again because their site's capacity was committed by another placement before they could commit.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	var errs []error
	for _, c := range []prometheus.Collector{m.claimed, m.finished, m.duration, m.phase, m.running, m.sites, m.drift, m.replaced, m.lost, m.fences} {
		if err := reg.Register(c); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("register orchestrate metrics: %w", err)
	}
	return m, nil
}
