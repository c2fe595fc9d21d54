/* CandidateEvents: the candidate conditions evaluated on events (candidates.h), with the
 * cheap fields read in C from the event record and its thread and fd records.
 *
 * Each field is read natively where its value is plain (a thread's comm, an fd's name
 * and type, the open flags in the event's bytes...) and otherwise through the field's
 * Python getter (the fallback given per field id), so every value is exactly the one the
 * rules see; candidate_fields.py says which are native, and a test compares both on every
 * fixture capture. The event's key is its type, or for generic events the Python
 * ``event_key``.
 */
#include "native.h"
#include "candidates.h"
#include "events.h"
#include "records.h"

/* per event type, bit flags (tables given by candidate_fields.py) */
#define CE_HAS_FD 1u   /* the event uses or creates an fd (fd.* fields) */
#define CE_EXIT 2u     /* evt.dir is "<" */
#define CE_CONNECT 4u  /* fd.name may be the creator's name: read it through Python */
#define CE_GENERIC 8u  /* the key comes from the syscall code: event_key in Python */
#define CE_OPEN_EXIT 16u /* an open exit: evt.is_open_* from its flags parameter (index 255:
                          * none of PT_FLAGS32, read through Python) */
#define CE_RAW_PATH 32u  /* fd.nameraw is the path parameter (open, openat, openat2, creat) */
#define CE_NAME_BEFORE_FLAGS 64u /* ... the one right before the flags parameter */

typedef struct {
    PyObject_HEAD
    PyObject *filter;    /* the CandidateFilter */
    const struct lc_program *prog;
    PyObject *types;     /* bytes: flags per event type */
    PyObject *flags_idx; /* bytes: the flags parameter's index per event type */
    PyObject *typechars; /* bytes: fd.typechar per scap fd type */
    PyObject *null_typechars; /* bytes: fd.typechar per event type of events without an fd */
    PyObject *fallbacks; /* tuple: per field id, the Python getter */
    PyObject *l4names;   /* tuple: fd.l4proto per l4 protocol number (str, None: "<NA>") */
    PyObject *key_of;    /* event -> key, for generic events */
    unsigned long long native_reads, python_reads;
} CandidateEventsObject;

struct ev_ctx {
    CandidateEventsObject *self;
    EventRecord *ev;
    PyObject *keep; /* values that must live until the evaluation ends (NULL: none yet) */
    struct lc_store store; /* the items of several-valued fields, as long */
    int failed;
    signed char got[LC_F_COUNT]; /* per field: -1 not read yet, else what ev_read returned */
    struct lc_value val[LC_F_COUNT];
};

/* Keep ``v`` alive until the evaluation ends (c->keep is made on first use); -1 with an
 * exception when out of memory. */
static int keep_ref(struct ev_ctx *c, PyObject *v)
{
    if (c->keep == NULL && (c->keep = PyList_New(0)) == NULL)
        return -1;
    return PyList_Append(c->keep, v);
}

static int several_values(struct ev_ctx *c, PyObject *v, struct lc_value *out);

static int keep_value(struct ev_ctx *c, PyObject *v, struct lc_value *out)
{
    /* v: a new reference; None: no value */
    if (v == Py_None) {
        Py_DECREF(v);
        return 0;
    }
    if (PyLong_Check(v)) {
        out->is_int = 1;
        out->i = PyLong_AsLongLong(v);
        Py_DECREF(v);
        if (out->i == -1 && PyErr_Occurred()) {
            PyErr_Clear();
            return 2; /* beyond 64 bits: unknown, keep the event */
        }
        return 1;
    }
    if (PyUnicode_Check(v)) {
        PyObject *b = PyUnicode_AsEncodedString(v, "utf-8", "surrogateescape");
        Py_DECREF(v);
        if (b == NULL || keep_ref(c, b) < 0) {
            Py_XDECREF(b);
            c->failed = 1;
            return 0;
        }
        Py_DECREF(b);
        out->is_int = 0;
        out->s = PyBytes_AS_STRING(b);
        out->len = (size_t)PyBytes_GET_SIZE(b);
        return 1;
    }
    if (PyTuple_Check(v)) /* an "any of" field's values (fields/anyof.py: a tuple) */
        return several_values(c, v, out);
    Py_DECREF(v);
    return 2; /* another kind of value: unknown */
}

