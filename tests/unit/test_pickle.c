/*
 * test_pickle.c - unit tests of the symbolic pickle machine
 * (src/formats/pickle) with a recording sink: hand-written streams for every
 * import route (GLOBAL, STACK_GLOBAL from each string opcode and the memo,
 * INST, EXT*), every call route (REDUCE, INST, OBJ, NEWOBJ, NEWOBJ_EX, BUILD),
 * Python 2 name mapping, dotted names, getattr/attrgetter/methodcaller
 * trampolines, concatenated and broken streams, FRAME differentials, every
 * bound, detection, and the legacy PyTorch / joblib files in tests/data/pickle.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "formats/pickle/pickle.h"
#include "formats/pickle/pk_internal.h"
#include "harness.h"

#define MAXEV 128
#define EVLEN 512

struct rec {
	char imports[MAXEV][EVLEN]; /* "how module.name <- omodule.oname" */
	int n_imports;
	char calls[MAXEV][EVLEN];   /* "how module.name args" */
	int n_calls;
	char findings[MAXEV][128];  /* rule id */
	int n_findings;
	char formats[8][32];
	int n_formats;
	enum bw_err incomplete;
	uint64_t inc_off;
	size_t bytes_arg_len;
	char bytes_arg[64];
	int n_ops;
	char ops[2048][24];
};

static void r_finding(void *u, const char *rule, uint64_t off, const char *msg)
{
	struct rec *r = u;

	(void)off;
	(void)msg;
	if (r->n_findings < MAXEV)
		snprintf(r->findings[r->n_findings++], 128, "%s", rule);
}

static void r_import(void *u, const char *m, const char *n, const char *om, const char *on,
                     uint64_t off, const char *how)
{
	struct rec *r = u;

	(void)off;
	if (r->n_imports < MAXEV)
		snprintf(r->imports[r->n_imports++], EVLEN, "%s %s.%s <- %s.%s", how, m, n, om, on);
}

static void r_call(void *u, const struct bw_fmt_call *c)
{
	struct rec *r = u;

	if (r->n_calls < MAXEV)
		snprintf(r->calls[r->n_calls++], EVLEN, "%s %s.%s %s", c->how, c->module, c->name,
		         c->args != NULL ? c->args : "?");
	if (c->bytes_arg != NULL && r->bytes_arg_len == 0) {
		r->bytes_arg_len = c->bytes_arg_len;
		memcpy(r->bytes_arg, c->bytes_arg, c->bytes_arg_len < 63 ? c->bytes_arg_len : 63);
	}
}

static enum bw_err r_member(void *u, const char *name, const uint8_t *d, size_t len, uint64_t off)
{
	(void)u;
	(void)name;
	(void)d;
	(void)len;
	(void)off;
	return BW_OK;
}

static void r_incomplete(void *u, enum bw_err why, uint64_t off, const char *msg)
{
	struct rec *r = u;

	(void)msg;
	if (r->incomplete == BW_OK) {
		r->incomplete = why;
		r->inc_off = off;
	}
}

static void r_format(void *u, const char *f)
{
	struct rec *r = u;

	if (r->n_formats < 8)
		snprintf(r->formats[r->n_formats++], 32, "%s", f);
}

static int op_seen[256];

static void r_op(void *u, const struct bw_pickle_op *op)
{
	struct rec *r = u;

	op_seen[op->code] = 1;
	if (r->n_ops < 2048)
		snprintf(r->ops[r->n_ops++], 24, "%s", op->name);
}

static struct bw_limits test_lim;

static struct rec *scan_lim(const void *data, size_t len, const struct bw_limits *lim)
{
	static struct rec r;
	struct bw_fmt_sink s;
	struct bw_pickle_trace t = {&r, r_op};
	enum bw_err e;

	memset(&r, 0, sizeof r);
	memset(&s, 0, sizeof s);
	s.user = &r;
	s.finding = r_finding;
	s.import = r_import;
	s.call = r_call;
	s.member = r_member;
	s.incomplete = r_incomplete;
	s.format = r_format;
	s.lim = lim;
	e = bw_pickle_scan_trace(data, len, &s, &t);
	CHECK_EQ_INT(e, BW_OK);
	return &r;
}

static struct rec *scan(const char *data, size_t len)
{
	return scan_lim(data, len, &test_lim);
}

static int has(char (*list)[EVLEN], int n, const char *want)
{
	int i;

	for (i = 0; i < n; i++)
		if (strcmp(list[i], want) == 0)
			return 1;
	return 0;
}

static int has_finding(const struct rec *r, const char *rule)
{
	int i;

	for (i = 0; i < r->n_findings; i++)
		if (strcmp(r->findings[i], rule) == 0)
			return 1;
	return 0;
}

static void dump(const char *name, const struct rec *r)
{
	int i;

	fprintf(stderr, "  [%s] incomplete=%d\n", name, (int)r->incomplete);
	for (i = 0; i < r->n_imports; i++)
		fprintf(stderr, "    import %s\n", r->imports[i]);
	for (i = 0; i < r->n_calls; i++)
		fprintf(stderr, "    call   %s\n", r->calls[i]);
	for (i = 0; i < r->n_findings; i++)
		fprintf(stderr, "    find   %s\n", r->findings[i]);
}

