/* Path resolution (see paths.c). */
#ifndef LANNER_NATIVE_PATHS_H
#define LANNER_NATIVE_PATHS_H

#include "native.h"

/* resolve_path(base, name) as a new reference, NULL with an exception. */
PyObject *lanner_resolve_path(PyObject *base, PyObject *name);

#endif
