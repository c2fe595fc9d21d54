/* Candidate conditions: evaluation and code validation, plain C (see candidates.h). */
#include "candidates.h"

#include <stdlib.h>
#include <string.h>

const char *const lc_field_names[LC_F_COUNT] = {
    "evt.dir",        "evt.rawres",   "evt.is_open_read", "evt.is_open_write",
    "evt.is_open_exec", "fd.num",     "fd.type",          "fd.typechar",
    "fd.name",        "fd.directory", "fd.filename",      "fd.l4proto",
    "proc.name",      "proc.pname",   "proc.exe",         "proc.exepath",
    "container.id",   "user.uid",     "user.name",        "fd.nameraw",
    "proc.args",      "proc.cmdline", "proc.cwd",         "proc.env",
    "proc.tty",       "proc.sname",   "proc.pcmdline",    "proc.pexe",
    "proc.pexepath",  "proc.is_exe_from_memfd",           "proc.is_exe_upper_layer",
    "proc.aname[2]",  "proc.aname[3]",                    "proc.aname[4]",
    "fd.port",
};

static int str_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    int c = n ? memcmp(a, b, n) : 0;
    if (c != 0)
        return c;
    return (alen > blen) - (alen < blen);
}

static int str_qcmp(const void *x, const void *y)
{
    const struct lc_str *a = x, *b = y;
    return str_cmp(a->s, a->len, b->s, b->len);
}

static int num_qcmp(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return (a > b) - (a < b);
}

void lc_sort_strs(struct lc_str *v, uint32_t n)
{
    if (n > 1)
        qsort(v, n, sizeof *v, str_qcmp);
}

void lc_sort_nums(int64_t *v, uint32_t n)
{
    if (n > 1)
        qsort(v, n, sizeof *v, num_qcmp);
}

