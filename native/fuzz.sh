#!/usr/bin/env bash
# make fuzz: libFuzzer on the C validator with ASan+UBSan, for FUZZ_SECONDS
# (default 60). Installs clang and its fuzzer runtime from Debian when they are
# missing (root or password-less sudo), as .ci/services.sh installs PostgreSQL.
# The working corpus starts from tests/data/hl7/fuzz-seeds and the validator
# vectors (each seed under several option bytes, see fuzz/fuzz_validator.c);
# any crash, leak, sanitizer report or timeout fails the run, and leaves the
# input in var/fuzz/ as crash-*/leak-*/timeout-*.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
SECONDS_TO_RUN=${FUZZ_SECONDS:-60}
OUT=var/fuzz
CLANG=${CLANG:-clang}

have_libfuzzer() {
  command -v "$CLANG" >/dev/null 2>&1 || return 1
  printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n){(void)d;(void)n;return 0;}\n' \
    > "$OUT/probe.c"
  "$CLANG" -fsanitize=fuzzer,address,undefined "$OUT/probe.c" -o "$OUT/probe" >/dev/null 2>&1
}

install_clang() {
  local sudo=() log=$OUT/apt.log
  command -v apt-get >/dev/null || { echo "fuzz: clang with libFuzzer is missing and there is no apt-get" >&2; exit 1; }
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo=(sudo -n); else
      echo "fuzz: clang with libFuzzer is missing; installing it needs root: apt-get install clang libclang-rt-dev" >&2
      exit 1
    fi
  fi
  local apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=300)
  local pkgs=(clang)
  # Debian 12 ships libFuzzer and the sanitizer runtimes in libclang-rt-<N>-dev.
  local major
  major=$(apt-cache policy clang 2>/dev/null | sed -n 's/^ *Candidate: [0-9]*:\([0-9]*\).*/\1/p' | head -1)
  [ -n "$major" ] && pkgs+=("libclang-rt-$major-dev")
  echo "fuzz: installing ${pkgs[*]} from Debian (log: $log)" >&2
  "${apt[@]}" install -y --no-install-recommends "${pkgs[@]}" >"$log" 2>&1 ||
    { "${apt[@]}" update >>"$log" 2>&1 && "${apt[@]}" install -y --no-install-recommends "${pkgs[@]}" >>"$log" 2>&1; } ||
    { echo "fuzz: apt-get install failed, see $log" >&2; exit 1; }
}

rm -rf "$OUT"
mkdir -p "$OUT/corpus"
have_libfuzzer || { install_clang; have_libfuzzer || { echo "fuzz: clang cannot link libFuzzer" >&2; exit 1; }; }

"$PY" -c 'import sys; from native.profiles import write_blob; write_blob(sys.argv[1])' "$OUT/profiles.blob"
"$CLANG" -std=c99 -g -O1 -Wall -Wextra -Werror -fno-omit-frame-pointer \
  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
  -Inative/include native/src/*.c native/fuzz/fuzz_validator.c -o "$OUT/fuzz_validator"

# Seeds under four option bytes: 0x18 tolerant, 0x19 strict, 0x1a no profile, 0x1c small limits
# (0x18 = the 512-fault allowance, see the harness).
n=0
for seed in tests/data/hl7/fuzz-seeds/*.hl7 tests/data/hl7/validator/*.hl7; do
  for opt in 18 19 1a 1c; do
    { printf "\\x$opt"; cat "$seed"; } > "$OUT/corpus/seed-$n-$opt"
  done
  n=$((n + 1))
done

export CARELOG_FUZZ_PROFILE=$OUT/profiles.blob
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
set +e
"$OUT/fuzz_validator" "$OUT/corpus" -dict=native/fuzz/hl7.dict -max_total_time="$SECONDS_TO_RUN" \
  -max_len=8192 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$OUT/" \
  > "$OUT/fuzz.log" 2>&1
rc=$?
set -e
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$OUT/fuzz.log" | tail -1)
secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$OUT/fuzz.log" | tail -1)
cov=$(grep -o 'cov: [0-9]*' "$OUT/fuzz.log" | tail -1)
if [ "$rc" -ne 0 ]; then
  tail -60 "$OUT/fuzz.log" >&2
  echo "fuzz: FAILED (exit $rc) after ${runs:-?} executions; input saved under $OUT/" >&2
  exit 1
fi
echo "fuzz: ${runs:-?} executions in ${secs:-$SECONDS_TO_RUN} s, $cov, $n seeds x 4 option sets, no crash, leak or sanitizer report"