/* item k of a several-valued field's tuple, as keep_value reads it (a nested tuple, None,
 * another kind: unknown) */
struct tuple_items {
    struct ev_ctx *c;
    PyObject *v;
};

static int tuple_item(void *vt, size_t k, struct lc_value *out)
{
    struct tuple_items *t = vt;
    PyObject *item = PyTuple_GET_ITEM(t->v, (Py_ssize_t)k);
    if (PyTuple_Check(item))
        return 2;
    Py_INCREF(item);
    if (keep_value(t->c, item, out) == 1)
        return 1;
    return t->c->failed ? 0 : 2;
}

/* keep_value for a tuple of plain values: LC_SEVERAL with out->items (kept alive with the
 * evaluation); 2 (unknown) when an item is None, another kind, or there are too many. */
static int several_values(struct ev_ctx *c, PyObject *v, struct lc_value *out)
{
    struct tuple_items t = {c, v};
    int r = lc_several(&c->store, (size_t)PyTuple_GET_SIZE(v), tuple_item, &t, out);
    Py_DECREF(v);
    if (r < 0) {
        PyErr_NoMemory();
        c->failed = 1;
        return 0;
    }
    return r;
}

/* A string attribute of a record: 1 with *out, 0 when None/NULL, 2 otherwise. */
static int str_slot(struct ev_ctx *c, PyObject *v, struct lc_value *out)
{
    if (v == NULL || v == Py_None)
        return 0;
    if (!PyUnicode_Check(v))
        return 2;
    Py_ssize_t n;
    const char *s = PyUnicode_AsUTF8AndSize(v, &n);
    if (s == NULL) { /* lone surrogates: encode as the Python fallback would */
        PyErr_Clear();
        Py_INCREF(v);
        return keep_value(c, v, out);
    }
    out->is_int = 0;
    out->s = s;
    out->len = (size_t)n;
    return 1;
}

static int python_value(struct ev_ctx *c, uint32_t field, struct lc_value *out)
{
    PyObject *g = PyTuple_GET_ITEM(c->self->fallbacks, field);
    if (g == Py_None)
        return 2;
    c->self->python_reads++;
    PyObject *v = PyObject_CallOneArg(g, (PyObject *)c->ev);
    if (v == NULL) { /* the rules would not match on an error; keep the event anyway */
        PyErr_Clear();
        return 2;
    }
    return keep_value(c, v, out);
}

/* The flags parameter of an open exit read from the event's bytes, as Event.int_value
 * reads a PT_FLAGS32 (the first four bytes); -1 when anything is unusual. */
static long long open_flags(EventRecord *ev, unsigned idx)
{
    if (idx >= ev->nparams || (ev->o[ER_vals] != NULL && ev->o[ER_vals] != Py_None))
        return -1;
    PyObject *buf = ev->o[ER_buf];
    if (buf == NULL || !PyBytes_Check(buf))
        return -1;
    const unsigned char *p = (const unsigned char *)PyBytes_AS_STRING(buf);
    Py_ssize_t size = PyBytes_GET_SIZE(buf);
    Py_ssize_t width = ev->large ? 4 : 2;
    if (ev->off < 0 || ev->end > size || ev->off > ev->end ||
        (Py_ssize_t)ev->nparams > (ev->end - ev->off) / width)
        return -1;
    Py_ssize_t pos = ev->off + width * (Py_ssize_t)ev->nparams;
    for (unsigned i = 0; i <= idx; i++) {
        Py_ssize_t len;
        if (ev->large) {
            uint32_t v;
            memcpy(&v, p + ev->off + 4 * i, 4);
            len = (Py_ssize_t)v;
        } else {
            uint16_t v;
            memcpy(&v, p + ev->off + 2 * i, 2);
            len = (Py_ssize_t)v;
        }
        if (len > ev->end - pos)
            return -1; /* clipped by the event's end: let Python decide */
        if (i == idx) {
            if (len < 4)
                return -1;
            uint32_t f;
            memcpy(&f, p + pos, 4);
            return (long long)f;
        }
        pos += len;
    }
    return -1;
}

