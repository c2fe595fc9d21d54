/* One step of libsinsp's next() (see next.h). */
#include "next.h"

int ln_select_init(struct ln_select *sel, PyObject *wanted, PyObject *codes, PyObject *filter)
{
    if (!PyBytes_Check(wanted) || !PyBytes_Check(codes)) {
        PyErr_SetString(PyExc_TypeError, "wanted and codes must be bytes");
        return -1;
    }
    sel->wanted = (const uint8_t *)PyBytes_AS_STRING(wanted);
    sel->ntypes = (size_t)PyBytes_GET_SIZE(wanted);
    sel->codes = (const uint8_t *)PyBytes_AS_STRING(codes);
    sel->ncodes = (size_t)PyBytes_GET_SIZE(codes);
    sel->filter = filter == Py_None ? NULL : filter;
    return 0;
}

/* Whether an event of a wanted type is wanted (generic ones by their syscall code, as
 * Event.name reads it). */
static int is_wanted(const uint8_t *buf, const struct lw_event *ev, uint8_t w,
                     const struct ln_select *sel)
{
    if (!(w & LN_W_GENERIC))
        return (w & LN_W_YES) != 0;
    if (ev->nparams > 0) {
        size_t width = ev->large ? 4 : 2;
        uint32_t len = ev->large ? lw_rd32(buf + ev->lens) : lw_rd16(buf + ev->lens);
        size_t start = ev->lens + width * ev->nparams;
        size_t avail = ev->end > start ? ev->end - start : 0;
        if (len > avail)
            len = (uint32_t)avail;
        if (len >= 2) {
            uint16_t code = lw_rd16(buf + start);
            if (code < sel->ncodes)
                return sel->codes[code] != 0;
        }
    }
    return (w & LN_W_GENERIC_SELF) != 0;
}

int ln_skip(const uint8_t *buf, const struct lw_event *ev, const struct ln_select *sel)
{
    uint8_t w = ev->type < sel->ntypes ? sel->wanted[ev->type] : 0;
    return (w & LN_W_BY_CODE) && !is_wanted(buf, ev, w, sel);
}

int ln_step(PyObject *state, PyObject *e, const uint8_t *buf, const struct lw_event *ev,
            const struct ln_select *sel)
{
    if (state != NULL && lanner_state_process(state, e) < 0)
        return -1;
    uint8_t w = ev->type < sel->ntypes ? sel->wanted[ev->type] : 0;
    if (!w)
        return LN_DROP;
    if (!(w & (LN_W_YES | LN_W_GENERIC)) || !is_wanted(buf, ev, w, sel))
        return (w & LN_W_INSERTER) ? LN_INSERTER : LN_DROP;
    if (sel->filter != NULL && (w & LN_W_FILTER)) {
        int r = lanner_candidates_accept(sel->filter, e);
        if (r < 0)
            return -1;
        if (r == 0)
            return (w & LN_W_INSERTER) ? LN_INSERTER : LN_FILTERED;
    }
    return LN_RULES;
}
