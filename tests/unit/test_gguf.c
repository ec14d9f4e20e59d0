/*
 * test_gguf.c - GGUF parser: honest v1/v2/v3 files (ChatML and Llama-3 style
 * templates) scan clean; structural checks and chat-template sandbox escapes
 * fire on their files; the template inspector on a table of snippets.
 */
#include "harness.h"

#include "data/formats3/recsink.h"

static const struct rec_case cases[] = {
	{"gguf_honest.gguf", NULL, 0},
	{"gguf_honest_llama3.gguf", NULL, 0},
	{"gguf_honest_v1.gguf", NULL, 0},
	{"gguf_honest_v2.gguf", NULL, 0},
	{"gguf_ssti_cve.gguf", "gguf.chat-template-ssti", 0},
	{"gguf_ssti_attr.gguf", "gguf.chat-template-ssti", 0},
	{"gguf_ssti_cycler.gguf", "gguf.chat-template-ssti", 0},
	{"gguf_ssti_lipsum.gguf", "gguf.chat-template-ssti", 0},
	{"gguf_ssti_include.gguf", "gguf.chat-template-ssti", 0},
	{"gguf_overlap.gguf", "gguf.tensor-overlap", 0},
	{"gguf_oob.gguf", "gguf.tensor-out-of-bounds", 0},
	{"gguf_misaligned.gguf", "gguf.tensor-misaligned", 0},
	{"gguf_dup_key.gguf", "gguf.duplicate-key", 0},
	{"gguf_dup_tensor.gguf", "gguf.duplicate-tensor", 0},
	{"gguf_bad_value_type.gguf", "gguf.bad-value-type", 1},
	{"gguf_ndims.gguf", "gguf.tensor-info", 0},
	{"gguf_bad_ggml_type.gguf", "gguf.tensor-info", 0},
	{"gguf_block_size.gguf", "gguf.tensor-info", 0},
	{"gguf_count_bounds.gguf", "gguf.count-bounds", 1},
	{"gguf_array_nesting.gguf", "gguf.array-nesting", 1},
	{"gguf_bad_alignment.gguf", "gguf.bad-alignment", 0},
	{"gguf_truncated.gguf", NULL, 1},
};

static const struct {
	const char *tpl;
	int escape;
} tpls[] = {
	{"{{ messages[0]['content'] }}", 0},
	{"{% for m in messages %}{{ m.role }}: {{ m.content | trim }}{% endfor %}", 0},
	{"{%- set ns = namespace(found=false) -%}{%- if ns.found %}x{% endif %}", 0},
	{"{{ '<|im_start|>system\\n' }}{{ raise_exception('bad role') }}", 0},
	{"Text outside tags: __class__ os.popen is inert", 0},
	{"{# comment mentioning __globals__ #}{{ bos_token }}", 0},
	{"{{ tools | tojson(indent=2) }}{{ loop.index0 }}", 0},
	{"{{ ''.__class__.__mro__[1].__subclasses__() }}", 1},
	{"{{ cycler.__init__.__globals__.os.popen('id').read() }}", 1},
	{"{{ joiner.__init__.__globals__ }}", 1},
	{"{{ lipsum.__globals__['os'] }}", 1},
	{"{{ self._TemplateReference__context }}", 1},
	{"{{ request.application.__globals__.__builtins__.__import__('os') }}", 1},
	{"{{ ()|attr('\\x5f\\x5fclass\\x5f\\x5f') }}", 1},
	{"{{ () | attr(name) }}", 1},
	{"{{ x['\\u005f\\u005fglobals\\u005f\\u005f'] }}", 1},
	{"{{ x['__globals__'] }}", 1},
	{"{% set p = namespace.__init__ %}", 1},
	{"{{ url_for.__globals__ }}", 1},
	{"{{ config.items() }}", 1},
	{"{{ get_flashed_messages.__globals__ }}", 1},
	{"{{ x.system('id') }}", 1},
	{"{{ unterminated __import__", 1},
	{"{{ x['__' + 'class' + '__'] }}", 1},
	{"{{ x['_' * 2 ~ 'class' ~ '_' * 2] }}", 1},
	{"{{ name.split('_') | join(' ') }}{{ t.replace('_', '-') }}", 0},
};

static void test_templates(void)
{
	size_t i, off;
	const char *why;

	for (i = 0; i < sizeof tpls / sizeof tpls[0]; i++) {
		int got = bw_gguf_template_ssti(tpls[i].tpl, strlen(tpls[i].tpl), &off, &why);

		CHECKF(got == tpls[i].escape, "template %zu \"%s\": got %d (%s)", i, tpls[i].tpl, got,
		       why ? why : "-");
		if (got)
			CHECK(off < strlen(tpls[i].tpl) && why != NULL);
	}
}

static void test_detect(void)
{
	static const uint8_t v3[8] = {'G', 'G', 'U', 'F', 3, 0, 0, 0};
	static const uint8_t be[8] = {'G', 'G', 'U', 'F', 0, 0, 0, 3};
	static const uint8_t other[8] = {'G', 'G', 'M', 'L', 3, 0, 0, 0};
	struct rec r;
	struct bw_fmt_sink s;

	CHECK_EQ_INT(bw_gguf_detect(v3, sizeof v3), 100);
	CHECK(bw_gguf_detect(be, sizeof be) > 0);
	CHECK_EQ_INT(bw_gguf_detect(other, sizeof other), 0);
	CHECK_EQ_INT(bw_gguf_detect(v3, 3), 0);
	/* big-endian files are reported as unsupported, not misread */
	memset(&r, 0, sizeof r);
	rec_sink(&r, &s, NULL);
	CHECK(bw_gguf_scan(be, sizeof be, &s) == BW_OK);
	CHECK(r.n_incomplete == 1 && r.n_find == 0);
	/* header cut after the version */
	memset(&r, 0, sizeof r);
	CHECK(bw_gguf_scan(v3, sizeof v3, &s) == BW_OK);
	CHECK(r.n_incomplete == 1);
}

int main(void)
{
	struct rec *r = calloc(1, sizeof *r);

	CHECK(r != NULL);
	CHECK_EQ_INT(rec_run_table(cases, sizeof cases / sizeof cases[0], bw_gguf_detect, bw_gguf_scan, "gguf", r), 0);
	/* the CVE sample's finding quotes the offending snippet */
	{
		static const struct rec_case one[] = {{"gguf_ssti_cve.gguf", "gguf.chat-template-ssti", 0}};

		CHECK_EQ_INT(rec_run_table(one, 1, bw_gguf_detect, bw_gguf_scan, "gguf", r), 0);
		CHECK(rec_msg_has(r, "__class__"));
		CHECK(rec_msg_has(r, "tokenizer.chat_template"));
	}
	test_templates();
	CHECK_EQ_INT(rec_alloc_sweep("gguf_honest.gguf", bw_gguf_scan, r), 0);
	CHECK_EQ_INT(rec_alloc_sweep("gguf_dup_tensor.gguf", bw_gguf_scan, r), 0);
	test_detect();
	free(r);
	return bw_test_done();
}