/* fd.typechar of an fd record ('f' only for files, 'd' only for directories) */
static char fd_typechar(CandidateEventsObject *self, FdRecord *fd)
{
    Py_ssize_t n = PyBytes_GET_SIZE(self->typechars);
    return (fd->type >= 0 && fd->type < n) ? PyBytes_AS_STRING(self->typechars)[fd->type] : 'o';
}

/* fd.directory / fd.filename of a file's name, as fields/fd.py cuts it at the last '/'
 * (never inside a UTF-8 sequence) */
static void path_part(struct lc_value *v, int directory)
{
    const char *s = v->s;
    size_t len = v->len, pos = len;
    while (pos > 0 && s[pos - 1] != '/')
        pos--;
    if (pos == 0) { /* no '/': both fields are "/" */
        v->s = "/";
        v->len = 1;
        return;
    }
    pos--; /* the index of the last '/' */
    if (directory) {
        if (pos == 0) {
            v->s = "/";
            v->len = 1;
        } else if (pos < len - 1) {
            v->len = pos;
        }
        return;
    }
    if (pos < len - 1) {
        v->s = s + pos + 1;
        v->len = len - pos - 1;
    }
}

/* proc.pname: the comm of the thread whose tid is the thread's ptid in its table, as
 * ThreadTable.parent finds it; 2 when the table is not the expected kind. */
static int parent_comm(struct ev_ctx *c, ThreadRecord *t, struct lc_value *out)
{
    PyObject *table = t->o[TR_table];
    if (table == NULL || table == Py_None)
        return 0;
    PyObject *threads = PyObject_GetAttrString(table, "threads");
    if (threads == NULL) {
        PyErr_Clear();
        return 2;
    }
    if (!PyDict_CheckExact(threads)) {
        Py_DECREF(threads);
        return 2;
    }
    PyObject *key = PyLong_FromLongLong(t->ptid);
    if (key == NULL) {
        Py_DECREF(threads);
        PyErr_Clear();
        return 2;
    }
    PyObject *p = PyDict_GetItemWithError(threads, key); /* borrowed, kept by the table */
    Py_DECREF(key);
    Py_DECREF(threads);
    if (p == NULL) {
        if (PyErr_Occurred()) {
            PyErr_Clear();
            return 2;
        }
        return 0;
    }
    if (p == (PyObject *)t)
        return 0;
    if (!PyObject_TypeCheck(p, &LannerThreadRecordType))
        return 2;
    return str_slot(c, ((ThreadRecord *)p)->o[TR_comm], out);
}

