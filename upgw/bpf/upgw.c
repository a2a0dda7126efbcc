//go:build ignore
// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)

/* UPGW data plane: a local-breakout gateway on the N3 (GTP-U) path between gNB and UPF.
 *
 * Programs:
 *   upgw_ul     XDP on the gNB-side N3 port: classifies uplink G-PDUs against the active
 *               rule set and decapsulates, drops, rewrites or passes them on.
 *   upgw_dl     XDP on the UPF-side N3 port: learns each UE's downlink tunnel from downlink
 *               G-PDUs, then passes them on to the gNB port.
 *   upgw_app    TC ingress on app-facing ports: re-encapsulates app replies toward the gNB
 *               with the learned TEID/QFI (TC, because the kernel completes the partial
 *               checksums of co-located apps on the egress path; XDP cannot).
 *   upgw_n3_tc  TC ingress on both N3 ports: second half of DUPLICATE_* (clone the original
 *               to the peer port, then decapsulate or rewrite the copy).
 *   upgw_pass   XDP_PASS, for peers of veths that XDP redirects into.
 *   upgw_dl_sync  never attached: the agent runs it with BPF_PROG_RUN after it changed the
 *               sessions map, to bring the return path's session cache in line.
 *
 * Everything the UPGW does not own (non-GTP-U, echo, error indication, end marker, outer
 * fragments, malformed G-PDUs) is redirected to the peer N3 port untouched: the UPGW is a
 * bump in the wire and nothing goes up its kernel stack.
 */

#include <linux/types.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/in.h>
#include <linux/udp.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "lib/upgw.h"
#include "lib/csum.h"

char _license[] SEC("license") = "Dual BSD/GPL";

/* ---- maps -------------------------------------------------------------------------------- */

/* ruleset holds the active rule-set generation in slot 0: an LPM trie from inner destination
 * prefix to candidates. The control plane builds a new generation aside and swaps it in with
 * one update, so a packet sees either the old or the new set, never a mix. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct {
		__uint(type, BPF_MAP_TYPE_LPM_TRIE);
		__uint(max_entries, UPGW_MAX_PREFIXES);
		__uint(map_flags, BPF_F_NO_PREALLOC);
		__type(key, struct upgw_lpm_key);
		__type(value, struct upgw_cands);
	});
} ruleset SEC(".maps");

/* hostset holds the active generation's host table in slot 0: an exact-match fast path in
 * front of the trie for destinations that are whole-address keys of it. A hit gives the
 * candidates the trie would give (the longest match of an address that is itself a key is
 * that key), so the answer does not depend on which path found it. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct {
		__uint(type, BPF_MAP_TYPE_ARRAY);
		__uint(max_entries, UPGW_HOST_SLOTS);
		__type(key, __u32);
		__type(value, struct upgw_host);
	});
} hostset SEC(".maps");

/* dst_filter is a superset of the destinations the active rule set covers: one bit per
 * IPv4 /16 (words 0..1023) and per top 16 bits of IPv6 (words 1024..2047). A clear bit lets
 * pass-through skip the LPM lookup. The control plane only ever clears a bit after the trie
 * that no longer covers it is live, so a packet never misses a rule it should hit. */
#define DST_FILTER_WORDS 2048
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, DST_FILTER_WORDS);
	__type(key, __u32);
	__type(value, __u64);
} dst_filter SEC(".maps");

/* Anchors that make clang emit full BTF for the types bpf2go exports with -type. */
const struct upgw_lpm_key *unused_lpm_key __attribute__((unused));
const struct upgw_cands *unused_cands __attribute__((unused));
const struct upgw_host *unused_host __attribute__((unused));
const struct upgw_meta *unused_meta __attribute__((unused));
const enum upgw_stat *unused_stat __attribute__((unused));
const enum upgw_action *unused_action __attribute__((unused));
const enum upgw_field *unused_field __attribute__((unused));

/* tx_ports maps output slots to interfaces for XDP redirects. */
struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__uint(max_entries, UPGW_MAX_TARGETS);
	__type(key, __u32);
	__type(value, __u32);
} tx_ports SEC(".maps");

/* targets describes each output slot (MACs, GTP-U endpoint). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, UPGW_MAX_TARGETS);
	__type(key, __u32);
	__type(value, struct upgw_target);
} targets SEC(".maps");

/* sessions maps a UE address to its learned downlink tunnel. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, UPGW_MAX_SESSIONS);
	__type(key, struct upgw_addr);
	__type(value, struct upgw_session);
} sessions SEC(".maps");

/* dl_cache is the return path's session cache (struct upgw_dl_entry). It is not pinned: after
 * a restart the agent refills it from the sessions map, and downlink learning keeps it
 * current. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, UPGW_DL_CACHE_SLOTS);
	__type(key, __u32);
	__type(value, struct upgw_dl_entry);
} dl_cache SEC(".maps");

/* upgw_dl_cache turns the session cache on. Its readers rely on loads not being reordered
 * with other loads, which x86-64 guarantees for the JIT's plain loads; the loader clears it
 * on other architectures, and every lookup then goes to the sessions map. */
volatile const __u32 upgw_dl_cache = 1;

/* path_stats counts packets per path (enum upgw_stat). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, UPGW_STAT_MAX);
	__type(key, __u32);
	__type(value, struct upgw_counter);
} path_stats SEC(".maps");

/* rule_stats counts packets per rule slot. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, UPGW_MAX_RULES);
	__type(key, __u32);
	__type(value, struct upgw_counter);
} rule_stats SEC(".maps");

/* config holds the N3 port ifindexes (slot 0). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct upgw_config);
} config SEC(".maps");

#define SCRATCH_LEN 256
struct scratch {
	__u8 b[SCRATCH_LEN];
};

/* csum_scratch is a per-CPU buffer for the IPv6 outer UDP checksum. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} csum_scratch SEC(".maps");


/* ---- helpers ----------------------------------------------------------------------------- */

/* count adds a packet to path idx and returns the packets this CPU counted there before it
 * (0 if the counter is missing). */
static __always_inline __u64 count(__u32 idx, __u64 bytes)
{
	struct upgw_counter *c = bpf_map_lookup_elem(&path_stats, &idx);
	if (!c)
		return 0;
	c->bytes += bytes;
	return c->packets++;
}

static __always_inline void count_rule(__u32 slot, __u64 bytes)
{
	struct upgw_counter *c = bpf_map_lookup_elem(&rule_stats, &slot);
	if (c) {
		c->packets++;
		c->bytes += bytes;
	}
}

/* LD/ST access words at any byte offset: x86-64 and arm64 allow unaligned access, and the
 * verifier does too there; through a narrower type clang would split every copy into
 * single bytes. */
#define LD16(p) (*(const __u16 *)(p))
#define LD32(p) (*(const __u32 *)(p))
#define LD64(p) (*(const __u64 *)(p))
#define ST16(p, v) (*(__u16 *)(p) = (v))
#define ST64(p, v) (*(__u64 *)(p) = (v))

static __always_inline int addr_eq(const struct upgw_addr *a, const struct upgw_addr *b)
{
	return ((a->w[0] ^ b->w[0]) | (a->w[1] ^ b->w[1]) | (a->w[2] ^ b->w[2]) |
		(a->w[3] ^ b->w[3])) == 0;
}

static __always_inline int prefix_ok(const struct upgw_prefix *p, const struct upgw_addr *a)
{
	return (((a->w[0] & p->mask.w[0]) ^ p->addr.w[0]) | ((a->w[1] & p->mask.w[1]) ^ p->addr.w[1]) |
		((a->w[2] & p->mask.w[2]) ^ p->addr.w[2]) | ((a->w[3] & p->mask.w[3]) ^ p->addr.w[3])) == 0;
}

static __always_inline void addr_v4(struct upgw_addr *a, __u32 v4)
{
	a->w[0] = 0;
	a->w[1] = 0;
	a->w[2] = bpf_htonl(0xffff);
	a->w[3] = v4;
}

static __always_inline void addr_v6(struct upgw_addr *a, const struct in6_addr *v6)
{
	a->w[0] = v6->in6_u.u6_addr32[0];
	a->w[1] = v6->in6_u.u6_addr32[1];
	a->w[2] = v6->in6_u.u6_addr32[2];
	a->w[3] = v6->in6_u.u6_addr32[3];
}

/* ---- packet trace (issue 14; types in lib/upgw.h) ----------------------------------------- */

