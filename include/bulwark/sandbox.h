/*
 * bulwark/sandbox.h - drop the rights a parser bug could abuse.
 *
 * After bw_sandbox_enter() the calling process (all its threads) can no
 * longer create files or open them for writing, delete or rename anything,
 * open sockets, start programs or new processes, or trace other processes.
 * Reading files, mapping them read-only, creating threads and writing to
 * descriptors that are already open (stdout, an --output file) still work.
 * Irreversible. Uses seccomp through libseccomp; thread-safe to call once
 * before any worker thread starts.
 */
#ifndef BULWARK_SANDBOX_H
#define BULWARK_SANDBOX_H

#include "bulwark/error.h"

/*
 * Enter the sandbox. Returns BW_OK, or BW_ERR_UNSUPPORTED when the kernel
 * refuses seccomp filters (then nothing changed; the caller decides whether
 * to continue), or BW_ERR_NOMEM.
 */
BW_MUST_CHECK enum bw_err bw_sandbox_enter(struct bw_diag *diag);

#endif
