/*
 * Sanitizer driver for native/candidates.c (test_syscall_candidates_asan.py).
 *
 * Built with -fsanitize=address,undefined together with candidates.c. Each file named on
 * the command line holds one program and value sets (little-endian, written by the test):
 *
 *   u32 natoms; per atom: u32 field, u8 op, u8 negate, u8 missing, u8 ints, u32 n, then
 *     n values (ints: i64; strings: u32 len + bytes)
 *   u32 ncodes; per code: u32 len, len u32 words
 *   u32 nsets; per set: u32 nvalues; per value: u32 field, u8 kind (1 int, 2 string,
 *     0 unknown, 3 several), then i64, u32 len + bytes, nothing, or u32 count + count
 *     items of kind 1 or 2 (fields not listed have no value); several items are handed
 *     to lc_several, as the Python binding does (more than LC_MAX_SEVERAL: unknown)
 *
 * Every string, atom value and code array gets an allocation of exactly its size, so a read
 * past one is reported. Each code is validated with lc_check_code; valid ones are
 * evaluated on every set and print "code SET RESULT", invalid ones "code invalid".
 * A malformed file is reported on stderr with exit status 2.
 *
 * "--selftest-overread" reads one byte past a string on purpose (the test checks it is
 * reported).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "candidates.h"

struct reader {
    const unsigned char *p;
    size_t n, pos;
    int bad;
};

static const unsigned char *take(struct reader *r, size_t len)
{
    if (r->bad || len > r->n - r->pos) {
        r->bad = 1;
        return NULL;
    }
    const unsigned char *out = r->p + r->pos;
    r->pos += len;
    return out;
}

static uint32_t u32(struct reader *r)
{
    const unsigned char *b = take(r, 4);
    uint32_t v = 0;
    if (b)
        memcpy(&v, b, 4);
    return v;
}

static uint8_t u8(struct reader *r)
{
    const unsigned char *b = take(r, 1);
    return b ? b[0] : 0;
}

static int64_t i64(struct reader *r)
{
    const unsigned char *b = take(r, 8);
    int64_t v = 0;
    if (b)
        memcpy(&v, b, 8);
    return v;
}

/* an exact-size copy */
static char *copy(struct reader *r, size_t len)
{
    const unsigned char *b = take(r, len);
    char *out = malloc(len ? len : 1);
    if (out && b && len)
        memcpy(out, b, len);
    return out;
}

#define MAX_ITEMS 100000u

struct vset {
    uint32_t n;
    uint32_t *field;
    uint8_t *kind;
    struct lc_value *val;
    struct lc_value **raw; /* kind 3: the items as read (val: lc_several's copy) */
    uint32_t *nraw;
};

/* lc_several's item: a copy of one read (its string stays owned by the raw items) */
static int copy_item(void *raw, size_t k, struct lc_value *out)
{
    *out = ((const struct lc_value *)raw)[k];
    return 1;
}

static int set_get(void *ctx, uint32_t field, struct lc_value *out)
{
    const struct vset *s = ctx;
    for (uint32_t k = 0; k < s->n; k++)
        if (s->field[k] == field) {
            *out = s->val[k];
            return s->kind[k] == 0 ? 2 : s->kind[k] == 3 ? LC_SEVERAL : 1;
        }
    return 0;
}