/* upgw_trace_on turns the packet trace on when nonzero. It lives in .bss, so that while
 * tracing is off a packet pays one load and one branch for it, at the one trace point its
 * path reaches. The agent writes trace_cfg and resets the buckets first, then sets it. */
volatile __u32 upgw_trace_on;

/* trace_cfg holds the active trace's selection and limits (slot 0). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct upgw_trace_cfg);
} trace_cfg SEC(".maps");

/* trace_bucket is each CPU's token bucket for the events-per-second cap. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct upgw_trace_bucket);
} trace_bucket SEC(".maps");

/* trace_stats counts events emitted, capped and lost (enum upgw_trace_stat). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, UPGW_TSTAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} trace_stats SEC(".maps");

/* trace_events carries struct upgw_trace_event to the agent (1 MiB: about 3,700 events). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} trace_events SEC(".maps");

const struct upgw_trace_event *unused_trace_event __attribute__((unused));
const struct upgw_trace_cfg *unused_trace_cfg __attribute__((unused));
const struct upgw_trace_bucket *unused_trace_bucket __attribute__((unused));
const enum upgw_trace_select *unused_trace_select __attribute__((unused));
const enum upgw_trace_prog *unused_trace_prog __attribute__((unused));
const enum upgw_trace_stat *unused_trace_stat __attribute__((unused));

/* trace_info is what a trace point knows about a packet beyond its bytes: what the
 * selection tests and the event carries. */
struct trace_info {
	struct upgw_addr src, dst; /* inner addresses, when has_inner */
	__u32 rule_slot;           /* UPGW_TRACE_NO_RULE when no rule matched */
	__u32 teid;                /* when has_teid */
	__u32 path;                /* enum upgw_stat */
	__u8 qfi;
	__u8 has_inner;
	__u8 has_teid;
	__u8 prog; /* enum upgw_trace_prog */
};

static __always_inline void trace_count(__u32 idx)
{
	__u64 *c = bpf_map_lookup_elem(&trace_stats, &idx);
	if (c)
		(*c)++;
}

/* trace_admit decides whether the packet becomes an event: 1. the path, 2. the rule, TEID
 * and UE selectors, 3. the time limit, 4. the sampling, 5. this CPU's token bucket. It
 * returns the configured snap length, 0 when the packet is not traced. */
static __always_inline __u32 trace_admit(const struct trace_info *ti, __u64 *now)
{
	__u32 zero = 0;
	struct upgw_trace_cfg *c = bpf_map_lookup_elem(&trace_cfg, &zero);
	if (!c)
		return 0;
	if (c->paths && !(c->paths & (1u << (ti->path & 31))))
		return 0;
	__u32 sel = c->select;
	if (sel & UPGW_TSEL_RULE) {
		__u32 r = ti->rule_slot;
		if (r >= UPGW_MAX_RULES || !(c->rule_mask[r >> 6] & (1ULL << (r & 63))))
			return 0;
	}
	if ((sel & UPGW_TSEL_TEID) && (!ti->has_teid || ti->teid != c->teid))
		return 0;
	if ((sel & UPGW_TSEL_UE) && (!ti->has_inner || (!addr_eq(&ti->src, &c->ue) && !addr_eq(&ti->dst, &c->ue))))
		return 0;
	/* The coarse clock (a tick's resolution) is enough for the time limit and the bucket,
	 * and much cheaper than bpf_ktime_get_ns, which a capped packet would pay too. */
	__u64 t = bpf_ktime_get_coarse_ns();
	if (c->end_ns && t > c->end_ns)
		return 0;
	if (c->sample > 1 && bpf_get_prandom_u32() % c->sample)
		return 0;
	struct upgw_trace_bucket *b = bpf_map_lookup_elem(&trace_bucket, &zero);
	if (!b)
		return 0;
	__u64 budget = b->budget_ns + (t - b->last_ns);
	if (budget > c->burst_ns || budget < b->budget_ns)
		budget = c->burst_ns;
	b->last_ns = t;
	if (budget < c->cost_ns) {
		b->budget_ns = budget;
		trace_count(UPGW_TSTAT_CAPPED);
		return 0;
	}
	b->budget_ns = budget - c->cost_ns;
	*now = bpf_ktime_get_ns();
	return c->snaplen;
}

/* trace_reserve takes an event from the ring buffer and fills its header; *n is the number
 * of packet bytes to copy into it, 1..UPGW_TRACE_SNAP in a form the verifier can bound. */
static __always_inline struct upgw_trace_event *trace_reserve(const struct trace_info *ti, __u64 now, __u32 ifindex,
							      __u32 pkt_len, __u32 snap, __u32 *n)
{
	struct upgw_trace_event *ev = bpf_ringbuf_reserve(&trace_events, sizeof(*ev), 0);
	if (!ev) {
		trace_count(UPGW_TSTAT_LOST);
		return NULL;
	}
	ev->ts_ns = now;
	ev->ifindex = ifindex;
	ev->pkt_len = pkt_len;
	ev->rule_slot = ti->rule_slot;
	ev->teid = ti->has_teid ? ti->teid : 0;
	ev->path = ti->path;
	ev->qfi = ti->qfi;
	ev->prog = ti->prog;
	__u32 len = pkt_len < snap ? pkt_len : snap;
	/* The asm keeps the mask: the verifier needs the bound on the register it checks. */
	__u64 m = len - 1;
	asm volatile("%0 &= 0xff" : "+r"(m));
	*n = m + 1;
	ev->cap_len = len ? *n : 0;
	return ev;
}

static __always_inline void trace_submit(struct upgw_trace_event *ev)
{
	bpf_ringbuf_submit(ev, 0);
	trace_count(UPGW_TSTAT_EMITTED);
}

/* upgw_trace_xdp offers an XDP program's packet to the trace. It is a global function, so
 * the verifier checks it once and the packet programs carry a call, not its body. */
__attribute__((noinline)) int upgw_trace_xdp(struct xdp_md *ctx, const struct trace_info *ti)
{
	if (!ctx || !ti)
		return 0;
	__u64 now = 0;
	__u32 snap = trace_admit(ti, &now), n = 0;
	if (!snap)
		return 0;
	__u32 len = ctx->data_end - ctx->data;
	struct upgw_trace_event *ev = trace_reserve(ti, now, ctx->ingress_ifindex, len, snap, &n);
	if (!ev)
		return 0;
	if (!len || bpf_xdp_load_bytes(ctx, 0, ev->data, n))
		ev->cap_len = 0;
	trace_submit(ev);
	return 1;
}

/* upgw_trace_tc is upgw_trace_xdp for TC programs. */
__attribute__((noinline)) int upgw_trace_tc(struct __sk_buff *skb, const struct trace_info *ti)
{
	if (!skb || !ti)
		return 0;
	__u64 now = 0;
	__u32 snap = trace_admit(ti, &now), n = 0;
	if (!snap)
		return 0;
	__u32 len = skb->len;
	struct upgw_trace_event *ev = trace_reserve(ti, now, skb->ingress_ifindex, len, snap, &n);
	if (!ev)
		return 0;
	if (!len || bpf_skb_load_bytes(skb, 0, ev->data, n))
		ev->cap_len = 0;
	trace_submit(ev);
	return 1;
}

/* UPGW_NO_TRACE compiles every trace point out (the benchmarks' "not compiled in" build). */
#ifdef UPGW_NO_TRACE
#define TRACE_ON 0
#else
#define TRACE_ON upgw_trace_on
#endif

/* ---- parsing ----------------------------------------------------------------------------- */

enum parse_res {
	P_GPDU = 0,
	P_NON_GTP,
	P_FRAG,
	P_GTP_OTHER,
	P_MALFORMED,
};

#define GTP_TYPE_GPDU 255
#define GTP_EXT_PSC 0x85
#define GTP_FLAG_E 0x04
#define GTP_FLAG_S 0x02
#define GTP_FLAG_PN 0x01

/* Offsets are masked to this bound so the verifier can follow variable-length headers. */
#define OFF_MASK 0x3ff

/* pkt is what the parser extracts from one N3 packet. */
struct pkt {
	__u32 l3;    /* outer L3 offset */
	__u32 inner; /* inner L3 offset */
	__u32 teid;  /* host order */
	__u16 tsport, tdport;
	__u16 sport, dport;
	__u8 ofam, ifam;
	__u8 proto, tos;
	__u8 qfi, has_qfi;
	__u8 l4ok; /* inner ports are valid (TCP/UDP/SCTP, first fragment) */
	struct upgw_addr osrc, odst, isrc, idst;
};

