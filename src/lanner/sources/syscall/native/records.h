/* The state engine's record types (see records.c). */
#ifndef LANNER_NATIVE_RECORDS_H
#define LANNER_NATIVE_RECORDS_H

#include "native.h"

/* scap fd types and l4 protocols (scap/metadata.py) */
#define LANNER_FD_IPV4_SOCK 3
#define LANNER_FD_IPV6_SERVSOCK 6
#define LANNER_L4_UNKNOWN 0
#define LANNER_L4_NA 1

/* ThreadRecord's object-valued attributes, by index */
enum {
    TR_sid, TR_vpgid, TR_comm, TR_exe, TR_exepath, TR_args, TR_env, TR_cwd, TR_fdlimit,
    TR_flags, TR_uid, TR_gid, TR_loginuid, TR_vtid, TR_vpid, TR_cgroups, TR_container_id,
    TR_root, TR_tty, TR_cap_inheritable, TR_cap_permitted, TR_cap_effective,
    TR_exe_writable, TR_exe_upper_layer, TR_exe_from_memfd, TR_exe_ino, TR_exe_ino_ctime,
    TR_exe_ino_mtime, TR_clone_ts, TR_pidns_init_start_ts, TR_fdtable, TR_last_enter,
    TR_table, TR_COUNT
};

typedef struct {
    PyObject_HEAD
    long long tid, pid, ptid;
    char dead;
    PyObject *o[TR_COUNT];
} ThreadRecord;

/* FdRecord's object-valued attributes, by index */
enum {
    FR_name, FR_open_flags, FR_dev, FR_ino, FR_cip, FR_cport, FR_sip, FR_sport,
    FR_name_changed_at, FR_unix_source, FR_unix_dest, FR_COUNT
};

typedef struct {
    PyObject_HEAD
    long long fd;
    int type, l4proto, sock_l4, role;
    PyObject *o[FR_COUNT];
} FdRecord;

typedef struct {
    PyObject_HEAD
    PyObject *fds; /* dict: fd -> FdRecord */
} FdTableRecord;

extern PyTypeObject LannerThreadRecordType, LannerFdRecordType, LannerFdTableRecordType;

int lanner_thread_defaults(ThreadRecord *t);
FdRecord *lanner_fd_new(PyTypeObject *type, long long fd, int ftype, PyObject *name);
FdRecord *lanner_fd_copy(FdRecord *src, long long fd);

#endif
