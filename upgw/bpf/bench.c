//go:build ignore
// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)

/* Benchmark harness for the UPGW programs. BPF_PROG_RUN with repeat > 1 does not reset the
 * packet between runs, so a decap or encap program would measure its own output from the
 * second run on. Each wrapper here first restores the packet from a template (held in
 * bench_tmpl), then runs the real code path; a twin wrapper does the same restore without
 * the program, and the benchmark reports the difference. A sink program counts frames that
 * the live-frames pipeline delivers. Two parser probes let the tests compare the parser's
 * fast path with the general parser. Built into a separate object, never shipped. */

/* Each run's encapsulation is undone by shrinking the skb, which leaves the kernel's
 * encapsulation mark set; without the flags every run takes the same, first-run path. */
#define UPGW_ENCAP_FLAGS4 0
#define UPGW_ENCAP_FLAGS6 0
/* The benchmark build pushes IPv4 in IPv4 with bpf_skb_adjust_room, which tc_restore can
 * undo (BenchmarkDownlinkEncapAdjustRoom, an upper bound for the shipped path).
 * BenchmarkDownlinkEncap loops the shipped program itself, bpf_skb_change_head and all
 * (bench_dl_shipped, below). */
#define UPGW_PUSH4(skb, len) bpf_skb_adjust_room(skb, len, BPF_ADJ_ROOM_MAC, 0)
#include "upgw.c"

#define BENCH_LEN 128
#define ENCAP4_LEN 44

struct bench_tmpl {
	__u8 b[BENCH_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct bench_tmpl);
} bench_tmpl SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} bench_sink_count SEC(".maps");

/* xdp_restore puts the template back: the head moves back if the last run decapsulated,
 * then all BENCH_LEN bytes are rewritten. */
static __always_inline int xdp_restore(struct xdp_md *ctx)
{
	__u32 zero = 0;
	struct bench_tmpl *t = bpf_map_lookup_elem(&bench_tmpl, &zero);
	if (!t)
		return -1;
	int cur = (long)ctx->data_end - (long)ctx->data;
	if (cur != BENCH_LEN && bpf_xdp_adjust_head(ctx, cur - BENCH_LEN))
		return -1;
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	if (data + BENCH_LEN > data_end)
		return -1;
	__builtin_memcpy(data, t->b, BENCH_LEN);
	return 0;
}

SEC("xdp")
int bench_ul(struct xdp_md *ctx)
{
	if (xdp_restore(ctx))
		return XDP_ABORTED;
	return handle_uplink(ctx);
}

SEC("xdp")
int bench_ul_restore(struct xdp_md *ctx)
{
	if (xdp_restore(ctx))
		return XDP_ABORTED;
	return XDP_REDIRECT;
}

/* tc_restore undoes the encapsulation of the previous run and rewrites the Ethernet header. */
static __always_inline int tc_restore(struct __sk_buff *skb)
{
	__u32 zero = 0;
	struct bench_tmpl *t = bpf_map_lookup_elem(&bench_tmpl, &zero);
	if (!t)
		return -1;
	if (skb->len != BENCH_LEN && bpf_skb_adjust_room(skb, -ENCAP4_LEN, BPF_ADJ_ROOM_MAC, 0))
		return -1;
	return bpf_skb_store_bytes(skb, 0, t->b, sizeof(struct ethhdr), 0);
}

SEC("tc")
int bench_dl(struct __sk_buff *skb)
{
	if (tc_restore(skb))
		return TC_ACT_SHOT;
	return handle_app(skb);
}

SEC("tc")
int bench_dl_restore(struct __sk_buff *skb)
{
	if (tc_restore(skb))
		return TC_ACT_SHOT;
	return TC_ACT_REDIRECT;
}

/* The *_move twins add the head move of the real path to the restore-only run: the
 * difference between the two twins is the cost of moving the head there and back, half of
 * which the benchmark credits back to the program (the restore pays the other half). */
