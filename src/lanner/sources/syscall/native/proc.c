/*
 * The state handlers of processes (libsinsp's parse_clone_exit, parse_execve_exit,
 * parse_thread_exit and remove_thread) and of the user and group events.
 *
 * Threads are ThreadRecords in the ThreadTable (state/threads.py: a dict with pid and
 * parent indices, bounded, counting what it refuses); these handlers change it only
 * through its methods (add, remove, set_pid, set_ptid, group, children), so its indices
 * stay right. Parameters are read as parser._arg / Event.eint give them; cgroups (with
 * their container id) and environments are decoded by the parser's cached decoders.
 */
#include "engine.h"
#include "paths.h"

#include <string.h>

#define PPM_CL_CLONE_FILES 1ULL
#define PPM_CL_CLONE_PARENT 256ULL
#define PPM_CL_CLONE_THREAD 8192ULL
#define PPM_O_CLOEXEC_ (1ULL << 12)

/* md.split_nul: NUL-separated strings, the trailing empty one dropped, UTF-8 "replace" */
static PyObject *split_nul(const char *p, Py_ssize_t n)
{
    PyObject *out = PyList_New(0);
    if (out == NULL || n == 0)
        return out;
    if (p[n - 1] == '\0')
        n--;
    Py_ssize_t start = 0;
    for (Py_ssize_t i = 0; i <= n; i++) {
        if (i < n && p[i] != '\0')
            continue;
        PyObject *s = PyUnicode_DecodeUTF8(p + start, i - start, "replace");
        if (s == NULL || PyList_Append(out, s) < 0) {
            Py_XDECREF(s);
            Py_DECREF(out);
            return NULL;
        }
        Py_DECREF(s);
        start = i + 1;
    }
    return out;
}

static int is_nonempty_bytes(PyObject *v)
{
    return (PyBytes_Check(v) && PyBytes_GET_SIZE(v) > 0) ||
           (PyByteArray_Check(v) && PyByteArray_GET_SIZE(v) > 0);
}

/* bytes(v) for bytes or bytearray (a new reference) */
static PyObject *as_bytes(PyObject *v)
{
    if (PyBytes_Check(v)) {
        Py_INCREF(v);
        return v;
    }
    return PyBytes_FromObject(v);
}

/* *out = fn(bytes of parameter ``name``) when it is non-empty bytes, else NULL; -1 with an
 * exception on errors */
static int decode_arg(StateCore *c, EventRecord *e, int name, PyObject *fn, PyObject **out)
{
    *out = NULL;
    PyObject *v = eng_arg_k(c, e, name);
    if (v == NULL)
        return -1;
    int r = 0;
    if (is_nonempty_bytes(v)) {
        PyObject *raw = as_bytes(v);
        *out = raw != NULL ? PyObject_CallOneArg(fn, raw) : NULL;
        Py_XDECREF(raw);
        r = *out == NULL ? -1 : 0;
    }
    Py_DECREF(v);
    return r;
}

/* set th.<slot> = evt.eint(name) when not None */
static int set_int_slot(StateCore *c, ThreadRecord *th, EventRecord *e, int name, int slot)
{
    PyObject *v = eng_eint_k(c, e, name);
    if (v == NULL)
        return -1;
    if (v != Py_None)
        Py_XSETREF(th->o[slot], v);
    else
        Py_DECREF(v);
    return 0;
}

/* the base name of ``exe``, cut to 15 characters (a comm) */
static PyObject *comm_of(PyObject *exe)
{
    Py_ssize_t n = PyUnicode_GET_LENGTH(exe);
    Py_ssize_t slash = PyUnicode_FindChar(exe, '/', 0, n, -1);
    if (slash == -2)
        return NULL;
    Py_ssize_t start = slash + 1;
    Py_ssize_t stop = n - start > 15 ? start + 15 : n;
    return PyUnicode_Substring(exe, start, stop);
}

