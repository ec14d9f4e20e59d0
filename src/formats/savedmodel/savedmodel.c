/*
 * formats/savedmodel/savedmodel.c - walk a SavedModel's graphs for risky ops.
 *
 * Message path (field numbers from tensorflow/core/protobuf/saved_model.proto,
 * meta_graph.proto, framework/graph.proto, node_def.proto, function.proto,
 * attr_value.proto):
 *   SavedModel.meta_graphs = 2 -> MetaGraphDef.graph_def = 2 -> GraphDef
 *   GraphDef.node = 1 -> NodeDef {name = 1, op = 2, attr = 5 (map entry key 1,
 *     value 2 -> AttrValue {list = 1, s = 2})}
 *   GraphDef.library = 2 -> FunctionDefLibrary.function = 1 -> FunctionDef.node_def = 3
 * The nesting is fixed by the schema (no attacker-chosen depth), so the walk
 * is a fixed set of loops. Op names are matched exactly; the table lists ops
 * that read or write files or run Python/RPC when the graph executes, which
 * untrusted graphs should never need (Save/Restore ops of the saver subgraph
 * are in every honest SavedModel and are deliberately not listed).
 * keras_metadata.pb (keras/protobuf/saved_metadata.proto): SavedMetadata.nodes
 *   = 1 -> SavedObject {node_id = 2, node_path = 3, identifier = 4, metadata = 5}.
 * Must not: recurse on input, allocate, or execute anything.
 */
#include "formats/savedmodel/savedmodel.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "formats/protobuf/protobuf.h"