static __always_inline int l4_ports(void *data, void *data_end, __u32 off, struct pkt *p)
{
	if (p->proto != IPPROTO_TCP && p->proto != IPPROTO_UDP && p->proto != IPPROTO_SCTP)
		return 0;
	off &= OFF_MASK;
	__u16 *ports = data + off;
	if ((void *)(ports + 2) > data_end)
		return -1;
	p->sport = bpf_ntohs(ports[0]);
	p->dport = bpf_ntohs(ports[1]);
	p->l4ok = 1;
	return 0;
}

static __always_inline int parse_inner(void *data, void *data_end, struct pkt *p)
{
	__u32 off = p->inner & OFF_MASK;
	__u8 *b = data + off;
	if ((void *)(b + 1) > data_end)
		return P_MALFORMED;
	__u8 ver = b[0] >> 4;
	if (ver == 4) {
		struct iphdr *ip = (void *)b;
		if ((void *)(ip + 1) > data_end || ip->ihl < 5)
			return P_MALFORMED;
		p->ifam = 4;
		p->proto = ip->protocol;
		p->tos = ip->tos;
		addr_v4(&p->isrc, ip->saddr);
		addr_v4(&p->idst, ip->daddr);
		if (ip->frag_off & bpf_htons(0x1fff))
			return P_GPDU; /* non-first fragment: no ports */
		if (l4_ports(data, data_end, off + ip->ihl * 4, p) < 0)
			return P_MALFORMED;
		return P_GPDU;
	}
	if (ver == 6) {
		struct ipv6hdr *ip6 = (void *)b;
		if ((void *)(ip6 + 1) > data_end)
			return P_MALFORMED;
		p->ifam = 6;
		p->tos = (b[0] << 4) | (b[1] >> 4);
		addr_v6(&p->isrc, &ip6->saddr);
		addr_v6(&p->idst, &ip6->daddr);
		__u8 nh = ip6->nexthdr;
		off += sizeof(*ip6);
		/* Bounded walk of IPv6 extension headers to find the L4 protocol. */
#pragma unroll
		for (int i = 0; i < 3; i++) {
			if (nh != 0 && nh != 43 && nh != 60 && nh != 44)
				break;
			off &= OFF_MASK;
			__u8 *e = data + off;
			if ((void *)(e + 8) > data_end)
				return P_MALFORMED;
			if (nh == 44) {
				/* fragment header: offset in bytes 2-3, upper 13 bits */
				__u16 fo = ((__u16)e[2] << 8 | e[3]) & 0xfff8;
				nh = e[0];
				off += 8;
				if (fo) {
					p->proto = nh;
					return P_GPDU;
				}
				continue;
			}
			nh = e[0];
			off += ((__u32)e[1] + 1) * 8;
		}
		p->proto = nh;
		if (l4_ports(data, data_end, off, p) < 0)
			return P_MALFORMED;
		return P_GPDU;
	}
	return P_MALFORMED;
}

/* The common uplink layout: Ethernet without VLAN tags (14 B), IPv4 without options (20 B),
 * UDP (8 B), a GTP-U header with only the E flag (8 B + 4 B of optional fields) and one PDU
 * Session Container of length 1 (4 B), then the inner header. The words are as loaded on
 * bpfel targets (byte 0 lowest). */
#define FAST_INNER 58
#define FAST_W12_MASK 0xffffffULL /* bytes 12-14: EtherType, version + IHL */
#define FAST_W12 0x450008ULL       /* 08 00, 45 */
#define FAST_W20_MASK 0xff00ff3fULL /* bytes 20-21: MF + fragment offset; byte 23: protocol */
#define FAST_W20 0x11000000ULL      /* not a fragment, UDP */
#define FAST_W34_MASK 0xffff0000ULL /* bytes 36-37: UDP destination port */
#define FAST_W34 0x68080000ULL      /* 2152 */
#define FAST_W42_MASK 0xffffULL     /* bytes 42-43: GTP-U flags, message type */
#define FAST_W42 0xff34ULL          /* version 1, PT=1, E=1 (no S, no PN); G-PDU */
#define FAST_W50_MASK 0xff0000ffff000000ULL /* byte 53: next type; 54: PSC length; 57: next */
#define FAST_W50 0x0000000185000000ULL      /* PSC, 1 (4 bytes), none */

/* parse_fast takes the common uplink layout with five wide loads, one bounds check and one
 * branch on the constant fields, and fills the outer fields as parse_n3 would. It returns 0
 * when it declines (VLAN, IPv6, IP options, fragments, other GTP-U flags or extension
 * headers, an inconsistent length): parse_n3 then parses the packet from the start. */
static __always_inline int parse_fast(void *data, void *data_end, struct pkt *p)
{
	if (data + FAST_INNER > data_end)
		return 0;
	__u64 w12 = LD64(data + 12), w20 = LD64(data + 20), w34 = LD64(data + 34);
	__u64 w42 = LD64(data + 42), w50 = LD64(data + 50);
	if (((w12 & FAST_W12_MASK) ^ FAST_W12) | ((w20 & FAST_W20_MASK) ^ FAST_W20) |
	    ((w34 & FAST_W34_MASK) ^ FAST_W34) | ((w42 & FAST_W42_MASK) ^ FAST_W42) |
	    ((w50 & FAST_W50_MASK) ^ FAST_W50))
		return 0;
	/* The GTP-U length covers the 8 bytes of optional fields and PSC, and with the 16
	 * bytes of UDP and GTP-U headers makes the UDP length. */
	__u16 glen = bpf_ntohs((__u16)(w42 >> 16));
	if (glen < 8 || (__u32)glen + 16 != bpf_ntohs((__u16)(w34 >> 32)))
		return 0;
	p->l3 = sizeof(struct ethhdr);
	p->ofam = 4;
	addr_v4(&p->osrc, LD32(data + 26));
	addr_v4(&p->odst, LD32(data + 30));
	p->tsport = bpf_ntohs((__u16)w34);
	p->tdport = UPGW_GTPU_PORT;
	p->teid = bpf_ntohl((__u32)(w42 >> 32));
	p->qfi = (w50 >> 48) & 0x3f;
	p->has_qfi = 1;
	p->inner = FAST_INNER;
	return 1;
}

/* parse_general parses what parse_fast declines, from the Ethernet header on. */
static __always_inline int parse_general(void *data, void *data_end, struct pkt *p)
{
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > data_end)
		return P_NON_GTP;
	__u16 proto = eth->h_proto;
	__u32 off = sizeof(*eth);
