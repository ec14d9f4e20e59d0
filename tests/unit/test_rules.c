/* test_rules.c - rule parsing (strict, with line numbers) and matching semantics. */
#include <string.h>

#include "harness.h"
#include "scan/rules.h"

static const char *sample =
	"unknown import medium | unknown | -\n"
	"deny os critical | os | https://x\n"
	"deny builtins high | builtins | -\n"
	"deny builtins.eval critical | eval | -\n"
	"allow builtins.set - | set | -\n"
	"allow torch.nn.modules.* - | layers | -\n"
	"deny torch.nn.modules.evil critical | hypothetical | -\n"
	"anomaly zip.crc-mismatch medium | crc | -\n";

struct match_case {
	const char *name;
	const char *want_id; /* NULL: unknown */
};

static void test_match(void)
{
	static const struct match_case cases[] = {
		{"os.system", "callable:os"},
		{"os", "callable:os"},
		{"os.path.join", "callable:os"},
		{"osx.thing", NULL},
		{"builtins.eval", "callable:builtins.eval"},
		{"builtins.evaluate", "callable:builtins"},
		{"builtins.set", "allow:builtins.set"},
		{"builtins.set.union", "callable:builtins"}, /* allow is exact: children are not allowed */
		{"torch.nn.modules.conv.Conv2d", "allow:torch.nn.modules"},
		{"torch.nn.modules", NULL},                  /* the module object itself is not a class */
		{"torch.nn.modules.evil.x", "callable:torch.nn.modules.evil"},
		{"collections.OrderedDict", NULL},
	};
	struct bw_rules *rs = NULL;
	struct bw_diag d;
	size_t i;

	bw_diag_clear(&d);
	CHECK_EQ_INT(bw_rules_parse(sample, strlen(sample), "sample", &rs, &d), BW_OK);
	if (rs == NULL)
		return;
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct bw_rule *r = bw_rules_match_callable(rs, cases[i].name);
		if (cases[i].want_id == NULL)
			CHECKF(r == NULL, "%s matched %s", cases[i].name, r ? r->id : "");
		else
			CHECKF(r != NULL && strcmp(r->id, cases[i].want_id) == 0, "%s -> %s (want %s)",
			       cases[i].name, r ? r->id : "(none)", cases[i].want_id);
	}
	CHECK(bw_rules_anomaly(rs, "zip.crc-mismatch") != NULL);
	CHECK(bw_rules_anomaly(rs, "zip.nothing") == NULL);
	CHECK_EQ_INT(bw_rules_unknown(rs)->severity, BW_SEV_MEDIUM);
	CHECK_EQ_INT(bw_rules_match_callable(rs, "os.system")->severity, BW_SEV_CRITICAL);
	bw_rules_free(rs);
}

struct bad_case {
	const char *text;
	const char *want; /* substring of the diagnostic */
};

static void test_errors(void)
{
	static const struct bad_case cases[] = {
		{"deny os critical\n", "expected"},
		{"deny os critical | r\n", "missing"},
		{"\n\nforbid os critical | r | -\n", "sample:3: unknown rule kind"},
		{"deny os severe | r | -\n", "unknown severity"},
		{"deny os critical extra | r | -\n", "exactly"},
		{"allow os high | r | -\n", "allow rules take '-'"},
		{"deny os critical | r | -\ndeny os high | r | -\n", "named by two rules"},
		{"anomaly a.b low | r | -\nanomaly a.b low | r | -\n", "defined twice"},
		{"deny os..x critical | r | -\n", "bad pattern"},
		{"deny os critical |  | -\n", "empty reason"},
		{"unknown thing low | r | -\n", "pattern 'import'"},
	};
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct bw_rules *rs = NULL;
		struct bw_diag d;
		enum bw_err e;

		bw_diag_clear(&d);
		e = bw_rules_parse(cases[i].text, strlen(cases[i].text), "sample", &rs, &d);
		CHECKF(e == BW_ERR_MALFORMED && rs == NULL, "case %zu accepted", i);
		CHECKF(strstr(d.what, cases[i].want) != NULL, "case %zu: '%s' lacks '%s'", i, d.what,
		       cases[i].want);
		bw_rules_free(rs);
	}
}

static void test_builtin(void)
{
	const struct bw_rules *rs = NULL;
	struct bw_diag d;
	static const char *const must_deny[] = {
		"os.system", "posix.system", "nt.system", "subprocess.Popen", "builtins.eval",
		"builtins.exec", "builtins.__import__", "builtins.getattr", "runpy._run_code",
		"bdb.Bdb.run", "pip.main", "pickle.loads", "_pickle.loads", "torch.load",
		"operator.attrgetter", "webbrowser.open", "socket.socket", "ctypes.CDLL",
		"numpy.testing._private.utils.runstring", "timeit.timeit", "pty.spawn",
		"sklearn.utils._testing.assert_run_python_script",
	};
	static const char *const must_allow[] = {
		"torch._utils._rebuild_tensor_v2", "collections.OrderedDict", "numpy.core.multiarray._reconstruct",
		"numpy.dtype", "builtins.set", "copyreg._reconstructor", "_codecs.encode",
		"torch.nn.modules.conv.Conv2d", "sklearn.linear_model._logistic.LogisticRegression",
	};
	size_t i;

	bw_diag_clear(&d);
	CHECKF(bw_rules_builtin(&rs, &d) == BW_OK, "built-in rules: %s", d.what);
	if (rs == NULL)
		return;
	for (i = 0; i < sizeof must_deny / sizeof must_deny[0]; i++) {
		const struct bw_rule *r = bw_rules_match_callable(rs, must_deny[i]);
		CHECKF(r != NULL && r->kind == BW_RULE_DENY && r->severity >= BW_SEV_HIGH, "%s not denied",
		       must_deny[i]);
	}
	for (i = 0; i < sizeof must_allow / sizeof must_allow[0]; i++) {
		const struct bw_rule *r = bw_rules_match_callable(rs, must_allow[i]);
		CHECKF(r != NULL && r->kind == BW_RULE_ALLOW, "%s not allowed", must_allow[i]);
	}
	CHECK(bw_rules_anomaly(rs, "format.pickle-based") != NULL);
}

int main(void)
{
	test_match();
	test_errors();
	test_builtin();
	return bw_test_done();
}