/* ---- table: stream -> expected imports, calls, findings, incomplete ---- */

struct tcase {
	const char *name;
	const char *data;
	size_t len;
	const char *imports[6];
	const char *calls[6];
	const char *findings[4];
	enum bw_err incomplete;
};

#define S(x) x, sizeof(x) - 1

static const struct tcase cases[] = {
	{"global-reduce-p0", S("cos\nsystem\n(S'echo hi'\ntR."),
	 {"GLOBAL os.system <- os.system"}, {"REDUCE os.system ('echo hi',)"}, {NULL}, BW_OK},
	{"compat-builtin-p2", S("\x80\x02" "c__builtin__\neval\n(S'1+1'\ntR."),
	 {"GLOBAL builtins.eval <- __builtin__.eval"}, {"REDUCE builtins.eval ('1+1',)"}, {NULL}, BW_OK},
	{"compat-copy_reg", S("ccopy_reg\n_reconstructor\n."),
	 {"GLOBAL copyreg._reconstructor <- copy_reg._reconstructor"}, {NULL}, {NULL}, BW_OK},
	{"compat-commands", S("\x80\x02" "ccommands\ngetoutput\n."),
	 {"GLOBAL subprocess.getoutput <- commands.getoutput"}, {NULL}, {NULL}, BW_OK},
	{"compat-name-mapping", S("c__builtin__\nxrange\n."),
	 {"GLOBAL builtins.range <- __builtin__.xrange"}, {NULL}, {NULL}, BW_OK},
	{"no-compat-p3", S("\x80\x03" "c__builtin__\neval\n."),
	 {"GLOBAL __builtin__.eval <- __builtin__.eval"}, {NULL}, {NULL}, BW_OK},
	{"stack-global-short-binunicode", S("\x80\x04\x8c\x02os\x8c\x06system\x93."),
	 {"STACK_GLOBAL os.system <- os.system"}, {NULL}, {NULL}, BW_OK},
	{"stack-global-binunicode", S("\x80\x04X\x02\x00\x00\x00osX\x06\x00\x00\x00system\x93."),
	 {"STACK_GLOBAL os.system <- os.system"}, {NULL}, {NULL}, BW_OK},
	{"stack-global-binunicode8",
	 S("\x80\x04\x8d\x02\x00\x00\x00\x00\x00\x00\x00os\x8d\x06\x00\x00\x00\x00\x00\x00\x00system\x93."),
	 {"STACK_GLOBAL os.system <- os.system"}, {NULL}, {NULL}, BW_OK},
	{"stack-global-unicode", S("\x80\x04Vos\nVsys\\u0074em\n\x93."),
	 {"STACK_GLOBAL os.system <- os.system"}, {NULL}, {NULL}, BW_OK},
	{"stack-global-string", S("\x80\x04S'os'\nS'sy\\x73tem'\n\x93."),
	 {"STACK_GLOBAL os.system <- os.system"}, {NULL}, {NULL}, BW_OK},
	{"stack-global-binstring", S("\x80\x04T\x02\x00\x00\x00osU\x06system\x93."),
	 {"STACK_GLOBAL os.system <- os.system"}, {NULL}, {NULL}, BW_OK},
	{"stack-global-memo", S("\x80\x04\x8c\x02os\x94\x8c\x06system\x94\x30\x30N\x30h\x00h\x01\x93."),
	 {"STACK_GLOBAL os.system <- os.system"}, {NULL}, {NULL}, BW_OK},
	{"stack-global-long-memo",
	 S("\x80\x04\x8c\x02osr\x40\x42\x0f\x00\x30\x8c\x06systemp77\n\x30j\x40\x42\x0f\x00g77\n\x93."),
	 {"STACK_GLOBAL os.system <- os.system"}, {NULL}, {NULL}, BW_OK},
	{"stack-global-bytes-rejected", S("\x80\x04\x43\x02os\x8c\x06system\x93."),
	 {NULL}, {NULL}, {"pickle.broken-stream"}, BW_ERR_MALFORMED},
	{"stack-global-p2-compat", S("\x80\x02\x8c\x0b__builtin__\x8c\x04" "eval\x93."),
	 {"STACK_GLOBAL builtins.eval <- __builtin__.eval"}, {NULL}, {"pickle.opcode-protocol"}, BW_OK},
	{"stack-global-dynamic", S("\x80\x04NQ\x8c\x06system\x93."),
	 {"STACK_GLOBAL <dynamic>.system <- <dynamic>.system"}, {NULL},
	 {"pickle.dynamic-import", "pickle.persistent-id"}, BW_OK},
	{"global-backslash", S("co\\x73\nsystem\n."), {"GLOBAL o\\x73.system <- o\\x73.system"}, {NULL},
	 {"pickle.parser-differential"}, BW_OK},
	{"setitem-below-mark", S("}K\x01(K\x02s1."), {NULL}, {NULL}, {"pickle.broken-stream"}, BW_ERR_MALFORMED},
	{"appends-below-mark", S("]((K\x01" "e1."), {NULL}, {NULL}, {"pickle.broken-stream"}, BW_ERR_MALFORMED},
	{"dotted-p4", S("\x80\x04\x8c\x03" "bdb\x8c\x07" "Bdb.run\x93."),
	 {"STACK_GLOBAL bdb.Bdb.run <- bdb.Bdb.run"}, {NULL}, {NULL}, BW_OK},
	{"dotted-p2", S("\x80\x02" "cbdb\nBdb.run\n."),
	 {"GLOBAL bdb.Bdb.run <- bdb.Bdb.run"}, {NULL}, {"pickle.dotted-name-protocol"}, BW_OK},
	{"inst", S("(S'ls'\nios\nsystem\n."),
	 {"INST os.system <- os.system"}, {"INST os.system ('ls',)"}, {NULL}, BW_OK},
	{"obj", S("(cos\nsystem\nS'ls'\nS'-l'\no."),
	 {"GLOBAL os.system <- os.system"}, {"OBJ os.system ('ls', '-l')"}, {NULL}, BW_OK},
	{"newobj", S("\x80\x02" "cos\nsystem\nS'ls'\n\x85\x81."),
	 {"GLOBAL os.system <- os.system"}, {"NEWOBJ os.system ('ls',)"}, {NULL}, BW_OK},
	{"newobj-ex", S("\x80\x04\x8c\x02os\x8c\x06system\x93\x8c\x02ls\x85}\x8c\x01" "aK\x01s\x92."),
	 {"STACK_GLOBAL os.system <- os.system"}, {"NEWOBJ_EX os.system ('ls', {'a': 1})"}, {NULL}, BW_OK},
	/* values kept inline (pk_ref): negative int, BINFLOAT view, bool, None, bytes view */
	{"inline-scalar-args",
	 S("\x80\x04\x8c\x02os\x8c\x06system\x93(J\xfb\xff\xff\xffG\x3f\xf8\x00\x00\x00\x00\x00\x00"
	   "\x88N\x43\x02" "abtR."),
	 {"STACK_GLOBAL os.system <- os.system"}, {"REDUCE os.system (-5, 1.5, True, None, b'ab')"}, {NULL},
	 BW_OK},
	/* a memoised compact tuple fetched back as the argument tuple */
	{"memo-tuple-args", S("\x80\x04\x8c\x02os\x8c\x06system\x93\x8c\x02ls\x85\x94\x30h\x00R."),
	 {"STACK_GLOBAL os.system <- os.system"}, {"REDUCE os.system ('ls',)"}, {NULL}, BW_OK},
	/* legacy torch.save: magic, 4 more pickles, then raw bytes torch.load never unpickles */
	{"legacy-unloaded-stream",
	 S("\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.\x80\x02K\x01.\x80\x02K\x02.\x80\x02K\x03."
	   "\x80\x02]q\x00.\x80\x02" "cos\nsystem\n."),
	 {NULL}, {NULL}, {"pickle.unloaded-stream"}, BW_OK},
	/* lazy tuples (PK_T_LAZY, re-decoded from the input): memo stores between the items */
	{"lazy-tuple-memo-stores",
	 S("\x80\x04\x8c\x02os\x8c\x06system\x93K\x05\x94G\x3f\xf8\x00\x00\x00\x00\x00\x00q\x07"
	   "\x8c\x02" "abr\x08\x00\x00\x00\x87R."),
	 {"STACK_GLOBAL os.system <- os.system"}, {"REDUCE os.system (5, 1.5, 'ab')"}, {NULL}, BW_OK},
	/* tuples of lazy tuples, and a TUPLE3 over the last 3 of 4 scalars (not the whole run) */
	{"lazy-tuple-nested",
	 S("\x80\x04\x8c\x02os\x8c\x06system\x93K\x01\x85K\x02K\x03\x86\x86K\x04K\x05K\x06K\x07\x87\x86\x86\x85R."),
	 {"STACK_GLOBAL os.system <- os.system"}, {"REDUCE os.system ((((1,), (2, 3)), (4, (5, 6, 7))),)"},
	 {NULL}, BW_OK},
	/* more memo stores than PK_LAZY_OPS between the items: a tuple in memory, same value */
	{"lazy-tuple-long-run",
	 S("\x80\x04\x8c\x02os\x8c\x06system\x93\x8c\x02ls\x94\x94\x94\x94\x94\x94\x94\x94\x94\x85R."),
	 {"STACK_GLOBAL os.system <- os.system"}, {"REDUCE os.system ('ls',)"}, {NULL}, BW_OK},
	/* a lazy tuple as BUILD state (BUILD keeps a node of it) */
	{"lazy-tuple-build-state", S("\x80\x02" "c__main__\nX\n)\x81K\x01\x88\x86" "b."),
	 {"GLOBAL __main__.X <- __main__.X"}, {"NEWOBJ __main__.X ()", "BUILD __main__.X ((1, True),)"},
	 {NULL}, BW_OK},
	/* 2^60 does not fit the inline int encoding: a heap node, same repr */
	{"wide-int-arg", S("\x80\x04\x8c\x02os\x8c\x06system\x93\x8a\x08\x00\x00\x00\x00\x00\x00\x00\x10\x85R."),
	 {"STACK_GLOBAL os.system <- os.system"}, {"REDUCE os.system (1152921504606846976,)"}, {NULL}, BW_OK},
	{"build", S("\x80\x02" "c__main__\nX\n)\x81}S'a'\nK\x01sb."),
	 {"GLOBAL __main__.X <- __main__.X"}, {"NEWOBJ __main__.X ()", "BUILD __main__.X ({'a': 1},)"},
	 {NULL}, BW_OK},
	{"ext1", S("\x80\x02\x82\x07)R."),
	 {"EXT1 copyreg._extension_registry[7] <- copyreg._extension_registry[7]"},
	 {"REDUCE copyreg._extension_registry[7] ()"}, {"pickle.ext-code"}, BW_OK},
	{"ext2", S("\x80\x02\x83\x01\x02."),
	 {"EXT2 copyreg._extension_registry[513] <- copyreg._extension_registry[513]"}, {NULL},
	 {"pickle.ext-code"}, BW_OK},
	{"ext4", S("\x80\x02\x84\x00\x00\x01\x00."),
	 {"EXT4 copyreg._extension_registry[65536] <- copyreg._extension_registry[65536]"}, {NULL},
	 {"pickle.ext-code"}, BW_OK},
	{"ext-zero", S("\x80\x02\x82\x00."), {NULL}, {NULL}, {"pickle.broken-stream"}, BW_ERR_MALFORMED},
	{"getattr-import",
	 S("cbuiltins\ngetattr\n(cbuiltins\n__import__\n(S'os'\ntRS'system'\ntR(S'ls'\ntR."),
	 {"GLOBAL builtins.getattr <- builtins.getattr", "GLOBAL builtins.__import__ <- builtins.__import__",
	  "__import__ os. <- os.", "getattr os.system <- os.system"},
	 {"REDUCE builtins.__import__ ('os',)", "REDUCE builtins.getattr (os, 'system')",
	  "REDUCE os.system ('ls',)"}, {NULL}, BW_OK},
	{"getattr-of-global", S("c__builtin__\ngetattr\n(cos\npath\nS'join'\ntR."),
	 {"GLOBAL builtins.getattr <- __builtin__.getattr", "GLOBAL os.path <- os.path",
	  "getattr os.path.join <- os.path.join"}, {"REDUCE builtins.getattr (os.path, 'join')"}, {NULL}, BW_OK},
	{"attrgetter",
	 S("coperator\nattrgetter\n(S'system'\ntR(cimportlib\nimport_module\n(S'os'\ntRtR(S'id'\ntR."),
	 {"GLOBAL operator.attrgetter <- operator.attrgetter",
	  "GLOBAL importlib.import_module <- importlib.import_module", "__import__ os. <- os.",
	  "attrgetter os.system <- os.system"},
	 {"REDUCE operator.attrgetter ('system',)", "REDUCE importlib.import_module ('os',)",
	  "REDUCE operator.attrgetter('system') (os,)", "REDUCE os.system ('id',)"}, {NULL}, BW_OK},
	{"methodcaller",
	 S("c_operator\nmethodcaller\n(S'system'\nS'id'\ntR(c_operator\ngetitem\n(csys\nmodules\nS'os'\ntRtR."),
	 {"GLOBAL _operator.methodcaller <- _operator.methodcaller", "GLOBAL sys.modules <- sys.modules",
	  "GLOBAL _operator.getitem <- _operator.getitem", "sys.modules os. <- os.",
	  "methodcaller os.system <- os.system"},
	 {"REDUCE _operator.methodcaller ('system', 'id')", "REDUCE _operator.getitem (sys.modules, 'os')",
	  "REDUCE operator.methodcaller('system', ...) (os,)", "methodcaller os.system ('id',)"}, {NULL}, BW_OK},
	{"call-of-call-result", S("cbuiltins\nfoo\n)R)R."),
	 {"GLOBAL builtins.foo <- builtins.foo"}, {"REDUCE builtins.foo ()", "REDUCE builtins.foo(...) ()"},
	 {NULL}, BW_OK},
	{"setitem-on-global", S("cos\nenviron\nS'LD_PRELOAD'\nS'/x.so'\ns."),
	 {"GLOBAL os.environ <- os.environ"}, {"SETITEM os.environ.__setitem__ ('LD_PRELOAD',)"}, {NULL}, BW_OK},
	{"multiple-streams", S("N.cos\nsystem\n."),
	 {"GLOBAL os.system <- os.system"}, {NULL}, {"pickle.multiple-streams"}, BW_OK},
	{"trailing-data", S("N.\x00\x01garbage"), {NULL}, {NULL}, {"pickle.trailing-data"}, BW_OK},
	{"broken-after-payload", S("cos\nsystem\n(S'echo pwned'\ntR"),
	 {"GLOBAL os.system <- os.system"}, {"REDUCE os.system ('echo pwned',)"}, {"pickle.broken-stream"},
	 BW_ERR_TRUNCATED},
	{"bad-opcode-after-payload", S("cos\nsystem\n(S'x'\ntR\xff."),
	 {"GLOBAL os.system <- os.system"}, {"REDUCE os.system ('x',)"}, {"pickle.broken-stream"},
	 BW_ERR_MALFORMED},
	{"frame-straddle", S("\x80\x04\x95\x03\x00\x00\x00\x00\x00\x00\x00K\x01K\x02\x86."),
	 {NULL}, {NULL}, {"pickle.frame-boundary"}, BW_OK},
	{"frame-nested",
	 S("\x80\x04\x95\x0b\x00\x00\x00\x00\x00\x00\x00\x95\x01\x00\x00\x00\x00\x00\x00\x00N."),
	 {NULL}, {NULL}, {"pickle.frame-boundary"}, BW_OK},
	/* the C unpickler stops at an overlong FRAME, pickle.py (joblib) reads on: so do we;
	 * the differential is reported only when code follows */
	{"frame-too-long", S("\x80\x04\x95\xff\x00\x00\x00\x00\x00\x00\x00N."),
	 {NULL}, {NULL}, {NULL}, BW_OK},
	{"frame-too-long-hides-import", S("\x80\x04\x95\xff\x00\x00\x00\x00\x00\x00\x00" "cposix\nsystem\n."),
	 {"GLOBAL posix.system <- posix.system"}, {NULL}, {"pickle.parser-differential"}, BW_OK},
	{"int-octal-differential", S("I010\n."), {NULL}, {NULL}, {"pickle.parser-differential"}, BW_OK},
	{"float-overflow", S("F1e999\n."), {NULL}, {NULL}, {"pickle.broken-stream"}, BW_ERR_MALFORMED},
	{"string-lone-quote", S("S'\n."), {NULL}, {NULL}, {"pickle.parser-differential", "pickle.broken-stream"},
	 BW_ERR_MALFORMED},
	{"string-unquoted", S("Sabc\n."), {NULL}, {NULL}, {"pickle.broken-stream"}, BW_ERR_MALFORMED},
	{"persid", S("Pabc\\x\n."), {NULL}, {NULL}, {"pickle.parser-differential", "pickle.persistent-id"}, BW_OK},
	{"proto-misplaced", S("N0\x80\x02N."), {NULL}, {NULL}, {"pickle.proto-misplaced"}, BW_OK},
	{"proto-unsupported", S("\x80\x06N."), {NULL}, {NULL}, {"pickle.broken-stream"}, BW_ERR_UNSUPPORTED},
	{"stack-not-empty", S("NN."), {NULL}, {NULL}, {"pickle.stack-not-empty"}, BW_OK},
	{"memo-redefinition", S("Np0\np0\n."), {NULL}, {NULL}, {"pickle.memo-redefinition"}, BW_OK},
	{"memo-missing", S("g5\n."), {NULL}, {NULL}, {"pickle.broken-stream"}, BW_ERR_MALFORMED},
	{"memoize-empty", S("\x80\x04\x94."), {NULL}, {NULL}, {"pickle.broken-stream"}, BW_ERR_MALFORMED},
	{"mark-fence", S("N(0."), {NULL}, {NULL}, {NULL}, BW_OK},
	{"mark-fence-underflow", S("N(\x30\x30."), {NULL}, {NULL}, {"pickle.broken-stream"}, BW_ERR_MALFORMED},
	{"reduce-non-tuple", S("cos\nsystem\nNR."), {"GLOBAL os.system <- os.system"},
	 {"REDUCE os.system ?"}, {"pickle.broken-stream"}, BW_ERR_MALFORMED},
	{"reduce-list-args", S("cos\nsystem\n(S'id'\nlR."), {"GLOBAL os.system <- os.system"},
	 {"REDUCE os.system ('id',)"}, {"pickle.parser-differential"}, BW_OK},
	{"oob-buffer", S("\x80\x05\x97\x98."), {NULL}, {NULL}, {"pickle.out-of-band-buffer"}, BW_OK},
	{"empty", S(""), {NULL}, {NULL}, {"pickle.broken-stream"}, BW_ERR_TRUNCATED},
	{"nested-loader", S("\x80\x03" "cpickle\nloads\nC\x02N.\x85R."),
	 {"GLOBAL pickle.loads <- pickle.loads"}, {"REDUCE pickle.loads (b'N.',)"}, {NULL}, BW_OK},
	{"misc-p0-p1", S("(I1\nL5L\nF2.5\nS'x'\nVy\n2p1\n0g1\nq\x02" "0h\x02" "1N."), {NULL}, {NULL}, {NULL}, BW_OK},
	{"containers",
	 S("\x80\x05((K\x01K\x02l]K\x03" "a(K\x04K\x05" "e}K\x06K\x07s(K\x08K\x09u\x8f(K\x0a\x90(K\x0b\x91"
	   "(K\x0cK\x0d" "d()\x88\x89N\x8a\x02\xff\x7f\x8b\x01\x00\x00\x00\x80G?\xf8\x00\x00\x00\x00\x00\x00"
	   "J\xff\xff\xff\xffM\xff\xff\x96\x01\x00\x00\x00\x00\x00\x00\x00z\x8e\x01\x00\x00\x00\x00\x00"
	   "\x00\x00y" "B\x01\x00\x00\x00x2\x87\x87\x87tt."),
	 {NULL}, {NULL}, {NULL}, BW_OK},
};

