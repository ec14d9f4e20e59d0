/*
 * manifest.c - the OMS manifest: walk a model, hash every file or shard in
 * parallel, order the resources and compute the root digest (OMS spec v1.0
 * sections 6.1-6.5).
 *
 * The walk uses an explicit stack (no recursion on the depth of a hostile
 * tree), never follows a symlink unless allow_symlinks is set, opens files with
 * O_NOFOLLOW in that case, and rejects names that are not valid UTF-8 (spec
 * 6.1.2 rule 7). Hashing runs on N pthreads pulling work items (a file, or a
 * shard of one) from a shared counter; each thread reads with pread into its
 * own buffer, so memory stays bounded whatever the model size. A file whose
 * size changes while being hashed is an error, not a silent mismatch.
 * Must not: print, or read anything outside the model path it was given.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "core/alloc.h"
#include "crypto/crypto.h"
#include "sign/sign_internal.h"

const char *bw_default_ignore(size_t i)
{
	static const char *const names[BW_N_DEFAULT_IGNORES] = {".git", ".gitattributes", ".github", ".gitignore"};

	return i < BW_N_DEFAULT_IGNORES ? names[i] : "";
}

#define HASH_BUF (1u << 20)
#define MAX_THREADS 64u

void bw_hash_opts_init(struct bw_hash_opts *o)
{
	memset(o, 0, sizeof *o);
	o->method = BW_SER_FILES;
	o->order = BW_ORDER_SPEC;
}

int bw_path_is_under(const char *rel, const char *ign)
{
	size_t n = strlen(ign);

	if (n == 0)
		return 0;
	if (strncmp(rel, ign, n) != 0)
		return 0;
	return rel[n] == '\0' || rel[n] == '/';
}

int bw_path_canon(const char *in, char *out, size_t n)
{
	size_t o = 0;
	const char *p = in;

	if (n == 0 || in[0] == '/')
		return -1;
	while (*p != '\0') {
		const char *e = strchr(p, '/');
		size_t len = e ? (size_t)(e - p) : strlen(p);

		if (len == 0 || (len == 1 && p[0] == '.')) {
			/* empty ("//") or "." component: drop */
		} else if (len == 2 && p[0] == '.' && p[1] == '.') {
			return -1;
		} else {
			if (o + len + 2 > n)
				return -1;
			if (o > 0)
				out[o++] = '/';
			memcpy(out + o, p, len);
			o += len;
		}
		p += len;
		if (*p == '/')
			p++;
	}
	if (o == 0)
		return -1;
	out[o] = '\0';
	return 0;
}

int bw_shard_split(const char *name, size_t *path_len, uint64_t *start, uint64_t *end)
{
	const char *c2 = strrchr(name, ':'), *c1;
	const char *q;
	uint64_t v[2];
	int k;

	if (c2 == NULL || c2 == name)
		return -1;
	for (c1 = c2 - 1; c1 > name && *c1 != ':'; c1--)
		;
	if (*c1 != ':' || c1 == name)
		return -1;
	for (k = 0; k < 2; k++) {
		const char *s = k == 0 ? c1 + 1 : c2 + 1;
		const char *lim = k == 0 ? c2 : s + strlen(s);

		if (s == lim || lim - s > 19)
			return -1;
		v[k] = 0;
		for (q = s; q < lim; q++) {
			if (*q < '0' || *q > '9')
				return -1;
			v[k] = v[k] * 10 + (uint64_t)(*q - '0');
		}
	}
	*path_len = (size_t)(c1 - name);
	*start = v[0];
	*end = v[1];
	return 0;
}

/* Python order: pathlib compares paths component by component, which is a
 * byte compare in which '/' sorts before every other byte; shards then compare
 * (start, end) as integers. */
static int py_path_cmp(const char *a, size_t na, const char *b, size_t nb)
{
	size_t i;

	for (i = 0; i < na && i < nb; i++) {
		int ca = a[i] == '/' ? -1 : (unsigned char)a[i];
		int cb = b[i] == '/' ? -1 : (unsigned char)b[i];

		if (ca != cb)
			return ca < cb ? -1 : 1;
	}
	return na == nb ? 0 : na < nb ? -1 : 1;
}

