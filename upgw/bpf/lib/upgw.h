// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Types, constants and maps shared by the UPGW programs. Every struct here is also the Go
 * type bpf2go generates from BTF, so field order and padding are part of the contract with
 * upgw/internal/dataplane. */
#pragma once

#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define UPGW_GTPU_PORT 2152

/* Limits. UPGW_MAX_CANDS bounds the per-packet classification loop. */
#define UPGW_MAX_CANDS   16   /* match candidates behind one destination prefix */
#define UPGW_MAX_RULES   1024 /* per-rule counter slots */
#define UPGW_MAX_TARGETS 64   /* output ports: 0 gNB side, 1 UPF side, 2.. apps and GTP-U endpoints */
#define UPGW_MAX_PREFIXES 4096
#define UPGW_MAX_EXT     4    /* GTP-U extension headers walked */
#define UPGW_MAX_SESSIONS 65536

#define UPGW_SLOT_GNB 0
#define UPGW_SLOT_UPF 1

/* Actions, numbered like ETSI GS MEC 011 TrafficRule.action (0 means no rule matched). */
enum upgw_action {
	UPGW_ACT_NONE = 0,
	UPGW_ACT_DROP = 1,
	UPGW_ACT_FWD_DECAP = 2,
	UPGW_ACT_FWD_ENCAP = 3,
	UPGW_ACT_PASSTHROUGH = 4,
	UPGW_ACT_DUP_DECAP = 5,
	UPGW_ACT_DUP_ENCAP = 6,
};

/* Match fields checked by a candidate (upgw_match.fields). The destination prefix is not
 * here: the LPM lookup that found the candidate list already proved it. */
enum upgw_field {
	UPGW_F_SRC = 1 << 0,       /* inner source prefix */
	UPGW_F_PROTO = 1 << 1,     /* inner L4 protocol */
	UPGW_F_SPORT = 1 << 2,     /* inner source port range */
	UPGW_F_DPORT = 1 << 3,     /* inner destination port range */
	UPGW_F_TUN_SRC = 1 << 4,   /* outer source prefix */
	UPGW_F_TUN_DST = 1 << 5,   /* outer destination prefix */
	UPGW_F_TUN_SPORT = 1 << 6, /* outer UDP source port range */
	UPGW_F_TUN_DPORT = 1 << 7, /* outer UDP destination port range */
	UPGW_F_TEID = 1 << 8,      /* TEID (MEC tag/token) */
	UPGW_F_QFI = 1 << 9,       /* QFI from the PDU Session Container (MEC qCI) */
	UPGW_F_DSCP = 1 << 10,     /* IPv4 DSCP (MEC dSCP): only IPv4 packets match */
	UPGW_F_TC = 1 << 11,       /* IPv6 traffic class (MEC tC): only IPv6 packets match */
};

/* Per-path counters (index into the path_stats per-CPU array). */
enum upgw_stat {
	UPGW_STAT_UL_PASS = 0,     /* uplink G-PDU, no rule matched, redirected to the UPF port */
	UPGW_STAT_UL_DECAP,        /* FORWARD_DECAPSULATED */
	UPGW_STAT_UL_ENCAP,        /* FORWARD_ENCAPSULATED */
	UPGW_STAT_UL_DROP,         /* DROP */
	UPGW_STAT_UL_PASS_RULE,    /* PASSTHROUGH rule matched */
	UPGW_STAT_UL_DUP,          /* DUPLICATE_* handed to TC */
	UPGW_STAT_DL_PASS,         /* downlink G-PDU redirected to the gNB port */
	UPGW_STAT_DL_LEARN,        /* downlink session created or changed (handover) */
	UPGW_STAT_DL_ENCAP,        /* app reply encapsulated toward the gNB */
	UPGW_STAT_DL_MISS,         /* app packet with no learned session */
	UPGW_STAT_NON_GTP,         /* not GTP-U: passed to the peer untouched */
	UPGW_STAT_GTP_OTHER,       /* echo, error indication, end marker, other GTP-U */
	UPGW_STAT_FRAG,            /* outer fragment: passed untouched */
	UPGW_STAT_MALFORMED,       /* bad GTP-U or inner header: passed untouched */
	UPGW_STAT_DUP_DONE,        /* TC completed a duplicate */
	UPGW_STAT_ERR,             /* helper failure (adjust, redirect, missing target) */
	UPGW_STAT_GSO,             /* app GSO packet cannot be encapsulated: dropped */
	UPGW_STAT_DL_SLOW,         /* app reply whose session came from the sessions table,
				    * not the session cache (slot taken, or a writer inside) */
	UPGW_STAT_DL_NEW,          /* downlink session learned for a UE the sessions map did not
				    * hold (new, or evicted earlier): with the map's size, the agent
				    * derives the evictions from it */
	UPGW_STAT_MAX,
};

/* upgw_counter is one packets/bytes pair of a per-CPU counter. */
struct upgw_counter {
	__u64 packets;
	__u64 bytes;
};

/* upgw_addr is an IPv6 address or an IPv4-mapped IPv4 address (::ffff:a.b.c.d), network order. */
struct upgw_addr {
	__u32 w[4];
};

