#!/usr/bin/env bash
# Every test: unit tests, and integration tests against real Cyrus 3.6.1 servers that the
# tests start on loopback (Cyrus is installed from Debian packages when missing). Run as root.
# Arguments go to pytest; without a test path, all of tests/ runs:
#   bash scripts/test.sh                 # everything
#   bash scripts/test.sh tests/unit -q   # only the unit tests
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"
python lab/cyrus_lab.py install
paths=()
for argument in "$@"; do
  case "$argument" in
    -*) ;;
    *) [ -e "${argument%%::*}" ] && paths+=("$argument") ;;
  esac
done
if [ ${#paths[@]} -eq 0 ]; then
  set -- tests "$@"
fi
exec python -m pytest -p no:cacheprovider "$@"
