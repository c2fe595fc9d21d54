/*
 * The state engine's per-event dispatch in C (libsinsp's sinsp_parser::process_event
 * front half): StateCore is the base of state.parser.StateEngine.
 *
 * StateCore.process(evt) applies the pending removals of the previous event, finds the
 * event's thread (creating libsinsp's placeholder for an unknown tid), pairs an exit with
 * its enter event, finds the event's fd and fdinfo, and calls the event type's handler
 * when it has one. What each event type needs is a table bound once by bind(). Anything
 * unusual (parameter caches already filled, a parameter wider than 64 bits, a length
 * array outside the buffer) is handed to the Python methods of Event and StateEngine, so
 * the results, and the errors, are theirs.
 */
#include "engine.h"
#include "paths.h"

#include <string.h>
#include <structmember.h>



static PyObject *s_int_param, *s_res, *s_param, *int_zero;

static PyMemberDef core_members[] = {
    {"_remove_tid", T_OBJECT, offsetof(StateCore, remove_tid), 0, NULL},
    {"_remove_fd", T_OBJECT, offsetof(StateCore, remove_fd), 0, NULL},
    {"_pending", T_BOOL, offsetof(StateCore, pending), 0, NULL},
    {"fds_dropped", T_ULONGLONG, offsetof(StateCore, fds_dropped), 0,
     "fds refused because their process's table was full"},
    {NULL, 0, 0, 0, NULL},
};

static PyObject *core_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    return type->tp_alloc(type, 0);
}

static int core_traverse(StateCore *c, visitproc visit, void *arg)
{
    Py_VISIT(c->threads);
    Py_VISIT(c->table);
    Py_VISIT(c->thread_cls);
    Py_VISIT(c->socktuple_cls);
    Py_VISIT(c->sockaddr_cls);
    Py_VISIT(c->cgroups_fn);
    Py_VISIT(c->env_fn);
    Py_VISIT(c->user_cls);
    Py_VISIT(c->group_cls);
    Py_VISIT(c->remove_tid);
    Py_VISIT(c->remove_fd);
    Py_VISIT(c->fdinfo_cls);
    Py_VISIT(c->arg_fn);
    Py_VISIT(c->op_names);
    return 0;
}

static int core_clear(StateCore *c)
{
    Py_CLEAR(c->threads);
    Py_CLEAR(c->table);
    Py_CLEAR(c->thread_cls);
    Py_CLEAR(c->socktuple_cls);
    Py_CLEAR(c->sockaddr_cls);
    Py_CLEAR(c->cgroups_fn);
    Py_CLEAR(c->env_fn);
    Py_CLEAR(c->user_cls);
    Py_CLEAR(c->group_cls);
    Py_CLEAR(c->remove_tid);
    Py_CLEAR(c->remove_fd);
    Py_CLEAR(c->fdinfo_cls);
    Py_CLEAR(c->arg_fn);
    Py_CLEAR(c->op_names);
    return 0;
}

static void core_dealloc(StateCore *c)
{
    PyObject_GC_UnTrack(c);
    core_clear(c);
    PyMem_Free(c->specs);
    PyMem_Free(c->pindex);
    Py_TYPE(c)->tp_free((PyObject *)c);
}

PyDoc_STRVAR(bind_doc,
"_bind(threads, table, specs, helpers, fdinfo_cls, arg_fn, op_names, max_fds):\n"
"threads is the ThreadTable's dict, table the ThreadTable; specs has SPEC_SIZE bytes per\n"
"event type (bits, fd mode, native handler, fd index as u32 LE, then the open-exit plan:\n"
"7 signed indices and 7 in-enter flags; then the fd type and name flag of simple fd\n"
"handlers, the kind of setid and user handlers); helpers is (ThreadInfo, SockTuple,\n"
"SockAddr, cgroups decoder, environment decoder, User, Group, (names, index)): index has\n"
"one signed byte per type and name, -1 or the parameter's index (bits 0-5; bit 6: a\n"
"plain string, as Event.param gives it); fdinfo_cls makes fds,\n"
"arg_fn is parser._arg, op_names the open plan's names.");

#define SPEC_SIZE 23
#define N_HELPERS 8

static const char *const pn_names[PN_COUNT] = {
    "exe", "args", "comm", "cwd", "fdlimit", "cgroups", "env", "uid", "gid", "loginuid",
    "vtid", "vpid", "pidns_init_start_ts", "tty", "cap_inheritable", "cap_permitted",
    "cap_effective", "vpgid", "pid", "ptid", "trusted_exepath", "filename", "exe_ino",
    "exe_ino_ctime", "exe_ino_mtime", "flags", "reaper_tid", "tuple", "addr", "fd",
    "domain", "type", "proto", "source", "peer", "ino", "fd1", "fd2", "oldfd", "cmd",
    "euid", "egid", "path", "name",
};

/* helpers[7]: (names, index bytes): the names must be pn_names, the bytes one signed index
 * per type and name. A new PyMem array, or NULL with an exception. */
