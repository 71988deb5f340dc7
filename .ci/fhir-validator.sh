#!/usr/bin/env bash
# The offline FHIR R4 reference validator (HAPI FhirInstanceValidator) the suite
# runs over every FHIR response it received (tests/fhir_validation.py).
#
#   bash .ci/fhir-validator.sh build         fetch the jars and compile, once (idempotent);
#                                            prints the java classpath on stdout
#   bash .ci/fhir-validator.sh run PATH...   validate .json files / directories: one JSON
#                                            line per file on stdout (see src/FhirValidate.java)
#
# Jars: fetched once with Maven from Maven Central into
#   ${XDG_CACHE_HOME:-~/.cache}/carelog/fhir-validator-<version>/libs (as the Kafka jars:
#   shared by checkouts, keyed by the pom's hash). The compiled class goes to
#   var/fhir-validator/classes, keyed by the pom's and the source's hash.
# Needs java and javac 17+ and mvn (Debian: default-jdk-headless maven; installed when
# missing and running as root, as .ci/services.sh installs PostgreSQL).
# Knobs: CARELOG_HAPI_VERSION (default below).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
HERE=$ROOT/.ci/fhir-validator
HAPI_VERSION=${CARELOG_HAPI_VERSION:-8.8.1}
CACHE_DIR=${XDG_CACHE_HOME:-${HOME:?HOME is not set}/.cache}/carelog
LIBS_HOME=$CACHE_DIR/fhir-validator-$HAPI_VERSION
CLASSES=$ROOT/var/fhir-validator/classes

say() { printf 'fhir-validator: %s\n' "$*" >&2; }
die() {
  printf 'fhir-validator: ERROR: %s\n' "$*" >&2
  exit 1
}

tools() {
  local missing=()
  command -v java >/dev/null || missing+=(default-jdk-headless)
  command -v javac >/dev/null || missing+=(default-jdk-headless)
  command -v mvn >/dev/null || missing+=(maven)
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" -eq 0 ] || die "missing ${missing[*]}: install them (Debian: apt-get install ${missing[*]})"
  say "installing ${missing[*]} from Debian"
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    "${missing[@]}" >/dev/null || die "apt-get could not install ${missing[*]}"
}

# The runtime jars, once per version and pom change (several checkouts share the cache).
fetch() {
  local pom=$HERE/pom.xml stamp want
  want=$(sha256sum "$pom" | cut -c1-64)
  stamp=$LIBS_HOME/.complete
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -d "$LIBS_HOME/libs" ]; then
    return 0
  fi
  mkdir -p "$LIBS_HOME"
  exec 8>"$LIBS_HOME/.lock"
  flock -w 900 8 || die "timed out waiting for another fetch into $LIBS_HOME"
  if ! { [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -d "$LIBS_HOME/libs" ]; }; then
    local tmp=$LIBS_HOME/libs.tmp.$$ log=$LIBS_HOME/mvn.log
    say "fetching HAPI FHIR $HAPI_VERSION validator jars from Maven Central into $LIBS_HOME (once per version)"
    rm -rf "$tmp"
    if ! (cd "$HERE" && mvn -B -q -Dstyle.color=never -f "$pom" \
      -Dhapi.version="$HAPI_VERSION" dependency:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$tmp") >"$log" 2>&1 </dev/null; then
      tail -n 40 "$log" >&2 || true
      rm -rf "$tmp"
      die "Maven could not fetch the HAPI FHIR $HAPI_VERSION jars (log: $log)"
    fi
    [ -f "$tmp/hapi-fhir-validation-$HAPI_VERSION.jar" ] ||
      die "Maven ran but hapi-fhir-validation-$HAPI_VERSION.jar is missing from $tmp"
    rm -rf "$LIBS_HOME/libs" "$HERE/target"
    mv "$tmp" "$LIBS_HOME/libs"
    echo "$want" >"$stamp"
    say "fetched $(find "$LIBS_HOME/libs" -name '*.jar' | wc -l) jars"
  fi
  exec 8>&-
}

compile() {
  local want stamp=$CLASSES/.complete
  want=$(cat "$HERE/pom.xml" "$HERE/src/FhirValidate.java" | sha256sum | cut -c1-64)-$HAPI_VERSION
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return 0
  fi
  rm -rf "$CLASSES"
  mkdir -p "$CLASSES"
  javac -nowarn -encoding UTF-8 -d "$CLASSES" -cp "$LIBS_HOME/libs/*" "$HERE/src/FhirValidate.java" ||
    die "javac could not compile $HERE/src/FhirValidate.java"
  echo "$want" >"$stamp"
}

classpath() { printf '%s\n' "$LIBS_HOME/libs/*:$CLASSES"; }

build() {
  tools
  fetch
  compile
}

case "${1:-}" in
build)
  build
  classpath
  ;;
run)
  shift
  [ $# -gt 0 ] || die "usage: $0 run PATH..."
  build
  exec java -Xss4m -Xmx1g -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true \
    -cp "$(classpath)" FhirValidate "$@"
  ;;
*)
  die "usage: $0 build | run PATH..."
  ;;
esac
