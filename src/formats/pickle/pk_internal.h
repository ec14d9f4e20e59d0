/*
 * formats/pickle/pk_internal.h - internals of the symbolic pickle machine
 * shared by its files: the opcode table (pk_ops.c), the Python 2 name
 * mapping (pk_compat.c) and the symbolic values with their printable repr
 * (pk_value.c). Not part of any public API.
 */
#ifndef BW_FORMATS_PICKLE_PK_INTERNAL_H
#define BW_FORMATS_PICKLE_PK_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"

/* Argument encodings of Lib/pickletools.py (ArgumentDescriptor names). */
enum pk_argtype {
	PK_A_NONE = 0,
	PK_A_UINT1, PK_A_UINT2, PK_A_INT4, PK_A_UINT4, PK_A_UINT8,
	PK_A_DECIMALNL_SHORT, PK_A_DECIMALNL_LONG, PK_A_FLOATNL, PK_A_FLOAT8,
	PK_A_LONG1, PK_A_LONG4,
	PK_A_STRINGNL, PK_A_STRINGNL_NOESCAPE, PK_A_STRINGNL_NOESCAPE_PAIR,
	PK_A_STRING1, PK_A_STRING4,
	PK_A_BYTES1, PK_A_BYTES4, PK_A_BYTES8, PK_A_BYTEARRAY8,
	PK_A_UNICODESTRINGNL, PK_A_UNICODESTRING1, PK_A_UNICODESTRING4, PK_A_UNICODESTRING8
};

/* Opcode bytes (Lib/pickle.py names). */
enum pk_opcode {
	OP_MARK = '(', OP_STOP = '.', OP_POP = '0', OP_POP_MARK = '1', OP_DUP = '2',
	OP_FLOAT = 'F', OP_INT = 'I', OP_BININT = 'J', OP_BININT1 = 'K', OP_LONG = 'L',
	OP_BININT2 = 'M', OP_NONE = 'N', OP_PERSID = 'P', OP_BINPERSID = 'Q', OP_REDUCE = 'R',
	OP_STRING = 'S', OP_BINSTRING = 'T', OP_SHORT_BINSTRING = 'U', OP_UNICODE = 'V',
	OP_BINUNICODE = 'X', OP_APPEND = 'a', OP_BUILD = 'b', OP_GLOBAL = 'c', OP_DICT = 'd',
	OP_EMPTY_DICT = '}', OP_APPENDS = 'e', OP_GET = 'g', OP_BINGET = 'h', OP_INST = 'i',
	OP_LONG_BINGET = 'j', OP_LIST = 'l', OP_EMPTY_LIST = ']', OP_OBJ = 'o', OP_PUT = 'p',
	OP_BINPUT = 'q', OP_LONG_BINPUT = 'r', OP_SETITEM = 's', OP_TUPLE = 't',
	OP_EMPTY_TUPLE = ')', OP_SETITEMS = 'u', OP_BINFLOAT = 'G',
	OP_PROTO = 0x80, OP_NEWOBJ = 0x81, OP_EXT1 = 0x82, OP_EXT2 = 0x83, OP_EXT4 = 0x84,
	OP_TUPLE1 = 0x85, OP_TUPLE2 = 0x86, OP_TUPLE3 = 0x87, OP_NEWTRUE = 0x88,
	OP_NEWFALSE = 0x89, OP_LONG1 = 0x8a, OP_LONG4 = 0x8b,
	OP_BINBYTES = 'B', OP_SHORT_BINBYTES = 'C',
	OP_SHORT_BINUNICODE = 0x8c, OP_BINUNICODE8 = 0x8d, OP_BINBYTES8 = 0x8e,
	OP_EMPTY_SET = 0x8f, OP_ADDITEMS = 0x90, OP_FROZENSET = 0x91, OP_NEWOBJ_EX = 0x92,
	OP_STACK_GLOBAL = 0x93, OP_MEMOIZE = 0x94, OP_FRAME = 0x95,
	OP_BYTEARRAY8 = 0x96, OP_NEXT_BUFFER = 0x97, OP_READONLY_BUFFER = 0x98
};