static int8_t *param_index(PyObject *spec, Py_ssize_t ntypes)
{
    PyObject *names, *idx;
    if (!PyTuple_Check(spec) || PyTuple_GET_SIZE(spec) != 2)
        goto bad;
    names = PyTuple_GET_ITEM(spec, 0);
    idx = PyTuple_GET_ITEM(spec, 1);
    if (!PyTuple_Check(names) || PyTuple_GET_SIZE(names) != PN_COUNT || !PyBytes_Check(idx) ||
        PyBytes_GET_SIZE(idx) != ntypes * PN_COUNT)
        goto bad;
    for (int k = 0; k < PN_COUNT; k++) {
        PyObject *n = PyTuple_GET_ITEM(names, k);
        if (!PyUnicode_Check(n) || PyUnicode_CompareWithASCIIString(n, pn_names[k]) != 0)
            goto bad;
    }
    int8_t *out = PyMem_Malloc(ntypes * PN_COUNT > 0 ? (size_t)(ntypes * PN_COUNT) : 1);
    if (out == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    memcpy(out, PyBytes_AS_STRING(idx), (size_t)(ntypes * PN_COUNT));
    return out;
bad:
    PyErr_SetString(PyExc_ValueError, "_bind(): the parameter index does not match the engine's names");
    return NULL;
}

static PyObject *core_bind(StateCore *c, PyObject *args)
{
    PyObject *threads, *table, *helpers, *fdinfo_cls, *arg_fn, *op_names;
    Py_ssize_t max_fds;
    Py_buffer specs;
    if (!PyArg_ParseTuple(args, "O!Oy*O!O!OO!n", &PyDict_Type, &threads, &table, &specs,
                          &PyTuple_Type, &helpers, &PyType_Type, &fdinfo_cls, &arg_fn,
                          &PyTuple_Type, &op_names, &max_fds))
        return NULL;
    Py_ssize_t n = specs.len / SPEC_SIZE;
    if (specs.len != SPEC_SIZE * n || PyTuple_GET_SIZE(op_names) != OP_COUNT ||
        PyTuple_GET_SIZE(helpers) != N_HELPERS ||
        !PyType_IsSubtype((PyTypeObject *)fdinfo_cls, &LannerFdRecordType) ||
        !PyType_Check(PyTuple_GET_ITEM(helpers, 0)) ||
        !PyType_IsSubtype((PyTypeObject *)PyTuple_GET_ITEM(helpers, 0), &LannerThreadRecordType) ||
        !PyType_Check(PyTuple_GET_ITEM(helpers, 1)) || !PyType_Check(PyTuple_GET_ITEM(helpers, 2))) {
        PyBuffer_Release(&specs);
        PyErr_SetString(PyExc_ValueError, "_bind(): inconsistent tables");
        return NULL;
    }
    int8_t *pindex = param_index(PyTuple_GET_ITEM(helpers, 7), n);
    if (pindex == NULL) {
        PyBuffer_Release(&specs);
        return NULL;
    }
    type_spec *sp = PyMem_Calloc(n > 0 ? (size_t)n : 1, sizeof *sp);
    if (sp == NULL) {
        PyMem_Free(pindex);
        PyBuffer_Release(&specs);
        return PyErr_NoMemory();
    }
    PyMem_Free(c->pindex);
    c->pindex = pindex;
    const uint8_t *b = specs.buf;
    for (Py_ssize_t i = 0; i < n; i++) {
        const uint8_t *r = b + SPEC_SIZE * i;
        sp[i].bits = r[0];
        sp[i].fdmode = r[1];
        sp[i].native = r[2];
        memcpy(&sp[i].fdidx, r + 3, 4);
        for (int k = 0; k < OP_COUNT; k++) {
            sp[i].op_index[k] = (int8_t)r[7 + k];
            sp[i].op_in_enter[k] = r[14 + k];
        }
        sp[i].simple_type = r[21];
        sp[i].simple_named = r[22];
    }
    PyBuffer_Release(&specs);
    PyMem_Free(c->specs);
    c->specs = sp;
    c->nspecs = n;
    c->max_fds = max_fds;
    PyObject **slots[] = {&c->threads, &c->table, &c->fdinfo_cls, &c->arg_fn, &c->op_names,
                          &c->thread_cls, &c->socktuple_cls, &c->sockaddr_cls, &c->cgroups_fn,
                          &c->env_fn, &c->user_cls, &c->group_cls};
    PyObject *vals[] = {threads, table, fdinfo_cls, arg_fn, op_names,
                        PyTuple_GET_ITEM(helpers, 0), PyTuple_GET_ITEM(helpers, 1),
                        PyTuple_GET_ITEM(helpers, 2), PyTuple_GET_ITEM(helpers, 3),
                        PyTuple_GET_ITEM(helpers, 4), PyTuple_GET_ITEM(helpers, 5),
                        PyTuple_GET_ITEM(helpers, 6)};
    for (size_t k = 0; k < sizeof vals / sizeof vals[0]; k++) {
        Py_INCREF(vals[k]);
        Py_XSETREF(*slots[k], vals[k]);
    }
    Py_RETURN_NONE;
}

PyObject *eng_int_zero(void)
{
    return int_zero;
}

/* Event.int_value(index) for a C index */
static PyObject *int_value_at(EventRecord *e, int index)
{
    PyObject *i = PyLong_FromLong(index);
    if (i == NULL)
        return NULL;
    PyObject *v = lanner_event_int_value(e, i);
    Py_DECREF(i);
    return v;
}

/* the plan's byte for parameter PN_ k in events of ``type``: -1 none, else its index
 * (PI_INDEX bits), with PI_PLAIN_STR when Event.param gives its bytes as a plain string */
#define PI_INDEX 0x3F
#define PI_PLAIN_STR 0x40
static int pindex_of(StateCore *c, int type, int k)
{
    if (c->pindex == NULL || type < 0 || type >= c->nspecs)
        return -1;
    return c->pindex[(Py_ssize_t)type * PN_COUNT + k];
}

static PyObject *str_param(EventRecord *e, Py_ssize_t index);

static PyObject *call_param(PyObject *e, int index)
{
    PyObject *i = PyLong_FromLong(index);
    if (i == NULL)
        return NULL;
    PyObject *v = PyObject_CallMethodOneArg(e, s_param, i);
    Py_DECREF(i);
    return v;
}

/* Event.param(index) of the parameter a plan byte ``b`` (>= 0) names */
static PyObject *planned_param(EventRecord *e, int b)
{
    if (b & PI_PLAIN_STR)
        return str_param(e, b & PI_INDEX); /* what Event.param gives, without the call */
    return call_param((PyObject *)e, b & PI_INDEX);
}

/* parser._arg(evt, name): the event's parameter, else its enter event's (decoded by
 * Event.param, a new reference) */
PyObject *eng_arg_k(StateCore *c, EventRecord *e, int k)
{
    int b = pindex_of(c, e->type, k);
    if (b >= 0 && (unsigned)(b & PI_INDEX) < e->nparams)
        return planned_param(e, b);
    PyObject *enter = e->o[ER_enter];
    if (enter == NULL || enter == Py_None)
        Py_RETURN_NONE;
    if (!PyObject_TypeCheck(enter, &LannerEventRecordType))
        return PyObject_CallMethod(enter, "arg", "s", pn_names[k]);
    b = pindex_of(c, ((EventRecord *)enter)->type, k);
    if (b < 0)
        Py_RETURN_NONE;
    return planned_param((EventRecord *)enter, b);
}

/* Event.eint(name): the event's integer parameter, else its enter event's */
PyObject *eng_eint_k(StateCore *c, EventRecord *e, int k)
{
    int i = pindex_of(c, e->type, k);
    if (i >= 0)
        i &= PI_INDEX;
    if (i >= 0 && (unsigned)i < e->nparams)
        return int_value_at(e, i);
    PyObject *enter = e->o[ER_enter];
    if (enter == NULL || enter == Py_None)
        Py_RETURN_NONE;
    if (!PyObject_TypeCheck(enter, &LannerEventRecordType))
        return PyObject_CallMethod(enter, "eint", "s", pn_names[k]);
    i = pindex_of(c, ((EventRecord *)enter)->type, k);
    if (i < 0)
        Py_RETURN_NONE;
    return int_value_at((EventRecord *)enter, i & PI_INDEX);
}

/* Parameter ``index`` of ``e`` as the signed integer Event.int_param gives: 1 and *out set;
 * 0 for None; 2 when only the Python method can tell (caches, odd sizes, damage). */
static int int_param_fast(EventRecord *e, unsigned index, long long *out)
{
    if (e->o[ER_vals] != NULL || e->o[ER_raws] != NULL)
        return 2;
    PyObject *bufobj = e->o[ER_buf];
    if (bufobj == NULL || !PyBytes_CheckExact(bufobj))
        return 2;
    unsigned n = e->nparams;
    if (index >= n)
        return 0;
    const uint8_t *buf = (const uint8_t *)PyBytes_AS_STRING(bufobj);
    Py_ssize_t blen = PyBytes_GET_SIZE(bufobj);
    Py_ssize_t width = e->large ? 4 : 2;
    Py_ssize_t off = e->off;
    if (off < 0 || off > blen || (Py_ssize_t)n > (blen - off) / width)
        return 2;
    Py_ssize_t start = off + width * (Py_ssize_t)n;
    for (unsigned i = 0; i < index; i++) {
        uint32_t l = 0;
        memcpy(&l, buf + off + width * i, (size_t)width);
        start += l;
    }
    uint32_t len = 0;
    memcpy(&len, buf + off + width * index, (size_t)width);
    Py_ssize_t stop = start + len;
    Py_ssize_t end = e->end < blen ? e->end : blen;
    if (e->end > blen)
        return 2;
    if (stop > end)
        stop = end;
    if (start >= stop)
        return 0; /* b"": None */
    Py_ssize_t size = stop - start;
    if (size > 8)
        return 2;
    uint64_t v = 0;
    memcpy(&v, buf + start, (size_t)size);
    if (size < 8 && (buf[start + size - 1] & 0x80))
        v |= ~(uint64_t)0 << (8 * size); /* sign-extend */
    *out = (long long)v;
    return 1;
}

/* The parameter as a new reference (None included), through Python when needed. */
static PyObject *int_param(EventRecord *e, unsigned index)
{
    long long v;
    int r = int_param_fast(e, index, &v);
    if (r == 1)
        return PyLong_FromLongLong(v);
    if (r == 0)
        Py_RETURN_NONE;
    PyObject *i = PyLong_FromUnsignedLong(index);
    if (i == NULL)
        return NULL;
    PyObject *res = PyObject_CallMethodOneArg((PyObject *)e, s_int_param, i);
    Py_DECREF(i);
    return res;
}

/* evt.int_value(0) (the syscall result of an exit event), a new reference */
static PyObject *int_value0(EventRecord *e)
{
    return lanner_event_int_value(e, int_zero); /* Event.int_value, no lookup */
}

/* Event.detach(): copy the event's bytes out of the shared chunk. */
static int detach(EventRecord *e)
{
    PyObject *buf = e->o[ER_buf];
    if (buf == NULL || !PyBytes_CheckExact(buf))
        return 0;
    Py_ssize_t off = e->off, end = e->end, n = PyBytes_GET_SIZE(buf);
    if (off == 0 && end == n)
        return 0;
    if (off < 0 || end < off || end > n) {
        PyObject *r = PyObject_CallMethod((PyObject *)e, "detach", NULL);
        Py_XDECREF(r);
        return r == NULL ? -1 : 0;
    }
    PyObject *copy = PyBytes_FromStringAndSize(PyBytes_AS_STRING(buf) + off, end - off);
    if (copy == NULL)
        return -1;
    Py_SETREF(e->o[ER_buf], copy);
    e->end = end - off;
    e->off = 0;
    return 0;
}

void eng_set_slot(PyObject **slot, PyObject *v)
{
    Py_XINCREF(v);
    Py_XSETREF(*slot, v);
}

/* evt.fd = fd; evt.fdinfo = th.fdtable.fds.get(fd) */
static int set_fd(EventRecord *e, ThreadRecord *th, PyObject *fd)
{
    eng_set_slot(&e->o[ER_fd], fd);
    PyObject *tab = th->o[TR_fdtable];
    PyObject *info;
    if (tab != NULL && PyObject_TypeCheck(tab, &LannerFdTableRecordType) &&
        ((FdTableRecord *)tab)->fds != NULL && PyDict_CheckExact(((FdTableRecord *)tab)->fds)) {
        info = PyDict_GetItemWithError(((FdTableRecord *)tab)->fds, fd);
        if (info == NULL && PyErr_Occurred())
            return -1;
        eng_set_slot(&e->o[ER_fdinfo], info);
        return 0;
    }
    PyErr_SetString(PyExc_TypeError, "a thread's fdtable is not an FdTable");
    return -1;
}

/* The string parameter ``index`` as Event.param gives it for plain strings: "" for no
 * bytes, else up to the first NUL, UTF-8 with surrogateescape. */
static PyObject *str_param(EventRecord *e, Py_ssize_t index)
{
    PyObject *vals = e->o[ER_vals];
    if (vals != NULL && vals != Py_None)
        return PyObject_CallMethod((PyObject *)e, "param", "n", index); /* cached */
    PyObject *raw = lanner_event_raw(e, index);
    if (raw == NULL || raw == Py_None)
        return raw;
    if (!PyBytes_Check(raw)) {
        Py_DECREF(raw);
        PyErr_SetString(PyExc_TypeError, "raw parameter is not bytes");
        return NULL;
    }
    const char *p = PyBytes_AS_STRING(raw);
    Py_ssize_t n = PyBytes_GET_SIZE(raw);
    const char *nul = memchr(p, 0, (size_t)n);
    if (nul != NULL)
        n = nul - p;
    PyObject *out = PyUnicode_DecodeUTF8(p, n, "surrogateescape");
    Py_DECREF(raw);
    return out;
}

/* The main thread of ``th``'s process (borrowed; th itself when unknown). */
ThreadRecord *eng_main_thread(StateCore *c, ThreadRecord *th)
{
    if (th->tid == th->pid)
        return th;
    PyObject *pid = PyLong_FromLongLong(th->pid);
    if (pid == NULL)
        return NULL;
    PyObject *mt = PyDict_GetItemWithError(c->threads, pid);
    Py_DECREF(pid);
    if (mt == NULL)
        return PyErr_Occurred() ? NULL : th;
    if (!PyObject_TypeCheck(mt, &LannerThreadRecordType)) {
        PyErr_SetString(PyExc_TypeError, "the thread table holds a non-ThreadInfo");
        return NULL;
    }
    return (ThreadRecord *)mt;
}

PyObject *eng_fds_of(ThreadRecord *th)
{
    PyObject *tab = th->o[TR_fdtable];
    if (tab != NULL && PyObject_TypeCheck(tab, &LannerFdTableRecordType) &&
        ((FdTableRecord *)tab)->fds != NULL && PyDict_CheckExact(((FdTableRecord *)tab)->fds))
        return ((FdTableRecord *)tab)->fds;
    PyErr_SetString(PyExc_TypeError, "a thread's fdtable is not an FdTable");
    return NULL;
}

/* An open-exit parameter as parser._planned_arg / _planned_int would read it. */
static PyObject *planned(StateCore *c, EventRecord *e, const type_spec *sp, int k, int plain,
                         int as_int)
{
    int idx = sp->op_index[k];
    if (idx >= 0 && (unsigned)idx < e->nparams) {
        if (as_int) {
            PyObject *i = PyLong_FromLong(idx);
            if (i == NULL)
                return NULL;
            PyObject *r = lanner_event_int_value(e, i); /* Event.int_value, no lookup */
            Py_DECREF(i);
            return r;
        }
        return str_param(e, idx);
    }
    if (plain && !sp->op_in_enter[k])
        Py_RETURN_NONE; /* neither the event nor its enter event has it */
    PyObject *name = PyTuple_GET_ITEM(c->op_names, k);
    if (as_int)
        return PyObject_CallMethod((PyObject *)e, "eint", "O", name);
    PyObject *args[2] = {(PyObject *)e, name};
    return PyObject_Vectorcall(c->arg_fn, args, 2, NULL);
}

/* FdTable.add: add or replace, bounded by MAX_FDS; then evt.fd, evt.fdinfo */
int eng_add_fd(StateCore *c, EventRecord *e, ThreadRecord *th, FdRecord *info)
{
    PyObject *fds = eng_fds_of(th);
    if (fds == NULL)
        return -1;
    PyObject *fd = PyLong_FromLongLong(info->fd);
    if (fd == NULL)
        return -1;
    int present = PyDict_Contains(fds, fd);
    int rc = 0;
    if (present < 0)
        rc = -1;
    else if (PyDict_GET_SIZE(fds) < c->max_fds || present)
        rc = PyDict_SetItem(fds, fd, (PyObject *)info);
    else
        c->fds_dropped++;
    if (rc == 0) {
        Py_XSETREF(e->o[ER_fd], fd);
        fd = NULL;
        eng_set_slot(&e->o[ER_fdinfo], (PyObject *)info);
    }
    Py_XDECREF(fd);
    return rc;
}

/* parser._on_open_exit: a new file or directory fd named by its resolved path. */
static int on_open_exit(StateCore *c, EventRecord *e, ThreadRecord *th, const type_spec *sp)
{
    if (th == NULL)
        return 0;
    PyObject *enter = e->o[ER_enter];
    int plain = enter == NULL || enter == Py_None ||
                (PyObject_TypeCheck(enter, &LannerEventRecordType) &&
                 ((EventRecord *)enter)->type == e->type - 1);
    PyObject *name = NULL, *dirfd = NULL, *base = NULL, *path = NULL, *flags = NULL;
    PyObject *fd = NULL, *dev = NULL, *ino = NULL;
    FdRecord *info = NULL;
    int rc = -1;
    name = planned(c, e, sp, OP_NAME, plain, 0);
    if (name == NULL)
        goto done;
    if (!PyUnicode_Check(name)) {
        Py_DECREF(name);
        name = planned(c, e, sp, OP_PATH, plain, 0);
        if (name == NULL)
            goto done;
        if (!PyUnicode_Check(name)) {
            Py_DECREF(name);
            name = PyUnicode_FromString("");
            if (name == NULL)
                goto done;
        }
    }
    dirfd = planned(c, e, sp, OP_DIRFD, plain, 1);
    if (dirfd == NULL)
        goto done;
    ThreadRecord *mt = eng_main_thread(c, th);
    if (mt == NULL)
        goto done;
    base = mt->o[TR_cwd] != NULL ? mt->o[TR_cwd] : Py_None;
    Py_INCREF(base);
    if (dirfd != Py_None &&
        (PyUnicode_GET_LENGTH(name) == 0 || PyUnicode_READ_CHAR(name, 0) != '/')) {
        int overflow = 0;
        long long d = PyLong_AsLongLongAndOverflow(dirfd, &overflow);
        if (d == -1 && PyErr_Occurred())
            goto done;
        if (overflow || d != AT_FDCWD) {
            PyObject *fds = eng_fds_of(th);
            if (fds == NULL)
                goto done;
            PyObject *dinfo = PyDict_GetItemWithError(fds, dirfd);
            if (dinfo == NULL && PyErr_Occurred())
                goto done;
            Py_SETREF(base, dinfo != NULL ? PyObject_GetAttrString(dinfo, "name")
                                          : PyUnicode_FromString(""));
            if (base == NULL)
                goto done;
        }
    }
    if (!PyUnicode_Check(base)) {
        PyErr_SetString(PyExc_TypeError, "the working directory is not a str");
        goto done;
    }
    path = lanner_resolve_path(base, name);
    if (path == NULL)
        goto done;
    flags = planned(c, e, sp, OP_FLAGS, plain, 1);
    if (flags == NULL)
        goto done;
    int ftrue = PyObject_IsTrue(flags);
    if (ftrue < 0)
        goto done;
    if (!ftrue)
        Py_SETREF(flags, PyLong_FromLong(0)); /* flags or 0 */
    if (flags == NULL)
        goto done;
    fd = planned(c, e, sp, OP_FD, plain, 1);
    if (fd == NULL)
        goto done;
    if (fd == Py_None) {
        Py_DECREF(fd);
        fd = (sp->bits & SP_HASRES) && e->nparams ? int_value0(e) : (Py_INCREF(Py_None), Py_None);
        if (fd == NULL)
            goto done;
    }
    if (fd == Py_None) {
        rc = 0;
        goto done;
    }
    long long fdv = PyLong_AsLongLong(fd);
    if (fdv == -1 && PyErr_Occurred())
        goto done; /* as FdInfo(fd, ...) would fail */
    if (fdv < 0) {
        rc = 0; /* fd.name of a failed open comes from the arguments (see fields.fd) */
        goto done;
    }
    unsigned long long fl = PyLong_AsUnsignedLongLongMask(flags);
    if (fl == (unsigned long long)-1 && PyErr_Occurred())
        goto done;
    info = lanner_fd_new((PyTypeObject *)c->fdinfo_cls, fdv,
                         fl & PPM_O_DIRECTORY ? FD_TYPE_DIRECTORY : FD_TYPE_FILE_V2, path);
    if (info == NULL)
        goto done;
    Py_SETREF(info->o[FR_open_flags], flags);
    flags = NULL;
    dev = planned(c, e, sp, OP_DEV, plain, 1);
    if (dev == NULL)
        goto done;
    ino = planned(c, e, sp, OP_INO, plain, 1);
    if (ino == NULL)
        goto done;
    PyObject *pair[2] = {dev, ino};
    int slots[2] = {FR_dev, FR_ino};
    for (int k = 0; k < 2; k++) {
        int t = PyObject_IsTrue(pair[k]);
        if (t < 0)
            goto done;
        if (t)
            eng_set_slot(&info->o[slots[k]], pair[k]); /* else stays 0 */
    }
    rc = eng_add_fd(c, e, th, info);
done:
    Py_XDECREF(name);
    Py_XDECREF(dirfd);
    Py_XDECREF(base);
    Py_XDECREF(path);
    Py_XDECREF(flags);
    Py_XDECREF(fd);
    Py_XDECREF(dev);
    Py_XDECREF(ino);
    Py_XDECREF(info);
    return rc;
}

/* evt.res as a new reference (None when the type has no result parameter) */
PyObject *eng_res(EventRecord *e, const type_spec *sp)
{
    if ((sp->bits & SP_HASRES) && e->nparams)
        return int_value0(e);
    Py_RETURN_NONE;
}


/* 1 when ``v`` is an int >= 0, 0 when None or negative, -1 on error */
int eng_non_negative(PyObject *v)
{
    if (v == Py_None)
        return 0;
    int neg = PyObject_RichCompareBool(v, int_zero, Py_LT);
    return neg < 0 ? -1 : !neg;
}

/* ``(evt.res or 0) < 0``: 1 when it failed, 0 when not, -1 on error */
int eng_res_failed(EventRecord *e, const type_spec *sp)
{
    PyObject *res = eng_res(e, sp);
    if (res == NULL)
        return -1;
    int failed = res != Py_None ? PyObject_RichCompareBool(res, int_zero, Py_LT) : 0;
    Py_DECREF(res);
    return failed;
}

/* a new FdInfo(fd, ftype, name) for an int fd */
FdRecord *eng_new_fd(StateCore *c, PyObject *fd, int ftype, PyObject *name)
{
    long long v = PyLong_AsLongLong(fd);
    if (v == -1 && PyErr_Occurred())
        return NULL; /* as FdInfo(fd, ...) would fail */
    return lanner_fd_new((PyTypeObject *)c->fdinfo_cls, v, ftype, name);
}

/* The new fd an event's result names: 1 with *fd (a new reference) when the event has a
 * thread and its result is an fd (>= 0), 0 when not, -1 on error. */
static int res_fd(EventRecord *e, ThreadRecord *th, const type_spec *sp, PyObject **fd)
{
    *fd = NULL;
    if (th == NULL)
        return 0;
    *fd = eng_res(e, sp);
    if (*fd == NULL)
        return -1;
    int ok = eng_non_negative(*fd);
    if (ok <= 0)
        Py_CLEAR(*fd);
    return ok;
}

/* parser's _simple_fd handlers: the result is a new fd of one kind */
static int on_simple_fd(StateCore *c, EventRecord *e, ThreadRecord *th, const type_spec *sp)
{
    PyObject *fd;
    int made = res_fd(e, th, sp, &fd);
    if (made <= 0)
        return made;
    PyObject *name = NULL;
    if (sp->simple_named) {
        PyObject *v = eng_arg_k(c, e, PN_name);
        if (v == NULL) {
            Py_DECREF(fd);
            return -1;
        }
        if (PyUnicode_Check(v))
            name = PyUnicode_FromFormat("memfd:%U", v);
        Py_DECREF(v);
        if (PyErr_Occurred()) {
            Py_DECREF(fd);
            return -1;
        }
    }
    FdRecord *info = eng_new_fd(c, fd, sp->simple_type, name);
    Py_DECREF(fd);
    Py_XDECREF(name);
    if (info == NULL)
        return -1;
    int rc = eng_add_fd(c, e, th, info);
    Py_DECREF(info);
    return rc;
}

/* ``v`` (an int or None) as a C integer: 1 and *out set; 0 for None (or a value beyond 64
 * bits when ``wide_none``, else its low 64 bits); -1 on error */
int eng_as_ll(PyObject *v, long long *out, int wide_none)
{
    if (v == Py_None)
        return 0;
    int overflow = 0;
    long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (x == -1 && PyErr_Occurred())
        return -1;
    if (overflow) {
        if (wide_none)
            return 0;
        x = (long long)PyLong_AsUnsignedLongLongMask(v);
        if (x == -1 && PyErr_Occurred())
            return -1;
    }
    *out = x;
    return 1;
}

/* ``evt.eng_eint(name)`` as a C integer, as eng_as_ll */
int eng_eint_ll(StateCore *c, EventRecord *e, int k, long long *out, int wide_none)
{
    PyObject *v = eng_eint_k(c, e, k);
    if (v == NULL)
        return -1;
    int rc = eng_as_ll(v, out, wide_none);
    Py_DECREF(v);
    return rc;
}

/* socket exit (libsinsp's parse_socket_exit): a new socket fd of the domain's kind; for
 * inet sockets the protocol its type implies (reported once it has addresses) */
static int on_socket_exit(StateCore *c, EventRecord *e, ThreadRecord *th, const type_spec *sp)
{
    PyObject *fd;
    int made = res_fd(e, th, sp, &fd);
    if (made <= 0)
        return made;
    long long domain = 0, stype = 0, proto = 0;
    int hd = eng_eint_ll(c, e, PN_domain, &domain, 1);
    int ht = hd < 0 ? -1 : eng_eint_ll(c, e, PN_type, &stype, 0);
    int hp = ht < 0 ? -1 : eng_eint_ll(c, e, PN_proto, &proto, 1);
    if (hp < 0) {
        Py_DECREF(fd);
        return -1;
    }
    int ftype;
    if (hd == 1 && domain == AF_INET_)
        ftype = FD_TYPE_IPV4_SOCK;
    else if (hd == 1 && domain == AF_INET6_)
        ftype = FD_TYPE_IPV6_SOCK;
    else if (hd == 1 && domain == AF_UNIX_)
        ftype = FD_TYPE_UNIX_SOCK;
    else if (hd == 1 && domain == AF_NETLINK_)
        ftype = FD_TYPE_NETLINK;
    else
        ftype = FD_TYPE_UNSUPPORTED;
    FdRecord *info = eng_new_fd(c, fd, ftype, NULL);
    Py_DECREF(fd);
    if (info == NULL)
        return -1;
    if (ftype == FD_TYPE_IPV4_SOCK || ftype == FD_TYPE_IPV6_SOCK) {
        switch (ht == 1 ? stype & 0xF : 0) {
        case 1:
            info->sock_l4 = L4_TCP;
            break;
        case 2:
            info->sock_l4 = L4_UDP;
            break;
        case 3:
            info->sock_l4 = hp == 1 && (proto == 1 || proto == 58) ? L4_ICMP : L4_RAW;
            break;
        }
    }
    int rc = eng_add_fd(c, e, th, info);
    Py_DECREF(info);
    return rc;
}

/* parser._on_pipe_exit / _on_socketpair_exit: two new fds */
static int on_fd_pair(StateCore *c, EventRecord *e, ThreadRecord *th, const type_spec *sp,
                      int socketpair)
{
    if (th == NULL)
        return 0;
    int failed = eng_res_failed(e, sp);
    if (failed != 0)
        return failed < 0 ? -1 : 0;
    PyObject *a = NULL, *b = NULL; /* ino, or source and peer */
    const int keys[2] = {PN_fd1, PN_fd2};
    int rc = -1;
    if (socketpair) {
        a = eng_eint_k(c, e, PN_source);
        b = a != NULL ? eng_eint_k(c, e, PN_peer) : NULL;
    } else {
        a = eng_eint_k(c, e, PN_ino);
        b = Py_None;
        Py_INCREF(b);
    }
    if (a == NULL || b == NULL)
        goto done;
    PyObject *vals[2] = {a, b};
    for (int k = 0; k < 2; k++) { /* "or 0" */
        int t = PyObject_IsTrue(vals[k]);
        if (t < 0)
            goto done;
        if (!t) {
            Py_DECREF(vals[k]);
            vals[k] = int_zero;
            Py_INCREF(int_zero);
        }
    }
    a = vals[0];
    b = vals[1];
    for (int k = 0; k < 2; k++) {
        PyObject *fd = eng_eint_k(c, e, keys[k]);
        if (fd == NULL)
            goto done;
        int ok = eng_non_negative(fd);
        if (ok <= 0) {
            Py_DECREF(fd);
            if (ok < 0)
                goto done;
            continue;
        }
        FdRecord *info = eng_new_fd(c, fd, socketpair ? FD_TYPE_UNIX_SOCK : FD_TYPE_FIFO, NULL);
        Py_DECREF(fd);
        if (info == NULL)
            goto done;
        int r;
        if (socketpair) {
            eng_set_slot(&info->o[FR_unix_source], a);
            eng_set_slot(&info->o[FR_unix_dest], b);
            /* th.fdtable.add(info): the event keeps no fd */
            PyObject *fds = eng_fds_of(th);
            PyObject *key = fds != NULL ? PyLong_FromLongLong(info->fd) : NULL;
            r = -1;
            if (key != NULL) {
                int present = PyDict_Contains(fds, key);
                if (present >= 0) {
                    if (PyDict_GET_SIZE(fds) < c->max_fds || present)
                        r = PyDict_SetItem(fds, key, (PyObject *)info);
                    else {
                        c->fds_dropped++;
                        r = 0;
                    }
                }
                Py_DECREF(key);
            }
        } else {
            eng_set_slot(&info->o[FR_ino], a);
            r = eng_add_fd(c, e, th, info); /* the event keeps the last one (fd2), as libsinsp */
        }
        Py_DECREF(info);
        if (r < 0)
            goto done;
    }
    rc = 0;
done:
    Py_XDECREF(a);
    Py_XDECREF(b);
    return rc;
}

/* parser's dup handler (dup, dup2, dup3, fcntl F_DUPFD): the result is a copy of the
 * old fd (oldfd, else fd, else the enter event's fd) */
static int on_dup_exit(StateCore *c, EventRecord *e, ThreadRecord *th, const type_spec *sp)
{
    PyObject *res = eng_res(e, sp);
    if (res == NULL)
        return -1;
    int ok = th != NULL ? eng_non_negative(res) : 0;
    if (ok <= 0) {
        Py_DECREF(res);
        return ok;
    }
    int rc = -1;
    PyObject *old = eng_eint_k(c, e, PN_oldfd);
    if (old == Py_None) {
        Py_DECREF(old);
        old = eng_eint_k(c, e, PN_fd);
    }
    if (old == Py_None) {
        PyObject *enter = e->o[ER_enter];
        if (enter != NULL && enter != Py_None) {
            Py_DECREF(old);
            old = PyObject_GetAttrString(enter, "fd");
        }
    }
    if (old == NULL)
        goto done;
    if (old == Py_None) {
        rc = 0;
        goto done;
    }
    PyObject *fds = eng_fds_of(th);
    if (fds == NULL)
        goto done;
    PyObject *src = PyDict_GetItemWithError(fds, old);
    if (src == NULL) {
        rc = PyErr_Occurred() ? -1 : 0;
        goto done;
    }
    if (!PyObject_TypeCheck(src, &LannerFdRecordType)) {
        PyErr_SetString(PyExc_TypeError, "an fd table holds a non-FdInfo");
        goto done;
    }
    long long newfd = PyLong_AsLongLong(res);
    if (newfd == -1 && PyErr_Occurred())
        goto done; /* as FdInfo.copy(res) would fail */
    FdRecord *copy = lanner_fd_copy((FdRecord *)src, newfd);
    if (copy == NULL)
        goto done;
    rc = eng_add_fd(c, e, th, copy);
    Py_DECREF(copy);
done:
    Py_XDECREF(old);
    Py_DECREF(res);
    return rc;
}

static int on_fcntl_exit(StateCore *c, EventRecord *e, ThreadRecord *th, const type_spec *sp)
{
    PyObject *cmd = eng_eint_k(c, e, PN_cmd);
    if (cmd == NULL)
        return -1;
    int dup = 0;
    if (cmd != Py_None) {
        int overflow = 0;
        long long v = PyLong_AsLongLongAndOverflow(cmd, &overflow);
        if (v == -1 && PyErr_Occurred()) {
            Py_DECREF(cmd);
            return -1;
        }
        dup = !overflow && (v == PPM_FCNTL_F_DUPFD || v == PPM_FCNTL_F_DUPFD_CLOEXEC);
    }
    Py_DECREF(cmd);
    return dup ? on_dup_exit(c, e, th, sp) : 0; /* the new fd is res, a copy of the fd argument */
}

/* path with libsinsp's trailing slash on working directories (new reference) */
PyObject *eng_with_slash(PyObject *path)
{
    Py_ssize_t n = PyUnicode_GET_LENGTH(path);
    if (n == 0 || PyUnicode_READ_CHAR(path, n - 1) == '/') {
        Py_INCREF(path);
        return path;
    }
    return PyUnicode_FromFormat("%U/", path);
}


/* ``(evt.res or 0) != 0``: 1 when the call did not return 0, -1 on error */
static int res_nonzero(EventRecord *e, const type_spec *sp)
{
    PyObject *res = eng_res(e, sp);
    if (res == NULL)
        return -1;
    int nz = res != Py_None ? PyObject_IsTrue(res) : 0;
    Py_DECREF(res);
    return nz;
}

/* the main thread's cwd (chdir) or root (chroot) set to ``path`` resolved against its cwd */
static int set_from_path(StateCore *c, EventRecord *e, ThreadRecord *th, int slot, int slash)
{
    PyObject *path = eng_arg_k(c, e, PN_path);
    if (path == NULL)
        return -1;
    int rc = 0;
    if (PyUnicode_Check(path) && PyUnicode_GET_LENGTH(path) > 0) {
        ThreadRecord *mt = eng_main_thread(c, th);
        PyObject *cwd = mt != NULL ? mt->o[TR_cwd] : NULL;
        PyObject *r = NULL;
        if (mt == NULL)
            rc = -1;
        else if (cwd == NULL || !PyUnicode_Check(cwd)) {
            PyErr_SetString(PyExc_TypeError, "the working directory is not a str");
            rc = -1;
        } else if ((r = lanner_resolve_path(cwd, path)) == NULL) {
            rc = -1;
        } else {
            PyObject *v = slash ? eng_with_slash(r) : (Py_INCREF(r), r);
            Py_DECREF(r);
            if (v == NULL)
                rc = -1;
            else
                Py_XSETREF(mt->o[slot], v);
        }
    }
    Py_DECREF(path);
    return rc;
}

/* chdir, fchdir, the setuid family, capset, chroot, setsid (parser.py's credentials and
 * directories handlers) */
static int on_thread_update(StateCore *c, EventRecord *e, ThreadRecord *th, const type_spec *sp)
{
    if (th == NULL)
        return 0;
    switch (sp->native) {
    case NH_CHDIR: {
        int failed = eng_res_failed(e, sp);
        return failed != 0 ? (failed < 0 ? -1 : 0) : set_from_path(c, e, th, TR_cwd, 1);
    }
    case NH_FCHDIR: {
        int failed = eng_res_failed(e, sp);
        if (failed != 0)
            return failed < 0 ? -1 : 0;
        PyObject *info = e->o[ER_fdinfo];
        if (info == NULL || info == Py_None)
            return 0;
        PyObject *name = PyObject_GetAttrString(info, "name");
        if (name == NULL)
            return -1;
        if (!PyUnicode_Check(name)) {
            Py_DECREF(name);
            PyErr_SetString(PyExc_TypeError, "an fd name is not a str");
            return -1;
        }
        PyObject *v = eng_with_slash(name);
        Py_DECREF(name);
        ThreadRecord *mt = v != NULL ? eng_main_thread(c, th) : NULL;
        if (mt == NULL) {
            Py_XDECREF(v);
            return -1;
        }
        Py_XSETREF(mt->o[TR_cwd], v);
        return 0;
    }
    case NH_CHROOT: {
        int nz = res_nonzero(e, sp);
        return nz != 0 ? (nz < 0 ? -1 : 0) : set_from_path(c, e, th, TR_root, 0);
    }
    case NH_SETID: {
        int nz = res_nonzero(e, sp);
        if (nz != 0)
            return nz < 0 ? -1 : 0;
        int is_gid = sp->simple_type & 1, effective = sp->simple_type & 2;
        int key = effective ? (is_gid ? PN_egid : PN_euid) : (is_gid ? PN_gid : PN_uid);
        PyObject *v = eng_eint_k(c, e, key);
        if (v == NULL)
            return -1;
        if (v != Py_None) {
            int overflow = 0;
            long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
            if (x == -1 && PyErr_Occurred()) {
                Py_DECREF(v);
                return -1;
            }
            if (overflow || (x != 0xFFFFFFFFLL && x != -1)) {
                Py_INCREF(v);
                Py_XSETREF(th->o[is_gid ? TR_gid : TR_uid], v);
            }
        }
        Py_DECREF(v);
        return 0;
    }
    case NH_CAPSET: {
        int nz = res_nonzero(e, sp);
        if (nz != 0)
            return nz < 0 ? -1 : 0;
        const int names[3] = {PN_cap_inheritable, PN_cap_permitted, PN_cap_effective};
        int slots[3] = {TR_cap_inheritable, TR_cap_permitted, TR_cap_effective};
        for (int k = 0; k < 3; k++) {
            PyObject *v = eng_eint_k(c, e, names[k]);
            if (v == NULL)
                return -1;
            if (v != Py_None)
                Py_XSETREF(th->o[slots[k]], v);
            else
                Py_DECREF(v);
        }
        return 0;
    }
    case NH_SETSID: {
        /* (evt.res or -1) >= 0: a result above 0 becomes the session id */
        PyObject *res = eng_res(e, sp);
        if (res == NULL)
            return -1;
        int pos = res != Py_None ? PyObject_RichCompareBool(res, int_zero, Py_GT) : 0;
        if (pos > 0)
            Py_XSETREF(th->o[TR_sid], res);
        else
            Py_DECREF(res);
        return pos < 0 ? -1 : 0;
    }
    }
    return 0;
}

/* parser._on_close_exit: remove the fd before the next event (the close still sees it). */
static int on_close_exit(StateCore *c, EventRecord *e, ThreadRecord *th, const type_spec *sp)
{
    PyObject *fd = e->o[ER_fd];
    if (th == NULL || fd == NULL || fd == Py_None)
        return 0;
    if ((sp->bits & SP_HASRES) && e->nparams) {
        PyObject *res = int_value0(e);
        if (res == NULL)
            return -1;
        int neg = res != Py_None ? PyObject_RichCompareBool(res, int_zero, Py_LT) : 0;
        Py_DECREF(res);
        if (neg < 0)
            return -1;
        if (neg)
            return 0;
    }
    PyObject *pair = PyTuple_Pack(2, (PyObject *)th, fd);
    if (pair == NULL)
        return -1;
    Py_XSETREF(c->remove_fd, pair);
    c->pending = 1;
    return 0;
}

/* The previous event's deferred removals: a closed fd, then an exited thread (through
 * eng_drop_thread, which keeps a main thread while its process lives). */
static int apply_removals(StateCore *c)
{
    c->pending = 0;
    PyObject *rf = c->remove_fd;
    if (rf != NULL && rf != Py_None) {
        Py_INCREF(rf);
        Py_CLEAR(c->remove_fd);
        if (!PyTuple_Check(rf) || PyTuple_GET_SIZE(rf) != 2 ||
            !PyObject_TypeCheck(PyTuple_GET_ITEM(rf, 0), &LannerThreadRecordType)) {
            Py_DECREF(rf);
            PyErr_SetString(PyExc_TypeError, "_remove_fd must be (ThreadInfo, fd)");
            return -1;
        }
        PyObject *fds = eng_fds_of((ThreadRecord *)PyTuple_GET_ITEM(rf, 0));
        PyObject *fd = PyTuple_GET_ITEM(rf, 1);
        int rc = 0;
        if (fds == NULL) {
            rc = -1;
        } else {
            PyObject *have = PyDict_GetItemWithError(fds, fd);
            if (have != NULL)
                rc = PyDict_DelItem(fds, fd);
            else if (PyErr_Occurred())
                rc = -1;
        }
        Py_DECREF(rf);
        if (rc < 0)
            return -1;
    }
    PyObject *rt = c->remove_tid;
    if (rt != NULL && rt != Py_None) {
        Py_INCREF(rt);
        Py_CLEAR(c->remove_tid);
        int r = eng_drop_thread(c, rt);
        Py_DECREF(rt);
        if (r < 0)
            return -1;
    }
    return 0;
}

static PyObject *core_process(StateCore *c, PyObject *arg)
{
    if (!PyObject_TypeCheck(arg, &LannerEventRecordType)) {
        PyErr_SetString(PyExc_TypeError, "process() takes an Event");
        return NULL;
    }
    if (c->specs == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "process(): _bind() was not called");
        return NULL;
    }
    EventRecord *e = (EventRecord *)arg;
    if (c->pending && apply_removals(c) < 0)
        return NULL;
    int t = e->type;
    if (t < 0 || t >= c->nspecs) {
        PyErr_SetString(PyExc_IndexError, "event type out of range");
        return NULL;
    }
    type_spec sp = c->specs[t];
    if (sp.bits & SP_SKIP) {
        /* libsinsp attaches no thread to these (context switches, procinfo...) */
        eng_set_slot(&e->o[ER_table], c->table);
        Py_RETURN_NONE;
    }
    PyObject *tid = PyLong_FromLongLong(e->tid);
    if (tid == NULL)
        return NULL;
    PyObject *th = PyDict_GetItemWithError(c->threads, tid); /* borrowed */
    if (th == NULL && PyErr_Occurred()) {
        Py_DECREF(tid);
        return NULL;
    }
    Py_XINCREF(th);
    if (th == NULL && e->tid > 0 && (sp.bits & SP_AUTO)) {
        th = eng_placeholder(c, e->tid);
        if (th == NULL) {
            Py_DECREF(tid);
            return NULL;
        }
        if (th == Py_None)
            Py_CLEAR(th);
    }
    Py_DECREF(tid);
    if (th != NULL && !PyObject_TypeCheck(th, &LannerThreadRecordType)) {
        Py_DECREF(th);
        PyErr_SetString(PyExc_TypeError, "the thread table holds a non-ThreadInfo");
        return NULL;
    }
    eng_set_slot(&e->o[ER_thread], th);
    ThreadRecord *tr = (ThreadRecord *)th;
    int rc = 0;
    if (th == NULL) {
        eng_set_slot(&e->o[ER_table], c->table);
    } else if (sp.bits & SP_ENTER) {
        if (sp.bits & SP_PAIRS) {
            if (detach(e) < 0)
                goto fail;
            eng_set_slot(&tr->o[TR_last_enter], arg); /* kept until the exit */
        }
        if (sp.fdmode == FD_CREATES) {
            PyObject *m1 = PyLong_FromLong(-1);
            if (m1 == NULL)
                goto fail;
            Py_XSETREF(e->o[ER_fd], m1);
        } else if (sp.fdmode == FD_USES && sp.fdidx < e->nparams) {
            PyObject *fd = int_param(e, sp.fdidx);
            if (fd == NULL)
                goto fail;
            if (fd != Py_None)
                rc = set_fd(e, tr, fd);
            Py_DECREF(fd);
            if (rc < 0)
                goto fail;
        }
    } else {
        PyObject *enter = tr->o[TR_last_enter];
        Py_XINCREF(enter); /* held while last_enter is reset */
        if (enter != NULL && enter != Py_None && PyObject_TypeCheck(enter, &LannerEventRecordType) &&
            ((EventRecord *)enter)->type == t - 1)
            eng_set_slot(&e->o[ER_enter], enter);
        eng_set_slot(&tr->o[TR_last_enter], Py_None);
        if (sp.fdmode == FD_CREATES) {
            PyObject *r = (sp.bits & SP_RESFIRST) ? int_param(e, 0) : PyObject_GetAttr(arg, s_res);
            if (r == NULL) {
                Py_XDECREF(enter);
                goto fail;
            }
            if (r != Py_None) {
                int neg = PyObject_RichCompareBool(r, int_zero, Py_LT);
                PyObject *fd = neg > 0 ? PyLong_FromLong(-1) : (Py_INCREF(r), r);
                if (neg < 0 || fd == NULL) {
                    Py_XDECREF(fd);
                    Py_DECREF(r);
                    Py_XDECREF(enter);
                    goto fail;
                }
                Py_XSETREF(e->o[ER_fd], fd); /* a failed call has no fd */
            }
            Py_XDECREF(r);
        } else if (sp.fdmode == FD_USES) {
            PyObject *fd = NULL;
            if (sp.fdidx < e->nparams) {
                fd = int_param(e, sp.fdidx);
                if (fd == NULL) {
                    Py_XDECREF(enter);
                    goto fail;
                }
            } else if (enter != NULL && enter != Py_None && e->o[ER_enter] == enter) {
                fd = ((EventRecord *)enter)->o[ER_fd];
                if (fd == NULL)
                    fd = Py_None;
                Py_INCREF(fd);
            }
            if (fd != NULL && fd != Py_None) {
                rc = set_fd(e, tr, fd);
            } else {
                PyObject *m1 = PyLong_FromLong(-1); /* libsinsp's "last event fd" */
                if (m1 == NULL)
                    rc = -1;
                else
                    Py_XSETREF(e->o[ER_fd], m1);
            }
            Py_XDECREF(fd);
            if (rc < 0) {
                Py_XDECREF(enter);
                goto fail;
            }
        }
        Py_XDECREF(enter);
    }
    if (sp.native == NH_OPEN) {
        if (on_open_exit(c, e, tr, &c->specs[t]) < 0)
            goto fail;
    } else if (sp.native == NH_CLOSE) {
        if (on_close_exit(c, e, tr, &c->specs[t]) < 0)
            goto fail;
    } else if (sp.native == NH_SIMPLE) {
        if (on_simple_fd(c, e, tr, &c->specs[t]) < 0)
            goto fail;
    } else if (sp.native >= NH_CHDIR && sp.native <= NH_SETSID) {
        if (on_thread_update(c, e, tr, &c->specs[t]) < 0)
            goto fail;
    } else if (sp.native == NH_DUP) {
        if (on_dup_exit(c, e, tr, &c->specs[t]) < 0)
            goto fail;
    } else if (sp.native == NH_FCNTL) {
        if (on_fcntl_exit(c, e, tr, &c->specs[t]) < 0)
            goto fail;
    } else if (sp.native == NH_SOCKET) {
        if (on_socket_exit(c, e, tr, &c->specs[t]) < 0)
            goto fail;
    } else if (sp.native == NH_PIPE || sp.native == NH_SOCKETPAIR) {
        if (on_fd_pair(c, e, tr, &c->specs[t], sp.native == NH_SOCKETPAIR) < 0)
            goto fail;
    } else if (sp.native >= NH_CONNECT && sp.native <= NH_USER) {
        static int (*const handlers[])(StateCore *, EventRecord *, ThreadRecord *,
                                       const type_spec *) = {
            on_connect_exit, on_accept_exit, on_bind_exit, on_sendrecv_exit,
            on_clone_exit,   on_execve_exit, on_procexit,  on_user_event,
        };
        if (handlers[sp.native - NH_CONNECT](c, e, tr, &c->specs[t]) < 0)
            goto fail;
    }
    Py_XDECREF(th);
    Py_RETURN_NONE;
fail:
    Py_XDECREF(th);
    return NULL;
}

