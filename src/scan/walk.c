/*
 * walk.c - expand paths (files and directories, recursively) and scan them on
 * several threads, handing results back in a deterministic order.
 *
 * The walk uses an explicit stack (no recursion on directory depth), lstat()
 * on every entry, and never follows a symbolic link out of the directory the
 * user named: such links become a finding instead. Entries that are not
 * regular files (FIFOs, devices, sockets) are reported as not scanned rather
 * than opened, so a FIFO cannot hang the scan.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "scan/engine.h"

#define WALK_MAX_FILES 10000000u

enum item_kind { ITEM_SCAN, ITEM_NOTE, ITEM_ERROR };

struct item {
	char *path;
	enum item_kind kind;
	const char *rule;  /* ITEM_NOTE */
	char *msg;         /* ITEM_NOTE */
};

struct list {
	struct item *v;
	size_t n, cap;
};

static enum bw_err list_push(struct list *l, const char *path, enum item_kind kind,
                             const char *rule, const char *msg)
{
	struct item *it;

	if (l->n >= WALK_MAX_FILES)
		return BW_ERR_LIMIT;
	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 64;
		struct item *nv = bw_reallocarray(l->v, ncap, sizeof *nv);
		if (nv == NULL)
			return BW_ERR_NOMEM;
		l->v = nv;
		l->cap = ncap;
	}
	it = &l->v[l->n];
	it->path = bw_strdup(path);
	it->kind = kind;
	it->rule = rule;
	it->msg = msg ? bw_strdup(msg) : NULL;
	if (it->path == NULL || (msg && it->msg == NULL)) {
		bw_free(it->path);
		bw_free(it->msg);
		return BW_ERR_NOMEM;
	}
	l->n++;
	return BW_OK;
}

static void list_release(struct list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		bw_free(l->v[i].path);
		bw_free(l->v[i].msg);
	}
	bw_free(l->v);
	l->v = NULL;
	l->n = l->cap = 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int inside(const char *root_real, const char *target_real)
{
	size_t n = strlen(root_real);

	if (strcmp(root_real, "/") == 0)
		return 1;
	return strncmp(root_real, target_real, n) == 0 &&
	       (target_real[n] == '/' || target_real[n] == '\0');
}

/*
 * Hugging Face cache layout (huggingface_hub): <cache>/models--org--name/
 * {blobs/<hash>, snapshots/<revision>/<file> -> ../../blobs/<hash>}. When the
 * folder scanned is (inside) a snapshot, links into that repository's blobs/
 * are part of the model, not an escape. Writes the blobs path into out.
 */
static int hf_blobs_dir(const char *root_real, char *out, size_t outlen)
{
	const char *snap = strstr(root_real, "/snapshots/");
	const char *repo;
	struct stat st;
	size_t n;

	if (snap == NULL)
		return 0;
	repo = snap;
	while (repo > root_real && repo[-1] != '/')
		repo--;
	if (strncmp(repo, "models--", 8) != 0 && strncmp(repo, "datasets--", 10) != 0 &&
	    strncmp(repo, "spaces--", 8) != 0)
		return 0;
	n = (size_t)(snap - root_real);
	if (n + sizeof "/blobs" > outlen)
		return 0;
	memcpy(out, root_real, n);
	memcpy(out + n, "/blobs", sizeof "/blobs");
	return stat(out, &st) == 0 && S_ISDIR(st.st_mode);
}

/* "/" between a directory and a name, unless the directory already ends in one. */
static const char *sep(const char *dir)
{
	size_t n = strlen(dir);

	return n > 0 && dir[n - 1] == '/' ? "" : "/";
}

/* Read one directory's entry names, sorted. */
static enum bw_err read_dir(const char *dir, char ***names, size_t *n)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **v = NULL, **nv;
	size_t cnt = 0, cap = 0;

	*names = NULL;
	*n = 0;
	if (d == NULL)
		return BW_ERR_IO;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (cnt == cap) {
			cap = cap ? cap * 2 : 32;
			nv = bw_reallocarray(v, cap, sizeof *v);
			if (nv == NULL)
				goto nomem;
			v = nv;
		}
		v[cnt] = bw_strdup(e->d_name);
		if (v[cnt] == NULL)
			goto nomem;
		cnt++;
	}
	closedir(d);
	qsort(v, cnt, sizeof *v, cmp_str);
	*names = v;
	*n = cnt;
	return BW_OK;
