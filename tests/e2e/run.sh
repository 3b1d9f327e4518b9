#!/usr/bin/env bash
# ctest entry point for the Node end-to-end tests.
# Usage: tests/e2e/run.sh /path/to/hermesd
# Fails (never skips) when node or npm is missing: Node is required on every machine.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
[[ $# -eq 1 ]] || { echo "usage: $0 /path/to/hermesd" >&2; exit 2; }
export HERMESD="$1"
"$root/scripts/setup-node"
# Files named explicitly: Node 20 takes a directory, Node 22+ reads arguments as globs.
exec node --test "$here"/*.test.mjs
