/*
 * cyclonedx.c - the CycloneDX 1.6 / 1.5 JSON ML-BOM writer.
 *
 * Layout (CycloneDX 1.6 JSON schema; same fields are valid in 1.5):
 *   metadata.component   the model: type machine-learning-model, licenses,
 *                        modelCard.modelParameters (task, architectureFamily,
 *                        modelArchitecture, datasets as refs), hyperparameters
 *                        as modelCard properties, base models as
 *                        pedigree.ancestors, each folder file as a nested
 *                        "file" component with its SHA-256;
 *   components           datasets (type data) and Python packages (type
 *                        library, purl pkg:pypi/NAME@VERSION);
 *   dependencies         one entry per bom-ref: the model depends on its
 *                        datasets and the top-level packages, each package on
 *                        its lock-file dependencies.
 * Keys are written in a fixed order (JSON_PRESERVE_ORDER); no random serial.
 * Must not: emit fields the chosen specVersion does not define.
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "bulwark/version.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/json.h"
#include "sbom/sbom_int.h"

static json_t *jstr(const char *s)
{
	json_t *j = s != NULL ? json_string(s) : NULL;

	return j != NULL ? j : json_string("?");
}

static json_t *license_json(const char *lic, const char *lic_name)
{
	const char *id = bw_sbom_spdx_id(lic);
	json_t *l = json_object(), *arr = json_array();

	if (id != NULL) {
		json_object_set_new(l, "id", json_string(id));
	} else {
		/* Hugging Face writes "other" plus license_name for non-SPDX licences */
		json_object_set_new(l, "name", jstr(lic_name != NULL && strcmp(lic, "other") == 0 ? lic_name : lic));
	}
	json_array_append_new(arr, json_pack("{s:o}", "license", l));
	return arr;
}

static char *ref_of(struct bw_arena *a, const char *prefix, const char *name)
{
	return bw_arena_printf(a, "%s:%s", prefix, name);
}

const char *bw_sbom_pypi_purl(struct bw_arena *a, const struct bw_audit_req *r)
{
	char n[256];

	if (bw_audit_name_normalize(r->name, n, sizeof n) != BW_OK)
		return NULL;
	/* purl-spec PyPI: lower-cased, "_" -> "-"; version as published (percent-encode "+") */
	if (r->version != NULL) {
		char v[512];
		size_t i, o = 0;

		for (i = 0; r->version[i] != '\0' && o + 4 < sizeof v; i++) {
			unsigned char c = (unsigned char)r->version[i];

			if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.' ||
			    c == '-' || c == '_' || c == '~' || c == '!') {
				v[o++] = (char)c;
			} else {
				snprintf(v + o, 4, "%%%02X", c);
				o += 3;
			}
		}
		v[o] = '\0';
		return bw_arena_printf(a, "pkg:pypi/%s@%s", n, v);
	}
	return bw_arena_printf(a, "pkg:pypi/%s", n);
}

