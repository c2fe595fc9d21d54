/*
 * The state handlers of socket addresses (libsinsp's parse_connect_exit, parse_accept_exit,
 * parse_bind_exit and the UDP tuple of send/receive exits): an fd's tuple, kept client ->
 * server whichever side we are on, its name, role and layer-4 protocol.
 *
 * The tuple and address parameters are decoded by params.py (SockTuple, SockAddr: named
 * tuples, read here by position); everything else is C.
 */
#include "engine.h"

/* SockTuple's fields by position (params.py) */
enum { ST_family, ST_sip, ST_sport, ST_dip, ST_dport, ST_path, ST_source, ST_dest, ST_COUNT };
/* SockAddr's */
enum { SA_family, SA_addr, SA_port, SA_path, SA_COUNT };

#define ROLE_CLIENT 1
#define ROLE_SERVER 2
#define EINPROGRESS_ 115
#define FD_TYPE_IPV4_SERVSOCK 5
#define FD_TYPE_IPV6_SERVSOCK 6

/* ``v`` as a C long, or -1 when it is not a small int (families, nothing else) */
static long small_int(PyObject *v)
{
    if (!PyLong_Check(v))
        return -1;
    int overflow = 0;
    long x = PyLong_AsLongAndOverflow(v, &overflow);
    if (x == -1 && PyErr_Occurred())
        PyErr_Clear();
    return overflow ? -1 : x;
}

/* ``v or default`` (a new reference) */
static PyObject *or_default(PyObject *v, PyObject *dflt)
{
    int t = PyObject_IsTrue(v);
    if (t < 0)
        return NULL;
    PyObject *r = t ? v : dflt;
    Py_INCREF(r);
    return r;
}

/* FdInfo.set_name: the event number is kept when the name changes (fd.name_changed) */
static int set_name(FdRecord *info, PyObject *name, unsigned long long num)
{
    PyObject *old = info->o[FR_name];
    int same = old != NULL ? PyObject_RichCompareBool(name, old, Py_EQ) : 0;
    if (same < 0)
        return -1;
    if (!same) {
        PyObject *n = PyLong_FromUnsignedLongLong(num);
        if (n == NULL)
            return -1;
        Py_XSETREF(info->o[FR_name_changed_at], n);
    }
    eng_set_slot(&info->o[FR_name], name);
    return 0;
}

/* the tuple of a tuple-valued parameter, or NULL (no exception) when it is not a SockTuple */
static PyObject *get_tuple(StateCore *c, EventRecord *e, int pname, PyTypeObject *cls,
                           Py_ssize_t n, int *err)
{
    *err = 0;
    PyObject *v = eng_arg_k(c, e, pname);
    if (v == NULL) {
        *err = 1;
        return NULL;
    }
    if (!PyObject_TypeCheck(v, cls) || !PyTuple_Check(v) || PyTuple_GET_SIZE(v) < n) {
        Py_DECREF(v);
        return NULL;
    }
    return v;
}

