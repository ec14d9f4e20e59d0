/*
 * core/arena.h - bump allocator with a byte budget (internal).
 *
 * Everything parsed from one input lives in that input's arena and dies with
 * it. The budget caps total memory one hostile input can make us hold: once
 * reached, allocations return NULL and the caller reports BW_ERR_LIMIT/NOMEM.
 * Not thread-safe: one arena per thread of work.
 */
#ifndef BW_CORE_ARENA_H
#define BW_CORE_ARENA_H

#include <stddef.h>

struct bw_arena_chunk;

struct bw_arena {
	struct bw_arena_chunk *head;
	size_t used;    /* bytes handed out plus chunk overhead */
	size_t budget;  /* 0 means no budget */
	int over_budget; /* sticky: set once an allocation was refused by budget */
};

/* Initialise (no allocation). budget 0 = unlimited. */
void bw_arena_init(struct bw_arena *a, size_t budget);
/* Free every chunk; the arena may be reused afterwards. NULL allowed. */
void bw_arena_release(struct bw_arena *a);

/* 16-byte aligned, zeroed memory; NULL on failure or budget. */
void *bw_arena_alloc(struct bw_arena *a, size_t n);
/*
 * The same, not zeroed: for blocks the caller fills before reading (a
 * zeroing pass touches every page of a block that may be used only in part).
 */
void *bw_arena_alloc_uninit(struct bw_arena *a, size_t n);
void *bw_arena_array(struct bw_arena *a, size_t count, size_t size);
char *bw_arena_strdup(struct bw_arena *a, const char *s);
char *bw_arena_strndup(struct bw_arena *a, const char *s, size_t n);
char *bw_arena_printf(struct bw_arena *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
