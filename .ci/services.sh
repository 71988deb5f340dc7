#!/usr/bin/env bash
# Placeholder until the service scripts land: writes an empty env file.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p var/services
case "${1:-}" in
  up) : > var/services/env ;;
  down) : ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
