/*
 * The message walk: one pass over the segments, one pass over each segment's
 * fields, reporting faults with HL7 positions as they are met.
 *
 * Order of faults (the Python reference in tests/reference_validator.py
 * mirrors it exactly): per segment, the segment id fault, then the segment
 * length fault, then for each field its in-field faults (control bytes, bad
 * escapes) in byte order followed by the field's length fault; after the
 * first MSH's fields, the MSH field checks (MSH-7, 9, 10, 11, 12). A fatal
 * header fault (no MSH, bad MSH-1 or MSH-2) or an over-long message stops the
 * walk, since nothing after it can be located; any other fault does not.
 *
 * With a profile, each segment's field rules (profile.c) run once its fields
 * are walked (for the first MSH: after the MSH checks, which name the
 * version and the message profile), and after the last segment the segment
 * structure is matched (structure.c). So per segment: envelope faults, then
 * rule faults; after all segments: structure faults.
 *
 * All state lives in a `walk` on the caller's stack: no globals, no malloc.
 */
#include <stddef.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "internal.h"

typedef carelog_i_walk walk;
typedef carelog_i_span span;
typedef carelog_i_where where;

/* What walk_fields saw of a segment's fields, for the rules. */
typedef struct fields_seen {
    uint32_t last;          /* number of the last field */
    uint32_t last_filled;   /* number of the last non-empty field, 0 none */
    size_t last_filled_at;  /* its start */
} fields_seen;

static const where NOWHERE = {0, 0, 0, 0};

/* Positions saturate rather than wrap on absurdly long input. */
static uint32_t inc(uint32_t v)
{
    return v == UINT32_MAX ? v : v + 1;
}

/* The id a segment is shown by: up to 3 bytes before the field separator, '?' for
 * an unprintable byte, NUL-padded (as carelog_i_enter_segment names it). */
static void shown_id(const walk *w, size_t start, size_t end, char out[4])
{
    size_t i;
    memset(out, 0, 4);
    for (i = 0; i < 3 && start + i < end && (w->fs == 0 || w->buf[start + i] != w->fs); i++) {
        unsigned char c = w->buf[start + i];
        out[i] = (char)(c >= 0x21 && c <= 0x7E ? c : '?');
    }
}

/*
 * ERL-2 as HL7 defines it: the sequence of the current segment among the
 * segments of its type (the second OBX is OBX^2), not its position in the
 * message. The walk knows the position (w->seg_index, among non-blank
 * segments); the occurrence is counted here, only when a fault is written,
 * so a valid message costs nothing: from the kept bounds, then (a message
 * longer than CARELOG_I_KEPT_SEGMENTS) by scanning on as the walk did.
 */
static uint32_t occurrence(const walk *w)
{
    uint32_t index = w->seg_index, seen = 0, n = 0, k;
    size_t pos;
    char id[4];
    if (index <= 1) {
        return index; /* none, or the first segment (the MSH) */
    }
    for (k = 0; k < w->kept && n < index; k++) {
        n++;
        shown_id(w, w->seg_start[k], w->seg_end[k], id);
        seen += memcmp(id, w->seg_id, 4) == 0;
    }
    pos = w->kept == 0 ? w->len : w->seg_end[w->kept - 1];
    while (n < index && pos < w->len) {
        size_t start, end;
        pos += (w->buf[pos] == '\r' && pos + 1 < w->len && w->buf[pos + 1] == '\n') ? 2 : 1;
        start = pos;
        end = start;
        while (end < w->len && w->buf[end] != '\r' && w->buf[end] != '\n') {
            end++;
        }
        pos = end;
        if (end > start) {
            n++;
            shown_id(w, start, end, id);
            seen += memcmp(id, w->seg_id, 4) == 0;
        }
    }
    return seen == 0 ? index : seen;
}

void carelog_i_emit(walk *w, int rule, char severity, int fatal, const where *at, size_t offset,
                    size_t detail)
{
    const carelog_i_rule_info *info = carelog_i_rule(rule);
    carelog_result *out = w->out;

    if (severity == 0) {
        severity = info->severity;
    }
    if (severity == 'E') {
        out->error_count++;
    } else if (severity == 'W') {
        out->warning_count++;
    }
    if (fatal) {
        out->fatal = 1;
    }
    if (out->fault_count < w->max_faults) {
        carelog_fault *f = &w->faults[out->fault_count];
        f->code = info->code;
        f->rule = rule;
        f->severity = severity;
        f->fatal = (unsigned char)(fatal ? 1 : 0);
        memcpy(f->segment_id, w->seg_id, sizeof f->segment_id);
        f->segment_index = occurrence(w);
        f->field = at->field;
        f->repetition = at->repetition;
        f->component = at->component;
        f->subcomponent = at->subcomponent;
        f->offset = offset;
        f->detail = detail;
        out->faults_written++;
    }
    out->fault_count++;
}