#pragma unroll
	for (int i = 0; i < 2; i++) {
		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
			break;
		__u16 *vh = data + off;
		if ((void *)(vh + 2) > data_end)
			return P_NON_GTP;
		proto = vh[1];
		off += 4;
	}
	p->l3 = off;

	__u32 udp_off;
	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = data + off;
		if ((void *)(ip + 1) > data_end || ip->ihl < 5)
			return P_NON_GTP;
		if (ip->frag_off & bpf_htons(0x3fff))
			return ip->protocol == IPPROTO_UDP ? P_FRAG : P_NON_GTP;
		if (ip->protocol != IPPROTO_UDP)
			return P_NON_GTP;
		p->ofam = 4;
		addr_v4(&p->osrc, ip->saddr);
		addr_v4(&p->odst, ip->daddr);
		udp_off = off + ip->ihl * 4;
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = data + off;
		if ((void *)(ip6 + 1) > data_end)
			return P_NON_GTP;
		if (ip6->nexthdr == 44)
			return P_FRAG;
		if (ip6->nexthdr != IPPROTO_UDP)
			return P_NON_GTP;
		p->ofam = 6;
		addr_v6(&p->osrc, &ip6->saddr);
		addr_v6(&p->odst, &ip6->daddr);
		udp_off = off + sizeof(*ip6);
	} else {
		return P_NON_GTP;
	}

	udp_off &= OFF_MASK;
	struct udphdr *udp = data + udp_off;
	if ((void *)(udp + 1) > data_end)
		return P_NON_GTP;
	if (udp->dest != bpf_htons(UPGW_GTPU_PORT))
		return P_NON_GTP;
	p->tsport = bpf_ntohs(udp->source);
	p->tdport = UPGW_GTPU_PORT;

	__u32 goff = (udp_off + sizeof(*udp)) & OFF_MASK;
	__u8 *g = data + goff;
	if ((void *)(g + 8) > data_end)
		return P_MALFORMED;
	__u8 flags = g[0];
	/* Version 1, protocol type GTP (not GTP'). */
	if ((flags & 0xf0) != 0x30)
		return P_GTP_OTHER;
	if (g[1] != GTP_TYPE_GPDU)
		return P_GTP_OTHER;
	/* Unaligned loads: the JIT targets (x86-64, arm64) allow them on packet data. */
	__u16 glen = bpf_ntohs(*(__u16 *)(g + 2));
	if ((__u32)glen + 8 + sizeof(*udp) != bpf_ntohs(udp->len))
		return P_MALFORMED;
	p->teid = bpf_ntohl(*(__u32 *)(g + 4));

	__u32 hoff = goff + 8;
	if (flags & (GTP_FLAG_E | GTP_FLAG_S | GTP_FLAG_PN)) {
		if ((void *)(g + 12) > data_end)
			return P_MALFORMED;
		__u8 next = (flags & GTP_FLAG_E) ? g[11] : 0;
		hoff += 4;
		/* Bounded walk of extension headers: each is len*4 bytes, its last byte is the
		 * type of the next one. The PDU Session Container carries the QFI. */
#pragma unroll
		for (int i = 0; i < UPGW_MAX_EXT; i++) {
			if (!next)
				break;
			hoff &= OFF_MASK;
			__u8 *e = data + hoff;
			if ((void *)(e + 4) > data_end)
				return P_MALFORMED;
			__u32 elen = (__u32)e[0] * 4;
			if (elen == 0 || elen > 64)
				return P_MALFORMED;
			if (next == GTP_EXT_PSC) {
				p->qfi = e[2] & 0x3f;
				p->has_qfi = 1;
			}
			/* Masked index: stops clang folding the check into an off=-1 access. */
			__u32 last = (hoff + elen - 1) & OFF_MASK;
			__u8 *l = data + last;
			if ((void *)(l + 1) > data_end)
				return P_MALFORMED;
			next = *l;
			hoff += elen;
		}
		if (next)
			return P_MALFORMED;
	}
	if (hoff - goff - 8 > glen)
		return P_MALFORMED;
	p->inner = hoff & OFF_MASK;
	return parse_inner(data, data_end, p);
}

/* parse_n3 parses Ethernet (+2 VLAN tags), the outer IPv4/IPv6 + UDP, the GTP-U header with
 * its optional fields and a bounded walk of extension headers, then the inner IP header.
 * The common uplink layout takes parse_fast for the outer headers. */
static __always_inline int parse_n3(void *data, void *data_end, struct pkt *p)
{
	/* Only the fields a short parse may leave unset; the rest is written before use. */
	p->qfi = 0;
	p->has_qfi = 0;
	p->l4ok = 0;
	p->proto = 0;
	if (parse_fast(data, data_end, p))
		return parse_inner(data, data_end, p);
	return parse_general(data, data_end, p);
}

/* trace_xdp is the trace point of the XDP programs: one load and one branch while tracing
 * is off. p is the parsed packet when gpdu is set. */
static __always_inline void trace_xdp(struct xdp_md *ctx, __u32 path, const struct pkt *p, int gpdu, __u32 rule,
				      __u8 prog)
{
	if (!TRACE_ON)
		return;
	struct trace_info ti = {.path = path, .rule_slot = rule, .prog = prog};
	if (gpdu) {
		ti.src = p->isrc;
		ti.dst = p->idst;
		ti.teid = p->teid;
		ti.qfi = p->qfi;
		ti.has_inner = 1;
		ti.has_teid = 1;
	}
	upgw_trace_xdp(ctx, &ti);
}

/* ---- classification ---------------------------------------------------------------------- */

static __always_inline int in_range(__u16 v, __u16 lo, __u16 hi)
{
	return v >= lo && v <= hi;
}

/* Fields outside the common scalar tests, checked behind one bit test. */
#define UPGW_F_RARE (UPGW_F_SRC | UPGW_F_TUN_SRC | UPGW_F_TUN_DST | UPGW_F_TUN_SPORT | \
		     UPGW_F_TUN_DPORT | UPGW_F_QFI | UPGW_F_DSCP | UPGW_F_TC)

/* match_one tests the fields a candidate sets; all must hold. The order is for speed only:
 * the common scalar fields first (most candidates fail there), the rest behind one test. */
static __always_inline int match_one(const struct upgw_match *m, const struct pkt *p)
{
	__u32 f = m->fields;
	if ((f & UPGW_F_PROTO) && m->proto != p->proto)
		return 0;
	if ((f & UPGW_F_TEID) && m->teid != p->teid)
		return 0;
	if (f & (UPGW_F_SPORT | UPGW_F_DPORT)) {
		if (!p->l4ok)
			return 0;
		if ((f & UPGW_F_DPORT) && !in_range(p->dport, m->dport_lo, m->dport_hi))
			return 0;
		if ((f & UPGW_F_SPORT) && !in_range(p->sport, m->sport_lo, m->sport_hi))
			return 0;
	}
	if (!(f & UPGW_F_RARE))
		return 1;
	if ((f & UPGW_F_SRC) && !prefix_ok(&m->src, &p->isrc))
		return 0;
	if ((f & UPGW_F_TUN_SRC) && !prefix_ok(&m->tun_src, &p->osrc))
		return 0;
	if ((f & UPGW_F_TUN_DST) && !prefix_ok(&m->tun_dst, &p->odst))
		return 0;
	if ((f & UPGW_F_TUN_SPORT) && !in_range(p->tsport, m->tsport_lo, m->tsport_hi))
		return 0;
	if ((f & UPGW_F_TUN_DPORT) && !in_range(p->tdport, m->tdport_lo, m->tdport_hi))
		return 0;
	if ((f & UPGW_F_QFI) && (!p->has_qfi || m->qfi != p->qfi))
		return 0;
	if (f & (UPGW_F_DSCP | UPGW_F_TC)) {
		/* MEC 011: dSCP matches IPv4 packets, tC matches IPv6 packets. */
		if (p->ifam == 4 && (!(f & UPGW_F_DSCP) || (p->tos >> 2) != m->dscp))
			return 0;
		if (p->ifam == 6 && (!(f & UPGW_F_TC) || p->tos != m->tc))
			return 0;
	}
	return 1;
}

/* upgw_first_match returns the index of the first (highest-priority) candidate in c that
 * matches the packet, or -1. It is a global function, so the verifier checks the candidate
 * loop once instead of once per parser outcome. */
__attribute__((noinline)) int upgw_first_match(const struct upgw_cands *c, const struct pkt *p)
{
	if (!c || !p)
		return -1;
	__u32 n = c->n;
#pragma clang loop unroll(disable)
	for (__u32 i = 0; i < UPGW_MAX_CANDS; i++) {
		if (i >= n)
			break;
		if (match_one(&c->m[i], p))
			return i;
	}
	return -1;
}

/* classify returns the first (highest-priority) candidate matching the packet, or NULL. */
static __always_inline const struct upgw_match *classify(const struct pkt *p)
{
	__u32 zero = 0;
	__u32 idx = p->ifam == 4 ? (bpf_ntohl(p->idst.w[3]) >> 16) : (bpf_ntohl(p->idst.w[0]) >> 16) + 65536;
	__u32 word = idx >> 6;
	__u64 *bits = bpf_map_lookup_elem(&dst_filter, &word);
	if (bits && !(*bits & (1ULL << (idx & 63))))
		return NULL;
	struct upgw_cands *c = NULL;
	void *hosts = bpf_map_lookup_elem(&hostset, &zero);
	if (hosts) {
		__u32 slot = upgw_host_slot(&p->idst);
		struct upgw_host *h = bpf_map_lookup_elem(hosts, &slot);
		if (h && h->used && addr_eq(&h->addr, &p->idst))
			c = &h->c;
	}
	if (!c) {
		void *gen = bpf_map_lookup_elem(&ruleset, &zero);
		if (!gen)
			return NULL;
		struct upgw_lpm_key key = {.prefixlen = 128, .addr = p->idst};
		c = bpf_map_lookup_elem(gen, &key);
		if (!c)
			return NULL;
	}
	int i = upgw_first_match(c, p);
	if (i < 0 || i >= UPGW_MAX_CANDS)
		return NULL;
	return &c->m[i];
}

/* ---- actions ----------------------------------------------------------------------------- */