static int ev_read(struct ev_ctx *c, uint32_t field, struct lc_value *out)
{
    if (c->failed)
        return 2;
    CandidateEventsObject *self = c->self;
    EventRecord *ev = c->ev;
    int type = ev->type;
    Py_ssize_t ntypes = PyBytes_GET_SIZE(self->types);
    if (type < 0 || type >= ntypes)
        return python_value(c, field, out);
    unsigned tf = (unsigned char)PyBytes_AS_STRING(self->types)[type];
    PyObject *th = ev->o[ER_thread];
    int has_thread = th != NULL && th != Py_None &&
                     PyObject_TypeCheck(th, &LannerThreadRecordType);
    if (th != NULL && th != Py_None && !has_thread)
        return python_value(c, field, out);
    ThreadRecord *t = has_thread ? (ThreadRecord *)th : NULL;
    PyObject *fo = ev->o[ER_fdinfo];
    if (fo != NULL && fo != Py_None && !PyObject_TypeCheck(fo, &LannerFdRecordType))
        return python_value(c, field, out);
    FdRecord *fd = (fo != NULL && fo != Py_None) ? (FdRecord *)fo : NULL;
    int r = -1;
    switch (field) {
    case LC_F_EVT_DIR:
        out->is_int = 0;
        out->s = (tf & CE_EXIT) ? "<" : ">";
        out->len = 1;
        r = 1;
        break;
    case LC_F_EVT_IS_OPEN_READ:
    case LC_F_EVT_IS_OPEN_WRITE: {
        if (!(tf & CE_OPEN_EXIT)) {
            out->is_int = 1;
            out->i = 0;
            r = 1;
            break;
        }
        unsigned idx = (unsigned char)PyBytes_AS_STRING(self->flags_idx)[type];
        long long f = idx == 255 ? -1 : open_flags(ev, idx);
        if (f < 0)
            break;
        out->is_int = 1;
        out->i = (f & (field == LC_F_EVT_IS_OPEN_READ ? 1 : 2)) != 0;
        r = 1;
        break;
    }
    case LC_F_PROC_NAME:
    case LC_F_PROC_EXE:
    case LC_F_PROC_EXEPATH:
    case LC_F_CONTAINER_ID:
        if (t == NULL) {
            r = 0;
            break;
        }
        r = str_slot(c, t->o[field == LC_F_PROC_NAME      ? TR_comm
                            : field == LC_F_PROC_EXE     ? TR_exe
                            : field == LC_F_PROC_EXEPATH ? TR_exepath
                                                         : TR_container_id],
                     out);
        break;
    case LC_F_FD_NUM:
        if (t == NULL || !(tf & CE_HAS_FD)) {
            r = 0;
            break;
        }
        if (ev->o[ER_fd] == NULL || ev->o[ER_fd] == Py_None) {
            r = 0;
            break;
        }
        if (!PyLong_Check(ev->o[ER_fd]))
            break;
        out->is_int = 1;
        out->i = PyLong_AsLongLong(ev->o[ER_fd]);
        if (out->i == -1 && PyErr_Occurred()) {
            PyErr_Clear();
            break;
        }
        r = 1;
        break;
    case LC_F_FD_NAME:
        if (t == NULL || !(tf & CE_HAS_FD)) {
            r = 0;
            break;
        }
        if (fd == NULL && !(tf & CE_EXIT)) {
            r = 0; /* only a failed exit names the fd it should have created */
            break;
        }
        if (fd == NULL || (tf & CE_CONNECT))
            break;
        r = str_slot(c, fd->o[FR_name], out);
        break;
    case LC_F_FD_TYPECHAR: {
        if (t == NULL || !(tf & CE_HAS_FD)) {
            r = 0;
            break;
        }
        if (fd == NULL) { /* the type's default, as fields/fd.py's _NULL_TYPECHAR */
            out->is_int = 0;
            out->s = &PyBytes_AS_STRING(self->null_typechars)[type];
            out->len = 1;
            r = 1;
            break;
        }
        Py_ssize_t n = PyBytes_GET_SIZE(self->typechars);
        const char *chars = PyBytes_AS_STRING(self->typechars);
        out->is_int = 0;
        out->s = (fd->type >= 0 && fd->type < n) ? &chars[fd->type] : "o";
        out->len = 1;
        (void)n;
        r = 1;
        break;
    }
    case LC_F_FD_DIRECTORY:
    case LC_F_FD_FILENAME: {
        if (field == LC_F_FD_DIRECTORY && (t == NULL || !(tf & CE_HAS_FD))) {
            r = 0;
            break;
        }
        if (fd == NULL) {
            /* fd.filename needs an fd; fd.directory may use the name of the fd a failed
             * exit should have created */
            if (field == LC_F_FD_FILENAME || !(tf & CE_EXIT))
                r = 0;
            break;
        }
        char kind = fd_typechar(self, fd);
        if (field == LC_F_FD_DIRECTORY && kind == 'd') {
            r = str_slot(c, fd->o[FR_name], out);
            break;
        }
        if (kind != 'f') {
            r = 0;
            break;
        }
        r = str_slot(c, fd->o[FR_name], out);
        if (r == 1)
            path_part(out, field == LC_F_FD_DIRECTORY);
        break;
    }
    case LC_F_FD_L4PROTO: {
        if (fd == NULL || t == NULL) {
            r = 0;
            break;
        }
        PyObject *name = NULL;
        if (fd->l4proto >= 0 && fd->l4proto < PyTuple_GET_SIZE(self->l4names))
            name = PyTuple_GET_ITEM(self->l4names, fd->l4proto);
        if (name == NULL || name == Py_None) {
            out->is_int = 0;
            out->s = "<NA>";
            out->len = 4;
            r = 1;
        } else {
            r = str_slot(c, name, out);
        }
        break;
    }
    case LC_F_USER_UID: {
        if (t == NULL) {
            r = 0;
            break;
        }
        PyObject *uid = t->o[TR_uid];
        if (uid == NULL || uid == Py_None) {
            r = 0;
            break;
        }
        if (!PyLong_CheckExact(uid))
            break;
        out->is_int = 1;
        out->i = PyLong_AsLongLong(uid);
        if (out->i == -1 && PyErr_Occurred()) {
            PyErr_Clear();
            break;
        }
        r = 1;
        break;
    }
    case LC_F_FD_NAMERAW: {
        /* an open's path as passed; other events: fd.name (fields/fd.py _nameraw) */
        if (!(tf & CE_RAW_PATH) || t == NULL)
            return ev_read(c, LC_F_FD_NAME, out);
        unsigned idx = (unsigned char)PyBytes_AS_STRING(self->flags_idx)[type];
        if (!(tf & CE_NAME_BEFORE_FLAGS) || idx == 255 || idx == 0)
            break;
        const char *p;
        Py_ssize_t plen;
        if (!lanner_event_span(ev, (Py_ssize_t)idx - 1, &p, &plen)) {
            PyObject *raw = lanner_event_raw(ev, (Py_ssize_t)idx - 1);
            if (raw == NULL) {
                PyErr_Clear();
                break;
            }
            if (!PyBytes_Check(raw) || keep_ref(c, raw) < 0) {
                PyErr_Clear();
                Py_DECREF(raw);
                break;
            }
            Py_DECREF(raw); /* kept alive by c->keep */
            p = PyBytes_AS_STRING(raw);
            plen = PyBytes_GET_SIZE(raw);
        }
        size_t n = strnlen(p, (size_t)plen);
        int ascii = 1;
        for (size_t i = 0; i < n; i++)
            ascii &= (unsigned char)p[i] < 0x80;
        if (!ascii)
            break; /* decoded by Python: its text, exactly */
        out->is_int = 0;
        out->s = p;
        out->len = n;
        r = 1;
        break;
    }
    case LC_F_PROC_PNAME:
        if (t == NULL) {
            r = 0;
            break;
        }
        r = parent_comm(c, t, out);
        break;
    default:
        break;
    }
    if (r < 0 || r == 2)
        return python_value(c, field, out);
    self->native_reads++;
    return r;
}