/* parser's exec-like fill: what a clone or execve exit says about the thread */
static int fill_from_exec_like(StateCore *c, ThreadRecord *th, EventRecord *e, int with_cwd,
                               int with_ns_ids)
{
    int rc = -1;
    PyObject *exe = NULL, *args = NULL, *comm = NULL, *v = NULL;
    exe = eng_arg_k(c, e, PN_exe);
    if (exe == NULL)
        goto done;
    if (PyUnicode_Check(exe))
        eng_set_slot(&th->o[TR_exe], exe);
    args = eng_arg_k(c, e, PN_args);
    if (args == NULL)
        goto done;
    if (PyBytes_Check(args) || PyByteArray_Check(args)) {
        const char *p = PyBytes_Check(args) ? PyBytes_AS_STRING(args) : PyByteArray_AS_STRING(args);
        Py_ssize_t n = PyBytes_Check(args) ? PyBytes_GET_SIZE(args) : PyByteArray_GET_SIZE(args);
        PyObject *list = split_nul(p, n);
        if (list == NULL)
            goto done;
        Py_XSETREF(th->o[TR_args], list);
    } else if (PyList_Check(args)) {
        eng_set_slot(&th->o[TR_args], args);
    }
    comm = eng_arg_k(c, e, PN_comm);
    if (comm == NULL)
        goto done;
    if (PyUnicode_Check(comm) && PyUnicode_GET_LENGTH(comm) > 0) {
        eng_set_slot(&th->o[TR_comm], comm);
    } else if (PyUnicode_Check(exe) && PyUnicode_GET_LENGTH(exe) > 0) {
        PyObject *base = comm_of(exe);
        if (base == NULL)
            goto done;
        Py_XSETREF(th->o[TR_comm], base);
    }
    if (with_cwd) {
        v = eng_arg_k(c, e, PN_cwd);
        if (v == NULL)
            goto done;
        if (PyUnicode_Check(v) && PyUnicode_GET_LENGTH(v) > 0) {
            PyObject *s = eng_with_slash(v);
            if (s == NULL)
                goto done;
            Py_XSETREF(th->o[TR_cwd], s);
        }
        Py_CLEAR(v);
    }
    if (set_int_slot(c, th, e, PN_fdlimit, TR_fdlimit) < 0)
        goto done;
    PyObject *hit;
    if (decode_arg(c, e, PN_cgroups, c->cgroups_fn, &hit) < 0)
        goto done;
    if (hit != NULL) {
        if (!PyTuple_Check(hit) || PyTuple_GET_SIZE(hit) != 2) {
            Py_DECREF(hit);
            PyErr_SetString(PyExc_TypeError, "the cgroups decoder must give (cgroups, container id)");
            goto done;
        }
        eng_set_slot(&th->o[TR_cgroups], PyTuple_GET_ITEM(hit, 0));
        eng_set_slot(&th->o[TR_container_id], PyTuple_GET_ITEM(hit, 1));
        Py_DECREF(hit);
    }
    PyObject *env;
    if (decode_arg(c, e, PN_env, c->env_fn, &env) < 0)
        goto done;
    if (env != NULL)
        Py_XSETREF(th->o[TR_env], env);
    static const int ids[3] = {PN_uid, PN_gid, PN_loginuid};
    static const int id_slots[3] = {TR_uid, TR_gid, TR_loginuid};
    for (int k = 0; k < 3; k++)
        if (set_int_slot(c, th, e, ids[k], id_slots[k]) < 0)
            goto done;
    if (with_ns_ids) {
        static const int ns[3] = {PN_vtid, PN_vpid, PN_pidns_init_start_ts};
        static const int ns_slots[3] = {TR_vtid, TR_vpid, TR_pidns_init_start_ts};
        for (int k = 0; k < 3; k++)
            if (set_int_slot(c, th, e, ns[k], ns_slots[k]) < 0)
                goto done;
    }
    if (set_int_slot(c, th, e, PN_tty, TR_tty) < 0)
        goto done;
    static const int caps[3] = {PN_cap_inheritable, PN_cap_permitted, PN_cap_effective};
    static const int cap_slots[3] = {TR_cap_inheritable, TR_cap_permitted, TR_cap_effective};
    for (int k = 0; k < 3; k++)
        if (set_int_slot(c, th, e, caps[k], cap_slots[k]) < 0)
            goto done;
    rc = 0;
done:
    Py_XDECREF(exe);
    Py_XDECREF(args);
    Py_XDECREF(comm);
    Py_XDECREF(v);
    return rc;
}

