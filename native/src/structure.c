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
 *
 * The tolerant level first matches a projection, silently: only the segments
 * the domain reads (nodes flagged CARELOG_I_NODE_DOMAIN: MSH, EVN, PID, PV1,
 * OBR, OBX, FT1 ... as each message profile lists them) against the tree
 * without the other leaves. If the projection matches, the message can be
 * read unambiguously for what carelog uses, so the full match's SEGMENT_UNEXPECTED
 * faults, and SEGMENT_MISSING of a segment present elsewhere in the message,
 * are warnings; otherwise (and always in strict) they are errors.
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
    int projected;              /* the silent pass over the domain's segments only */
    unsigned faults;            /* faults the projected pass found */
    unsigned soft;              /* faults of the full pass a clean projection makes warnings */
    const unsigned char *root;  /* the message's top-level nodes */
    unsigned root_count;
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

/* Whether a leaf of the nodes [first, first + count) (and their groups) is a
 * domain segment with this id. */
static int domain_in(const carelog_i_profile *p, unsigned first, unsigned count,
                     const unsigned char *id, int depth)
{
    unsigned i;
    if (depth > CARELOG_I_MAX_DEPTH) {
        return 0;
    }
    for (i = first; i < first + count; i++) {
        const unsigned char *node = p->nodes + (size_t)i * CARELOG_I_NODE_LEN;
        if (node[3] & CARELOG_I_NODE_GROUP) {
            if (domain_in(p, carelog_i_u16(node + 6), carelog_i_u16(node + 8), id, depth + 1)) {
                return 1;
            }
        } else if ((node[3] & CARELOG_I_NODE_DOMAIN) && carelog_i_same_id(node, id)) {
            return 1;
        }
    }
    return 0;
}

static int is_domain(const cursor *c, const unsigned char *id)
{
    const carelog_i_profile *p = &c->w->profile;
    return domain_in(p, (unsigned)((c->root - p->nodes) / CARELOG_I_NODE_LEN), c->root_count, id,
                     1);
}