/* ev_read, each field read once per event */
static int ev_get(void *vctx, uint32_t field, struct lc_value *out)
{
    struct ev_ctx *c = vctx;
    if (field >= LC_F_COUNT)
        return 2;
    if (c->got[field] < 0) {
        c->got[field] = (signed char)ev_read(c, field, &c->val[field]);
    }
    if (c->got[field] == 1 || c->got[field] == LC_SEVERAL)
        *out = c->val[field];
    return c->got[field];
}

static void ctx_init(struct ev_ctx *c, CandidateEventsObject *self, PyObject *event)
{
    c->self = self;
    c->ev = (EventRecord *)event;
    c->keep = NULL; /* made by keep_ref when a value needs it */
    c->store.head = NULL;
    c->failed = 0;
    memset(c->got, -1, sizeof c->got); /* val[f] is read only once got[f] is set */
}

/* Release what the evaluation kept alive (its values are no longer read). */
static void ctx_done(struct ev_ctx *c)
{
    Py_XDECREF(c->keep);
    lc_store_free(&c->store);
}

static int ce_key(CandidateEventsObject *self, PyObject *event, uint32_t *key)
{
    EventRecord *ev = (EventRecord *)event;
    Py_ssize_t ntypes = PyBytes_GET_SIZE(self->types);
    if (ev->type >= 0 && ev->type < ntypes &&
        !((unsigned char)PyBytes_AS_STRING(self->types)[ev->type] & CE_GENERIC)) {
        *key = (uint32_t)ev->type;
        return 0;
    }
    PyObject *k = PyObject_CallOneArg(self->key_of, event);
    if (k == NULL)
        return -1;
    unsigned long v = PyLong_AsUnsignedLong(k);
    Py_DECREF(k);
    if (PyErr_Occurred())
        return -1;
    *key = v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
    return 0;
}