enum bw_err bw_sbom_write_cyclonedx(const struct bw_model_info *m, const struct bw_sbom_opts *o,
                                    const char *timestamp, char **out, size_t *len)
{
	struct bw_arena a;
	json_t *root = json_object(), *meta = json_object(), *model = json_object(), *comps = json_array();
	json_t *deps = json_array(), *model_deps = json_array(), *card = json_object(), *params = json_object();
	json_t *files = json_array(), *props = json_array(), *refs_seen = json_object();
	const char *spec = o->format == BW_SBOM_CYCLONEDX_15 ? "1.5" : "1.6";
	const char *model_ref;
	const char **lib_refs = NULL;
	struct bw_sbom_index ix;
	size_t i, j, weights = 0, wi = 0;
	enum bw_err e = BW_OK;
	char schema[80];

	bw_arena_init(&a, 0);
	*out = NULL;
	model_ref = ref_of(&a, "model", m->name);
	lib_refs = bw_arena_array(&a, o->n_reqs ? o->n_reqs : 1, sizeof *lib_refs);
	if (root == NULL || model_ref == NULL || lib_refs == NULL) {
		e = BW_ERR_NOMEM;
		goto out;
	}
	snprintf(schema, sizeof schema, "http://cyclonedx.org/schema/bom-%s.schema.json", spec);
	json_object_set_new(root, "$schema", json_string(schema));
	json_object_set_new(root, "bomFormat", json_string("CycloneDX"));
	json_object_set_new(root, "specVersion", json_string(spec));
	json_object_set_new(root, "version", json_integer(1));
	json_object_set_new(meta, "timestamp", jstr(timestamp));
	json_object_set_new(meta, "tools", json_pack("{s:[{s:s,s:s,s:s}]}", "components", "type", "application",
	                                             "name", "bulwark", "version", bw_version()));

	/* ---- the model ---- */
	json_object_set_new(model, "type", json_string("machine-learning-model"));
	json_object_set_new(model, "bom-ref", jstr(model_ref));
	json_object_set_new(model, "name", jstr(m->name));
	if (strchr(m->name, '/') != NULL && strchr(strchr(m->name, '/') + 1, '/') == NULL) {
		char *purl = bw_arena_printf(&a, "pkg:huggingface/%s", m->name);

		json_object_set_new(model, "purl", jstr(purl));
	}
	/* the model's own hash is its primary weights file's: the first by format preference */
	{
		static const char *const pref[] = {"safetensors", "gguf", "pytorch", "onnx", "keras", "hdf5",
		                                   "tensorflow-savedmodel", "tflite", "flax-msgpack", "checkpoint"};
		size_t best = sizeof pref / sizeof pref[0] + 1;

		for (i = 0; i < m->n_files; i++) {
			size_t k;

			if (m->files[i].format == NULL)
				continue;
			weights++;
			for (k = 0; k < sizeof pref / sizeof pref[0] && strcmp(pref[k], m->files[i].format) != 0; k++)
				;
			if (k < best) {
				best = k;
				wi = i;
			}
		}
	}
	if (weights > 0)
		json_object_set_new(model, "hashes", json_pack("[{s:s,s:s}]", "alg", "SHA-256", "content",
		                                               m->files[wi].sha256));
	if (m->license != NULL)
		json_object_set_new(model, "licenses", license_json(m->license, m->license_name));
	if (strchr(m->name, '/') != NULL)
		json_object_set_new(model, "externalReferences",
		                    json_pack("[{s:s,s:o}]", "type", "website", "url",
		                              jstr(bw_arena_printf(&a, "https://huggingface.co/%s", m->name))));
	if (m->n_base > 0) {
		json_t *anc = json_array();

		for (i = 0; i < m->n_base; i++)
			json_array_append_new(anc, json_pack("{s:s,s:o,s:o}", "type", "machine-learning-model", "bom-ref",
			                                     jstr(ref_of(&a, "base-model", m->base_models[i])), "name",
			                                     jstr(m->base_models[i])));
		json_object_set_new(model, "pedigree", json_pack("{s:o}", "ancestors", anc));
	}
	if (m->pipeline_tag != NULL)
		json_object_set_new(params, "task", jstr(m->pipeline_tag));
	if (m->model_type != NULL)
		json_object_set_new(params, "architectureFamily", jstr(m->model_type));
	if (m->n_arch > 0)
		json_object_set_new(params, "modelArchitecture", jstr(m->architectures[0]));
	if (m->n_datasets > 0) {
		json_t *ds = json_array();

		for (i = 0; i < m->n_datasets; i++)
			json_array_append_new(ds, json_pack("{s:o}", "ref", jstr(ref_of(&a, "dataset", m->datasets[i]))));
		json_object_set_new(params, "datasets", ds);
	}
	json_object_set_new(card, "modelParameters", params);
	if (m->n_hyper > 0) {
		json_t *hp = json_array();

		for (i = 0; i < m->n_hyper; i++)
			json_array_append_new(hp, json_pack("{s:o,s:o}", "name",
			                                    jstr(bw_arena_printf(&a, "bulwark:hyperparameter:%s", m->hyper[i].key)),
			                                    "value", jstr(m->hyper[i].value)));
		json_object_set_new(card, "properties", hp);
	}
	json_object_set_new(model, "modelCard", card);
	if (m->formats != NULL)
		json_array_append_new(props, json_pack("{s:s,s:o}", "name", "bulwark:model:format", "value", jstr(m->formats)));
	if (weights > 0)
		json_array_append_new(props, json_pack("{s:s,s:o}", "name", "bulwark:model:primary-file", "value",
		                                       jstr(m->files[wi].rel)));
	if (m->library_name != NULL)
		json_array_append_new(props, json_pack("{s:s,s:o}", "name", "bulwark:model:library", "value",
		                                       jstr(m->library_name)));
	for (i = 0; i < m->n_lang; i++)
		json_array_append_new(props, json_pack("{s:s,s:o}", "name", "bulwark:model:language", "value",
		                                       jstr(m->languages[i])));
	if (json_array_size(props) > 0)
		json_object_set_new(model, "properties", props);
	else
		json_decref(props);
	for (i = 0; i < m->n_files; i++) {
		const struct bw_model_file *f = &m->files[i];
		json_t *fc = json_object(), *fp = json_array();

		json_object_set_new(fc, "type", json_string("file"));
		json_object_set_new(fc, "bom-ref", jstr(ref_of(&a, "file", f->rel)));
		json_object_set_new(fc, "name", jstr(f->rel));
		json_object_set_new(fc, "hashes", json_pack("[{s:s,s:s}]", "alg", "SHA-256", "content", f->sha256));
		json_array_append_new(fp, json_pack("{s:s,s:o}", "name", "bulwark:file:size", "value",
		                                    jstr(bw_arena_printf(&a, "%llu", (unsigned long long)f->size))));
		if (f->format != NULL)
			json_array_append_new(fp, json_pack("{s:s,s:s}", "name", "bulwark:file:format", "value", f->format));
		json_object_set_new(fc, "properties", fp);
		json_array_append_new(files, fc);
	}
	if (json_array_size(files) > 0)
		json_object_set_new(model, "components", files);
	else
		json_decref(files);
	json_object_set_new(meta, "component", model);
	json_object_set_new(root, "metadata", meta);

	/* ---- datasets ---- */
	for (i = 0; i < m->n_datasets; i++) {
		const char *ref = ref_of(&a, "dataset", m->datasets[i]);

		if (ref == NULL || json_object_get(refs_seen, ref) != NULL)
			continue;
		json_object_set_new(refs_seen, ref, json_true());
		json_array_append_new(comps, json_pack("{s:s,s:o,s:o,s:[{s:s,s:o,s:{s:o}}]}", "type", "data", "bom-ref",
		                                       jstr(ref), "name", jstr(m->datasets[i]), "data", "type", "dataset",
		                                       "name", jstr(m->datasets[i]), "contents", "url",
		                                       jstr(bw_arena_printf(&a, "https://huggingface.co/datasets/%s",
		                                                            m->datasets[i]))));
		json_array_append_new(model_deps, jstr(ref));
		json_array_append_new(deps, json_pack("{s:o,s:[]}", "ref", jstr(ref), "dependsOn"));
	}

	/* ---- Python packages ---- */
	for (i = 0; i < o->n_reqs; i++) {
		const struct bw_audit_req *r = &o->reqs[i];
		const char *purl = bw_sbom_pypi_purl(&a, r);
		json_t *c;
		char norm[256];

		lib_refs[i] = NULL;
		if (purl == NULL || json_object_get(refs_seen, purl) != NULL)
			continue;
		lib_refs[i] = purl;
		json_object_set_new(refs_seen, purl, json_true());
		c = json_object();
		json_object_set_new(c, "type", json_string("library"));
		json_object_set_new(c, "bom-ref", jstr(purl));
		json_object_set_new(c, "name", jstr(bw_audit_name_normalize(r->name, norm, sizeof norm) == BW_OK ? norm : r->name));
		if (r->version != NULL)
			json_object_set_new(c, "version", jstr(r->version));
		json_object_set_new(c, "purl", jstr(purl));
		if (r->version == NULL)
			json_object_set_new(c, "properties", json_pack("[{s:s,s:o}]", "name", "bulwark:requirement", "value",
			                                               jstr(r->spec != NULL && r->spec[0] ? r->spec : "*")));
		json_array_append_new(comps, c);
	}
	e = bw_sbom_index_build(&a, o, &ix);
	if (e != BW_OK)
		goto out;
	for (i = 0; i < o->n_reqs; i++) {
		const struct bw_audit_req *r = &o->reqs[i];
		json_t *d;

		if (lib_refs[i] == NULL)
			continue;
		/* top-level packages: those no other listed package depends on */
		if (bw_sbom_index_is_root(&ix, i))
			json_array_append_new(model_deps, jstr(lib_refs[i]));
		d = json_array();
		for (j = 0; j < r->n_deps; j++) {
			size_t k = bw_sbom_index_find(&ix, r->deps[j], i, lib_refs);

			/* two spellings of one name: one edge */
			if (k != SIZE_MAX && !bw_json_array_has_str(d, lib_refs[k]))
				json_array_append_new(d, jstr(lib_refs[k]));
		}
		json_array_append_new(deps, json_pack("{s:o,s:o}", "ref", jstr(lib_refs[i]), "dependsOn", d));
	}
	for (i = 0; i < m->n_files; i++)
		json_array_append_new(deps, json_pack("{s:o,s:[]}", "ref", jstr(ref_of(&a, "file", m->files[i].rel)),
		                                      "dependsOn"));
	json_array_insert_new(deps, 0, json_pack("{s:o,s:o}", "ref", jstr(model_ref), "dependsOn", model_deps));
	model_deps = NULL;
	json_object_set_new(root, "components", comps);
	comps = NULL;
	json_object_set_new(root, "dependencies", deps);
	deps = NULL;
	{
		const size_t flags = JSON_INDENT(2) | JSON_PRESERVE_ORDER;
		size_t need = json_dumpb(root, NULL, 0, flags);
		char *buf;

		if (need == 0 || (buf = bw_malloc(need + 2)) == NULL) {
			e = BW_ERR_NOMEM;
			goto out;
		}
		json_dumpb(root, buf, need, flags);
		buf[need] = '\n';
		buf[need + 1] = '\0';
		*out = buf;
		*len = need + 1;
	}
out:
	json_decref(refs_seen);
	json_decref(model_deps);
	json_decref(comps);
	json_decref(deps);
	json_decref(root);
	bw_arena_release(&a);
	return e;
}