/* what a new thread takes from its parent (the process-wide values from its main thread) */
static int inherit(StateCore *c, ThreadRecord *child, ThreadRecord *parent)
{
    ThreadRecord *pm = eng_main_thread(c, parent);
    if (pm == NULL)
        return -1;
    static const int same[] = {
        TR_comm, TR_exe, TR_exepath, TR_uid, TR_gid, TR_loginuid, TR_tty, TR_sid, TR_vpgid,
        TR_cgroups, TR_container_id, TR_cap_inheritable, TR_cap_permitted, TR_cap_effective,
        TR_exe_writable, TR_exe_upper_layer, TR_exe_from_memfd, TR_exe_ino, TR_exe_ino_ctime,
        TR_exe_ino_mtime, TR_root, TR_fdlimit,
    };
    for (size_t k = 0; k < sizeof same / sizeof same[0]; k++)
        eng_set_slot(&child->o[same[k]], parent->o[same[k]]);
    PyObject *args = parent->o[TR_args] != NULL ? PySequence_List(parent->o[TR_args]) : NULL;
    if (args == NULL)
        return -1;
    Py_XSETREF(child->o[TR_args], args);
    eng_set_slot(&child->o[TR_env], pm->o[TR_env]);
    eng_set_slot(&child->o[TR_cwd], pm->o[TR_cwd]);
    return 0;
}

/* the child's fds: the parent process's table itself (CLONE_FILES, threads) or a copy */
static int share_fds(StateCore *c, ThreadRecord *child, ThreadRecord *parent, unsigned long long flags)
{
    ThreadRecord *pm = eng_main_thread(c, parent);
    if (pm == NULL)
        return -1;
    PyObject *src = pm->o[TR_fdtable];
    if (src == NULL) {
        PyErr_SetString(PyExc_TypeError, "a thread has no fd table");
        return -1;
    }
    if (flags & (PPM_CL_CLONE_FILES | PPM_CL_CLONE_THREAD)) {
        eng_set_slot(&child->o[TR_fdtable], src);
        return 0;
    }
    PyObject *copy = PyObject_CallMethod(src, "copy", NULL);
    if (copy == NULL)
        return -1;
    Py_XSETREF(child->o[TR_fdtable], copy);
    return 0;
}

/* threads.get(tid), borrowed (NULL: none, or an error when PyErr_Occurred) */
static ThreadRecord *get_thread(StateCore *c, long long tid)
{
    PyObject *key = PyLong_FromLongLong(tid);
    if (key == NULL)
        return NULL;
    PyObject *t = PyDict_GetItemWithError(c->threads, key);
    Py_DECREF(key);
    if (t != NULL && !PyObject_TypeCheck(t, &LannerThreadRecordType)) {
        PyErr_SetString(PyExc_TypeError, "the thread table holds a non-ThreadInfo");
        return NULL;
    }
    return (ThreadRecord *)t;
}

/* ThreadInfo(tid, pid, ptid), a new reference */
static ThreadRecord *new_thread(StateCore *c, long long tid, long long pid, long long ptid)
{
    PyObject *t = PyObject_CallFunction(c->thread_cls, "LLL", tid, pid, ptid);
    if (t != NULL && !PyObject_TypeCheck(t, &LannerThreadRecordType)) {
        Py_DECREF(t);
        PyErr_SetString(PyExc_TypeError, "the thread class is not a ThreadRecord");
        return NULL;
    }
    return (ThreadRecord *)t;
}

/* threads.add(t): the added thread (a new reference) or None when the table is full */
static PyObject *table_add(StateCore *c, ThreadRecord *t)
{
    return PyObject_CallMethod(c->table, "add", "O", (PyObject *)t);
}

