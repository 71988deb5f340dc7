/*
 * Segment order and cardinality: a greedy match of the message's segments
 * against the message profile's tree of segments and groups, as HL7 parsers
 * (HAPI, hl7apy) match them.
 *
 * The segments are read through a cursor that skips blank lines, segments
 * with a malformed id (already reported by the walk) and segments the
 * structure does not name at all: a Z segment silently in the tolerant
 * level, any other as SEGMENT_UNKNOWN (W tolerant, E strict). Each node of
 * the tree, in order, takes as many segments as it may (a group is entered
 * when the current segment is one it can start with); a node taking fewer
 * than its minimum is SEGMENT_MISSING (segment index 0: not in the message;
 * a group is named by its first required segment). Segments left when the
 * tree is done are SEGMENT_UNEXPECTED: out of order or repeated too often.
 * tests/reference_validator.py walks the same way.
 */
#include <string.h>

#include "internal.h"

typedef struct cursor {
    carelog_i_walk *w;
    uint32_t next;              /* the next kept segment to read */
    const unsigned char *alpha; /* the ids the structure names */
    unsigned alpha_count;
    size_t pos;                 /* start of the current segment, or len */
    size_t end;                 /* its end */
    uint32_t index;             /* its 1-based index among non-blank segments */
    int have;                   /* 0 once past the last segment */
} cursor;

static int named(const cursor *c, const unsigned char *id)
{
    unsigned i;
    for (i = 0; i < c->alpha_count; i++) {
        if (carelog_i_same_id(c->alpha + (size_t)i * CARELOG_I_ID_LEN, id)) {
            return 1;
        }
    }
    return 0;
}

/*
 * The next non-blank segment after the one ending at pos: from the bounds the
 * walk kept, else (a message longer than CARELOG_I_KEPT_SEGMENTS segments)
 * by scanning as the walk did. 0 when there is none.
 */
static int next_segment(cursor *c, size_t pos, size_t *start, size_t *end)
{
    carelog_i_walk *w = c->w;
    const unsigned char *buf = w->buf;
    size_t len = w->len;
    if (c->next < w->kept) {
        *start = w->seg_start[c->next];
        *end = w->seg_end[c->next];
        c->next++;
        return 1;
    }
    if (w->kept < CARELOG_I_KEPT_SEGMENTS) {
        return 0; /* every segment was kept, and all are read */
    }
    for (;;) {
        size_t s, e;
        if (pos >= len) {
            return 0;
        }
        if (buf[pos] == '\r' && pos + 1 < len && buf[pos + 1] == '\n') {
            pos += 2;
        } else {
            pos += 1;
        }
        if (pos >= len) {
            return 0;
        }
        s = pos;
        e = s;
        while (e < len && buf[e] != '\r' && buf[e] != '\n') {
            e++;
        }
        pos = e;
        if (e > s) {
            *start = s;
            *end = e;
            return 1;
        }
    }
}

/* Move to the next segment the structure names, after the one ending at pos. */
static void advance(cursor *c, size_t pos)
{
    carelog_i_walk *w = c->w;
    const unsigned char *buf = w->buf;
    size_t len = w->len;
    size_t start, end;
    while (next_segment(c, pos, &start, &end)) {
        size_t id_len = 0;
        pos = end;
        c->index = c->index == UINT32_MAX ? c->index : c->index + 1;
        while (start + id_len < end && buf[start + id_len] != w->fs) {
            id_len++;
        }
        if (!carelog_i_segment_id_ok(buf + start, id_len)) {
            continue;
        }
        if (named(c, buf + start)) {
            c->pos = start;
            c->end = end;
            c->have = 1;
            return;
        }
        if (buf[start] != 'Z' || w->strict) {
            carelog_i_where at = {0, 0, 0, 0};
            carelog_i_enter_segment(w, c->index, start, 3);
            carelog_i_emit(w, CARELOG_RULE_SEGMENT_UNKNOWN, w->strict ? 'E' : 'W', 0, &at, start,
                           0);
        }
    }
    c->have = 0;
    c->pos = len;
    c->end = len;
}

static int starts(const cursor *c, const unsigned char *node)
{
    const carelog_i_profile *p = &c->w->profile;
    const unsigned char *id = c->w->buf + c->pos;
    unsigned first, count, i;
    if (node[3] == 0) {
        return carelog_i_same_id(node, id);
    }
    first = carelog_i_u16(node + 10);
    count = carelog_i_u16(node + 12);
    for (i = first; i < first + count; i++) {
        if (carelog_i_same_id(p->ids + (size_t)i * CARELOG_I_ID_LEN, id)) {
            return 1;
        }
    }
    return 0;
}

static void missing(cursor *c, const unsigned char *node)
{
    carelog_i_walk *w = c->w;
    carelog_i_where at = {0, 0, 0, 0};
    memset(w->seg_id, 0, sizeof w->seg_id);
    memcpy(w->seg_id, node, 3);
    w->seg_index = 0;
    carelog_i_emit(w, CARELOG_RULE_SEGMENT_MISSING, 0, 0, &at, c->pos, 0);
}

static void match(cursor *c, unsigned first, unsigned count, int depth)
{
    const carelog_i_profile *p = &c->w->profile;
    unsigned i;
    if (depth > CARELOG_I_MAX_DEPTH) {
        return; /* carelog_profile_check refuses deeper trees; never reached */
    }
    for (i = first; i < first + count; i++) {
        const unsigned char *node = p->nodes + (size_t)i * CARELOG_I_NODE_LEN;
        unsigned min = node[4], max = node[5], taken = 0;
        while (c->have && (max == 0 || taken < max) && starts(c, node)) {
            size_t before = c->pos;
            if (node[3] == 0) {
                advance(c, c->end);
            } else {
                match(c, carelog_i_u16(node + 6), carelog_i_u16(node + 8), depth + 1);
            }
            taken++;
            if (c->have && c->pos == before) {
                break; /* a group that took nothing: cannot happen with sound leads */
            }
        }
        if (taken < min) {
            missing(c, node);
        }
    }
}

void carelog_i_check_structure(carelog_i_walk *w)
{
    const unsigned char *m = w->profile.msgs + (size_t)w->msg * CARELOG_I_MSG_LEN;
    cursor c;
    c.w = w;
    c.alpha = w->profile.ids + (size_t)carelog_i_u16(m + 14) * CARELOG_I_ID_LEN;
    c.alpha_count = carelog_i_u16(m + 16);
    /* The first segment is the MSH the walk checked (kept first); every structure names it. */
    c.pos = 0;
    c.end = w->seg_end[0];
    c.index = 1;
    c.have = 1;
    c.next = 1; /* kept segment 0 is this MSH */
    match(&c, carelog_i_u16(m + 10), carelog_i_u16(m + 12), 1);
    while (c.have) {
        carelog_i_where at = {0, 0, 0, 0};
        carelog_i_enter_segment(w, c.index, c.pos, 3);
        carelog_i_emit(w, CARELOG_RULE_SEGMENT_UNEXPECTED, 0, 0, &at, c.pos, 0);
        advance(&c, c.end);
    }
}
