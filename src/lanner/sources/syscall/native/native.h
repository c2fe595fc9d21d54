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

/* A _native.CandidateEvents applied to one event record, for a C iterator: 1 keep (also for
 * anything that is not an event record), 0 drop (no running rule can match it), -1 error
 * with a Python exception set (candidate_events.c). */
int lanner_candidates_accept(PyObject *filter, PyObject *event);
int lanner_register_records(PyObject *module);
int lanner_register_events(PyObject *module);
int lanner_register_engine(PyObject *module);
int lanner_register_paths(PyObject *module);
int lanner_register_ring(PyObject *module);

/* StateEngine.process(evt) (engine.c): 0, or -1 with an exception. */
int lanner_state_process(PyObject *core, PyObject *evt);

#endif