/* upgw_prefix is an address and mask (both network order); a zero mask matches anything. */
struct upgw_prefix {
	struct upgw_addr addr;
	struct upgw_addr mask;
};

/* upgw_match is one compiled (traffic rule, traffic filter, expansion) tuple. The candidate
 * list holding it is sorted by rule priority, so the first match wins. */
struct upgw_match {
	__u32 rule_slot; /* per-rule counter slot */
	__u32 fields;    /* UPGW_F_* */
	__u8 action;     /* UPGW_ACT_* */
	__u8 proto;
	__u8 qfi;
	__u8 dscp; /* DSCP value (0..63) */
	__u8 tc;   /* traffic class byte */
	__u8 target; /* output slot for FORWARD_* and DUPLICATE_* */
	__u16 pad;
	__u16 sport_lo, sport_hi; /* host order, inclusive */
	__u16 dport_lo, dport_hi;
	__u16 tsport_lo, tsport_hi;
	__u16 tdport_lo, tdport_hi;
	__u32 teid; /* host order */
	struct upgw_prefix src;
	struct upgw_prefix tun_src;
	struct upgw_prefix tun_dst;
};

/* upgw_cands is the value of the per-generation LPM trie: every candidate whose destination
 * prefix covers the key prefix, in priority order. */
struct upgw_cands {
	__u32 n;
	__u32 pad;
	struct upgw_match m[UPGW_MAX_CANDS];
};

/* upgw_host is one slot of a generation's host table: a destination that is a whole
 * address (/32 or /128) key of the LPM trie, with the same candidates the trie holds for
 * it. The slot is chosen by upgw_host_slot(); a host whose slot is taken stays in the trie
 * only. */
struct upgw_host {
	struct upgw_addr addr;
	__u32 used;
	__u32 pad;
	struct upgw_cands c;
};

#define UPGW_HOST_BITS 10
#define UPGW_HOST_SLOTS (1 << UPGW_HOST_BITS)

/* upgw_addr_slot hashes an address (words as loaded from memory) to one of 1 << bits slots:
 * the words folded by XOR, then a multiplicative (Fibonacci) hash. The Go side computes the
 * same (dataplane.addrSlot). */
static __always_inline __u32 upgw_addr_slot(const struct upgw_addr *a, int bits)
{
	__u32 h = a->w[0] ^ a->w[1] ^ a->w[2] ^ a->w[3];
	return (h * 0x9e3779b1u) >> (32 - bits);
}

/* upgw_host_slot is an address's host-table slot. */
static __always_inline __u32 upgw_host_slot(const struct upgw_addr *a)
{
	return upgw_addr_slot(a, UPGW_HOST_BITS);
}

/* upgw_lpm_key keys the LPM trie by inner destination (IPv4 as ::ffff:0:0/96 + prefix). */
struct upgw_lpm_key {
	__u32 prefixlen;
	struct upgw_addr addr;
};

/* upgw_target describes an output slot: the port, the MACs to write and, for GTP-U
 * endpoints, the outer destination (and optionally TEID) that FORWARD_ENCAPSULATED and
 * DUPLICATE_ENCAPSULATED rewrite. */
struct upgw_target {
	__u32 ifindex;
	__u8 smac[6];
	__u8 dmac[6];
	__u8 kind;   /* 0 unused, 1 N3 port, 2 app, 3 GTP-U endpoint */
	__u8 family; /* GTP-U endpoint address family: 4 or 6 */
	__u8 set_teid;
	__u8 pad;
	__u32 teid; /* host order, used when set_teid */
	struct upgw_addr tun_dst;
};

#define UPGW_TARGET_N3 1
#define UPGW_TARGET_APP 2
#define UPGW_TARGET_GTPU 3

/* upgw_session is the downlink tunnel of one UE, learned from downlink G-PDUs: what the
 * return path needs to make an app reply look like a downlink G-PDU from the UPF. */
struct upgw_session {
	struct upgw_addr gnb;  /* outer destination of downlink G-PDUs */
	struct upgw_addr upf;  /* outer source of downlink G-PDUs */
	__u32 teid;            /* DL TEID, host order */
	__u8 qfi;
	__u8 family; /* outer family, 4 or 6 */
	__u8 gnb_mac[6];
	__u8 upf_mac[6];
	__u16 sport; /* outer UDP source port, host order */
	__u64 updated_ns;
	__u64 learned; /* times the session was (re)learned: 1 + handovers */
};

/* upgw_dl_entry is one slot of the return path's session cache (dl_cache): a direct-mapped
 * copy of a session, so that an app reply finds its tunnel with an inlined array lookup
 * instead of a hash of the UE address. The sessions map stays the table of record. Writers
 * (downlink learning and the control plane's sync program) take the lock and make seq odd
 * while they write; readers take no lock: they copy the entry and keep the copy only if seq
 * was even and unchanged around it. An entry whose ue is all zero is empty. */
struct upgw_dl_entry {
	struct bpf_spin_lock lock;
	__u32 seq;
	struct upgw_addr ue;
	struct upgw_session s;
};

