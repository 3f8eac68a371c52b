#!/usr/bin/env bash
# Run the test suite in the prepared environment (scripts/setup.sh + scripts/env.sh).
# Fails on any failure; "no tests collected" (pytest exit 5) is a failure too.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
python -m pytest -q -p no:cacheprovider -p no:randomly test/ "$@"
rc=$?
if [ "$rc" = 5 ]; then echo "no tests were collected" >&2; exit 1; fi
exit "$rc"
