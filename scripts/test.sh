#!/usr/bin/env bash
# Every test: unit tests, and integration tests against real Cyrus 3.6.1 servers that the
# tests start on loopback (Cyrus is installed from Debian packages when missing). Run as root.
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"
python lab/cyrus_lab.py install
exec python -m pytest tests -p no:cacheprovider "$@"