static void emit(walk *w, int rule, int fatal, const where *at, size_t offset, size_t detail)
{
    carelog_i_emit(w, rule, 0, fatal, at, offset, detail);
}

void carelog_i_enter_segment(walk *w, uint32_t index, size_t start, size_t id_len)
{
    size_t i;
    memset(w->seg_id, 0, sizeof w->seg_id);
    w->seg_index = index;
    for (i = 0; i < id_len && i < 3; i++) {
        unsigned char c = w->buf[start + i];
        w->seg_id[i] = (char)(c >= 0x21 && c <= 0x7E ? c : '?');
    }
}

/* Index of the first CR or LF at or after pos, or len. */
static size_t end_of_segment(const unsigned char *buf, size_t pos, size_t len)
{
#if defined(__SSE2__)
    /* One pass for both terminators, 32 bytes a step (segments are ~100
     * bytes: two memchr calls would read each one twice). Loads stay in
     * [pos, len); the tail goes to the byte loop. */
    const __m128i cr = _mm_set1_epi8('\r');
    const __m128i lf = _mm_set1_epi8('\n');
    while (pos + 32 <= len) {
        __m128i a = _mm_loadu_si128((const __m128i *)(const void *)(buf + pos));
        __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(buf + pos + 16));
        unsigned m = (unsigned)_mm_movemask_epi8(
                         _mm_or_si128(_mm_cmpeq_epi8(a, cr), _mm_cmpeq_epi8(a, lf))) |
                     ((unsigned)_mm_movemask_epi8(
                          _mm_or_si128(_mm_cmpeq_epi8(b, cr), _mm_cmpeq_epi8(b, lf)))
                      << 16);
        if (m != 0) {
            return pos + (size_t)__builtin_ctz(m);
        }
        pos += 32;
    }
    while (pos < len && buf[pos] != '\r' && buf[pos] != '\n') {
        pos++;
    }
    return pos;
#else
    /* memchr is much faster than a byte loop; the LF search is bounded by the
     * CR found, so a CR-only message is still read once. */
    const unsigned char *cr = memchr(buf + pos, '\r', len - pos);
    size_t end = cr == NULL ? len : (size_t)(cr - buf);
    const unsigned char *lf = memchr(buf + pos, '\n', end - pos);
    return lf == NULL ? end : (size_t)(lf - buf);
#endif
}

/* A delimiter: one printable, non-space, non-alphanumeric ASCII character. */
static int delimiter_ok(unsigned char c)
{
    if (c < 0x21 || c > 0x7E) {
        return 0;
    }
    return !((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'));
}

static int encoding_ok(const unsigned char *s, size_t n)
{
    size_t i, j;
    if (n != 4 && n != 5) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        if (!delimiter_ok(s[i])) {
            return 0;
        }
        for (j = 0; j < i; j++) {
            if (s[j] == s[i]) {
                return 0;
            }
        }
    }
    return 1;
}

int carelog_i_segment_id_ok(const unsigned char *s, size_t n)
{
    size_t i;
    if (n != 3 || s[0] < 'A' || s[0] > 'Z') {
        return 0;
    }
    for (i = 1; i < 3; i++) {
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9'))) {
            return 0;
        }
    }
    return 1;
}

/* MSH, and the batch headers built like it, whose field 2 is not data. */
static int is_header_segment(const unsigned char *s)
{
    return memcmp(s, "MSH", 3) == 0 || memcmp(s, "FHS", 3) == 0 || memcmp(s, "BHS", 3) == 0;
}

/*
 * Control bytes are reported in field data: 0x00-0x1F except TAB (which some
 * senders put in formatted text) and DEL. CR and LF end segments, so they are
 * never inside one. Bytes >= 0x80 belong to the character set (MSH-18) and
 * are not judged here.
 */
/* The kinds before the message's own delimiters: control bytes (0x00-0x1F
 * but TAB, and DEL), else data. A constant: copied, not rebuilt, per message. */
