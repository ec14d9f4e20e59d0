/*
 * spdx3.c - the SPDX 3.0.1 JSON-LD writer (Core, Software, AI and Dataset
 * profiles).
 *
 * Elements (SPDX 3.0.1 model, JSON-LD serialization with the published
 * context https://spdx.org/rdf/3.0.1/spdx-context.jsonld):
 *   CreationInfo (blank node) + SoftwareAgent "bulwark" + Tool;
 *   SpdxDocument and software_Sbom with the model as root element;
 *   ai_AIPackage for the model (hashes of its weight files in verifiedUsing,
 *   ai_hyperparameter as DictionaryEntry, ai_domain from the pipeline tag,
 *   typeOfModel from the architecture), dataset_DatasetPackage per dataset,
 *   software_Package per Python package (software_packageUrl = purl),
 *   software_File per folder file with its SHA-256;
 *   Relationships: model trainedOn datasets, model dependsOn packages, package
 *   dependsOn package (lock files), model contains files, model ancestorOf
 *   relation from each base model; for every AI and dataset package exactly
 *   one hasDeclaredLicense (the model card's licence as a
 *   simplelicensing_LicenseExpression with the case-correct SPDX id, or a
 *   simplelicensing_SimpleLicensingText for other licences; else
 *   NoAssertionLicense) and one hasConcludedLicense (NoAssertionLicense).
 * Identifiers are IRIs under urn:bulwark:sbom:<name>:<digest prefix> so two
 * runs on the same folder give the same ids.
 * Must not: invent facts the folder does not state.
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "bulwark/version.h"
#include "core/alloc.h"
#include "core/json.h"
#include "sbom/sbom_int.h"

struct sp {
	struct bw_arena *a;
	json_t *graph;
	json_t *elements;  /* ids of everything for the document */
	const char *base;  /* IRI prefix */
	size_t n_rel;
};

static json_t *js(const char *s)
{
	json_t *j = s != NULL ? json_string(s) : NULL;

	return j != NULL ? j : json_string("?");
}

/* an IRI-safe local name: letters, digits, '-', '.', '_' kept, others as '_' */
static char *local_id(struct bw_arena *a, const char *prefix, const char *name)
{
	char *s = bw_arena_printf(a, "%s-%s", prefix, name);
	size_t i;

	for (i = 0; s != NULL && s[i] != '\0'; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
		      c == '.' || c == '_'))
			s[i] = '_';
	}
	return s;
}

static const char *iri(struct sp *s, const char *prefix, const char *name)
{
	char *l = local_id(s->a, prefix, name);

	return l != NULL ? bw_arena_printf(s->a, "%s#%s", s->base, l) : NULL;
}

static json_t *element(struct sp *s, const char *type, const char *id)
{
	json_t *o = json_object();

	json_object_set_new(o, "type", json_string(type));
	json_object_set_new(o, "spdxId", js(id));
	json_object_set_new(o, "creationInfo", json_string("_:creationinfo"));
	json_array_append_new(s->elements, js(id));
	json_array_append_new(s->graph, o);
	return o;
}

static void relationship(struct sp *s, const char *from, const char *type, json_t *to)
{
	char n[32];
	json_t *r;

	if (json_array_size(to) == 0) {
		json_decref(to);
		return;
	}
	snprintf(n, sizeof n, "%zu", ++s->n_rel);
	r = element(s, "Relationship", iri(s, "relationship", n));
	json_object_set_new(r, "from", js(from));
	json_object_set_new(r, "relationshipType", json_string(type));
	json_object_set_new(r, "to", to);
}

/*
 * The AI and Dataset profiles (SPDX 3.0.1, AI and Dataset "Profile
 * conformance") require, for every ai_AIPackage and dataset_DatasetPackage,
 * exactly one hasDeclaredLicense and exactly one hasConcludedLicense
 * relationship. What a model card declares is the declared licence; bulwark
 * concludes nothing, and says so with the NoAssertionLicense individual, as
 * it does for a declared licence the folder does not state.
 */
