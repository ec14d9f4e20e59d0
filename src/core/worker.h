/*
 * core/worker.h - run third-party parsers of hostile data (libhdf5, libarchive)
 * in confined, short-lived child processes.
 *
 * A request (kind, bytes) is handled by a child process that first confines
 * itself (address-space and CPU limits, no core files, a seccomp allow-list:
 * it can read its requests, compute and write its replies, nothing else),
 * runs the handler for that kind and writes the reply. A crash, a timeout or
 * a reply over the cap is reported to the caller, never propagated.
 *
 * Two ways to get children:
 *  - the worker service: a small process forked by bw_worker_start()
 *    BEFORE the caller enters its own sandbox (bulwark scan forbids new
 *    processes). It has one channel (socket) per core, each strictly
 *    request/reply: callers on different channels have their children run at
 *    the same time. A channel's child serves up to per_child requests of one
 *    kind (fork, confinement and library start-up are paid once per child,
 *    not per file); it is replaced after a crash, a timeout, a refused file,
 *    or a request of another kind (worker.c, "the service").
 *  - without the service, bw_worker_call() forks a fresh child per request
 *    (library use, tests).
 * The handler table is supplied by whoever runs the service or calls
 * (src/scan/workers.c): core knows no format.
 */
#ifndef BW_CORE_WORKER_H
#define BW_CORE_WORKER_H

#include <stddef.h>
#include <stdint.h>

#include "bulwark/error.h"
#include "core/buf.h"

/*
 * A handler runs inside the confined child: it reads data[0..len) and appends
 * its reply to reply. Returns 0 for an ok reply, any other value for an error
 * reply (the reply text then says why).
 */
typedef int (*bw_worker_handler)(uint32_t kind, const uint8_t *data, size_t len,
                                 struct bw_buf *reply);

enum bw_worker_status {
	BW_WORKER_OK = 0,      /* handler returned 0; *reply holds its reply */
	BW_WORKER_REFUSED,     /* handler returned an error; *reply holds the message */
	BW_WORKER_CRASHED,     /* the child died (signal, seccomp kill, out of memory) */
	BW_WORKER_TIMEOUT,     /* the child ran past the time limit and was killed */
	BW_WORKER_UNAVAILABLE, /* no child could be started (sandboxed and no service) */
};

#define BW_WORKER_MAX_REPLY ((size_t)512 << 20)
#define BW_WORKER_MAX_REQUEST ((uint64_t)4 << 30)

/* Set the handler used by bw_worker_call's direct forks (once, at start-up). */
void bw_worker_set_handler(bw_worker_handler h);

/*
 * Optional: work to do for a request kind before the child is confined, such
 * as loading a library with dlopen. The service runs it in its own process
 * before forking (so it happens once and children inherit the mapping); a
 * direct fork runs it in the child before confine. Must be idempotent.
 */
typedef void (*bw_worker_prepare)(uint32_t kind);
void bw_worker_set_prepare(bw_worker_prepare p);

/*
 * Start the service: a fork of the caller (no exec) that keeps only its
 * channels, with stdin and stdout on /dev/null and its environment wiped
 * (worker.c), serving with the handler of bw_worker_set_handler (set it
 * first). The caller must be single-threaded when it calls this (bulwark
 * starts it before any scanning thread), and should call it before entering
 * its sandbox and before it holds anything a subverted parser must not read:
 * the service and its children are copies of the caller's memory at this
 * point. per_child: requests one child serves at most (0: the default, 64;
 * 1: a fresh child per request; at most 1024). BW_OK, BW_ERR_ARG (no
 * handler), BW_ERR_IO. Starting a running service again is BW_OK and keeps
 * its per_child.
 */
BW_MUST_CHECK enum bw_err bw_worker_start(unsigned per_child, struct bw_diag *diag);
/* Stop the service (idempotent). */
void bw_worker_stop(void);

/*
 * Handle one request in a confined child. *reply (bw_malloc'd, NUL-terminated)
 * and *reply_len are set for BW_WORKER_OK and BW_WORKER_REFUSED. timeout_ms
 * bounds the wall-clock time of this request (the child is killed and
 * replaced when it passes). Through the service, a request whose reused child
 * crashed is retried once on a fresh child, so the call may take up to twice
 * timeout_ms. Thread-safe.
 */
enum bw_worker_status bw_worker_call(uint32_t kind, const uint8_t *data, size_t len, int timeout_ms,
                                     uint8_t **reply, size_t *reply_len);

#endif
