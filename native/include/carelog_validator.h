/*
 * carelog native HL7 v2 validator: the public C interface.
 *
 * The part between CARELOG_CDEF_BEGIN and CARELOG_CDEF_END is read verbatim by
 * native/build_validator.py as the cffi cdef, so it must hold only plain C
 * declarations cffi can parse: no #include, no macros, no inline code.
 *
 * Contract shared by every entry point:
 *   - inputs are (pointer, length) pairs, never NUL-terminated; the validator
 *     never reads buf[len] or beyond;
 *   - the caller allocates every output buffer; nothing is malloc'ed;
 *   - there is no global mutable state, so any number of threads may call in
 *     at once (the Python wrapper releases the GIL around each call);
 *   - faults are not errors: a message with faults still returns CARELOG_OK.
 *     Error codes mean the call itself was wrong (bad arguments, bad options).
 *
 * ABI: carelog_validator_version() names the layout of these structs. Bump it
 * (and EXPECTED_VERSION in native/validator.py) whenever a struct, an enum
 * value or a signature changes. Rule ids are append-only: never renumber one,
 * since fault records may be stored by rule name and compared across releases.
 */
#ifndef CARELOG_VALIDATOR_H
#define CARELOG_VALIDATOR_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* CARELOG_CDEF_BEGIN */

/* Return codes of the entry points (see carelog_strerror). */
enum carelog_error {
    CARELOG_OK = 0,
    CARELOG_E_ARGS = 1,     /* a NULL pointer where a buffer was required */
    CARELOG_E_OPTIONS = 2,  /* an option is out of range */
    CARELOG_E_RANGE = 3,    /* a batch offset/length points outside the buffer */
    CARELOG_E_PROFILE = 4,  /* the profile blob is malformed (carelog_profile_check) */
    CARELOG_E_COUNT = 5     /* number of codes; not a code */
};

/* Rule ids, append-only. carelog_rule_name/carelog_rule_text describe each. */
enum carelog_rule {
    CARELOG_RULE_NONE = 0,
    CARELOG_RULE_EMPTY_MESSAGE = 1,
    CARELOG_RULE_MESSAGE_TOO_LONG = 2,
    CARELOG_RULE_MSH_NOT_FIRST = 3,
    CARELOG_RULE_BAD_FIELD_SEPARATOR = 4,
    CARELOG_RULE_BAD_ENCODING_CHARACTERS = 5,
    CARELOG_RULE_BLANK_LINE = 6,
    CARELOG_RULE_BAD_SEGMENT_ID = 7,
    CARELOG_RULE_CONTROL_CHARACTER = 8,
    CARELOG_RULE_BAD_ESCAPE = 9,
    CARELOG_RULE_SEGMENT_TOO_LONG = 10,
    CARELOG_RULE_FIELD_TOO_LONG = 11,
    CARELOG_RULE_REQUIRED_FIELD_MISSING = 12,
    CARELOG_RULE_BAD_DATETIME = 13,
    CARELOG_RULE_UNSUPPORTED_PROCESSING_ID = 14,
    CARELOG_RULE_UNSUPPORTED_VERSION = 15,
    CARELOG_RULE_FAULTS_TRUNCATED = 16,
    /* Profile rules (active when options carry a profile, see schemas/README.md). */
    CARELOG_RULE_UNSUPPORTED_MESSAGE_TYPE = 17,
    CARELOG_RULE_UNSUPPORTED_EVENT = 18,
    CARELOG_RULE_SEGMENT_MISSING = 19,
    CARELOG_RULE_SEGMENT_UNEXPECTED = 20,
    CARELOG_RULE_SEGMENT_UNKNOWN = 21,
    CARELOG_RULE_BAD_DATE = 22,
    CARELOG_RULE_BAD_TIME = 23,
    CARELOG_RULE_BAD_NUMBER = 24,
    CARELOG_RULE_BAD_SEQUENCE_ID = 25,
    CARELOG_RULE_TABLE_VALUE = 26,
    CARELOG_RULE_VALUE_TOO_LONG = 27,
    CARELOG_RULE_FIELD_NOT_DEFINED = 28,
    CARELOG_RULE_COUNT = 29  /* number of rule ids; not a rule */
};

/* Defaults used when an option is 0. */
enum carelog_defaults {
    CARELOG_DEFAULT_MAX_MESSAGE_LEN = 1048576, /* 1 MiB */
    /* A segment or field may be as long as the message: an ORU's OBX-5 may
     * carry an embedded document (ED, base64) of hundreds of KB. */
    CARELOG_DEFAULT_MAX_SEGMENT_LEN = 1048576, /* 1 MiB */
    CARELOG_DEFAULT_MAX_FIELD_LEN = 1048576    /* 1 MiB */
};