static __always_inline int redirect_slot(__u32 slot)
{
	/* A missing slot falls back to XDP_PASS rather than dropping. */
	return bpf_redirect_map(&tx_ports, slot, XDP_PASS);
}

static __always_inline void write_eth(void *eth, const __u8 *dmac, const __u8 *smac, __u16 proto)
{
	struct ethhdr *e = eth;
	__builtin_memcpy(e->h_dest, dmac, ETH_ALEN);
	__builtin_memcpy(e->h_source, smac, ETH_ALEN);
	e->h_proto = proto;
}

/* decap strips everything between the MAC header and the inner IP header and writes a new
 * Ethernet header toward the target. The inner packet is untouched, so its checksums stay. */
static __always_inline int decap(struct xdp_md *ctx, const struct pkt *p, const struct upgw_target *t)
{
	if (bpf_xdp_adjust_head(ctx, (int)p->inner - (int)sizeof(struct ethhdr)))
		return -1;
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	if (data + sizeof(struct ethhdr) > data_end)
		return -1;
	/* The target is a map value, still valid after the head moved. */
	write_eth(data, t->dmac, t->smac, p->ifam == 4 ? bpf_htons(ETH_P_IP) : bpf_htons(ETH_P_IPV6));
	return 0;
}

/* rewrite_encap points the outer header at a local GTP-U endpoint: new outer destination
 * (same family), optionally a new TEID, new MACs; checksums updated incrementally. */
static __always_inline int rewrite_encap(void *data, void *data_end, const struct pkt *p,
					 const struct upgw_target *t)
{
	if (t->family != p->ofam)
		return -1;
	__u32 l3 = p->l3 & OFF_MASK;
	__u16 *ucsum;
	__u8 *teidp;
	if (p->ofam == 4) {
		struct iphdr *ip = data + l3;
		if ((void *)(ip + 1) > data_end)
			return -1;
		__u32 udp_off = (l3 + ip->ihl * 4) & OFF_MASK;
		struct udphdr *udp = data + udp_off;
		if ((void *)(udp + 1) > data_end)
			return -1;
		__u8 *g = (void *)(udp + 1);
		if ((void *)(g + 8) > data_end)
			return -1;
		__u32 old = ip->daddr, nw = t->tun_dst.w[3];
		csum_replace4(&ip->check, old, nw);
		udp_csum_replace4(&udp->check, old, nw, 0);
		ip->daddr = nw;
		ucsum = &udp->check;
		teidp = g + 4;
		if (t->set_teid) {
			__u32 ot = *(__u32 *)teidp, nt = bpf_htonl(t->teid);
			udp_csum_replace4(ucsum, ot, nt, 0);
			*(__u32 *)teidp = nt;
		}
	} else {
		struct ipv6hdr *ip6 = data + l3;
		if ((void *)(ip6 + 1) > data_end)
			return -1;
		struct udphdr *udp = (void *)(ip6 + 1);
		if ((void *)(udp + 1) > data_end)
			return -1;
		__u8 *g = (void *)(udp + 1);
		if ((void *)(g + 8) > data_end)
			return -1;
#pragma unroll
		for (int i = 0; i < 4; i++) {
			__u32 old = ip6->daddr.in6_u.u6_addr32[i], nw = t->tun_dst.w[i];
			udp_csum_replace4(&udp->check, old, nw, 1);
			ip6->daddr.in6_u.u6_addr32[i] = nw;
		}
		teidp = g + 4;
		if (t->set_teid) {
			__u32 ot = *(__u32 *)teidp, nt = bpf_htonl(t->teid);
			udp_csum_replace4(&udp->check, ot, nt, 1);
			*(__u32 *)teidp = nt;
		}
	}
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > data_end)
		return -1;
	__builtin_memcpy(eth->h_dest, t->dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, t->smac, ETH_ALEN);
	return 0;
}

/* ---- uplink (gNB-side port) -------------------------------------------------------------- */

static __always_inline int handle_uplink(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u64 bytes = data_end - data;
	struct pkt p;
	__u32 path;

	int r = parse_n3(data, data_end, &p);
	switch (r) {
	case P_GPDU:
		break;
	case P_FRAG:
		path = UPGW_STAT_FRAG;
		goto untouched;
	case P_GTP_OTHER:
		path = UPGW_STAT_GTP_OTHER;
		goto untouched;
	case P_MALFORMED:
		path = UPGW_STAT_MALFORMED;
		goto untouched;
	default:
		path = UPGW_STAT_NON_GTP;
		goto untouched;
	}

	const struct upgw_match *m = classify(&p);
	if (!m) {
		count(UPGW_STAT_UL_PASS, bytes);
		trace_xdp(ctx, UPGW_STAT_UL_PASS, &p, 1, UPGW_TRACE_NO_RULE, UPGW_TPROG_UL);
		return redirect_slot(UPGW_SLOT_UPF);
	}
	__u32 action = m->action, tslot = m->target, rule = m->rule_slot;
	count_rule(rule, bytes);

	/* Trace points come before the packet is changed: an event shows it as it arrived. */
	switch (action) {
	case UPGW_ACT_DROP:
		count(UPGW_STAT_UL_DROP, bytes);
		trace_xdp(ctx, UPGW_STAT_UL_DROP, &p, 1, rule, UPGW_TPROG_UL);
		return XDP_DROP;
	case UPGW_ACT_FWD_DECAP: {
		struct upgw_target *t = bpf_map_lookup_elem(&targets, &tslot);
		if (!t || t->kind != UPGW_TARGET_APP)
			break;
		trace_xdp(ctx, UPGW_STAT_UL_DECAP, &p, 1, rule, UPGW_TPROG_UL);
		if (decap(ctx, &p, t) < 0)
			break;
		count(UPGW_STAT_UL_DECAP, bytes);
		return redirect_slot(tslot);
	}
	case UPGW_ACT_FWD_ENCAP: {
		struct upgw_target *t = bpf_map_lookup_elem(&targets, &tslot);
		if (!t || t->kind != UPGW_TARGET_GTPU)
			break;
		trace_xdp(ctx, UPGW_STAT_UL_ENCAP, &p, 1, rule, UPGW_TPROG_UL);
		if (rewrite_encap(data, data_end, &p, t) < 0)
			break;
		count(UPGW_STAT_UL_ENCAP, bytes);
		return redirect_slot(tslot);
	}
	case UPGW_ACT_DUP_DECAP:
	case UPGW_ACT_DUP_ENCAP: {
		/* XDP cannot clone: leave the verdict in the metadata for upgw_n3_tc. */
		__u16 hdrlen = p.inner - p.l3;
		trace_xdp(ctx, UPGW_STAT_UL_DUP, &p, 1, rule, UPGW_TPROG_UL);
		if (bpf_xdp_adjust_meta(ctx, -(int)sizeof(struct upgw_meta)))
			break;
		struct upgw_meta *md = (void *)(long)ctx->data_meta;
		if ((void *)(md + 1) > (void *)(long)ctx->data)
			break;
		md->magic = UPGW_META_MAGIC;
		md->action = action;
		md->target = tslot;
		md->hdrlen = hdrlen;
		md->rule_slot = rule;
		md->pad = 0;
		count(UPGW_STAT_UL_DUP, bytes);
		return XDP_PASS;
	}
	case UPGW_ACT_PASSTHROUGH:
	default:
		count(UPGW_STAT_UL_PASS_RULE, bytes);
		trace_xdp(ctx, UPGW_STAT_UL_PASS_RULE, &p, 1, rule, UPGW_TPROG_UL);
		return redirect_slot(UPGW_SLOT_UPF);
	}
	/* The action could not be carried out: never lose the packet, pass it on. A failed
	 * decap leaves the frame unchanged (adjust_head fails before moving anything). A trace
	 * then shows the packet twice: with the action's path, and with "error". */
	count(UPGW_STAT_ERR, bytes);
	trace_xdp(ctx, UPGW_STAT_ERR, &p, 1, rule, UPGW_TPROG_UL);
	return redirect_slot(UPGW_SLOT_UPF);

untouched:
	count(path, bytes);
	trace_xdp(ctx, path, &p, 0, UPGW_TRACE_NO_RULE, UPGW_TPROG_UL);
	return redirect_slot(UPGW_SLOT_UPF);
}

SEC("xdp")
int upgw_ul(struct xdp_md *ctx)
{
	return handle_uplink(ctx);
}