static void run_cases(void)
{
	size_t i;
	int j;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct tcase *t = &cases[i];
		struct rec *r = scan(t->data, t->len);
		int ok = 1, n_exp_imp = 0, n_exp_call = 0;

		for (j = 0; j < 6 && t->imports[j] != NULL; j++, n_exp_imp++)
			if (!has(r->imports, r->n_imports, t->imports[j])) {
				fprintf(stderr, "%s: missing import '%s'\n", t->name, t->imports[j]);
				ok = 0;
			}
		for (j = 0; j < 6 && t->calls[j] != NULL; j++, n_exp_call++)
			if (!has(r->calls, r->n_calls, t->calls[j])) {
				fprintf(stderr, "%s: missing call '%s'\n", t->name, t->calls[j]);
				ok = 0;
			}
		for (j = 0; j < 4 && t->findings[j] != NULL; j++)
			if (!has_finding(r, t->findings[j])) {
				fprintf(stderr, "%s: missing finding '%s'\n", t->name, t->findings[j]);
				ok = 0;
			}
		if (r->n_imports != n_exp_imp || r->n_calls != n_exp_call) {
			fprintf(stderr, "%s: %d imports / %d calls, expected %d / %d\n", t->name, r->n_imports,
			        r->n_calls, n_exp_imp, n_exp_call);
			ok = 0;
		}
		if (r->incomplete != t->incomplete) {
			fprintf(stderr, "%s: incomplete %d, expected %d\n", t->name, (int)r->incomplete,
			        (int)t->incomplete);
			ok = 0;
		}
		/* anything not expected at or above "broken" is a regression too */
		if (t->findings[0] == NULL && r->n_findings > 0) {
			fprintf(stderr, "%s: unexpected findings\n", t->name);
			ok = 0;
		}
		CHECKF(ok, "case %s", t->name);
		if (!ok)
			dump(t->name, r);
	}
}

