/*
 * hdf5.c - HDF5 through a confined helper process (see formats/hdf5/hdf5.h).
 *
 * Parent side: detection by the superblock signature, the request/response
 * protocol with a time limit, and handing attributes back as members.
 * Child side: rlimits, a seccomp allow-list, libhdf5 on an in-memory image.
 *
 * Protocol (little endian):
 *   request:  u64 length, bytes
 *   response: u32 status (0 ok, 1 libhdf5 refused the file), u64 length, payload
 *   ok payload: u32 count, then per attribute: u32 name length, name,
 *               u64 value length, value (bytes of a string attribute)
 *   error payload: a message
 */
#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <poll.h>
#include <pthread.h>
#include <seccomp.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bulwark/sandbox.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/reader.h"
#include "formats/hdf5/hdf5.h"

extern char **environ;

#define HDF5_MAX_IMAGE ((uint64_t)2 << 30)      /* larger files: incomplete */
#define HDF5_MAX_REPLY ((uint64_t)256 << 20)
#define HDF5_MAX_ATTR ((size_t)64 << 20)
#define HDF5_MAX_ATTRS 4096u
#define HDF5_TIMEOUT_MS 60000
#define HDF5_CHILD_AS ((rlim_t)8 << 30)

#if defined(__SANITIZE_ADDRESS__)
#define HDF5_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HDF5_SANITIZED 1
#endif
#endif
#ifndef HDF5_SANITIZED
#define HDF5_SANITIZED 0
#endif

static const uint8_t sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};

static struct {
	pthread_mutex_t mu;
	pid_t pid;
	int fd;
	int running;
	int dead; /* it died or timed out: no more requests */
} helper = {PTHREAD_MUTEX_INITIALIZER, -1, -1, 0, 0};

int bw_hdf5_detect(const uint8_t *data, size_t len)
{
	size_t off;

	/* The superblock sits at 0, 512, 1024, 2048, ... (HDF5 spec, "Format Signature"). */
	for (off = 0; off + sizeof sig <= len && off <= (1u << 20); off = off ? off * 2 : 512)
		if (memcmp(data + off, sig, sizeof sig) == 0)
			return 90;
	return 0;
}

/* ---- I/O helpers (both sides) ---- */

