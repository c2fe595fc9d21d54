/*
 * The event record: event.py's Event subclasses EventRecord (empty __slots__), so an
 * event is one C struct: its header as C integers, a view of its bytes (``_buf`` from
 * ``_off``, the parameter-length array, to ``_end``), the state the engine attached
 * (``thread``, ``fdinfo``, ``fd``, ``enter``, ``table``) and Event's parameter caches.
 * Parameter decoding stays in event.py; the walk builds events here without boxing their
 * header into Python integers first.
 */
#include "events.h"

#include <stddef.h>
#include <structmember.h>

#define EOBJ(name, attr) {attr, T_OBJECT, offsetof(EventRecord, o) + ER_##name * sizeof(PyObject *), 0, NULL}

static PyMemberDef event_members[] = {
    {"num", T_ULONGLONG, offsetof(EventRecord, num), 0, NULL},
    {"ts", T_ULONGLONG, offsetof(EventRecord, ts), 0, NULL},
    {"tid", T_LONGLONG, offsetof(EventRecord, tid), 0, NULL},
    {"type", T_INT, offsetof(EventRecord, type), 0, NULL},
    {"nparams", T_UINT, offsetof(EventRecord, nparams), 0, NULL},
    {"cpu", T_UINT, offsetof(EventRecord, cpu), 0, NULL},
    {"dump_flags", T_UINT, offsetof(EventRecord, dump_flags), 0, NULL},
    {"offset", T_LONGLONG, offsetof(EventRecord, offset), 0, NULL},
    {"_off", T_PYSSIZET, offsetof(EventRecord, off), 0, NULL},
    {"_end", T_PYSSIZET, offsetof(EventRecord, end), 0, NULL},
    {"_large", T_BOOL, offsetof(EventRecord, large), 0, NULL},
    EOBJ(buf, "_buf"), EOBJ(raws, "_raws"), EOBJ(lens, "_lens"), EOBJ(vals, "_vals"),
    EOBJ(thread, "thread"), EOBJ(fdinfo, "fdinfo"), EOBJ(fd, "fd"), EOBJ(enter, "enter"),
    EOBJ(table, "table"),
    {NULL, 0, 0, 0, NULL},
};

EventRecord *lanner_event_new(PyTypeObject *type, unsigned long long num, unsigned long long ts,
                              long long tid, int etype, unsigned nparams, PyObject *buf,
                              Py_ssize_t off, Py_ssize_t end, int large, unsigned cpu,
                              unsigned dump_flags, long long offset)
{
    EventRecord *e = (EventRecord *)type->tp_alloc(type, 0);
    if (e == NULL)
        return NULL;
    e->num = num;
    e->ts = ts;
    e->tid = tid;
    e->type = etype;
    e->nparams = nparams;
    e->off = off;
    e->end = end;
    e->large = (char)(large != 0);
    e->cpu = cpu;
    e->dump_flags = dump_flags;
    e->offset = offset;
    Py_INCREF(buf);
    e->o[ER_buf] = buf;
    /* thread, fdinfo, fd, enter, table, caches: NULL reads as None */
    return e;
}

static PyObject *event_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    unsigned long long num, ts;
    long long tid, offset = 0;
    int etype, large = 0;
    unsigned nparams, cpu = 0, dump_flags = 0;
    PyObject *buf;
    Py_ssize_t off, end;
    static char *kwlist[] = {"num", "ts", "tid", "etype", "nparams", "buf", "off", "end",
                             "large", "cpu", "dump_flags", "offset", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "KKLiIOnn|pIIL", kwlist, &num, &ts, &tid,
                                     &etype, &nparams, &buf, &off, &end, &large, &cpu,
                                     &dump_flags, &offset))
        return NULL;
    return (PyObject *)lanner_event_new(type, num, ts, tid, etype, nparams, buf, off, end, large,
                                        cpu, dump_flags, offset);
}

static int event_traverse(EventRecord *e, visitproc visit, void *arg)
{
    for (int i = 0; i < ER_COUNT; i++)
        Py_VISIT(e->o[i]);
    return 0;
}

static int event_clear(EventRecord *e)
{
    for (int i = 0; i < ER_COUNT; i++)
        Py_CLEAR(e->o[i]);
    return 0;
}

static void event_dealloc(EventRecord *e)
{
    PyObject_GC_UnTrack(e);
    event_clear(e);
    Py_TYPE(e)->tp_free((PyObject *)e);
}

PyTypeObject LannerEventRecordType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "lanner.sources.syscall._native.EventRecord",
    .tp_doc = "One syscall event's header and bytes (base of event.Event).",
    .tp_basicsize = sizeof(EventRecord),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_new = event_new,
    .tp_dealloc = (destructor)event_dealloc,
    .tp_traverse = (traverseproc)event_traverse,
    .tp_clear = (inquiry)event_clear,
    .tp_members = event_members,
};

int lanner_register_events(PyObject *module)
{
    if (PyType_Ready(&LannerEventRecordType) < 0)
        return -1;
    Py_INCREF(&LannerEventRecordType);
    if (PyModule_AddObject(module, "EventRecord", (PyObject *)&LannerEventRecordType) < 0) {
        Py_DECREF(&LannerEventRecordType);
        return -1;
    }
    return 0;
}
