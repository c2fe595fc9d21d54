/*
 * The hot loop of the capture reader, in C: walk the event blocks of a chunk.
 *
 * One function, walk(), with one narrow boundary: bytes in, Event objects out. It does
 * exactly what the Python loop in reader.py does on the success path of an event block:
 * check the block's length and trailer, read the event header, reject event types nobody
 * asked for from the header alone (still numbered), infer the parameter count of v1
 * events from the last count seen for the type, and build an Event. Anything else - a
 * metadata block, a damaged block, a v1 event whose count must be searched for, an
 * incomplete block at the end of the chunk - makes it stop and return, and the Python
 * loop handles that one block with its own checks and error messages, then calls walk()
 * again. So the C path never decides an error and never sees a block kind the Python
 * path does not also handle.
 *
 * Block and event layouts: ../shared/reference (libscap's scap_savefile.h); the block type
 * numbers are those of blocks.py (the tests check both agree).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the capture format is little-endian and so is every host this is built for"
#endif

#define MAX_BLOCK (1u << 30)
#define MAX_SMALL_EVENT_BLOCK ((1u << 16) + 8)

/* type-table flags, one byte per event type id (see reader.py _walk_types) */
#define T_KEEP 1u
#define T_LARGE 2u

static inline uint16_t rd16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static inline uint32_t rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static inline uint64_t rd64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

/* Event block types: has the header a param count, does the body start with dump flags,
 * may it exceed 64 KiB. Returns 0 for a block that is not an event block. */
static int event_block_kind(uint32_t btype, int *has_nparams, int *has_flags, int *large_block)
{
    *large_block = 0;
    switch (btype) {
    case 0x204: case 0x8010ABCDu: *has_nparams = 0; *has_flags = 0; return 1;  /* EV, EV_INT */
    case 0x208: *has_nparams = 0; *has_flags = 1; return 1;                     /* EVF */
    case 0x216: *has_nparams = 1; *has_flags = 0; return 1;                     /* EV_V2 */
    case 0x221: *has_nparams = 1; *has_flags = 0; *large_block = 1; return 1;   /* EV_V2_LARGE */
    case 0x217: *has_nparams = 1; *has_flags = 1; return 1;                     /* EVF_V2 */
    case 0x222: *has_nparams = 1; *has_flags = 1; *large_block = 1; return 1;   /* EVF_V2_LARGE */
    default: return 0;
    }
}

/* Append Event(num, ts, tid, etype, nparams, buf, off, end, large, cpu, flags, offset). */
static int emit(PyObject *out, PyObject *event_cls, PyObject *bufobj, unsigned long long num,
                uint64_t ts, int64_t tid, unsigned etype, unsigned nparams, Py_ssize_t off,
                Py_ssize_t end, int large, unsigned cpu, uint32_t flags, long long offset)
{
    PyObject *args[12] = {
        PyLong_FromUnsignedLongLong(num), PyLong_FromUnsignedLongLong(ts),
        PyLong_FromLongLong(tid), PyLong_FromUnsignedLong(etype),
        PyLong_FromUnsignedLong(nparams), bufobj, PyLong_FromSsize_t(off),
        PyLong_FromSsize_t(end), PyBool_FromLong(large), PyLong_FromUnsignedLong(cpu),
        PyLong_FromUnsignedLong(flags), PyLong_FromLongLong(offset),
    };
    int ok = 1;
    for (int i = 0; i < 12; i++)
        if (args[i] == NULL) ok = 0;
    PyObject *ev = NULL;
    if (ok)
        ev = PyObject_Vectorcall(event_cls, args, 12, NULL);
    for (int i = 0; i < 12; i++)
        if (i != 5) Py_XDECREF(args[i]);
    if (ev == NULL)
        return -1;
    int rc = PyList_Append(out, ev);
    Py_DECREF(ev);
    return rc;
}

