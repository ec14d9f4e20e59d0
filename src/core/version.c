/* version.c - the linked library's version string. */
#include "bulwark/version.h"

#define BW_STR_(x) #x
#define BW_STR(x) BW_STR_(x)

const char *bw_version(void)
{
	return BW_STR(BW_VERSION_MAJOR) "." BW_STR(BW_VERSION_MINOR) "." BW_STR(BW_VERSION_PATCH);
}