int bw_name_cmp(const char *a, const char *b, enum bw_order order)
{
	size_t la, lb;
	uint64_t sa, ea, sb, eb;
	int r;

	if (order == BW_ORDER_SPEC)
		return strcmp(a, b);
	if (bw_shard_split(a, &la, &sa, &ea) == 0 && bw_shard_split(b, &lb, &sb, &eb) == 0) {
		r = py_path_cmp(a, la, b, lb);
		if (r != 0)
			return r;
		if (sa != sb)
			return sa < sb ? -1 : 1;
		return ea == eb ? 0 : ea < eb ? -1 : 1;
	}
	return py_path_cmp(a, strlen(a), b, strlen(b));
}

/* ---- file list ---- */

struct mfile {
	char *rel;      /* '/'-separated relative path ("" for a single file) */
	char *full;     /* path to open */
	uint64_t size;
};

struct walk {
	struct mfile *files;
	size_t n, cap;
};

static int utf8_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		unsigned c = *p;
		size_t len, i;
		uint32_t cp;

		if (c < 0x80) {
			p++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			len = 2;
			cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			len = 3;
			cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			len = 4;
			cp = c & 0x07;
		} else {
			return 0;
		}
		for (i = 1; i < len; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (p[i] & 0x3f);
		}
		if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		p += len;
	}
	return 1;
}

static enum bw_err walk_add(struct walk *w, const char *rel, const char *full, uint64_t size)
{
	if (w->n == w->cap) {
		size_t nc = w->cap ? w->cap * 2 : 64;
		struct mfile *nf;

		if (nc > BW_MANIFEST_MAX_ITEMS)
			return BW_ERR_LIMIT;
		nf = bw_reallocarray(w->files, nc, sizeof *nf);
		if (nf == NULL)
			return BW_ERR_NOMEM;
		w->files = nf;
		w->cap = nc;
	}
	w->files[w->n].rel = bw_strdup(rel);
	w->files[w->n].full = bw_strdup(full);
	w->files[w->n].size = size;
	if (w->files[w->n].rel == NULL || w->files[w->n].full == NULL) {
		bw_free(w->files[w->n].rel);
		bw_free(w->files[w->n].full);
		return BW_ERR_NOMEM;
	}
	w->n++;
	return BW_OK;
}

static void walk_release(struct walk *w)
{
	size_t i;

	for (i = 0; i < w->n; i++) {
		bw_free(w->files[i].rel);
		bw_free(w->files[i].full);
	}
	bw_free(w->files);
	memset(w, 0, sizeof *w);
}

struct ignores {
	const char *const *user;
	size_t n_user;
	int defaults;
};

static int is_ignored(const struct ignores *ig, const char *rel)
{
	size_t i;

	if (ig->defaults) {
		/* Default exclusions are top-level components only (spec 6.2.1). */
		for (i = 0; i < BW_N_DEFAULT_IGNORES; i++)
			if (bw_path_is_under(rel, bw_default_ignore(i)))
				return 1;
	}
	for (i = 0; i < ig->n_user; i++)
		if (bw_path_is_under(rel, ig->user[i]))
			return 1;
	return 0;
}

static char *join(const char *a, const char *b)
{
	size_t na = strlen(a), nb = strlen(b);
	char *s;

	if (na == 0)
		return bw_strdup(b);
	s = bw_malloc(na + nb + 2);
	if (s == NULL)
		return NULL;
	memcpy(s, a, na);
	s[na] = '/';
	memcpy(s + na + 1, b, nb + 1);
	return s;
}

#define MAX_DIR_STACK 1000000u

/* Walk root iteratively. Directory entries are read in any order; the
 * manifest is sorted afterwards, so the walk order never matters. */
static enum bw_err walk_tree(const char *root, const struct ignores *ig, int allow_symlinks, struct walk *w,
                             struct bw_diag *diag)
{
	char **stack = NULL;
	size_t sn = 0, scap = 0;
	enum bw_err err = BW_OK;
	char *cur = NULL;

