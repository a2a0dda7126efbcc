package dnsserver

import (
	"errors"
	"fmt"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// Answer sources, the "source" label of the query metrics.
const (
	sourceLocal    = "local"    // answered from a DNS rule
	sourceCache    = "cache"    // forwarded name answered from the cache
	sourceUpstream = "upstream" // forwarded name answered by an upstream
	sourceNone     = "none"     // refused or failed before any answer was found
)

// metrics are the server's Prometheus collectors, all prefixed mep_dns_.
type metrics struct {
	queries   *prometheus.CounterVec   // proto, qtype, source, result
	latency   *prometheus.HistogramVec // source
	cacheHits prometheus.Counter
	cacheMiss prometheus.Counter
	cacheLen  prometheus.GaugeFunc
	upstream  *prometheus.CounterVec // upstream, proto, result
	rules     prometheus.Gauge
	invalid   prometheus.Gauge
	conflicts prometheus.Gauge
	rejected  *prometheus.CounterVec // reason
	tcpConns  prometheus.Gauge
	dropped   *prometheus.CounterVec // reason
}

// Reasons of mep_dns_dropped_total.
const (
	dropRateLimit     = "rate_limit"      // UDP answer withheld by response rate limiting
	dropRateLimitSlip = "rate_limit_slip" // UDP answer replaced by an empty TC answer (slip)
	dropTCPPerClient  = "tcp_per_client"  // TCP connection closed: the client holds MaxTCPPerClient
	dropUDPTruncated  = "udp_truncated"   // UDP answer cut to MaxUDPAnswer or the client's buffer (TC)
)

func newMetrics(reg prometheus.Registerer, cacheLen func() float64) (*metrics, error) {
	m := &metrics{
		queries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mep_dns_queries_total",
			Help: "DNS queries answered, by transport, question type, answer source (local, cache, upstream, none) and result.",
		}, []string{"proto", "qtype", "source", "result"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "mep_dns_query_duration_seconds",
			Help:    "Time from receiving a DNS query until its answer is ready to send, by answer source.",
			Buckets: []float64{25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 500e-3, 1, 2.5, 5},
		}, []string{"source"}),
		cacheHits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mep_dns_cache_hits_total", Help: "Forwarded questions answered from the cache.",
		}),
		cacheMiss: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mep_dns_cache_misses_total", Help: "Forwarded questions not in the cache.",
		}),
		cacheLen: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "mep_dns_cache_entries", Help: "Answers in the forwarding cache.",
		}, cacheLen),
		upstream: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mep_dns_upstream_requests_total",
			Help: "Requests to upstream resolvers, by upstream, transport and result (ok, error, timeout, mismatch, rcode).",
		}, []string{"upstream", "proto", "result"}),
		rules: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mep_dns_rules", Help: "Valid DNS rules in the active rule set.",
		}),
		invalid: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mep_dns_rules_invalid", Help: "DNS rules of the last rule set that were skipped as invalid.",
		}),
		conflicts: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mep_dns_rule_conflicts", Help: "Domains claimed by more than one app instance.",
		}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mep_dns_rejected_total",
			Help: "Packets rejected before the handler, by reason (response, notimp, formerr, malformed).",
		}, []string{"reason"}),
		tcpConns: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mep_dns_tcp_connections", Help: "Open TCP connections.",
		}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mep_dns_dropped_total",
			Help: "Answers and connections withheld to protect the server and others, by reason (rate_limit, rate_limit_slip, tcp_per_client, udp_truncated).",
		}, []string{"reason"}),
	}
	for _, r := range []string{dropRateLimit, dropRateLimitSlip, dropTCPPerClient, dropUDPTruncated} {
		m.dropped.WithLabelValues(r)
	}
	if reg == nil {
		return m, nil
	}
	var errs []error
	for _, c := range []prometheus.Collector{m.queries, m.latency, m.cacheHits, m.cacheMiss, m.cacheLen, m.upstream,
		m.rules, m.invalid, m.conflicts, m.rejected, m.tcpConns, m.dropped} {
		if err := reg.Register(c); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("register dns metrics: %w", err)
	}
	return m, nil
}

// qtypeLabel bounds the qtype label to common types.
func qtypeLabel(t uint16) string {
	switch t {
	case dns.TypeA, dns.TypeAAAA, dns.TypeANY, dns.TypeCNAME, dns.TypeHTTPS, dns.TypeMX, dns.TypeNS, dns.TypePTR,
		dns.TypeSOA, dns.TypeSRV, dns.TypeSVCB, dns.TypeTXT:
		return dns.TypeToString[t]
	}
	return "other"
}

// resultLabel names the outcome of an answer.
func resultLabel(m *dns.Msg) string {
	switch m.Rcode {
	case dns.RcodeSuccess:
		if len(m.Answer) == 0 {
			return "nodata"
		}
		return "answer"
	case dns.RcodeNameError:
		return "nxdomain"
	case dns.RcodeServerFailure:
		return "servfail"
	case dns.RcodeRefused:
		return "refused"
	case dns.RcodeFormatError:
		return "formerr"
	case dns.RcodeNotImplemented:
		return "notimp"
	case dns.RcodeBadVers:
		return "badvers"
	}
	return "other"
}