struct pk_opinfo {
	const char *name;      /* NULL: not an opcode */
	enum pk_argtype arg;
	uint8_t proto;
};

/* Table indexed by opcode byte (256 entries; name NULL: not an opcode). */
extern const struct pk_opinfo pk_ops[256];

/* The opcode's entry, NULL when code is not an opcode. */
static inline const struct pk_opinfo *pk_op(uint8_t code)
{
	return pk_ops[code].name != NULL ? &pk_ops[code] : NULL;
}

/*
 * Python 2 -> 3 mapping (_compat_pickle NAME_MAPPING first, then
 * IMPORT_MAPPING for the module). Returns 1 and sets *out_* when mapped,
 * else 0 with *out_* = inputs. Outputs point to static strings or inputs.
 */
int pk_compat_map(const char *mod, const char *name, const char **out_mod, const char **out_name);

/* ---- symbolic values ---- */

enum pk_kind {
	PK_UNKNOWN = 0, /* not statically known (persistent ids, out-of-band buffers, ...) */
	PK_NONE, PK_BOOL, PK_INT, PK_FLOAT,
	PK_STR,         /* text (UTF-8 bytes in s/n) */
	PK_BYTES, PK_BYTEARRAY,
	PK_TUPLE, PK_LIST, PK_DICT, PK_SET, PK_FROZENSET,
	PK_GLOBAL,      /* an imported object: module.name (name NULL: the module itself) */
	PK_CALL,        /* result of calling callee with args */
	PK_ATTRGETTER,  /* operator.attrgetter(attr) result */
	PK_METHODCALLER /* operator.methodcaller(name, *args) result */
};

/*
 * A reference to a symbolic value, one machine word: what the stack, the memo
 * and container items hold. Scalars and immutable small values are encoded in
 * the word itself (no allocation, no page touched per opcode); everything else
 * points to a struct pk_val. The low 3 bits are the tag:
 *   PK_T_PTR   struct pk_val * (8-aligned; 0 is "no value")
 *   PK_T_INT   PK_INT, signed value in bits 3..63 (|v| < 2^60)
 *   PK_T_CONST None (0), False (1), True (2) in bits 3..
 *   PK_T_VIEW  PK_STR/PK_BYTES/PK_BYTEARRAY: kind in bits 3-4, length (< 4096) in
 *              bits 5..16, address of the bytes (< 2^47: the input or the arena)
 *              in bits 17..63
 *   PK_T_F8    PK_FLOAT: address of its 8 big-endian bytes (BINFLOAT operand)
 *   PK_T_TUPLE PK_TUPLE: address of a struct pk_tup (tuples are immutable)
 *   PK_T_LAZY  PK_TUPLE of 1-3 scalars that were pushed by consecutive run
 *              opcodes (pk_run_op) of the input: count in bits 3-4, address
 *              of the first of those opcodes in bits 5..63. Its items are
 *              decoded again from the input when read (pk_lazy_items): no
 *              memory per tuple for the millions of small tuples of a
 *              dataset pickle.
 * Values that do not fit (long strings, big ints, text floats, ...) are heap
 * nodes; all encodings read the same through pk_ref_val().
 */
typedef uint64_t pk_ref;

enum pk_tag {
	PK_T_PTR = 0, PK_T_INT = 1, PK_T_CONST = 2, PK_T_VIEW = 3, PK_T_F8 = 4, PK_T_TUPLE = 5,
	PK_T_LAZY = 6
};

#define PK_REF_NONE ((pk_ref)PK_T_CONST)
#define PK_REF_BOOL(b) ((pk_ref)(((uint64_t)1 + ((b) != 0)) << 3 | PK_T_CONST))
#define PK_VIEW_MAXLEN 4096u
#define PK_INT_INLINE_MAX ((int64_t)1 << 59)

