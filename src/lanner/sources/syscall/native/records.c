/*
 * The state engine's records as C types: ThreadRecord, FdRecord, FdTableRecord.
 *
 * state/threads.py's ThreadInfo, state/fds.py's FdInfo and FdTable subclass these (with
 * empty __slots__), so a record is one C struct that Python reads as attributes with the
 * names the field getters use, and that the native engine reads and writes directly.
 * Identity and kind are C integers; every other value is a Python object (strings, lists,
 * and integers that may be None or exceed 64 bits in damaged captures). A record is its
 * own Python object: a view of a thread removed from the table later stays valid.
 */
#include "native.h"
#include "records.h"

#include <stddef.h>
#include <structmember.h>

static PyObject *str_na, *str_empty, *str_host, *int_zero, *int_minus1;
static PyObject *fdtable_factory; /* state.fds.FdTable, set by set_record_classes() */

/* ---------------------------------------------------------------------------------- */
/* ThreadRecord */

#define TOBJ(name) {#name, T_OBJECT, offsetof(ThreadRecord, o) + TR_##name * sizeof(PyObject *), 0, NULL}

static PyMemberDef thread_members[] = {
    {"tid", T_LONGLONG, offsetof(ThreadRecord, tid), 0, NULL},
    {"pid", T_LONGLONG, offsetof(ThreadRecord, pid), 0, NULL},
    {"ptid", T_LONGLONG, offsetof(ThreadRecord, ptid), 0, NULL},
    {"dead", T_BOOL, offsetof(ThreadRecord, dead), 0, NULL},
    TOBJ(sid), TOBJ(vpgid), TOBJ(comm), TOBJ(exe), TOBJ(exepath), TOBJ(args), TOBJ(env),
    TOBJ(cwd), TOBJ(fdlimit), TOBJ(flags), TOBJ(uid), TOBJ(gid), TOBJ(loginuid), TOBJ(vtid),
    TOBJ(vpid), TOBJ(cgroups), TOBJ(container_id), TOBJ(root), TOBJ(tty),
    TOBJ(cap_inheritable), TOBJ(cap_permitted), TOBJ(cap_effective), TOBJ(exe_writable),
    TOBJ(exe_upper_layer), TOBJ(exe_from_memfd), TOBJ(exe_ino), TOBJ(exe_ino_ctime),
    TOBJ(exe_ino_mtime), TOBJ(clone_ts), TOBJ(pidns_init_start_ts), TOBJ(fdtable),
    TOBJ(last_enter), TOBJ(table),
    {NULL, 0, 0, 0, NULL},
};

static void set_obj(PyObject **slot, PyObject *v)
{
    Py_XINCREF(v);
    Py_XSETREF(*slot, v);
}

int lanner_thread_defaults(ThreadRecord *t)
{
    PyObject **o = t->o;
    set_obj(&o[TR_sid], int_minus1);
    set_obj(&o[TR_vpgid], int_minus1);
    set_obj(&o[TR_comm], str_na);
    set_obj(&o[TR_exe], str_na);
    set_obj(&o[TR_exepath], str_empty);
    Py_XSETREF(o[TR_args], PyList_New(0));
    Py_XSETREF(o[TR_env], PyList_New(0));
    Py_XSETREF(o[TR_cgroups], PyList_New(0));
    set_obj(&o[TR_cwd], str_empty);
    set_obj(&o[TR_fdlimit], int_zero);
    set_obj(&o[TR_flags], int_zero);
    set_obj(&o[TR_uid], Py_None);
    set_obj(&o[TR_gid], Py_None);
    set_obj(&o[TR_loginuid], Py_None);
    set_obj(&o[TR_vtid], int_minus1);
    set_obj(&o[TR_vpid], int_minus1);
    set_obj(&o[TR_container_id], str_host);
    set_obj(&o[TR_root], str_empty);
    set_obj(&o[TR_tty], int_zero);
    set_obj(&o[TR_cap_inheritable], int_zero);
    set_obj(&o[TR_cap_permitted], int_zero);
    set_obj(&o[TR_cap_effective], int_zero);
    set_obj(&o[TR_exe_writable], Py_False);
    set_obj(&o[TR_exe_upper_layer], Py_False);
    set_obj(&o[TR_exe_from_memfd], Py_False);
    set_obj(&o[TR_exe_ino], int_zero);
    set_obj(&o[TR_exe_ino_ctime], int_zero);
    set_obj(&o[TR_exe_ino_mtime], int_zero);
    set_obj(&o[TR_clone_ts], int_zero);
    set_obj(&o[TR_pidns_init_start_ts], int_zero);
    set_obj(&o[TR_last_enter], Py_None);
    set_obj(&o[TR_table], Py_None);
    if (fdtable_factory == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "set_record_classes() was not called");
        return -1;
    }
    Py_XSETREF(o[TR_fdtable], PyObject_CallNoArgs(fdtable_factory));
    if (o[TR_args] == NULL || o[TR_env] == NULL || o[TR_cgroups] == NULL || o[TR_fdtable] == NULL)
        return -1;
    return 0;
}

