/*
 * resolve_path(base, name): join a relative name to its base directory and normalize, as
 * libsinsp does for the paths of open, chdir, execve... (state/parser.py uses this one).
 * Absolute results are normalized like posixpath.normpath with a single leading slash;
 * a relative result (no base) is returned as it is. Strings go through UTF-8 with
 * surrogatepass, so any str round-trips exactly.
 */
#include "native.h"
#include "paths.h"

#include <string.h>

/* Normalize absolute path p[0..n) (n > 0, p[0] == '/') into out (capacity n + 1); returns
 * the length written. */
static size_t normalize_abs(const char *p, size_t n, char *out)
{
    size_t o = 0;
    /* component starts on the output, for ".." */
    size_t i = 0;
    out[o++] = '/';
    while (i < n) {
        while (i < n && p[i] == '/')
            i++;
        size_t s = i;
        while (i < n && p[i] != '/')
            i++;
        size_t len = i - s;
        if (len == 0 || (len == 1 && p[s] == '.'))
            continue;
        if (len == 2 && p[s] == '.' && p[s + 1] == '.') {
            if (o > 1) { /* drop the last component */
                o--;     /* the trailing slash */
                while (o > 1 && out[o - 1] != '/')
                    o--;
            }
            continue;
        }
        memcpy(out + o, p + s, len);
        o += len;
        out[o++] = '/';
    }
    if (o > 1)
        o--; /* no trailing slash */
    return o;
}

static int is_normal_abs(const char *p, size_t n)
{
    if (n == 0 || p[0] != '/' || p[n - 1] == '/')
        return 0;
    for (size_t i = 0; i + 1 < n; i++)
        if (p[i] == '/' && (p[i + 1] == '/' || p[i + 1] == '.'))
            return 0;
    return 1;
}

PyObject *lanner_resolve_path(PyObject *base, PyObject *name)
{
    if (!PyUnicode_Check(base) || !PyUnicode_Check(name)) {
        PyErr_SetString(PyExc_TypeError, "resolve_path() takes two str");
        return NULL;
    }
    Py_ssize_t nlen = PyUnicode_GET_LENGTH(name);
    if (nlen == 0) {
        Py_INCREF(name);
        return name;
    }
    PyObject *nb = PyUnicode_AsEncodedString(name, "utf-8", "surrogatepass");
    if (nb == NULL)
        return NULL;
    const char *np = PyBytes_AS_STRING(nb);
    size_t nn = (size_t)PyBytes_GET_SIZE(nb);
    if (is_normal_abs(np, nn)) {
        Py_DECREF(nb);
        Py_INCREF(name);
        return name; /* already normal: no empty, "." or ".." component, no trailing slash */
    }
    PyObject *bb = NULL;
    const char *bp = "";
    size_t bn = 0;
    if (np[0] != '/' && PyUnicode_GET_LENGTH(base) > 0) {
        bb = PyUnicode_AsEncodedString(base, "utf-8", "surrogatepass");
        if (bb == NULL) {
            Py_DECREF(nb);
            return NULL;
        }
        bp = PyBytes_AS_STRING(bb);
        bn = (size_t)PyBytes_GET_SIZE(bb);
        while (bn > 0 && bp[bn - 1] == '/')
            bn--; /* base.rstrip("/") */
    }
    PyObject *res = NULL;
    if (np[0] != '/' && bb == NULL) {
        res = name; /* relative and no base: as it is */
        Py_INCREF(res);
    } else {
        size_t total = (bb != NULL ? bn + 1 : 0) + nn;
        char *joined = PyMem_Malloc(total + 1), *out = PyMem_Malloc(total + 2);
        if (joined == NULL || out == NULL) {
            PyMem_Free(joined);
            PyMem_Free(out);
            PyErr_NoMemory();
        } else {
            size_t j = 0;
            if (bb != NULL) {
                memcpy(joined, bp, bn);
                j = bn;
                joined[j++] = '/';
            }
            memcpy(joined + j, np, nn);
            j += nn;
            if (joined[0] != '/') {
                /* a relative base: the joined path stays as it is */
                res = PyUnicode_DecodeUTF8(joined, (Py_ssize_t)j, "surrogatepass");
            } else {
                size_t o = normalize_abs(joined, j, out);
                res = PyUnicode_DecodeUTF8(out, (Py_ssize_t)o, "surrogatepass");
            }
            PyMem_Free(joined);
            PyMem_Free(out);
        }
    }
    Py_DECREF(nb);
    Py_XDECREF(bb);
    return res;
}

static PyObject *py_resolve_path(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "resolve_path() takes 2 arguments");
        return NULL;
    }
    return lanner_resolve_path(args[0], args[1]);
}

static PyMethodDef path_methods[] = {
    {"resolve_path", (PyCFunction)(void (*)(void))py_resolve_path, METH_FASTCALL,
     "resolve_path(base, name): ``name`` joined to ``base`` when relative, normalized."},
    {NULL, NULL, 0, NULL},
};

int lanner_register_paths(PyObject *module)
{
    return PyModule_AddFunctions(module, path_methods);
}