/* parser._apply_tuple: ``tup`` (a SockTuple) on ``info`` with ``role`` */
static int apply_tuple(FdRecord *info, PyObject *tup, int role, unsigned long long num)
{
    PyObject *const *f = &PyTuple_GET_ITEM(tup, 0);
    long family = small_int(f[ST_family]);
    if ((family == AF_INET_ || family == AF_INET6_) && f[ST_sip] != Py_None) {
        info->type = family == AF_INET_ ? FD_TYPE_IPV4_SOCK : FD_TYPE_IPV6_SOCK;
        PyObject *sip = f[ST_sip];
        int unspecified = PyUnicode_Check(sip) && (PyUnicode_CompareWithASCIIString(sip, "0.0.0.0") == 0 ||
                                                   PyUnicode_CompareWithASCIIString(sip, "::") == 0);
        if (unspecified) {
            int t = PyObject_IsTrue(f[ST_dip]);
            if (t < 0)
                return -1;
            if (t)
                sip = f[ST_dip]; /* unbound source (sendto before connect): libsinsp shows the peer */
        }
        PyObject *zero = PyLong_FromLong(0), *empty = PyUnicode_FromString("");
        PyObject *cport = zero ? or_default(f[ST_sport], zero) : NULL;
        PyObject *dip = cport && empty ? or_default(f[ST_dip], empty) : NULL;
        PyObject *sport = dip ? or_default(f[ST_dport], zero) : NULL;
        PyObject *name = sport ? PyUnicode_FromFormat("%S:%S->%S:%S", sip, cport, dip, sport) : NULL;
        int rc = -1;
        if (name != NULL) {
            /* client -> server: connect's local end is the client, accept's remote one */
            eng_set_slot(&info->o[FR_cip], sip);
            eng_set_slot(&info->o[FR_cport], cport);
            eng_set_slot(&info->o[FR_sip], dip);
            eng_set_slot(&info->o[FR_sport], sport);
            rc = set_name(info, name, num);
        }
        Py_XDECREF(zero);
        Py_XDECREF(empty);
        Py_XDECREF(cport);
        Py_XDECREF(dip);
        Py_XDECREF(sport);
        Py_XDECREF(name);
        if (rc < 0)
            return -1;
        info->role = role;
        if (info->l4proto == LANNER_L4_UNKNOWN || info->l4proto == LANNER_L4_NA)
            info->l4proto = info->sock_l4;
    } else if (family == AF_UNIX_) {
        info->type = FD_TYPE_UNIX_SOCK;
        PyObject *zero = PyLong_FromLong(0), *empty = PyUnicode_FromString("");
        PyObject *src = zero ? or_default(f[ST_source], zero) : NULL;
        PyObject *dst = src ? or_default(f[ST_dest], zero) : NULL;
        PyObject *path = dst && empty ? or_default(f[ST_path], empty) : NULL;
        PyObject *hex = PyUnicode_FromString("x");
        PyObject *hs = path && hex ? PyObject_Format(src, hex) : NULL;
        PyObject *hd = hs ? PyObject_Format(dst, hex) : NULL;
        PyObject *full = hd ? PyUnicode_FromFormat("%U->%U %S", hs, hd, path) : NULL;
        PyObject *name = full ? PyObject_CallMethod(full, "rstrip", NULL) : NULL;
        int rc = -1;
        if (name != NULL) {
            eng_set_slot(&info->o[FR_unix_source], src);
            eng_set_slot(&info->o[FR_unix_dest], dst);
            rc = set_name(info, name, num);
        }
        Py_XDECREF(zero);
        Py_XDECREF(empty);
        Py_XDECREF(src);
        Py_XDECREF(dst);
        Py_XDECREF(path);
        Py_XDECREF(hex);
        Py_XDECREF(hs);
        Py_XDECREF(hd);
        Py_XDECREF(full);
        Py_XDECREF(name);
        if (rc < 0)
            return -1;
        info->role = role;
    }
    return 0;
}

/* the event's fdinfo as an FdRecord (borrowed), or NULL */
static FdRecord *event_fdinfo(EventRecord *e)
{
    PyObject *info = e->o[ER_fdinfo];
    if (info == NULL || info == Py_None || !PyObject_TypeCheck(info, &LannerFdRecordType))
        return NULL;
    return (FdRecord *)info;
}

int on_connect_exit(StateCore *c, EventRecord *e, ThreadRecord *th, const type_spec *sp)
{
    FdRecord *info = event_fdinfo(e);
    if (th == NULL || info == NULL)
        return 0;
    long long res = 0;
    PyObject *r = eng_res(e, sp);
    if (r == NULL)
        return -1;
    if (r != Py_None) {
        int overflow = 0;
        res = PyLong_AsLongLongAndOverflow(r, &overflow);
        if (res == -1 && PyErr_Occurred()) {
            Py_DECREF(r);
            return -1;
        }
        if (overflow < 0 || (!overflow && res < 0 && res != -EINPROGRESS_)) {
            Py_DECREF(r);
            return 0;
        }
    }
    Py_DECREF(r);
    if (info->o[FR_cip] != NULL && info->o[FR_cip] != Py_None) {
        int t = info->o[FR_cport] != NULL ? PyObject_IsTrue(info->o[FR_cport]) : 0;
        if (t != 0)
            return t < 0 ? -1 : 0; /* already connected (a UDP socket re-connecting keeps its peer) */
    }
    int err;
    PyObject *tup = get_tuple(c, e, PN_tuple, (PyTypeObject *)c->socktuple_cls, ST_COUNT, &err);
    if (tup == NULL)
        return err ? -1 : 0;
    Py_INCREF(info);
    int rc = apply_tuple(info, tup, ROLE_CLIENT, e->num);
    Py_DECREF(info);
    Py_DECREF(tup);
    return rc;
}