static PyTypeObject CandidateEventsType;

int lanner_candidates_accept(PyObject *filter, PyObject *event)
{
    if (!PyObject_TypeCheck(filter, &CandidateEventsType)) {
        PyErr_SetString(PyExc_TypeError, "expected a CandidateEvents");
        return -1;
    }
    if (!PyObject_TypeCheck(event, &LannerEventRecordType))
        return 1;
    CandidateEventsObject *self = (CandidateEventsObject *)filter;
    uint32_t key;
    if (ce_key(self, event, &key) < 0)
        return -1;
    struct ev_ctx c;
    ctx_init(&c, self, event);
    int r = lc_eval(self->prog, key, ev_get, &c);
    ctx_done(&c);
    return c.failed ? -1 : r;
}

PyDoc_STRVAR(ce_accepts_doc,
"accepts(event) -> bool\n\nWhether some active rule may match the event (False: drop it);\n"
"True for anything that is not an event record.");

static PyObject *ce_accepts(CandidateEventsObject *self, PyObject *event)
{
    /* not a syscall event record (a JSON-lines event...): kept */
    int r = lanner_candidates_accept((PyObject *)self, event);
    if (r < 0)
        return NULL;
    return PyBool_FromLong(r);
}

PyDoc_STRVAR(ce_value_doc,
"value(event, field_id) -> (how, value)\n\nOne field as the filter reads it: how is\n"
"'native', 'python' or 'unknown'; value is an int, bytes, a tuple of those (a field with\n"
"several values) or None (no value). For tests.");

static PyObject *ce_value(CandidateEventsObject *self, PyObject *args)
{
    PyObject *event;
    unsigned int field;
    if (!PyArg_ParseTuple(args, "O!I", &LannerEventRecordType, &event, &field))
        return NULL;
    if (field >= LC_F_COUNT) {
        PyErr_SetString(PyExc_ValueError, "no such field id");
        return NULL;
    }
    struct ev_ctx c;
    ctx_init(&c, self, event);
    unsigned long long before = self->python_reads;
    struct lc_value v = {0, 0, NULL, 0, NULL, 0};
    int r = ev_get(&c, field, &v);
    const char *how = r == 2 ? "unknown" : self->python_reads != before ? "python" : "native";
    PyObject *val;
    if (r == LC_SEVERAL) {
        val = PyTuple_New((Py_ssize_t)v.nitems);
        for (uint32_t k = 0; val != NULL && k < v.nitems; k++) {
            const struct lc_value *it = &v.items[k];
            PyObject *x = it->is_int ? PyLong_FromLongLong(it->i)
                                     : PyBytes_FromStringAndSize(it->s, (Py_ssize_t)it->len);
            if (x == NULL)
                Py_CLEAR(val);
            else
                PyTuple_SET_ITEM(val, (Py_ssize_t)k, x);
        }
    } else if (r != 1)
        val = Py_NewRef(Py_None);
    else if (v.is_int)
        val = PyLong_FromLongLong(v.i);
    else
        val = PyBytes_FromStringAndSize(v.s, (Py_ssize_t)v.len);
    ctx_done(&c);
    if (val == NULL || c.failed) {
        Py_XDECREF(val);
        return NULL;
    }
    return Py_BuildValue("(sN)", how, val);
}

