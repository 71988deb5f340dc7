/*
 * Internal declarations shared by the validator's translation units. Not part
 * of the public interface and never read as cffi cdef.
 *
 * Every symbol here keeps the carelog_ prefix (carelog_i_...) so that nothing
 * clashes when the objects are linked into a bigger program, and is hidden
 * from the shared object's dynamic symbol table where the compiler allows it.
 */
#ifndef CARELOG_INTERNAL_H
#define CARELOG_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "carelog_validator.h"

#if defined(__GNUC__)
#define CARELOG_INTERNAL __attribute__((visibility("hidden")))
#else
#define CARELOG_INTERNAL
#endif

/* The fixed part of a rule: how it is reported unless the caller overrides. */
typedef struct carelog_i_rule_info {
    const char *name;
    const char *text;
    int code;
    char severity;
} carelog_i_rule_info;

/* The entry for rule, or NULL when rule is not a known id. */
CARELOG_INTERNAL const carelog_i_rule_info *carelog_i_rule(int rule);

/*
 * 1 if s[0..n) is a well-formed HL7 DTM with real calendar values:
 * YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ]; 0 otherwise.
 */
CARELOG_INTERNAL int carelog_i_dtm_valid(const unsigned char *s, size_t n);

/*
 * 1 if body[0..n), the text between an opening and a closing escape
 * character, is a known escape sequence. has_truncation enables \P\ (v2.7+).
 */
CARELOG_INTERNAL int carelog_i_escape_valid(const unsigned char *body, size_t n,
                                            int has_truncation);

/* Siblings of the DTM check (datetime.c): DT, TM, NM and SI grammars. */
CARELOG_INTERNAL int carelog_i_dt_valid(const unsigned char *s, size_t n);
CARELOG_INTERNAL int carelog_i_tm_valid(const unsigned char *s, size_t n);
CARELOG_INTERNAL int carelog_i_nm_valid(const unsigned char *s, size_t n);
CARELOG_INTERNAL int carelog_i_si_valid(const unsigned char *s, size_t n);

/*
 * The compiled profile blob (native/profiles.py writes it; schemas/README.md
 * describes it). Little-endian, fixed-size records, sections in this order
 * right after a 32-byte header:
 *
 *   header  "CLPF", u16 format, u16 n_msgs, n_nodes, n_ids, n_segdefs,
 *           n_rules, n_tables, n_values, u32 total length, 8 bytes zero
 *   msgs    type[3] trigger[3] u16 since until root_first root_count
 *           alpha_first alpha_count                                (18 bytes)
 *   nodes   id[3] u8 flags(1 = group, 2 = a segment the domain reads) min max(0 = unbounded)
 *           u16 first_child child_count lead_first lead_count      (14 bytes)
 *   ids     id[3]: group leads and message alphabets                (3 bytes)
 *   segdefs id[3] pad u16 since until max_fields rule_first rule_count (14)
 *   rules   u16 field, u8 component flags(1 = required) type ref,
 *           u16 table(0xFFFF none) max_len                         (10 bytes)
 *   tables  u16 number value_first value_count                      (6 bytes)
 *   values  u8 len, char[7]                                         (8 bytes)
 */
#define CARELOG_I_PROFILE_FORMAT 2
#define CARELOG_I_NODE_GROUP 1
#define CARELOG_I_NODE_DOMAIN 2
#define CARELOG_I_HEADER_LEN 32
#define CARELOG_I_MSG_LEN 18
#define CARELOG_I_NODE_LEN 14
#define CARELOG_I_ID_LEN 3
#define CARELOG_I_SEGDEF_LEN 14
#define CARELOG_I_RULE_LEN 10
#define CARELOG_I_TABLE_LEN 6
#define CARELOG_I_VALUE_LEN 8
#define CARELOG_I_MAX_DEPTH 8
#define CARELOG_I_NO_TABLE 0xFFFFu
/* Fields of every segment kept for the rules (a rule's field is below this). */
#define CARELOG_I_CAPTURED 64
/* Segments whose bounds the walk keeps for the structure check; past this
 * many, the structure check finds the rest by scanning again. */
#define CARELOG_I_KEPT_SEGMENTS 128

