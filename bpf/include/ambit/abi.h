/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The one ABI shared by Ambit's BPF programs and its C++ user space. Every struct, map name,
 * counter id and drop reason that crosses the kernel boundary is defined here and nowhere else;
 * sizes are asserted on both sides, so a layout drift fails the build instead of corrupting maps.
 *
 * Rules: fixed-width types only, explicit padding, no bitfields, no pointers. Bump
 * AMBIT_ABI_VERSION whenever a pinned map's key/value layout changes: the agent refuses to adopt
 * pins of another version and replaces them.
 */
#ifndef AMBIT_ABI_H
#define AMBIT_ABI_H

#ifdef __BPF__
#include <linux/types.h>
#define AMBIT_STATIC_ASSERT(c, m) _Static_assert(c, m)
#else
#include <linux/types.h>
#ifdef __cplusplus
#define AMBIT_STATIC_ASSERT(c, m) static_assert(c, m)
#else
#define AMBIT_STATIC_ASSERT(c, m) _Static_assert(c, m)
#endif
#endif

#define AMBIT_ABI_VERSION 1

/* ---- hello: the trivial program that proves the bpf_object() build path ---- */

enum ambit_hello_stat {
	AMBIT_HELLO_PACKETS = 0,
	AMBIT_HELLO_IPV4 = 1,
	AMBIT_HELLO_IPV6 = 2,
	AMBIT_HELLO_OTHER = 3,
	AMBIT_HELLO_STAT_MAX = 4,
};

#endif /* AMBIT_ABI_H */