	stack = bw_calloc(16, sizeof *stack);
	if (stack == NULL)
		return BW_ERR_NOMEM;
	scap = 16;
	stack[sn++] = bw_strdup("");
	if (stack[0] == NULL) {
		bw_free(stack);
		return BW_ERR_NOMEM;
	}
	while (sn > 0) {
		char *dirfull;
		DIR *d;
		struct dirent *de;

		cur = stack[--sn];
		dirfull = join(root, cur);
		if (cur[0] == '\0') {
			bw_free(dirfull);
			dirfull = bw_strdup(root);
		}
		if (dirfull == NULL) {
			err = BW_ERR_NOMEM;
			goto out;
		}
		/* Below the root, never follow a folder swapped for a link after
		 * lstat (the root itself is what the caller named). */
		{
			int dfd = open(dirfull, O_RDONLY | O_DIRECTORY | O_CLOEXEC | (cur[0] ? O_NOFOLLOW : 0));

			d = dfd >= 0 ? fdopendir(dfd) : NULL;
			if (d == NULL && dfd >= 0)
				close(dfd);
		}
		if (d == NULL) {
			err = bw_diag_set(diag, errno == ENOENT ? BW_ERR_NOTFOUND : BW_ERR_IO, BW_NO_OFFSET,
			                  "%s: %s", dirfull, strerror(errno));
			bw_free(dirfull);
			goto out;
		}
		while ((de = readdir(d)) != NULL) {
			struct stat st;
			char *rel, *full;

			if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
				continue;
			rel = join(cur, de->d_name);
			full = rel ? join(root, rel) : NULL;
			if (rel == NULL || full == NULL) {
				bw_free(rel);
				bw_free(full);
				err = BW_ERR_NOMEM;
				closedir(d);
				bw_free(dirfull);
				goto out;
			}
			if (is_ignored(ig, rel)) {
				bw_free(rel);
				bw_free(full);
				continue;
			}
			if (!utf8_valid(de->d_name)) {
				err = bw_diag_set(diag, BW_ERR_UNSUPPORTED, BW_NO_OFFSET,
				                  "%s: file name is not valid UTF-8 (OMS spec 6.1.2)", full);
			} else if (lstat(full, &st) != 0) {
				err = bw_diag_set(diag, BW_ERR_IO, BW_NO_OFFSET, "%s: %s", full, strerror(errno));
			} else if (S_ISLNK(st.st_mode)) {
				if (!allow_symlinks)
					err = bw_diag_set(diag, BW_ERR_UNSUPPORTED, BW_NO_OFFSET,
					                  "%s: is a symbolic link (use --allow-symlinks to follow it)", full);
				else if (stat(full, &st) != 0)
					err = bw_diag_set(diag, BW_ERR_IO, BW_NO_OFFSET, "%s: broken symbolic link: %s",
					                  full, strerror(errno));
				else if (!S_ISREG(st.st_mode))
					err = bw_diag_set(diag, BW_ERR_UNSUPPORTED, BW_NO_OFFSET,
					                  "%s: symbolic link to something other than a regular file", full);
				else
					err = walk_add(w, rel, full, (uint64_t)st.st_size);
			} else if (S_ISDIR(st.st_mode)) {
				if (sn == scap) {
					char **ns;

					if (scap * 2 > MAX_DIR_STACK) {
						err = BW_ERR_LIMIT;
					} else if ((ns = bw_reallocarray(stack, scap * 2, sizeof *ns)) == NULL) {
						err = BW_ERR_NOMEM;
					} else {
						stack = ns;
						scap *= 2;
					}
				}
				if (err == BW_OK) {
					stack[sn++] = rel;
					rel = NULL;
				}
			} else if (S_ISREG(st.st_mode)) {
				err = walk_add(w, rel, full, (uint64_t)st.st_size);
			} else {
				err = bw_diag_set(diag, BW_ERR_UNSUPPORTED, BW_NO_OFFSET,
				                  "%s: not a regular file or directory", full);
			}
			bw_free(rel);
			bw_free(full);
			if (err != BW_OK) {
				closedir(d);
				bw_free(dirfull);
				if (err == BW_ERR_LIMIT || err == BW_ERR_NOMEM)
					(void)bw_diag_set(diag, err, BW_NO_OFFSET, "too many files or out of memory");
				goto out;
			}
		}
		closedir(d);
		bw_free(dirfull);
		bw_free(cur);
		cur = NULL;
	}
out:
	bw_free(cur);
	while (sn > 0)
		bw_free(stack[--sn]);
	bw_free(stack);
	return err;
}

