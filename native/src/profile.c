/*
 * Message profiles: reading the compiled blob (layout in internal.h, built by
 * native/profiles.py from schemas/hl7v2), finding the profile of a message
 * and checking a segment's fields against its rules.
 *
 * The blob is read-only and passed in by the caller; nothing here is global.
 * carelog_profile_check validates every index once, so the readers below can
 * index the sections directly.
 *
 * Field rules, in the order the blob lists them (tests/reference_validator.py
 * mirrors this order exactly). For one rule on field f:
 *   - required and f absent or empty: REQUIRED_FIELD_MISSING at f; next rule
 *     (a required rule on component c also needs c in every repetition sent);
 *   - then for each repetition r of f, in order:
 *       max length exceeded (the null "" never is): VALUE_TOO_LONG at f(r)
 *       (W tolerant, E strict);
 *       empty repetition: nothing more;
 *       the checked value v is component c of r (c = 0: the whole r);
 *       required component empty: REQUIRED_FIELD_MISSING at f(r).c (W tolerant
 *       when an earlier repetition had it: a later PID-3 repetition without an
 *       ID, as feeds send, does not hide the identifier the first one gives);
 *       v empty or the HL7 null "": nothing more;
 *       v against the rule's type: DT, DTM, TM, NM, SI, or ID/IS against the
 *       table (TABLE_VALUE: E for ID, W tolerant / E strict for IS); VARIES
 *       takes the type from another field's value (OBX-5 from OBX-2).
 * After the rules, strict only: the last non-empty field beyond the
 * segment's defined fields is reported once (FIELD_NOT_DEFINED).
 */
#include <string.h>

#include "internal.h"