/*
 * Options; a NULL pointer means all defaults. A zero size means the default.
 *
 * profile/profile_len: a compiled message-profile blob (native/profiles.py
 * builds it from schemas/hl7v2); NULL means envelope rules only. The blob
 * must have passed carelog_profile_check once: the entry points re-check
 * only its header and size, never its indices, to stay cheap per call. The
 * C code only reads it, so one blob may serve any number of threads.
 *
 * strict: 0 tolerant, 1 strict. Strict also reports blank lines (W), turns
 * unknown segments (Z segments included), user-defined table values (IS) and
 * profile lengths into errors, and reports fields past the segment's
 * definition. Tolerant skips Z segments, warns on other unknown segments, on
 * IS table values and on lengths, and ignores extra fields.
 */
typedef struct carelog_options {
    size_t max_message_len;
    size_t max_segment_len;
    size_t max_field_len;
    int strict;
    const unsigned char *profile;
    size_t profile_len;
} carelog_options;

/*
 * One fault, located as an HL7 ERR-2 locates it. Positions are 1-based; 0
 * means "not applicable" (a whole-segment fault has field == 0). For MSH,
 * field 1 is the field separator itself and field 2 the encoding characters.
 */
typedef struct carelog_fault {
    int code;                /* HL7 table 0357 code: 100, 101, 102, 202, 203 ... */
    int rule;                /* enum carelog_rule */
    char severity;           /* 'E' error, 'W' warning, 'I' information */
    unsigned char fatal;     /* 1: the message cannot be parsed or answered (AR) */
    char segment_id[4];      /* NUL-terminated; unprintable bytes shown as '?' */
    uint32_t segment_index;  /* 1-based index among non-blank segments; 0 = none */
    uint32_t field;
    uint32_t repetition;
    uint32_t component;
    uint32_t subcomponent;
    size_t offset;           /* byte offset in the message where the fault was seen */
    size_t detail;           /* rule-specific number: a length, a byte value, ... */
} carelog_fault;

/* What one validation saw. */
typedef struct carelog_result {
    size_t fault_count;      /* every fault found, even those not written */
    size_t faults_written;   /* min(fault_count, max_faults) */
    size_t error_count;      /* faults with severity 'E' */
    size_t warning_count;    /* faults with severity 'W' */
    size_t message_length;   /* bytes examined (the len passed in) */
    uint32_t segment_count;  /* non-blank segments reached */
    int fatal;               /* 1 if any fault is fatal */
    int stopped;             /* 1 if validation stopped early (unparseable header, too long) */
} carelog_result;

/*
 * Validate one message of len bytes at buf (buf may be NULL only if len == 0).
 * Writes up to max_faults faults (faults may be NULL if max_faults == 0) and
 * fills *out. Returns CARELOG_OK or an error code.
 */
int carelog_validate_message(const char *buf, size_t len, const carelog_options *opts,
                             carelog_fault *faults, size_t max_faults,
                             carelog_result *out);

/*
 * Validate n messages held in one buffer: message i is buf[offsets[i]] ..
 * buf[offsets[i] + lengths[i]); with offsets NULL the messages lie back to
 * back (message i starts where message i - 1 ends, the first at buf), which
 * spares a caller building the offsets. Message i's faults go to
 * faults[i * max_faults_per_message ...] and its result to results[i]. Every
 * range is checked against buf_len before any validation starts
 * (CARELOG_E_RANGE if one is outside). *faulty (if not NULL) receives how
 * many messages had at least one fault, so that a caller can skip reading
 * the results of an all-valid batch.
 */
int carelog_validate_batch(const char *buf, size_t buf_len, const size_t *offsets,
                           const size_t *lengths, size_t n, const carelog_options *opts,
                           carelog_fault *faults, size_t max_faults_per_message,
                           carelog_result *results, size_t *faulty);

/*
 * Check a compiled profile blob completely: header, sizes, every index and
 * nesting depth. CARELOG_OK or CARELOG_E_PROFILE. Call once per blob.
 */
int carelog_profile_check(const unsigned char *profile, size_t len);

/* Static English text for an error code ("unknown error" if out of range). */
const char *carelog_strerror(int error);

/* Static symbolic name of a rule ("MSH_NOT_FIRST"); "UNKNOWN" if out of range. */
const char *carelog_rule_name(int rule);

/* Static short English text of a rule; "unknown rule" if out of range. */
const char *carelog_rule_text(int rule);

/* Static HL7 table 0357 code a rule reports with (-1 if out of range). */
int carelog_rule_code(int rule);

/* Static version string of the compiled library (the ABI the wrapper expects). */
const char *carelog_validator_version(void);

/* CARELOG_CDEF_END */

#ifdef __cplusplus
}
#endif

#endif /* CARELOG_VALIDATOR_H */