/* ---- parallel hashing ---- */

struct job {
	size_t file;   /* index into walk */
	uint64_t start, end;
};

struct pool {
	const struct walk *w;
	const struct job *jobs;
	size_t n_jobs;
	uint8_t (*digests)[32];
	size_t next;            /* guarded by lock */
	int allow_symlinks;
	pthread_mutex_t lock;
	enum bw_err err;        /* first failure, guarded by lock */
	struct bw_diag diag;
	uint64_t done, total;
	void (*progress)(void *, uint64_t, uint64_t);
	void *progress_ctx;
};

static void pool_fail(struct pool *p, enum bw_err err, const char *path, const char *what)
{
	pthread_mutex_lock(&p->lock);
	if (p->err == BW_OK) {
		p->err = err;
		(void)bw_diag_set(&p->diag, err, BW_NO_OFFSET, "%s: %s", path, what);
	}
	pthread_mutex_unlock(&p->lock);
}

static void pool_progress(struct pool *p, uint64_t n)
{
	pthread_mutex_lock(&p->lock);
	p->done += n;
	if (p->progress != NULL)
		p->progress(p->progress_ctx, p->done, p->total);
	pthread_mutex_unlock(&p->lock);
}

static void *worker(void *arg)
{
	struct pool *p = arg;
	uint8_t *buf = bw_malloc(HASH_BUF);
	struct bw_hash_ctx *h = bw_hash_ctx_new(BW_HASH_SHA256);
	int fd = -1;
	size_t fd_file = SIZE_MAX;

	if (buf == NULL || h == NULL) {
		pool_fail(p, BW_ERR_NOMEM, "hashing", "out of memory");
		goto out;
	}
	for (;;) {
		size_t idx;
		const struct job *j;
		const struct mfile *f;
		uint64_t off, pending = 0;
		struct stat st;

		pthread_mutex_lock(&p->lock);
		idx = p->next < p->n_jobs && p->err == BW_OK ? p->next++ : SIZE_MAX;
		pthread_mutex_unlock(&p->lock);
		if (idx == SIZE_MAX)
			break;
		j = &p->jobs[idx];
		f = &p->w->files[j->file];
		if (fd_file != j->file) {
			if (fd >= 0)
				close(fd);
			fd = open(f->full, O_RDONLY | O_CLOEXEC | (p->allow_symlinks ? 0 : O_NOFOLLOW));
			fd_file = j->file;
			if (fd < 0) {
				pool_fail(p, BW_ERR_IO, f->full, strerror(errno));
				break;
			}
			if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != f->size) {
				pool_fail(p, BW_ERR_IO, f->full, "file changed while the model was being hashed");
				break;
			}
#ifdef POSIX_FADV_SEQUENTIAL
			(void)posix_fadvise(fd, (off_t)j->start, (off_t)(j->end - j->start), POSIX_FADV_SEQUENTIAL);
#endif
		}
		for (off = j->start; off < j->end;) {
			size_t want = j->end - off > HASH_BUF ? HASH_BUF : (size_t)(j->end - off);
			ssize_t n = pread(fd, buf, want, (off_t)off);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				pool_fail(p, BW_ERR_IO, f->full, n < 0 ? strerror(errno) : "file shrank while being hashed");
				goto out;
			}
			if (bw_hash_ctx_update(h, buf, (size_t)n) != BW_OK) {
				pool_fail(p, BW_ERR_CRYPTO, f->full, "SHA-256 failed");
				goto out;
			}
			off += (uint64_t)n;
			pending += (uint64_t)n;
			if (pending >= (64u << 20)) {
				pool_progress(p, pending);
				pending = 0;
			}
		}
		if (bw_hash_ctx_final(h, p->digests[idx]) != BW_OK) {
			pool_fail(p, BW_ERR_CRYPTO, f->full, "SHA-256 failed");
			break;
		}
		pool_progress(p, pending);
	}