#define SPDX_NOASSERTION_LICENSE "expandedlicensing_NoAssertionLicense"

static void licence_rels(struct sp *s, const char *from, const char *declared)
{
	relationship(s, from, "hasDeclaredLicense",
	             json_pack("[o]", js(declared != NULL ? declared : SPDX_NOASSERTION_LICENSE)));
	relationship(s, from, "hasConcludedLicense", json_pack("[s]", SPDX_NOASSERTION_LICENSE));
}

enum bw_err bw_sbom_write_spdx3(const struct bw_model_info *m, const struct bw_sbom_opts *o,
                                const char *timestamp, char **out, size_t *len)
{
	struct bw_arena a;
	struct sp s;
	json_t *root = json_object(), *ci = json_object(), *model, *hashes = json_array(), *files_to = json_array();
	json_t *ds_to = json_array(), *pk_to = json_array(), *doc, *sbom;
	const char *model_id, *agent_id, *tool_id, **pkg_ids;
	json_t *pkg_seen = json_object(); /* package ids written: a lock file may list a package twice */
	struct bw_sbom_index ix;
	const char *digest = "0000000000000000";
	size_t i, j;
	enum bw_err e = BW_OK;

	bw_arena_init(&a, 0);
	*out = NULL;
	memset(&s, 0, sizeof s);
	s.a = &a;
	s.graph = json_array();
	s.elements = json_array();
	for (i = 0; i < m->n_files; i++)
		if (m->files[i].format != NULL) {
			digest = bw_arena_strndup(&a, m->files[i].sha256, 16);
			break;
		}
	s.base = bw_arena_printf(&a, "urn:bulwark:sbom:%s:%s", local_id(&a, "m", m->name), digest);
	pkg_ids = bw_arena_array(&a, o->n_reqs ? o->n_reqs : 1, sizeof *pkg_ids);
	if (s.base == NULL || pkg_ids == NULL || root == NULL || digest == NULL) {
		e = BW_ERR_NOMEM;
		goto out;
	}

	json_object_set_new(root, "@context", json_string("https://spdx.org/rdf/3.0.1/spdx-context.jsonld"));
	agent_id = iri(&s, "agent", "bulwark");
	tool_id = iri(&s, "tool", "bulwark");
	json_object_set_new(ci, "type", json_string("CreationInfo"));
	json_object_set_new(ci, "@id", json_string("_:creationinfo"));
	json_object_set_new(ci, "specVersion", json_string("3.0.1"));
	json_object_set_new(ci, "created", js(timestamp));
	json_object_set_new(ci, "createdBy", json_pack("[o]", js(agent_id)));
	json_object_set_new(ci, "createdUsing", json_pack("[o]", js(tool_id)));
	json_array_append_new(s.graph, ci);
	json_object_set_new(element(&s, "SoftwareAgent", agent_id), "name", json_string("bulwark"));
	{
		json_t *t = element(&s, "Tool", tool_id);

		json_object_set_new(t, "name", json_string("bulwark"));
		json_object_set_new(t, "comment", json_pack("s+", "version ", bw_version()));
	}

	/* ---- the model ---- */
	model_id = iri(&s, "model", m->name);
	model = element(&s, "ai_AIPackage", model_id);
	json_object_set_new(model, "name", js(m->name));
	json_object_set_new(model, "software_primaryPurpose", json_string("model"));
	if (strchr(m->name, '/') != NULL)
		json_object_set_new(model, "software_downloadLocation",
		                    js(bw_arena_printf(&a, "https://huggingface.co/%s", m->name)));
	for (i = 0; i < m->n_files; i++)
		if (m->files[i].format != NULL)
			json_array_append_new(hashes, json_pack("{s:s,s:s,s:s,s:o}", "type", "Hash", "algorithm", "sha256",
			                                        "hashValue", m->files[i].sha256, "comment",
			                                        js(m->files[i].rel)));
	if (json_array_size(hashes) > 0)
		json_object_set_new(model, "verifiedUsing", hashes);
	else
		json_decref(hashes);
	if (m->pipeline_tag != NULL)
		json_object_set_new(model, "ai_domain", json_pack("[o]", js(m->pipeline_tag)));
	if (m->n_arch > 0 || m->model_type != NULL) {
		json_t *tm = json_array();

		if (m->model_type != NULL)
			json_array_append_new(tm, js(m->model_type));
		for (i = 0; i < m->n_arch; i++)
			json_array_append_new(tm, js(m->architectures[i]));
		json_object_set_new(model, "ai_typeOfModel", tm);
	}
	if (m->n_hyper > 0) {
		json_t *hp = json_array();

		for (i = 0; i < m->n_hyper; i++)
			json_array_append_new(hp, json_pack("{s:s,s:o,s:o}", "type", "DictionaryEntry", "key",
			                                    js(m->hyper[i].key), "value", js(m->hyper[i].value)));
		json_object_set_new(model, "ai_hyperparameter", hp);
	}
	if (m->formats != NULL)
		json_object_set_new(model, "comment", js(bw_arena_printf(&a, "weight formats: %s", m->formats)));

	/* licence */
	{
		const char *lic_id = NULL;

		if (m->license != NULL) {
			const char *id = bw_sbom_spdx_id(m->license);
			json_t *l;

			if (id != NULL) {
				lic_id = iri(&s, "license", id);
				l = element(&s, "simplelicensing_LicenseExpression", lic_id);
				json_object_set_new(l, "simplelicensing_licenseExpression", js(id));
			} else {
				const char *nm = m->license_name != NULL && strcmp(m->license, "other") == 0 ? m->license_name
				                                                                             : m->license;

				lic_id = iri(&s, "license", nm);
				l = element(&s, "simplelicensing_SimpleLicensingText", lic_id);
				json_object_set_new(l, "name", js(nm));
				json_object_set_new(l, "simplelicensing_licenseText",
				                    js(bw_arena_printf(&a, "License named \"%s\" in the model card (not an SPDX identifier)", nm)));
			}
		}
		licence_rels(&s, model_id, lic_id);
	}

	/* ---- datasets, base models, files ---- */
	for (i = 0; i < m->n_datasets; i++) {
		const char *id = iri(&s, "dataset", m->datasets[i]);
		json_t *d = element(&s, "dataset_DatasetPackage", id);

		json_object_set_new(d, "name", js(m->datasets[i]));
		json_object_set_new(d, "software_primaryPurpose", json_string("data"));
		json_object_set_new(d, "software_downloadLocation",
		                    js(bw_arena_printf(&a, "https://huggingface.co/datasets/%s", m->datasets[i])));
		json_object_set_new(d, "dataset_datasetType", json_pack("[s]", "other"));
		json_array_append_new(ds_to, js(id));
		licence_rels(&s, id, NULL);
	}
	relationship(&s, model_id, "trainedOn", ds_to);
	ds_to = NULL;
	for (i = 0; i < m->n_base; i++) {
		const char *id = iri(&s, "base-model", m->base_models[i]);
		json_t *b = element(&s, "ai_AIPackage", id);

		json_object_set_new(b, "name", js(m->base_models[i]));
		json_object_set_new(b, "software_primaryPurpose", json_string("model"));
		json_object_set_new(b, "software_downloadLocation",
		                    js(bw_arena_printf(&a, "https://huggingface.co/%s", m->base_models[i])));
		relationship(&s, id, "ancestorOf", json_pack("[o]", js(model_id)));
		licence_rels(&s, id, NULL);
	}
	for (i = 0; i < m->n_files; i++) {
		const char *id = iri(&s, "file", m->files[i].rel);
		json_t *f = element(&s, "software_File", id);

		json_object_set_new(f, "name", js(m->files[i].rel));
		json_object_set_new(f, "verifiedUsing", json_pack("[{s:s,s:s,s:s}]", "type", "Hash", "algorithm", "sha256",
		                                                  "hashValue", m->files[i].sha256));
		json_array_append_new(files_to, js(id));
	}
	relationship(&s, model_id, "contains", files_to);
	files_to = NULL;

	/* ---- Python packages ---- */
	for (i = 0; i < o->n_reqs; i++) {
		const struct bw_audit_req *r = &o->reqs[i];
		const char *purl = bw_sbom_pypi_purl(&a, r), *id;
		char norm[256];
		json_t *p;

		pkg_ids[i] = NULL;
		if (purl == NULL || bw_audit_name_normalize(r->name, norm, sizeof norm) != BW_OK)
			continue;
		id = iri(&s, "pypi", purl + 9);
		if (id == NULL || pkg_seen == NULL) {
			e = BW_ERR_NOMEM;
			goto out;
		}
		if (json_object_get(pkg_seen, id) != NULL)
			continue;
		json_object_set_new(pkg_seen, id, json_true());
		pkg_ids[i] = id;
		p = element(&s, "software_Package", pkg_ids[i]);
		json_object_set_new(p, "name", js(norm));
		if (r->version != NULL)
			json_object_set_new(p, "software_packageVersion", js(r->version));
		json_object_set_new(p, "software_packageUrl", js(purl));
		json_object_set_new(p, "software_primaryPurpose", json_string("library"));
		json_array_append_new(pk_to, js(pkg_ids[i]));
	}
	relationship(&s, model_id, "dependsOn", pk_to);
	pk_to = NULL;
	if (bw_sbom_index_build(&a, o, &ix) != BW_OK) {
		e = BW_ERR_NOMEM;
		goto out;
	}
	for (i = 0; i < o->n_reqs; i++) {
		json_t *to = json_array();

		for (j = 0; pkg_ids[i] != NULL && j < o->reqs[i].n_deps; j++) {
			size_t k = bw_sbom_index_find(&ix, o->reqs[i].deps[j], i, pkg_ids);

			/* two spellings of one name: one edge */
			if (k != SIZE_MAX && !bw_json_array_has_str(to, pkg_ids[k]))
				json_array_append_new(to, js(pkg_ids[k]));
		}
		if (pkg_ids[i] != NULL)
			relationship(&s, pkg_ids[i], "dependsOn", to);
		else
			json_decref(to);
	}

	/* ---- document and SBOM ---- */
	sbom = element(&s, "software_Sbom", iri(&s, "sbom", m->name));
	json_object_set_new(sbom, "software_sbomType", json_pack("[s]", "analyzed"));
	json_object_set_new(sbom, "rootElement", json_pack("[o]", js(model_id)));
	doc = json_object();
	json_object_set_new(doc, "type", json_string("SpdxDocument"));
	json_object_set_new(doc, "spdxId", js(iri(&s, "document", m->name)));
	json_object_set_new(doc, "creationInfo", json_string("_:creationinfo"));
	json_object_set_new(doc, "name", js(bw_arena_printf(&a, "SBOM of %s", m->name)));
	json_object_set_new(doc, "profileConformance", json_pack("[s,s,s,s,s]", "core", "software", "simpleLicensing",
	                                                         "ai", "dataset"));
	json_object_set_new(doc, "rootElement", json_pack("[o]", js(iri(&s, "sbom", m->name))));
	json_object_set_new(sbom, "element", json_deep_copy(s.elements));
	json_object_set_new(doc, "element", s.elements);
	s.elements = NULL;
	json_array_append_new(s.graph, doc);
	json_object_set_new(root, "@graph", s.graph);
	s.graph = NULL;
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
	json_decref(pkg_seen);
	json_decref(ds_to);
	json_decref(pk_to);
	json_decref(files_to);
	json_decref(s.graph);
	json_decref(s.elements);
	json_decref(root);
	bw_arena_release(&a);
	return e;
}
