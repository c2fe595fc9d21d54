/* CandidateFilter: a candidate-condition program for Python, on candidates.c.
 *
 * Built once per rules load from the compiled form lanner.sources.syscall.candidate_fields
 * makes (lanner.engine.candidates.compile_program); the per-event core reads its C
 * program with lanner_candidate_program() and calls lc_eval() before building an event.
 * accepts() evaluates it on a dict of field values, for tests and tools.
 */
#include "native.h"
#include "candidates.h"

typedef struct {
    PyObject_HEAD
    struct lc_program prog;
    struct lc_atom *atoms;
    struct lc_str **strs;  /* per atom, its strings (NULL for integer atoms) */
    char **bytes;          /* per atom, the bytes its strings point into */
    int64_t **nums;        /* per atom, its integers */
    uint32_t **code;       /* per key */
    uint32_t *code_len;
} CandidateFilterObject;

static void cf_free(CandidateFilterObject *self)
{
    for (uint32_t i = 0; i < self->prog.natoms; i++) {
        if (self->strs) PyMem_Free(self->strs[i]);
        if (self->bytes) PyMem_Free(self->bytes[i]);
        if (self->nums) PyMem_Free(self->nums[i]);
    }
    for (uint32_t k = 0; k < self->prog.nkeys; k++)
        if (self->code) PyMem_Free(self->code[k]);
    PyMem_Free(self->atoms);
    PyMem_Free(self->strs);
    PyMem_Free(self->bytes);
    PyMem_Free(self->nums);
    PyMem_Free(self->code);
    PyMem_Free(self->code_len);
    memset(&self->prog, 0, sizeof self->prog);
    self->atoms = NULL;
    self->strs = NULL;
    self->bytes = NULL;
    self->nums = NULL;
    self->code = NULL;
    self->code_len = NULL;
}

