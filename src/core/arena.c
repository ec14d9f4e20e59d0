/*
 * arena.c - chunked bump allocator with a budget.
 * Chunks grow geometrically up to 32 MiB (never past what is left of the
 * budget); large requests get their own chunk. Chunks of 4 MiB and more are
 * marked for transparent huge pages: an arena that holds millions of small
 * values (a pickle's symbolic objects) otherwise spends a large part of its
 * time in 4 KiB page faults.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/arena.h"

#define ARENA_MIN_CHUNK ((size_t)4096)
#define ARENA_MAX_CHUNK ((size_t)32 << 20)
#define ARENA_HUGE_CHUNK ((size_t)4 << 20)
#define ARENA_ALIGN ((size_t)16)

struct bw_arena_chunk {
	struct bw_arena_chunk *next;
	size_t cap;
	size_t pos;
	_Alignas(16) unsigned char data[];
};

void bw_arena_init(struct bw_arena *a, size_t budget)
{
	a->head = NULL;
	a->used = 0;
	a->budget = budget;
	a->over_budget = 0;
}

void bw_arena_release(struct bw_arena *a)
{
	struct bw_arena_chunk *c, *n;

	if (a == NULL)
		return;
	for (c = a->head; c != NULL; c = n) {
		n = c->next;
		bw_free(c);
	}
	a->head = NULL;
	a->used = 0;
	a->over_budget = 0;
}

void *bw_arena_alloc_uninit(struct bw_arena *a, size_t n)
{
	struct bw_arena_chunk *c = a->head;
	size_t need, cap, total;
	void *p;

	if (n > SIZE_MAX - ARENA_ALIGN)
		return NULL;
	need = (n + ARENA_ALIGN - 1) & ~(ARENA_ALIGN - 1);
	if (need == 0)
		need = ARENA_ALIGN;
	if (c == NULL || c->cap - c->pos < need) {
		cap = c == NULL ? ARENA_MIN_CHUNK : c->cap * 2;
		if (cap > ARENA_MAX_CHUNK)
			cap = ARENA_MAX_CHUNK;
		/* a big chunk is only reserved address space: keep it within what is left of the budget */
		if (a->budget != 0 && a->used < a->budget && a->budget - a->used > sizeof *c &&
		    cap > a->budget - a->used - sizeof *c)
			cap = a->budget - a->used - sizeof *c;
		if (cap < need)
			cap = need;
		if (bw_add_ovf(cap, sizeof *c, &total))
			return NULL;
		if (a->budget != 0 && (a->used > a->budget || total > a->budget - a->used)) {
			a->over_budget = 1;
			return NULL;
		}
		c = bw_malloc(total);
		if (c == NULL)
			return NULL;
		if (total >= ARENA_HUGE_CHUNK)
			bw_hint_hugepages(c, total);
		c->cap = cap;
		c->pos = 0;
		/* A dedicated big chunk goes behind the head so the head keeps serving small requests. */
		if (a->head != NULL && need > a->head->cap - a->head->pos && cap == need && a->head->cap > need) {
			c->next = a->head->next;
			a->head->next = c;
		} else {
			c->next = a->head;
			a->head = c;
		}
		a->used += total;
	}
	p = c->data + c->pos;
	c->pos += need;
	return p;
}

void *bw_arena_alloc(struct bw_arena *a, size_t n)
{
	void *p = bw_arena_alloc_uninit(a, n);

	if (p != NULL)
		memset(p, 0, n);
	return p;
}

void *bw_arena_array(struct bw_arena *a, size_t count, size_t size)
{
	size_t n;

	if (bw_mul_ovf(count, size, &n))
		return NULL;
	return bw_arena_alloc(a, n);
}

char *bw_arena_strndup(struct bw_arena *a, const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *r = bw_arena_alloc(a, len + 1);

	if (r == NULL)
		return NULL;
	memcpy(r, s, len);
	r[len] = '\0';
	return r;
}

char *bw_arena_strdup(struct bw_arena *a, const char *s)
{
	return bw_arena_strndup(a, s, strlen(s));
}

char *bw_arena_printf(struct bw_arena *a, const char *fmt, ...)
{
	va_list ap;
	int n;
	char *r;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return NULL;
	r = bw_arena_alloc(a, (size_t)n + 1);
	if (r == NULL)
		return NULL;
	va_start(ap, fmt);
	vsnprintf(r, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return r;
}
