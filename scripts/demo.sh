#!/usr/bin/env bash
# The main job on a fresh machine: install what is missing, start a private Cyrus IMAP 3.6.1
# lab on loopback with three real tmpfs partitions, onboard the sample users and print
# where each mailbox went. Run as root (mounts). Stop the lab: scripts/demo.sh stop
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"
STATE_DIR="$REPO_ROOT/lab/state"
if [ "${1:-}" = "stop" ]; then
  exec python lab/cyrus_lab.py stop --state-dir "$STATE_DIR"
fi
if python lab/cyrus_lab.py status --state-dir "$STATE_DIR" > /dev/null 2>&1; then
  echo "== the lab from $STATE_DIR is running: onboarding onto it again (nothing should change)"
else
  python lab/cyrus_lab.py start --state-dir "$STATE_DIR"
fi
ansible-playbook -i "$STATE_DIR/inventory.yml" playbooks/onboard.yml "$@"
echo
echo "The lab keeps running: inventory $STATE_DIR/inventory.yml; stop it with: bash scripts/demo.sh stop"
