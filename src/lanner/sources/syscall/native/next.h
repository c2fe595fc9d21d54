/*
 * One step of libsinsp's next(), shared by the capture replay (walk_py.c) and the live
 * ring (ring.c): a built event is applied to the state engine, then handed out only when
 * some loaded rule wants its type (generic events by their syscall code) and, with a
 * candidate filter, when its conditions hold. Events that fail stay in C.
 */
#ifndef LANNER_NATIVE_NEXT_H
#define LANNER_NATIVE_NEXT_H

#include "native.h"
#include "walk.h"

/* wanted-table bytes, per event type id */
#define LN_W_YES 1u          /* the rules want it */
#define LN_W_GENERIC 2u      /* generic: wanted by its syscall code (codes table) */
#define LN_W_GENERIC_SELF 4u /* generic, code missing or beyond the table: wanted */
#define LN_W_FILTER 8u       /* the candidate conditions apply to it (with a filter) */
#define LN_W_INSERTER 16u    /* the container announcer looks at it (rules or not) */
#define LN_W_BY_CODE 32u     /* generic, and the state engine needs none: build only the
                              * events of wanted syscalls (ln_skip) */

struct ln_select {
    const uint8_t *wanted; /* ntypes bytes */
    size_t ntypes;
    const uint8_t *codes; /* per syscall code: generic events of it wanted */
    size_t ncodes;
    PyObject *filter; /* a _native.CandidateEvents, or NULL */
};

enum ln_outcome {
    LN_DROP = 0,     /* state applied, nothing more */
    LN_RULES = 1,    /* hand it to the rules */
    LN_FILTERED = 2, /* of a wanted type, but the candidate conditions fail */
    LN_INSERTER = 3, /* not for the rules; the container announcer looks at it */
};

/* Parse the wanted/codes bytes objects (codes may be empty) and the filter (None: none)
 * into *sel; -1 with an exception. The objects must outlive *sel. */
int ln_select_init(struct ln_select *sel, PyObject *wanted, PyObject *codes, PyObject *filter);

/* 1 when the event need not even be built: a generic event (LN_W_BY_CODE) of a syscall
 * no rule wants, which the state engine does not need either (like a type rejected from
 * its header). */
int ln_skip(const uint8_t *buf, const struct lw_event *ev, const struct ln_select *sel);

/* Apply ``e`` (built from ``ev`` in ``buf``) to ``state`` (NULL: none), then say where it
 * goes; -1 with an exception (the state engine or the filter failed). */
int ln_step(PyObject *state, PyObject *e, const uint8_t *buf, const struct lw_event *ev,
            const struct ln_select *sel);

#endif