out:
	if (fd >= 0)
		close(fd);
	bw_hash_ctx_free(h);
	bw_free(buf);
	return NULL;
}

static unsigned pick_threads(unsigned want, size_t n_jobs)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned t = want ? want : (cpus > 0 ? (unsigned)cpus : 1u);

	if (t > MAX_THREADS)
		t = MAX_THREADS;
	if ((size_t)t > n_jobs)
		t = n_jobs > 0 ? (unsigned)n_jobs : 1u;
	return t;
}

static enum bw_err run_pool(struct pool *p, unsigned threads)
{
	pthread_t tids[MAX_THREADS];
	unsigned i, started = 0;

	if (threads <= 1) {
		(void)worker(p);
		return p->err;
	}
	for (i = 0; i < threads; i++) {
		if (pthread_create(&tids[i], NULL, worker, p) != 0)
			break;
		started++;
	}
	if (started == 0)
		(void)worker(p);
	for (i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
	return p->err;
}

/* ---- manifest ---- */

void bw_manifest_free(struct bw_manifest *m)
{
	size_t i;

	if (m == NULL)
		return;
	for (i = 0; i < m->n_items; i++) {
		bw_free(m->items[i].name);
		bw_free(m->items[i].path);
	}
	bw_free(m->items);
	for (i = 0; i < m->n_ignore_paths; i++)
		bw_free(m->ignore_paths[i]);
	bw_free(m->ignore_paths);
	bw_free(m->model_name);
	bw_free(m);
}

enum bw_err bw_manifest_root(struct bw_manifest *m)
{
	struct bw_hash_ctx *h = bw_hash_ctx_new(BW_HASH_SHA256);
	enum bw_err err = BW_OK;
	size_t i;

	if (h == NULL)
		return BW_ERR_NOMEM;
	for (i = 0; i < m->n_items && err == BW_OK; i++)
		err = bw_hash_ctx_update(h, m->items[i].digest, 32);
	if (err == BW_OK)
		err = bw_hash_ctx_final(h, m->root);
	bw_hash_ctx_free(h);
	return err;
}

static enum bw_order g_sort_order; /* qsort has no context argument in C11 */
static pthread_mutex_t g_sort_lock = PTHREAD_MUTEX_INITIALIZER;

static int item_cmp(const void *a, const void *b)
{
	const struct bw_manifest_item *x = a, *y = b;

	return bw_name_cmp(x->name, y->name, g_sort_order);
}

enum bw_err bw_manifest_sort(struct bw_manifest *m, enum bw_order order)
{
	pthread_mutex_lock(&g_sort_lock);
	g_sort_order = order;
	qsort(m->items, m->n_items, sizeof *m->items, item_cmp);
	pthread_mutex_unlock(&g_sort_lock);
	return bw_manifest_root(m);
}

static const char *base_name(const char *path, char *buf, size_t n)
{
	size_t len = strlen(path);
	const char *s;

	while (len > 1 && path[len - 1] == '/')
		len--;
	s = path + len;
	while (s > path && s[-1] != '/')
		s--;
	len = (size_t)(path + len - s);
	if (len >= n)
		len = n - 1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (strcmp(buf, ".") == 0 || buf[0] == '\0') {
		char cwd[4096];

		if (getcwd(cwd, sizeof cwd) != NULL && strcmp(path, ".") == 0)
			return base_name(cwd, buf, n);
	}
	return buf;
}

/* Relative path of sig_path inside model root, or NULL when outside. Both are
 * compared after realpath() so "./m/model.sig" and "m/model.sig" agree. */
static char *sig_rel(const char *root, const char *sig_path)
{
	char *r = NULL, *s = NULL, *res = NULL;
	size_t n;

	if (sig_path == NULL)
		return NULL;
	r = realpath(root, NULL);
	s = realpath(sig_path, NULL);
	if (s == NULL && errno == ENOENT) {
		/* The signature may not exist yet (signing): resolve its folder. */
		char *dup = bw_strdup(sig_path), *slash, *dir;

		if (dup != NULL) {
			slash = strrchr(dup, '/');
			if (slash != NULL) {
				*slash = '\0';
				dir = realpath(dup[0] ? dup : "/", NULL);
				if (dir != NULL) {
					s = bw_malloc(strlen(dir) + strlen(slash + 1) + 2);
					if (s != NULL)
						sprintf(s, "%s/%s", dir, slash + 1);
					free(dir);
				}
			} else {
				char cwd[4096];

				if (getcwd(cwd, sizeof cwd) != NULL) {
					s = bw_malloc(strlen(cwd) + strlen(dup) + 2);
					if (s != NULL)
						sprintf(s, "%s/%s", cwd, dup);
				}
			}
			bw_free(dup);
		}
		if (s != NULL && r != NULL) {
			n = strlen(r);
			if (strncmp(s, r, n) == 0 && s[n] == '/')
				res = bw_strdup(s + n + 1);
		}
		bw_free(s);
		free(r);
		return res;
	}
	if (r != NULL && s != NULL) {
		n = strlen(r);
		if (strncmp(s, r, n) == 0 && s[n] == '/')
			res = bw_strdup(s + n + 1);
	}
	free(r);
	free(s);
	return res;
}

static enum bw_err add_ignore(struct bw_manifest *m, const char *p)
{
	size_t i;
	char **n;

