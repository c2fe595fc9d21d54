/*
 * Candidate conditions, plain C (no Python API): the necessary conditions the engine
 * derives from the active rules (lanner/engine/candidates.py), evaluated per event
 * before the event is built for the rules. An event whose condition is false cannot
 * match any rule and is dropped; the per-event core supplies the field values.
 *
 * A program holds atoms and, per key (an event type id, see candidate_fields.py), one
 * formula in prefix code of 32-bit words:
 *   LC_C_TRUE | LC_C_FALSE              one word
 *   LC_C_ATOM, atom index               two words
 *   LC_C_AND | LC_C_OR, n, len, ...     n children follow; len counts every word of the
 *                                       node, its three header words included
 * lc_check_code() validates a code array once, at load, so lc_eval() never reads out of
 * bounds and never recurses deeper than LC_MAX_DEPTH.
 *
 * An atom is "field op values", negated when ``negate``; on an event without a value for
 * the field it is ``missing``. Values are integers (numbers, booleans as 0/1) or byte
 * strings; an IN atom's values are sorted (lc_sort_strs, lc_sort_nums) for a binary search.
 */
#ifndef LANNER_NATIVE_CANDIDATES_H
#define LANNER_NATIVE_CANDIDATES_H

#include <stddef.h>
#include <stdint.h>

/* The fields the per-event core supplies, by id (names: lc_field_names, the same order as
 * CANDIDATE_FIELDS in candidate_fields.py; a test checks they agree). Those that
 * candidate_events.c does not read itself are read through the field's Python getter. */
enum lc_field {
    LC_F_EVT_DIR,
    LC_F_EVT_RAWRES,
    LC_F_EVT_IS_OPEN_READ,
    LC_F_EVT_IS_OPEN_WRITE,
    LC_F_EVT_IS_OPEN_EXEC,
    LC_F_FD_NUM,
    LC_F_FD_TYPE,
    LC_F_FD_TYPECHAR,
    LC_F_FD_NAME,
    LC_F_FD_DIRECTORY,
    LC_F_FD_FILENAME,
    LC_F_FD_L4PROTO,
    LC_F_PROC_NAME,
    LC_F_PROC_PNAME,
    LC_F_PROC_EXE,
    LC_F_PROC_EXEPATH,
    LC_F_CONTAINER_ID,
    LC_F_USER_UID,
    LC_F_USER_NAME,
    LC_F_FD_NAMERAW,
    LC_F_PROC_ARGS,
    LC_F_PROC_CMDLINE,
    LC_F_PROC_CWD,
    LC_F_PROC_ENV,
    LC_F_PROC_TTY,
    LC_F_PROC_SNAME,
    LC_F_PROC_PCMDLINE,
    LC_F_PROC_PEXE,
    LC_F_PROC_PEXEPATH,
    LC_F_PROC_IS_EXE_FROM_MEMFD,
    LC_F_PROC_IS_EXE_UPPER_LAYER,
    LC_F_PROC_ANAME_2,
    LC_F_PROC_ANAME_3,
    LC_F_PROC_ANAME_4,
    LC_F_FD_PORT,
    LC_F_COUNT
};
extern const char *const lc_field_names[LC_F_COUNT];

/* Atom operators, in the order of OPS in lanner/engine/candidates.py. */
enum lc_op {
    LC_OP_IN,       /* equal to one of the values */
    LC_OP_PREFIX,   /* starts with one of the strings */
    LC_OP_SUFFIX,   /* ends with one of the strings */
    LC_OP_CONTAINS, /* contains one of the strings */
    LC_OP_PMATCH,   /* path prefix: values are trimmed paths (no trailing '/' except "/") */
    LC_OP_LT,       /* integer order against values[0] */
    LC_OP_LE,
    LC_OP_GT,
    LC_OP_GE,
    LC_OP_EXISTS,   /* the field has a value */
    LC_OP_ICONTAINS, /* contains one of the strings (given lower-case), ignoring ASCII case;
                      * unknown (the event is kept) when either side is not ASCII */
    LC_OP_COUNT
};

enum lc_code { LC_C_TRUE, LC_C_FALSE, LC_C_ATOM, LC_C_AND, LC_C_OR };

#define LC_MAX_DEPTH 64

struct lc_str {
    const char *s;
    size_t len;
};

/* A field value as the per-event core supplies it. */
struct lc_value {
    int is_int;
    int64_t i;     /* is_int */
    const char *s; /* !is_int: bytes, not NUL-terminated */
    size_t len;
    const struct lc_value *items; /* LC_SEVERAL: the values (each plain) */
    uint32_t nitems;
};

/* A getter's answer for a field with several values (fd.port: both ends' ports): an atom
 * holds when its check holds for any of them, inverted when negated, as the rules'
 * "any of" fields. */
#define LC_SEVERAL 3
#define LC_MAX_SEVERAL 64 /* more values than this: unknown */

/* Storage for the items of several-valued fields, alive for one evaluation: zero it before,
 * lc_store_free() it after (the items handed out go with it). */
struct lc_block;
struct lc_store {
    struct lc_block *head;
};
void lc_store_free(struct lc_store *st);

/* Converts item k of a field's values into *out (zeroed): 1 done, 2 the item cannot be
 * known (a nested tuple, None...), 0 the caller failed (its error is noted in ctx). */
typedef int (*lc_item_fn)(void *ctx, size_t k, struct lc_value *out);

/* A getter's answer for a field with n values: LC_SEVERAL with out->items, taken from st
 * and filled by item(ctx, k, ...) in order; 2 (unknown) when n > LC_MAX_SEVERAL or an item
 * is unknown; 0 when an item failed; -1 when out of memory (nothing noted: the caller's). */
int lc_several(struct lc_store *st, size_t n, lc_item_fn item, void *ctx, struct lc_value *out);

/* Fill *out with field ``field`` of the event behind ctx and return 1 (or LC_SEVERAL);
 * return 0 when the event has no value for it, 2 when the value cannot be known (the atom
 * then holds: the event is kept). */
typedef int (*lc_getter)(void *ctx, uint32_t field, struct lc_value *out);

struct lc_atom {
    uint32_t field;
    uint8_t op;      /* enum lc_op */
    uint8_t negate;
    uint8_t missing; /* the atom's value when the event has no value for the field */
    uint8_t ints;    /* values are nums (else strs) */
    uint32_t n;
    const struct lc_str *strs;
    const int64_t *nums;
};

struct lc_program {
    uint32_t natoms;
    const struct lc_atom *atoms;
    uint32_t nkeys;
    const uint32_t *const *code; /* per key, NULL: no rule can match (drop) */
    const uint32_t *code_len;
};

/* 1: the event may match some rule, 0: drop it. A key without code: 0. */
int lc_eval(const struct lc_program *p, uint32_t key, lc_getter get, void *ctx);

/* One atom on one value (NULL: the event has none). */
int lc_atom_holds(const struct lc_atom *a, const struct lc_value *v);

/* Sort an IN atom's values, in the order lc_atom_holds searches them. */
void lc_sort_strs(struct lc_str *v, uint32_t n);
void lc_sort_nums(int64_t *v, uint32_t n);

/* 0 when code[0..len) is one well-formed node (indices below natoms, depth at most
 * LC_MAX_DEPTH), else -1 with a reason in *why. */
int lc_check_code(const uint32_t *code, uint32_t len, uint32_t natoms, const char **why);

#endif