static const unsigned char BASE_KINDS[256] = {
    K_CONTROL, K_CONTROL, K_CONTROL, K_CONTROL, K_CONTROL, K_CONTROL, K_CONTROL, K_CONTROL,
    K_CONTROL, K_DATA,    K_CONTROL, K_CONTROL, K_CONTROL, K_CONTROL, K_CONTROL, K_CONTROL,
    K_CONTROL, K_CONTROL, K_CONTROL, K_CONTROL, K_CONTROL, K_CONTROL, K_CONTROL, K_CONTROL,
    K_CONTROL, K_CONTROL, K_CONTROL, K_CONTROL, K_CONTROL, K_CONTROL, K_CONTROL, K_CONTROL,
    [0x7F] = K_CONTROL,
};

static void build_kinds(walk *w, const unsigned char *enc)
{
    memcpy(w->kind, BASE_KINDS, sizeof w->kind);
    w->kind[w->fs] = K_FIELD;
    w->kind[enc[0]] = K_COMPONENT;
    w->kind[enc[1]] = K_REPETITION;
    w->kind[enc[2]] = K_ESCAPE;
    w->kind[enc[3]] = K_SUBCOMPONENT;
    memcpy(w->stop, w->kind, sizeof w->stop);
    w->stop[enc[0]] = K_DATA;
    w->stop[enc[1]] = K_DATA;
    w->stop[enc[3]] = K_DATA;
}

/*
 * Where byte i of a field lies (repetition, component, subcomponent), found
 * only when a fault needs it: the walk's loop stops at field separators,
 * escapes and control bytes alone, which is what makes it fast. The locator
 * moves forward only, so one field costs one pass however many faults it has.
 * Escape sequences hold only data bytes, so counting the delimiters before i
 * gives the positions a delimiter-by-delimiter walk would have.
 */
typedef struct locator {
    size_t pos;
    where at;
} locator;

static const where *locate(const walk *w, locator *l, size_t i)
{
    while (l->pos < i) {
        switch (w->kind[w->buf[l->pos]]) {
        case K_REPETITION:
            l->at.repetition = inc(l->at.repetition);
            l->at.component = 1;
            l->at.subcomponent = 1;
            break;
        case K_COMPONENT:
            l->at.component = inc(l->at.component);
            l->at.subcomponent = 1;
            break;
        case K_SUBCOMPONENT:
            l->at.subcomponent = inc(l->at.subcomponent);
            break;
        default:
            break;
        }
        l->pos++;
    }
    return &l->at;
}

/*
 * The escape character at i opens a sequence that must close on the same
 * field before any delimiter or control byte. Returns where the walk resumes:
 * after the closing escape character, or (unterminated) just after the opening
 * one, so that the delimiter that cut it is still counted.
 */
/*
 * Finding the next byte that stops the walk (field separator, escape,
 * control byte: w->stop) is the validator's inner loop. Fields are short,
 * so a byte loop spends its time on mispredicted exits; with SSE2 (every
 * x86-64) the scanner tests 16 bytes at once and keeps the bit mask of the
 * stop bytes in them, so consecutive fields in one block cost a bit scan
 * each. Loads stay inside [i, end); the tail and other CPUs use the loop.
 */
typedef struct scanner {
    size_t base;   /* the block is [base, base + 16) */
    unsigned mask; /* bit k: buf[base + k] is a stop byte */
    int valid;
#if defined(__SSE2__)
    __m128i fs, es, low, tab, del;
#endif
} scanner;

static void scanner_init(const walk *w, scanner *sc)
{
    sc->valid = 0;
    sc->base = 0;
    sc->mask = 0;
#if defined(__SSE2__)
    sc->fs = _mm_set1_epi8((char)w->fs);
    sc->es = _mm_set1_epi8((char)w->es);
    sc->low = _mm_set1_epi8(0x1F);
    sc->tab = _mm_set1_epi8('\t');
    sc->del = _mm_set1_epi8(0x7F);
#else
    (void)w;
#endif
}

/* The index of the first stop byte in [i, end), or end. */
static size_t next_stop(const walk *w, scanner *sc, size_t i, size_t end)
{
    const unsigned char *buf = w->buf;
#if defined(__SSE2__)
    for (;;) {
        if (sc->valid && i >= sc->base && i < sc->base + 16) {
            unsigned m = sc->mask & (0xFFFFu << (i - sc->base));
            if (m != 0) {
                return sc->base + (size_t)__builtin_ctz(m);
            }
            i = sc->base + 16;
        }
        if (i + 16 > end) {
            break;
        }
        {
            __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(buf + i));
            /* v <= 0x1F (unsigned) except TAB, or DEL, or a separator or escape */
            __m128i control = _mm_andnot_si128(_mm_cmpeq_epi8(v, sc->tab),
                                               _mm_cmpeq_epi8(_mm_min_epu8(v, sc->low), v));
            __m128i hit = _mm_or_si128(
                _mm_or_si128(_mm_cmpeq_epi8(v, sc->fs), _mm_cmpeq_epi8(v, sc->es)),
                _mm_or_si128(control, _mm_cmpeq_epi8(v, sc->del)));
            sc->base = i;
            sc->mask = (unsigned)_mm_movemask_epi8(hit);
            sc->valid = 1;
        }
    }
