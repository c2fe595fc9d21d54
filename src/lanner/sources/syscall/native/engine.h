/* The state engine's shared definitions: engine.c (dispatch, fd handlers), proc.c
 * (processes: clone, execve, exit, users) and net.c (socket tuples: connect, accept,
 * bind, send/receive). */
#ifndef LANNER_NATIVE_ENGINE_H
#define LANNER_NATIVE_ENGINE_H

#include "events.h"
#include "native.h"
#include "records.h"

#include <stdint.h>

/* per event type spec bits (state/parser.py _specs) */
#define SP_SKIP 1u
#define SP_AUTO 2u
#define SP_ENTER 4u
#define SP_PAIRS 8u
#define SP_RESFIRST 16u
#define SP_HASRES 32u
/* native handlers (spec byte 2) */
#define NH_NONE 0
#define NH_OPEN 1
#define NH_CLOSE 2
#define NH_SIMPLE 3     /* a new fd of one kind, the result (eventfd, epoll, memfd...) */
#define NH_PIPE 4
#define NH_SOCKETPAIR 5
#define NH_DUP 6
#define NH_FCNTL 7
#define NH_CHDIR 8
#define NH_FCHDIR 9
#define NH_SETID 10     /* simple_type: 1 a gid call, 2 its new id is the effective one */
#define NH_CAPSET 11
#define NH_CHROOT 12
#define NH_SETSID 13
#define NH_SOCKET 14
#define NH_CONNECT 15
#define NH_ACCEPT 16
#define NH_BIND 17
#define NH_SENDRECV 18
#define NH_CLONE 19
#define NH_EXECVE 20
#define NH_PROCEXIT 21
#define NH_USER 22      /* simple_type: 0 useradded, 1 userdeleted, 2 groupadded, 3 groupdeleted */
#define PPM_FCNTL_F_DUPFD 1
#define PPM_FCNTL_F_DUPFD_CLOEXEC 26
#define FD_TYPE_FIFO 7
#define FD_TYPE_IPV4_SOCK 3
#define FD_TYPE_IPV6_SOCK 4
#define FD_TYPE_UNSUPPORTED 10
#define FD_TYPE_NETLINK 15
#define L4_TCP 2
#define L4_UDP 3
#define L4_ICMP 4
#define L4_RAW 5
#define AF_UNIX_ 1
#define AF_INET_ 2
#define AF_INET6_ 10
#define AF_NETLINK_ 16
#define FD_TYPE_UNIX_SOCK 8
/* the open exit's parameters, in this order (state/parser.py _OPEN_PARAMS) */
enum { OP_NAME, OP_PATH, OP_DIRFD, OP_FLAGS, OP_FD, OP_DEV, OP_INO, OP_COUNT };
#define AT_FDCWD (-100)
#define PPM_O_DIRECTORY (1 << 10)
#define FD_TYPE_DIRECTORY 2
#define FD_TYPE_FILE_V2 16
#define FD_NONE 0
#define FD_CREATES 1
#define FD_USES 2
#define NO_INDEX 0x7fffffffu

/* the parameters the handlers read by name (state/parser.py _PARAM_NAMES, same order) */
enum {
    PN_exe, PN_args, PN_comm, PN_cwd, PN_fdlimit, PN_cgroups, PN_env, PN_uid, PN_gid,
    PN_loginuid, PN_vtid, PN_vpid, PN_pidns_init_start_ts, PN_tty, PN_cap_inheritable,
    PN_cap_permitted, PN_cap_effective, PN_vpgid, PN_pid, PN_ptid, PN_trusted_exepath,
    PN_filename, PN_exe_ino, PN_exe_ino_ctime, PN_exe_ino_mtime, PN_flags, PN_reaper_tid,
    PN_tuple, PN_addr, PN_fd, PN_domain, PN_type, PN_proto, PN_source, PN_peer, PN_ino,
    PN_fd1, PN_fd2, PN_oldfd, PN_cmd, PN_euid, PN_egid, PN_path, PN_name, PN_COUNT
};

