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

#endif /* CARELOG_INTERNAL_H */
