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
#include <stdint.h>
#include <string.h>
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

/* The plain fields of an event and its buffer (``buf``: a reference the event takes). */
static inline void set_fields(EventRecord *e, unsigned long long num, unsigned long long ts,
                              long long tid, int etype, unsigned nparams, PyObject *buf,
                              Py_ssize_t off, Py_ssize_t end, int large, unsigned cpu,
                              unsigned dump_flags, long long offset)
{
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
    e->o[ER_buf] = buf;
}

EventRecord *lanner_event_new(PyTypeObject *type, unsigned long long num, unsigned long long ts,
                              long long tid, int etype, unsigned nparams, PyObject *buf,
                              Py_ssize_t off, Py_ssize_t end, int large, unsigned cpu,
                              unsigned dump_flags, long long offset)
{
    EventRecord *e = (EventRecord *)type->tp_alloc(type, 0);
    if (e == NULL)
        return NULL;
    Py_INCREF(buf);
    set_fields(e, num, ts, tid, etype, nparams, buf, off, end, large, cpu, dump_flags, offset);
    /* thread, fdinfo, fd, enter, table, caches: NULL reads as None */
    return e;
}

int lanner_event_recyclable(PyTypeObject *type)
{
    return PyType_IsSubtype(type, &LannerEventRecordType) &&
           type->tp_basicsize == LannerEventRecordType.tp_basicsize &&
           type->tp_itemsize == 0 && type->tp_dictoffset == 0 && type->tp_weaklistoffset == 0;
}