int on_clone_exit(StateCore *c, EventRecord *e, ThreadRecord *th, const type_spec *sp)
{
    long long res = 0;
    PyObject *r = eng_res(e, sp);
    if (r == NULL)
        return -1;
    int has = eng_as_ll(r, &res, 0);
    int neg = has == 1 ? PyObject_RichCompareBool(r, eng_int_zero(), Py_LT) : 0;
    Py_DECREF(r);
    if (has < 0 || neg < 0)
        return -1;
    if (has == 0 || neg)
        return 0;
    PyObject *flags = eng_eint_k(c, e, PN_flags);
    if (flags == NULL)
        return -1;
    int ft = PyObject_IsTrue(flags);
    if (ft <= 0) { /* "or 0" */
        Py_DECREF(flags);
        if (ft < 0)
            return -1;
        flags = eng_int_zero();
        Py_INCREF(flags);
    }
    unsigned long long fl = PyLong_AsUnsignedLongLongMask(flags);
    if (fl == (unsigned long long)-1 && PyErr_Occurred()) {
        Py_DECREF(flags);
        return -1;
    }
    int rc = -1;
    ThreadRecord *child = NULL, *parent = NULL;
    PyObject *added = NULL;
    if (res > 0) {
        /* the caller's side: res is the child's tid */
        ThreadRecord *known = get_thread(c, res);
        if (known != NULL || PyErr_Occurred() || th == NULL) {
            rc = PyErr_Occurred() ? -1 : 0;
            goto done;
        }
        long long ptid = fl & PPM_CL_CLONE_PARENT ? th->ptid : th->tid;
        long long pid = fl & PPM_CL_CLONE_THREAD ? th->pid : res;
        child = new_thread(c, res, pid, ptid);
        if (child == NULL || inherit(c, child, th) < 0 ||
            fill_from_exec_like(c, child, e, 1, 0) < 0)
            goto done;
        /* the event's vtid/vpid are the caller's; outside a pid namespace the child's equal
         * its tid/pid, inside we learn them from the child's own event */
        PyObject *ctid = PyLong_FromLongLong(th->tid);
        if (ctid == NULL)
            goto done;
        int same = th->o[TR_vtid] != NULL ? PyObject_RichCompareBool(th->o[TR_vtid], ctid, Py_EQ) : 0;
        Py_DECREF(ctid);
        if (same < 0)
            goto done;
        if (same) {
            PyObject *vt = PyLong_FromLongLong(child->tid), *vp = PyLong_FromLongLong(child->pid);
            if (vt == NULL || vp == NULL) {
                Py_XDECREF(vt);
                Py_XDECREF(vp);
                goto done;
            }
            Py_XSETREF(child->o[TR_vtid], vt);
            Py_XSETREF(child->o[TR_vpid], vp);
        }
        eng_set_slot(&child->o[TR_flags], flags);
        if (share_fds(c, child, th, fl) < 0)
            goto done;
        PyObject *ts = PyLong_FromUnsignedLongLong(e->ts);
        if (ts == NULL)
            goto done;
        Py_XSETREF(child->o[TR_clone_ts], ts);
        added = table_add(c, child);
        rc = added != NULL ? 0 : -1;
        goto done;
    }
    /* the child's side: the event's tid/pid/ptid describe the new thread */
    if (th != NULL && !th->dead) {
        PyObject *comm = th->o[TR_comm];
        int na = comm != NULL && PyUnicode_Check(comm) && PyUnicode_CompareWithASCIIString(comm, "<NA>") == 0;
        if (!na) {
            /* built from the caller's event already; only the namespace ids are new here */
            static const int ns[2] = {PN_vtid, PN_vpid};
            static const int slots[2] = {TR_vtid, TR_vpid};
            for (int k = 0; k < 2; k++) {
                PyObject *v = eng_eint_k(c, e, ns[k]);
                if (v == NULL)
                    goto done;
                int ok = eng_non_negative(v);
                if (ok < 0) {
                    Py_DECREF(v);
                    goto done;
                }
                if (ok)
                    Py_XSETREF(th->o[slots[k]], v);
                else
                    Py_DECREF(v);
            }
            rc = 0;
            goto done;
        }
    }
    long long tid = e->tid, new_pid = tid, new_ptid = -1;
    if (eng_eint_ll(c, e, PN_pid, &new_pid, 0) < 0 ||
        eng_eint_ll(c, e, PN_ptid, &new_ptid, 0) < 0)
        goto done;
    child = new_thread(c, tid, new_pid, new_ptid);
    if (child == NULL)
        goto done;
    parent = get_thread(c, fl & PPM_CL_CLONE_THREAD ? child->pid : child->ptid);
    if (parent == NULL && PyErr_Occurred())
        goto done;
    Py_XINCREF(parent);
    if (parent != NULL && inherit(c, child, parent) < 0)
        goto done;
    if (fill_from_exec_like(c, child, e, 1, 1) < 0)
        goto done;
    eng_set_slot(&child->o[TR_flags], flags);
    if (parent != NULL && share_fds(c, child, parent, fl) < 0)
        goto done;
    PyObject *ts = PyLong_FromUnsignedLongLong(e->ts);
    if (ts == NULL)
        goto done;
    Py_XSETREF(child->o[TR_clone_ts], ts);
    added = table_add(c, child);
    if (added == NULL)
        goto done;
    eng_set_slot(&e->o[ER_thread], added != Py_None ? added : (th != NULL ? (PyObject *)th : Py_None));
    rc = 0;
done:
    Py_XDECREF(flags);
    Py_XDECREF(child);
    Py_XDECREF(parent);
    Py_XDECREF(added);
    return rc;
}

