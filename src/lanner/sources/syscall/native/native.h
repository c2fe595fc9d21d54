/*
 * lanner.sources.syscall._native: the per-event core of the syscall source.
 *
 * Each *_py.c file adds its functions and types to the module through one registration
 * function listed here and called, in order, by module.c's init. A new .c file adds its
 * own register function to this list and to lanner_native_parts in module.c.
 */
#ifndef LANNER_NATIVE_H
#define LANNER_NATIVE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

int lanner_register_walk(PyObject *module);
int lanner_register_candidates(PyObject *module);
int lanner_register_candidate_events(PyObject *module);

/* The C program of a _native.CandidateFilter (candidates.h), or NULL with TypeError. */
struct lc_program;
const struct lc_program *lanner_candidate_program(PyObject *obj);
int lanner_register_records(PyObject *module);
int lanner_register_events(PyObject *module);
int lanner_register_engine(PyObject *module);
int lanner_register_paths(PyObject *module);

#endif