nomem:
	closedir(d);
	while (cnt > 0)
		bw_free(v[--cnt]);
	bw_free(v);
	return BW_ERR_NOMEM;
}

/* Expand a directory into l, depth-first in name order, with an explicit stack. */
static enum bw_err walk_dir(const char *root, struct list *l)
{
	char root_real[PATH_MAX], real[PATH_MAX], path[PATH_MAX], blobs[PATH_MAX];
	struct list stack = {0};
	enum bw_err e = BW_OK;
	int hf;

	if (realpath(root, root_real) == NULL)
		return list_push(l, root, ITEM_ERROR, "walk.unreadable", strerror(errno));
	hf = hf_blobs_dir(root_real, blobs, sizeof blobs);
	e = list_push(&stack, root, ITEM_SCAN, NULL, NULL);
	while (e == BW_OK && stack.n > 0) {
		char **names = NULL;
		size_t n = 0, i;
		struct item top = stack.v[--stack.n];

		if (read_dir(top.path, &names, &n) != BW_OK) {
			e = list_push(l, top.path, ITEM_ERROR, "walk.unreadable",
			              "directory could not be read; its files were not scanned");
			bw_free(top.path);
			continue;
		}
		/* Push subdirectories in reverse so they pop in name order, after files. */
		for (i = 0; i < n && e == BW_OK; i++) {
			struct stat st;

			if ((size_t)snprintf(path, sizeof path, "%s%s%s", top.path, sep(top.path), names[i]) >=
			    sizeof path) {
				e = list_push(l, top.path, ITEM_ERROR, "walk.unreadable", "path too long; not scanned");
				continue;
			}
			if (lstat(path, &st) != 0) {
				e = list_push(l, path, ITEM_ERROR, "walk.unreadable", strerror(errno));
			} else if (S_ISREG(st.st_mode)) {
				e = list_push(l, path, ITEM_SCAN, NULL, NULL);
			} else if (S_ISLNK(st.st_mode)) {
				struct stat ts;
				if (realpath(path, real) == NULL || stat(real, &ts) != 0)
					e = list_push(l, path, ITEM_NOTE, "walk.broken-symlink",
					              "symbolic link to nothing; not scanned");
				else if (!inside(root_real, real) && !(hf && inside(blobs, real)))
					e = list_push(l, path, ITEM_NOTE, "walk.symlink-escape",
					              "symbolic link points outside the scanned folder; not followed");
				else if (S_ISREG(ts.st_mode))
					e = list_push(l, path, ITEM_SCAN, NULL, NULL);
				else
					e = list_push(l, path, ITEM_NOTE, "walk.symlink-dir",
					              "symbolic link to a directory inside the folder; not followed "
					              "(its target is scanned where it lies)");
			} else if (!S_ISDIR(st.st_mode)) {
				e = list_push(l, path, ITEM_ERROR, "walk.not-regular",
				              "not a regular file (FIFO, device or socket); not opened");
			}
		}
		for (i = n; i > 0 && e == BW_OK; i--) {
			struct stat st;

			if ((size_t)snprintf(path, sizeof path, "%s%s%s", top.path, sep(top.path), names[i - 1]) >=
			    sizeof path)
				continue;
			if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
				e = list_push(&stack, path, ITEM_SCAN, NULL, NULL);
		}
		for (i = 0; i < n; i++)
			bw_free(names[i]);
		bw_free(names);
		bw_free(top.path);
	}
	list_release(&stack);
	return e;
}

struct pool {
	const struct bw_scan_opts *o;
	struct list *items;
	struct bw_scan_result **results;
	size_t next;       /* next item to take */
	enum bw_err err;
	pthread_mutex_t mu;
	pthread_cond_t cv;
};