	for (i = 0; i < m->n_ignore_paths; i++)
		if (strcmp(m->ignore_paths[i], p) == 0)
			return BW_OK;
	n = bw_reallocarray(m->ignore_paths, m->n_ignore_paths + 1, sizeof *n);
	if (n == NULL)
		return BW_ERR_NOMEM;
	m->ignore_paths = n;
	n[m->n_ignore_paths] = bw_strdup(p);
	if (n[m->n_ignore_paths] == NULL)
		return BW_ERR_NOMEM;
	m->n_ignore_paths++;
	return BW_OK;
}

enum bw_err bw_manifest_build(const char *model_path, const char *sig_path, const struct bw_hash_opts *o,
                              struct bw_manifest **out, struct bw_diag *diag)
{
	struct bw_manifest *m = NULL;
	struct walk w = {0};
	struct ignores ig = {0};
	struct job *jobs = NULL;
	uint8_t (*dg)[32] = NULL;
	const char **user = NULL;
	char *sigrel = NULL;
	size_t n_jobs = 0, i, j, n_user = 0;
	struct stat st;
	enum bw_err err = BW_OK;
	char namebuf[256];
	struct pool pool;
	int pool_init = 0;
	const char *fbase = "";

	*out = NULL;
	if (stat(model_path, &st) != 0)
		return bw_diag_set(diag, errno == ENOENT ? BW_ERR_NOTFOUND : BW_ERR_IO, BW_NO_OFFSET, "%s: %s",
		                   model_path, strerror(errno));
	m = bw_calloc(1, sizeof *m);
	if (m == NULL)
		return BW_ERR_NOMEM;
	m->method = o->method;
	m->shard_size = o->method == BW_SER_SHARDS ? (o->shard_size ? o->shard_size : BW_SHARD_SIZE_DEFAULT) : 0;
	m->allow_symlinks = o->allow_symlinks;
	m->model_name = bw_strdup(o->model_name ? o->model_name : base_name(model_path, namebuf, sizeof namebuf));
	if (m->model_name == NULL) {
		err = BW_ERR_NOMEM;
		goto out;
	}

	/* Exclusions, recorded as the serialization.ignore_paths the Python and Go
	 * signers write (defaults, the signature, the user's paths). */
	user = bw_calloc(o->n_ignore_paths + 1, sizeof *user);
	if (user == NULL) {
		err = BW_ERR_NOMEM;
		goto out;
	}
	if (!o->no_default_ignores)
		for (i = 0; i < BW_N_DEFAULT_IGNORES && err == BW_OK; i++)
			err = add_ignore(m, bw_default_ignore(i));
	sigrel = S_ISDIR(st.st_mode) ? sig_rel(model_path, sig_path) : NULL;
	if (sigrel != NULL && err == BW_OK) {
		err = add_ignore(m, sigrel);
		user[n_user++] = sigrel;
	}
	for (i = 0; i < o->n_ignore_paths && err == BW_OK; i++) {
		char canon[BW_NAME_MAX];

		if (bw_path_canon(o->ignore_paths[i], canon, sizeof canon) != 0) {
			err = bw_diag_set(diag, BW_ERR_ARG, BW_NO_OFFSET,
			                  "ignore path '%s' is absolute, empty or contains '..'", o->ignore_paths[i]);
			goto out;
		}
		err = add_ignore(m, canon);
		if (err == BW_OK)
			user[n_user++] = m->ignore_paths[m->n_ignore_paths - 1];
	}
	if (err != BW_OK)
		goto out;
	ig.user = user;
	ig.n_user = n_user;
	ig.defaults = !o->no_default_ignores;

