/*
 * core/larchive.h - libarchive, loaded with dlopen on first use.
 *
 * libarchive and what it links (libxml2, ICU, libstdc++, nettle, acl, lz4)
 * made every bulwark process start ~7 ms slower although only two places use
 * it: the confined archive worker (formats/archive) and OSV zip dumps
 * (audit/osv). They call bw_larchive_load() first and then the functions
 * through bw_la. The worker service loads it before forking its confined
 * children (which cannot open files), so they inherit it.
 * Must not: be called from a process already under the seccomp sandbox
 * before the library was loaded (dlopen needs open/mmap).
 */
#ifndef BW_CORE_LARCHIVE_H
#define BW_CORE_LARCHIVE_H

#include <archive.h>
#include <archive_entry.h>

#define BW_LARCHIVE_FNS(X)                    \
	X(archive_read_new)                   \
	X(archive_read_free)                  \
	X(archive_read_support_format_7zip)   \
	X(archive_read_support_format_rar)    \
	X(archive_read_support_format_rar5)   \
	X(archive_read_support_format_cab)    \
	X(archive_read_support_format_iso9660) \
	X(archive_read_support_format_cpio)   \
	X(archive_read_support_format_xar)    \
	X(archive_read_support_format_ar)     \
	X(archive_read_support_format_zip)    \
	X(archive_read_open_memory)           \
	X(archive_read_open_filename)         \
	X(archive_read_next_header)           \
	X(archive_read_data)                  \
	X(archive_error_string)               \
	X(archive_entry_pathname)             \
	X(archive_entry_filetype)             \
	X(archive_entry_is_encrypted)

/* The functions, valid after bw_larchive_load() returned 0. */
struct bw_larchive {
#define BW_LA_PTR(f) __typeof__(&f) f;
	BW_LARCHIVE_FNS(BW_LA_PTR)
#undef BW_LA_PTR
};
extern struct bw_larchive bw_la;

/*
 * Load libarchive (soname fixed at build time) once per process; thread-safe.
 * Returns 0 when bw_la is usable, -1 otherwise (bw_larchive_error() says why).
 */
int bw_larchive_load(void);
/* Why loading failed (a static string), or NULL when loaded or not yet tried. */
const char *bw_larchive_error(void);

#endif
