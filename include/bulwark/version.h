/* bulwark/version.h - library version. */
#ifndef BULWARK_VERSION_H
#define BULWARK_VERSION_H

#define BW_VERSION_MAJOR 0
#define BW_VERSION_MINOR 1
#define BW_VERSION_PATCH 0

/* "0.1.0": the version of the library actually linked. */
const char *bw_version(void);

#endif