SEC("xdp")
int bench_ul_move(struct xdp_md *ctx)
{
	if (xdp_restore(ctx))
		return XDP_ABORTED;
	bpf_xdp_adjust_head(ctx, 20 + 8 + 16); /* to the inner header, as the decap does */
	return XDP_REDIRECT;
}

SEC("tc")
int bench_dl_move(struct __sk_buff *skb)
{
	if (tc_restore(skb))
		return TC_ACT_SHOT;
	bpf_skb_adjust_room(skb, ENCAP4_LEN, BPF_ADJ_ROOM_MAC, 0);
	return TC_ACT_REDIRECT;
}

/* ---- the shipped return path in a loop --------------------------------------------------
 * bench_dl_shipped tail-calls the shipped upgw_app (loaded from the shipped object, placed in
 * slot 0 of bench_dl_progs by the benchmark), so the loop runs the shipped bytes, with
 * bpf_skb_change_head for IPv4 in IPv4. bpf_skb_change_head pushes the head and leaves the
 * network header where it was (on the inner header), and bpf_skb_adjust_room keeps the
 * network offset when it removes bytes, so that helper cannot undo a run. A VLAN tag popped
 * from the packet removes 4 bytes at the head and brings the network offset back by 4.
 * tc_restore_pushed therefore writes the MACs and 11 VLAN tags over the 58 bytes of the
 * previous run's outer headers (the old Ethernet header and the 44 pushed bytes), pushes one
 * tag to make skb->protocol a VLAN type, and pops the 12 tags: the packet is the template
 * again, with the network header on the inner IPv4 header. The last pop leaves a tag in the
 * accelerated slot, which the next restore's push needs (a push with the slot empty only
 * fills the slot). The twins tail-call a bare bpf_skb_change_head of 44 bytes (slot 1) or
 * two of 22 bytes (slot 2) after the same restore. */
#define VLAN_UNDO 11 /* ENCAP4_LEN / 4 */
#define VLAN_TAG_LE 0x01000081U /* bytes 81 00 00 01: 802.1Q, VID 1 */

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 3);
	__type(key, __u32);
	__type(value, __u32);
} bench_dl_progs SEC(".maps");

/* tc_restore_pushed undoes a run that grew the head by ENCAP4_LEN with bpf_skb_change_head.
 * A fresh packet (first run) is left as it is. */
static __always_inline int tc_restore_pushed(struct __sk_buff *skb)
{
	if (skb->len == BENCH_LEN)
		return 0;
	__u32 zero = 0;
	struct bench_tmpl *t = bpf_map_lookup_elem(&bench_tmpl, &zero);
	if (!t)
		return -1;
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	if (data + sizeof(struct ethhdr) + ENCAP4_LEN > data_end)
		return -1;
	ST64(data, *(__u64 *)t->b);
	*(__u32 *)(data + 8) = *(__u32 *)(t->b + 8);
#pragma clang loop unroll(full)
	for (int i = 0; i < VLAN_UNDO; i++)
		*(__u32 *)(data + 2 * ETH_ALEN + 4 * i) = VLAN_TAG_LE;
	ST16(data + 2 * ETH_ALEN + ENCAP4_LEN, bpf_htons(ETH_P_IP));
	/* The first restore finds the accelerated slot empty: fill it, so the next push moves
	 * it into the packet and sets skb->protocol. */
	if (!skb->vlan_present && bpf_skb_vlan_push(skb, bpf_htons(ETH_P_8021Q), 1))
		return -1;
	if (bpf_skb_vlan_push(skb, bpf_htons(ETH_P_8021Q), 1))
		return -1;
#pragma clang loop unroll(full)
	for (int i = 0; i <= VLAN_UNDO; i++)
		if (bpf_skb_vlan_pop(skb))
			return -1;
	return 0;
}

/* restore_and_run restores the packet and tail-calls slot (a constant, so the verifier
 * patches a direct jump) of bench_dl_progs. */