typedef struct {
    uint8_t bits, fdmode, native;
    uint32_t fdidx;
    /* open exits: per parameter of OP_*, its index in this type (-1: none) and whether the
     * enter event's type has one of that name */
    int8_t op_index[OP_COUNT];
    uint8_t op_in_enter[OP_COUNT];
    uint8_t simple_type;  /* NH_SIMPLE: the fd's scap type */
    uint8_t simple_named; /* NH_SIMPLE: named "memfd:" + the name parameter */
} type_spec;

typedef struct {
    PyObject_HEAD
    PyObject *threads;     /* ThreadTable.threads: tid -> ThreadInfo */
    PyObject *table;       /* the ThreadTable */
    PyObject *remove_tid;  /* pending removals (set by the handlers) */
    PyObject *remove_fd;
    PyObject *fdinfo_cls;  /* state.fds.FdInfo */
    PyObject *arg_fn;      /* state.parser._arg(evt, name) */
    PyObject *op_names;    /* tuple of the OP_* parameter names */
    /* the classes and decoders the handlers use (bind()'s ``helpers``) */
    PyObject *thread_cls;    /* state.threads.ThreadInfo */
    PyObject *socktuple_cls; /* params.SockTuple */
    PyObject *sockaddr_cls;  /* params.SockAddr */
    PyObject *cgroups_fn;    /* raw cgroups bytes -> (cgroups, container id), cached */
    PyObject *env_fn;        /* raw environment bytes -> list of str, cached */
    PyObject *user_cls;      /* state.users.User */
    PyObject *group_cls;     /* state.users.Group */
    int8_t *pindex;          /* per type, per PN_*: the parameter's index (-1: none) */
    Py_ssize_t max_fds;    /* FdTable.MAX_FDS */
    unsigned long long fds_dropped; /* fds refused at a process's cap */
    char pending;
    type_spec *specs;
    Py_ssize_t nspecs;
} StateCore;

/* helpers of engine.c shared by the handler files (new references unless said) */
int eng_as_ll(PyObject *v, long long *out, int wide_none);
int eng_eint_ll(StateCore *c, EventRecord *e, int k, long long *out, int wide_none);
PyObject *eng_res(EventRecord *e, const type_spec *sp);         /* evt.res */
PyObject *eng_arg_k(StateCore *c, EventRecord *e, int k);  /* parser._arg of PN_ k */
PyObject *eng_eint_k(StateCore *c, EventRecord *e, int k); /* evt.eint of PN_ k */
int eng_add_fd(StateCore *c, EventRecord *e, ThreadRecord *th, FdRecord *info);
ThreadRecord *eng_main_thread(StateCore *c, ThreadRecord *th); /* borrowed */
void eng_set_slot(PyObject **slot, PyObject *v);
int eng_non_negative(PyObject *v);
int eng_res_failed(EventRecord *e, const type_spec *sp);
PyObject *eng_fds_of(ThreadRecord *th); /* borrowed */
FdRecord *eng_new_fd(StateCore *c, PyObject *fd, int ftype, PyObject *name);
PyObject *eng_with_slash(PyObject *path);

/* handlers (0, or -1 with an exception) */
int on_connect_exit(StateCore *c, EventRecord *e, ThreadRecord *th, const type_spec *sp);
int on_accept_exit(StateCore *c, EventRecord *e, ThreadRecord *th, const type_spec *sp);
int on_bind_exit(StateCore *c, EventRecord *e, ThreadRecord *th, const type_spec *sp);
int on_sendrecv_exit(StateCore *c, EventRecord *e, ThreadRecord *th, const type_spec *sp);
int on_clone_exit(StateCore *c, EventRecord *e, ThreadRecord *th, const type_spec *sp);
int on_execve_exit(StateCore *c, EventRecord *e, ThreadRecord *th, const type_spec *sp);
int on_procexit(StateCore *c, EventRecord *e, ThreadRecord *th, const type_spec *sp);
int on_user_event(StateCore *c, EventRecord *e, ThreadRecord *th, const type_spec *sp);
int eng_drop_thread(StateCore *c, PyObject *tid);
PyObject *eng_placeholder(StateCore *c, long long tid);
PyObject *eng_int_zero(void); /* borrowed */

#endif