static void test_nested_loader_bytes(void)
{
	static const char d[] = "\x80\x03" "cpickle\nloads\nC\x02N.\x85R.";
	struct rec *r = scan(d, sizeof d - 1);

	CHECK_EQ_INT(r->bytes_arg_len, 2);
	CHECK(memcmp(r->bytes_arg, "N.", 2) == 0);
}

/*
 * fast_run's class tables agree with the opcode table: an opcode it handles
 * under a declared protocol was introduced at or before that protocol (the
 * general path reports a newer one), and every handled opcode is handled
 * with no protocol declared.
 */
static void test_fast_class_protocols(void)
{
	unsigned proto;
	int c, handled = 0;

	for (c = 0; c < 256; c++) {
		int any = pk_fast_class(255, (uint8_t)c);

		handled += any != 0;
		CHECKF(any == 0 || pk_op((uint8_t)c) != NULL, "class for non-opcode 0x%02x", c);
		for (proto = 0; proto < 6; proto++) {
			int k = pk_fast_class(proto, (uint8_t)c);

			if (pk_op((uint8_t)c) == NULL) {
				CHECKF(k == 0, "class for non-opcode 0x%02x", c);
				continue;
			}
			CHECKF(k == (pk_ops[c].proto <= proto || proto >= 4 ? any : 0),
			       "%s under protocol %u: class %d, want %d", pk_ops[c].name, proto, k,
			       pk_ops[c].proto <= proto ? any : 0);
		}
	}
	CHECKF(handled >= 28, "only %d opcodes on the fast path", handled);
}