static __always_inline int restore_and_run(struct __sk_buff *skb, const __u32 slot)
{
	if (tc_restore_pushed(skb))
		return TC_ACT_SHOT;
	bpf_tail_call(skb, &bench_dl_progs, slot);
	return TC_ACT_SHOT;
}

SEC("tc")
int bench_dl_shipped(struct __sk_buff *skb)
{
	return restore_and_run(skb, 0);
}

SEC("tc")
int bench_dl_twin(struct __sk_buff *skb)
{
	return restore_and_run(skb, 1);
}

SEC("tc")
int bench_dl_twin2(struct __sk_buff *skb)
{
	return restore_and_run(skb, 2);
}

/* The twins' tail-call targets. */
SEC("tc")
int bench_change_head(struct __sk_buff *skb)
{
	if (bpf_skb_change_head(skb, ENCAP4_LEN, 0))
		return TC_ACT_SHOT;
	return TC_ACT_REDIRECT;
}

SEC("tc")
int bench_change_head2(struct __sk_buff *skb)
{
	if (bpf_skb_change_head(skb, ENCAP4_LEN / 2, 0) || bpf_skb_change_head(skb, ENCAP4_LEN / 2, 0))
		return TC_ACT_SHOT;
	return TC_ACT_REDIRECT;
}

/* bench_ul_live is the uplink wrapper of the live-frames pipeline. The kernel recycles each
 * frame with its head pointers reset but not its bytes, and the uplink program writes only
 * into the headers (the decap's new Ethernet header lands inside the old GTP-U header), so
 * restoring the header bytes is enough: the pipeline figure then carries as little harness
 * cost as possible. The sink counts only frames that were decapsulated toward the app. */
#define BENCH_HDR_LEN 64
SEC("xdp")
int bench_ul_live(struct xdp_md *ctx)
{
	__u32 zero = 0;
	struct bench_tmpl *t = bpf_map_lookup_elem(&bench_tmpl, &zero);
	if (!t)
		return XDP_ABORTED;
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	if (data + BENCH_LEN > data_end)
		return XDP_ABORTED;
	__builtin_memcpy(data, t->b, BENCH_HDR_LEN);
	return handle_uplink(ctx);
}

/* bench_sink ends the live-frames pipeline on the app's side of the veth. */
SEC("xdp")
int bench_sink(struct xdp_md *ctx)
{
	__u32 zero = 0;
	__u64 *c = bpf_map_lookup_elem(&bench_sink_count, &zero);
	if (c)
		(*c)++;
	return XDP_DROP;
}

/* parse_result is what a parser probe leaves in parse_out: whether parse_fast took the
 * packet, the parser's result (enum parse_res) and the fields it extracted. */
struct parse_result {
	__u32 taken;
	__u32 res;
	struct pkt p;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct parse_result);
} parse_out SEC(".maps");

/* parse_start clears the result, padding included, and sets the fields parse_n3 clears
 * before either parser runs. */
static __always_inline struct parse_result *parse_start(void)
{
	__u32 zero = 0;
	struct parse_result *r = bpf_map_lookup_elem(&parse_out, &zero);
	if (!r)
		return NULL;
	__builtin_memset(r, 0, sizeof(*r));
	return r;
}

/* bench_parse_fast runs parse_fast and, when it takes the packet, the inner parser, as
 * parse_n3 does. */
SEC("xdp")
int bench_parse_fast(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct parse_result *r = parse_start();
	if (!r)
		return XDP_ABORTED;
	r->taken = parse_fast(data, data_end, &r->p);
	if (r->taken)
		r->res = parse_inner(data, data_end, &r->p);
	return XDP_PASS;
}

/* bench_parse_general runs the general parser alone. */
SEC("xdp")
int bench_parse_general(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct parse_result *r = parse_start();
	if (!r)
		return XDP_ABORTED;
	r->res = parse_general(data, data_end, &r->p);
	return XDP_PASS;
}