static void *worker(void *arg)
{
	struct pool *p = arg;
	struct bw_read_buf rb = {NULL, 0}; /* this thread's buffer for small files */

	for (;;) {
		size_t i;
		struct item *it;
		struct bw_scan_result *r = NULL;
		enum bw_err e;

		pthread_mutex_lock(&p->mu);
		if (p->next >= p->items->n || p->err != BW_OK) {
			pthread_mutex_unlock(&p->mu);
			bw_read_buf_release(&rb);
			return NULL;
		}
		i = p->next++;
		pthread_mutex_unlock(&p->mu);
		it = &p->items->v[i];
		if (it->kind == ITEM_ERROR)
			e = bw_result_new_error(it->path, BW_ERR_IO, it->msg, &r);
		else if (it->kind == ITEM_NOTE)
			e = bw_result_new_note(it->path, p->o, it->rule, it->msg,
			                       strcmp(it->rule, "walk.symlink-escape") == 0, &r);
		else
			e = bw_scan_file_buf(p->o, it->path, &rb, &r);
		pthread_mutex_lock(&p->mu);
		if (e != BW_OK && p->err == BW_OK)
			p->err = e;
		p->results[i] = r;
		pthread_cond_broadcast(&p->cv);
		pthread_mutex_unlock(&p->mu);
	}
}

enum bw_err bw_scan_paths(const struct bw_scan_opts *o, const char *const *paths, size_t n_paths,
                          unsigned threads, bw_scan_each_fn fn, void *user, struct bw_diag *diag)
{
	struct list items = {0};
	struct pool p;
	pthread_t tids[64];
	unsigned nt = 0, t;
	size_t i, emitted = 0;
	enum bw_err e = BW_OK;

	if (o == NULL || fn == NULL || (paths == NULL && n_paths > 0))
		return BW_ERR_ARG;
	for (i = 0; i < n_paths && e == BW_OK; i++) {
		struct stat st;

		/* The user named this path: follow it even when it is a link. */
		if (stat(paths[i], &st) != 0)
			e = list_push(&items, paths[i], ITEM_ERROR, "walk.unreadable", strerror(errno));
		else if (S_ISDIR(st.st_mode))
			e = walk_dir(paths[i], &items);
		else if (S_ISREG(st.st_mode))
			e = list_push(&items, paths[i], ITEM_SCAN, NULL, NULL);
		else
			e = list_push(&items, paths[i], ITEM_ERROR, "walk.not-regular",
			              "not a regular file (FIFO, device or socket); not opened");
	}
	if (e != BW_OK) {
		list_release(&items);
		return bw_diag_set(diag, e, BW_NO_OFFSET, "listing the files to scan failed: %s",
		                   bw_err_str(e));
	}
	p.o = o;
	p.items = &items;
	p.next = 0;
	p.err = BW_OK;
	p.results = bw_calloc(items.n + 1, sizeof *p.results);
	if (p.results == NULL) {
		list_release(&items);
		return BW_ERR_NOMEM;
	}
	pthread_mutex_init(&p.mu, NULL);
	pthread_cond_init(&p.cv, NULL);
	if (threads == 0) {
		long nc = sysconf(_SC_NPROCESSORS_ONLN);
		threads = nc > 0 ? (unsigned)nc : 1;
	}
	if (threads > 64)
		threads = 64;
	if (threads > items.n)
		threads = items.n > 0 ? (unsigned)items.n : 1;
	for (t = 0; t < threads; t++) {
		if (pthread_create(&tids[nt], NULL, worker, &p) != 0)
			break;
		nt++;
	}
	if (nt == 0)
		(void)worker(&p); /* no thread could start: scan on this one */
	/* Hand results back in order as they complete. */
	pthread_mutex_lock(&p.mu);
	while (emitted < items.n) {
		while (p.results[emitted] == NULL && p.err == BW_OK &&
		       !(p.next >= items.n && nt == 0))
			pthread_cond_wait(&p.cv, &p.mu);
		if (p.results[emitted] == NULL)
			break;
		{
			struct bw_scan_result *r = p.results[emitted];
			p.results[emitted] = NULL;
			pthread_mutex_unlock(&p.mu);
			fn(user, emitted, items.n, r);
			pthread_mutex_lock(&p.mu);
		}
		emitted++;
	}
	e = p.err;
	pthread_mutex_unlock(&p.mu);
	for (t = 0; t < nt; t++)
		pthread_join(tids[t], NULL);
	for (i = 0; i < items.n; i++)
		bw_scan_result_free(p.results[i]);
	bw_free(p.results);
	pthread_mutex_destroy(&p.mu);
	pthread_cond_destroy(&p.cv);
	list_release(&items);
	if (e != BW_OK)
		return bw_diag_set(diag, e, BW_NO_OFFSET, "scan stopped: %s", bw_err_str(e));
	return BW_OK;
}
