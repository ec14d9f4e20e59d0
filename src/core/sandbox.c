/*
 * sandbox.c - a seccomp filter for scanning processes (see bulwark/sandbox.h).
 *
 * Default allow, with a deny list of the system calls an attacker needs to turn
 * a memory bug in a parser into an attack: process creation and exec, sockets,
 * file creation, writes through new descriptors, deletion and renaming,
 * tracing. Denied calls fail with EPERM (ENOSYS for clone3/openat2, whose
 * arguments a filter cannot inspect, so glibc falls back to clone/openat).
 * Sanitizer builds keep clone and ptrace: LeakSanitizer's checker needs them.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <seccomp.h>
#include <stddef.h>

#include "bulwark/sandbox.h"

#if defined(__SANITIZE_ADDRESS__)
#define BW_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define BW_SANITIZED 1
#endif
#endif
#ifndef BW_SANITIZED
#define BW_SANITIZED 0
#endif

static const char *const denied[] = {
	"execve", "execveat", "fork", "vfork",
	"socket", "socketpair", "connect", "bind", "listen", "accept", "accept4",
	"creat", "unlink", "unlinkat", "rename", "renameat", "renameat2",
	"mkdir", "mkdirat", "rmdir", "link", "linkat", "symlink", "symlinkat",
	"chmod", "fchmod", "fchmodat", "chown", "fchown", "lchown", "fchownat",
	"truncate", "mknod", "mknodat", "mount", "umount2", "pivot_root", "chroot",
	"process_vm_writev", "init_module", "finit_module", "delete_module",
	"kexec_load", "reboot", "setns", "unshare", "memfd_create",
};

/* Flags that make an open() write or create. */
static const unsigned long write_flags[] = {O_WRONLY, O_RDWR, O_CREAT, O_TRUNC, O_APPEND};

enum bw_err bw_sandbox_enter(struct bw_diag *diag)
{
	scmp_filter_ctx ctx;
	size_t i;
	int rc = 0, sc;

	ctx = seccomp_init(SCMP_ACT_ALLOW);
	if (ctx == NULL)
		return bw_diag_set(diag, BW_ERR_NOMEM, BW_NO_OFFSET, "seccomp_init failed");
	for (i = 0; i < sizeof denied / sizeof denied[0] && rc == 0; i++) {
		sc = seccomp_syscall_resolve_name(denied[i]);
		if (sc != __NR_SCMP_ERROR)
			rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), sc, 0);
	}
	for (i = 0; i < sizeof write_flags / sizeof write_flags[0] && rc == 0; i++) {
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(openat), 1,
		                      SCMP_A2(SCMP_CMP_MASKED_EQ, write_flags[i], write_flags[i]));
		if (rc == 0)
			rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(open), 1,
			                      SCMP_A1(SCMP_CMP_MASKED_EQ, write_flags[i], write_flags[i]));
	}
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(openat2), 0);
	if (!BW_SANITIZED) {
		/* threads (CLONE_THREAD) stay possible; new processes do not */
		if (rc == 0)
			rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
			                      SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, 0));
		if (rc == 0)
			rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
		if (rc == 0)
			rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ptrace), 0);
	}
	if (rc == 0)
		rc = seccomp_load(ctx);
	seccomp_release(ctx);
	if (rc != 0)
		return bw_diag_set(diag, BW_ERR_UNSUPPORTED, BW_NO_OFFSET,
		                   "the kernel refused the seccomp filter (%d)", rc);
	return BW_OK;
}