static void cf_dealloc(CandidateFilterObject *self)
{
    cf_free(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* The UTF-8 bytes of a str (surrogateescape: paths that are not UTF-8) or of bytes. */
static PyObject *as_bytes(PyObject *v)
{
    if (PyUnicode_Check(v))
        return PyUnicode_AsEncodedString(v, "utf-8", "surrogateescape");
    if (PyBytes_Check(v)) {
        Py_INCREF(v);
        return v;
    }
    return NULL;
}

static int load_atom(CandidateFilterObject *self, uint32_t i, PyObject *item)
{
    struct lc_atom *a = &self->atoms[i];
    unsigned int field, op;
    int negate, missing;
    PyObject *vals;
    if (!PyTuple_Check(item) ||
        !PyArg_ParseTuple(item, "IIppO!", &field, &op, &negate, &missing, &PyTuple_Type, &vals)) {
        PyErr_Format(PyExc_ValueError,
                     "atom %u: expected (field, op, negate, missing, values tuple)", i);
        return -1;
    }
    if (field >= LC_F_COUNT || op >= LC_OP_COUNT) {
        PyErr_Format(PyExc_ValueError, "atom %u: field %u or operator %u out of range", i,
                     field, op);
        return -1;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(vals);
    if (n > (Py_ssize_t)UINT32_MAX / 2) {
        PyErr_Format(PyExc_ValueError, "atom %u: too many values", i);
        return -1;
    }
    a->field = field;
    a->op = (uint8_t)op;
    a->negate = (uint8_t)negate;
    a->missing = (uint8_t)missing;
    a->n = (uint32_t)n;
    int ints = n > 0 && PyLong_Check(PyTuple_GET_ITEM(vals, 0));
    a->ints = (uint8_t)(ints || op == LC_OP_LT || op == LC_OP_LE || op == LC_OP_GT ||
                        op == LC_OP_GE);
    if (op >= LC_OP_LT && op <= LC_OP_GE && n != 1) {
        PyErr_Format(PyExc_ValueError, "atom %u: an order operator takes one value", i);
        return -1;
    }
    if (a->ints) {
        int64_t *nums = PyMem_Calloc(n ? (size_t)n : 1, sizeof *nums);
        if (nums == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        self->nums[i] = nums;
        for (Py_ssize_t k = 0; k < n; k++) {
            PyObject *v = PyTuple_GET_ITEM(vals, k);
            if (!PyLong_Check(v)) {
                PyErr_Format(PyExc_ValueError, "atom %u: mixed integer and string values", i);
                return -1;
            }
            nums[k] = PyLong_AsLongLong(v);
            if (nums[k] == -1 && PyErr_Occurred())
                return -1;
        }
        if (op == LC_OP_IN)
            lc_sort_nums(nums, a->n);
        a->nums = nums;
        return 0;
    }
    struct lc_str *strs = PyMem_Calloc(n ? (size_t)n : 1, sizeof *strs);
    if (strs == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    self->strs[i] = strs;
    PyObject *encoded = PyList_New(n);
    if (encoded == NULL)
        return -1;
    size_t total = 0;
    for (Py_ssize_t k = 0; k < n; k++) {
        PyObject *b = as_bytes(PyTuple_GET_ITEM(vals, k));
        if (b == NULL) {
            if (!PyErr_Occurred())
                PyErr_Format(PyExc_ValueError, "atom %u: values must be all str or all int", i);
            Py_DECREF(encoded);
            return -1;
        }
        PyList_SET_ITEM(encoded, k, b);
        total += (size_t)PyBytes_GET_SIZE(b);
    }
    char *buf = PyMem_Malloc(total ? total : 1);
    if (buf == NULL) {
        Py_DECREF(encoded);
        PyErr_NoMemory();
        return -1;
    }
    self->bytes[i] = buf;
    size_t off = 0;
    for (Py_ssize_t k = 0; k < n; k++) {
        PyObject *b = PyList_GET_ITEM(encoded, k);
        size_t len = (size_t)PyBytes_GET_SIZE(b);
        memcpy(buf + off, PyBytes_AS_STRING(b), len);
        strs[k].s = buf + off;
        strs[k].len = len;
        off += len;
    }
    Py_DECREF(encoded);
    if (op == LC_OP_IN)
        lc_sort_strs(strs, a->n);
    a->strs = strs;
    return 0;
}

static int load_code(CandidateFilterObject *self, unsigned long key, PyObject *seq)
{
    PyObject *fast = PySequence_Fast(seq, "code must be a sequence of integers");
    if (fast == NULL)
        return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    if (n < 1 || n > (Py_ssize_t)(UINT32_MAX / 4)) {
        Py_DECREF(fast);
        PyErr_Format(PyExc_ValueError, "key %lu: empty or oversized code", key);
        return -1;
    }
    uint32_t *code = PyMem_Calloc((size_t)n, sizeof *code);
    if (code == NULL) {
        Py_DECREF(fast);
        PyErr_NoMemory();
        return -1;
    }
    self->code[key] = code;
    for (Py_ssize_t k = 0; k < n; k++) {
        unsigned long w = PyLong_AsUnsignedLong(PySequence_Fast_GET_ITEM(fast, k));
        if (PyErr_Occurred() || w > UINT32_MAX) {
            Py_DECREF(fast);
            PyErr_Clear();
            PyErr_Format(PyExc_ValueError, "key %lu: code word %zd is not a 32-bit unsigned",
                         key, k);
            return -1;
        }
        code[k] = (uint32_t)w;
    }
    Py_DECREF(fast);
    self->code_len[key] = (uint32_t)n;
    const char *why = NULL;
    if (lc_check_code(code, (uint32_t)n, self->prog.natoms, &why) < 0) {
        PyErr_Format(PyExc_ValueError, "key %lu: bad code: %s", key, why);
        return -1;
    }
    return 0;
}

#define MAX_KEYS (1u << 20)

static int cf_init(CandidateFilterObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"atoms", "codes", NULL};
    PyObject *atoms, *codes;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO!", kwlist, &atoms, &PyDict_Type, &codes))
        return -1;
    cf_free(self);
    PyObject *fast = PySequence_Fast(atoms, "atoms must be a sequence");
    if (fast == NULL)
        return -1;
    Py_ssize_t natoms = PySequence_Fast_GET_SIZE(fast);
    if (natoms > (Py_ssize_t)(UINT32_MAX / 4)) {
        Py_DECREF(fast);
        PyErr_SetString(PyExc_ValueError, "too many atoms");
        return -1;
    }
    size_t na = natoms ? (size_t)natoms : 1;
    self->atoms = PyMem_Calloc(na, sizeof *self->atoms);
    self->strs = PyMem_Calloc(na, sizeof *self->strs);
    self->bytes = PyMem_Calloc(na, sizeof *self->bytes);
    self->nums = PyMem_Calloc(na, sizeof *self->nums);
    if (!self->atoms || !self->strs || !self->bytes || !self->nums) {
        Py_DECREF(fast);
        cf_free(self);
        PyErr_NoMemory();
        return -1;
    }
    self->prog.natoms = (uint32_t)natoms;
    for (Py_ssize_t i = 0; i < natoms; i++) {
        if (load_atom(self, (uint32_t)i, PySequence_Fast_GET_ITEM(fast, i)) < 0) {
            Py_DECREF(fast);
            cf_free(self);
            return -1;
        }
    }
    Py_DECREF(fast);
    self->prog.atoms = self->atoms;

    unsigned long nkeys = 0;
    PyObject *key, *value;
    Py_ssize_t pos = 0;
    while (PyDict_Next(codes, &pos, &key, &value)) {
        unsigned long k = PyLong_Check(key) ? PyLong_AsUnsignedLong(key) : MAX_KEYS;
        if (PyErr_Occurred() || k >= MAX_KEYS) {
            PyErr_Clear();
            PyErr_Format(PyExc_ValueError, "code keys must be integers below %u", MAX_KEYS);
            cf_free(self);
            return -1;
        }
        if (k + 1 > nkeys)
            nkeys = k + 1;
    }
    self->code = PyMem_Calloc(nkeys ? nkeys : 1, sizeof *self->code);
    self->code_len = PyMem_Calloc(nkeys ? nkeys : 1, sizeof *self->code_len);
    if (!self->code || !self->code_len) {
        cf_free(self);
        PyErr_NoMemory();
        return -1;
    }
    self->prog.nkeys = (uint32_t)nkeys;
    pos = 0;
    while (PyDict_Next(codes, &pos, &key, &value)) {
        if (load_code(self, PyLong_AsUnsignedLong(key), value) < 0) {
            cf_free(self);
            return -1;
        }
    }
    self->prog.code = (const uint32_t *const *)self->code;
    self->prog.code_len = self->code_len;
    return 0;
}

struct dict_ctx {
    PyObject *values; /* {field id: value} */
    PyObject *keep;   /* encoded strings alive until the evaluation ends */
    struct lc_store store; /* the items of several-valued fields, as long */
    int failed;
};

static int plain_value(struct dict_ctx *ctx, PyObject *v, struct lc_value *out);

/* item k of a field's tuple: plain, or unknown (None, a nested tuple) */
struct dict_items {
    struct dict_ctx *ctx;
    PyObject *v;
};

static int dict_item(void *vt, size_t k, struct lc_value *out)
{
    struct dict_items *t = vt;
    PyObject *item = PyTuple_GET_ITEM(t->v, (Py_ssize_t)k);
    if (item == Py_None || PyTuple_Check(item))
        return 2;
    return plain_value(t->ctx, item, out) < 0 ? 0 : 1;
}

static int dict_get(void *vctx, uint32_t field, struct lc_value *out)
{
    struct dict_ctx *ctx = vctx;
    if (ctx->failed)
        return 0;
    PyObject *k = PyLong_FromUnsignedLong(field);
    if (k == NULL) {
        ctx->failed = 1;
        return 0;
    }
    PyObject *v = PyDict_GetItemWithError(ctx->values, k);
    Py_DECREF(k);
    if (v == NULL) {
        if (PyErr_Occurred())
            ctx->failed = 1;
        return 0;
    }
    if (v == Py_None)
        return 0;
    if (PyTuple_Check(v)) { /* several values: each must be plain (None: unknown) */
        struct dict_items t = {ctx, v};
        int r = lc_several(&ctx->store, (size_t)PyTuple_GET_SIZE(v), dict_item, &t, out);
        if (r < 0) {
            PyErr_NoMemory();
            ctx->failed = 1;
            return 0;
        }
        return r;
    }
    return plain_value(ctx, v, out) < 0 ? 0 : 1;
}

/* An int, bool, str or bytes value into *out; -1 (ctx->failed set) otherwise. */
static int plain_value(struct dict_ctx *ctx, PyObject *v, struct lc_value *out)
{
    if (PyLong_Check(v)) {
        out->is_int = 1;
        out->i = PyLong_AsLongLong(v);
        if (out->i == -1 && PyErr_Occurred()) {
            ctx->failed = 1;
            return -1;
        }
        return 0;
    }
    PyObject *b = as_bytes(v);
    if (b == NULL || PyList_Append(ctx->keep, b) < 0) {
        Py_XDECREF(b);
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError,
                            "field values must be int, bool, str, bytes, None or a tuple");
        ctx->failed = 1;
        return -1;
    }
    Py_DECREF(b);
    out->is_int = 0;
    out->s = PyBytes_AS_STRING(b);
    out->len = (size_t)PyBytes_GET_SIZE(b);
    return 0;
}

PyDoc_STRVAR(accepts_doc,
"accepts(key, values) -> bool\n\n"
"Evaluate the formula of ``key`` on ``values``, a dict {field id: value} (int, bool, str,\n"
"bytes, a tuple of those for a field with several values; None or absent: the event has\n"
"no value). False: no rule can match.");

static PyObject *cf_accepts(CandidateFilterObject *self, PyObject *args)
{
    unsigned long key;
    PyObject *values;
    if (!PyArg_ParseTuple(args, "kO!", &key, &PyDict_Type, &values))
        return NULL;
    struct dict_ctx ctx = {values, PyList_New(0), {NULL}, 0};
    if (ctx.keep == NULL)
        return NULL;
    int r = lc_eval(&self->prog, key > UINT32_MAX ? UINT32_MAX : (uint32_t)key, dict_get, &ctx);
    Py_DECREF(ctx.keep);
    lc_store_free(&ctx.store);
    if (ctx.failed)
        return NULL;
    return PyBool_FromLong(r);
}

static PyObject *cf_get_nkeys(CandidateFilterObject *self, void *closure)
{
    return PyLong_FromUnsignedLong(self->prog.nkeys);
}

static PyObject *cf_get_natoms(CandidateFilterObject *self, void *closure)
{
    return PyLong_FromUnsignedLong(self->prog.natoms);
}

static PyMethodDef cf_methods[] = {
    {"accepts", (PyCFunction)cf_accepts, METH_VARARGS, accepts_doc},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef cf_getset[] = {
    {"nkeys", (getter)cf_get_nkeys, NULL, "one more than the largest key", NULL},
    {"natoms", (getter)cf_get_natoms, NULL, "the number of atoms", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyDoc_STRVAR(cf_doc,
"CandidateFilter(atoms, codes)\n\n"
"The rules' candidate conditions in native form. ``atoms``: (field id, operator id,\n"
"negate, missing, values) tuples; ``codes``: {key: prefix code} (see candidates.h).\n"
"Raises ValueError on anything malformed.");

static PyTypeObject CandidateFilterType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "lanner.sources.syscall._native.CandidateFilter",
    .tp_basicsize = sizeof(CandidateFilterObject),
    .tp_dealloc = (destructor)cf_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = cf_doc,
    .tp_methods = cf_methods,
    .tp_getset = cf_getset,
    .tp_init = (initproc)cf_init,
    .tp_new = PyType_GenericNew,
};

const struct lc_program *lanner_candidate_program(PyObject *obj)
{
    if (!PyObject_TypeCheck(obj, &CandidateFilterType)) {
        PyErr_SetString(PyExc_TypeError, "expected a CandidateFilter");
        return NULL;
    }
    return &((CandidateFilterObject *)obj)->prog;
}

static PyObject *field_names(PyObject *mod, PyObject *unused)
{
    PyObject *out = PyTuple_New(LC_F_COUNT);
    if (out == NULL)
        return NULL;
    for (int i = 0; i < LC_F_COUNT; i++) {
        PyObject *s = PyUnicode_FromString(lc_field_names[i]);
        if (s == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        PyTuple_SET_ITEM(out, i, s);
    }
    return out;
}

static PyMethodDef candidates_functions[] = {
    {"candidate_field_names", field_names, METH_NOARGS,
     "candidate_field_names() -> tuple: the fields the native core supplies, by id."},
    {NULL, NULL, 0, NULL},
};

int lanner_register_candidates(PyObject *module)
{
    if (PyType_Ready(&CandidateFilterType) < 0)
        return -1;
    Py_INCREF(&CandidateFilterType);
    if (PyModule_AddObject(module, "CandidateFilter", (PyObject *)&CandidateFilterType) < 0) {
        Py_DECREF(&CandidateFilterType);
        return -1;
    }
    return PyModule_AddFunctions(module, candidates_functions);
}