/* ---- downlink (UPF-side port) ------------------------------------------------------------ */

static __always_inline int mac_eq(const __u8 *a, const __u8 *b)
{
	return ((a[0] ^ b[0]) | (a[1] ^ b[1]) | (a[2] ^ b[2]) | (a[3] ^ b[3]) | (a[4] ^ b[4]) |
		(a[5] ^ b[5])) == 0;
}

/* READ_ONCE and barrier keep clang from merging, dropping or moving the session cache's
 * loads and stores across each other. */
#define READ_ONCE(x) (*(volatile typeof(x) *)&(x))
#define barrier() asm volatile("" ::: "memory")

static __always_inline struct upgw_dl_entry *dl_entry(const struct upgw_addr *ue)
{
	if (!upgw_dl_cache)
		return NULL;
	__u32 slot = upgw_dl_slot(ue);
	return bpf_map_lookup_elem(&dl_cache, &slot);
}

/* dl_cache_put writes a session into the UE's cache slot (s NULL: empties the slot if it
 * holds that UE). A slot held by another UE is taken over: the cache is direct-mapped, and
 * the other UE's replies find their session in the sessions map until it is learned again. */
static __always_inline void dl_cache_put(struct upgw_dl_entry *e, const struct upgw_addr *ue,
					 const struct upgw_session *s)
{
	struct upgw_addr k = {};
	struct upgw_session v = {};
	if (s) {
		k = *ue;
		v = *s;
	}
	bpf_spin_lock(&e->lock);
	if (!s && !addr_eq(&e->ue, ue)) {
		bpf_spin_unlock(&e->lock);
		return;
	}
	e->seq++;
	barrier();
	e->ue = k;
	e->s = v;
	barrier();
	e->seq++;
	bpf_spin_unlock(&e->lock);
}

/* dl_session copies the session of ue into s: from the cache when its slot holds the UE and
 * no writer was inside the entry while it was copied, else from the sessions map. It
 * returns 0 when the UE has no session. */
static __always_inline int dl_session(const struct upgw_addr *ue, struct upgw_session *s, __u64 bytes)
{
	struct upgw_dl_entry *e = dl_entry(ue);
	if (e) {
		__u32 seq = READ_ONCE(e->seq);
		barrier();
		if (!(seq & 1) && addr_eq(&e->ue, ue)) {
			*s = e->s;
			barrier();
			/* An empty slot has family 0 (its all-zero ue is the address ::). */
			if (READ_ONCE(e->seq) == seq && s->family)
				return 1;
		}
	}
	struct upgw_session *sp = bpf_map_lookup_elem(&sessions, ue);
	if (!sp)
		return 0;
	*s = *sp;
	if (e)
		count(UPGW_STAT_DL_SLOW, bytes);
	return 1;
}

static __always_inline int session_is(const struct upgw_session *s, const struct pkt *p,
				      const struct ethhdr *eth)
{
	return s->teid == p->teid && s->qfi == p->qfi && s->sport == p->tsport &&
	       addr_eq(&s->gnb, &p->odst) && addr_eq(&s->upf, &p->osrc) &&
	       mac_eq(s->gnb_mac, eth->h_dest) && mac_eq(s->upf_mac, eth->h_source);
}

/* DL_RECHECK_MASK: one downlink G-PDU in 64 per CPU (by the dl_pass counter) is checked
 * against the sessions map even when the cache answers. */
#define DL_RECHECK_MASK 63

/* learn records the UE's downlink tunnel from a downlink G-PDU. The common case, a packet of
 * a known and unchanged session, is answered by the session cache. A read that races a
 * writer of the same entry can only skip this packet's write when the fields it compared
 * already equal the packet's: the two writes were then concurrent, and either order is
 * one the sessions map could have seen.
 *
 * With recheck set the sessions map is looked up even on a cache hit. That refreshes the
 * UE's recency in the LRU map (cache hits never touch it), puts back a UE the map evicted,
 * and repairs a map and a cache that two concurrent writers left holding different tunnels
 * (each writes the map, then the cache): within 64 downlink packets per CPU the packet's
 * tunnel is in both. */