#else
    (void)sc;
#endif
    while (i < end && w->stop[buf[i]] == K_DATA) {
        i++;
    }
    return i;
}

static size_t escape(walk *w, size_t i, size_t end, locator *l)
{
    const unsigned char *buf = w->buf;
    size_t j = i + 1;
    while (j < end && w->kind[buf[j]] == K_DATA) {
        j++;
    }
    if (j < end && w->kind[buf[j]] == K_ESCAPE) {
        if (!carelog_i_escape_valid(buf + i + 1, j - i - 1, w->has_truncation)) {
            emit(w, CARELOG_RULE_BAD_ESCAPE, 0, locate(w, l, i), i, j - i + 1);
        }
        return j + 1;
    }
    emit(w, CARELOG_RULE_BAD_ESCAPE, 0, locate(w, l, i), i, 0);
    return i + 1;
}

/* Field `field`, [start, end), has been walked: its length, capture and what the rules see. */
static void close_field(walk *w, size_t start, size_t end, uint32_t field, span *capture,
                        fields_seen *seen)
{
    if (__builtin_expect(end - start > w->max_field_len, 0)) {
        where whole = {field, 0, 0, 0};
        emit(w, CARELOG_RULE_FIELD_TOO_LONG, 0, &whole, start, end - start);
    }
    if (field < CARELOG_I_CAPTURED) {
        capture[field].start = start;
        capture[field].end = end;
        capture[field].present = 1;
    }
    seen->last = field;
    if (end > start) {
        seen->last_filled = field;
        seen->last_filled_at = start;
    }
}

#if defined(__SSE2__)
/*
 * The common case first: fields with no escape and no control byte are just
 * the runs between field separators, so 16 bytes at a time the separators'
 * bit mask closes one field per bit, with no per-field scan. At the first
 * escape or control byte (or the last < 16 bytes) it hands over to the full
 * walk, at the separator opening the field that holds it: nothing of that
 * field has been reported yet, so the faults and their order are the full
 * walk's. Returns that separator's index; *field is its field number.
 */
static size_t walk_plain_fields(walk *w, size_t pos, size_t end, uint32_t *field, span *capture,
                                fields_seen *seen)
{
    const unsigned char *buf = w->buf;
    const __m128i fs = _mm_set1_epi8((char)w->fs);
    const __m128i es = _mm_set1_epi8((char)w->es);
    const __m128i low = _mm_set1_epi8(0x1F);
    const __m128i tab = _mm_set1_epi8('\t');
    const __m128i del = _mm_set1_epi8(0x7F);
    size_t start = pos + 1;
    size_t i = start;
    uint32_t f = *field;
    /* A local copy: stores to capture might alias *seen, a local's cannot. */
    fields_seen s = *seen;
    /* 32 bytes a step: the separator loop's exit is mispredicted about once
     * a step, so fewer, longer steps. The last step of a segment may load
     * past end while inside the message (the next segment's bytes), its bits
     * past end masked off; only a message's last bytes go to the full walk. */
    while (i < end && i + 32 <= w->len) {
        uint32_t in = end - i >= 32 ? 0xFFFFFFFFu : (uint32_t)((1ull << (end - i)) - 1u);
        __m128i a = _mm_loadu_si128((const __m128i *)(const void *)(buf + i));
        __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(buf + i + 16));
        __m128i ca = _mm_andnot_si128(_mm_cmpeq_epi8(a, tab),
                                      _mm_cmpeq_epi8(_mm_min_epu8(a, low), a));
        __m128i cb = _mm_andnot_si128(_mm_cmpeq_epi8(b, tab),
                                      _mm_cmpeq_epi8(_mm_min_epu8(b, low), b));
        uint32_t sa = (uint32_t)_mm_movemask_epi8(
            _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(a, es), _mm_cmpeq_epi8(a, del)), ca));
        uint32_t sb = (uint32_t)_mm_movemask_epi8(
            _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(b, es), _mm_cmpeq_epi8(b, del)), cb));
        uint32_t special = (sa | (sb << 16)) & in;
        uint32_t seps = ((uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(a, fs)) |
                         ((uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(b, fs)) << 16)) & in;
        if (__builtin_expect(special != 0, 0)) {
            seps &= (uint32_t)((1ull << __builtin_ctz(special)) - 1u);
        }
        while (seps != 0) {
            size_t e = i + (size_t)__builtin_ctz(seps);
            close_field(w, start, e, f, capture, &s);
            start = e + 1;
            f = inc(f);
            seps &= seps - 1u;
        }
        if (special != 0) {
            break;
        }
        i += 32;
    }
    *field = f;
    *seen = s;
    return start - 1;
}
#endif