static const struct {
	const char *op;
	const char *rule;
	const char *why;
} sm_ops[] = {
	{"PyFunc", "savedmodel.op-python", "runs a Python function registered in the loading process"},
	{"PyFuncStateless", "savedmodel.op-python", "runs a Python function registered in the loading process"},
	{"EagerPyFunc", "savedmodel.op-python", "runs a Python function registered in the loading process"},
	{"ReadFile", "savedmodel.op-file-read", "reads any file the process can read"},
	{"MatchingFiles", "savedmodel.op-file-read", "lists files by glob pattern"},
	{"ImmutableConst", "savedmodel.op-file-read", "memory-maps a file named in the graph"},
	{"WholeFileReader", "savedmodel.op-file-read", "reads whole files"},
	{"WholeFileReaderV2", "savedmodel.op-file-read", "reads whole files"},
	{"TextLineReader", "savedmodel.op-file-read", "reads text files"},
	{"TextLineReaderV2", "savedmodel.op-file-read", "reads text files"},
	{"FixedLengthRecordReader", "savedmodel.op-file-read", "reads files"},
	{"FixedLengthRecordReaderV2", "savedmodel.op-file-read", "reads files"},
	{"TFRecordReader", "savedmodel.op-file-read", "reads files"},
	{"TFRecordReaderV2", "savedmodel.op-file-read", "reads files"},
	{"TextLineDataset", "savedmodel.op-file-read", "reads text files"},
	{"TFRecordDataset", "savedmodel.op-file-read", "reads files"},
	{"TFRecordDatasetV2", "savedmodel.op-file-read", "reads files"},
	{"FixedLengthRecordDataset", "savedmodel.op-file-read", "reads files"},
	{"FixedLengthRecordDatasetV2", "savedmodel.op-file-read", "reads files"},
	{"CSVDataset", "savedmodel.op-file-read", "reads CSV files"},
	{"CSVDatasetV2", "savedmodel.op-file-read", "reads CSV files"},
	{"ExperimentalCSVDataset", "savedmodel.op-file-read", "reads CSV files"},
	{"LMDBDataset", "savedmodel.op-file-read", "opens LMDB databases"},
	{"ExperimentalLMDBDataset", "savedmodel.op-file-read", "opens LMDB databases"},
	{"LMDBReader", "savedmodel.op-file-read", "opens LMDB databases"},
	{"SqlDataset", "savedmodel.op-file-read", "opens an SQLite database named in the graph"},
	{"ExperimentalSqlDataset", "savedmodel.op-file-read", "opens an SQLite database named in the graph"},
	{"MatchingFilesDataset", "savedmodel.op-file-read", "lists files by glob pattern"},
	{"ExperimentalMatchingFilesDataset", "savedmodel.op-file-read", "lists files by glob pattern"},
	{"LoadDataset", "savedmodel.op-file-read", "reads a saved dataset from a directory"},
	{"RecordInput", "savedmodel.op-file-read", "reads record files by glob pattern"},
	{"WriteFile", "savedmodel.op-file-write", "writes any file the process can write"},
	{"SaveDataset", "savedmodel.op-file-write", "writes a dataset into a directory"},
	{"SaveDatasetV2", "savedmodel.op-file-write", "writes a dataset into a directory"},
	{"DistributedSave", "savedmodel.op-file-write", "writes a dataset into a directory"},
	{"DatasetToTFRecord", "savedmodel.op-file-write", "writes a dataset into a TFRecord file"},
	{"ExperimentalDatasetToTFRecord", "savedmodel.op-file-write", "writes a dataset into a TFRecord file"},
	{"SnapshotDataset", "savedmodel.op-file-write", "writes dataset snapshots into a directory"},
	{"SnapshotDatasetV2", "savedmodel.op-file-write", "writes dataset snapshots into a directory"},
	{"CreateSummaryFileWriter", "savedmodel.op-file-write", "creates event files under a directory named in the graph"},
	{"CreateSummaryDbWriter", "savedmodel.op-file-write", "writes an SQLite database named in the graph"},
	{"DebugIdentity", "savedmodel.op-debug", "streams tensors to debug URLs (file:// or grpc://)"},
	{"DebugIdentityV2", "savedmodel.op-debug", "streams tensors to a dump directory"},
	{"DebugIdentityV3", "savedmodel.op-debug", "streams tensors to debug URLs (file:// or grpc://)"},
	{"DebugNanCount", "savedmodel.op-debug", "streams tensor statistics to debug URLs"},
	{"DebugNumericSummary", "savedmodel.op-debug", "streams tensor statistics to debug URLs"},
	{"DebugNumericSummaryV2", "savedmodel.op-debug", "streams tensor statistics"},
	{"Rpc", "savedmodel.op-network", "issues RPCs to addresses named in the graph"},
	{"TryRpc", "savedmodel.op-network", "issues RPCs to addresses named in the graph"},
	{"RpcCall", "savedmodel.op-network", "issues RPCs"},
	{"RpcClient", "savedmodel.op-network", "connects to an RPC server"},
	{"RpcServer", "savedmodel.op-network", "starts an RPC server in the loading process"},
	{"RpcServerStart", "savedmodel.op-network", "starts an RPC server in the loading process"},
	{"RpcServerRegister", "savedmodel.op-network", "registers functions on an RPC server"},
};

struct sm_ctx {
	const struct bw_fmt_sink *sink;
	uint64_t n_nodes;
	uint64_t n_hits;
	int bad_reported;
};

static void sm_bad(struct sm_ctx *c, const struct bw_reader *r, const char *what)
{
	char m[160];

	if (c->bad_reported++)
		return;
	snprintf(m, sizeof m, "savedmodel: %s could not be read (%s)", what, bw_err_str(r->err));
	c->sink->incomplete(c->sink->user, r->err != BW_OK ? r->err : BW_ERR_MALFORMED,
	                    r->err_off != BW_NO_OFFSET ? r->err_off : bw_rd_off(r), m);
}

const char *bw_savedmodel_op_rule(const uint8_t *op, size_t n, const char **why)
{
	size_t i;

	for (i = 0; i < sizeof sm_ops / sizeof sm_ops[0]; i++) {
		if (strlen(sm_ops[i].op) == n && memcmp(sm_ops[i].op, op, n) == 0) {
			*why = sm_ops[i].why;
			return sm_ops[i].rule;
		}
	}
	*why = NULL;
	return NULL;
}