#define UPGW_DL_CACHE_BITS 16
#define UPGW_DL_CACHE_SLOTS (1 << UPGW_DL_CACHE_BITS)

/* upgw_dl_slot is a UE's session-cache slot. */
static __always_inline __u32 upgw_dl_slot(const struct upgw_addr *a)
{
	return upgw_addr_slot(a, UPGW_DL_CACHE_BITS);
}

/* upgw_config is global configuration written once by the loader. */
struct upgw_config {
	__u32 gnb_ifindex;
	__u32 upf_ifindex;
};

/* upgw_meta is what XDP leaves in the packet metadata for the TC half of DUPLICATE_*. */
struct upgw_meta {
	__u32 magic;
	__u8 action;
	__u8 target;
	__u16 hdrlen; /* outer L3 start to inner L3 start */
	__u32 rule_slot;
	__u32 pad;
};
#define UPGW_META_MAGIC 0x55504757 /* "UPGW" */

/* ---- packet trace (issue 14) ------------------------------------------------------------
 * Off by default. When the agent turns it on (upgw_trace_on, a .bss word the fast path
 * tests and nothing else), every packet program offers each packet it is done deciding about
 * to the trace: the selection in trace_cfg, then the sampling, then a per-CPU token bucket
 * decide whether an event (struct upgw_trace_event) goes into the trace ring buffer. */

#define UPGW_TRACE_SNAP 256         /* bytes of packet prefix an event can carry */
#define UPGW_TRACE_NO_RULE 0xffffffffu /* upgw_trace_event.rule_slot: no rule matched */
#define UPGW_TRACE_RULE_WORDS (UPGW_MAX_RULES / 64)

/* Selection fields (upgw_trace_cfg.select). Unset fields select everything. */
enum upgw_trace_select {
	UPGW_TSEL_RULE = 1 << 0, /* rule slot in rule_mask (by rule or by app instance) */
	UPGW_TSEL_UE = 1 << 1,   /* inner source or destination equals ue */
	UPGW_TSEL_TEID = 1 << 2, /* TEID equals teid */
};

/* Programs an event comes from (upgw_trace_event.prog). */
enum upgw_trace_prog {
	UPGW_TPROG_UL = 1,  /* upgw_ul, XDP on the gNB-side port: the packet as it arrived */
	UPGW_TPROG_DL = 2,  /* upgw_dl, XDP on the UPF-side port: the packet as it arrived */
	UPGW_TPROG_APP = 3, /* upgw_app, TC on an app port: the reply as encapsulated (dl_encap),
			     * else as it arrived */
};

/* upgw_trace_cfg is the active trace's selection and limits (trace_cfg, slot 0). The agent
 * writes it while upgw_trace_on is 0, then sets upgw_trace_on. */
struct upgw_trace_cfg {
	__u32 select;   /* UPGW_TSEL_* */
	__u32 paths;    /* bit per enum upgw_stat; 0 selects every path */
	__u32 teid;     /* host order */
	__u32 sample;   /* 1 in sample packets that pass the selection (0 or 1: every one) */
	__u32 snaplen;  /* bytes of prefix, 1..UPGW_TRACE_SNAP */
	__u32 pad;
	__u64 cost_ns;  /* token bucket: budget one event costs a CPU (1e9 * CPUs / rate) */
	__u64 burst_ns; /* token bucket: most budget a CPU can save up */
	__u64 end_ns;   /* CLOCK_MONOTONIC_COARSE after which nothing is traced (0: no end) */
	struct upgw_addr ue;
	__u64 rule_mask[UPGW_TRACE_RULE_WORDS];
};

/* upgw_trace_bucket is one CPU's token bucket: budget in nanoseconds, refilled by the time
 * elapsed since last_ns (CLOCK_MONOTONIC_COARSE: a tick's resolution), capped at burst_ns. */
struct upgw_trace_bucket {
	__u64 last_ns;
	__u64 budget_ns;
};

/* Trace counters (trace_stats, per CPU). */
enum upgw_trace_stat {
	UPGW_TSTAT_EMITTED = 0, /* events in the ring buffer */
	UPGW_TSTAT_CAPPED,      /* selected packets over the events-per-second cap */
	UPGW_TSTAT_LOST,        /* ring buffer full */
	UPGW_TSTAT_MAX,
};

/* upgw_trace_event is one traced packet. */
struct upgw_trace_event {
	__u64 ts_ns;     /* bpf_ktime_get_ns (CLOCK_MONOTONIC) */
	__u32 ifindex;   /* port the packet arrived on */
	__u32 pkt_len;   /* length on the wire */
	__u32 cap_len;   /* bytes of data that are the packet's */
	__u32 rule_slot; /* UPGW_TRACE_NO_RULE when no rule matched */
	__u32 teid;      /* host order; 0 when the packet has no GTP-U header */
	__u16 path;      /* enum upgw_stat */
	__u8 qfi;
	__u8 prog;       /* enum upgw_trace_prog */
	__u8 data[UPGW_TRACE_SNAP];
};