int on_execve_exit(StateCore *c, EventRecord *e, ThreadRecord *th, const type_spec *sp)
{
    if (th == NULL)
        return 0;
    PyObject *r = eng_res(e, sp);
    if (r == NULL)
        return -1;
    int ok = eng_non_negative(r);
    Py_DECREF(r);
    if (ok <= 0)
        return ok;
    /* libsinsp keeps the working directory it knew; execve's cwd param is not applied */
    if (fill_from_exec_like(c, th, e, 0, 1) < 0)
        return -1;
    /* as libsinsp: an exec takes the event's process group */
    if (set_int_slot(c, th, e, PN_vpgid, TR_vpgid) < 0)
        return -1;
    PyObject *pid = eng_eint_k(c, e, PN_pid);
    if (pid == NULL)
        return -1;
    int pos = pid != Py_None ? PyObject_RichCompareBool(pid, eng_int_zero(), Py_GT) : 0;
    PyObject *done_ = pos > 0 ? PyObject_CallMethod(c->table, "set_pid", "OO", (PyObject *)th, pid) : NULL;
    Py_DECREF(pid);
    if (pos < 0 || (pos > 0 && done_ == NULL))
        return -1;
    Py_XDECREF(done_);
    PyObject *ptid = eng_eint_k(c, e, PN_ptid);
    if (ptid == NULL)
        return -1;
    int nn = th->pid == th->tid ? eng_non_negative(ptid) : 0;
    done_ = nn > 0 ? PyObject_CallMethod(c->table, "set_ptid", "OO", (PyObject *)th, ptid) : NULL;
    Py_DECREF(ptid);
    if (nn < 0 || (nn > 0 && done_ == NULL))
        return -1;
    Py_XDECREF(done_);
    int rc = -1;
    PyObject *trusted = NULL, *filename = NULL;
    trusted = eng_arg_k(c, e, PN_trusted_exepath);
    if (trusted == NULL)
        goto done;
    filename = eng_arg_k(c, e, PN_filename);
    if (filename == NULL)
        goto done;
    int ft = PyObject_IsTrue(filename);
    if (ft < 0)
        goto done;
    PyObject *enter = e->o[ER_enter];
    if (!ft && enter != NULL && enter != Py_None) {
        Py_SETREF(filename, PyObject_CallMethod(enter, "arg", "s", "filename"));
        if (filename == NULL)
            goto done;
    }
    if (PyUnicode_Check(trusted) && PyUnicode_GET_LENGTH(trusted) > 0) {
        eng_set_slot(&th->o[TR_exepath], trusted);
    } else if (PyUnicode_Check(filename) && PyUnicode_GET_LENGTH(filename) > 0) {
        ThreadRecord *mt = eng_main_thread(c, th);
        if (mt == NULL)
            goto done;
        PyObject *cwd = mt->o[TR_cwd];
        if (cwd == NULL || !PyUnicode_Check(cwd)) {
            PyErr_SetString(PyExc_TypeError, "the working directory is not a str");
            goto done;
        }
        PyObject *path = lanner_resolve_path(cwd, filename);
        if (path == NULL)
            goto done;
        Py_XSETREF(th->o[TR_exepath], path);
    } else {
        PyObject *exe = th->o[TR_exe];
        if (exe != NULL && PyUnicode_Check(exe) && PyUnicode_GET_LENGTH(exe) > 0 &&
            PyUnicode_READ_CHAR(exe, 0) == '/')
            eng_set_slot(&th->o[TR_exepath], exe);
    }
    static const int inos[3] = {PN_exe_ino, PN_exe_ino_ctime, PN_exe_ino_mtime};
    static const int ino_slots[3] = {TR_exe_ino, TR_exe_ino_ctime, TR_exe_ino_mtime};
    for (int k = 0; k < 3; k++)
        if (set_int_slot(c, th, e, inos[k], ino_slots[k]) < 0)
            goto done;
    PyObject *flags = eng_eint_k(c, e, PN_flags);
    if (flags == NULL)
        goto done;
    if (flags != Py_None) {
        /* execve's flags: PPM_EXE_WRITABLE / UPPER_LAYER / FROM_MEMFD bits */
        unsigned long long fl = PyLong_AsUnsignedLongLongMask(flags);
        if (fl == (unsigned long long)-1 && PyErr_Occurred()) {
            Py_DECREF(flags);
            goto done;
        }
        eng_set_slot(&th->o[TR_exe_writable], fl & 1 ? Py_True : Py_False);
        eng_set_slot(&th->o[TR_exe_upper_layer], fl & 2 ? Py_True : Py_False);
        eng_set_slot(&th->o[TR_exe_from_memfd], fl & 4 ? Py_True : Py_False);
    }
    Py_DECREF(flags);
    /* O_CLOEXEC fds go */
    PyObject *fds = eng_fds_of(th);
    if (fds == NULL)
        goto done;
    PyObject *key, *val, *gone = NULL;
    Py_ssize_t pos_ = 0;
    while (PyDict_Next(fds, &pos_, &key, &val)) {
        if (!PyObject_TypeCheck(val, &LannerFdRecordType))
            continue;
        PyObject *of = ((FdRecord *)val)->o[FR_open_flags];
        if (of == NULL || !PyLong_Check(of))
            continue;
        unsigned long long bits = PyLong_AsUnsignedLongLongMask(of);
        if (bits == (unsigned long long)-1 && PyErr_Occurred())
            goto done;
        if (!(bits & PPM_O_CLOEXEC_))
            continue;
        if (gone == NULL && (gone = PyList_New(0)) == NULL)
            goto done;
        if (PyList_Append(gone, key) < 0) {
            Py_DECREF(gone);
            goto done;
        }
    }
    if (gone != NULL) {
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(gone); i++)
            if (PyDict_DelItem(fds, PyList_GET_ITEM(gone, i)) < 0) {
                Py_DECREF(gone);
                goto done;
            }
        Py_DECREF(gone);
    }
    rc = 0;