int on_accept_exit(StateCore *c, EventRecord *e, ThreadRecord *th, const type_spec *sp)
{
    PyObject *fd = eng_eint_k(c, e, PN_fd);
    if (fd == NULL)
        return -1;
    if (fd == Py_None) {
        Py_DECREF(fd);
        fd = eng_res(e, sp);
        if (fd == NULL)
            return -1;
    }
    int ok = th != NULL ? eng_non_negative(fd) : 0;
    if (ok <= 0) {
        Py_DECREF(fd);
        return ok;
    }
    int err;
    PyObject *tup = get_tuple(c, e, PN_tuple, (PyTypeObject *)c->socktuple_cls, ST_COUNT, &err);
    if (tup == NULL && err) {
        Py_DECREF(fd);
        return -1;
    }
    FdRecord *listening = NULL;
    PyObject *enter = e->o[ER_enter];
    if (enter != NULL && enter != Py_None && PyObject_TypeCheck(enter, &LannerEventRecordType))
        listening = event_fdinfo((EventRecord *)enter);
    FdRecord *info = eng_new_fd(c, fd, FD_TYPE_UNSUPPORTED, NULL);
    Py_DECREF(fd);
    int rc = -1;
    if (info == NULL)
        goto done;
    if (tup != NULL) {
        if (apply_tuple(info, tup, ROLE_SERVER, e->num) < 0)
            goto done;
        if (info->type == FD_TYPE_IPV4_SOCK || info->type == FD_TYPE_IPV6_SOCK) {
            info->l4proto = listening != NULL ? listening->l4proto : L4_TCP;
            if (info->l4proto == LANNER_L4_UNKNOWN || info->l4proto == LANNER_L4_NA)
                info->l4proto = L4_TCP;
        }
    }
    rc = eng_add_fd(c, e, th, info);
done:
    Py_XDECREF(info);
    Py_XDECREF(tup);
    return rc;
}

int on_bind_exit(StateCore *c, EventRecord *e, ThreadRecord *th, const type_spec *sp)
{
    FdRecord *info = event_fdinfo(e);
    if (th == NULL || info == NULL)
        return 0;
    int failed = eng_res_failed(e, sp);
    if (failed != 0)
        return failed < 0 ? -1 : 0;
    int err;
    PyObject *addr = get_tuple(c, e, PN_addr, (PyTypeObject *)c->sockaddr_cls, SA_COUNT, &err);
    if (addr == NULL)
        return err ? -1 : 0;
    Py_INCREF(info);
    PyObject *const *f = &PyTuple_GET_ITEM(addr, 0);
    long family = small_int(f[SA_family]);
    int rc = 0;
    if ((family == AF_INET_ || family == AF_INET6_) && f[SA_addr] != Py_None) {
        PyObject *name = PyUnicode_FromFormat("%S:%S", f[SA_addr], f[SA_port]);
        rc = name != NULL ? set_name(info, name, e->num) : -1;
        Py_XDECREF(name);
        int port = rc == 0 ? PyObject_IsTrue(f[SA_port]) : 0;
        if (port < 0)
            rc = -1;
        else if (port) { /* bound to a port: a server socket */
            info->type = family == AF_INET_ ? FD_TYPE_IPV4_SERVSOCK : FD_TYPE_IPV6_SERVSOCK;
            eng_set_slot(&info->o[FR_sip], f[SA_addr]);
            eng_set_slot(&info->o[FR_sport], f[SA_port]);
            info->role = ROLE_SERVER;
            info->l4proto = info->sock_l4;
        }
    } else if (family == AF_UNIX_) {
        int t = PyObject_IsTrue(f[SA_path]);
        if (t < 0)
            rc = -1;
        else if (t)
            rc = set_name(info, f[SA_path], e->num);
    }
    Py_DECREF(info);
    Py_DECREF(addr);
    return rc;
}

int on_sendrecv_exit(StateCore *c, EventRecord *e, ThreadRecord *th, const type_spec *sp)
{
    FdRecord *info = event_fdinfo(e);
    if (info == NULL)
        return 0;
    int named = info->o[FR_name] != NULL ? PyObject_IsTrue(info->o[FR_name]) : 0;
    if (named != 0)
        return named < 0 ? -1 : 0;
    int failed = eng_res_failed(e, sp);
    if (failed != 0)
        return failed < 0 ? -1 : 0;
    int err;
    PyObject *tup = get_tuple(c, e, PN_tuple, (PyTypeObject *)c->socktuple_cls, ST_COUNT, &err);
    if (tup == NULL)
        return err ? -1 : 0;
    Py_INCREF(info);
    int rc = apply_tuple(info, tup, info->role ? info->role : ROLE_CLIENT, e->num);
    Py_DECREF(info);
    Py_DECREF(tup);
    return rc;
}
