/*
 * C-level tests of the validator, built and run by native/sanitize.sh under
 * AddressSanitizer and UBSan (make sanitize, part of make test).
 *
 *   test_validator PROFILE_BLOB FILE...
 *
 * Each FILE is copied into a heap buffer of exactly its size, so that any
 * read past the length the validator is given is an ASan report, and is
 * validated in every option combination: single calls twice (same answer),
 * in a batch beside its neighbours (same answer as alone). Fixed cases check
 * argument errors, the batch range check and the profile check. Exit 0 when
 * all pass; any failure prints FAIL lines and exits 1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "carelog_validator.h"

#define MAX_FAULTS 256

static int failures = 0;

#define CHECK(cond)                                                                        \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);                \
            failures++;                                                                    \
        }                                                                                  \
    } while (0)

static unsigned char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf;
    long size;
    if (f == NULL) {
        return NULL;
    }
    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return NULL;
    }
    buf = malloc(size > 0 ? (size_t)size : 1);
    if (buf != NULL && fread(buf, 1, (size_t)size, f) != (size_t)size) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = (size_t)size;
    return buf;
}

static int same_answer(const carelog_fault *a, const carelog_result *ra, const carelog_fault *b,
                       const carelog_result *rb)
{
    size_t i;
    if (ra->fault_count != rb->fault_count || ra->faults_written != rb->faults_written ||
        ra->error_count != rb->error_count || ra->fatal != rb->fatal) {
        return 0;
    }
    for (i = 0; i < ra->faults_written; i++) {
        if (a[i].rule != b[i].rule || a[i].offset != b[i].offset || a[i].field != b[i].field ||
            a[i].segment_index != b[i].segment_index || a[i].severity != b[i].severity ||
            memcmp(a[i].segment_id, b[i].segment_id, 4) != 0) {
            return 0;
        }
    }
    return 1;
}

static void validate_file(const unsigned char *msg, size_t len, const carelog_options *opts)
{
    static carelog_fault f1[MAX_FAULTS], f2[MAX_FAULTS], fb[3 * MAX_FAULTS];
    carelog_result r1, r2, rb[3];
    size_t offsets[3], lengths[3], faulty = 0;
    unsigned char *joined = malloc(3 * len + 1);
    size_t i;

    CHECK(carelog_validate_message((const char *)msg, len, opts, f1, MAX_FAULTS, &r1) ==
          CARELOG_OK);
    CHECK(carelog_validate_message((const char *)msg, len, opts, f2, MAX_FAULTS, &r2) ==
          CARELOG_OK);
    CHECK(same_answer(f1, &r1, f2, &r2));
    CHECK(r1.faults_written <= MAX_FAULTS && r1.faults_written <= r1.fault_count);
    for (i = 0; i < r1.faults_written; i++) {
        CHECK(f1[i].offset <= len);
        CHECK(f1[i].severity == 'E' || f1[i].severity == 'W' || f1[i].severity == 'I');
        CHECK(f1[i].rule > CARELOG_RULE_NONE && f1[i].rule < CARELOG_RULE_COUNT);
        CHECK(f1[i].code == carelog_rule_code(f1[i].rule));
    }
    if (joined == NULL) {
        failures++;
        return;
    }
    /* The message between two copies of itself shifted by one byte: a batch. */
    for (i = 0; i < 3; i++) {
        offsets[i] = i * len;
        lengths[i] = len;
        memcpy(joined + i * len, msg, len);
    }
    CHECK(carelog_validate_batch((const char *)joined, 3 * len, offsets, lengths, 3, opts, fb,
                                 MAX_FAULTS, rb, &faulty) == CARELOG_OK);
    for (i = 0; i < 3; i++) {
        CHECK(same_answer(f1, &r1, fb + i * MAX_FAULTS, &rb[i]));
    }
    CHECK(faulty == (r1.fault_count ? 3u : 0u));
    /* Without offsets the same messages are read back to back: same answers. */
    CHECK(carelog_validate_batch((const char *)joined, 3 * len, NULL, lengths, 3, opts, fb,
                                 MAX_FAULTS, rb, &faulty) == CARELOG_OK);
    for (i = 0; i < 3; i++) {
        CHECK(same_answer(f1, &r1, fb + i * MAX_FAULTS, &rb[i]));
    }
    CHECK(faulty == (r1.fault_count ? 3u : 0u));
    /* ... and lengths adding up past the buffer are refused before any is read. */
    CHECK(len == 0 || carelog_validate_batch((const char *)joined, 3 * len - 1, NULL, lengths,
                                             3, opts, fb, MAX_FAULTS, rb, &faulty) ==
                          CARELOG_E_RANGE);
    free(joined);
}

static size_t count_rule(const char *text, const carelog_options *opts, int rule)
{
    carelog_fault faults[MAX_FAULTS];
    carelog_result r;
    size_t i, n = 0;
    CHECK(carelog_validate_message(text, strlen(text), opts, faults, MAX_FAULTS, &r) ==
          CARELOG_OK);
    for (i = 0; i < r.faults_written; i++) {
        n += faults[i].rule == rule;
    }
    return n + (rule == CARELOG_RULE_NONE && r.fault_count == 0);
}