/* Every opcode of protocols 0-5 went through the decoder in some test above. */
static void test_every_opcode_seen(void)
{
	int c;

	for (c = 0; c < 256; c++)
		if (pk_op((uint8_t)c) != NULL)
			CHECKF(op_seen[c], "opcode %s (0x%02x) never decoded by a unit test", pk_op((uint8_t)c)->name, c);
}

static void test_trace_all_opcodes(void)
{
	/* the containers case exercises most binary opcodes; check the trace names them */
	const struct tcase *t = &cases[sizeof cases / sizeof cases[0] - 1];
	struct rec *r = scan(t->data, t->len);
	static const char *want[] = {"PROTO", "MARK", "BININT1", "LIST", "EMPTY_LIST", "APPEND", "APPENDS",
	                             "EMPTY_DICT", "SETITEM", "SETITEMS", "EMPTY_SET", "ADDITEMS",
	                             "FROZENSET", "DICT", "EMPTY_TUPLE", "NEWTRUE", "NEWFALSE", "NONE",
	                             "LONG1", "LONG4", "BINFLOAT", "BININT", "BININT2", "BYTEARRAY8",
	                             "BINBYTES8", "BINBYTES", "TUPLE3", "TUPLE", "STOP"};
	size_t i;
	int j, found;

	for (i = 0; i < sizeof want / sizeof want[0]; i++) {
		found = 0;
		for (j = 0; j < r->n_ops; j++)
			if (strcmp(r->ops[j], want[i]) == 0)
				found = 1;
		CHECKF(found, "opcode %s not traced", want[i]);
	}
}