static PyObject *thread_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    long long tid, pid, ptid;
    static char *kwlist[] = {"tid", "pid", "ptid", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "LLL", kwlist, &tid, &pid, &ptid))
        return NULL;
    ThreadRecord *t = (ThreadRecord *)type->tp_alloc(type, 0);
    if (t == NULL)
        return NULL;
    t->tid = tid;
    t->pid = pid;
    t->ptid = ptid;
    if (lanner_thread_defaults(t) < 0) {
        Py_DECREF(t);
        return NULL;
    }
    return (PyObject *)t;
}

static int thread_traverse(ThreadRecord *t, visitproc visit, void *arg)
{
    for (int i = 0; i < TR_COUNT; i++)
        Py_VISIT(t->o[i]);
    return 0;
}

static int thread_clear(ThreadRecord *t)
{
    for (int i = 0; i < TR_COUNT; i++)
        Py_CLEAR(t->o[i]);
    return 0;
}

static void thread_dealloc(ThreadRecord *t)
{
    PyTypeObject *tp = Py_TYPE(t);
    PyObject_GC_UnTrack(t);
    thread_clear(t);
    tp->tp_free((PyObject *)t);
}

static PyObject *thread_is_main(ThreadRecord *t, void *closure)
{
    return PyBool_FromLong(t->tid == t->pid);
}

