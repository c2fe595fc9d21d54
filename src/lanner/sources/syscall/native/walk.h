/*
 * The capture event-block walk, plain C (no Python API): one event block at a time.
 *
 * lw_next() reads the block at *pos of buf[0..n) and, when it is a complete and sound
 * event block it can handle alone, fills *ev, advances *pos and says what it found. For
 * anything else - a metadata block, a damaged block, a v1 event whose parameter count
 * cannot be inferred, an incomplete block at the end of the buffer - it returns
 * LW_STOP without moving, and the caller (reader.py's loop) handles that block with its
 * own checks and error messages. So this code never decides an error.
 *
 * Block and event layouts: libscap's scap_savefile.h (see ../scap/blocks.py).
 */
#ifndef LANNER_NATIVE_WALK_H
#define LANNER_NATIVE_WALK_H

#include <stddef.h>
#include <stdint.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the capture format is little-endian and so is every host this is built for"
#endif

/* type-table byte per event type id (see reader.py _walk_types): flags, and in the upper
 * six bits the parameter count of the type's newest version (where the v1 search starts) */
#define LW_T_KEEP 1u
#define LW_T_LARGE 2u
#define LW_T_NPARAMS(t) ((unsigned)(t) >> 2)

enum lw_status {
    LW_EVENT = 0,    /* *ev filled: an event to build */
    LW_REJECTED = 1, /* an event whose type the table does not keep (still numbered) */
    LW_UNKNOWN = 2,  /* an event whose type id is beyond the table (skipped, not numbered) */
    LW_STOP = 3,     /* not handled here: *pos unchanged */
};

struct lw_event {
    uint64_t ts;
    int64_t tid;
    uint32_t type;
    uint32_t nparams;
    size_t lens;       /* offset of the parameter-length array in buf */
    size_t end;        /* end of the event in buf */
    int large;         /* 32-bit parameter lengths */
    uint16_t cpu;
    uint32_t dump_flags;
    size_t block;      /* offset of the block in buf */
};

static inline uint16_t lw_rd16(const uint8_t *p) { uint16_t v; __builtin_memcpy(&v, p, 2); return v; }
static inline uint32_t lw_rd32(const uint8_t *p) { uint32_t v; __builtin_memcpy(&v, p, 4); return v; }
static inline uint64_t lw_rd64(const uint8_t *p) { uint64_t v; __builtin_memcpy(&v, p, 8); return v; }

/* ``types``: ntypes bytes as above; ``hint``: ntypes bytes, the v1 parameter count last
 * seen per type (updated when a v1 event's count is searched, as libscap infers it). */
enum lw_status lw_next(const uint8_t *buf, size_t n, size_t *pos, const uint8_t *types,
                       size_t ntypes, uint8_t *hint, struct lw_event *ev);

#endif