static int write_all(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;
	ssize_t w;

	while (n > 0) {
		w = send(fd, b, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Read exactly n bytes; timeout_ms < 0 waits forever. 0 ok, -1 error/EOF, -2 timeout. */
static int read_all(int fd, void *p, size_t n, int timeout_ms)
{
	uint8_t *b = p;
	ssize_t r;
	struct pollfd pfd;
	int pr;

	while (n > 0) {
		if (timeout_ms >= 0) {
			pfd.fd = fd;
			pfd.events = POLLIN;
			pr = poll(&pfd, 1, timeout_ms);
			if (pr < 0 && errno == EINTR)
				continue;
			if (pr == 0)
				return -2;
			if (pr < 0)
				return -1;
		}
		r = read(fd, b, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		b += r;
		n -= (size_t)r;
	}
	return 0;
}

static void put_u32(uint8_t *p, uint32_t v)
{
	int i;

	for (i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v)
{
	int i;

	for (i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_u64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

/* ---- child ---- */

struct attr_walk {
	struct bw_buf *out;
	uint32_t count;
	int failed;
};

static herr_t attr_cb(hid_t loc, const char *name, const H5A_info_t *info, void *user)
{
	struct attr_walk *w = user;
	hid_t attr = -1, type = -1, mem = -1, space = -1;
	char *value = NULL, *vl = NULL;
	size_t vlen = 0, sz;
	uint8_t hdr[8];

	(void)info;
	if (w->count >= HDF5_MAX_ATTRS)
		return 1;
	attr = H5Aopen(loc, name, H5P_DEFAULT);
	if (attr < 0)
		goto out;
	type = H5Aget_type(attr);
	space = H5Aget_space(attr);
	if (type < 0 || space < 0 || H5Tget_class(type) != H5T_STRING ||
	    H5Sget_simple_extent_npoints(space) != 1)
		goto out; /* only scalar strings carry configurations */
	mem = H5Tcopy(H5T_C_S1);
	/* read in the file's character set: a mismatch makes libhdf5 refuse the conversion */
	if (mem < 0 || H5Tset_cset(mem, H5Tget_cset(type)) < 0)
		goto out;
	if (H5Tis_variable_str(type) > 0) {
		if (H5Tset_size(mem, H5T_VARIABLE) < 0 || H5Aread(attr, mem, &vl) < 0 || vl == NULL)
			goto out;
		vlen = strnlen(vl, HDF5_MAX_ATTR);
		value = vl;
	} else {
		sz = H5Tget_size(type);
		if (sz == 0 || sz > HDF5_MAX_ATTR || H5Tset_size(mem, sz) < 0)
			goto out;
		value = bw_malloc(sz + 1);
		if (value == NULL || H5Aread(attr, mem, value) < 0)
			goto out;
		value[sz] = '\0';
		vlen = strnlen(value, sz);
	}
	put_u32(hdr, (uint32_t)strlen(name));
	if (bw_buf_append(w->out, hdr, 4) != BW_OK || bw_buf_puts(w->out, name) != BW_OK)
		w->failed = 1;
	put_u64(hdr, vlen);
	if (bw_buf_append(w->out, hdr, 8) != BW_OK || bw_buf_append(w->out, value, vlen) != BW_OK)
		w->failed = 1;
	w->count++;
out:
	if (vl != NULL)
		H5free_memory(vl);
	else
		bw_free(value);
	if (mem >= 0)
		H5Tclose(mem);
	if (space >= 0)
		H5Sclose(space);
	if (type >= 0)
		H5Tclose(type);
	if (attr >= 0)
		H5Aclose(attr);
	return w->failed ? -1 : 0;
}

/* Open an image and collect the root group's string attributes into out. */
static int child_read(const void *img, size_t len, struct bw_buf *out, char *err, size_t errlen)
{
	hid_t fapl, f = -1;
	struct attr_walk w = {out, 0, 0};
	uint8_t cnt[4] = {0};
	int rc = -1;

	fapl = H5Pcreate(H5P_FILE_ACCESS);
	if (fapl < 0 || H5Pset_fapl_core(fapl, 1 << 20, 0) < 0 ||
	    H5Pset_file_image(fapl, (void *)(uintptr_t)img, len) < 0) {
		snprintf(err, errlen, "libhdf5 refused the file image");
		goto out;
	}
	f = H5Fopen("bulwark-image.h5", H5F_ACC_RDONLY, fapl);
	if (f < 0) {
		snprintf(err, errlen, "libhdf5 could not open the file (malformed or unsupported HDF5)");
		goto out;
	}
	if (bw_buf_append(out, cnt, 4) != BW_OK)
		goto out;
	if (H5Aiterate2(f, H5_INDEX_NAME, H5_ITER_NATIVE, NULL, attr_cb, &w) < 0 || w.failed) {
		snprintf(err, errlen, "libhdf5 could not read the root attributes");
		goto out;
	}
	put_u32(out->data, w.count);
	rc = 0;
out:
	if (f >= 0)
		H5Fclose(f);
	if (fapl >= 0)
		H5Pclose(fapl);
	return rc;
}

/* Allow-list: what reading an in-memory image and talking over the socket needs. */
static int child_confine(void)
{
	static const char *const allowed[] = {
		"read", "write", "sendto", "recvfrom", "poll", "close", "fstat", "newfstatat", "lseek",
		"mmap", "munmap", "mremap", "mprotect", "brk", "madvise", "futex", "exit", "exit_group",
		"rt_sigreturn", "rt_sigprocmask", "clock_gettime", "gettimeofday", "getpid", "gettid",
		"getrandom", "sched_yield",
	};
	scmp_filter_ctx ctx;
	struct rlimit rl;
	size_t i;
	int rc = 0, sc;
	struct bw_diag d;

	if (HDF5_SANITIZED)
		return bw_sandbox_enter(&d) == BW_OK ? 0 : -1; /* sanitizers need more calls */
	rl.rlim_cur = rl.rlim_max = HDF5_CHILD_AS;
	if (setrlimit(RLIMIT_AS, &rl) != 0)
		return -1;
	rl.rlim_cur = rl.rlim_max = 0;
	(void)setrlimit(RLIMIT_CORE, &rl);
	ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
	if (ctx == NULL)
		return -1;
	for (i = 0; i < sizeof allowed / sizeof allowed[0] && rc == 0; i++) {
		sc = seccomp_syscall_resolve_name(allowed[i]);
		if (sc != __NR_SCMP_ERROR)
			rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, sc, 0);
	}
	if (rc == 0)
		rc = seccomp_load(ctx);
	seccomp_release(ctx);
	return rc == 0 ? 0 : -1;
}

int bw_hdf5_helper_main(int fd)
{
	uint8_t hdr[12], lenb[8];
	uint8_t *img;
	uint64_t len;
	struct bw_buf out;
	char err[256];
	int rc;

	/* Initialise libhdf5 (reads its environment) before the filter is on. */
	if (H5open() < 0 || H5Eset_auto2(H5E_DEFAULT, NULL, NULL) < 0)
		return 1;
	if (child_confine() != 0)
		return 1;
	for (;;) {
		if (read_all(fd, lenb, 8, -1) != 0)
			return 0; /* parent closed the socket */
		len = get_u64(lenb);
		if (len == 0 || len > HDF5_MAX_IMAGE)
			return 1;
		img = bw_malloc((size_t)len);
		if (img == NULL || read_all(fd, img, (size_t)len, -1) != 0)
			return 1;
		bw_buf_init(&out, HDF5_MAX_REPLY);
		err[0] = '\0';
		rc = child_read(img, (size_t)len, &out, err, sizeof err);
		bw_free(img);
		if (rc == 0) {
			put_u32(hdr, 0);
			put_u64(hdr + 4, out.len);
			if (write_all(fd, hdr, 12) != 0 || write_all(fd, out.data, out.len) != 0)
				return 1;
		} else {
			put_u32(hdr, 1);
			put_u64(hdr + 4, strlen(err));
			if (write_all(fd, hdr, 12) != 0 || write_all(fd, err, strlen(err)) != 0)
				return 1;
		}
		bw_buf_release(&out);
		/* libhdf5 keeps caches across files; a fresh library state per file is not needed
		 * for correctness, but free what it holds so memory stays bounded. */
		H5garbage_collect();
	}
}

/* ---- parent ---- */

enum bw_err bw_hdf5_helper_start(const char *exe, struct bw_diag *diag)
{
	int sv[2];
	char fdarg[16];
	char *argv[4];
	pid_t pid;
	posix_spawn_file_actions_t fa;
	int rc;

	if (exe == NULL)
		return BW_ERR_ARG;
	pthread_mutex_lock(&helper.mu);
	if (helper.running) {
		pthread_mutex_unlock(&helper.mu);
		return BW_OK;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
		pthread_mutex_unlock(&helper.mu);
		return bw_diag_set(diag, BW_ERR_IO, BW_NO_OFFSET, "socketpair: %s", strerror(errno));
	}
	/* the child's end is dup'ed to fd 3 without CLOEXEC */
	snprintf(fdarg, sizeof fdarg, "%d", 3);
	argv[0] = (char *)"bulwark";
	argv[1] = (char *)"__hdf5-helper";
	argv[2] = fdarg;
	argv[3] = NULL;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, sv[1], 3);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	rc = posix_spawn(&pid, exe, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(sv[1]);
	if (rc != 0) {
		close(sv[0]);
		pthread_mutex_unlock(&helper.mu);
		return bw_diag_set(diag, BW_ERR_IO, BW_NO_OFFSET, "starting the HDF5 helper: %s",
		                   strerror(rc));
	}
	helper.pid = pid;
	helper.fd = sv[0];
	helper.running = 1;
	helper.dead = 0;
	pthread_mutex_unlock(&helper.mu);
	return BW_OK;
}

enum bw_err bw_hdf5_helper_start_fork(struct bw_diag *diag)
{
	int sv[2];
	pid_t pid;

	pthread_mutex_lock(&helper.mu);
	if (helper.running) {
		pthread_mutex_unlock(&helper.mu);
		return BW_OK;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
		pthread_mutex_unlock(&helper.mu);
		return bw_diag_set(diag, BW_ERR_IO, BW_NO_OFFSET, "socketpair: %s", strerror(errno));
	}
	pid = fork();
	if (pid == 0) {
		close(sv[0]);
		_exit(bw_hdf5_helper_main(sv[1]));
	}
	close(sv[1]);
	if (pid < 0) {
		close(sv[0]);
		pthread_mutex_unlock(&helper.mu);
		return bw_diag_set(diag, BW_ERR_IO, BW_NO_OFFSET, "fork: %s", strerror(errno));
	}
	helper.pid = pid;
	helper.fd = sv[0];
	helper.running = 1;
	helper.dead = 0;
	pthread_mutex_unlock(&helper.mu);
	return BW_OK;
}

static void stop_locked(void)
{
	if (!helper.running)
		return;
	close(helper.fd);
	if (helper.dead)
		kill(helper.pid, SIGKILL);
	waitpid(helper.pid, NULL, 0);
	helper.running = 0;
	helper.fd = -1;
	helper.pid = -1;
}

void bw_hdf5_helper_stop(void)
{
	pthread_mutex_lock(&helper.mu);
	stop_locked();
	pthread_mutex_unlock(&helper.mu);
}

enum req_result { REQ_OK, REQ_REFUSED, REQ_NOHELPER, REQ_DIED, REQ_TIMEOUT, REQ_NOMEM };

/* Send one image; on REQ_OK/REQ_REFUSED *reply (bw_malloc) holds the payload. */
static enum req_result request(const uint8_t *data, size_t len, uint8_t **reply, size_t *reply_len)
{
	uint8_t hdr[12], lenb[8];
	uint64_t n;
	uint32_t status;
	int r;

	*reply = NULL;
	*reply_len = 0;
	pthread_mutex_lock(&helper.mu);
	if (!helper.running || helper.dead) {
		pthread_mutex_unlock(&helper.mu);
		return helper.dead ? REQ_DIED : REQ_NOHELPER;
	}
	put_u64(lenb, len);
	if (write_all(helper.fd, lenb, 8) != 0 || write_all(helper.fd, data, len) != 0) {
		helper.dead = 1;
		pthread_mutex_unlock(&helper.mu);
		return REQ_DIED;
	}
	r = read_all(helper.fd, hdr, 12, HDF5_TIMEOUT_MS);
	if (r != 0) {
		helper.dead = 1;
		kill(helper.pid, SIGKILL);
		pthread_mutex_unlock(&helper.mu);
		return r == -2 ? REQ_TIMEOUT : REQ_DIED;
	}
	status = (uint32_t)hdr[0] | ((uint32_t)hdr[1] << 8) | ((uint32_t)hdr[2] << 16) |
	         ((uint32_t)hdr[3] << 24);
	n = get_u64(hdr + 4);
	if (n > HDF5_MAX_REPLY || status > 1) {
		helper.dead = 1;
		kill(helper.pid, SIGKILL);
		pthread_mutex_unlock(&helper.mu);
		return REQ_DIED;
	}
	*reply = bw_malloc((size_t)n + 1);
	if (*reply == NULL) {
		/* the reply must still be drained to keep the protocol in step: give up the helper */
		helper.dead = 1;
		kill(helper.pid, SIGKILL);
		pthread_mutex_unlock(&helper.mu);
		return REQ_NOMEM;
	}
	if (read_all(helper.fd, *reply, (size_t)n, HDF5_TIMEOUT_MS) != 0) {
		bw_free(*reply);
		*reply = NULL;
		helper.dead = 1;
		kill(helper.pid, SIGKILL);
		pthread_mutex_unlock(&helper.mu);
		return REQ_DIED;
	}
	(*reply)[n] = '\0';
	*reply_len = (size_t)n;
	pthread_mutex_unlock(&helper.mu);
	return status == 0 ? REQ_OK : REQ_REFUSED;
}

static int is_config_attr(const char *name, size_t n)
{
	static const char *const names[] = {"model_config", "training_config"};
	size_t i;

	for (i = 0; i < sizeof names / sizeof names[0]; i++)
		if (strlen(names[i]) == n && memcmp(names[i], name, n) == 0)
			return 1;
	return 0;
}

enum bw_err bw_hdf5_scan(const uint8_t *data, size_t len, const struct bw_fmt_sink *sink)
{
	uint8_t *reply = NULL;
	size_t reply_len = 0;
	struct bw_reader rd;
	uint32_t count, i, nlen;
	uint64_t vlen;
	const uint8_t *name, *value;
	char member[160];
	int keras = 0;
	enum bw_err e = BW_OK;

	if ((uint64_t)len > HDF5_MAX_IMAGE) {
		sink->incomplete(sink->user, BW_ERR_LIMIT, BW_NO_OFFSET,
		                 "HDF5 file larger than the helper's 2 GiB limit; not read");
		return BW_OK;
	}
	switch (request(data, len, &reply, &reply_len)) {
	case REQ_NOHELPER:
		sink->incomplete(sink->user, BW_ERR_UNSUPPORTED, BW_NO_OFFSET,
		                 "HDF5 is read only in a confined helper process, and none is running");
		return BW_OK;
	case REQ_DIED:
		sink->finding(sink->user, "hdf5.helper-died", BW_NO_OFFSET,
		              "the confined HDF5 reader died while reading this file (or an earlier one)");
		sink->incomplete(sink->user, BW_ERR_MALFORMED, BW_NO_OFFSET,
		                 "the confined HDF5 reader died; the file was not read");
		return BW_OK;
	case REQ_TIMEOUT:
		sink->finding(sink->user, "hdf5.helper-timeout", BW_NO_OFFSET,
		              "the confined HDF5 reader took longer than 60 s on this file and was stopped");
		sink->incomplete(sink->user, BW_ERR_LIMIT, BW_NO_OFFSET, "HDF5 reader timed out");
		return BW_OK;
	case REQ_NOMEM:
		return BW_ERR_NOMEM;
	case REQ_REFUSED:
		sink->incomplete(sink->user, BW_ERR_MALFORMED, BW_NO_OFFSET, (const char *)reply);
		bw_free(reply);
		return BW_OK;
	case REQ_OK:
		break;
	}
	bw_rd_init(&rd, reply, reply_len, 0);
	count = bw_rd_u32le(&rd);
	for (i = 0; i < count && bw_rd_ok(&rd) && e == BW_OK; i++) {
		nlen = bw_rd_u32le(&rd);
		name = bw_rd_bytes(&rd, nlen);
		vlen = bw_rd_u64le(&rd);
		value = bw_rd_bytes(&rd, (size_t)(vlen > SIZE_MAX ? SIZE_MAX : vlen));
		if (!bw_rd_ok(&rd))
			break;
		if (is_config_attr((const char *)name, nlen))
			keras = 1;
		snprintf(member, sizeof member, "<attribute %.*s>", (int)(nlen > 100 ? 100 : nlen),
		         (const char *)name);
		e = sink->member(sink->user, member, value, (size_t)vlen, BW_NO_OFFSET);
	}
	if (!bw_rd_ok(&rd))
		sink->incomplete(sink->user, BW_ERR_INTERNAL, BW_NO_OFFSET,
		                 "the HDF5 helper's reply was malformed");
	if (sink->format != NULL)
		sink->format(sink->user, keras ? "keras-h5" : "hdf5");
	bw_free(reply);
	return e;
}