static PyGetSetDef thread_getset[] = {
    {"is_main", (getter)thread_is_main, NULL, "Whether tid == pid (the process's main thread).", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject LannerThreadRecordType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "lanner.sources.syscall._native.ThreadRecord",
    .tp_doc = "One thread's state (base of state.threads.ThreadInfo).",
    .tp_basicsize = sizeof(ThreadRecord),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_new = thread_new,
    .tp_dealloc = (destructor)thread_dealloc,
    .tp_traverse = (traverseproc)thread_traverse,
    .tp_clear = (inquiry)thread_clear,
    .tp_members = thread_members,
    .tp_getset = thread_getset,
};

/* ---------------------------------------------------------------------------------- */
/* FdRecord */

#define FOBJ(name) {#name, T_OBJECT, offsetof(FdRecord, o) + FR_##name * sizeof(PyObject *), 0, NULL}

static PyMemberDef fd_members[] = {
    {"fd", T_LONGLONG, offsetof(FdRecord, fd), 0, NULL},
    {"type", T_INT, offsetof(FdRecord, type), 0, NULL},
    {"l4proto", T_INT, offsetof(FdRecord, l4proto), 0, NULL},
    {"sock_l4", T_INT, offsetof(FdRecord, sock_l4), 0, NULL},
    {"role", T_INT, offsetof(FdRecord, role), 0, NULL},
    FOBJ(name), FOBJ(open_flags), FOBJ(dev), FOBJ(ino), FOBJ(cip), FOBJ(cport), FOBJ(sip),
    FOBJ(sport), FOBJ(name_changed_at), FOBJ(unix_source), FOBJ(unix_dest),
    {NULL, 0, 0, 0, NULL},
};

static int is_ip_type(int t) { return t >= LANNER_FD_IPV4_SOCK && t <= LANNER_FD_IPV6_SERVSOCK; }

FdRecord *lanner_fd_new(PyTypeObject *type, long long fd, int ftype, PyObject *name)
{
    FdRecord *f = (FdRecord *)type->tp_alloc(type, 0);
    if (f == NULL)
        return NULL;
    f->fd = fd;
    f->type = ftype;
    f->l4proto = is_ip_type(ftype) ? LANNER_L4_UNKNOWN : LANNER_L4_NA;
    f->sock_l4 = LANNER_L4_UNKNOWN;
    f->role = 0;
    PyObject **o = f->o;
    set_obj(&o[FR_name], name != NULL ? name : str_empty);
    set_obj(&o[FR_open_flags], int_zero);
    set_obj(&o[FR_dev], int_zero);
    set_obj(&o[FR_ino], int_zero);
    set_obj(&o[FR_cip], Py_None);
    set_obj(&o[FR_cport], Py_None);
    set_obj(&o[FR_sip], Py_None);
    set_obj(&o[FR_sport], Py_None);
    set_obj(&o[FR_name_changed_at], int_minus1);
    set_obj(&o[FR_unix_source], int_zero);
    set_obj(&o[FR_unix_dest], int_zero);
    return f;
}

static PyObject *fd_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    long long fd;
    int ftype;
    PyObject *name = NULL;
    static char *kwlist[] = {"fd", "ftype", "name", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "Li|U", kwlist, &fd, &ftype, &name))
        return NULL;
    return (PyObject *)lanner_fd_new(type, fd, ftype, name);
}

static void fd_dealloc(FdRecord *f)
{
    PyTypeObject *tp = Py_TYPE(f);
    for (int i = 0; i < FR_COUNT; i++)
        Py_CLEAR(f->o[i]);
    tp->tp_free((PyObject *)f);
}

FdRecord *lanner_fd_copy(FdRecord *src, long long fd)
{
    PyTypeObject *type = Py_TYPE(src);
    FdRecord *f = (FdRecord *)type->tp_alloc(type, 0);
    if (f == NULL)
        return NULL;
    f->fd = fd;
    f->type = src->type;
    f->l4proto = src->l4proto;
    f->sock_l4 = src->sock_l4;
    f->role = src->role;
    for (int i = 0; i < FR_COUNT; i++)
        set_obj(&f->o[i], src->o[i]);
    return f;
}

static PyObject *fd_copy(FdRecord *self, PyObject *const *args, Py_ssize_t nargs)
{
    long long fd = self->fd;
    if (nargs > 1) {
        PyErr_SetString(PyExc_TypeError, "copy() takes at most one argument");
        return NULL;
    }
    if (nargs == 1 && args[0] != Py_None) {
        fd = PyLong_AsLongLong(args[0]);
        if (fd == -1 && PyErr_Occurred())
            return NULL;
    }
    return (PyObject *)lanner_fd_copy(self, fd);
}

static PyMethodDef fd_methods[] = {
    {"copy", (PyCFunction)(void (*)(void))fd_copy, METH_FASTCALL,
     "A copy, optionally under another fd number (dup, fork)."},
    {NULL, NULL, 0, NULL},
};

PyTypeObject LannerFdRecordType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "lanner.sources.syscall._native.FdRecord",
    .tp_doc = "One open fd (base of state.fds.FdInfo).",
    .tp_basicsize = sizeof(FdRecord),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_new = fd_new,
    .tp_dealloc = (destructor)fd_dealloc,
    .tp_members = fd_members,
    .tp_methods = fd_methods,
};

/* ---------------------------------------------------------------------------------- */
/* FdTableRecord: the fds of one process, fd -> FdRecord (a dict), shared by threads */

