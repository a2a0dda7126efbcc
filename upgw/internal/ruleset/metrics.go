package ruleset

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Collector exports the rule-set state and the data plane counters to Prometheus. Counters
// are read from the per-CPU maps at scrape time, so they cost nothing per packet.
type Collector struct {
	m *Manager
	w *SessionWatcher

	version, active, rejected, sessions *prometheus.Desc
	saved, saveFailures                 *prometheus.Desc
	capacity, evicted                   *prometheus.Desc
	pathPackets, pathBytes              *prometheus.Desc
	rulePackets, ruleBytes              *prometheus.Desc
}

// NewCollector returns a collector for m and the session watcher w (nil: no session
// figures); register it on the process registry. A scrape reads kept figures and the
// counter maps, never the sessions map.
func NewCollector(m *Manager, w *SessionWatcher) *Collector {
	return &Collector{
		m:            m,
		w:            w,
		saved:        prometheus.NewDesc("upgw_ruleset_saved", "1 when the active rule set is in the state file (a restart brings it back), else 0.", nil, nil),
		saveFailures: prometheus.NewDesc("upgw_ruleset_save_failures_total", "Rule sets applied but not saved to the state file.", nil, nil),
		capacity:     prometheus.NewDesc("upgw_session_capacity", "Size of the sessions map (--max-sessions).", nil, nil),
		evicted:      prometheus.NewDesc("upgw_session_evictions_total", "Sessions the full sessions map evicted since the start; their UEs lose replies until relearned.", nil, nil),
		version:      prometheus.NewDesc("upgw_ruleset_version", "Version of the active rule set.", nil, nil),
		active:       prometheus.NewDesc("upgw_rules_active", "Traffic rules compiled into the active rule set.", nil, nil),
		rejected:     prometheus.NewDesc("upgw_rules_rejected", "ACTIVE traffic rules the data plane cannot enforce.", nil, nil),
		sessions:     prometheus.NewDesc("upgw_sessions", "UEs whose downlink tunnel is learned: the UEs whose replies the return path can serve (counted in the background).", nil, nil),
		pathPackets:  prometheus.NewDesc("upgw_path_packets_total", "Packets per data plane path.", []string{"path"}, nil),
		pathBytes:    prometheus.NewDesc("upgw_path_bytes_total", "Bytes per data plane path.", []string{"path"}, nil),
		rulePackets:  prometheus.NewDesc("upgw_rule_packets_total", "Packets matched per traffic rule.", []string{"app_instance_id", "traffic_rule_id"}, nil),
		ruleBytes:    prometheus.NewDesc("upgw_rule_bytes_total", "Bytes matched per traffic rule.", []string{"app_instance_id", "traffic_rule_id"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.version, c.active, c.rejected, c.sessions, c.saved, c.saveFailures, c.capacity, c.evicted,
		c.pathPackets, c.pathBytes, c.rulePackets, c.ruleBytes} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	cur := c.m.Current()
	ch <- prometheus.MustNewConstMetric(c.version, prometheus.GaugeValue, float64(cur.Version))
	ch <- prometheus.MustNewConstMetric(c.active, prometheus.GaugeValue, float64(len(cur.Rules)))
	ch <- prometheus.MustNewConstMetric(c.rejected, prometheus.GaugeValue, float64(len(cur.Rejected)))
	saved := 0.0
	if cur.Saved {
		saved = 1
	}
	ch <- prometheus.MustNewConstMetric(c.saved, prometheus.GaugeValue, saved)
	ch <- prometheus.MustNewConstMetric(c.saveFailures, prometheus.CounterValue, float64(c.m.SaveFailures()))
	if c.w != nil {
		ss := c.w.Stats()
		ch <- prometheus.MustNewConstMetric(c.sessions, prometheus.GaugeValue, float64(ss.Count))
		ch <- prometheus.MustNewConstMetric(c.capacity, prometheus.GaugeValue, float64(ss.Capacity))
		ch <- prometheus.MustNewConstMetric(c.evicted, prometheus.CounterValue, float64(ss.Evicted))
	}
	if names, cs, err := c.m.PathCounters(); err == nil {
		for i, n := range names {
			ch <- prometheus.MustNewConstMetric(c.pathPackets, prometheus.CounterValue, float64(cs[i].Packets), n)
			ch <- prometheus.MustNewConstMetric(c.pathBytes, prometheus.CounterValue, float64(cs[i].Bytes), n)
		}
	}
	if rcs, err := c.m.RuleCounters(); err == nil {
		for _, r := range rcs {
			ch <- prometheus.MustNewConstMetric(c.rulePackets, prometheus.CounterValue, float64(r.Packets), r.AppInstanceID, r.TrafficRuleID)
			ch <- prometheus.MustNewConstMetric(c.ruleBytes, prometheus.CounterValue, float64(r.Bytes), r.AppInstanceID, r.TrafficRuleID)
		}
	}
}
