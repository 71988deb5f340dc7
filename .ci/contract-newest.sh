#!/usr/bin/env bash
# The eventsourcing contract test (tests/contract) against the newest eventsourcing
# release on PyPI, installed apart in var/es-newest and put first on the path; the
# pinned version stays in .venv. An upgrade that changes what carelog's fast paths
# rely on shows here the day it is released. This never fails the build by itself
# (carelog runs on its pin), but prints exactly what broke.
#
# Run by `make test` (with the services up, so PostgreSQL is compared too) and by
# `make contract-newest` (SQLite only unless CARELOG_TEST_POSTGRES_DSN is set).
# ES_SPEC picks another release to try, e.g. ES_SPEC='eventsourcing==9.4.6'.
set -u
cd "$(dirname "$0")/.."
BIN=.venv/bin
TARGET=var/es-newest
LOG=var/contract-newest.log
mkdir -p var
rm -rf "$TARGET"
if ! "$BIN/python" -m pip install --quiet --disable-pip-version-check --upgrade --no-deps \
    --target "$TARGET" "${ES_SPEC:-eventsourcing}" >"$LOG" 2>&1; then
  echo "contract-newest: could not install the newest eventsourcing (offline?); not checked:"
  tail -n 5 "$LOG"
  exit 0
fi
pinned=$("$BIN/python" -c 'import importlib.metadata as m; print(m.version("eventsourcing"))')
newest=$(PYTHONPATH="$TARGET" "$BIN/python" -c \
  'import importlib.metadata as m; print(m.version("eventsourcing"))')
where=$(PYTHONPATH="$TARGET" "$BIN/python" -c 'import eventsourcing; print(eventsourcing.__file__)')
echo "contract-newest: eventsourcing $newest (pinned $pinned), imported from $where"
marks=()
if [ -z "${CARELOG_TEST_POSTGRES_DSN:-}" ]; then
  marks=(-m "not postgres")
  echo "contract-newest: CARELOG_TEST_POSTGRES_DSN not set, SQLite only"
fi
if PYTHONPATH="$TARGET" "$BIN/python" -m pytest -q -p no:cacheprovider --tb=short -rfE \
    "${marks[@]}" tests/contract >"$LOG" 2>&1; then
  echo "contract-newest: eventsourcing $newest passes the contract test ($(tail -n 1 "$LOG"))"
else
  echo "contract-newest: eventsourcing $newest BREAKS the contract test; what broke:"
  sed -n '/short test summary info/,$p' "$LOG"
  echo "contract-newest: the first failure in full (whole log in $LOG):"
  sed -n '/^_\{3,\}/,/^_\{3,\}/p' "$LOG" | head -n 60
fi
exit 0