	if (S_ISREG(st.st_mode)) {
		m->single_file = 1;
		err = walk_add(&w, "", model_path, (uint64_t)st.st_size);
	} else if (S_ISDIR(st.st_mode)) {
		err = walk_tree(model_path, &ig, o->allow_symlinks, &w, diag);
	} else {
		err = bw_diag_set(diag, BW_ERR_UNSUPPORTED, BW_NO_OFFSET, "%s: not a file or folder", model_path);
	}
	if (err != BW_OK)
		goto out;

	/* Work items: one per file, or one per shard (empty files have no
	 * shard, OMS spec 6.3.2 step 1). */
	for (i = 0; i < w.n; i++) {
		uint64_t ns = m->method == BW_SER_SHARDS ? (w.files[i].size + m->shard_size - 1) / m->shard_size : 1;

		if (ns > BW_MANIFEST_MAX_ITEMS || n_jobs + ns > BW_MANIFEST_MAX_ITEMS) {
			err = bw_diag_set(diag, BW_ERR_LIMIT, BW_NO_OFFSET, "more than %u resources",
			                  BW_MANIFEST_MAX_ITEMS);
			goto out;
		}
		n_jobs += (size_t)ns;
		m->total_bytes += w.files[i].size;
	}
	m->n_files = w.n;
	jobs = bw_calloc(n_jobs ? n_jobs : 1, sizeof *jobs);
	dg = bw_calloc(n_jobs ? n_jobs : 1, sizeof *dg);
	m->items = bw_calloc(n_jobs ? n_jobs : 1, sizeof *m->items);
	if (jobs == NULL || dg == NULL || m->items == NULL) {
		err = BW_ERR_NOMEM;
		goto out;
	}
	for (i = 0, j = 0; i < w.n; i++) {
		uint64_t off;

		if (m->method == BW_SER_FILES) {
			jobs[j].file = i;
			jobs[j].start = 0;
			jobs[j].end = w.files[i].size;
			j++;
			continue;
		}
		for (off = 0; off < w.files[i].size; off += m->shard_size) {
			jobs[j].file = i;
			jobs[j].start = off;
			jobs[j].end = w.files[i].size - off > m->shard_size ? off + m->shard_size : w.files[i].size;
			j++;
		}
	}

	memset(&pool, 0, sizeof pool);
	pool.w = &w;
	pool.jobs = jobs;
	pool.n_jobs = n_jobs;
	pool.digests = dg;
	pool.allow_symlinks = o->allow_symlinks;
	pool.total = m->total_bytes;
	pool.progress = o->progress;
	pool.progress_ctx = o->progress_ctx;
	if (pthread_mutex_init(&pool.lock, NULL) != 0) {
		err = BW_ERR_NOMEM;
		goto out;
	}
	pool_init = 1;
	err = run_pool(&pool, pick_threads(o->threads, n_jobs));
	if (err != BW_OK) {
		(void)bw_diag_set(diag, err, BW_NO_OFFSET, "%s", pool.diag.what);
		goto out;
	}

