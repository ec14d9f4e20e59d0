/*
 * core/alloc.h - the only allocator entry points of libbulwark (internal).
 *
 * No module calls malloc/free directly: these wrappers give allocation-failure
 * testing (bw_alloc_fail_after) and checked count*size arithmetic. They never
 * abort: failure is NULL and the caller returns BW_ERR_NOMEM.
 * Thread safety: safe; the failure-injection counter is process-wide and meant
 * for single-threaded tests only.
 */
#ifndef BW_CORE_ALLOC_H
#define BW_CORE_ALLOC_H

#include <stddef.h>
#include <stdint.h>

#include "bulwark/error.h"

void *bw_malloc(size_t n);
void *bw_calloc(size_t count, size_t size);   /* NULL on overflow */
void *bw_reallocarray(void *p, size_t count, size_t size); /* NULL on overflow; p kept */
void bw_free(void *p);
char *bw_strdup(const char *s);
char *bw_strndup(const char *s, size_t n);

/*
 * Advise the kernel to back the whole pages inside [p, p+n) with transparent
 * huge pages (Linux MADV_HUGEPAGE; a no-op elsewhere or when refused). For
 * big, densely written blocks: one fault per 2 MiB instead of per 4 KiB.
 */
void bw_hint_hugepages(void *p, size_t n);

/*
 * Reserve n bytes of zeroed address space whose pages are committed only when
 * first written (an anonymous mapping, huge pages advised), for a big array
 * that grows without copies: the caller bounds and accounts what it uses.
 * NULL on failure. Release with bw_unreserve(p, n) (NULL allowed).
 */
void *bw_reserve(size_t n);
void bw_unreserve(void *p, size_t n);

/* Wipe n bytes in a way the compiler cannot elide (secrets). */
void bw_wipe(void *p, size_t n);

/* Constant-time comparison: 0 when equal. */
int bw_ct_memcmp(const void *a, const void *b, size_t n);

/*
 * Testing only: make the n-th allocation from now fail (n == 0 turns it off).
 * Returns the number of allocations made since the last call.
 */
uint64_t bw_alloc_fail_after(uint64_t n);

/* Checked arithmetic: return 1 on overflow (out untouched), 0 otherwise. */
static inline int bw_mul_ovf(size_t a, size_t b, size_t *out)
{
	return __builtin_mul_overflow(a, b, out);
}
static inline int bw_add_ovf(size_t a, size_t b, size_t *out)
{
	return __builtin_add_overflow(a, b, out);
}
static inline int bw_add_ovf64(uint64_t a, uint64_t b, uint64_t *out)
{
	return __builtin_add_overflow(a, b, out);
}

#endif
