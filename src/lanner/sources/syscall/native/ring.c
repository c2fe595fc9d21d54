/*
 * The probe's ring buffer for Python: take the committed records (ring_take), then walk
 * them as libsinsp's next() does (ring_next): each event decoded and applied to the state
 * engine in C, only the events some rule wants (and the few the container announcer
 * looks at) returned to Python. The per-event step is next.c's, shared with the capture
 * replay (walk_py.c).
 *
 * BPF ring buffer layout (kernel/bpf/ringbuf.c): a consumer page (u64 position, written
 * by the reader), a producer page (u64 position) followed by the data area mapped twice,
 * so a record that wraps reads as one piece. A record is an 8-byte header
 * {u32 len | BUSY | DISCARD, u32 page offset}, then len bytes, padded to 8. Lanner's
 * record: an 8-byte prefix (u16 cpu, 6 reserved bytes), then one scap event (26-byte
 * header: u64 ts, i64 tid, u32 len, u16 type, u32 nparams; u16 parameter lengths;
 * the parameters).
 */
#include "events.h"
#include "next.h"
#include "walk.h"

#include <string.h>

#define RB_BUSY (1u << 31)
#define RB_DISCARD (1u << 30)
#define RB_HDR 8u
#define LR_PREFIX 8u
#define LR_EVT_HDR 26u

PyDoc_STRVAR(ring_take_doc,
"ring_take(consumer, producer, page, size, max_bytes) -> (bytes, records)\n\n"
"Copy the committed records of the ring (mmaps of its consumer page and of its producer\n"
"page plus the twice-mapped data area of ``size`` bytes starting ``page`` bytes in), at\n"
"least one record and then up to about ``max_bytes``, and move the consumer position\n"
"past them; ``records`` counts those not discarded. (b'', 0) when nothing is committed.");

static PyObject *ring_take(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "ring_take() takes 5 arguments");
        return NULL;
    }
    Py_ssize_t page = PyLong_AsSsize_t(args[2]);
    Py_ssize_t size = PyLong_AsSsize_t(args[3]);
    Py_ssize_t max_bytes = PyLong_AsSsize_t(args[4]);
    if (PyErr_Occurred())
        return NULL;
    if (page < 16 || size < 16 || (size & (size - 1)) || max_bytes < 0) {
        PyErr_SetString(PyExc_ValueError, "ring_take(): bad page or ring size");
        return NULL;
    }
    Py_buffer cb, pb;
    if (PyObject_GetBuffer(args[0], &cb, PyBUF_WRITABLE) < 0)
        return NULL;
    if (PyObject_GetBuffer(args[1], &pb, PyBUF_SIMPLE) < 0) {
        PyBuffer_Release(&cb);
        return NULL;
    }
    PyObject *out = NULL;
    if (cb.len < 8 || pb.len < page + 2 * size) {
        PyErr_SetString(PyExc_ValueError, "ring_take(): the maps are too small");
        goto done;
    }
    uint64_t *cons_pos = (uint64_t *)cb.buf;
    const uint64_t *prod_pos = (const uint64_t *)pb.buf;
    uint64_t cons = __atomic_load_n(cons_pos, __ATOMIC_ACQUIRE);
    uint64_t prod = __atomic_load_n(prod_pos, __ATOMIC_ACQUIRE);
    uint64_t avail = prod - cons;
    if (avail > (uint64_t)size)
        avail = (uint64_t)size; /* cannot be; never read beyond the second mapping */
    const uint8_t *start = (const uint8_t *)pb.buf + page + (cons & (uint64_t)(size - 1));
    uint64_t off = 0, records = 0;
    while (off + RB_HDR <= avail && off < (uint64_t)max_bytes) {
        uint32_t hdr = __atomic_load_n((const uint32_t *)(start + off), __ATOMIC_ACQUIRE);
        if (hdr & RB_BUSY)
            break; /* being written: next time */
        uint64_t len = hdr & ~(RB_BUSY | RB_DISCARD);
        uint64_t next = off + ((len + RB_HDR + 7) & ~(uint64_t)7);
        if (next > avail)
            break;
        off = next;
        records += !(hdr & RB_DISCARD);
    }
    PyObject *data = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)off);
    if (data == NULL)
        goto done;
    if (off) {
        /* the copy (megabytes, fresh pages) without the GIL: the evaluating thread walks
         * the previous batch meanwhile; the maps stay exported (held) until the end */
        char *dst = PyBytes_AS_STRING(data);
        Py_BEGIN_ALLOW_THREADS
        memcpy(dst, start, (size_t)off);
        Py_END_ALLOW_THREADS
        __atomic_store_n(cons_pos, cons + off, __ATOMIC_RELEASE);
    }
    out = Py_BuildValue("(NK)", data, (unsigned long long)records);
