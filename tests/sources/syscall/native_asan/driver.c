/*
 * Sanitizer driver for the native core's plain-C parts (test_syscall_native_asan.py).
 *
 * Built with -fsanitize=address,undefined together with src/.../native/walk.c. For every
 * file named on the command line it reads the bytes into a buffer of exactly their size
 * and walks them as reader.py does: lw_next() for the event blocks, every parameter's
 * bytes read back as an Event would slice them, any other block skipped by its length,
 * the walk stopped at damage. Damaged input must give errors, never reads outside the
 * buffer, undefined behaviour, leaks or hangs.
 *
 * Usage: driver TABLES FILE...; TABLES holds reader.py's type table then its v1 parameter
 * count table (NTYPES bytes each, see reader.ScapReader._walk_types).
 *
 * "--selftest-overread" and "--selftest-leak" do those on purpose: the test checks that the
 * sanitizers it relies on do report them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "walk.h"

#define MAX_TYPES 4096

static size_t NTYPES;

static unsigned long long checksum;

static void touch_params(const uint8_t *buf, const struct lw_event *ev)
{
    size_t width = ev->large ? 4 : 2;
    size_t pos = ev->lens + width * ev->nparams;
    for (uint32_t i = 0; i < ev->nparams; i++) {
        size_t len = ev->large ? lw_rd32(buf + ev->lens + 4 * i) : lw_rd16(buf + ev->lens + 2 * i);
        size_t stop = len > ev->end - pos ? ev->end : pos + len; /* clipped like Event._raw_at */
        for (size_t j = pos; j < stop; j++)
            checksum += buf[j];
        pos = stop;
    }
}

static int walk_file(const char *path, const uint8_t *types, uint8_t *hint)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        perror(path);
        return -1;
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc(size > 0 ? (size_t)size : 1);
    if (buf == NULL || fread(buf, 1, (size_t)size, f) != (size_t)size) {
        fprintf(stderr, "%s: cannot read\n", path);
        free(buf);
        fclose(f);
        return -1;
    }
    fclose(f);
    size_t n = (size_t)size, pos = 0;
    unsigned long long events = 0, stops = 0;
    struct lw_event ev;
    for (;;) {
        enum lw_status st = lw_next(buf, n, &pos, types, NTYPES, hint, &ev);
        if (st == LW_EVENT) {
            if (ev.end > n || ev.lens > ev.end || ev.block >= n) {
                fprintf(stderr, "%s: event outside the buffer at %zu\n", path, ev.block);
                abort();
            }
            touch_params(buf, &ev);
            events++;
            continue;
        }
        if (st != LW_STOP)
            continue;
        /* what reader.py's loop does with a block the walk leaves: skip it by its length
         * when sound (metadata), stop at damage or at the end */
        stops++;
        if (n - pos < 8)
            break;
        uint32_t blen = lw_rd32(buf + pos + 4);
        if (blen < 12 || blen > n - pos || lw_rd32(buf + pos + blen - 4) != blen)
            break;
        pos += blen;
    }
    printf("%s: %llu events, %llu blocks left to the caller\n", path, events, stops);
    free(buf);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--selftest-overread") == 0) {
        volatile uint8_t *p = calloc(8, 1);
        uint8_t v = p[argc + 6]; /* index 8: one past the end */
        free((void *)p);
        return v;
    }
    if (argc == 2 && strcmp(argv[1], "--selftest-leak") == 0) {
        volatile char *p = malloc(64);
        p[0] = 1;
        p = NULL;
        return 0;
    }
    if (argc < 2)
        return 2;
    static uint8_t tables[2 * MAX_TYPES];
    FILE *f = fopen(argv[1], "rb");
    size_t got = f != NULL ? fread(tables, 1, sizeof tables, f) : 0;
    if (f != NULL)
        fclose(f);
    if (got == 0 || got % 2 != 0) {
        fprintf(stderr, "%s: not a type table\n", argv[1]);
        return 2;
    }
    NTYPES = got / 2;
    const uint8_t *types = tables;
    uint8_t *hint = tables + NTYPES;
    int rc = 0;
    for (int i = 2; i < argc; i++)
        if (walk_file(argv[i], types, hint) < 0)
            rc = 1;
    printf("checksum %llu\n", checksum);
    return rc;
}