/*
 * Walk the fields of a segment that ends at end, starting at pos where
 * buf[pos] is the field separator opening field number `field` (pos == end:
 * no more fields). capture receives the fields numbered below
 * CARELOG_I_CAPTURED that are present; seen what the rules need of the rest.
 */
static void walk_fields(walk *w, size_t pos, size_t end, uint32_t field, span *capture,
                        fields_seen *seen)
{
    const unsigned char *buf = w->buf;
    scanner sc;
#if defined(__SSE2__)
    if (pos < end) {
        pos = walk_plain_fields(w, pos, end, &field, capture, seen);
    }
#endif
    scanner_init(w, &sc);
    while (pos < end) {
        size_t start = pos + 1;
        size_t i = start;
        locator l;
        l.pos = start;
        l.at.field = field;
        l.at.repetition = 1;
        l.at.component = 1;
        l.at.subcomponent = 1;
        while (i < end) {
            unsigned char k;
            i = next_stop(w, &sc, i, end);
            if (i >= end) {
                break;
            }
            k = w->stop[buf[i]];
            if (k == K_FIELD) {
                break;
            }
            if (k == K_ESCAPE) {
                i = escape(w, i, end, &l);
            } else { /* K_CONTROL */
                emit(w, CARELOG_RULE_CONTROL_CHARACTER, 0, locate(w, &l, i), i, buf[i]);
                i++;
            }
        }
        close_field(w, start, i, field, capture, seen);
        pos = i;
        field = inc(field);
    }
}

/* The rules of the segment whose fields were just walked, if a profile is in force. */
static void rules_for(walk *w, const unsigned char *id, const span *fields, const fields_seen *seen,
                      size_t seg_end)
{
    uint32_t captured = seen->last < CARELOG_I_CAPTURED ? seen->last + 1 : CARELOG_I_CAPTURED;
    if (w->has_profile && w->version != 0) {
        carelog_i_apply_rules(w, id, fields, captured, seen->last, seen->last_filled,
                              seen->last_filled_at, seg_end);
    }
}

/* Component k (1-based) of the first repetition of f; absent: an empty span at its end. */
static span component(const walk *w, span f, uint32_t k)
{
    size_t i = f.start;
    size_t start = i;
    uint32_t c = 1;
    span s;
    while (i < f.end) {
        unsigned char kind = w->kind[w->buf[i]];
        if (kind == K_REPETITION) {
            break;
        }
        if (kind == K_COMPONENT) {
            if (c == k) {
                break;
            }
            c++;
            start = i + 1;
        }
        i++;
    }
    s.present = c == k;
    s.start = s.present ? start : i;
    s.end = i;
    return s;
}

/* MSH-n present and non-empty, else a REQUIRED_FIELD_MISSING fault. */
static int require_field(walk *w, const span *f, uint32_t field, int fatal, size_t seg_end)
{
    if (!f->present || f->end == f->start) {
        where at = {field, 0, 0, 0};
        emit(w, CARELOG_RULE_REQUIRED_FIELD_MISSING, fatal, &at, f->present ? f->start : seg_end,
             0);
        return 0;
    }
    return 1;
}

/* Component k of MSH-n's first repetition non-empty, else REQUIRED_FIELD_MISSING. */
static int require_component(walk *w, span f, uint32_t field, uint32_t k, int fatal,
                             span *value)
{
    span c = component(w, f, k);
    if (c.end == c.start) {
        where at = {field, 1, k, 0};
        emit(w, CARELOG_RULE_REQUIRED_FIELD_MISSING, fatal, &at, c.start, 0);
        return 0;
    }
    *value = c;
    return 1;
}

static int equals(const unsigned char *s, size_t n, const char *text)
{
    size_t m = strlen(text);
    return n == m && memcmp(s, text, m) == 0;
}