done:
    PyBuffer_Release(&pb);
    PyBuffer_Release(&cb);
    return out;
}

/* The next sound event record of buf[*pos..n): 1 with *ev filled and *pos past it, 0 at
 * the end. Damaged records (lengths that overrun, an unknown type) are skipped and
 * counted in *bad; discarded ones are skipped. */
static int ring_record(const uint8_t *buf, size_t n, size_t *pos, size_t ntypes,
                       struct lw_event *ev, unsigned long long *bad)
{
    while (*pos + RB_HDR <= n) {
        size_t at = *pos;
        uint32_t hdr = lw_rd32(buf + at);
        size_t len = hdr & ~(RB_BUSY | RB_DISCARD);
        size_t next = at + ((len + RB_HDR + 7) & ~(size_t)7);
        if (next > n || next <= at) {
            (*bad)++;
            *pos = n;
            return 0;
        }
        *pos = next;
        if (hdr & (RB_DISCARD | RB_BUSY))
            continue;
        size_t rec = at + RB_HDR;
        if (len < LR_PREFIX + LR_EVT_HDR) {
            (*bad)++;
            continue;
        }
        size_t e = rec + LR_PREFIX;
        uint32_t elen = lw_rd32(buf + e + 16);
        uint16_t type = lw_rd16(buf + e + 20);
        uint32_t nparams = lw_rd32(buf + e + 22);
        if (elen < LR_EVT_HDR || elen > len - LR_PREFIX || type >= ntypes ||
            nparams > (elen - LR_EVT_HDR) / 2) {
            (*bad)++;
            continue;
        }
        size_t lens = e + LR_EVT_HDR;
        size_t total = LR_EVT_HDR + 2 * (size_t)nparams;
        for (uint32_t i = 0; i < nparams; i++)
            total += lw_rd16(buf + lens + 2 * (size_t)i);
        if (total > elen) {
            (*bad)++;
            continue;
        }
        ev->ts = lw_rd64(buf + e);
        ev->tid = (int64_t)lw_rd64(buf + e + 8);
        ev->type = type;
        ev->nparams = nparams;
        ev->lens = lens;
        ev->end = e + elen;
        ev->large = 0;
        ev->cpu = lw_rd16(buf + rec);
        ev->dump_flags = 0;
        ev->block = at;
        return 1;
    }
    return 0;
}

PyDoc_STRVAR(ring_next_doc,
"ring_next(buf, pos, num, event_cls, state, wanted, codes, filter, ts_offset, tail)\n"
"    -> (event, to, pos, num, filtered, bad)\n\n"
"libsinsp's next() over ring records taken by ring_take: from ``pos``, build each event\n"
"(an ``event_cls``, numbered after ``num``, ``ts_offset`` added to its boot-time\n"
"timestamp), apply it to ``state`` (a StateEngine, or None), and stop at the first one\n"
"to hand out: ``to`` 1 for the rules (its type marked in ``wanted``, generic ones by\n"
"their code in ``codes``, see reader.py _wanted_tables; and ``filter``, a\n"
"CandidateEvents or None, accepts it), 3 for the container announcer only (``wanted``\n"
"bit 8). At the end of ``buf`` ``event`` is None, or with ``tail`` the last event built\n"
"by this call (``to`` 3) unless it was handed out. When the state engine or the filter\n"
"raises, ``event`` is the exception and ``to`` -1 (the walk goes on at ``pos``).\n"
"``filtered`` counts events of wanted types the filter dropped, ``bad`` damaged records\n"
"skipped.");

