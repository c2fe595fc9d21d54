/* The event record type (see events.c). */
#ifndef LANNER_NATIVE_EVENTS_H
#define LANNER_NATIVE_EVENTS_H

#include "native.h"

/* EventRecord's object-valued attributes, by index */
enum {
    ER_buf, ER_raws, ER_lens, ER_vals, ER_thread, ER_fdinfo, ER_fd, ER_enter, ER_table,
    ER_COUNT
};

typedef struct {
    PyObject_HEAD
    unsigned long long num, ts;
    long long tid, offset;
    int type;
    unsigned int nparams, cpu, dump_flags;
    Py_ssize_t off, end; /* the parameter-length array and the end of the event in _buf */
    char large;          /* 32-bit parameter lengths */
    PyObject *o[ER_COUNT];
} EventRecord;

extern PyTypeObject LannerEventRecordType;

/* A new event of ``type`` (an EventRecord subclass) on ``buf`` (a new reference taken). */
EventRecord *lanner_event_new(PyTypeObject *type, unsigned long long num, unsigned long long ts,
                              long long tid, int etype, unsigned nparams, PyObject *buf,
                              Py_ssize_t off, Py_ssize_t end, int large, unsigned cpu,
                              unsigned dump_flags, long long offset);

/* Event._raw_fast(index): the parameter's bytes (new reference) or None. */
PyObject *lanner_event_raw(EventRecord *e, Py_ssize_t index);

#endif