/* Whether a node is in the projection: a domain leaf, or a group holding one. */
static int visible(const carelog_i_profile *p, const unsigned char *node, int depth)
{
    unsigned first, count, i;
    if (!(node[3] & CARELOG_I_NODE_GROUP)) {
        return (node[3] & CARELOG_I_NODE_DOMAIN) != 0;
    }
    if (depth > CARELOG_I_MAX_DEPTH) {
        return 0;
    }
    first = carelog_i_u16(node + 6);
    count = carelog_i_u16(node + 8);
    for (i = first; i < first + count; i++) {
        if (visible(p, p->nodes + (size_t)i * CARELOG_I_NODE_LEN, depth + 1)) {
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
        if (c->projected) {
            if (is_domain(c, buf + start)) {
                c->pos = start;
                c->end = end;
                c->have = 1;
                return;
            }
            continue; /* the full pass reports what is unknown */
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

/* The projection's first set of a group: its visible children up to the first required one. */
static int starts_projected(const carelog_i_profile *p, const unsigned char *node,
                            const unsigned char *id, int depth)
{
    unsigned first, count, i;
    if (!(node[3] & CARELOG_I_NODE_GROUP)) {
        return carelog_i_same_id(node, id);
    }
    if (depth > CARELOG_I_MAX_DEPTH) {
        return 0;
    }
    first = carelog_i_u16(node + 6);
    count = carelog_i_u16(node + 8);
    for (i = first; i < first + count; i++) {
        const unsigned char *child = p->nodes + (size_t)i * CARELOG_I_NODE_LEN;
        if (!visible(p, child, depth + 1)) {
            continue;
        }
        if (starts_projected(p, child, id, depth + 1)) {
            return 1;
        }
        if (child[4] > 0) {
            break;
        }
    }
    return 0;
}

static int starts(const cursor *c, const unsigned char *node)
{
    const carelog_i_profile *p = &c->w->profile;
    const unsigned char *id = c->w->buf + c->pos;
    unsigned first, count, i;
    if (c->projected) {
        return starts_projected(p, node, id, 1);
    }
    if (!(node[3] & CARELOG_I_NODE_GROUP)) {
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

/* Whether any non-blank segment of the message has this id. */
static int in_message(const carelog_i_walk *w, const unsigned char *id)
{
    size_t pos = 0;
    while (pos + 3 <= w->len) {
        size_t end = pos;
        if (carelog_i_same_id(w->buf + pos, id) && (pos + 3 == w->len || w->buf[pos + 3] == w->fs ||
                                                     w->buf[pos + 3] == '\r' ||
                                                     w->buf[pos + 3] == '\n')) {
            return 1;
        }
        while (end < w->len && w->buf[end] != '\r' && w->buf[end] != '\n') {
            end++;
        }
        pos = end + 1;
    }
    return 0;
}

static void missing(cursor *c, const unsigned char *node)
{
    carelog_i_walk *w = c->w;
    carelog_i_where at = {0, 0, 0, 0};
    if (c->projected) {
        c->faults++;
        return;
    }
    memset(w->seg_id, 0, sizeof w->seg_id);
    memcpy(w->seg_id, node, 3);
    w->seg_index = 0;
    /* Present elsewhere: out of place, not missing; truly absent stays an error. */
    c->soft += (unsigned)in_message(w, node);
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
        if (c->projected && !visible(p, node, depth)) {
            continue;
        }
        while (c->have && (max == 0 || taken < max) && starts(c, node)) {
            size_t before = c->pos;
            if (!(node[3] & CARELOG_I_NODE_GROUP)) {
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

/* One match of the whole message from its MSH; leftovers are SEGMENT_UNEXPECTED. */
static void run_match(cursor *c, const unsigned char *m)
{
    carelog_i_walk *w = c->w;
    /* The first segment is the MSH the walk checked (kept first); every structure names it. */
    c->pos = 0;
    c->end = w->seg_end[0];
    c->index = 1;
    c->have = 1;
    c->next = 1; /* kept segment 0 is this MSH */
    match(c, carelog_i_u16(m + 10), carelog_i_u16(m + 12), 1);
    while (c->have) {
        if (c->projected) {
            c->faults++;
        } else {
            carelog_i_where at = {0, 0, 0, 0};
            carelog_i_enter_segment(w, c->index, c->pos, 3);
            c->soft++;
            carelog_i_emit(w, CARELOG_RULE_SEGMENT_UNEXPECTED, 0, 0, &at, c->pos, 0);
        }
        advance(c, c->end);
    }
}

/*
 * The full match reports as errors; only when it found misplaced segments and
 * the level is tolerant is the projection matched, and if it is clean those
 * faults become warnings (in the list and in the counts). A valid message
 * costs one pass.
 */
void carelog_i_check_structure(carelog_i_walk *w)
{
    const unsigned char *m = w->profile.msgs + (size_t)w->msg * CARELOG_I_MSG_LEN;
    carelog_result *out = w->out;
    size_t before = out->faults_written;
    size_t k;
    cursor c;
    c.w = w;
    c.alpha = w->profile.ids + (size_t)carelog_i_u16(m + 14) * CARELOG_I_ID_LEN;
    c.alpha_count = carelog_i_u16(m + 16);
    c.root = w->profile.nodes + (size_t)carelog_i_u16(m + 10) * CARELOG_I_NODE_LEN;
    c.root_count = carelog_i_u16(m + 12);
    c.faults = 0;
    c.soft = 0;
    c.projected = 0;
    run_match(&c, m);
    if (w->strict || c.soft == 0) {
        return;
    }
    c.projected = 1;
    run_match(&c, m);
    if (c.faults != 0) {
        return;
    }
    out->error_count -= c.soft;
    out->warning_count += c.soft;
    for (k = before; k < out->faults_written; k++) {
        carelog_fault *f = &w->faults[k];
        if (f->rule == CARELOG_RULE_SEGMENT_UNEXPECTED ||
            (f->rule == CARELOG_RULE_SEGMENT_MISSING &&
             in_message(w, (const unsigned char *)f->segment_id))) {
            f->severity = 'W';
        }
    }
}