/* Number of fields in w when all are numbered <= max_field, else -1. Used by detection. */
static int sm_fields_within(const struct bw_reader *w, uint32_t max_field)
{
	struct bw_reader r = *w;
	struct bw_pb_field f;
	int rc, n = 0;

	while ((rc = bw_pb_next(&r, &f)) == 1) {
		if (f.num > max_field)
			return -1;
		n++;
	}
	return rc == 0 ? n : -1;
}

int bw_savedmodel_detect(const uint8_t *data, size_t len)
{
	struct bw_reader r;
	struct bw_pb_field f;
	int rc, n_meta = 0, score = 0;

	if (data == NULL || len < 2 || (data[0] != 0x08 && data[0] != 0x12))
		return 0;
	bw_rd_init(&r, data, len, 0);
	while ((rc = bw_pb_next(&r, &f)) == 1) {
		if (f.num == 1 && f.wire == BW_PB_VARINT)
			continue;
		if (f.num != 2 || f.wire != BW_PB_LEN)
			return 0;
		if (n_meta++ == 0) {
			struct bw_reader m = f.sub;
			struct bw_pb_field mf;
			int has_graph = 0;

			/* MetaGraphDef fields 1..9; graph_def (2) must be a message of GraphDef fields (1..5 today) */
			if (sm_fields_within(&f.sub, 9) <= 0)
				return 0;
			while (bw_pb_next(&m, &mf) == 1)
				if (mf.num == 2 && mf.wire == BW_PB_LEN && sm_fields_within(&mf.sub, 8) >= 0)
					has_graph = 1;
			score = has_graph ? 85 : 40;
		}
	}
	return rc == 0 ? score : 0;
}

/* A string attribute of a NodeDef (attr map entry key == name, AttrValue.s or first of list.s). */
static int sm_attr_str(struct bw_reader node, const char *name, char *out, size_t out_len)
{
	struct bw_pb_field f, ef, af, lf;

	out[0] = '\0';
	while (bw_pb_next(&node, &f) == 1) {
		struct bw_reader e, av;
		int match = 0;

		if (f.num != 5 || f.wire != BW_PB_LEN)
			continue;
		e = f.sub;
		bw_rd_init(&av, NULL, 0, 0);
		while (bw_pb_next(&e, &ef) == 1) {
			if (ef.num == 1 && bw_pb_streq(&ef, name))
				match = 1;
			else if (ef.num == 2 && ef.wire == BW_PB_LEN)
				av = ef.sub;
		}
		if (!match)
			continue;
		while (bw_pb_next(&av, &af) == 1) {
			if (af.num == 2 && af.wire == BW_PB_LEN) {
				bw_pb_str(&af, out, out_len);
				return 1;
			}
			if (af.num == 1 && af.wire == BW_PB_LEN) {
				struct bw_reader l = af.sub;

				while (bw_pb_next(&l, &lf) == 1) {
					if (lf.num == 2 && lf.wire == BW_PB_LEN) {
						bw_pb_str(&lf, out, out_len);
						return 1;
					}
				}
			}
		}
	}
	return 0;
}

