/*
 * alloc.c - allocator wrappers with failure injection and secret wiping.
 * Must not print or abort.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "core/alloc.h"

static uint64_t g_fail_at;  /* 0: off; otherwise fail when g_count reaches it */
static uint64_t g_count;

static int should_fail(void)
{
	g_count++;
	return g_fail_at != 0 && g_count >= g_fail_at;
}

uint64_t bw_alloc_fail_after(uint64_t n)
{
	uint64_t made = g_count;

	g_count = 0;
	g_fail_at = n;
	return made;
}

void *bw_malloc(size_t n)
{
	if (should_fail())
		return NULL;
	return malloc(n == 0 ? 1 : n);
}

void *bw_calloc(size_t count, size_t size)
{
	size_t n;

	if (bw_mul_ovf(count, size, &n) || should_fail())
		return NULL;
	return calloc(n == 0 ? 1 : n, 1);
}

void *bw_reallocarray(void *p, size_t count, size_t size)
{
	size_t n;

	if (bw_mul_ovf(count, size, &n) || should_fail())
		return NULL;
	return realloc(p, n == 0 ? 1 : n);
}

void bw_free(void *p)
{
	free(p);
}

char *bw_strndup(const char *s, size_t n)
{
	char *r;
	size_t len = strnlen(s, n);

	r = bw_malloc(len + 1);
	if (r == NULL)
		return NULL;
	memcpy(r, s, len);
	r[len] = '\0';
	return r;
}

char *bw_strdup(const char *s)
{
	return bw_strndup(s, strlen(s));
}

void bw_wipe(void *p, size_t n)
{
	volatile unsigned char *v = p;

	while (n--)
		*v++ = 0;
	__asm__ __volatile__("" : : "r"(p) : "memory");
}

int bw_ct_memcmp(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;
	unsigned char acc = 0;
	size_t i;

	for (i = 0; i < n; i++)
		acc |= (unsigned char)(x[i] ^ y[i]);
	return acc != 0;
}

void bw_hint_hugepages(void *p, size_t n)
{
#ifdef MADV_HUGEPAGE
	uintptr_t lo = ((uintptr_t)p + 4095) & ~(uintptr_t)4095;
	uintptr_t hi = ((uintptr_t)p + n) & ~(uintptr_t)4095;

	if (p != NULL && hi > lo)
		(void)madvise((void *)lo, (size_t)(hi - lo), MADV_HUGEPAGE);
#else
	(void)p;
	(void)n;
#endif
}

void *bw_reserve(size_t n)
{
	void *p;

	if (n == 0 || should_fail())
		return NULL;
	p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	bw_hint_hugepages(p, n);
	return p;
}

void bw_unreserve(void *p, size_t n)
{
	if (p != NULL)
		(void)munmap(p, n);
}
