// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Internet checksum helpers (RFC 1071, incremental update per RFC 1624). Ones' complement
 * sums are byte-order independent as long as every word is taken in memory order, so these
 * work on values loaded straight from the packet. */
#pragma once

#include <linux/types.h>

static __always_inline __u16 csum_fold(__u64 s)
{
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)~s;
}

/* csum_replace4 updates the checksum at *sum for a 32-bit field changing from -> to. */
static __always_inline void csum_replace4(__u16 *sum, __u32 from, __u32 to)
{
	__u64 s = (__u16)~*sum;
	s += (__u16)~from + (__u16)~(from >> 16);
	s += (to & 0xffff) + (to >> 16);
	*sum = csum_fold(s);
}

/* udp_csum_replace4 is csum_replace4 for a UDP checksum, where 0 means "none" (IPv4 only)
 * and a computed 0 is sent as 0xffff. */
static __always_inline void udp_csum_replace4(__u16 *sum, __u32 from, __u32 to, int v6)
{
	if (!v6 && *sum == 0)
		return;
	csum_replace4(sum, from, to);
	if (*sum == 0)
		*sum = 0xffff;
}

/* ipv4_csum computes the header checksum of an option-less IPv4 header. */
static __always_inline __u16 ipv4_csum(const void *hdr)
{
	const __u16 *w = hdr;
	__u64 s = 0;
#pragma unroll
	for (int i = 0; i < 10; i++)
		s += w[i];
	return csum_fold(s);
}
