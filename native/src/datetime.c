/*
 * HL7 DTM (and the first component of the older TS) syntax and calendar check.
 *
 *   YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ]
 *
 * Values must exist on the calendar: month 1-12, a day that the month has
 * (Gregorian leap years), hour < 24, minute < 60, second < 60 (no leap
 * second), time-zone hours <= 14 and minutes < 60. The fraction is allowed
 * only after the seconds. Its siblings check the other primitive types the
 * profiles name: DT (a date), TM (a time of day), NM (a number), SI (a
 * sequence id). tests/reference_validator.py holds the same grammars as
 * regular expressions.
 */
#include "internal.h"

static int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* The value of the two digits at s (the caller has checked they are digits). */
static int two(const unsigned char *s)
{
    return (s[0] - '0') * 10 + (s[1] - '0');
}

static int days_in_month(int year, int month)
{
    static const int DAYS[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (month == 2) {
        int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
        return leap ? 29 : 28;
    }
    return DAYS[month - 1];
}

/* YYYY[MM[DD]] at s, digits 4, 6 or 8 (the caller has checked they are digits). */
static int date_ok(const unsigned char *s, size_t digits)
{
    int month = 1;
    if (digits >= 6) {
        month = two(s + 4);
        if (month < 1 || month > 12) {
            return 0;
        }
    }
    if (digits >= 8) {
        int day = two(s + 6);
        if (day < 1 || day > days_in_month(two(s) * 100 + two(s + 2), month)) {
            return 0;
        }
    }
    return 1;
}

/* HH[MM[SS]] at s, digits 2, 4 or 6 (the caller has checked they are digits). */
static int time_ok(const unsigned char *s, size_t digits)
{
    return two(s) <= 23 && (digits < 4 || two(s + 2) <= 59) && (digits < 6 || two(s + 4) <= 59);
}

/* An offset +/-HHMM at s[0..n) (n == 5 checked by the caller). */
static int zone_ok(const unsigned char *s)
{
    return is_digit(s[1]) && is_digit(s[2]) && is_digit(s[3]) && is_digit(s[4]) &&
           two(s + 1) <= 14 && two(s + 3) <= 59;
}

/*
 * What may follow the digits of a DTM or TM, from s[i] to the end: a fraction
 * of 1 to 4 digits (only when the seconds were given), then an offset.
 */
static int tail_ok(const unsigned char *s, size_t n, size_t i, int has_seconds)
{
    if (i < n && s[i] == '.') {
        size_t k = 0;
        if (!has_seconds) {
            return 0;
        }
        i++;
        while (i + k < n && is_digit(s[i + k])) {
            k++;
        }
        if (k < 1 || k > 4) {
            return 0;
        }
        i += k;
    }
    if (i < n && (s[i] == '+' || s[i] == '-')) {
        if (n - i != 5 || !zone_ok(s + i)) {
            return 0;
        }
        i += 5;
    }
    return i == n;
}

static size_t leading_digits(const unsigned char *s, size_t n)
{
    size_t digits = 0;
    while (digits < n && is_digit(s[digits])) {
        digits++;
    }
    return digits;
}

int carelog_i_dtm_valid(const unsigned char *s, size_t n)
{
    size_t digits = leading_digits(s, n);
    if (digits < 4 || digits > 14 || digits % 2 != 0) {
        return 0;
    }
    if (!date_ok(s, digits < 8 ? digits : 8)) {
        return 0;
    }
    if (digits > 8 && !time_ok(s + 8, digits - 8)) {
        return 0;
    }
    return tail_ok(s, n, digits, digits == 14);
}

int carelog_i_dt_valid(const unsigned char *s, size_t n)
{
    if ((n != 4 && n != 6 && n != 8) || leading_digits(s, n) != n) {
        return 0;
    }
    return date_ok(s, n);
}

int carelog_i_tm_valid(const unsigned char *s, size_t n)
{
    size_t digits = leading_digits(s, n);
    if (digits != 2 && digits != 4 && digits != 6) {
        return 0;
    }
    if (!time_ok(s, digits)) {
        return 0;
    }
    return tail_ok(s, n, digits, digits == 6);
}

int carelog_i_nm_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    size_t digits = 0;
    int point = 0;
    if (i < n && (s[i] == '+' || s[i] == '-')) {
        i++;
    }
    for (; i < n; i++) {
        if (is_digit(s[i])) {
            digits++;
        } else if (s[i] == '.' && !point) {
            point = 1;
        } else {
            return 0;
        }
    }
    return digits > 0;
}

int carelog_i_si_valid(const unsigned char *s, size_t n)
{
    size_t i;
    if (n == 0) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        if (!is_digit(s[i])) {
            return 0;
        }
    }
    return 1;
}