void lanner_event_renew(EventRecord *e, unsigned long long num, unsigned long long ts,
                        long long tid, int etype, unsigned nparams, PyObject *buf,
                        Py_ssize_t off, Py_ssize_t end, int large, unsigned cpu,
                        unsigned dump_flags, long long offset)
{
    Py_INCREF(buf); /* before the clear: buf may be held only by e */
    for (int i = 0; i < ER_COUNT; i++)
        Py_CLEAR(e->o[i]);
    set_fields(e, num, ts, tid, etype, nparams, buf, off, end, large, cpu, dump_flags, offset);
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

/* ---------------------------------------------------------------------------------- */
/* Parameter access (Event._raw_at, int_param, int_value) */

/* per event type: one format code per parameter (see set_int_formats) */
static char **int_formats;
static Py_ssize_t *int_formats_len;
static Py_ssize_t n_int_formats;
static PyObject *struct_error, *decode_int_fn;

/* The bytes of parameter ``index`` (clipped to the event, as a slice would be): sets
 * *start and *size and returns 1; 0 when the event has fewer parameters; -1 with
 * struct.error when the length array lies outside the buffer. */
static int param_span(EventRecord *e, Py_ssize_t index, Py_ssize_t *start, Py_ssize_t *size)
{
    PyObject *bufobj = e->o[ER_buf];
    if (bufobj == NULL || !PyBytes_Check(bufobj)) {
        PyErr_SetString(PyExc_TypeError, "event buffer is not bytes");
        return -1;
    }
    Py_ssize_t n = e->nparams;
    if (index < 0 || index >= n)
        return 0;
    const uint8_t *buf = (const uint8_t *)PyBytes_AS_STRING(bufobj);
    Py_ssize_t blen = PyBytes_GET_SIZE(bufobj);
    Py_ssize_t width = e->large ? 4 : 2, off = e->off;
    Py_ssize_t need = index == 0 ? width : width * n; /* what the lengths read needs */
    if (off < 0 || off > blen || need > blen - off) {
        PyErr_Format(struct_error, "unpack_from requires a buffer of at least %zd bytes",
                     off + need);
        return -1;
    }
    Py_ssize_t pos = off + width * n;
    for (Py_ssize_t i = 0; i < index; i++) {
        uint32_t l = 0;
        memcpy(&l, buf + off + width * i, (size_t)width);
        pos += l;
    }
    uint32_t len = 0;
    memcpy(&len, buf + off + width * index, (size_t)width);
    Py_ssize_t stop = pos + (Py_ssize_t)len;
    Py_ssize_t end = e->end;
    if (stop > end)
        stop = end;
    /* then as bytes slicing: bounded by the buffer, empty when reversed */
    if (stop > blen)
        stop = blen;
    if (pos > blen)
        pos = blen;
    *start = pos;
    *size = stop > pos ? stop - pos : 0;
    return 1;
}

/* _raw_fast: the raw bytes (new reference) or None, from _raws when split */
PyObject *lanner_event_raw(EventRecord *e, Py_ssize_t index)
{
    PyObject *raws = e->o[ER_raws];
    if (raws != NULL && raws != Py_None) {
        Py_ssize_t n = PyObject_Length(raws);
        if (n < 0)
            return NULL;
        if (index < n)
            return PySequence_GetItem(raws, index);
        Py_RETURN_NONE;
    }
    Py_ssize_t start, size;
    int r = param_span(e, index, &start, &size);
    if (r < 0)
        return NULL;
    if (r == 0)
        Py_RETURN_NONE;
    return PyBytes_FromStringAndSize(PyBytes_AS_STRING(e->o[ER_buf]) + start, size);
}

int lanner_event_span(EventRecord *e, Py_ssize_t index, const char **p, Py_ssize_t *size)
{
    PyObject *raws = e->o[ER_raws];
    if (raws != NULL && raws != Py_None)
        return 0;
    Py_ssize_t start;
    int r = param_span(e, index, &start, size);
    if (r < 0) {
        PyErr_Clear();
        return 0;
    }
    if (r == 0)
        return 0;
    *p = PyBytes_AS_STRING(e->o[ER_buf]) + start;
    return 1;
}

static PyObject *event_raw_at(EventRecord *e, PyObject *arg)
{
    Py_ssize_t index = PyLong_AsSsize_t(arg);
    if (index == -1 && PyErr_Occurred())
        return NULL;
    Py_ssize_t start, size;
    int r = param_span(e, index, &start, &size);
    if (r < 0)
        return NULL;
    if (r == 0)
        Py_RETURN_NONE;
    return PyBytes_FromStringAndSize(PyBytes_AS_STRING(e->o[ER_buf]) + start, size);
}

/* the cached decoded value of ``index`` (borrowed), or NULL when not cached */
static PyObject *cached_value(EventRecord *e, PyObject *key, int *err)
{
    *err = 0;
    PyObject *vals = e->o[ER_vals];
    if (vals == NULL || vals == Py_None)
        return NULL;
    PyObject *v = PyObject_GetItem(vals, key);
    if (v == NULL) {
        if (PyErr_ExceptionMatches(PyExc_KeyError))
            PyErr_Clear();
        else
            *err = 1;
        return NULL;
    }
    Py_DECREF(v); /* the dict holds it */
    return v;
}

static PyObject *signed_le(const uint8_t *p, Py_ssize_t size)
{
    if (size <= 8) {
        uint64_t v = 0;
        memcpy(&v, p, (size_t)size);
        if (size < 8 && (p[size - 1] & 0x80))
            v |= ~(uint64_t)0 << (8 * size);
        return PyLong_FromLongLong((long long)v);
    }
    return _PyLong_FromByteArray(p, (size_t)size, 1, 1);
}

/* The raw bytes of parameter ``arg`` (an index, stored in *index): a new reference to
 * bytes, to None when the event has fewer parameters, or NULL with an exception set. */
static PyObject *raw_param_at(EventRecord *e, PyObject *arg, Py_ssize_t *index)
{
    *index = PyLong_AsSsize_t(arg);
    if (*index == -1 && PyErr_Occurred())
        return NULL;
    PyObject *raw = lanner_event_raw(e, *index);
    if (raw == NULL || raw == Py_None)
        return raw;
    if (!PyBytes_Check(raw)) {
        Py_DECREF(raw);
        PyErr_SetString(PyExc_TypeError, "raw parameter is not bytes");
        return NULL;
    }
    return raw;
}

static PyObject *event_int_param(EventRecord *e, PyObject *arg)
{
    int err;
    PyObject *v = cached_value(e, arg, &err);
    if (err)
        return NULL;
    if (v != NULL) {
        if (v == Py_None)
            Py_RETURN_NONE;
        return PyNumber_Long(v);
    }
    Py_ssize_t index;
    PyObject *raw = raw_param_at(e, arg, &index);
    if (raw == NULL || raw == Py_None)
        return raw;
    Py_ssize_t size = PyBytes_GET_SIZE(raw);
    PyObject *out = size == 0 ? (Py_INCREF(Py_None), Py_None)
                              : signed_le((const uint8_t *)PyBytes_AS_STRING(raw), size);
    Py_DECREF(raw);
    return out;
}

/* Parameter ``index`` of ``e`` (its bytes p[0..n), also as ``raw`` bytes if at hand, else
 * NULL) decoded as Event.int_value does. */
static PyObject *decode_int_at(EventRecord *e, Py_ssize_t index, const uint8_t *p, Py_ssize_t n,
                               PyObject *raw)
{
    char code = 0;
    if (n > 0 && e->type >= 0 && e->type < n_int_formats && index < int_formats_len[e->type])
        code = int_formats[e->type][index];
    PyObject *out = NULL;
    int size = 0, sign = 0;
    switch (code) {
    case 'b': size = 1; sign = 1; break;
    case 'B': size = 1; break;
    case 'h': size = 2; sign = 1; break;
    case 'H': size = 2; break;
    case 'i': size = 4; sign = 1; break;
    case 'I': size = 4; break;
    case 'q': size = 8; sign = 1; break;
    case 'Q': size = 8; break;
    case 'E': /* PT_ERRNO: 8 bytes, or 4 in some old captures */
        if (n >= 8)
            out = signed_le(p, 8);
        else if (n == 4)
            out = signed_le(p, 4);
        else
            out = (Py_INCREF(Py_None), Py_None);
        return out;
    default: /* not a plain integer (or empty): params.decode_int decides */
        if (raw != NULL)
            return PyObject_CallFunction(decode_int_fn, "inO", e->type, index, raw);
        raw = PyBytes_FromStringAndSize((const char *)p, n);
        if (raw == NULL)
            return NULL;
        out = PyObject_CallFunction(decode_int_fn, "inO", e->type, index, raw);
        Py_DECREF(raw);
        return out;
    }
    if (n < size) {
        out = (Py_INCREF(Py_None), Py_None);
    } else if (sign) {
        out = signed_le(p, size);
    } else {
        uint64_t u = 0;
        memcpy(&u, p, (size_t)size);
        out = PyLong_FromUnsignedLongLong(u);
    }
    return out;
}

static PyObject *event_int_value(EventRecord *e, PyObject *arg)
{
    int err;
    PyObject *v = cached_value(e, arg, &err);
    if (err)
        return NULL;
    if (v != NULL) {
        if (PyLong_Check(v))
            return PyNumber_Long(v);
        Py_RETURN_NONE;
    }
    Py_ssize_t index = PyLong_AsSsize_t(arg);
    if (index == -1 && PyErr_Occurred())
        return NULL;
    const char *sp;
    Py_ssize_t sn;
    if (lanner_event_span(e, index, &sp, &sn)) /* in place: no bytes object */
        return decode_int_at(e, index, (const uint8_t *)sp, sn, NULL);
    PyObject *raw = raw_param_at(e, arg, &index);
    if (raw == NULL || raw == Py_None)
        return raw;
    PyObject *out = decode_int_at(e, index, (const uint8_t *)PyBytes_AS_STRING(raw),
                                  PyBytes_GET_SIZE(raw), raw);
    Py_DECREF(raw);
    return out;
}

PyObject *lanner_event_int_value(EventRecord *e, PyObject *index)
{
    return event_int_value(e, index);
}

static PyObject *set_int_formats(PyObject *self, PyObject *args)
{
    PyObject *formats, *decode_int;
    if (!PyArg_ParseTuple(args, "O!O", &PyTuple_Type, &formats, &decode_int))
        return NULL;
    Py_ssize_t n = PyTuple_GET_SIZE(formats);
    char **f = PyMem_Calloc(n > 0 ? (size_t)n : 1, sizeof *f);
    Py_ssize_t *fl = PyMem_Calloc(n > 0 ? (size_t)n : 1, sizeof *fl);
    if (f == NULL || fl == NULL) {
        PyMem_Free(f);
        PyMem_Free(fl);
        return PyErr_NoMemory();
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *b = PyTuple_GET_ITEM(formats, i);
        if (!PyBytes_Check(b)) {
            for (Py_ssize_t j = 0; j < i; j++)
                PyMem_Free(f[j]);
            PyMem_Free(f);
            PyMem_Free(fl);
            PyErr_SetString(PyExc_TypeError, "set_int_formats(): formats must be bytes");
            return NULL;
        }
        fl[i] = PyBytes_GET_SIZE(b);
        f[i] = PyMem_Malloc(fl[i] + 1);
        if (f[i] == NULL) {
            for (Py_ssize_t j = 0; j < i; j++)
                PyMem_Free(f[j]);
            PyMem_Free(f);
            PyMem_Free(fl);
            return PyErr_NoMemory();
        }
        memcpy(f[i], PyBytes_AS_STRING(b), fl[i]);
    }
    for (Py_ssize_t j = 0; j < n_int_formats; j++)
        PyMem_Free(int_formats[j]);
    PyMem_Free(int_formats);
    PyMem_Free(int_formats_len);
    int_formats = f;
    int_formats_len = fl;
    n_int_formats = n;
    Py_INCREF(decode_int);
    Py_XSETREF(decode_int_fn, decode_int);
    Py_RETURN_NONE;
}

static PyMethodDef event_methods[] = {
    {"_raw_at", (PyCFunction)event_raw_at, METH_O,
     "Raw bytes of parameter ``index`` (clipped to the event), or None when absent."},
    {"int_param", (PyCFunction)event_int_param, METH_O,
     "Parameter ``index`` as a signed integer (fds, pids), without decoding the rest."},
    {"int_value", (PyCFunction)event_int_value, METH_O,
     "Parameter ``index`` as a plain int (flags as their number), None when absent or not\n"
     "an integer; the number ``int(param(index))`` gives."},
    {NULL, NULL, 0, NULL},
};

static PyMethodDef events_module_methods[] = {
    {"set_int_formats", set_int_formats, METH_VARARGS,
     "set_int_formats(formats, decode_int): per event type, bytes of one struct code per\n"
     "parameter (b B h H i I q Q, E for PT_ERRNO, NUL for others), and the fallback."},
    {NULL, NULL, 0, NULL},
};

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
    .tp_methods = event_methods,
};

int lanner_register_events(PyObject *module)
{
    PyObject *st = PyImport_ImportModule("struct");
    if (st == NULL)
        return -1;
    struct_error = PyObject_GetAttrString(st, "error");
    Py_DECREF(st);
    if (struct_error == NULL)
        return -1;
    if (PyModule_AddFunctions(module, events_module_methods) < 0)
        return -1;
    if (PyType_Ready(&LannerEventRecordType) < 0)
        return -1;
    Py_INCREF(&LannerEventRecordType);
    if (PyModule_AddObject(module, "EventRecord", (PyObject *)&LannerEventRecordType) < 0) {
        Py_DECREF(&LannerEventRecordType);
        return -1;
    }
    return 0;
}
