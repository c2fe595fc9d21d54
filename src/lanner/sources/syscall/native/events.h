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

/* Event.int_value(index) of EventRecord itself (new reference; NULL with an exception):
 * for C callers, without the method lookup (event.Event does not override it). */
PyObject *lanner_event_int_value(EventRecord *e, PyObject *index);

/* Whether events of ``type`` may be recycled by lanner_event_renew: its instances are
 * EventRecords and nothing more (no __dict__, no weak references, no other slots). */
int lanner_event_recyclable(PyTypeObject *type);

/* ``e`` (of a recyclable type, and referenced only by the caller) made into a new event,
 * as lanner_event_new would build it: its references dropped, its fields set. Saves the
 * allocation and release of one object per event on walks that drop most events. */
void lanner_event_renew(EventRecord *e, unsigned long long num, unsigned long long ts,
                        long long tid, int etype, unsigned nparams, PyObject *buf,
                        Py_ssize_t off, Py_ssize_t end, int large, unsigned cpu,
                        unsigned dump_flags, long long offset);

/* Event._raw_fast(index): the parameter's bytes (new reference) or None. */
PyObject *lanner_event_raw(EventRecord *e, Py_ssize_t index);

/* The bytes lanner_event_raw would copy, in place in the event's buffer (alive as long as
 * the event): 1 with *p and *size; 0 when they are not there as such (the parameters were
 * split into _raws, the event has fewer parameters, the lengths lie outside the buffer:
 * ask lanner_event_raw). Never raises. */
int lanner_event_span(EventRecord *e, Py_ssize_t index, const char **p, Py_ssize_t *size);

#endif