done:
    Py_XDECREF(trusted);
    Py_XDECREF(filename);
    return rc;
}

/* threads.group(pid) or threads.children(t): a new list */
static PyObject *table_list(StateCore *c, const char *method, PyObject *arg)
{
    PyObject *l = PyObject_CallMethod(c->table, method, "O", arg);
    if (l != NULL && !PyList_Check(l)) {
        Py_DECREF(l);
        PyErr_Format(PyExc_TypeError, "ThreadTable.%s() must return a list", method);
        return NULL;
    }
    return l;
}

/* whether ``group`` holds a thread other than ``th`` (1), none (0), -1 on error */
static int first_other(PyObject *group, ThreadRecord *th, PyObject **out)
{
    *out = NULL;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(group); i++) {
        PyObject *o = PyList_GET_ITEM(group, i);
        if (o != (PyObject *)th) {
            *out = o;
            return 1;
        }
    }
    return 0;
}

int on_procexit(StateCore *c, EventRecord *e, ThreadRecord *th, const type_spec *sp)
{
    if (th == NULL)
        return 0;
    th->dead = 1;
    PyObject *tid = PyLong_FromLongLong(th->tid);
    if (tid == NULL)
        return -1;
    Py_XSETREF(c->remove_tid, tid); /* removed before the next event */
    c->pending = 1;
    PyObject *reaper_tid = eng_eint_k(c, e, PN_reaper_tid);
    if (reaper_tid == NULL)
        return -1;
    if (th->tid != th->pid) {
        Py_DECREF(reaper_tid);
        return 0;
    }
    int rc = -1;
    PyObject *reaper = NULL, *group = NULL, *children = NULL, *pid = NULL;
    int pos = reaper_tid != Py_None ? PyObject_RichCompareBool(reaper_tid, eng_int_zero(), Py_GT) : 0;
    if (pos < 0)
        goto done;
    if (pos) {
        reaper = PyDict_GetItemWithError(c->threads, reaper_tid);
        if (reaper == NULL && PyErr_Occurred())
            goto done;
        Py_XINCREF(reaper);
    }
    if (reaper == NULL) {
        pid = PyLong_FromLongLong(th->pid);
        group = pid != NULL ? table_list(c, "group", pid) : NULL;
        if (group == NULL)
            goto done;
        PyObject *o;
        if (first_other(group, th, &o)) {
            reaper = o;
            Py_INCREF(reaper);
        }
    }
    if (reaper == NULL) {
        rc = 0;
        goto done;
    }
    if (!PyObject_TypeCheck(reaper, &LannerThreadRecordType)) {
        PyErr_SetString(PyExc_TypeError, "the thread table holds a non-ThreadInfo");
        goto done;
    }
    /* the children of another process are re-parented to the reaper */
    children = table_list(c, "children", (PyObject *)th);
    if (children == NULL)
        goto done;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(children); i++) {
        PyObject *child = PyList_GET_ITEM(children, i);
        if (!PyObject_TypeCheck(child, &LannerThreadRecordType)) {
            PyErr_SetString(PyExc_TypeError, "the thread table holds a non-ThreadInfo");
            goto done;
        }
        if (((ThreadRecord *)child)->pid == th->pid)
            continue;
        PyObject *r = PyObject_CallMethod(c->table, "set_ptid", "OL", child,
                                          ((ThreadRecord *)reaper)->tid);
        if (r == NULL)
            goto done;
        Py_DECREF(r);
    }
    rc = 0;
