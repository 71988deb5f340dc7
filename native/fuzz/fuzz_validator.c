/*
 * libFuzzer harness for the C validator (native/fuzz.sh; make fuzz, part of
 * make test). Built with -fsanitize=fuzzer,address,undefined, so a crash, a
 * read outside the input, undefined behaviour or a leak ends the run.
 *
 * Input: byte 0 picks the options (bit 0 strict, bit 1 no profile, bit 2
 * small size limits, bits 3-4 the fault allowance); the rest is the message.
 * Each input is validated twice (same answer) and in a batch of two copies
 * (each equal to the single call). The compiled profiles come from the file
 * named by CARELOG_FUZZ_PROFILE, read once at start-up (a harness global; the
 * library itself has none).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "carelog_validator.h"

static unsigned char *profile;
static size_t profile_len;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *path = getenv("CARELOG_FUZZ_PROFILE");
    FILE *f;
    long n;
    (void)argc;
    (void)argv;
    if (path == NULL || (f = fopen(path, "rb")) == NULL) {
        fprintf(stderr, "fuzz_validator: set CARELOG_FUZZ_PROFILE to the compiled profiles\n");
        abort();
    }
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) <= 0 || fseek(f, 0, SEEK_SET) != 0 ||
        (profile = malloc((size_t)n)) == NULL || fread(profile, 1, (size_t)n, f) != (size_t)n) {
        abort();
    }
    fclose(f);
    profile_len = (size_t)n;
    if (carelog_profile_check(profile, profile_len) != CARELOG_OK) {
        fprintf(stderr, "fuzz_validator: the profile blob does not pass carelog_profile_check\n");
        abort();
    }
    return 0;
}

static void same(const carelog_fault *a, const carelog_result *ra, const carelog_fault *b,
                 const carelog_result *rb)
{
    size_t i;
    if (ra->fault_count != rb->fault_count || ra->faults_written != rb->faults_written) {
        __builtin_trap();
    }
    for (i = 0; i < ra->faults_written; i++) {
        if (a[i].rule != b[i].rule || a[i].offset != b[i].offset ||
            a[i].segment_index != b[i].segment_index || a[i].field != b[i].field ||
            a[i].repetition != b[i].repetition || a[i].component != b[i].component) {
            __builtin_trap();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t ALLOWANCE[4] = {1, 4, 32, 512};
    carelog_options opts;
    carelog_fault *f1, *f2, *fb;
    carelog_result r1, r2, rb[2];
    size_t max, offsets[2], lengths[2], i, faulty;
    const char *msg;
    char *pair;
    if (size == 0) {
        return 0;
    }
    memset(&opts, 0, sizeof opts);
    opts.strict = data[0] & 1;
    if (!(data[0] & 2)) {
        opts.profile = profile;
        opts.profile_len = profile_len;
    }
    if (data[0] & 4) {
        opts.max_field_len = 16;
        opts.max_segment_len = 64;
        opts.max_message_len = 512;
    }
    max = ALLOWANCE[(data[0] >> 3) & 3];
    msg = (const char *)data + 1;
    size -= 1;
    f1 = malloc(max * sizeof *f1);
    f2 = malloc(max * sizeof *f2);
    fb = malloc(2 * max * sizeof *fb);
    pair = malloc(2 * size + 1);
    if (f1 == NULL || f2 == NULL || fb == NULL || pair == NULL) {
        abort();
    }
    if (carelog_validate_message(msg, size, &opts, f1, max, &r1) != CARELOG_OK ||
        carelog_validate_message(msg, size, &opts, f2, max, &r2) != CARELOG_OK) {
        __builtin_trap();
    }
    same(f1, &r1, f2, &r2);
    for (i = 0; i < r1.faults_written; i++) {
        if (f1[i].offset > size || f1[i].rule <= 0 || f1[i].rule >= CARELOG_RULE_COUNT) {
            __builtin_trap();
        }
    }
    memcpy(pair, msg, size);
    memcpy(pair + size, msg, size);
    offsets[0] = 0;
    offsets[1] = size;
    lengths[0] = lengths[1] = size;
    if (carelog_validate_batch(pair, 2 * size, offsets, lengths, 2, &opts, fb, max, rb,
                               &faulty) != CARELOG_OK) {
        __builtin_trap();
    }
    same(f1, &r1, fb, &rb[0]);
    same(f1, &r1, fb + max, &rb[1]);
    if (faulty != (r1.fault_count ? 2u : 0u)) {
        __builtin_trap();
    }
    free(f1);
    free(f2);
    free(fb);
    free(pair);
    return 0;
}