/* MSH-12.1 as a number (2.5.1 -> 251), 0 when not a supported version. */
static unsigned version_code(const unsigned char *s, size_t n)
{
    static const char *const VERSIONS[] = {"2.3", "2.3.1", "2.4",   "2.5",   "2.5.1", "2.6",
                                           "2.7", "2.7.1", "2.8",   "2.8.1", "2.8.2"};
    static const unsigned CODES[] = {230, 231, 240, 250, 251, 260, 270, 271, 280, 281, 282};
    size_t i;
    for (i = 0; i < sizeof VERSIONS / sizeof VERSIONS[0]; i++) {
        if (equals(s, n, VERSIONS[i])) {
            return CODES[i];
        }
    }
    return 0;
}

/*
 * The MSH fields an engine needs to answer at all. MSH-9 (type and trigger)
 * and MSH-10 (control id) are fatal: without them no ACK can be addressed.
 * With a profile, MSH-9.1/9.2 must name a message profile: 200 for an
 * unknown type, 201 for a trigger the type has not in this version.
 */
static void check_msh(walk *w, const span *msh, size_t seg_end)
{
    const unsigned char *buf = w->buf;
    span c;
    span type = {0, 0, 0};
    span trigger = {0, 0, 0};
    int have_type = 0;
    int have_trigger = 0;

    if (require_field(w, &msh[7], 7, 0, seg_end) &&
        require_component(w, msh[7], 7, 1, 0, &c) &&
        !carelog_i_dtm_valid(buf + c.start, c.end - c.start)) {
        where at = {7, 1, 1, 0};
        emit(w, CARELOG_RULE_BAD_DATETIME, 0, &at, c.start, 0);
    }
    if (require_field(w, &msh[9], 9, 1, seg_end)) {
        have_type = require_component(w, msh[9], 9, 1, 1, &type);
        have_trigger = require_component(w, msh[9], 9, 2, 1, &trigger);
    }
    require_field(w, &msh[10], 10, 1, seg_end);
    if (require_field(w, &msh[11], 11, 0, seg_end) &&
        require_component(w, msh[11], 11, 1, 0, &c) &&
        !(equals(buf + c.start, c.end - c.start, "P") ||
          equals(buf + c.start, c.end - c.start, "D") ||
          equals(buf + c.start, c.end - c.start, "T"))) {
        where at = {11, 1, 1, 0};
        emit(w, CARELOG_RULE_UNSUPPORTED_PROCESSING_ID, 0, &at, c.start, 0);
    }
    if (require_field(w, &msh[12], 12, 0, seg_end) &&
        require_component(w, msh[12], 12, 1, 0, &c)) {
        w->version = version_code(buf + c.start, c.end - c.start);
        if (w->version == 0) {
            where at = {12, 1, 1, 0};
            emit(w, CARELOG_RULE_UNSUPPORTED_VERSION, 0, &at, c.start, 0);
        }
    }
    if (w->has_profile && have_type) {
        int found = carelog_i_find_message(w, buf + type.start, type.end - type.start,
                                           buf + trigger.start,
                                           have_trigger ? trigger.end - trigger.start : 0);
        if (found == -2) {
            where at = {9, 1, 1, 0};
            emit(w, CARELOG_RULE_UNSUPPORTED_MESSAGE_TYPE, 0, &at, type.start, 0);
        } else if (found == -1 && have_trigger && w->version != 0) {
            /* 201 needs a version: which triggers a type has depends on it. */
            where at = {9, 1, 2, 0};
            emit(w, CARELOG_RULE_UNSUPPORTED_EVENT, 0, &at, trigger.start, 0);
        } else if (found >= 0) {
            w->msg = found;
        }
    }
}

/* Any segment after the first. */
static void walk_segment(walk *w, uint32_t index, size_t start, size_t end)
{
    const unsigned char *buf = w->buf;
    size_t id_len = 0;
    size_t pos;
    span fields[CARELOG_I_CAPTURED];
    fields_seen seen = {0, 0, 0};

    while (start + id_len < end && buf[start + id_len] != w->fs) {
        id_len++;
    }
    carelog_i_enter_segment(w, index, start, id_len);
    if (!carelog_i_segment_id_ok(buf + start, id_len)) {
        emit(w, CARELOG_RULE_BAD_SEGMENT_ID, 0, &NOWHERE, start, id_len);
    }
    if (end - start > w->max_segment_len) {
        emit(w, CARELOG_RULE_SEGMENT_TOO_LONG, 0, &NOWHERE, start, end - start);
    }
    pos = start + id_len;
    if (id_len == 3 && is_header_segment(buf + start) && pos < end) {
        /* buf[pos] is field 1 itself; field 2 holds encoding characters, not data.
         * A header inside a message gets no field rules: the structure check
         * reports it as out of place. */
        pos++;
        while (pos < end && buf[pos] != w->fs) {
            pos++;
        }
        walk_fields(w, pos, end, 3, fields, &seen);
        return;
    }
    walk_fields(w, pos, end, 1, fields, &seen);
    if (carelog_i_segment_id_ok(buf + start, id_len)) {
        rules_for(w, buf + start, fields, &seen, end);
    }
}