static int has_str(const struct lc_str *v, uint32_t n, const char *s, size_t len)
{
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int c = str_cmp(v[mid].s, v[mid].len, s, len);
        if (c == 0)
            return 1;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

static int has_num(const int64_t *v, uint32_t n, int64_t x)
{
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (v[mid] == x)
            return 1;
        if (v[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

static int contains(const char *h, size_t hlen, const char *n, size_t nlen)
{
    if (nlen == 0)
        return 1;
    if (nlen > hlen)
        return 0;
    for (size_t i = 0; i + nlen <= hlen; i++)
        if (h[i] == n[0] && memcmp(h + i, n, nlen) == 0)
            return 1;
    return 0;
}

/* As Python's ``w.lower() in v.lower()`` with ``n`` given lower-case: 1 or 0 when both
 * are ASCII (where lower() is the ASCII fold), -1 (unknown) otherwise. */
static int icontains(const char *h, size_t hlen, const char *n, size_t nlen)
{
    for (size_t i = 0; i < nlen; i++)
        if ((unsigned char)n[i] >= 0x80)
            return -1;
    int found = nlen == 0;
    for (size_t i = 0; i < hlen; i++) {
        if ((unsigned char)h[i] >= 0x80)
            return -1; /* lower() of non-ASCII text is Unicode's: let it be unknown */
        if (!found && i + nlen <= hlen) {
            size_t k = 0;
            while (k < nlen) {
                unsigned char c = (unsigned char)h[i + k];
                if (c >= 'A' && c <= 'Z')
                    c = (unsigned char)(c + ('a' - 'A'));
                if (c != (unsigned char)n[k])
                    break;
                k++;
            }
            found = k == nlen;
        }
    }
    return found;
}

/* As values.pmatch_matcher: the value without trailing '/' (unless it is "/") equals a
 * prefix, or the value starts with the prefix followed by '/' ("/" itself for the root). */
static int pmatch(const struct lc_str *v, uint32_t n, const char *s, size_t len)
{
    size_t tlen = len;
    if (!(len == 1 && s[0] == '/'))
        while (tlen > 0 && s[tlen - 1] == '/')
            tlen--;
    for (uint32_t k = 0; k < n; k++) {
        const struct lc_str *p = &v[k];
        if (p->len == tlen && (tlen == 0 || memcmp(p->s, s, tlen) == 0))
            return 1;
        if (p->len == 1 && p->s[0] == '/') {
            if (len >= 1 && s[0] == '/')
                return 1;
        } else if (len > p->len && (p->len == 0 || memcmp(p->s, s, p->len) == 0) &&
                   s[p->len] == '/') {
            return 1;
        }
    }
    return 0;
}

static int str_op(const struct lc_atom *a, const char *s, size_t len)
{
    const struct lc_str *v = a->strs;
    switch (a->op) {
    case LC_OP_IN:
        return has_str(v, a->n, s, len);
    case LC_OP_PREFIX:
        for (uint32_t k = 0; k < a->n; k++)
            if (v[k].len <= len && (v[k].len == 0 || memcmp(s, v[k].s, v[k].len) == 0))
                return 1;
        return 0;
    case LC_OP_SUFFIX:
        for (uint32_t k = 0; k < a->n; k++)
            if (v[k].len <= len &&
                (v[k].len == 0 || memcmp(s + len - v[k].len, v[k].s, v[k].len) == 0))
                return 1;
        return 0;
    case LC_OP_CONTAINS:
        for (uint32_t k = 0; k < a->n; k++)
            if (contains(s, len, v[k].s, v[k].len))
                return 1;
        return 0;
    case LC_OP_PMATCH:
        return pmatch(v, a->n, s, len);
    case LC_OP_ICONTAINS: {
        int unknown = 0;
        for (uint32_t k = 0; k < a->n; k++) {
            int r = icontains(s, len, v[k].s, v[k].len);
            if (r == 1)
                return 1;
            unknown |= r < 0;
        }
        return unknown ? -1 : 0;
    }
    default:
        return -1;
    }
}

static int num_op(const struct lc_atom *a, int64_t x)
{
    if (a->op == LC_OP_IN)
        return has_num(a->nums, a->n, x);
    if (a->n == 0)
        return -1;
    int64_t c = a->nums[0];
    switch (a->op) {
    case LC_OP_LT:
        return x < c;
    case LC_OP_LE:
        return x <= c;
    case LC_OP_GT:
        return x > c;
    case LC_OP_GE:
        return x >= c;
    default:
        return -1;
    }
}

/* The check of an atom on one plain value, not negated: 1, 0, or -1 when unknown. */
static int check_one(const struct lc_atom *a, const struct lc_value *v)
{
    if (v->is_int != a->ints) {
        /* a value of another type: never equal; any other comparison would raise in the
         * rules (and the rule not match), so it is unknown */
        return a->op == LC_OP_IN ? 0 : -1;
    }
    return a->ints ? num_op(a, v->i) : str_op(a, v->s, v->len);
}

int lc_atom_holds(const struct lc_atom *a, const struct lc_value *v)
{
    if (v == NULL)
        return a->missing;
    if (a->op == LC_OP_EXISTS)
        return !a->negate;
    int r = check_one(a, v);
    if (r < 0)
        return 1; /* an operator this value type lacks: keep the event */
    return r != a->negate;
}

/* An atom on a field with several values: its check holds for any of them (inverted when
 * negated); unknown (1: keep the event) when any check is. */
static int atom_holds_any(const struct lc_atom *a, const struct lc_value *v)
{
    if (a->op == LC_OP_EXISTS)
        return 1; /* not derived for such fields */
    int any = 0;
    for (uint32_t k = 0; k < v->nitems; k++) {
        int r = check_one(a, &v->items[k]);
        if (r < 0)
            return 1;
        any |= r;
    }
    return any != a->negate;
}

struct lc_block {
    struct lc_block *next;
    struct lc_value items[]; /* as many as asked for (at least one) */
};

void lc_store_free(struct lc_store *st)
{
    while (st->head != NULL) {
        struct lc_block *b = st->head;
        st->head = b->next;
        free(b);
    }
}

int lc_several(struct lc_store *st, size_t n, lc_item_fn item, void *ctx, struct lc_value *out)
{
    if (n > LC_MAX_SEVERAL)
        return 2;
    struct lc_block *b = malloc(sizeof *b + (n ? n : 1) * sizeof b->items[0]);
    if (b == NULL)
        return -1;
    b->next = st->head; /* freed with the store, whatever happens next */
    st->head = b;
    for (size_t k = 0; k < n; k++) {
        memset(&b->items[k], 0, sizeof b->items[k]);
        int r = item(ctx, k, &b->items[k]);
        if (r != 1)
            return r == 0 ? 0 : 2;
    }
    memset(out, 0, sizeof *out);
    out->items = b->items;
    out->nitems = (uint32_t)n;
    return LC_SEVERAL;
}

static int atom_eval(const struct lc_atom *a, lc_getter get, void *ctx)
{
    struct lc_value v;
    int got = get(ctx, a->field, &v);
    if (got == 0)
        return lc_atom_holds(a, NULL);
    if (got == LC_SEVERAL)
        return atom_holds_any(a, &v);
    if (got != 1)
        return 1; /* the value is unknown: keep the event */
    return lc_atom_holds(a, &v);
}

static uint32_t node_len(const uint32_t *c, uint32_t pc)
{
    switch (c[pc]) {
    case LC_C_ATOM:
        return 2;
    case LC_C_AND:
    case LC_C_OR:
        return c[pc + 2];
    default:
        return 1;
    }
}

/* An atom's result on the event being evaluated, computed at most once: the rules share
 * many atoms (the open tests, the fd type, common name lists), which the formula of an
 * event type repeats once per rule. memo: per atom 0 not yet, 1 false, 2 true (NULL: no
 * memo). */
static int eval_node(const struct lc_program *p, const uint32_t *c, uint32_t pc, lc_getter get,
                     void *ctx, uint8_t *memo)
{
    switch (c[pc]) {
    case LC_C_TRUE:
        return 1;
    case LC_C_FALSE:
        return 0;
    case LC_C_ATOM: {
        uint32_t i = c[pc + 1];
        if (memo == NULL)
            return atom_eval(&p->atoms[i], get, ctx);
        if (!memo[i])
            memo[i] = (uint8_t)(1 + (atom_eval(&p->atoms[i], get, ctx) != 0));
        return memo[i] - 1;
    }
    default: {
        int is_and = c[pc] == LC_C_AND;
        uint32_t n = c[pc + 1], q = pc + 3;
        for (uint32_t k = 0; k < n; k++) {
            int r = eval_node(p, c, q, get, ctx, memo);
            if (is_and && !r)
                return 0;
            if (!is_and && r)
                return 1;
            q += node_len(c, q);
        }
        return is_and;
    }
    }
}

/* the most atoms a program may have for lc_eval to memoize their results (on its stack) */
#define LC_MEMO_MAX 4096

int lc_eval(const struct lc_program *p, uint32_t key, lc_getter get, void *ctx)
{
    if (key >= p->nkeys || p->code[key] == NULL)
        return 0;
    uint8_t memo[LC_MEMO_MAX];
    uint8_t *m = NULL;
    if (p->natoms <= LC_MEMO_MAX) {
        memset(memo, 0, p->natoms);
        m = memo;
    }
    return eval_node(p, p->code[key], 0, get, ctx, m);
}

/* Check the node at pc, within [pc, end); sets *len to its length. */
static int check_node(const uint32_t *c, uint32_t pc, uint32_t end, uint32_t natoms, int depth,
                      uint32_t *len, const char **why)
{
    if (depth > LC_MAX_DEPTH) {
        *why = "formula nested too deep";
        return -1;
    }
    if (pc >= end) {
        *why = "code ends inside a node";
        return -1;
    }
    switch (c[pc]) {
    case LC_C_TRUE:
    case LC_C_FALSE:
        *len = 1;
        return 0;
    case LC_C_ATOM:
        if (end - pc < 2) {
            *why = "code ends inside an atom";
            return -1;
        }
        if (c[pc + 1] >= natoms) {
            *why = "atom index out of range";
            return -1;
        }
        *len = 2;
        return 0;
    case LC_C_AND:
    case LC_C_OR: {
        if (end - pc < 3) {
            *why = "code ends inside an and/or header";
            return -1;
        }
        uint32_t n = c[pc + 1], total = c[pc + 2];
        if (total < 3 || total > end - pc) {
            *why = "and/or length out of range";
            return -1;
        }
        uint32_t q = pc + 3, stop = pc + total;
        for (uint32_t k = 0; k < n; k++) {
            uint32_t sub;
            if (check_node(c, q, stop, natoms, depth + 1, &sub, why) < 0)
                return -1;
            q += sub;
        }
        if (q != stop) {
            *why = "and/or length does not match its children";
            return -1;
        }
        *len = total;
        return 0;
    }
    default:
        *why = "unknown code word";
        return -1;
    }
}

int lc_check_code(const uint32_t *code, uint32_t len, uint32_t natoms, const char **why)
{
    uint32_t used;
    if (check_node(code, 0, len, natoms, 0, &used, why) < 0)
        return -1;
    if (used != len) {
        *why = "words after the formula";
        return -1;
    }
    return 0;
}
