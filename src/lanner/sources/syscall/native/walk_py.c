/* walk(): the capture reader's event-block walk for Python, on walk.c (see reader.py). */
#include "native.h"
#include "events.h"
#include "next.h"
#include "walk.h"

/* Append Event(num, ts, tid, etype, nparams, buf, off, end, large, cpu, flags, offset). */
static int emit(PyObject *out, PyObject *event_cls, PyObject *bufobj, unsigned long long num,
                const struct lw_event *ev, long long offset)
{
    if (PyType_Check(event_cls) &&
        PyType_IsSubtype((PyTypeObject *)event_cls, &LannerEventRecordType)) {
        /* the usual case: build the record directly */
        EventRecord *e = lanner_event_new((PyTypeObject *)event_cls, num, ev->ts, ev->tid,
                                          (int)ev->type, ev->nparams, bufobj,
                                          (Py_ssize_t)ev->lens, (Py_ssize_t)ev->end, ev->large,
                                          ev->cpu, ev->dump_flags, offset);
        if (e == NULL)
            return -1;
        int rc = PyList_Append(out, (PyObject *)e);
        Py_DECREF(e);
        return rc;
    }
    PyObject *args[12] = {
        PyLong_FromUnsignedLongLong(num), PyLong_FromUnsignedLongLong(ev->ts),
        PyLong_FromLongLong(ev->tid), PyLong_FromUnsignedLong(ev->type),
        PyLong_FromUnsignedLong(ev->nparams), bufobj, PyLong_FromSize_t(ev->lens),
        PyLong_FromSize_t(ev->end), PyBool_FromLong(ev->large), PyLong_FromUnsignedLong(ev->cpu),
        PyLong_FromUnsignedLong(ev->dump_flags), PyLong_FromLongLong(offset),
    };
    int ok = 1;
    for (int i = 0; i < 12; i++)
        if (args[i] == NULL) ok = 0;
    PyObject *obj = NULL;
    if (ok)
        obj = PyObject_Vectorcall(event_cls, args, 12, NULL);
    for (int i = 0; i < 12; i++)
        if (i != 5) Py_XDECREF(args[i]);
    if (obj == NULL)
        return -1;
    int rc = PyList_Append(out, obj);
    Py_DECREF(obj);
    return rc;
}

PyDoc_STRVAR(walk_doc,
"walk(buf, pos, base, types, hint, num, event_cls) -> (events, pos, num, skipped)\n\n"
"Walk the event blocks of ``buf`` from ``pos`` and build an ``event_cls`` for each kept\n"
"event. ``base`` is the stream offset of buf[0]; ``types`` has one byte per event type\n"
"id (1: keep, 2: 32-bit parameter lengths, upper six bits: the type's parameter count);\n"
"``hint`` (bytearray, updated) the v1 parameter count last seen per type; ``num`` the\n"
"last event number. Stops at the first block it does not handle\n"
"(or the end of the chunk) and returns its position; ``skipped`` counts events of type\n"
"ids beyond the table.");

static PyObject *walk(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 7) {
        PyErr_SetString(PyExc_TypeError, "walk() takes 7 arguments");
        return NULL;
    }
    PyObject *bufobj = args[0];
    if (!PyBytes_Check(bufobj)) {
        PyErr_SetString(PyExc_TypeError, "walk(): buf must be bytes");
        return NULL;
    }
    Py_ssize_t spos = PyLong_AsSsize_t(args[1]);
    long long base = PyLong_AsLongLong(args[2]);
    unsigned long long num = PyLong_AsUnsignedLongLong(args[5]);
    if (PyErr_Occurred())
        return NULL;
    if (!PyBytes_Check(args[3]) || !PyByteArray_Check(args[4])) {
        PyErr_SetString(PyExc_TypeError, "walk(): types must be bytes and hint a bytearray");
        return NULL;
    }
    const uint8_t *types = (const uint8_t *)PyBytes_AS_STRING(args[3]);
    Py_ssize_t ntypes = PyBytes_GET_SIZE(args[3]);
    uint8_t *hint = (uint8_t *)PyByteArray_AS_STRING(args[4]);
    if (PyByteArray_GET_SIZE(args[4]) != ntypes) {
        PyErr_SetString(PyExc_ValueError, "walk(): types and hint differ in length");
        return NULL;
    }
    PyObject *event_cls = args[6];
    const uint8_t *buf = (const uint8_t *)PyBytes_AS_STRING(bufobj);
    Py_ssize_t n = PyBytes_GET_SIZE(bufobj);
    if (spos < 0 || spos > n) {
        PyErr_SetString(PyExc_ValueError, "walk(): pos out of range");
        return NULL;
    }
    PyObject *out = PyList_New(0);
    if (out == NULL)
        return NULL;
    unsigned long long skipped = 0;
    size_t pos = (size_t)spos;
    struct lw_event ev;
    for (;;) {
        enum lw_status st = lw_next(buf, (size_t)n, &pos, types, (size_t)ntypes, hint, &ev);
        if (st == LW_STOP)
            break;
        if (st == LW_UNKNOWN) {
            skipped++;
            continue;
        }
        num++; /* rejected events are numbered too */
        if (st == LW_EVENT && emit(out, event_cls, bufobj, num, &ev, base + (long long)ev.block) < 0) {
            Py_DECREF(out);
            return NULL;
        }
    }
    return Py_BuildValue("(NnKK)", out, (Py_ssize_t)pos, num, skipped);
}