static void test_limits(void)
{
	struct bw_limits lim;
	struct rec *r;
	char big[4096];
	size_t i, n;

	/* ops */
	lim = test_lim;
	lim.max_pickle_ops = 5;
	r = scan_lim("NNNNNNNN.", 9, &lim);
	CHECK(has_finding(r, "pickle.limit-ops"));
	CHECK_EQ_INT(r->incomplete, BW_ERR_LIMIT);
	/* stack */
	lim = test_lim;
	lim.max_pickle_stack = 4;
	r = scan_lim("NNNNNN.", 7, &lim);
	CHECK(has_finding(r, "pickle.limit-stack"));
	CHECK_EQ_INT(r->incomplete, BW_ERR_LIMIT);
	/* memo */
	lim = test_lim;
	lim.max_pickle_memo = 2;
	r = scan_lim("Np1\np2\np3\n.", 11, &lim);
	CHECK(has_finding(r, "pickle.limit-memo"));
	CHECK_EQ_INT(r->incomplete, BW_ERR_LIMIT);
	/* string */
	lim = test_lim;
	lim.max_string = 4;
	r = scan_lim("X\x0a\x00\x00\x00" "0123456789.", 16, &lim);
	CHECK(has_finding(r, "pickle.limit-string"));
	CHECK_EQ_INT(r->incomplete, BW_ERR_LIMIT);
	r = scan_lim("S'0123456789'\n.", 15, &lim);
	CHECK(has_finding(r, "pickle.limit-string"));
	/* nesting */
	lim = test_lim;
	lim.max_nesting = 3;
	r = scan_lim("((((((N.", 8, &lim);
	CHECK(has_finding(r, "pickle.limit-nesting"));
	CHECK_EQ_INT(r->incomplete, BW_ERR_LIMIT);
	/* memory: many list items in a tiny budget */
	lim = test_lim;
	lim.mem_budget = 16384;
	n = 0;
	big[n++] = ']';
	for (i = 0; i < 1000 && n + 2 < sizeof big; i++) {
		big[n++] = 'N';
		big[n++] = 'a';
	}
	big[n++] = '.';
	r = scan_lim(big, n, &lim);
	CHECK(has_finding(r, "pickle.limit-memory"));
	CHECK_EQ_INT(r->incomplete, BW_ERR_LIMIT);
	/* deep nesting of tuples within bounds: repr is depth-capped, no crash */
	lim = test_lim;
	n = 0;
	big[n++] = 'c';
	memcpy(big + n, "os\nsystem\n", 10);
	n += 10;
	big[n++] = 'N';
	for (i = 0; i < 1500; i++)
		big[n++] = (char)0x85; /* TUPLE1 */
	big[n++] = (char)0x85;
	big[n++] = 'R';
	big[n++] = '.';
	r = scan_lim(big, n, &lim);
	CHECK_EQ_INT(r->n_calls, 1);
	CHECK(r->n_calls == 1 && strlen(r->calls[0]) < EVLEN - 1);
	/* self-referencing list: repr terminates */
	r = scan_lim("cos\nsystem\n]p0\ng0\na\x85R.", 22, &lim);
	CHECK_EQ_INT(r->n_calls, 1);
}

