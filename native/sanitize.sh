#!/usr/bin/env bash
# make sanitize: the C validator under AddressSanitizer and UBSan.
#   1. the C tests (native/tests/test_validator.c) linked with the library,
#      run on every validator vector and fuzz seed in every option set
#      (leak detection on);
#   2. the cffi extension rebuilt with the same sanitizers and the Python
#      native tests (tests/integration/native) run against it.
# Any sanitizer report aborts the run with a non-zero exit (halt on error).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
CC=${CC:-cc}
OUT=var/sanitize
SAN=(-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g -O1)
rm -rf "$OUT"
mkdir -p "$OUT"
started=$(date +%s)

"$PY" -c 'import sys; from native.profiles import write_blob; write_blob(sys.argv[1])' "$OUT/profiles.blob"
"$CC" -std=c99 -Wall -Wextra -Werror "${SAN[@]}" -Inative/include native/src/*.c \
  native/tests/test_validator.c -o "$OUT/test_validator"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  "$OUT/test_validator" "$OUT/profiles.blob" tests/data/hl7/validator/*.hl7 \
  tests/data/hl7/fuzz-seeds/* tests/data/hl7/*.hl7

"$PY" native/build_validator.py --sanitize "$OUT" > /dev/null
# CPython itself is not instrumented: the ASan runtime must be loaded first,
# and its leak checker would report the interpreter's own allocations.
preload="$("$CC" -print-file-name=libasan.so) $("$CC" -print-file-name=libubsan.so)"
# PYTHONSAFEPATH keeps the checkout itself off the front of sys.path and
# --import-mode=append keeps pytest from putting it there, so `native`
# resolves to $OUT/pkg/native (whose .py files link back to native/).
export LD_PRELOAD="$preload" PYTHONSAFEPATH=1 PYTHONPATH="$PWD/$OUT/pkg${PYTHONPATH:+:$PYTHONPATH}"
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
used=$("$PY" -c 'import native._validator as m; print(m.__file__)')
case "$used" in
  "$PWD/$OUT/pkg/"*) ;;
  *) echo "sanitize: the tests would import $used, not the sanitized build" >&2; exit 1 ;;
esac
"$PY" -m pytest tests/integration/native -q -p no:cacheprovider --import-mode=append
echo "sanitize: C tests and Python native tests clean under ASan+UBSan in $(( $(date +%s) - started )) s"