static size_t or_default(size_t value, size_t fallback)
{
    return value == 0 ? fallback : value;
}

/* check_msh reads MSH-7 to MSH-12: the spans below this are cleared per message. */
#define MSH_CHECKED 13

/* Validate one message; arguments have been checked by the caller. */
static void run(const unsigned char *buf, size_t len, const carelog_options *opts,
                const carelog_i_profile *profile, carelog_fault *faults, size_t max_faults,
                carelog_result *out)
{
    walk w;
    span msh[CARELOG_I_CAPTURED];
    fields_seen seen = {2, 0, 0};
    size_t max_message_len = CARELOG_DEFAULT_MAX_MESSAGE_LEN;
    size_t seg_end, enc_end, pos;
    uint32_t count;

    memset(out, 0, sizeof *out);
    /* Not the whole walk: the kind table is built below and the segment
     * bounds are written before they are read, so only the head is cleared. */
    memset(&w, 0, offsetof(walk, seg_start));
    /* Only the MSH fields check_msh reads whether or not they were walked:
     * the rules read fields[f] for f <= the last field walk_fields wrote. */
    memset(msh, 0, sizeof msh[0] * MSH_CHECKED);
    w.buf = buf;
    w.len = len;
    w.faults = faults;
    w.max_faults = max_faults;
    w.out = out;
    w.msg = -1;
    w.max_segment_len = CARELOG_DEFAULT_MAX_SEGMENT_LEN;
    w.max_field_len = CARELOG_DEFAULT_MAX_FIELD_LEN;
    if (opts != NULL) {
        max_message_len = or_default(opts->max_message_len, max_message_len);
        w.max_segment_len = or_default(opts->max_segment_len, w.max_segment_len);
        w.max_field_len = or_default(opts->max_field_len, w.max_field_len);
        w.strict = opts->strict;
    }
    if (profile != NULL) {
        w.has_profile = 1;
        w.profile = *profile;
    }
    out->message_length = len;

    if (len == 0) {
        emit(&w, CARELOG_RULE_EMPTY_MESSAGE, 1, &NOWHERE, 0, 0);
        out->stopped = 1;
        return;
    }
    if (len > max_message_len) {
        /* Checked before reading anything, so an oversized message costs nothing. */
        emit(&w, CARELOG_RULE_MESSAGE_TOO_LONG, 1, &NOWHERE, max_message_len, len);
        out->stopped = 1;
        return;
    }

    seg_end = end_of_segment(buf, 0, len);
    out->segment_count = 1;
    w.seg_start[0] = 0;
    w.seg_end[0] = seg_end;
    w.kept = 1;
    carelog_i_enter_segment(&w, 1, 0, seg_end);
    if (seg_end < 3 || memcmp(buf, "MSH", 3) != 0) {
        emit(&w, CARELOG_RULE_MSH_NOT_FIRST, 1, &NOWHERE, 0, 0);
        out->stopped = 1;
        return;
    }
    if (seg_end < 4 || !delimiter_ok(buf[3])) {
        where at = {1, 0, 0, 0};
        emit(&w, CARELOG_RULE_BAD_FIELD_SEPARATOR, 1, &at, 3, seg_end < 4 ? 0 : buf[3]);
        out->stopped = 1;
        return;
    }
    w.fs = buf[3];
    enc_end = 4;
    while (enc_end < seg_end && buf[enc_end] != w.fs) {
        enc_end++;
    }
    if (!encoding_ok(buf + 4, enc_end - 4)) {
        where at = {2, 0, 0, 0};
        emit(&w, CARELOG_RULE_BAD_ENCODING_CHARACTERS, 1, &at, 4, enc_end - 4);
        out->stopped = 1;
        return;
    }
    w.has_truncation = enc_end - 4 == 5;
    w.cs = buf[4];
    w.rs = buf[5];
    w.es = buf[6];
    build_kinds(&w, buf + 4);

    if (seg_end > w.max_segment_len) {
        emit(&w, CARELOG_RULE_SEGMENT_TOO_LONG, 0, &NOWHERE, 0, seg_end);
    }
    msh[1].start = 3;
    msh[1].end = 4;
    msh[1].present = 1;
    msh[2].start = 4;
    msh[2].end = enc_end;
    msh[2].present = 1;
    walk_fields(&w, enc_end, seg_end, 3, msh, &seen);
    check_msh(&w, msh, seg_end);
    rules_for(&w, buf, msh, &seen, seg_end);

    count = 1;
    pos = seg_end;
    while (pos < len) {
        /* pos is on a terminator: CR LF counts as one, CR or LF alone as one. */
        if (buf[pos] == '\r' && pos + 1 < len && buf[pos + 1] == '\n') {
            pos += 2;
        } else {
            pos += 1;
        }
        if (pos >= len) {
            break;
        }
        seg_end = end_of_segment(buf, pos, len);
        if (seg_end == pos) {
            if (w.strict) {
                carelog_i_enter_segment(&w, 0, pos, 0);
                emit(&w, CARELOG_RULE_BLANK_LINE, 0, &NOWHERE, pos, 0);
            }
            continue;
        }
        count = inc(count);
        if (w.kept < CARELOG_I_KEPT_SEGMENTS) {
            w.seg_start[w.kept] = pos;
            w.seg_end[w.kept] = seg_end;
            w.kept++;
        }
        walk_segment(&w, count, pos, seg_end);
        pos = seg_end;
    }
    out->segment_count = count;
    if (w.msg >= 0 && w.version != 0) {
        carelog_i_check_structure(&w);
    }
}