/* An immutable tuple: its items follow the count (one allocation). */
struct pk_tup {
	size_t n;
	pk_ref items[];
};

/*
 * One symbolic value (56 bytes). The union member in use is given by kind;
 * args/cls/state are shared by the call-like kinds.
 */
struct pk_val {
	enum pk_kind kind;
	int big;                         /* PK_INT: value did not fit; text holds decimal */
	union {
		struct {
			int64_t i;               /* PK_INT / PK_BOOL */
			const char *text;        /* PK_INT big: decimal text */
		};
		double f;                        /* PK_FLOAT */
		struct {
			const uint8_t *s;        /* PK_STR / PK_BYTES / PK_BYTEARRAY; ATTRGETTER/METHODCALLER name */
			size_t n;
		};
		struct {
			const char *module;      /* PK_GLOBAL */
			const char *name;        /* NULL: the module object itself */
		};
		struct {
			pk_ref *items;           /* containers (dict: key, value pairs) */
			size_t n_items, cap_items;
		};
		struct {
			struct pk_val *callee;   /* PK_CALL */
			const char *how;         /* opcode that made it */
		};
	};
	struct pk_val *args;     /* PK_CALL (tuple), PK_METHODCALLER bound args */
	struct pk_val *cls;      /* instance made by NEWOBJ/OBJ/INST: its class */
	struct pk_val *state;    /* last BUILD state applied */
};

static inline enum pk_tag pk_ref_tag(pk_ref x)
{
	return (enum pk_tag)(x & 7u);
}

/* The heap node of x, or NULL when x is encoded inline (or is no value). */
static inline struct pk_val *pk_ref_ptr(pk_ref x)
{
	return pk_ref_tag(x) == PK_T_PTR ? (struct pk_val *)(uintptr_t)x : NULL;
}

static inline pk_ref pk_ref_of(const struct pk_val *v)
{
	return (pk_ref)(uintptr_t)v;
}

/* Room to decode an inline value into (a lazy tuple's items go to items[]). */
struct pk_tmp {
	struct pk_val v;
	pk_ref items[3];
};

/*
 * The value x refers to: its heap node, or tmp filled with the decoded inline
 * value (a read-only view into tmp: it must outlive the use and is never
 * copied into a node). NULL for no value.
 */
const struct pk_val *pk_ref_val(pk_ref x, struct pk_tmp *tmp);

/* 1 when the n bytes at s are ASCII; reads only those bytes, a word or two at a time. */
static inline int pk_ascii(const uint8_t *s, size_t n)
{
	uint64_t acc = 0, w;
	uint32_t a, b;
	size_t i;

	if (n >= 8) {
		for (i = 0; i + 8 <= n; i += 8) {
			__builtin_memcpy(&w, s + i, 8);
			acc |= w;
		}
		__builtin_memcpy(&w, s + n - 8, 8); /* the tail, overlapping */
		return ((acc | w) & 0x8080808080808080ull) == 0;
	}
	if (n >= 4) {
		__builtin_memcpy(&a, s, 4);
		__builtin_memcpy(&b, s + n - 4, 4);
		return ((a | b) & 0x80808080u) == 0;
	}
	for (i = 0; i < n; i++)
		acc |= s[i];
	return (acc & 0x80u) == 0;
}

/*
 * The run opcodes: scalars that an opcode's own bytes fully determine
 * (BININT1/2/4, BINFLOAT, NONE, NEWTRUE, NEWFALSE, and SHORT_BINUNICODE,
 * SHORT_BINBYTES, BINUNICODE of plain ASCII under PK_VIEW_MAXLEN bytes,
 * kept as views of the input). For the opcode at p with left bytes up to
 * the end of what may be read: the value it pushes, with *adv its length,
 * or 0 when its operand is longer than left or max_string (or, for text,
 * not plain ASCII or too long for a view). One function per opcode: the
 * fast path of the machine calls them from its own switch, pk_run_op (and
 * so pk_lazy_items) through this one, so a lazy tuple reads back exactly
 * what was pushed.
 */