static void test_detect(void)
{
	static const uint8_t png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13};
	static const uint8_t rnd[] = {0x80, 0x02, 0xde, 0xad, 0xbe, 0xef, 0x11, 0x22};
	static const uint8_t torch_storage[] = {0x80, 0x3f, 0, 0, 0x80, 0x3f, 0, 0};
	uint8_t noise[4096];
	unsigned x = 12345;
	size_t i;
	int zero = 0;

	CHECK_EQ_INT(bw_pickle_detect((const uint8_t *)"\x80\x04N.", 4), 95);
	CHECK_EQ_INT(bw_pickle_detect((const uint8_t *)"N.", 2), BW_DETECT_WEAK); /* too short to claim */
	CHECK_EQ_INT(bw_pickle_detect((const uint8_t *)"(lp0\nI1\naI2\na.", 14), 60);
	CHECK_EQ_INT(bw_pickle_detect((const uint8_t *)"cos\nsystem\n\xff\xff", 13), 60);
	CHECK_EQ_INT(bw_pickle_detect((const uint8_t *)"\x80\x02" "cos\nsystem\n\xff", 14), 95);
	CHECK_EQ_INT(bw_pickle_detect(png, sizeof png), 0);
	CHECK(bw_pickle_detect(rnd, sizeof rnd) < BW_DETECT_WEAK_MAX);
	CHECK_EQ_INT(bw_pickle_detect(torch_storage, sizeof torch_storage), 0);
	CHECK_EQ_INT(bw_pickle_detect((const uint8_t *)"hello world\n", 12), 0);
	CHECK_EQ_INT(bw_pickle_detect(NULL, 0), 0);
	/* a PROTO header that breaks: a weak claim (whole files only, fmt.h) */
	CHECK_EQ_INT(bw_pickle_detect((const uint8_t *)"\x80\x04\x95\x10", 4), BW_DETECT_WEAK);
	for (i = 0; i < 200; i++) {
		size_t k;

		for (k = 0; k < 64; k++) {
			x = x * 1103515245u + 12345u;
			noise[k] = (uint8_t)(x >> 16);
		}
		noise[0] = 0x80;
		noise[1] = 0x04;
		if (bw_pickle_detect(noise, 64) < BW_DETECT_WEAK_MAX)
			zero++;
	}
	CHECKF(zero >= 190, "random bytes after PROTO strongly claimed as pickle %d/200 times", 200 - zero);
}