static PyMemberDef fdtable_members[] = {
    {"fds", T_OBJECT, offsetof(FdTableRecord, fds), 0, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyObject *fdtable_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    if (PyTuple_GET_SIZE(args) || (kwds != NULL && PyDict_GET_SIZE(kwds))) {
        PyErr_SetString(PyExc_TypeError, "FdTable() takes no arguments");
        return NULL;
    }
    FdTableRecord *t = (FdTableRecord *)type->tp_alloc(type, 0);
    if (t == NULL)
        return NULL;
    t->fds = PyDict_New();
    if (t->fds == NULL) {
        Py_DECREF(t);
        return NULL;
    }
    return (PyObject *)t;
}

static int fdtable_traverse(FdTableRecord *t, visitproc visit, void *arg)
{
    Py_VISIT(t->fds);
    return 0;
}

static int fdtable_clear(FdTableRecord *t)
{
    Py_CLEAR(t->fds);
    return 0;
}

static void fdtable_dealloc(FdTableRecord *t)
{
    PyTypeObject *tp = Py_TYPE(t);
    PyObject_GC_UnTrack(t);
    fdtable_clear(t);
    tp->tp_free((PyObject *)t);
}

static Py_ssize_t fdtable_len(FdTableRecord *t)
{
    return t->fds != NULL ? PyDict_GET_SIZE(t->fds) : 0;
}

static PySequenceMethods fdtable_as_sequence = {
    .sq_length = (lenfunc)fdtable_len,
};

PyTypeObject LannerFdTableRecordType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "lanner.sources.syscall._native.FdTableRecord",
    .tp_doc = "The fds of one process (base of state.fds.FdTable).",
    .tp_basicsize = sizeof(FdTableRecord),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_new = fdtable_new,
    .tp_dealloc = (destructor)fdtable_dealloc,
    .tp_traverse = (traverseproc)fdtable_traverse,
    .tp_clear = (inquiry)fdtable_clear,
    .tp_members = fdtable_members,
    .tp_as_sequence = &fdtable_as_sequence,
};

/* ---------------------------------------------------------------------------------- */

static PyObject *set_record_classes(PyObject *self, PyObject *args)
{
    PyObject *fdtable_cls;
    if (!PyArg_ParseTuple(args, "O!", &PyType_Type, &fdtable_cls))
        return NULL;
    if (!PyType_IsSubtype((PyTypeObject *)fdtable_cls, &LannerFdTableRecordType)) {
        PyErr_SetString(PyExc_TypeError, "set_record_classes(): not an FdTableRecord subclass");
        return NULL;
    }
    set_obj(&fdtable_factory, fdtable_cls);
    Py_RETURN_NONE;
}

static PyMethodDef record_methods[] = {
    {"set_record_classes", set_record_classes, METH_VARARGS,
     "set_record_classes(FdTable): the class new threads' fd tables are made of."},
    {NULL, NULL, 0, NULL},
};

int lanner_register_records(PyObject *module)
{
    str_na = PyUnicode_InternFromString("<NA>");
    str_empty = PyUnicode_InternFromString("");
    str_host = PyUnicode_InternFromString("host");
    int_zero = PyLong_FromLong(0);
    int_minus1 = PyLong_FromLong(-1);
    if (!str_na || !str_empty || !str_host || !int_zero || !int_minus1)
        return -1;
    PyTypeObject *types[] = {&LannerThreadRecordType, &LannerFdRecordType, &LannerFdTableRecordType};
    const char *names[] = {"ThreadRecord", "FdRecord", "FdTableRecord"};
    for (int i = 0; i < 3; i++) {
        if (PyType_Ready(types[i]) < 0)
            return -1;
        Py_INCREF(types[i]);
        if (PyModule_AddObject(module, names[i], (PyObject *)types[i]) < 0) {
            Py_DECREF(types[i]);
            return -1;
        }
    }
    return PyModule_AddFunctions(module, record_methods);
}