static int ce_init(CandidateEventsObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"filter", "types", "flags_index", "typechars", "null_typechars",
                             "l4names", "fallbacks", "key_of", NULL};
    PyObject *filter, *types, *flags_idx, *typechars, *null_typechars, *l4names, *fallbacks,
        *key_of;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO!O!O!O!O!O!O", kwlist, &filter,
                                     &PyBytes_Type, &types, &PyBytes_Type, &flags_idx,
                                     &PyBytes_Type, &typechars, &PyBytes_Type, &null_typechars,
                                     &PyTuple_Type, &l4names, &PyTuple_Type, &fallbacks,
                                     &key_of))
        return -1;
    const struct lc_program *prog = lanner_candidate_program(filter);
    if (prog == NULL)
        return -1;
    if (PyBytes_GET_SIZE(flags_idx) != PyBytes_GET_SIZE(types) ||
        PyBytes_GET_SIZE(null_typechars) != PyBytes_GET_SIZE(types) ||
        PyTuple_GET_SIZE(fallbacks) != LC_F_COUNT || !PyCallable_Check(key_of)) {
        PyErr_SetString(PyExc_ValueError,
                         "flags_index and null_typechars must match types; one fallback per field id; key_of "
                         "callable");
        return -1;
    }
    Py_INCREF(filter);
    Py_INCREF(types);
    Py_INCREF(flags_idx);
    Py_INCREF(typechars);
    Py_INCREF(null_typechars);
    Py_INCREF(l4names);
    Py_INCREF(fallbacks);
    Py_INCREF(key_of);
    Py_XSETREF(self->filter, filter);
    Py_XSETREF(self->types, types);
    Py_XSETREF(self->flags_idx, flags_idx);
    Py_XSETREF(self->typechars, typechars);
    Py_XSETREF(self->null_typechars, null_typechars);
    Py_XSETREF(self->l4names, l4names);
    Py_XSETREF(self->fallbacks, fallbacks);
    Py_XSETREF(self->key_of, key_of);
    self->prog = prog;
    return 0;
}

static int ce_traverse(CandidateEventsObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->filter);
    Py_VISIT(self->fallbacks);
    Py_VISIT(self->key_of);
    return 0;
}

static int ce_clear(CandidateEventsObject *self)
{
    Py_CLEAR(self->filter);
    Py_CLEAR(self->types);
    Py_CLEAR(self->flags_idx);
    Py_CLEAR(self->typechars);
    Py_CLEAR(self->null_typechars);
    Py_CLEAR(self->l4names);
    Py_CLEAR(self->fallbacks);
    Py_CLEAR(self->key_of);
    self->prog = NULL;
    return 0;
}

static void ce_dealloc(CandidateEventsObject *self)
{
    PyObject_GC_UnTrack(self);
    ce_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *ce_reads(CandidateEventsObject *self, void *closure)
{
    return Py_BuildValue("(KK)", self->native_reads, self->python_reads);
}

static PyMethodDef ce_methods[] = {
    {"accepts", (PyCFunction)ce_accepts, METH_O, ce_accepts_doc},
    {"value", (PyCFunction)ce_value, METH_VARARGS, ce_value_doc},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef ce_getset[] = {
    {"reads", (getter)ce_reads, NULL, "(field values read natively, through Python)", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyDoc_STRVAR(ce_doc,
"CandidateEvents(filter, types, flags_index, typechars, null_typechars, l4names, fallbacks,\n"
"key_of)\n\n"
"A CandidateFilter applied to events; built by candidate_fields.event_filter().");

static PyTypeObject CandidateEventsType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "lanner.sources.syscall._native.CandidateEvents",
    .tp_basicsize = sizeof(CandidateEventsObject),
    .tp_dealloc = (destructor)ce_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = ce_doc,
    .tp_traverse = (traverseproc)ce_traverse,
    .tp_clear = (inquiry)ce_clear,
    .tp_methods = ce_methods,
    .tp_getset = ce_getset,
    .tp_init = (initproc)ce_init,
    .tp_new = PyType_GenericNew,
};

int lanner_register_candidate_events(PyObject *module)
{
    if (PyType_Ready(&CandidateEventsType) < 0)
        return -1;
    Py_INCREF(&CandidateEventsType);
    if (PyModule_AddObject(module, "CandidateEvents", (PyObject *)&CandidateEventsType) < 0) {
        Py_DECREF(&CandidateEventsType);
        return -1;
    }
    return 0;
}
