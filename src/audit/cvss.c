/*
 * cvss.c - CVSS v3.0/v3.1 base score from a vector string.
 *
 * Formulas and weights: FIRST "CVSS v3.1 Specification", section 7.1 (base
 * metric equations), 7.4 (metric values) and Appendix A (Roundup). v3.0
 * vectors use the same weights; the v3.1 Roundup is used for both (it only
 * differs by floating-point noise). Temporal/environmental metrics are ignored:
 * advisories publish base vectors. Must not: accept a vector missing a base
 * metric or naming one twice.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "bulwark/audit.h"

static double roundup(double x)
{
	int64_t i = (int64_t)llround(x * 100000.0);

	if (i % 10000 == 0)
		return (double)i / 100000.0;
	return (double)(i / 10000 + 1) / 10.0;
}

enum bw_err bw_cvss3_score(const char *vec, double *score, enum bw_severity *sev)
{
	static const char *const names[] = {"AV", "AC", "PR", "UI", "S", "C", "I", "A"};
	char val[8] = {0};
	const char *p;
	double av, ac, pr, ui, c, i, a, iss, imp, ex, s;
	int scope_changed;
	size_t k;

	*score = 0;
	*sev = BW_SEV_INFO;
	if (vec == NULL || (strncmp(vec, "CVSS:3.0/", 9) != 0 && strncmp(vec, "CVSS:3.1/", 9) != 0))
		return BW_ERR_MALFORMED;
	p = vec + 9;
	while (*p != '\0') {
		size_t n = strcspn(p, "/"), kl = strcspn(p, ":");

		if (kl >= n || n - kl != 2)
			goto next_or_bad;
		for (k = 0; k < 8; k++)
			if (strlen(names[k]) == kl && strncmp(p, names[k], kl) == 0)
				break;
		if (k < 8) {
			if (val[k] != 0)
				return BW_ERR_MALFORMED;
			val[k] = p[kl + 1];
		}
		p += n;
		if (*p == '/')
			p++;
		continue;
next_or_bad:
		/* other metrics (E:P, RL:O ...) have one-or-two letter values */
		if (kl >= n)
			return BW_ERR_MALFORMED;
		p += n;
		if (*p == '/')
			p++;
	}
	for (k = 0; k < 8; k++)
		if (val[k] == 0)
			return BW_ERR_MALFORMED;
	switch (val[0]) {
	case 'N': av = 0.85; break;
	case 'A': av = 0.62; break;
	case 'L': av = 0.55; break;
	case 'P': av = 0.2; break;
	default: return BW_ERR_MALFORMED;
	}
	switch (val[1]) {
	case 'L': ac = 0.77; break;
	case 'H': ac = 0.44; break;
	default: return BW_ERR_MALFORMED;
	}
	switch (val[4]) {
	case 'U': scope_changed = 0; break;
	case 'C': scope_changed = 1; break;
	default: return BW_ERR_MALFORMED;
	}
	switch (val[2]) {
	case 'N': pr = 0.85; break;
	case 'L': pr = scope_changed ? 0.68 : 0.62; break;
	case 'H': pr = scope_changed ? 0.5 : 0.27; break;
	default: return BW_ERR_MALFORMED;
	}
	switch (val[3]) {
	case 'N': ui = 0.85; break;
	case 'R': ui = 0.62; break;
	default: return BW_ERR_MALFORMED;
	}
	{
		double *cia[3] = {&c, &i, &a};

		for (k = 0; k < 3; k++) {
			switch (val[5 + k]) {
			case 'H': *cia[k] = 0.56; break;
			case 'L': *cia[k] = 0.22; break;
			case 'N': *cia[k] = 0; break;
			default: return BW_ERR_MALFORMED;
			}
		}
	}
	iss = 1 - (1 - c) * (1 - i) * (1 - a);
	imp = scope_changed ? 7.52 * (iss - 0.029) - 3.25 * pow(iss - 0.02, 15) : 6.42 * iss;
	ex = 8.22 * av * ac * pr * ui;
	if (imp <= 0)
		s = 0;
	else if (scope_changed)
		s = roundup(fmin(1.08 * (imp + ex), 10));
	else
		s = roundup(fmin(imp + ex, 10));
	*score = s;
	*sev = s == 0 ? BW_SEV_INFO : s < 4 ? BW_SEV_LOW : s < 7 ? BW_SEV_MEDIUM : s < 9 ? BW_SEV_HIGH
	                                                                                 : BW_SEV_CRITICAL;
	return BW_OK;
}