static uint32_t u32(const unsigned char *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

int carelog_i_profile_open(const unsigned char *blob, size_t len, carelog_i_profile *out)
{
    size_t need;
    const unsigned char *p;
    if (blob == NULL || len < CARELOG_I_HEADER_LEN || memcmp(blob, "CLPF", 4) != 0 ||
        carelog_i_u16(blob + 4) != CARELOG_I_PROFILE_FORMAT || u32(blob + 20) != len) {
        return 0;
    }
    out->n_msgs = carelog_i_u16(blob + 6);
    out->n_nodes = carelog_i_u16(blob + 8);
    out->n_ids = carelog_i_u16(blob + 10);
    out->n_segdefs = carelog_i_u16(blob + 12);
    out->n_rules = carelog_i_u16(blob + 14);
    out->n_tables = carelog_i_u16(blob + 16);
    out->n_values = carelog_i_u16(blob + 18);
    need = CARELOG_I_HEADER_LEN + (size_t)out->n_msgs * CARELOG_I_MSG_LEN +
           (size_t)out->n_nodes * CARELOG_I_NODE_LEN + (size_t)out->n_ids * CARELOG_I_ID_LEN +
           (size_t)out->n_segdefs * CARELOG_I_SEGDEF_LEN +
           (size_t)out->n_rules * CARELOG_I_RULE_LEN +
           (size_t)out->n_tables * CARELOG_I_TABLE_LEN +
           (size_t)out->n_values * CARELOG_I_VALUE_LEN;
    if (need != len) {
        return 0;
    }
    p = blob + CARELOG_I_HEADER_LEN;
    out->msgs = p;
    p += (size_t)out->n_msgs * CARELOG_I_MSG_LEN;
    out->nodes = p;
    p += (size_t)out->n_nodes * CARELOG_I_NODE_LEN;
    out->ids = p;
    p += (size_t)out->n_ids * CARELOG_I_ID_LEN;
    out->segdefs = p;
    p += (size_t)out->n_segdefs * CARELOG_I_SEGDEF_LEN;
    out->rules = p;
    p += (size_t)out->n_rules * CARELOG_I_RULE_LEN;
    out->tables = p;
    p += (size_t)out->n_tables * CARELOG_I_TABLE_LEN;
    out->values = p;
    return 1;
}

static int range_ok(unsigned first, unsigned count, unsigned n)
{
    return first <= n && count <= n - first;
}

/* Node i and everything under it: indices in range, children after their parent. */
static int node_ok(const carelog_i_profile *p, unsigned i, int depth)
{
    const unsigned char *node = p->nodes + (size_t)i * CARELOG_I_NODE_LEN;
    unsigned flags = node[3], first = carelog_i_u16(node + 6), count = carelog_i_u16(node + 8);
    unsigned k;
    if (depth > CARELOG_I_MAX_DEPTH || flags > 3 || flags == 3 ||
        (node[5] != 0 && node[4] > node[5]) ||
        !carelog_i_segment_id_ok(node, 3) ||
        !range_ok(carelog_i_u16(node + 10), carelog_i_u16(node + 12), p->n_ids)) {
        return 0;
    }
    if ((flags & CARELOG_I_NODE_GROUP) == 0) {
        return count == 0;
    }
    if (count == 0 || first <= i || !range_ok(first, count, p->n_nodes)) {
        return 0;
    }
    for (k = first; k < first + count; k++) {
        if (!node_ok(p, k, depth + 1)) {
            return 0;
        }
    }
    return 1;
}

int carelog_profile_check(const unsigned char *blob, size_t len)
{
    carelog_i_profile p;
    unsigned i, k;
    if (!carelog_i_profile_open(blob, len, &p)) {
        return CARELOG_E_PROFILE;
    }
    for (i = 0; i < p.n_msgs; i++) {
        const unsigned char *m = p.msgs + (size_t)i * CARELOG_I_MSG_LEN;
        unsigned first = carelog_i_u16(m + 10), count = carelog_i_u16(m + 12);
        if (!carelog_i_segment_id_ok(m, 3) || carelog_i_u16(m + 6) > carelog_i_u16(m + 8) ||
            !range_ok(first, count, p.n_nodes) ||
            !range_ok(carelog_i_u16(m + 14), carelog_i_u16(m + 16), p.n_ids)) {
            return CARELOG_E_PROFILE;
        }
        for (k = first; k < first + count; k++) {
            if (!node_ok(&p, k, 1)) {
                return CARELOG_E_PROFILE;
            }
        }
    }
    for (i = 0; i < p.n_ids; i++) {
        if (!carelog_i_segment_id_ok(p.ids + (size_t)i * CARELOG_I_ID_LEN, 3)) {
            return CARELOG_E_PROFILE;
        }
    }
    for (i = 0; i < p.n_segdefs; i++) {
        const unsigned char *d = p.segdefs + (size_t)i * CARELOG_I_SEGDEF_LEN;
        if (i > 0 && memcmp(d - CARELOG_I_SEGDEF_LEN, d, 3) > 0) {
            return CARELOG_E_PROFILE; /* not sorted by id: the lookup would miss rules */
        }
        if (!carelog_i_segment_id_ok(d, 3) || carelog_i_u16(d + 4) > carelog_i_u16(d + 6) ||
            !range_ok(carelog_i_u16(d + 10), carelog_i_u16(d + 12), p.n_rules)) {
            return CARELOG_E_PROFILE;
        }
    }
    for (i = 0; i < p.n_rules; i++) {
        const unsigned char *r = p.rules + (size_t)i * CARELOG_I_RULE_LEN;
        unsigned field = carelog_i_u16(r), table = carelog_i_u16(r + 6), type = r[4];
        if (field == 0 || field >= CARELOG_I_CAPTURED || r[3] > 1 || type >= CARELOG_T_COUNT ||
            r[5] >= CARELOG_I_CAPTURED || (table != CARELOG_I_NO_TABLE && table >= p.n_tables) ||
            ((type == CARELOG_T_ID || type == CARELOG_T_IS) && table == CARELOG_I_NO_TABLE) ||
            (type == CARELOG_T_VARIES && r[5] == 0)) {
            return CARELOG_E_PROFILE;
        }
    }
    for (i = 0; i < p.n_tables; i++) {
        const unsigned char *t = p.tables + (size_t)i * CARELOG_I_TABLE_LEN;
        if (!range_ok(carelog_i_u16(t + 2), carelog_i_u16(t + 4), p.n_values)) {
            return CARELOG_E_PROFILE;
        }
    }
    for (i = 0; i < p.n_values; i++) {
        unsigned n = p.values[(size_t)i * CARELOG_I_VALUE_LEN];
        if (n == 0 || n > CARELOG_I_VALUE_LEN - 1) {
            return CARELOG_E_PROFILE;
        }
    }
    return CARELOG_OK;
}

static int same(const unsigned char *a, size_t n, const unsigned char *id3)
{
    return n == 3 && carelog_i_same_id(a, id3);
}

int carelog_i_find_message(const carelog_i_walk *w, const unsigned char *type, size_t type_len,
                           const unsigned char *trigger, size_t trigger_len)
{
    const carelog_i_profile *p = &w->profile;
    int type_known = 0;
    unsigned i;
    for (i = 0; i < p->n_msgs; i++) {
        const unsigned char *m = p->msgs + (size_t)i * CARELOG_I_MSG_LEN;
        if (!same(type, type_len, m)) {
            continue;
        }
        type_known = 1;
        if (same(trigger, trigger_len, m + 3) && w->version >= carelog_i_u16(m + 6) &&
            w->version <= carelog_i_u16(m + 8)) {
            return (int)i;
        }
    }
    return type_known ? -1 : -2;
}

/* Where a component of one repetition lies; absent: an empty span at the repetition's end. */
static carelog_i_span component_of(const carelog_i_walk *w, size_t start, size_t end, unsigned k)
{
    carelog_i_span s;
    const unsigned char *p = w->buf + start;
    const unsigned char *stop = w->buf + end;
    unsigned c;
    for (c = 1; c < k; c++) {
        const unsigned char *sep = memchr(p, w->cs, (size_t)(stop - p));
        if (sep == NULL) {
            s.start = end;
            s.end = end;
            s.present = 0;
            return s;
        }
        p = sep + 1;
    }
    s.start = (size_t)(p - w->buf);
    {
        const unsigned char *sep = memchr(p, w->cs, (size_t)(stop - p));
        s.end = sep == NULL ? end : (size_t)(sep - w->buf);
    }
    s.present = 1;
    return s;
}

static int in_table(const carelog_i_profile *p, unsigned table, const unsigned char *v, size_t n)
{
    const unsigned char *t = p->tables + (size_t)table * CARELOG_I_TABLE_LEN;
    unsigned first = carelog_i_u16(t + 2), count = carelog_i_u16(t + 4), i;
    for (i = first; i < first + count; i++) {
        const unsigned char *value = p->values + (size_t)i * CARELOG_I_VALUE_LEN;
        if (value[0] == n && value[1] == v[0]) {
            /* n <= 7: a byte loop, not a memcmp call */
            size_t k = 1;
            while (k < n && value[1 + k] == v[k]) {
                k++;
            }
            if (k == n) {
                return 1;
            }
        }
    }
    return 0;
}

static int equals3(const unsigned char *s, size_t n, const char *text)
{
    size_t m = strlen(text);
    return n == m && memcmp(s, text, m) == 0;
}

/* The type a VARIES field has, from the first component of the naming field's value. */
static int varies_type(const carelog_i_walk *w, const carelog_i_span *by, int *whole)
{
    carelog_i_span c;
    const unsigned char *rep_end = memchr(w->buf + by->start, w->rs, by->end - by->start);
    size_t first_rep_end = rep_end == NULL ? by->end : (size_t)(rep_end - w->buf);
    const unsigned char *v;
    size_t n;
    c = component_of(w, by->start, first_rep_end, 1);
    v = w->buf + c.start;
    n = c.end - c.start;
    *whole = 1;
    if (equals3(v, n, "NM")) {
        return CARELOG_T_NM;
    }
    if (equals3(v, n, "DT")) {
        return CARELOG_T_DT;
    }
    if (equals3(v, n, "TM")) {
        return CARELOG_T_TM;
    }
    if (equals3(v, n, "DTM")) {
        return CARELOG_T_DTM;
    }
    if (equals3(v, n, "SN")) {
        return CARELOG_T_SN;
    }
    if (equals3(v, n, "CQ")) {
        return CARELOG_T_CQ;
    }
    if (equals3(v, n, "MO")) {
        return CARELOG_T_MO;
    }
    if (equals3(v, n, "CP")) {
        return CARELOG_T_CP;
    }
    if (equals3(v, n, "TS")) {
        *whole = 0; /* TS.1 is the DTM */
        return CARELOG_T_DTM;
    }
    return CARELOG_T_NONE;
}

/* The rule id a primitive type reports when the value does not fit it. */
static int type_ok(int type, const unsigned char *v, size_t n, int *rule)
{
    switch (type) {
    case CARELOG_T_DT:
        *rule = CARELOG_RULE_BAD_DATE;
        return carelog_i_dt_valid(v, n);
    case CARELOG_T_DTM:
        *rule = CARELOG_RULE_BAD_DATETIME;
        return carelog_i_dtm_valid(v, n);
    case CARELOG_T_TM:
        *rule = CARELOG_RULE_BAD_TIME;
        return carelog_i_tm_valid(v, n);
    case CARELOG_T_NM:
        *rule = CARELOG_RULE_BAD_NUMBER;
        return carelog_i_nm_valid(v, n);
    case CARELOG_T_SI:
        *rule = CARELOG_RULE_BAD_SEQUENCE_ID;
        return carelog_i_si_valid(v, n);
    default:
        *rule = CARELOG_RULE_NONE;
        return 1;
    }
}

/* Subcomponent k (1-based) of [start, end); absent: an empty span at end. */
static carelog_i_span subcomponent_of(const carelog_i_walk *w, size_t start, size_t end,
                                      unsigned k)
{
    carelog_i_span s;
    size_t i = start;
    unsigned c = 1;
    const unsigned char ss = w->buf[4 + 3]; /* MSH-2's fourth character */
    while (c < k) {
        while (i < end && w->buf[i] != ss) {
            i++;
        }
        if (i >= end) {
            s.start = end;
            s.end = end;
            s.present = 0;
            return s;
        }
        i++;
        c++;
    }
    s.start = i;
    while (i < end && w->buf[i] != ss) {
        i++;
    }
    s.end = i;
    s.present = 1;
    return s;
}

/*
 * The numeric parts of a composite value (one repetition [rs, re)), each
 * checked as NM: MO.1 and CQ.1 (the amount, the quantity), CP.1.1 (the price's
 * amount; CP.1 is an MO written as subcomponents), CP.3 and CP.4 (the range),
 * SN.2 and SN.4 (the numbers of a structured numeric). So that the validator
 * refuses what ingest cannot read (a DFT's FT1-11 of `1,250.00`).
 */
static void check_composite(carelog_i_walk *w, int type, unsigned field, uint32_t rep, size_t rs,
                            size_t re)
{
    static const unsigned char CP[][2] = {{1, 1}, {3, 0}, {4, 0}};
    static const unsigned char MO[][2] = {{1, 0}};
    static const unsigned char SN[][2] = {{2, 0}, {4, 0}};
    const unsigned char(*parts)[2];
    size_t n, k;
    switch (type) {
    case CARELOG_T_CP:
        parts = CP;
        n = sizeof CP / sizeof CP[0];
        break;
    case CARELOG_T_MO:
    case CARELOG_T_CQ:
        parts = MO;
        n = 1;
        break;
    default:
        parts = SN;
        n = sizeof SN / sizeof SN[0];
        break;
    }
    for (k = 0; k < n; k++) {
        carelog_i_span v = component_of(w, rs, re, parts[k][0]);
        if (parts[k][1] != 0) {
            v = subcomponent_of(w, v.start, v.end, parts[k][1]);
        }
        if (v.end == v.start ||
            (v.end - v.start == 2 && w->buf[v.start] == '"' && w->buf[v.start + 1] == '"')) {
            continue;
        }
        if (!carelog_i_nm_valid(w->buf + v.start, v.end - v.start)) {
            carelog_i_where at = {field, rep, parts[k][0], parts[k][1]};
            carelog_i_emit(w, CARELOG_RULE_BAD_NUMBER, 0, 0, &at, v.start, 0);
        }
    }
}

static void apply_rule(carelog_i_walk *w, const unsigned char *r, const carelog_i_span *fields,
                       uint32_t captured, size_t seg_end)
{
    unsigned field = carelog_i_u16(r), component = r[2], type = r[4], ref = r[5];
    unsigned table = carelog_i_u16(r + 6), max_len = carelog_i_u16(r + 8);
    int required = r[3] & 1;
    const carelog_i_span *f = field < captured ? &fields[field] : NULL;
    uint32_t rep = 0;
    size_t i;
    char lenient = w->strict ? 'E' : 'W';
    int had_component = 0; /* an earlier repetition had the required component */

    if (f == NULL || f->end == f->start) {
        if (required) {
            carelog_i_where at = {field, 0, 0, 0};
            carelog_i_emit(w, CARELOG_RULE_REQUIRED_FIELD_MISSING, 0, 0, &at,
                           f == NULL ? seg_end : f->start, 0);
        }
        return;
    }
    i = f->start;
    while (i <= f->end) {
        size_t rs = i, re = i;
        carelog_i_span v;
        int t = (int)type, whole = component == 0, rule;
        unsigned shown = component == 0 ? 1 : component;
        {
            const unsigned char *sep = memchr(w->buf + rs, w->rs, f->end - rs);
            re = sep == NULL ? f->end : (size_t)(sep - w->buf);
        }
        i = re + 1;
        rep++;
        if (max_len != 0 && re - rs > max_len &&
            !(re - rs == 2 && w->buf[rs] == '"' && w->buf[rs + 1] == '"')) {
            carelog_i_where at = {field, rep, 0, 0};
            carelog_i_emit(w, CARELOG_RULE_VALUE_TOO_LONG, lenient, 0, &at, rs, max_len);
        }
        if (re == rs) {
            continue;
        }
        if (component == 0) {
            v.start = rs;
            v.end = re;
        } else {
            v = component_of(w, rs, re, component);
        }
        if (component != 0 && required && v.end == v.start) {
            carelog_i_where at = {field, rep, component, 0};
            carelog_i_emit(w, CARELOG_RULE_REQUIRED_FIELD_MISSING, had_component ? lenient : 0, 0,
                           &at, v.start, 0);
            continue;
        }
        had_component = 1;
        if (v.end == v.start ||
            (v.end - v.start == 2 && w->buf[v.start] == '"' && w->buf[v.start + 1] == '"')) {
            continue;
        }
        if (t == CARELOG_T_VARIES) {
            if (ref >= captured || fields[ref].end == fields[ref].start) {
                continue;
            }
            t = varies_type(w, &fields[ref], &whole);
            if (!whole) {
                v = component_of(w, rs, re, 1);
                if (v.end == v.start) {
                    continue;
                }
            }
        }
        if (t >= CARELOG_T_CP && t <= CARELOG_T_SN) {
            check_composite(w, t, field, rep, rs, re);
        } else if (t == CARELOG_T_ID || t == CARELOG_T_IS) {
            if (!in_table(&w->profile, table, w->buf + v.start, v.end - v.start)) {
                carelog_i_where at = {field, rep, shown, 0};
                size_t number = carelog_i_u16(w->profile.tables + (size_t)table * CARELOG_I_TABLE_LEN);
                carelog_i_emit(w, CARELOG_RULE_TABLE_VALUE, t == CARELOG_T_ID ? 'E' : lenient, 0,
                               &at, v.start, number);
            }
        } else if (!type_ok(t, w->buf + v.start, v.end - v.start, &rule)) {
            carelog_i_where at = {field, rep, shown, 0};
            carelog_i_emit(w, rule, 0, 0, &at, v.start, 0);
        }
    }
}

/* a < b for two 3-byte ids (memcmp order), without a call. */
static int id_before(const unsigned char *a, const unsigned char *b)
{
    if (a[0] != b[0]) {
        return a[0] < b[0];
    }
    if (a[1] != b[1]) {
        return a[1] < b[1];
    }
    return a[2] < b[2];
}

void carelog_i_apply_rules(carelog_i_walk *w, const unsigned char *id,
                           const carelog_i_span *fields, uint32_t captured, uint32_t last_field,
                           uint32_t last_filled, size_t last_filled_at, size_t seg_end)
{
    const carelog_i_profile *p = &w->profile;
    unsigned i, k, lo = 0, hi = p->n_segdefs;
    (void)last_field;
    /* Segment definitions are sorted by id (carelog_profile_check makes sure):
     * find the first of this id, then its version ranges in order. */
    while (lo < hi) {
        unsigned mid = lo + (hi - lo) / 2;
        if (id_before(p->segdefs + (size_t)mid * CARELOG_I_SEGDEF_LEN, id)) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    for (i = lo; i < p->n_segdefs; i++) {
        const unsigned char *d = p->segdefs + (size_t)i * CARELOG_I_SEGDEF_LEN;
        unsigned first, count, max_fields;
        if (!carelog_i_same_id(d, id)) {
            return;
        }
        if (w->version < carelog_i_u16(d + 4) || w->version > carelog_i_u16(d + 6)) {
            continue;
        }
        max_fields = carelog_i_u16(d + 8);
        first = carelog_i_u16(d + 10);
        count = carelog_i_u16(d + 12);
        for (k = first; k < first + count; k++) {
            apply_rule(w, p->rules + (size_t)k * CARELOG_I_RULE_LEN, fields, captured, seg_end);
        }
        if (w->strict && max_fields != 0 && last_filled > max_fields) {
            carelog_i_where at = {last_filled, 0, 0, 0};
            carelog_i_emit(w, CARELOG_RULE_FIELD_NOT_DEFINED, 0, 0, &at, last_filled_at,
                           max_fields);
        }
        return;
    }
}
