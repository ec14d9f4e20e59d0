/*
 * core/larchive.c - libarchive loaded with dlopen on first use (larchive.h).
 * Must not: load anything but the library the build was compiled against.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <string.h>

#include "core/larchive.h"

#ifndef BW_LIBARCHIVE_SONAME
#define BW_LIBARCHIVE_SONAME "libarchive.so.13"
#endif

struct bw_larchive bw_la;

static pthread_once_t la_once = PTHREAD_ONCE_INIT;
static const char *la_err;

static void la_load(void)
{
	void *lib = dlopen(BW_LIBARCHIVE_SONAME, RTLD_NOW | RTLD_LOCAL);
	void *sym;

	la_err = "libarchive (" BW_LIBARCHIVE_SONAME ") could not be loaded";
	if (lib == NULL)
		return;
	la_err = "libarchive (" BW_LIBARCHIVE_SONAME ") lacks a function bulwark needs";
#define BW_LA_SYM(f)                          \
	if ((sym = dlsym(lib, #f)) == NULL)   \
		return;                       \
	memcpy(&bw_la.f, &sym, sizeof sym);
	BW_LARCHIVE_FNS(BW_LA_SYM)
#undef BW_LA_SYM
	la_err = NULL; /* the handle stays open for the life of the process */
}

int bw_larchive_load(void)
{
	pthread_once(&la_once, la_load);
	return la_err == NULL ? 0 : -1;
}

const char *bw_larchive_error(void)
{
	return la_err;
}