static void sm_node(struct sm_ctx *c, struct bw_reader node, const char *where)
{
	struct bw_reader n2 = node;
	struct bw_pb_field f;
	const uint8_t *op = NULL, *name = NULL;
	size_t ol = 0, nl = 0;
	const char *rule, *why;
	char ob[96], nb[128], ab[200], msg[600];
	int rc;

	c->n_nodes++;
	while ((rc = bw_pb_next(&node, &f)) == 1) {
		if (f.num == 1 && f.wire == BW_PB_LEN) {
			name = f.sub.p;
			nl = f.sub.len;
		} else if (f.num == 2 && f.wire == BW_PB_LEN) {
			op = f.sub.p;
			ol = f.sub.len;
		}
	}
	if (rc < 0) {
		sm_bad(c, &node, "a NodeDef");
		return;
	}
	if (op == NULL)
		return;
	bw_fmt_clip(op, ol, ob, sizeof ob);
	bw_fmt_clip(name != NULL ? name : (const uint8_t *)"", name != NULL ? nl : 0, nb, sizeof nb);
	rule = bw_savedmodel_op_rule(op, ol, &why);
	if (rule == NULL && strcmp(ob, "PrintV2") == 0 && sm_attr_str(n2, "output_stream", ab, sizeof ab) &&
	    strncmp(ab, "file://", 7) == 0) {
		rule = "savedmodel.op-file-write";
		why = "prints tensors into a file named in the graph";
	}
	/* proto ops read their FileDescriptorSet from a file unless the source is "local://"
	 * (the default: the process's own descriptor pool) or "bytes://<serialized set>" */
	if (rule == NULL && (strcmp(ob, "DecodeProtoV2") == 0 || strcmp(ob, "EncodeProto") == 0) &&
	    sm_attr_str(n2, "descriptor_source", ab, sizeof ab) && ab[0] != '\0' &&
	    strncmp(ab, "local://", 8) != 0 && strncmp(ab, "bytes://", 8) != 0) {
		rule = "savedmodel.op-file-read";
		why = "reads a protobuf descriptor file named in the graph";
	}
	if (rule == NULL)
		return;
	ab[0] = '\0';
	if (strcmp(rule, "savedmodel.op-python") == 0)
		sm_attr_str(n2, "token", ab, sizeof ab);
	else if (strcmp(rule, "savedmodel.op-debug") == 0)
		sm_attr_str(n2, "debug_urls", ab, sizeof ab);
	else if (strcmp(ob, "PrintV2") == 0)
		sm_attr_str(n2, "output_stream", ab, sizeof ab);
	else if (strcmp(ob, "ImmutableConst") == 0)
		sm_attr_str(n2, "memory_region_name", ab, sizeof ab);
	else if (strcmp(ob, "DecodeProtoV2") == 0 || strcmp(ob, "EncodeProto") == 0)
		sm_attr_str(n2, "descriptor_source", ab, sizeof ab);
	snprintf(msg, sizeof msg, "%s node \"%s\" runs op %s: %s%s%s%s", where, nb, ob, why, ab[0] ? " (" : "", ab,
	         ab[0] ? ")" : "");
	if (c->n_hits++ < 64)
		c->sink->finding(c->sink->user, rule, n2.base, msg);
}

static void sm_graph(struct sm_ctx *c, struct bw_reader g)
{
	struct bw_pb_field f, lf, ff;
	int rc;

	while ((rc = bw_pb_next(&g, &f)) == 1 && c->n_nodes < BW_SM_MAX_NODES) {
		if (f.wire != BW_PB_LEN)
			continue;
		if (f.num == 1) {
			sm_node(c, f.sub, "graph");
		} else if (f.num == 2) {
			struct bw_reader lib = f.sub;

			while (bw_pb_next(&lib, &lf) == 1) {
				struct bw_reader fn;

				if (lf.num != 1 || lf.wire != BW_PB_LEN)
					continue;
				fn = lf.sub;
				while (bw_pb_next(&fn, &ff) == 1)
					if (ff.num == 3 && ff.wire == BW_PB_LEN)
						sm_node(c, ff.sub, "function");
				if (!bw_rd_ok(&fn))
					sm_bad(c, &fn, "a FunctionDef");
			}
			if (!bw_rd_ok(&lib))
				sm_bad(c, &lib, "the function library");
		}
	}
	if (rc < 0)
		sm_bad(c, &g, "a GraphDef");
	if (c->n_nodes >= BW_SM_MAX_NODES)
		c->sink->incomplete(c->sink->user, BW_ERR_LIMIT, g.base, "savedmodel: more nodes than the scan limit");
}