static __always_inline int learn(void *data, const struct pkt *p, int recheck)
{
	struct ethhdr *eth = data;
	struct upgw_dl_entry *e = dl_entry(&p->idst);
	int cached = e && e->s.family && addr_eq(&e->ue, &p->idst) && session_is(&e->s, p, eth);
	if (cached && !recheck)
		return 0;
	struct upgw_session *s = bpf_map_lookup_elem(&sessions, &p->idst);
	if (s && session_is(s, p, eth)) {
		/* Known and unchanged, but not (or no longer) in its cache slot. */
		if (e && !cached)
			dl_cache_put(e, &p->idst, s);
		return 0;
	}
	/* New UE, or a handover: a new DL TEID, gNB or QFI replaces the old one. */
	struct upgw_session ns = {
		.gnb = p->odst,
		.upf = p->osrc,
		.teid = p->teid,
		.qfi = p->qfi,
		.family = p->ofam,
		.sport = p->tsport,
		.updated_ns = bpf_ktime_get_ns(),
		.learned = s ? s->learned + 1 : 1,
	};
	__builtin_memcpy(ns.gnb_mac, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(ns.upf_mac, eth->h_source, ETH_ALEN);
	bpf_map_update_elem(&sessions, &p->idst, &ns, BPF_ANY);
	if (e)
		dl_cache_put(e, &p->idst, &ns);
	count(UPGW_STAT_DL_LEARN, 0);
	if (!s)
		count(UPGW_STAT_DL_NEW, 0);
	return 1;
}

static __always_inline int handle_downlink(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u64 bytes = data_end - data;
	struct pkt p;
	__u32 path;

	switch (parse_n3(data, data_end, &p)) {
	case P_GPDU:
		/* A trace shows a G-PDU that changed the UE's session as dl_learn. */
		path = learn(data, &p, (count(UPGW_STAT_DL_PASS, bytes) & DL_RECHECK_MASK) == 0) ? UPGW_STAT_DL_LEARN
												  : UPGW_STAT_DL_PASS;
		trace_xdp(ctx, path, &p, 1, UPGW_TRACE_NO_RULE, UPGW_TPROG_DL);
		return redirect_slot(UPGW_SLOT_GNB);
	case P_FRAG:
		path = UPGW_STAT_FRAG;
		break;
	case P_GTP_OTHER:
		/* End markers pass through: the gNB needs them to finish a handover. */
		path = UPGW_STAT_GTP_OTHER;
		break;
	case P_MALFORMED:
		path = UPGW_STAT_MALFORMED;
		break;
	default:
		path = UPGW_STAT_NON_GTP;
	}
	count(path, bytes);
	trace_xdp(ctx, path, &p, 0, UPGW_TRACE_NO_RULE, UPGW_TPROG_DL);
	return redirect_slot(UPGW_SLOT_GNB);
}

SEC("xdp")
int upgw_dl(struct xdp_md *ctx)
{
	return handle_downlink(ctx);
}

SEC("xdp")
int upgw_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

/* ---- return path (TC on app-facing ports) ------------------------------------------------ */

struct encap4 {
	struct ethhdr eth;
	struct iphdr ip;
	struct udphdr udp;
	__u8 gtp[16];
} __attribute__((packed));

struct encap6 {
	struct ethhdr eth;
	struct ipv6hdr ip;
	struct udphdr udp;
	__u8 gtp[16];
} __attribute__((packed));

/* Encapsulation flags of the return path: they mark the skb as encapsulated (outer protocol,
 * inner header offsets) for the egress checksum and offload code. The benchmark build
 * overrides them because it undoes each run and the kernel keeps the encapsulation mark. */
#ifndef UPGW_ENCAP_FLAGS4
#define UPGW_ENCAP_FLAGS4 (BPF_F_ADJ_ROOM_ENCAP_L3_IPV4 | BPF_F_ADJ_ROOM_ENCAP_L4_UDP)
#endif
#ifndef UPGW_ENCAP_FLAGS6
#define UPGW_ENCAP_FLAGS6 (BPF_F_ADJ_ROOM_ENCAP_L3_IPV6 | BPF_F_ADJ_ROOM_ENCAP_L4_UDP)
#endif

/* grow_room makes room for the outer headers. A packet the sender already marked as
 * encapsulated (its own tunnel) is refused with the flags (-EALREADY); it still gets room. */
static __always_inline long grow_room(struct __sk_buff *skb, __u32 len, __u64 flags)
{
	if (!bpf_skb_adjust_room(skb, len, BPF_ADJ_ROOM_MAC, flags))
		return 0;
	return bpf_skb_adjust_room(skb, len, BPF_ADJ_ROOM_MAC, 0);
}

/* gtp_hdr writes a G-PDU header with the optional fields and one DL PDU Session Container
 * (TS 38.415: PDU type 0, QFI) so that the gNB maps the reply to the right QoS flow. */
static __always_inline void gtp_hdr(__u8 *g, __u32 teid, __u8 qfi, __u16 inner_len)
{
	__u16 glen = inner_len + 8;
	g[0] = 0x34; /* version 1, PT=1, E=1 */
	g[1] = GTP_TYPE_GPDU;
	g[2] = glen >> 8;
	g[3] = glen & 0xff;
	g[4] = teid >> 24;
	g[5] = teid >> 16;
	g[6] = teid >> 8;
	g[7] = teid;
	g[8] = 0; /* sequence number */
	g[9] = 0;
	g[10] = 0; /* N-PDU number */
	g[11] = GTP_EXT_PSC;
	g[12] = 1;      /* length in 4-byte units */
	g[13] = 0x00;   /* PDU type 0: DL PDU SESSION INFORMATION */
	g[14] = qfi & 0x3f;
	g[15] = 0;      /* no next extension header */
}

/* udp6_csum computes the outer UDP checksum over IPv6 (mandatory there, RFC 8200) from
 * the packet bytes starting at the UDP header. */
static __always_inline int udp6_csum(struct __sk_buff *skb, __u32 udp_off, const struct encap6 *h,
				     __u16 udp_len)
{
	__u32 zero = 0;
	struct scratch *sc = bpf_map_lookup_elem(&csum_scratch, &zero);
	if (!sc)
		return -1;
	struct {
		struct in6_addr s, d;
		__u32 len;
		__u32 nh;
	} ph = {.s = h->ip.saddr, .d = h->ip.daddr, .len = bpf_htonl(udp_len), .nh = bpf_htonl(IPPROTO_UDP)};
	__s64 sum = bpf_csum_diff(NULL, 0, (void *)&ph, sizeof(ph), 0);
	if (sum < 0)
		return -1;
	__u32 done = 0;
#pragma clang loop unroll(disable)
	for (int i = 0; i < 8; i++) {
		if (done >= udp_len)
			break;
		__u32 rem = udp_len - done;
		if (rem >= SCRATCH_LEN) {
			if (bpf_skb_load_bytes(skb, udp_off + done, sc->b, SCRATCH_LEN))
				return -1;
			sum = bpf_csum_diff(NULL, 0, (void *)sc->b, SCRATCH_LEN, (__u32)sum);
			if (sum < 0)
				return -1;
			done += SCRATCH_LEN;
			continue;
		}
		/* Tail: zero its last word first so the padding adds nothing. */
		/* The asm keeps the mask: clang knows rem < 256 and would drop it, but the
		 * verifier tracks a different register and needs the bound. */
		__u64 r64 = rem - 1;
		asm volatile("%0 &= 0xff" : "+r"(r64));
		rem = r64 + 1; /* 1..256 */
		__u32 w = rem & (SCRATCH_LEN - 4);
		*(__u32 *)(sc->b + w) = 0;
		if (bpf_skb_load_bytes(skb, udp_off + done, sc->b, rem))
			return -1;
		__u32 rn = ((rem + 3) & ~3u) & (2 * SCRATCH_LEN - 4);
		if (rn > SCRATCH_LEN)
			return -1;
		sum = bpf_csum_diff(NULL, 0, (void *)sc->b, rn, (__u32)sum);
		if (sum < 0)
			return -1;
		done += rem;
	}
	if (done < udp_len)
		return -1;
	__u16 c = csum_fold((__u32)sum);
	if (c == 0)
		c = 0xffff;
	return bpf_skb_store_bytes(skb, udp_off + offsetof(struct udphdr, check), &c, sizeof(c), 0);
}

/* The encap4 header as words, in the little-endian memory order of bpfel targets. */
#define ETH_IP4_LE 0x0008ULL        /* bytes 08 00 */
#define IP4_VER_IHL_TOS_LE 0x0045ULL /* bytes 45 00 */
#define IP4_TTL_UDP_LE 0x1140ULL     /* bytes 40 11: TTL 64, protocol UDP */
#define GTPU_PORT_LE 0x6808ULL       /* bytes 08 68: 2152 */

/* UPGW_PUSH4 makes room for the outer headers of an IPv4 packet in IPv4. The benchmark
 * build replaces it with bpf_skb_adjust_room, the only push its harness can undo. */
#ifndef UPGW_PUSH4
#define UPGW_PUSH4(skb, len) bpf_skb_change_head(skb, len, 0)
#endif

/* encap4 puts an IPv4 + UDP + GTP-U (DL PDU Session Container) header in front of the
 * inner packet, toward the session's gNB. The 58 header bytes are written as 7 words and
 * a half, composed from the session; the IPv4 checksum is summed from its few
 * non-constant words (RFC 1071).
 *
 * For IPv4 in IPv4 the room comes from bpf_skb_change_head, which only pushes the head
 * (the old Ethernet header ends up under the GTP-U header and is overwritten). It costs
 * about 30 ns less per packet here than bpf_skb_adjust_room, which also moves the MAC
 * header and records the encapsulation. skb->protocol (IPv4) stays right for the outer
 * header, and the network header keeps pointing at the inner one: to the egress path the
 * outer headers are link layer, and a partial inner checksum is completed where
 * csum_start says, by the kernel or a NIC. For an IPv6 packet the outer family differs
 * from skb->protocol, so bpf_skb_adjust_room sets the protocol and the offsets. */
static __always_inline int encap4(struct __sk_buff *skb, const struct upgw_session *sp, __u16 inner_len,
				  int inner4)
{
	/* The MACs are contiguous in the session, in Ethernet header order. */
	const __u8 *mac = sp->gnb_mac;
	__u64 w0 = LD32(mac) | (__u64)LD32(mac + 4) << 32;
	__u64 w1 = LD32(mac + 8) | ETH_IP4_LE << 32 | IP4_VER_IHL_TOS_LE << 48;
	__u32 saddr = sp->upf.w[3], daddr = sp->gnb.w[3];
	__u32 teid = bpf_htonl(sp->teid);
	__u16 tot_len = bpf_htons(inner_len + sizeof(struct encap4) - sizeof(struct ethhdr));
	__u16 udp_len = bpf_htons(inner_len + sizeof(struct encap4) - sizeof(struct ethhdr) - sizeof(struct iphdr));
	__u16 glen = bpf_htons(inner_len + 8);
	__u64 sum = IP4_VER_IHL_TOS_LE + IP4_TTL_UDP_LE + tot_len + (saddr & 0xffff) + (saddr >> 16) +
		    (daddr & 0xffff) + (daddr >> 16);
	__u16 check = csum_fold(sum);

	__u32 room = sizeof(struct encap4) - sizeof(struct ethhdr);
	if (inner4 ? UPGW_PUSH4(skb, room) : grow_room(skb, room, UPGW_ENCAP_FLAGS4))
		return -1;
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	if (data + sizeof(struct encap4) > data_end) {
		/* Headers not in the linear area: pull them in, then write. */
		if (bpf_skb_pull_data(skb, sizeof(struct encap4)))
			return -1;
		data = (void *)(long)skb->data;
		data_end = (void *)(long)skb->data_end;
		if (data + sizeof(struct encap4) > data_end)
			return -1;
	}
	ST64(data, w0);
	ST64(data + 8, w1);
	ST64(data + 16, (__u64)tot_len | IP4_TTL_UDP_LE << 48);
	ST64(data + 24, (__u64)check | (__u64)saddr << 16 | (__u64)(daddr & 0xffff) << 48);
	ST64(data + 32, (__u64)(daddr >> 16) | (__u64)bpf_htons(sp->sport) << 16 | GTPU_PORT_LE << 32 |
				(__u64)udp_len << 48);
	/* UDP checksum 0 (legal over IPv4, RFC 768), then the GTP-U header: version 1, PT=1,
	 * E=1, G-PDU, length, TEID, sequence 0, N-PDU 0, next type PSC; the PSC: length 1,
	 * PDU type 0 (DL PDU SESSION INFORMATION), QFI, no next header. */
	ST64(data + 40, 0x34ULL << 16 | 0xffULL << 24 | (__u64)glen << 32 | (__u64)(teid & 0xffff) << 48);
	ST64(data + 48, (__u64)(teid >> 16) | (__u64)GTP_EXT_PSC << 40 | 1ULL << 48);
	ST16(data + 56, sp->qfi & 0x3f);
	return 0;
}

/* trace_app is the trace point of the return path; ue is the reply's destination. */
static __always_inline void trace_app(struct __sk_buff *skb, __u32 path, const struct upgw_addr *ue,
				      const struct upgw_session *s)
{
	if (!TRACE_ON)
		return;
	struct trace_info ti = {.path = path, .rule_slot = UPGW_TRACE_NO_RULE, .prog = UPGW_TPROG_APP,
				.src = *ue, .dst = *ue, .has_inner = 1};
	if (s) {
		ti.teid = s->teid;
		ti.qfi = s->qfi;
		ti.has_teid = 1;
	}
	upgw_trace_tc(skb, &ti);
}

static __always_inline int handle_app(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > data_end)
		return TC_ACT_OK;
	struct upgw_addr ue;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);
		if ((void *)(ip + 1) > data_end)
			return TC_ACT_OK;
		addr_v4(&ue, ip->daddr);
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);
		if ((void *)(ip6 + 1) > data_end)
			return TC_ACT_OK;
		addr_v6(&ue, &ip6->daddr);
	} else {
		return TC_ACT_OK; /* ARP and friends: the UPGW's own stack answers */
	}
	__u64 bytes = skb->len;
	struct upgw_session s;
	if (!dl_session(&ue, &s, bytes)) {
		count(UPGW_STAT_DL_MISS, bytes);
		trace_app(skb, UPGW_STAT_DL_MISS, &ue, NULL);
		return TC_ACT_OK;
	}
	__u32 zero = 0;
	struct upgw_config *cfg = bpf_map_lookup_elem(&config, &zero);
	if (!cfg || !cfg->gnb_ifindex) {
		count(UPGW_STAT_ERR, bytes);
		trace_app(skb, UPGW_STAT_ERR, &ue, &s);
		return TC_ACT_SHOT;
	}
	if (skb->gso_segs > 1) {
		/* GSO would copy the GTP-U length into every segment unchanged. */
		count(UPGW_STAT_GSO, bytes);
		trace_app(skb, UPGW_STAT_GSO, &ue, &s);
		return TC_ACT_SHOT;
	}
	__u16 inner_len = skb->len - sizeof(struct ethhdr);

	if (s.family == 4) {
		if (encap4(skb, &s, inner_len, eth->h_proto == bpf_htons(ETH_P_IP))) {
			count(UPGW_STAT_ERR, bytes);
			return TC_ACT_SHOT;
		}
	} else {
		struct encap6 h = {};
		__builtin_memcpy(h.eth.h_dest, s.gnb_mac, ETH_ALEN);
		__builtin_memcpy(h.eth.h_source, s.upf_mac, ETH_ALEN);
		h.eth.h_proto = bpf_htons(ETH_P_IPV6);
		h.ip.version = 6;
		__u16 ulen = sizeof(h.udp) + sizeof(h.gtp) + inner_len;
		h.ip.payload_len = bpf_htons(ulen);
		h.ip.nexthdr = IPPROTO_UDP;
		h.ip.hop_limit = 64;
		__builtin_memcpy(&h.ip.saddr, &s.upf, 16);
		__builtin_memcpy(&h.ip.daddr, &s.gnb, 16);
		h.udp.source = bpf_htons(s.sport);
		h.udp.dest = bpf_htons(UPGW_GTPU_PORT);
		h.udp.len = bpf_htons(ulen);
		gtp_hdr(h.gtp, s.teid, s.qfi, inner_len);
		if (grow_room(skb, sizeof(h) - sizeof(h.eth), UPGW_ENCAP_FLAGS6)) {
			count(UPGW_STAT_ERR, bytes);
			return TC_ACT_SHOT;
		}
		if (bpf_skb_store_bytes(skb, 0, &h, sizeof(h), 0) ||
		    udp6_csum(skb, offsetof(struct encap6, udp), &h, ulen)) {
			count(UPGW_STAT_ERR, bytes);
			return TC_ACT_SHOT;
		}
	}
	count(UPGW_STAT_DL_ENCAP, bytes);
	/* After the encapsulation: the event shows the G-PDU that goes to the gNB. */
	trace_app(skb, UPGW_STAT_DL_ENCAP, &ue, &s);
	return bpf_redirect(cfg->gnb_ifindex, 0);
}