static inline pk_ref pk_run_binint1(const uint8_t *p, size_t left, size_t *adv)
{
	if (left < 2)
		return 0;
	*adv = 2;
	return ((uint64_t)p[1] << 3) | PK_T_INT;
}

static inline pk_ref pk_run_binint2(const uint8_t *p, size_t left, size_t *adv)
{
	if (left < 3)
		return 0;
	*adv = 3;
	return (((uint64_t)p[1] | ((uint64_t)p[2] << 8)) << 3) | PK_T_INT;
}

static inline pk_ref pk_run_binint(const uint8_t *p, size_t left, size_t *adv)
{
	if (left < 5)
		return 0;
	*adv = 5;
	return ((uint64_t)(int64_t)(int32_t)((uint32_t)p[1] | ((uint32_t)p[2] << 8) | ((uint32_t)p[3] << 16) |
	                                     ((uint32_t)p[4] << 24))
	        << 3) | PK_T_INT;
}

/* BINFLOAT: a view of its 8 operand bytes */
static inline pk_ref pk_run_binfloat(const uint8_t *p, size_t left, size_t *adv)
{
	if (left < 9)
		return 0;
	*adv = 9;
	return ((uint64_t)(uintptr_t)(p + 1) << 3) | PK_T_F8;
}

/* NONE, NEWTRUE, NEWFALSE */
static inline pk_ref pk_run_const(const uint8_t *p, size_t *adv)
{
	*adv = 1;
	return p[0] == 'N' ? PK_REF_NONE : PK_REF_BOOL(p[0] == 0x88);
}

/* The n operand bytes after an h-byte head, as a str (text: plain ASCII only) or bytes view. */
static inline pk_ref pk_run_view(const uint8_t *p, size_t h, uint64_t n, size_t left, uint64_t max_string,
                                 int bytes, size_t *adv)
{
	/* a view needs the address under 2^47 (see PK_T_VIEW) */
	if (n > left - h || n > max_string || ((uint64_t)(uintptr_t)(p + h) >> 47) != 0)
		return 0;
	/* str: plain ASCII only (valid UTF-8 without a check per byte); else the general path */
	if (!bytes && !pk_ascii(p + h, (size_t)n))
		return 0;
	*adv = h + (size_t)n;
	return ((uint64_t)(uintptr_t)(p + h) << 17) | (n << 5) | ((uint64_t)(bytes != 0) << 3) | PK_T_VIEW;
}

/* SHORT_BINUNICODE (bytes 0) and SHORT_BINBYTES (bytes 1) */
static inline pk_ref pk_run_short(const uint8_t *p, size_t left, uint64_t max_string, int bytes, size_t *adv)
{
	if (left < 2)
		return 0;
	return pk_run_view(p, 2, p[1], left, max_string, bytes, adv);
}

static inline pk_ref pk_run_binunicode(const uint8_t *p, size_t left, uint64_t max_string, size_t *adv)
{
	uint64_t n;

	if (left < 5)
		return 0;
	n = (uint64_t)p[1] | ((uint64_t)p[2] << 8) | ((uint64_t)p[3] << 16) | ((uint64_t)p[4] << 24);
	if (n >= PK_VIEW_MAXLEN)
		return 0;
	return pk_run_view(p, 5, n, left, max_string, 0, adv);
}

/* Any run opcode at p (see above); 0 for every other opcode. */
static inline pk_ref pk_run_op(const uint8_t *p, size_t left, uint64_t max_string, size_t *adv)
{
	switch (p[0]) {
	case 'K': return pk_run_binint1(p, left, adv);
	case 'M': return pk_run_binint2(p, left, adv);
	case 'J': return pk_run_binint(p, left, adv);
	case 'G': return pk_run_binfloat(p, left, adv);
	case 'N':
	case 0x88: /* NEWTRUE */
	case 0x89: /* NEWFALSE */
		return pk_run_const(p, adv);
	case 0x8c: return pk_run_short(p, left, max_string, 0, adv); /* SHORT_BINUNICODE */
	case 'C': return pk_run_short(p, left, max_string, 1, adv);  /* SHORT_BINBYTES */
	case 'X': return pk_run_binunicode(p, left, max_string, adv);
	default: return 0;
	}
}

