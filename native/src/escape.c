/*
 * Which escape sequences HL7 v2 allows between two escape characters.
 *
 * The caller has already cut the body at the closing escape character and
 * made sure it holds no delimiter and no control byte, so this only checks
 * the body's grammar:
 *   F S T R E       the field, component, subcomponent, repetition, escape char
 *   P               the truncation char (only when MSH-2 declares one, v2.7+)
 *   H N             start / end highlighting
 *   Xhh...          hex data, an even number (>= 2) of hex digits
 *   Zxxx            locally defined, one or more printable non-space characters
 *   Cxxyy           single-byte character set switch, 4 hex digits
 *   Mxxyy[zz]       multi-byte character set switch, 4 or 6 hex digits
 *   .br .fi .nf .ce                 formatted text commands
 *   .sp[n] .sk[n]                   with an optional count (optionally after one space)
 *   .in[+-n] .ti[+-n]               with an optional signed count
 */
#include <string.h>

#include "internal.h"

static int is_hex(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f');
}

static int all_hex(const unsigned char *s, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        if (!is_hex(s[i])) {
            return 0;
        }
    }
    return 1;
}

/* The optional count after .sp/.sk (signed = 0) or .in/.ti (signed = 1). */
static int count_ok(const unsigned char *s, size_t n, int is_signed)
{
    size_t i = 0;
    if (n == 0) {
        return 1;
    }
    if (s[i] == ' ') {
        i++;
    }
    if (is_signed && i < n && (s[i] == '+' || s[i] == '-')) {
        i++;
    }
    if (i == n) {
        return 0;
    }
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return 0;
        }
    }
    return 1;
}

static int formatting_ok(const unsigned char *s, size_t n)
{
    const unsigned char *rest = s + 3;
    size_t rest_len;
    if (n < 3) {
        return 0;
    }
    rest_len = n - 3;
    if (memcmp(s, ".br", 3) == 0 || memcmp(s, ".fi", 3) == 0 || memcmp(s, ".nf", 3) == 0 ||
        memcmp(s, ".ce", 3) == 0) {
        return rest_len == 0;
    }
    if (memcmp(s, ".sp", 3) == 0 || memcmp(s, ".sk", 3) == 0) {
        return count_ok(rest, rest_len, 0);
    }
    if (memcmp(s, ".in", 3) == 0 || memcmp(s, ".ti", 3) == 0) {
        return count_ok(rest, rest_len, 1);
    }
    return 0;
}

int carelog_i_escape_valid(const unsigned char *body, size_t n, int has_truncation)
{
    size_t i;
    if (n == 0) {
        return 0;
    }
    switch (body[0]) {
    case 'F':
    case 'S':
    case 'T':
    case 'R':
    case 'E':
    case 'H':
    case 'N':
        return n == 1;
    case 'P':
        return n == 1 && has_truncation;
    case 'X':
        return n >= 3 && (n - 1) % 2 == 0 && all_hex(body + 1, n - 1);
    case 'C':
        return n == 5 && all_hex(body + 1, 4);
    case 'M':
        return (n == 5 || n == 7) && all_hex(body + 1, n - 1);
    case 'Z':
        if (n < 2) {
            return 0;
        }
        for (i = 1; i < n; i++) {
            if (body[i] < 0x21 || body[i] > 0x7E) {
                return 0;
            }
        }
        return 1;
    case '.':
        return formatting_ok(body, n);
    default:
        return 0;
    }
}