SEC("tc")
int upgw_app(struct __sk_buff *skb)
{
	return handle_app(skb);
}

/* upgw_dl_sync brings a UE's session-cache slot in line with the sessions map after the
 * control plane changed that map: the packet is the UE's address (struct upgw_addr). It is
 * never attached; the agent runs it with BPF_PROG_RUN, so that every write to the cache
 * follows the writers' protocol. */
SEC("xdp")
int upgw_dl_sync(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	if (data + sizeof(struct upgw_addr) > data_end)
		return XDP_ABORTED;
	struct upgw_addr ue;
	__builtin_memcpy(&ue, data, sizeof(ue));
	struct upgw_dl_entry *e = dl_entry(&ue);
	if (!e)
		return XDP_PASS;
	dl_cache_put(e, &ue, bpf_map_lookup_elem(&sessions, &ue));
	return XDP_PASS;
}

/* ---- DUPLICATE_* (TC on N3 ports, after upgw_ul left its verdict in the metadata) -------- */

static __always_inline int handle_dup(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	struct upgw_meta *md = (void *)(long)skb->data_meta;
	if ((void *)(md + 1) > data || md->magic != UPGW_META_MAGIC)
		return TC_ACT_OK;
	__u32 action = md->action, tslot = md->target, hdrlen = md->hdrlen;
	__u64 bytes = skb->len;
	__u32 zero = 0;
	struct upgw_config *cfg = bpf_map_lookup_elem(&config, &zero);
	struct upgw_target *tp = bpf_map_lookup_elem(&targets, &tslot);
	if (!cfg || !tp) {
		count(UPGW_STAT_ERR, bytes);
		return TC_ACT_SHOT;
	}
	struct upgw_target t = *tp;
	__u32 peer = skb->ingress_ifindex == cfg->gnb_ifindex ? cfg->upf_ifindex : cfg->gnb_ifindex;

	/* 1. The original goes on to the peer N3 port, unchanged. */
	if (bpf_clone_redirect(skb, peer, 0)) {
		count(UPGW_STAT_ERR, bytes);
		return TC_ACT_SHOT;
	}
	/* 2. The copy loses its VLAN tag (app ports are untagged). */
	if (skb->vlan_present)
		bpf_skb_vlan_pop(skb);

	if (action == UPGW_ACT_DUP_DECAP) {
		/* 3a. Strip outer IP + UDP + GTP-U and readdress to the app. */
		__u8 ver = 0;
		if (bpf_skb_load_bytes(skb, sizeof(struct ethhdr) + hdrlen, &ver, 1))
			goto err;
		ver >>= 4;
		if (hdrlen > 512 || bpf_skb_adjust_room(skb, -(__s32)hdrlen, BPF_ADJ_ROOM_MAC, 0))
			goto err;
		struct ethhdr eth;
		__builtin_memcpy(eth.h_dest, t.dmac, ETH_ALEN);
		__builtin_memcpy(eth.h_source, t.smac, ETH_ALEN);
		eth.h_proto = ver == 6 ? bpf_htons(ETH_P_IPV6) : bpf_htons(ETH_P_IP);
		if (bpf_skb_store_bytes(skb, 0, &eth, sizeof(eth), 0))
			goto err;
	} else {
		/* 3b. Point the outer header at the local GTP-U endpoint. */
		data = (void *)(long)skb->data;
		void *data_end = (void *)(long)skb->data_end;
		struct pkt p = {};
		if (parse_n3(data, data_end, &p) != P_GPDU)
			goto err;
		if (rewrite_encap(data, data_end, &p, &t) < 0)
			goto err;
	}
	count(UPGW_STAT_DUP_DONE, bytes);
	return bpf_redirect(t.ifindex, 0);
err:
	count(UPGW_STAT_ERR, bytes);
	return TC_ACT_SHOT;
}

SEC("tc")
int upgw_n3_tc(struct __sk_buff *skb)
{
	return handle_dup(skb);
}