static int options_ok(const carelog_options *opts)
{
    return opts == NULL || opts->strict == 0 || opts->strict == 1;
}

/* The profile named by opts: 0 none, 1 opened into *p, -1 malformed header. */
static int open_profile(const carelog_options *opts, carelog_i_profile *p)
{
    if (opts == NULL || opts->profile == NULL) {
        return 0;
    }
    return carelog_i_profile_open(opts->profile, opts->profile_len, p) ? 1 : -1;
}

int carelog_validate_message(const char *buf, size_t len, const carelog_options *opts,
                             carelog_fault *faults, size_t max_faults, carelog_result *out)
{
    carelog_i_profile profile;
    int has;
    if (out == NULL || (buf == NULL && len != 0) || (faults == NULL && max_faults != 0)) {
        return CARELOG_E_ARGS;
    }
    if (!options_ok(opts)) {
        return CARELOG_E_OPTIONS;
    }
    has = open_profile(opts, &profile);
    if (has < 0) {
        return CARELOG_E_PROFILE;
    }
    run((const unsigned char *)buf, len, opts, has ? &profile : NULL, faults, max_faults, out);
    return CARELOG_OK;
}

int carelog_validate_batch(const char *buf, size_t buf_len, const size_t *offsets,
                           const size_t *lengths, size_t n, const carelog_options *opts,
                           carelog_fault *faults, size_t max_faults_per_message,
                           carelog_result *results, size_t *faulty)
{
    size_t i;
    size_t with_faults = 0;
    carelog_i_profile profile;
    int has;
    size_t at = 0;
    if ((buf == NULL && buf_len != 0) || (n != 0 && (lengths == NULL || results == NULL)) ||
        (n != 0 && max_faults_per_message != 0 && faults == NULL) ||
        (max_faults_per_message != 0 && n > SIZE_MAX / max_faults_per_message)) {
        return CARELOG_E_ARGS;
    }
    if (!options_ok(opts)) {
        return CARELOG_E_OPTIONS;
    }
    has = open_profile(opts, &profile);
    if (has < 0) {
        return CARELOG_E_PROFILE;
    }
    /* Check every range first, so that an error leaves no result half-written.
     * Without offsets the messages lie back to back: their lengths must fit. */
    for (i = 0; i < n; i++) {
        size_t start = offsets == NULL ? at : offsets[i];
        if (start > buf_len || lengths[i] > buf_len - start) {
            return CARELOG_E_RANGE;
        }
        at = start + lengths[i];
    }
    at = 0;
    for (i = 0; i < n; i++) {
        size_t start = offsets == NULL ? at : offsets[i];
        const unsigned char *msg = buf == NULL ? NULL : (const unsigned char *)buf + start;
        carelog_fault *slots = faults == NULL ? NULL : faults + i * max_faults_per_message;
        run(msg, lengths[i], opts, has ? &profile : NULL, slots, max_faults_per_message,
            &results[i]);
        with_faults += results[i].fault_count != 0;
        at = start + lengths[i];
    }
    if (faulty != NULL) {
        *faulty = with_faults;
    }
    return CARELOG_OK;
}