/* one plain value of kind 1 or 2 into *v (anything else: malformed) */
static void read_plain(struct reader *r, uint8_t kind, struct lc_value *v)
{
    if (kind == 1) {
        v->is_int = 1;
        v->i = i64(r);
    } else if (kind == 2) {
        uint32_t len = u32(r);
        v->s = copy(r, len);
        v->len = r->bad ? 0 : len;
    } else {
        r->bad = 1;
    }
}

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return 2;
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *data = malloc(size > 0 ? (size_t)size : 1);
    if (!data || (size > 0 && fread(data, 1, (size_t)size, f) != (size_t)size)) {
        fclose(f);
        free(data);
        return 2;
    }
    fclose(f);
    struct reader r = {data, (size_t)(size > 0 ? size : 0), 0, 0};

    uint32_t natoms = u32(&r);
    if (natoms > MAX_ITEMS)
        r.bad = 1;
    struct lc_atom *atoms = calloc(natoms ? natoms : 1, sizeof *atoms);
    struct lc_str **strs = calloc(natoms ? natoms : 1, sizeof *strs);
    int64_t **nums = calloc(natoms ? natoms : 1, sizeof *nums);
    for (uint32_t i = 0; i < natoms && !r.bad; i++) {
        struct lc_atom *a = &atoms[i];
        a->field = u32(&r);
        a->op = u8(&r);
        a->negate = u8(&r);
        a->missing = u8(&r);
        a->ints = u8(&r);
        uint32_t n = u32(&r);
        if (n > MAX_ITEMS || a->op >= LC_OP_COUNT) {
            r.bad = 1;
            break;
        }
        a->n = n;
        if (a->ints) {
            nums[i] = malloc(n ? n * sizeof(int64_t) : 1);
            for (uint32_t k = 0; k < n; k++)
                nums[i][k] = i64(&r);
            if (a->op == LC_OP_IN)
                lc_sort_nums(nums[i], n);
            a->nums = nums[i];
        } else {
            strs[i] = calloc(n ? n : 1, sizeof(struct lc_str));
            for (uint32_t k = 0; k < n && !r.bad; k++) {
                uint32_t len = u32(&r);
                strs[i][k].s = copy(&r, len);
                strs[i][k].len = r.bad ? 0 : len;
            }
            if (a->op == LC_OP_IN)
                lc_sort_strs(strs[i], n);
            a->strs = strs[i];
        }
    }

    uint32_t ncodes = u32(&r);
    if (ncodes > MAX_ITEMS)
        r.bad = 1;
    uint32_t **codes = calloc(ncodes ? ncodes : 1, sizeof *codes);
    uint32_t *lens = calloc(ncodes ? ncodes : 1, sizeof *lens);
    for (uint32_t c = 0; c < ncodes && !r.bad; c++) {
        uint32_t len = u32(&r);
        if (len > MAX_ITEMS) {
            r.bad = 1;
            break;
        }
        codes[c] = malloc(len ? len * sizeof(uint32_t) : 1);
        lens[c] = len;
        for (uint32_t k = 0; k < len; k++)
            codes[c][k] = u32(&r);
    }

    uint32_t nsets = u32(&r);
    if (nsets > MAX_ITEMS)
        r.bad = 1;
    struct vset *sets = calloc(nsets ? nsets : 1, sizeof *sets);
    struct lc_store store = {NULL};
    for (uint32_t s = 0; s < nsets && !r.bad; s++) {
        uint32_t n = u32(&r);
        if (n > MAX_ITEMS) {
            r.bad = 1;
            break;
        }
        sets[s].n = n;
        sets[s].field = calloc(n ? n : 1, sizeof(uint32_t));
        sets[s].kind = calloc(n ? n : 1, 1);
        sets[s].val = calloc(n ? n : 1, sizeof(struct lc_value));
        sets[s].raw = calloc(n ? n : 1, sizeof(struct lc_value *));
        sets[s].nraw = calloc(n ? n : 1, sizeof(uint32_t));
        for (uint32_t k = 0; k < n && !r.bad; k++) {
            sets[s].field[k] = u32(&r);
            uint8_t kind = u8(&r);
            sets[s].kind[k] = kind;
            if (kind == 0)
                continue;
            if (kind != 3) {
                read_plain(&r, kind, &sets[s].val[k]);
                continue;
            }
            uint32_t m = u32(&r);
            if (m > MAX_ITEMS) {
                r.bad = 1;
                break;
            }
            struct lc_value *items = calloc(m ? m : 1, sizeof *items); /* exact size */
            sets[s].raw[k] = items;
            sets[s].nraw[k] = m;
            for (uint32_t j = 0; j < m && !r.bad; j++)
                read_plain(&r, u8(&r), &items[j]);
            int got = lc_several(&store, m, copy_item, items, &sets[s].val[k]);
            if (got < 0) { /* out of memory: reported as a bad input */
                r.bad = 1;
                break;
            }
            if (got != LC_SEVERAL)
                sets[s].kind[k] = 0; /* unknown */
        }
    }

    int rc = 0;
    if (r.bad || r.pos != r.n) {
        fprintf(stderr, "%s: malformed input at byte %zu\n", path, r.pos);
        rc = 2;
    } else {
        for (uint32_t c = 0; c < ncodes; c++) {
            const char *why = NULL;
            if (lens[c] == 0 || lc_check_code(codes[c], lens[c], natoms, &why) < 0) {
                printf("%u invalid\n", c);
                continue;
            }
            const uint32_t *const one[1] = {codes[c]};
            struct lc_program prog = {natoms, atoms, 1, one, &lens[c]};
            for (uint32_t s = 0; s < nsets; s++)
                printf("%u %u %d\n", c, s, lc_eval(&prog, 0, set_get, &sets[s]));
        }
    }

    for (uint32_t s = 0; s < nsets; s++) {
        for (uint32_t k = 0; k < sets[s].n; k++) {
            const struct lc_value *v = &sets[s].val[k];
            struct lc_value *raw = sets[s].raw[k];
            for (uint32_t j = 0; raw != NULL && j < sets[s].nraw[k]; j++)
                if (!raw[j].is_int)
                    free((void *)raw[j].s);
            free(raw);
            if (!v->is_int)
                free((void *)v->s);
        }
        free(sets[s].field);
        free(sets[s].kind);
        free(sets[s].val);
        free(sets[s].raw);
        free(sets[s].nraw);
    }
    free(sets);
    lc_store_free(&store);
    for (uint32_t c = 0; c < ncodes; c++)
        free(codes[c]);
    free(codes);
    free(lens);
    for (uint32_t i = 0; i < natoms; i++) {
        if (strs[i])
            for (uint32_t k = 0; k < atoms[i].n; k++)
                free((void *)strs[i][k].s);
        free(strs[i]);
        free(nums[i]);
    }
    free(strs);
    free(nums);
    free(atoms);
    free(data);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--selftest-overread") == 0) {
        char *s = malloc(4);
        memcpy(s, "/etc", 4);
        struct lc_str v = {s, 4};
        struct lc_atom a = {LC_F_FD_NAME, LC_OP_PREFIX, 0, 0, 0, 1, &v, NULL};
        struct lc_value val = {0, 0, s, 5, NULL, 0}; /* one byte too many */
        int r = lc_atom_holds(&a, &val);
        char last = s[4];
        free(s);
        return r + last;
    }
    int rc = 0;
    for (int i = 1; i < argc; i++) {
        int one = run_file(argv[i]);
        if (one)
            rc = one;
    }
    return rc;
}
