/*
 * The static tables: rule names, texts and codes, error texts, the version.
 * Everything here is const, so it is safe to share between threads.
 */
#include "internal.h"

/* The ABI version; native/validator.py refuses to load any other. */
#define CARELOG_VALIDATOR_VERSION "0.4.0"

/* Indexed by enum carelog_rule; keep in the enum's order (append-only). */
static const carelog_i_rule_info RULES[CARELOG_RULE_COUNT] = {
    {"NONE", "no fault", 0, 'I'},
    {"EMPTY_MESSAGE", "the message is empty", 100, 'E'},
    {"MESSAGE_TOO_LONG", "the message is longer than the configured limit", 102, 'E'},
    {"MSH_NOT_FIRST", "the message does not start with an MSH segment", 100, 'E'},
    {"BAD_FIELD_SEPARATOR",
     "MSH-1 must be one printable, non-alphanumeric field separator character", 102, 'E'},
    {"BAD_ENCODING_CHARACTERS",
     "MSH-2 must hold 4 or 5 distinct printable, non-alphanumeric encoding characters",
     102, 'E'},
    {"BLANK_LINE", "blank line between segments", 100, 'W'},
    {"BAD_SEGMENT_ID",
     "a segment id is an upper-case letter followed by two upper-case letters or digits",
     100, 'E'},
    {"CONTROL_CHARACTER", "control character in field data", 102, 'E'},
    {"BAD_ESCAPE", "unterminated or unknown escape sequence", 102, 'E'},
    {"SEGMENT_TOO_LONG", "the segment is longer than the configured limit", 102, 'E'},
    {"FIELD_TOO_LONG", "the field is longer than the configured limit", 102, 'E'},
    {"REQUIRED_FIELD_MISSING", "a required field or component is missing or empty", 101,
     'E'},
    {"BAD_DATETIME",
     "not a valid HL7 date/time YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ]", 102, 'E'},
    {"UNSUPPORTED_PROCESSING_ID", "the processing id (MSH-11.1) is not P, D or T", 202,
     'E'},
    {"UNSUPPORTED_VERSION", "the HL7 version (MSH-12.1) is not one of 2.3 to 2.8.2", 203,
     'E'},
    {"FAULTS_TRUNCATED", "more faults were found than are listed", 0, 'I'},
    {"UNSUPPORTED_MESSAGE_TYPE", "no message profile for this message type (MSH-9.1)", 200,
     'E'},
    {"UNSUPPORTED_EVENT",
     "no message profile for this trigger event (MSH-9.2) of the type in this version", 201,
     'E'},
    {"SEGMENT_MISSING", "a required segment is missing", 100, 'E'},
    {"SEGMENT_UNEXPECTED", "segment out of order or repeated more often than allowed", 100,
     'E'},
    {"SEGMENT_UNKNOWN", "segment not defined for this message structure", 100, 'W'},
    {"BAD_DATE", "not a valid HL7 date YYYY[MM[DD]]", 102, 'E'},
    {"BAD_TIME", "not a valid HL7 time HH[MM[SS[.S[S[S[S]]]]]][+/-ZZZZ]", 102, 'E'},
    {"BAD_NUMBER", "not an HL7 number (NM): optional sign, digits, optional decimal point",
     102, 'E'},
    {"BAD_SEQUENCE_ID", "not an HL7 sequence id (SI): a non-negative integer", 102, 'E'},
    {"TABLE_VALUE", "value not found in the HL7 table", 103, 'E'},
    {"VALUE_TOO_LONG", "the value is longer than the profile's maximum length", 102, 'W'},
    {"FIELD_NOT_DEFINED", "field beyond the last one the segment defines in this version",
     102, 'E'},
};

static const char *const ERRORS[CARELOG_E_COUNT] = {
    "success",
    "invalid argument: a required pointer is NULL or a size overflows",
    "invalid option value",
    "a message range lies outside the batch buffer",
    "the profile blob is malformed or was built for another validator",
};

const carelog_i_rule_info *carelog_i_rule(int rule)
{
    if (rule < 0 || rule >= CARELOG_RULE_COUNT) {
        return NULL;
    }
    return &RULES[rule];
}

const char *carelog_strerror(int error)
{
    if (error < 0 || error >= CARELOG_E_COUNT) {
        return "unknown error";
    }
    return ERRORS[error];
}

const char *carelog_rule_name(int rule)
{
    const carelog_i_rule_info *info = carelog_i_rule(rule);
    return info ? info->name : "UNKNOWN";
}

const char *carelog_rule_text(int rule)
{
    const carelog_i_rule_info *info = carelog_i_rule(rule);
    return info ? info->text : "unknown rule";
}

int carelog_rule_code(int rule)
{
    const carelog_i_rule_info *info = carelog_i_rule(rule);
    return info ? info->code : -1;
}

const char *carelog_validator_version(void)
{
    return CARELOG_VALIDATOR_VERSION;
}
