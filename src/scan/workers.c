/*
 * workers.c - the table of work done in confined children (core/worker.h):
 * which format handles which request kind. The scan engine installs it for
 * direct forks and for the worker service the CLI starts.
 */
#include <pthread.h>

#include "bulwark/scan.h"
#include "core/larchive.h"
#include "core/worker.h"
#include "formats/archive/archive_fmt.h"
#include "formats/hdf5/hdf5.h"
#include "scan/engine.h"

static int dispatch(uint32_t kind, const uint8_t *data, size_t len, struct bw_buf *reply)
{
	switch (kind) {
	case BW_WORKER_HDF5:
		return bw_hdf5_worker(data, len, reply);
	case BW_WORKER_ARCHIVE:
		return bw_archive_worker(data, len, reply);
	default:
		reply->len = 0;
		if (bw_buf_puts(reply, "unknown worker request") != BW_OK)
			reply->len = 0;
		return 1;
	}
}

/* Before a child is confined: load the library its handler needs. */
static void prepare(uint32_t kind)
{
	if (kind == BW_WORKER_HDF5)
		(void)bw_hdf5_preload(); /* a failure is reported by the handler */
	else if (kind == BW_WORKER_ARCHIVE)
		(void)bw_larchive_load(); /* likewise */
}

static pthread_once_t once = PTHREAD_ONCE_INIT;

static void install(void)
{
	bw_worker_set_handler(dispatch);
	bw_worker_set_prepare(prepare);
}

void bw_scan_workers_init(void)
{
	pthread_once(&once, install);
}

enum bw_err bw_scan_service_start(unsigned flags, struct bw_diag *diag)
{
	bw_scan_workers_init();
	return bw_worker_start((flags & BW_SERVICE_ISOLATE_EACH_FILE) ? 1u : 0u, diag);
}

void bw_scan_service_stop(void)
{
	bw_worker_stop();
}
