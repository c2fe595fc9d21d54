/* The module object of lanner.sources.syscall._native (see native.h). */
#include "native.h"

typedef int (*lanner_register_fn)(PyObject *module);

/* One registration function per .c file that exposes something to Python. */
static const lanner_register_fn lanner_native_parts[] = {
    lanner_register_walk,
    lanner_register_candidates,
    lanner_register_records,
    lanner_register_events,
    lanner_register_engine,
    lanner_register_paths,
    lanner_register_candidate_events,
    lanner_register_ring,
};

static struct PyModuleDef native_module = {
    PyModuleDef_HEAD_INIT, "_native",
    "The native per-event core of the syscall source (block walk, ...).", -1, NULL,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__native(void)
{
    PyObject *m = PyModule_Create(&native_module);
    if (m == NULL)
        return NULL;
    for (size_t i = 0; i < sizeof lanner_native_parts / sizeof lanner_native_parts[0]; i++) {
        if (lanner_native_parts[i](m) < 0) {
            Py_DECREF(m);
            return NULL;
        }
    }
    return m;
}