/*
 * The class fast_run gives opcode code when the stream declared protocol
 * proto (255: any): 0 when the general path decodes it. An opcode newer than
 * proto always has class 0. For test_pickle.
 */
int pk_fast_class(unsigned proto, uint8_t code);

/* Length of a memo store that a lazy tuple's opcodes may hold (MEMOIZE, BINPUT, LONG_BINPUT), else 0. */
static inline size_t pk_run_store(uint8_t code)
{
	return code == 0x94 ? 1 : code == 'q' ? 2 : code == 'r' ? 5 : 0;
}

/* Most opcodes (items and memo stores) a lazy tuple is decoded from: bounded work per read. */
#define PK_LAZY_OPS 8u

/* The items of a PK_T_LAZY tuple into out (at most 3); returns their count. */
size_t pk_lazy_items(pk_ref x, pk_ref out[3]);

/* Kind of the value x refers to (PK_UNKNOWN for no value). */
enum pk_kind pk_ref_kind(pk_ref x);

/* A new value of kind k in a (NULL on budget). */
struct pk_val *pk_val_new(struct bw_arena *a, enum pk_kind k);
/*
 * Items a list, dict, set or frozenset keeps (a dict: 512 pairs). Nothing in
 * the machine reads further: no opcode takes an item out of a container (a
 * value stays reachable through the stack or the memo, which are complete),
 * and the readers of items stop earlier (repr at PK_REPR_CAP characters, a
 * constant check at 256 nodes, dict_get at 128, dtype fields at 1024, call
 * arguments at 64). Tuples keep every item (a joblib shape is read whole).
 * Bounded memory and work for pickles holding millions of objects in one list.
 */
#define PK_KEEP_ITEMS 1024u

/* Append k values to container c (grows in a; items past PK_KEEP_ITEMS are dropped). 0 ok, -1 on budget. */
int pk_val_extend(struct bw_arena *a, struct pk_val *c, const pk_ref *v, size_t k);
/* Append v to container c (grows in a). 0 ok, -1 on budget. */
int pk_val_push(struct bw_arena *a, struct pk_val *c, pk_ref v);
/*
 * 1 when v is a constant (no unknown, no call result) up to depth 16; values
 * with more than 256 nodes count as not constant (bounded work).
 */
int pk_val_is_const(const struct pk_val *v);
/* A bounded text output: writes past cap are dropped and set full. */
struct pk_out {
	char *p;     /* cap + 4 bytes (room for "..." and NUL) */
	size_t len;
	size_t cap;
	int full;
};
void pk_out_init(struct pk_out *o, char *p, size_t cap);
void pk_out_put(struct pk_out *o, const char *s, size_t n);
void pk_out_str(struct pk_out *o, const char *s);
/* NUL-terminate, appending "..." when output was dropped; returns o->p. */
const char *pk_out_end(struct pk_out *o);

/*
 * Python-like repr of v (nesting depth capped at 16: deeper parts print as
 * "..."; output capped by o->cap). Never recurses deeper than 16.
 */
void pk_val_repr(struct pk_out *o, const struct pk_val *v);
/* Dotted description of a callable value ("os.system", "builtins.getattr(...)"). */
void pk_val_describe(struct pk_out *o, const struct pk_val *v);

/*
 * Length of the valid UTF-8 sequence at p (1..4), 0 if invalid. With
 * surrogatepass, encoded surrogates (U+D800..U+DFFF) are accepted as CPython's
 * "surrogatepass" error handler does.
 */
size_t pk_utf8_seq(const uint8_t *p, size_t n, int surrogatepass);
/* 1 when all of p is valid UTF-8 (see pk_utf8_seq). */
int pk_utf8_valid(const uint8_t *p, size_t n, int surrogatepass);

#endif