done:
    Py_DECREF(reaper_tid);
    Py_XDECREF(reaper);
    Py_XDECREF(group);
    Py_XDECREF(children);
    Py_XDECREF(pid);
    return rc;
}

/* An exited thread leaves the table before the next event; a main thread stays while its
 * process has live threads, and goes with the last of them once it exited itself. */
int eng_drop_thread(StateCore *c, PyObject *tid)
{
    PyObject *t = PyDict_GetItemWithError(c->threads, tid);
    if (t == NULL)
        return PyErr_Occurred() ? -1 : 0;
    if (!PyObject_TypeCheck(t, &LannerThreadRecordType)) {
        PyErr_SetString(PyExc_TypeError, "the thread table holds a non-ThreadInfo");
        return -1;
    }
    ThreadRecord *th = (ThreadRecord *)t;
    Py_INCREF(th);
    int rc = -1;
    PyObject *pid = PyLong_FromLongLong(th->pid), *group = NULL, *r = NULL;
    if (pid == NULL)
        goto done;
    int is_main = th->tid == th->pid;
    if (is_main) {
        group = table_list(c, "group", pid);
        if (group == NULL)
            goto done;
        PyObject *o;
        if (first_other(group, th, &o)) {
            rc = 0; /* kept while its process has live threads */
            goto done;
        }
        Py_CLEAR(group);
    }
    r = PyObject_CallMethod(c->table, "remove", "O", tid);
    if (r == NULL)
        goto done;
    Py_CLEAR(r);
    if (!is_main) {
        ThreadRecord *mt = get_thread(c, th->pid);
        if (mt == NULL) {
            rc = PyErr_Occurred() ? -1 : 0;
            goto done;
        }
        if (mt->dead) {
            Py_INCREF(mt);
            group = table_list(c, "group", pid);
            if (group != NULL && PyList_GET_SIZE(group) == 0)
                r = PyObject_CallMethod(c->table, "remove", "L", mt->tid);
            Py_DECREF(mt);
            if (group == NULL || (PyList_GET_SIZE(group) == 0 && r == NULL))
                goto done;
        }
    }
    rc = 0;
done:
    Py_DECREF(th);
    Py_XDECREF(pid);
    Py_XDECREF(group);
    Py_XDECREF(r);
    return rc;
}