enum bw_err bw_savedmodel_scan(const uint8_t *data, size_t len, const struct bw_fmt_sink *sink)
{
	struct sm_ctx c;
	struct bw_reader r;
	struct bw_pb_field f, mf;
	int rc;

	if (sink->format != NULL)
		sink->format(sink->user, "tf-savedmodel");
	memset(&c, 0, sizeof c);
	c.sink = sink;
	bw_rd_init(&r, data, len, 0);
	while ((rc = bw_pb_next(&r, &f)) == 1) {
		struct bw_reader m;

		if (f.num != 2 || f.wire != BW_PB_LEN)
			continue;
		m = f.sub;
		while (bw_pb_next(&m, &mf) == 1)
			if (mf.num == 2 && mf.wire == BW_PB_LEN)
				sm_graph(&c, mf.sub);
		if (!bw_rd_ok(&m))
			sm_bad(&c, &m, "a MetaGraphDef");
	}
	if (rc < 0)
		sm_bad(&c, &r, "the SavedModel");
	return BW_OK;
}

int bw_keras_metadata_pb_detect(const uint8_t *data, size_t len)
{
	struct bw_reader r;
	struct bw_pb_field f, of;
	int rc, n = 0, keras = 0;

	if (data == NULL || len < 2 || data[0] != 0x0a)
		return 0;
	bw_rd_init(&r, data, len, 0);
	while ((rc = bw_pb_next(&r, &f)) == 1) {
		struct bw_reader o;

		if (f.num != 1 || f.wire != BW_PB_LEN)
			return 0;
		if (n++ > 0)
			continue;
		o = f.sub;
		while (bw_pb_next(&o, &of) == 1)
			if (of.num == 4 && of.wire == BW_PB_LEN && of.sub.len >= 9 &&
			    memcmp(of.sub.p, "_tf_keras", 9) == 0)
				keras = 1;
	}
	return rc == 0 && keras ? 90 : 0;
}

enum bw_err bw_keras_metadata_pb_scan(const uint8_t *data, size_t len, const struct bw_fmt_sink *sink)
{
	struct bw_reader r;
	struct bw_pb_field f, of;
	int rc = 0;
	enum bw_err e = BW_OK;
	uint32_t n = 0;

	if (sink->format != NULL)
		sink->format(sink->user, "tf-keras-metadata");
	bw_rd_init(&r, data, len, 0);
	while (e == BW_OK && (rc = bw_pb_next(&r, &f)) == 1) {
		struct bw_reader o;
		const uint8_t *meta = NULL;
		size_t ml = 0;
		uint64_t moff = 0;
		char path[160] = "", name[200];

		if (f.num != 1 || f.wire != BW_PB_LEN)
			continue;
		o = f.sub;
		while (bw_pb_next(&o, &of) == 1) {
			if (of.num == 3 && of.wire == BW_PB_LEN) {
				bw_pb_str(&of, path, sizeof path);
			} else if (of.num == 5 && of.wire == BW_PB_LEN) {
				meta = of.sub.p;
				ml = of.sub.len;
				moff = of.sub.base;
			}
		}
		if (meta == NULL || ml == 0)
			continue;
		if (sink->lim->max_members != 0 && ++n > sink->lim->max_members) {
			sink->incomplete(sink->user, BW_ERR_LIMIT, f.off, "keras_metadata: more objects than the member limit");
			break;
		}
		snprintf(name, sizeof name, "keras_metadata/%s", path[0] ? path : "root");
		e = sink->member(sink->user, name, meta, ml, moff);
	}
	if (e == BW_OK && rc < 0) {
		char m[120];

		snprintf(m, sizeof m, "keras_metadata: could not be read (%s)", bw_err_str(r.err));
		sink->incomplete(sink->user, r.err, r.err_off, m);
	}
	return e == BW_ERR_NOMEM ? e : BW_OK;
}