PyDoc_STRVAR(replay_doc,
"replay(buf, pos, base, types, hint, num, event_cls, state, wanted, codes, accept)\n"
"    -> (event or None, pos, num, skipped, dropped)\n\n"
"libsinsp's next() over the event blocks of ``buf``: walk them as walk() does, apply\n"
"every built event to ``state`` (a StateEngine) in order, and return at the first one\n"
"whose type ``wanted`` (one byte per type id) marks, with state applied up to and\n"
"including it; None when it stopped at a block it does not handle or at the end.\n"
"A wanted byte of 2 marks a generic event type: its syscall code (first parameter)\n"
"is looked up in ``codes`` (one byte per code); bit 4 says whether it is wanted when\n"
"the code is missing or beyond the table (then its name is the type's own).\n"
"With ``accept`` (a CandidateEvents, or None), a wanted event of a type whose wanted byte\n"
"has bit 8 is returned only if the rules' candidate conditions accept it; ``dropped``\n"
"counts the others (state applied, no Python object kept). A wanted byte with bit 32 marks\n"
"a generic type the state engine does not need: its events of syscalls not wanted are\n"
"skipped before being built, like a type rejected from its header (still numbered).");

static PyObject *replay(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 11) {
        PyErr_SetString(PyExc_TypeError, "replay() takes 11 arguments");
        return NULL;
    }
    PyObject *bufobj = args[0];
    if (!PyBytes_Check(bufobj) || !PyBytes_Check(args[3]) || !PyByteArray_Check(args[4]) ||
        !PyBytes_Check(args[8]) || !PyBytes_Check(args[9])) {
        PyErr_SetString(PyExc_TypeError, "replay(): bad argument types");
        return NULL;
    }
    Py_ssize_t spos = PyLong_AsSsize_t(args[1]);
    long long base = PyLong_AsLongLong(args[2]);
    unsigned long long num = PyLong_AsUnsignedLongLong(args[5]);
    if (PyErr_Occurred())
        return NULL;
    const uint8_t *types = (const uint8_t *)PyBytes_AS_STRING(args[3]);
    Py_ssize_t ntypes = PyBytes_GET_SIZE(args[3]);
    uint8_t *hint = (uint8_t *)PyByteArray_AS_STRING(args[4]);
    if (PyByteArray_GET_SIZE(args[4]) != ntypes || PyBytes_GET_SIZE(args[8]) != ntypes) {
        PyErr_SetString(PyExc_ValueError, "replay(): types, hint and wanted differ in length");
        return NULL;
    }
    PyObject *event_cls = args[6], *state = args[7];
    struct ln_select sel;
    if (ln_select_init(&sel, args[8], args[9], args[10]) < 0)
        return NULL;
    if (!PyType_Check(event_cls) ||
        !PyType_IsSubtype((PyTypeObject *)event_cls, &LannerEventRecordType)) {
        PyErr_SetString(PyExc_TypeError, "replay(): event_cls must be an EventRecord type");
        return NULL;
    }
    const uint8_t *buf = (const uint8_t *)PyBytes_AS_STRING(bufobj);
    Py_ssize_t n = PyBytes_GET_SIZE(bufobj);
    if (spos < 0 || spos > n) {
        PyErr_SetString(PyExc_ValueError, "replay(): pos out of range");
        return NULL;
    }
    unsigned long long skipped = 0, dropped = 0;
    size_t pos = (size_t)spos;
    struct lw_event ev;
    PyObject *found = NULL;
    for (;;) {
        enum lw_status st = lw_next(buf, (size_t)n, &pos, types, (size_t)ntypes, hint, &ev);
        if (st == LW_STOP)
            break;
        if (st == LW_UNKNOWN) {
            skipped++;
            continue;
        }
        num++;
        if (st != LW_EVENT || ln_skip(buf, &ev, &sel))
            continue;
        EventRecord *e = lanner_event_new((PyTypeObject *)event_cls, num, ev.ts, ev.tid,
                                          (int)ev.type, ev.nparams, bufobj, (Py_ssize_t)ev.lens,
                                          (Py_ssize_t)ev.end, ev.large, ev.cpu, ev.dump_flags,
                                          base + (long long)ev.block);
        if (e == NULL)
            return NULL;
        int to = ln_step(state, (PyObject *)e, buf, &ev, &sel);
        if (to < 0) {
            Py_DECREF(e);
            return NULL;
        }
        if (to == LN_RULES) {
            found = (PyObject *)e;
            break;
        }
        dropped += to == LN_FILTERED;
        Py_DECREF(e);
    }
    if (found == NULL) {
        found = Py_None;
        Py_INCREF(found);
    }
    return Py_BuildValue("(NnKKK)", found, (Py_ssize_t)pos, num, skipped, dropped);
}

static PyMethodDef walk_methods[] = {
    {"replay", (PyCFunction)(void (*)(void))replay, METH_FASTCALL, replay_doc},
    {"walk", (PyCFunction)(void (*)(void))walk, METH_FASTCALL, walk_doc},
    {NULL, NULL, 0, NULL},
};

int lanner_register_walk(PyObject *module)
{
    return PyModule_AddFunctions(module, walk_methods);
}