static uint8_t *read_data(const char *name, size_t *len)
{
	const char *src = getenv("BW_SRC");
	char path[4096];
	FILE *f;
	uint8_t *buf;
	long n;

	*len = 0;
	if (src == NULL) {
		fprintf(stderr, "BW_SRC is not set (run through ctest)\n");
		exit(1);
	}
	snprintf(path, sizeof path, "%s/tests/data/pickle/%s", src, name);
	f = fopen(path, "rb");
	if (f == NULL) {
		fprintf(stderr, "cannot open %s\n", path);
		exit(1);
	}
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n)
		exit(1);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static void test_files(void)
{
	static const char *files[] = {"torch-legacy.pt", "small.joblib", "proto2.joblib"};
	static const char *formats[] = {"pytorch-legacy", "joblib", "joblib"};
	size_t i, len;
	int j;

	for (i = 0; i < 3; i++) {
		uint8_t *d = read_data(files[i], &len);
		struct rec *r = scan((const char *)d, len);

		CHECKF(r->incomplete == BW_OK, "%s incomplete %d", files[i], (int)r->incomplete);
		CHECKF(r->n_formats == 1 && strcmp(r->formats[0], formats[i]) == 0, "%s format", files[i]);
		for (j = 0; j < r->n_findings; j++)
			CHECKF(strcmp(r->findings[j], "pickle.persistent-id") == 0, "%s: finding %s", files[i],
			       r->findings[j]);
		CHECK(bw_pickle_detect(d, len) == 95);
		/* truncated copies: reported as broken, never a crash */
		r = scan((const char *)d, len / 2);
		CHECK(r->incomplete != BW_OK);
		free(d);
	}
}

static void test_joblib_differential(void)
{
	size_t len;
	uint8_t *d = read_data("joblib-hidden.pkl", &len);
	struct rec *r = scan((const char *)d, len);

	/* joblib reads the 11 bytes "cos\nsystem\n" as uint8 array data; pickle.load imports */
	CHECK(has_finding(r, "pickle.parser-differential"));
	CHECK(has(r->imports, r->n_imports, "GLOBAL os.system <- os.system"));
	CHECK_EQ_INT(r->incomplete, BW_OK);
	CHECK(r->n_formats == 1 && strcmp(r->formats[0], "joblib") == 0);
	free(d);
}

/* Every allocation failing in turn: BW_OK (limit/incomplete) or BW_ERR_NOMEM, never a crash or leak. */
static void test_alloc_failures(void)
{
	size_t len;
	uint8_t *d = read_data("small.joblib", &len);
	uint64_t n;
	int nomem = 0, ok = 0;

	for (n = 1; n < 200; n++) {
		static struct rec r;
		struct bw_fmt_sink s;
		enum bw_err e;

		memset(&r, 0, sizeof r);
		memset(&s, 0, sizeof s);
		s.user = &r;
		s.finding = r_finding;
		s.import = r_import;
		s.call = r_call;
		s.member = r_member;
		s.incomplete = r_incomplete;
		s.format = r_format;
		s.lim = &test_lim;
		(void)bw_alloc_fail_after(n);
		e = bw_pickle_scan(d, len, &s);
		(void)bw_alloc_fail_after(0);
		CHECKF(e == BW_OK || e == BW_ERR_NOMEM, "fail_after %llu: %d", (unsigned long long)n, (int)e);
		if (e == BW_ERR_NOMEM)
			nomem++;
		else
			ok++;
	}
	CHECK(nomem > 0);
	CHECK(ok > 0);
	free(d);
}

int main(void)
{
	memset(&test_lim, 0, sizeof test_lim);
	test_lim.max_pickle_ops = 1000000;
	test_lim.max_pickle_stack = 100000;
	test_lim.max_pickle_memo = 100000;
	test_lim.max_string = 1 << 20;
	test_lim.max_nesting = 1000;
	test_lim.mem_budget = 64u << 20;
	run_cases();
	test_nested_loader_bytes();
	test_trace_all_opcodes();
	test_limits();
	test_detect();
	test_files();
	test_joblib_differential();
	test_alloc_failures();
	test_fast_class_protocols();
	test_every_opcode_seen();
	return bw_test_done();
}