/* str(evt.arg(name) or "") */
static PyObject *str_arg(EventRecord *e, const char *name)
{
    PyObject *v = PyObject_CallMethod((PyObject *)e, "arg", "s", name);
    if (v == NULL)
        return NULL;
    int t = PyObject_IsTrue(v);
    PyObject *s = t < 0 ? NULL : t ? PyObject_Str(v) : PyUnicode_FromString("");
    Py_DECREF(v);
    return s;
}

/* useradded, userdeleted, groupadded, groupdeleted: the user table (sp->simple_type: 0..3) */
int on_user_event(StateCore *c, EventRecord *e, ThreadRecord *th, const type_spec *sp)
{
    int kind = sp->simple_type; /* 0 user added, 1 user deleted, 2 group added, 3 deleted */
    PyObject *id = eng_eint_k(c, e, kind < 2 ? PN_uid : PN_gid);
    if (id == NULL)
        return -1;
    if (id == Py_None) {
        Py_DECREF(id);
        return 0;
    }
    int rc = -1;
    PyObject *users = PyObject_GetAttrString((PyObject *)c, "users");
    PyObject *obj = NULL, *r = NULL, *name = NULL, *home = NULL, *shell = NULL, *gid = NULL;
    if (users == NULL)
        goto done;
    if (kind == 1 || kind == 3) {
        PyObject *table = PyObject_GetAttrString(users, kind == 1 ? "users" : "groups");
        if (table == NULL)
            goto done;
        r = PyObject_CallMethod(table, "pop", "OO", id, Py_None);
        Py_DECREF(table);
        rc = r != NULL ? 0 : -1;
        goto done;
    }
    if ((name = str_arg(e, "name")) == NULL)
        goto done;
    if (kind == 0) {
        gid = eng_eint_k(c, e, PN_gid);
        if (gid == NULL)
            goto done;
        int t = PyObject_IsTrue(gid);
        if (t < 0)
            goto done;
        if (!t) {
            Py_DECREF(gid);
            gid = eng_int_zero();
            Py_INCREF(gid);
        }
        if ((home = str_arg(e, "home")) == NULL || (shell = str_arg(e, "shell")) == NULL)
            goto done;
        obj = PyObject_CallFunctionObjArgs(c->user_cls, id, gid, name, home, shell, NULL);
        if (obj == NULL)
            goto done;
        r = PyObject_CallMethod(users, "add_user", "O", obj);
    } else {
        obj = PyObject_CallFunctionObjArgs(c->group_cls, id, name, NULL);
        if (obj == NULL)
            goto done;
        r = PyObject_CallMethod(users, "add_group", "O", obj);
    }
    rc = r != NULL ? 0 : -1;
done:
    Py_DECREF(id);
    Py_XDECREF(users);
    Py_XDECREF(obj);
    Py_XDECREF(r);
    Py_XDECREF(name);
    Py_XDECREF(home);
    Py_XDECREF(shell);
    Py_XDECREF(gid);
    return rc;
}

/* libsinsp's "invalid" thread for a tid the capture never described: <NA> names, uid,
 * gid and loginuid of -1 (as 32-bit values); a new reference to the added thread, or None
 * when the table is full */
PyObject *eng_placeholder(StateCore *c, long long tid)
{
    ThreadRecord *t = new_thread(c, tid, tid, -1);
    if (t == NULL)
        return NULL;
    PyObject *na = PyLong_FromUnsignedLong(0xFFFFFFFFUL);
    if (na == NULL) {
        Py_DECREF(t);
        return NULL;
    }
    eng_set_slot(&t->o[TR_uid], na);
    eng_set_slot(&t->o[TR_gid], na);
    eng_set_slot(&t->o[TR_loginuid], na);
    Py_DECREF(na);
    PyObject *added = table_add(c, t);
    Py_DECREF(t);
    return added;
}
