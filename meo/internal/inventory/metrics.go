package inventory

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Health classes of the sites gauge.
const (
	healthHealthy     = "healthy"     // MEP and VIM answered the last probe
	healthUnreachable = "unreachable" // one of them did not
	healthUnknown     = "unknown"     // not probed yet
)

type metrics struct {
	sites *prometheus.GaugeVec
	probe *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		sites: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "meo", Name: "sites",
			Help: "Registered edge sites by health (healthy, unreachable, unknown), as this replica last counted them."}, []string{"health"}),
		probe: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "meo", Name: "site_probe_duration_seconds",
			Help:    "Duration of a site probe by side (mep: Mm5 GET app_instances, vim: Capabilities) and result.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}}, []string{"side", "result"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.sites, m.probe} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}