static PyObject *ring_next(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 10) {
        PyErr_SetString(PyExc_TypeError, "ring_next() takes 10 arguments");
        return NULL;
    }
    PyObject *bufobj = args[0], *event_cls = args[3], *state = args[4];
    if (!PyBytes_Check(bufobj)) {
        PyErr_SetString(PyExc_TypeError, "ring_next(): buf must be bytes");
        return NULL;
    }
    Py_ssize_t spos = PyLong_AsSsize_t(args[1]);
    unsigned long long num = PyLong_AsUnsignedLongLong(args[2]);
    long long ts_offset = PyLong_AsLongLong(args[8]);
    int tail = PyObject_IsTrue(args[9]);
    if (PyErr_Occurred() || tail < 0)
        return NULL;
    if (!PyType_Check(event_cls) ||
        !PyType_IsSubtype((PyTypeObject *)event_cls, &LannerEventRecordType)) {
        PyErr_SetString(PyExc_TypeError, "ring_next(): event_cls must be an EventRecord type");
        return NULL;
    }
    struct ln_select sel;
    if (ln_select_init(&sel, args[5], args[6], args[7]) < 0)
        return NULL;
    const uint8_t *buf = (const uint8_t *)PyBytes_AS_STRING(bufobj);
    size_t n = (size_t)PyBytes_GET_SIZE(bufobj);
    if (spos < 0 || (size_t)spos > n) {
        PyErr_SetString(PyExc_ValueError, "ring_next(): pos out of range");
        return NULL;
    }
    if (state == Py_None)
        state = NULL;
    size_t pos = (size_t)spos;
    unsigned long long filtered = 0, bad = 0;
    struct lw_event ev;
    PyObject *found = NULL, *last = NULL;
    int to = 0;
    /* the previous event, when nothing but this walk holds it (the state engine and the
     * filter kept no reference), becomes the next one: no allocation per dropped event */
    int recycle = Py_TYPE(bufobj) == &PyBytes_Type &&
                  lanner_event_recyclable((PyTypeObject *)event_cls);
    while (ring_record(buf, n, &pos, sel.ntypes, &ev, &bad)) {
        num++;
        EventRecord *e;
        unsigned long long ts = ev.ts + (unsigned long long)ts_offset;
        if (recycle && last != NULL && Py_REFCNT(last) == 1 &&
            Py_TYPE(last) == (PyTypeObject *)event_cls) {
            e = (EventRecord *)last;
            lanner_event_renew(e, num, ts, ev.tid, (int)ev.type, ev.nparams, bufobj,
                               (Py_ssize_t)ev.lens, (Py_ssize_t)ev.end, 0, ev.cpu, 0, 0);
        } else {
            e = lanner_event_new((PyTypeObject *)event_cls, num, ts, ev.tid, (int)ev.type,
                                 ev.nparams, bufobj, (Py_ssize_t)ev.lens, (Py_ssize_t)ev.end,
                                 0, ev.cpu, 0, 0);
            if (e == NULL) {
                Py_XDECREF(last);
                return NULL;
            }
            Py_XDECREF(last);
        }
        last = NULL;
        int r = ln_step(state, (PyObject *)e, buf, &ev, &sel);
        if (r < 0) {
            PyObject *type, *value, *tb;
            PyErr_Fetch(&type, &value, &tb);
            PyErr_NormalizeException(&type, &value, &tb);
            Py_XDECREF(type);
            Py_XDECREF(tb);
            Py_DECREF(e);
            found = value != NULL ? value : Py_NewRef(Py_None);
            to = -1;
            break;
        }
        if (r == LN_FILTERED)
            filtered++;
        if (r == LN_RULES || r == LN_INSERTER) {
            found = (PyObject *)e;
            to = r;
            break;
        }
        last = (PyObject *)e;
    }
    if (found == NULL) {
        if (tail && last != NULL) {
            found = last;
            last = NULL;
            to = LN_INSERTER;
        } else {
            found = Py_NewRef(Py_None);
        }
    }
    Py_XDECREF(last);
    return Py_BuildValue("(NinKKK)", found, to, (Py_ssize_t)pos, num, filtered, bad);
}

static PyMethodDef ring_methods[] = {
    {"ring_take", (PyCFunction)(void (*)(void))ring_take, METH_FASTCALL, ring_take_doc},
    {"ring_next", (PyCFunction)(void (*)(void))ring_next, METH_FASTCALL, ring_next_doc},
    {NULL, NULL, 0, NULL},
};

int lanner_register_ring(PyObject *module)
{
    return PyModule_AddFunctions(module, ring_methods);
}