	{
		const char *sl = strrchr(model_path, '/');

		fbase = sl ? sl + 1 : model_path;
	}
	for (j = 0; j < n_jobs; j++) {
		struct bw_manifest_item *it = &m->items[j];
		const struct mfile *f = &w.files[jobs[j].file];
		const char *nm = m->single_file ? (o->single_file_dot ? "." : fbase) : f->rel;

		it->path = bw_strdup(m->single_file ? fbase : f->rel);
		it->start = jobs[j].start;
		it->end = jobs[j].end;
		memcpy(it->digest, dg[j], 32);
		if (m->method == BW_SER_FILES) {
			it->name = bw_strdup(nm);
			strcpy(it->algorithm, "sha256");
		} else {
			size_t len = strlen(nm) + 48;

			it->name = bw_malloc(len);
			if (it->name != NULL)
				snprintf(it->name, len, "%s:%llu:%llu", nm, (unsigned long long)it->start,
				         (unsigned long long)it->end);
			snprintf(it->algorithm, sizeof it->algorithm, "sha256-sharded-%llu",
			         (unsigned long long)m->shard_size);
		}
		m->n_items = j + 1;
		if (it->name == NULL || it->path == NULL) {
			err = BW_ERR_NOMEM;
			goto out;
		}
	}
	err = bw_manifest_sort(m, o->order);
out:
	if (pool_init)
		pthread_mutex_destroy(&pool.lock);
	walk_release(&w);
	bw_free(jobs);
	bw_free(dg);
	bw_free(user);
	bw_free(sigrel);
	if (err != BW_OK) {
		if (diag != NULL && diag->code == BW_OK)
			(void)bw_diag_set(diag, err, BW_NO_OFFSET, "%s", bw_err_str(err));
		bw_manifest_free(m);
		return err;
	}
	*out = m;
	return BW_OK;
}

/* ---- statement ---- */

enum bw_err bw_manifest_statement(const struct bw_manifest *m, char **json, size_t *len)
{
	json_t *st = NULL, *res = json_array(), *ser = NULL, *ign = json_array();
	char hex[65];
	size_t i;
	char *txt = NULL;
	enum bw_err err = BW_ERR_NOMEM;

	*json = NULL;
	*len = 0;
	if (res == NULL || ign == NULL)
		goto out;
	for (i = 0; i < m->n_items; i++) {
		bw_hex_encode(m->items[i].digest, 32, hex);
		/* Resource descriptor (in-toto ResourceDescriptor; OMS spec 5.2.1). */
		if (json_array_append_new(res, json_pack("{s:s, s:s, s:s}", "name", m->items[i].name, "algorithm",
		                                         m->items[i].algorithm, "digest", hex)) != 0)
			goto out;
	}
	for (i = 0; i < m->n_ignore_paths; i++)
		if (json_array_append_new(ign, json_string(m->ignore_paths[i])) != 0)
			goto out;
	/* serialization (OMS spec 5.2.2): shard_size is written as an integer. */
	if (m->method == BW_SER_SHARDS)
		ser = json_pack("{s:s, s:s, s:I, s:b, s:O}", "method", "shards", "hash_type", "sha256", "shard_size",
		                (json_int_t)m->shard_size, "allow_symlinks", m->allow_symlinks, "ignore_paths", ign);
	else
		ser = json_pack("{s:s, s:s, s:b, s:O}", "method", "files", "hash_type", "sha256", "allow_symlinks",
		                m->allow_symlinks, "ignore_paths", ign);
	if (ser == NULL)
		goto out;
	bw_hex_encode(m->root, 32, hex);
	/* Key order follows the OMS spec (section 6.6) and model_signing's
	 * statement; verifiers parse the JSON, only the signed bytes matter. */
	st = json_pack("{s:s, s:[{s:s, s:{s:s}}], s:s, s:{s:O, s:O}}", "_type", BW_INTOTO_STATEMENT_V1, "subject",
	               "name", m->model_name, "digest", "sha256", hex, "predicateType", BW_OMS_PREDICATE_V1,
	               "predicate", "resources", res, "serialization", ser);
	if (st == NULL)
		goto out;
	txt = json_dumps(st, JSON_INDENT(2));
	if (txt == NULL)
		goto out;
	*len = strlen(txt);
	*json = bw_strndup(txt, *len);
	err = *json ? BW_OK : BW_ERR_NOMEM;
out:
	free(txt);
	json_decref(st);
	json_decref(ser);
	json_decref(res);
	json_decref(ign);
	return err;
}
