/* The capture event-block walk (see walk.h). */
#include "walk.h"

#define MAX_BLOCK (1u << 30)
#define MAX_SMALL_EVENT_BLOCK ((1u << 16) + 8)

/* Event block types: has the header a param count, does the body start with dump flags,
 * may it exceed 64 KiB. Returns 0 for a block that is not an event block. */
static int event_block_kind(uint32_t btype, int *has_nparams, int *has_flags, int *large_block)
{
    *large_block = 0;
    switch (btype) {
    case 0x204: case 0x8010ABCDu: *has_nparams = 0; *has_flags = 0; return 1;  /* EV, EV_INT */
    case 0x208: *has_nparams = 0; *has_flags = 1; return 1;                     /* EVF */
    case 0x216: *has_nparams = 1; *has_flags = 0; return 1;                     /* EV_V2 */
    case 0x221: *has_nparams = 1; *has_flags = 0; *large_block = 1; return 1;   /* EV_V2_LARGE */
    case 0x217: *has_nparams = 1; *has_flags = 1; return 1;                     /* EVF_V2 */
    case 0x222: *has_nparams = 1; *has_flags = 1; *large_block = 1; return 1;   /* EVF_V2_LARGE */
    default: return 0;
    }
}

/* Whether the v1 event whose length array starts at ``lens`` has ``n0`` parameters: the
 * lengths then add up exactly to its end. *total gets where they end (when they fit). */
static int v1_count_fits(const uint8_t *buf, size_t lens, size_t evend, uint32_t n0,
                         size_t *total)
{
    if (2 * (size_t)n0 > evend - lens)
        return 0;
    size_t t = lens + 2 * (size_t)n0;
    for (uint32_t i = 0; i < n0 && t <= evend; i++)
        t += lw_rd16(buf + lens + 2 * i);
    *total = t;
    return t == evend;
}

/* Infer the parameter count of a v1 event from its length, like libscap (and reader.py's
 * _v1_nparams): the largest count up to the type's own whose lengths end exactly at the
 * event's end; -1 when the lengths of a count overrun nothing yet fall short (damage). */
static int v1_nparams(const uint8_t *buf, size_t lens, size_t evend, unsigned maxn)
{
    for (int k = (int)maxn; k >= 0; k--) {
        size_t total = 0;
        if (2 * (size_t)k > evend - lens)
            continue;
        if (v1_count_fits(buf, lens, evend, (uint32_t)k, &total))
            return k;
        if (total < evend)
            return -1;
    }
    return -1;
}

enum lw_status lw_next(const uint8_t *buf, size_t n, size_t *posp, const uint8_t *types,
                       size_t ntypes, uint8_t *hint, struct lw_event *ev)
{
    size_t pos = *posp;
    if (pos > n || n - pos < 8)
        return LW_STOP;
    uint32_t btype = lw_rd32(buf + pos), blen = lw_rd32(buf + pos + 4);
    int has_nparams, has_flags, large_block;
    if (blen < 12 || blen > MAX_BLOCK || (size_t)blen > n - pos)
        return LW_STOP; /* damaged or incomplete: the caller decides */
    if (!event_block_kind(btype, &has_nparams, &has_flags, &large_block))
        return LW_STOP; /* metadata block */
    size_t bend = pos + blen;
    if (lw_rd32(buf + bend - 4) != blen)
        return LW_STOP;
    if (blen > MAX_SMALL_EVENT_BLOCK && !large_block)
        return LW_STOP;
    size_t start = pos + 8, end = bend - 4;
    size_t p = start + 2;
    uint32_t dump_flags = 0;
    if (has_flags) {
        if (p + 4 > end)
            return LW_STOP;
        dump_flags = lw_rd32(buf + p);
        p += 4;
    }
    size_t hlen = has_nparams ? 26 : 22;
    if (p + hlen > end)
        return LW_STOP;
    uint32_t elen = lw_rd32(buf + p + 16);
    uint32_t etype = lw_rd16(buf + p + 20);
    if (elen < hlen || elen > end - p)
        return LW_STOP;
    size_t evend = p + elen;
    if (etype >= ntypes) {
        *posp = bend;
        return LW_UNKNOWN;
    }
    uint8_t t = types[etype];
    if (!(t & LW_T_KEEP)) {
        *posp = bend;
        return LW_REJECTED;
    }
    int large = (t & LW_T_LARGE) != 0;
    uint32_t nparams;
    size_t lens = p + hlen;
    if (has_nparams) {
        nparams = lw_rd32(buf + p + 22);
        if ((uint64_t)nparams * (large ? 4u : 2u) > evend - lens)
            return LW_STOP;
    } else {
        /* v1: the last count seen for this type fits almost always; else search it */
        size_t total;
        if (v1_count_fits(buf, lens, evend, hint[etype], &total)) {
            nparams = hint[etype];
        } else {
            int k = v1_nparams(buf, lens, evend, LW_T_NPARAMS(t));
            if (k < 0)
                return LW_STOP; /* the caller reports the damage */
            nparams = hint[etype] = (uint8_t)k;
        }
    }
    ev->ts = lw_rd64(buf + p);
    ev->tid = (int64_t)lw_rd64(buf + p + 8);
    ev->type = etype;
    ev->nparams = nparams;
    ev->lens = lens;
    ev->end = evend;
    ev->large = large;
    ev->cpu = lw_rd16(buf + start);
    ev->dump_flags = dump_flags;
    ev->block = pos;
    *posp = bend;
    return LW_EVENT;
}