enum carelog_i_type {
    CARELOG_T_NONE = 0,
    CARELOG_T_DT = 1,
    CARELOG_T_DTM = 2,
    CARELOG_T_TM = 3,
    CARELOG_T_NM = 4,
    CARELOG_T_SI = 5,
    CARELOG_T_ID = 6,
    CARELOG_T_IS = 7,
    CARELOG_T_VARIES = 8,
    /* Composite types: their numeric parts are checked as NM (profile.c). */
    CARELOG_T_CP = 9,
    CARELOG_T_MO = 10,
    CARELOG_T_CQ = 11,
    CARELOG_T_SN = 12,
    CARELOG_T_COUNT = 13
};

typedef struct carelog_i_profile {
    const unsigned char *msgs, *nodes, *ids, *segdefs, *rules, *tables, *values;
    unsigned n_msgs, n_nodes, n_ids, n_segdefs, n_rules, n_tables, n_values;
} carelog_i_profile;

static inline unsigned carelog_i_u16(const unsigned char *p)
{
    return (unsigned)p[0] | ((unsigned)p[1] << 8);
}

/* Read the header and locate the sections; 1 if the header and size are right. */
CARELOG_INTERNAL int carelog_i_profile_open(const unsigned char *blob, size_t len,
                                            carelog_i_profile *out);

/* What a byte is to the walk, read from the message's own MSH-1 and MSH-2. */
enum carelog_i_byte_kind {
    K_DATA = 0,
    K_FIELD,
    K_COMPONENT,
    K_REPETITION,
    K_ESCAPE,
    K_SUBCOMPONENT,
    K_CONTROL
};

typedef struct carelog_i_span {
    size_t start;
    size_t end;
    int present;
} carelog_i_span;

typedef struct carelog_i_where {
    uint32_t field;
    uint32_t repetition;
    uint32_t component;
    uint32_t subcomponent;
} carelog_i_where;

/* One validation: all of it on the caller's stack, nothing global. */
typedef struct carelog_i_walk {
    const unsigned char *buf;
    size_t len;
    carelog_fault *faults;
    size_t max_faults;
    carelog_result *out;
    size_t max_segment_len;
    size_t max_field_len;
    int strict;
    unsigned char fs;
    unsigned char cs;   /* component separator */
    unsigned char rs;   /* repetition separator */
    unsigned char es;   /* escape character */
    int has_truncation;
    uint32_t seg_index;
    char seg_id[4];
    int has_profile;
    carelog_i_profile profile;
    unsigned version;   /* MSH-12 as 230, 231, ... 282; 0 unknown */
    int msg;            /* index of the message profile in force, -1 none */
    uint32_t kept;      /* segments recorded in seg_start/seg_end (non-blank, in order) */
    size_t seg_start[CARELOG_I_KEPT_SEGMENTS];
    size_t seg_end[CARELOG_I_KEPT_SEGMENTS];
    unsigned char kind[256];
    unsigned char stop[256]; /* kind without the component, repetition, subcomponent marks */
} carelog_i_walk;

/* 1 if the 3 bytes at a and b are equal (ids are compared often: no memcmp call). */
static inline int carelog_i_same_id(const unsigned char *a, const unsigned char *b)
{
    return a[0] == b[0] && a[1] == b[1] && a[2] == b[2];
}

/* Record one fault at the current segment (severity: 0 = the rule's own). */
CARELOG_INTERNAL void carelog_i_emit(carelog_i_walk *w, int rule, char severity, int fatal,
                                     const carelog_i_where *at, size_t offset, size_t detail);

/* Name the current segment: its 1-based index and up to 3 bytes of its id. */
CARELOG_INTERNAL void carelog_i_enter_segment(carelog_i_walk *w, uint32_t index, size_t start,
                                              size_t id_len);

CARELOG_INTERNAL int carelog_i_segment_id_ok(const unsigned char *s, size_t n);

/* The field rules of one segment (profile.c), run once its fields are walked. */
CARELOG_INTERNAL void carelog_i_apply_rules(carelog_i_walk *w, const unsigned char *id,
                                            const carelog_i_span *fields, uint32_t captured,
                                            uint32_t last_field, uint32_t last_filled,
                                            size_t last_filled_at, size_t seg_end);

/* The message profile for MSH-9.1/9.2 at w->version: its index, -1 unknown
 * trigger, -2 unknown type. */
CARELOG_INTERNAL int carelog_i_find_message(const carelog_i_walk *w, const unsigned char *type,
                                            size_t type_len, const unsigned char *trigger,
                                            size_t trigger_len);

/* Segment order and cardinality against w->msg's structure (structure.c). */
CARELOG_INTERNAL void carelog_i_check_structure(carelog_i_walk *w);

#endif /* CARELOG_INTERNAL_H */
