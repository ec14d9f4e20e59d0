/*
 * bulwark/bulwark.h - umbrella header of libbulwark.
 * Every public header is self-contained; include this one for all of them.
 */
#ifndef BULWARK_BULWARK_H
#define BULWARK_BULWARK_H

#include "bulwark/audit.h"
#include "bulwark/convert.h"
#include "bulwark/error.h"
#include "bulwark/policy.h"
#include "bulwark/provenance.h"
#include "bulwark/report.h"
#include "bulwark/sandbox.h"
#include "bulwark/sbom.h"
#include "bulwark/scan.h"
#include "bulwark/sign.h"
#include "bulwark/translog.h"
#include "bulwark/version.h"

#endif
