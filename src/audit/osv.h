/*
 * audit/osv.h - the in-memory OSV database shared by the loader (osv.c) and
 * the matcher (match.c) (internal).
 *
 * Only what PyPI matching needs is kept: per advisory its id, aliases,
 * summary, severity, withdrawn flag and, per affected PyPI package, the
 * normalized name, the listed versions and the ranges with PEP 440-parsed
 * events (sorted as the OSV schema's evaluation section requires).
 * Everything lives in the database's arena; the database is immutable after
 * loading. Must not: keep pointers into the files it read.
 */
#ifndef BW_AUDIT_OSV_H
#define BW_AUDIT_OSV_H

#include <stddef.h>
#include <stdint.h>

#include "audit/pep440.h"
#include "bulwark/audit.h"
#include "core/arena.h"

enum osv_event_kind { OSV_INTRODUCED = 0, OSV_FIXED, OSV_LAST_AFFECTED, OSV_LIMIT };
enum osv_range_type { OSV_ECOSYSTEM = 0, OSV_SEMVER, OSV_GIT, OSV_OTHER };

struct osv_event {
	uint8_t kind;          /* enum osv_event_kind */
	uint8_t zero;          /* introduced "0": before every version */
	uint32_t idx;          /* position in the advisory: equal versions keep their order */
	const char *text;
	struct bw_pep440 v;    /* valid unless zero */
};

struct osv_range {
	uint8_t type;          /* enum osv_range_type */
	size_t n_events;       /* ECOSYSTEM: only PEP 440 events, sorted; others: none kept */
	struct osv_event *events;
	size_t n_bad;          /* events dropped because PEP 440 cannot parse them */
};

struct osv_vuln;

struct osv_affected {
	const char *name;      /* PEP 503 normalized */
	size_t n_ranges;
	struct osv_range *ranges;
	size_t n_versions;
	const char **versions;
	struct osv_vuln *vuln;
	struct osv_affected *next; /* next entry with the same name */
};

struct osv_vuln {
	const char *id;
	const char *summary;
	size_t n_aliases;
	const char **aliases;
	int withdrawn;
	enum bw_severity severity;
	int severity_known;
	double score;
	const char *vector;
	const char *url;
	const char *file;
};

#define OSV_WANT_BITMAP_BITS 65536u
#define OSV_MAX_THREADS 2

struct osv_name_slot {
	const char *name;
	struct osv_affected *head;
};

struct bw_osv_db {
	struct bw_arena arena;
	struct osv_name_slot *slots; /* open addressing, n_slots a power of two */
	size_t n_slots;
	struct bw_osv_db_info info;
	/* loading state */
	struct osv_affected **all;
	size_t n_all, cap_all;
	struct bw_osv_problem *problems;
	size_t n_problems, cap_problems;
	uint64_t total_read;
	struct bw_osv_load_opts opts;
	struct osv_name_slot *want;  /* only_names as a set (NULL: all) */
	size_t n_want_slots;
	uint8_t *rbuf;               /* read buffer for one advisory */
	struct bw_arena scratch;     /* the parsed tree of one advisory */
	uint64_t want_bits[OSV_WANT_BITMAP_BITS / 64]; /* hashes of only_names */
	struct bw_arena more[OSV_MAX_THREADS];         /* arenas of merged loaders */
};

uint64_t bw_osv_hash(const char *s, size_t n);
/* First affected entry for a normalized name, NULL if none. */
const struct osv_affected *bw_osv_lookup(const struct bw_osv_db *db, const char *norm_name);

/*
 * The load prefilter on one file's bytes, for tests and fuzzing: would a load
 * with only_names = names parse this file? Returns 1 (parse) or 0 (skip), -1
 * when names is empty or on allocation failure. keyed (optional) gets what the
 * cheap "name"-key judge said: 1 wanted, 0 not wanted, -1 could not judge
 * (the word scan decided). Sound: a file whose loaded PyPI entries name a
 * wanted package is never skipped.
 */
int bw_osv_prefilter(const char *const *names, size_t n_names, const uint8_t *p, size_t n, int *keyed);

#endif