static void fixed_cases(const unsigned char *blob, size_t blob_len)
{
    static const char A01[] =
        "MSH|^~\\&|LAB|HOSP|CARELOG|HOSP|20240101120000||ADT^A01^ADT_A01|M1|P|2.5.1\r"
        "EVN|A01|20240101120000\rPID|1||123^^^HOSP^MR||DOE^JANE||19800101|F\r"
        "PV1|1|I|WARD1\r";
    static const char NO_PV1[] =
        "MSH|^~\\&|LAB|HOSP|CARELOG|HOSP|20240101120000||ADT^A01^ADT_A01|M1|P|2.5.1\r"
        "EVN|A01|20240101120000\rPID|1||123^^^HOSP^MR||DOE^JANE||19800101|F\r";
    carelog_options opts;
    carelog_fault faults[4];
    carelog_result r;
    size_t offsets[1] = {5}, lengths[1] = {10};
    unsigned char *damaged = malloc(blob_len);

    memset(&opts, 0, sizeof opts);
    opts.profile = blob;
    opts.profile_len = blob_len;
    CHECK(carelog_profile_check(blob, blob_len) == CARELOG_OK);
    CHECK(count_rule(A01, &opts, CARELOG_RULE_NONE) == 1);
    CHECK(count_rule(NO_PV1, &opts, CARELOG_RULE_SEGMENT_MISSING) == 1);
    CHECK(count_rule(NO_PV1, NULL, CARELOG_RULE_NONE) == 1);

    CHECK(carelog_validate_message(NULL, 3, NULL, faults, 4, &r) == CARELOG_E_ARGS);
    CHECK(carelog_validate_message(A01, 3, NULL, faults, 4, NULL) == CARELOG_E_ARGS);
    CHECK(carelog_validate_batch(A01, 8, offsets, lengths, 1, NULL, faults, 4, &r, NULL) ==
          CARELOG_E_RANGE);
    opts.strict = 3;
    CHECK(carelog_validate_message(A01, 3, &opts, faults, 4, &r) == CARELOG_E_OPTIONS);
    opts.strict = 0;
    opts.profile_len = blob_len - 1;
    CHECK(carelog_validate_message(A01, 3, &opts, faults, 4, &r) == CARELOG_E_PROFILE);
    CHECK(carelog_profile_check(blob, blob_len - 1) == CARELOG_E_PROFILE);
    CHECK(carelog_profile_check(NULL, 0) == CARELOG_E_PROFILE);
    if (damaged != NULL) {
        /* Every single-byte change to the header's counts is refused, never read past. */
        size_t i;
        for (i = 4; i < 24; i++) {
            memcpy(damaged, blob, blob_len);
            damaged[i] ^= 0x5A;
            CHECK(carelog_profile_check(damaged, blob_len) == CARELOG_E_PROFILE);
        }
        /* Any byte of the body changed: refused or accepted, but always safe to check. */
        for (i = 32; i < blob_len; i++) {
            memcpy(damaged, blob, blob_len);
            damaged[i] = 0xFF;
            (void)carelog_profile_check(damaged, blob_len);
        }
        free(damaged);
    }
    CHECK(strcmp(carelog_strerror(CARELOG_E_PROFILE), "unknown error") != 0);
    CHECK(strcmp(carelog_rule_name(CARELOG_RULE_FIELD_NOT_DEFINED), "FIELD_NOT_DEFINED") == 0);
}

int main(int argc, char **argv)
{
    unsigned char *blob;
    size_t blob_len = 0;
    int i, files = 0;
    if (argc < 2 || (blob = read_file(argv[1], &blob_len)) == NULL) {
        fprintf(stderr, "usage: %s PROFILE_BLOB FILE...\n", argv[0]);
        return 2;
    }
    fixed_cases(blob, blob_len);
    for (i = 2; i < argc; i++) {
        size_t len = 0;
        unsigned char *msg = read_file(argv[i], &len);
        int variant;
        if (msg == NULL) {
            fprintf(stderr, "FAIL cannot read %s\n", argv[i]);
            failures++;
            continue;
        }
        for (variant = 0; variant < 8; variant++) {
            carelog_options opts;
            memset(&opts, 0, sizeof opts);
            opts.strict = variant & 1;
            if (!(variant & 2)) {
                opts.profile = blob;
                opts.profile_len = blob_len;
            }
            if (variant & 4) {
                opts.max_field_len = 8;
                opts.max_segment_len = 40;
                opts.max_message_len = 300;
            }
            validate_file(msg, len, &opts);
        }
        free(msg);
        files++;
    }
    free(blob);
    printf("test_validator: %d files x 8 option sets, %d failure(s)\n", files, failures);
    return failures ? 1 : 0;
}
