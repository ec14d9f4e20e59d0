/*
 * test_sandbox.c - after bw_sandbox_enter, writing, creating, deleting, sockets
 * and new processes fail while reading and threads still work. Runs in a
 * forked child so the test process itself stays unconfined.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bulwark/sandbox.h"
#include "harness.h"

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

static void *thread_fn(void *arg)
{
	return arg;
}

/* Child: returns a bit mask of failed expectations. */
static int child(const char *dir)
{
	char path[512];
	int bad = 0, fd;
	pthread_t t;
	void *res = NULL;
	pid_t pid;
	struct bw_diag d;

	bw_diag_clear(&d);
	if (bw_sandbox_enter(&d) != BW_OK)
		return 1 << 0;
	snprintf(path, sizeof path, "%s/new-file", dir);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	if (fd >= 0 || errno != EPERM)
		bad |= 1 << 1;
	snprintf(path, sizeof path, "%s/existing", dir);
	if (open(path, O_RDWR) >= 0)
		bad |= 1 << 2;
	fd = open(path, O_RDONLY);
	if (fd < 0)
		bad |= 1 << 3;
	else
		close(fd);
	if (unlink(path) == 0 || errno != EPERM)
		bad |= 1 << 4;
	if (socket(AF_INET, SOCK_STREAM, 0) >= 0)
		bad |= 1 << 5;
	if (pthread_create(&t, NULL, thread_fn, (void *)1) != 0 || pthread_join(t, &res) != 0 ||
	    res != (void *)1)
		bad |= 1 << 6;
	if (!SANITIZED) {
		pid = fork();
		if (pid == 0)
			_exit(0);
		if (pid > 0) {
			waitpid(pid, NULL, 0);
			bad |= 1 << 7;
		}
	}
	if (write(1, "", 0) != 0)
		bad |= 1 << 3;
	return bad;
}

int main(void)
{
	char dir[] = "/tmp/bw-sandbox-XXXXXX", path[512];
	pid_t pid;
	int status = 0, fd;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof path, "%s/existing", dir);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);
	pid = fork();
	if (pid == 0)
		_exit(child(dir));
	CHECK(pid > 0);
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0, "sandbox expectations failed: mask 0x%x",
	       WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	CHECK(access(path, F_OK) == 0); /* the unlink was refused */
	unlink(path);
	rmdir(dir);
	return bw_test_done();
}