PyDoc_STRVAR(walk_doc,
"walk(buf, pos, base, types, hint, num, event_cls) -> (events, pos, num, skipped)\n\n"
"Walk the event blocks of ``buf`` from ``pos`` and build an ``event_cls`` for each kept\n"
"event. ``base`` is the stream offset of buf[0]; ``types`` has one byte per event type\n"
"id (1: keep, 2: 32-bit parameter lengths); ``hint`` (bytearray, updated) the v1\n"
"parameter count per type; ``num`` the last event number. Stops at the first block it\n"
"does not handle (or the end of the chunk) and returns its position; ``skipped`` counts\n"
"events of type ids beyond the table.");

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
    Py_ssize_t pos = PyLong_AsSsize_t(args[1]);
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
    if (pos < 0 || pos > n) {
        PyErr_SetString(PyExc_ValueError, "walk(): pos out of range");
        return NULL;
    }
    PyObject *out = PyList_New(0);
    if (out == NULL)
        return NULL;
    unsigned long long skipped = 0;

    while (pos + 8 <= n) {
        uint32_t btype = rd32(buf + pos), blen = rd32(buf + pos + 4);
        int has_nparams, has_flags, large_block;
        if (blen < 12 || blen > MAX_BLOCK || (Py_ssize_t)blen > n - pos)
            break;  /* damaged or incomplete: the Python loop decides */
        if (!event_block_kind(btype, &has_nparams, &has_flags, &large_block))
            break;  /* metadata block */
        Py_ssize_t bend = pos + blen;
        if (rd32(buf + bend - 4) != blen)
            break;
        if (blen > MAX_SMALL_EVENT_BLOCK && !large_block)
            break;
        Py_ssize_t start = pos + 8, end = bend - 4;
        Py_ssize_t p = start + 2;
        uint32_t dump_flags = 0;
        if (has_flags) {
            if (p + 4 > end)
                break;
            dump_flags = rd32(buf + p);
            p += 4;
        }
        Py_ssize_t hlen = has_nparams ? 26 : 22;
        if (p + hlen > end)
            break;
        uint64_t ts = rd64(buf + p);
        int64_t tid = (int64_t)rd64(buf + p + 8);
        uint32_t elen = rd32(buf + p + 16);
        unsigned etype = rd16(buf + p + 20);
        Py_ssize_t evend = p + elen;
        if (elen < (uint32_t)hlen || evend > end)
            break;
        if ((Py_ssize_t)etype >= ntypes) {
            skipped++;
            pos = bend;
            continue;
        }
        uint8_t t = types[etype];
        if (!(t & T_KEEP)) {
            num++;  /* rejected from the header alone, still numbered */
            pos = bend;
            continue;
        }
        int large = (t & T_LARGE) != 0;
        unsigned nparams;
        Py_ssize_t lens = p + hlen;
        if (has_nparams) {
            nparams = rd32(buf + p + 22);
            if (lens + (Py_ssize_t)nparams * (large ? 4 : 2) > evend)
                break;
        } else {
            /* v1: the last count seen for this type fits almost always */
            unsigned n0 = hint[etype];
            Py_ssize_t vals = lens + 2 * (Py_ssize_t)n0;
            if (vals > evend)
                break;
            Py_ssize_t total = vals;
            for (unsigned i = 0; i < n0; i++)
                total += rd16(buf + lens + 2 * i);
            if (total != evend)
                break;  /* the Python loop searches the count */
            nparams = n0;
        }
        num++;
        if (emit(out, event_cls, bufobj, num, ts, tid, etype, nparams, lens, evend, large,
                 rd16(buf + start), dump_flags, base + pos) < 0) {
            Py_DECREF(out);
            return NULL;
        }
        pos = bend;
    }
    return Py_BuildValue("(NnKK)", out, pos, num, skipped);
}

static PyMethodDef methods[] = {
    {"walk", (PyCFunction)(void (*)(void))walk, METH_FASTCALL, walk_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_blockwalk",
    "The capture reader's event-block walk in C (see reader.py).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__blockwalk(void) { return PyModule_Create(&module); }