static PyMethodDef core_methods[] = {
    {"_bind", (PyCFunction)core_bind, METH_VARARGS, bind_doc},
    {"process", (PyCFunction)core_process, METH_O, "Attach state to ``evt`` and apply its effects."},
    {NULL, NULL, 0, NULL},
};

PyTypeObject LannerStateCoreType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "lanner.sources.syscall._native.StateCore",
    .tp_doc = "The state engine's per-event dispatch (base of state.parser.StateEngine).",
    .tp_basicsize = sizeof(StateCore),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_new = core_new,
    .tp_dealloc = (destructor)core_dealloc,
    .tp_traverse = (traverseproc)core_traverse,
    .tp_clear = (inquiry)core_clear,
    .tp_members = core_members,
    .tp_methods = core_methods,
};

int lanner_register_engine(PyObject *module)
{
    s_int_param = PyUnicode_InternFromString("int_param");
    s_res = PyUnicode_InternFromString("res");
    s_param = PyUnicode_InternFromString("param");
    int_zero = PyLong_FromLong(0);
    if (!s_int_param || !s_res || !s_param || !int_zero)
        return -1;
    if (PyType_Ready(&LannerStateCoreType) < 0)
        return -1;
    Py_INCREF(&LannerStateCoreType);
    if (PyModule_AddObject(module, "StateCore", (PyObject *)&LannerStateCoreType) < 0) {
        Py_DECREF(&LannerStateCoreType);
        return -1;
    }
    return 0;
}

int lanner_state_process(PyObject *core, PyObject *evt)
{
    if (!PyObject_TypeCheck(core, &LannerStateCoreType)) {
        PyErr_SetString(PyExc_TypeError, "not a StateEngine");
        return -1;
    }
    PyObject *r = core_process((StateCore *)core, evt);
    if (r == NULL)
        return -1;
    Py_DECREF(r);
    return 0;
}
