# Sourced by scripts/demo.sh and scripts/test.sh: a virtualenv with the tools, and the
# checkout visible to Ansible as the collection imapops.cyrus.
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${IMAPOPS_VENV:-$REPO_ROOT/.venv}"
PYTHON="${IMAPOPS_PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  echo "== creating virtualenv $VENV"
  "$PYTHON" -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c 'import ansible, pytest, hypothesis, psutil, molecule, ansiblelint, antsibull_changelog' 2>/dev/null; then
  echo "== installing Python packages (requirements-test.txt)"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$REPO_ROOT/requirements-test.txt"
fi
export PATH="$VENV/bin:$PATH"
COLLECTIONS_DIR="$REPO_ROOT/.ansible-collections"
mkdir -p "$COLLECTIONS_DIR/ansible_collections/imapops"
ln -sfn "$REPO_ROOT" "$COLLECTIONS_DIR/ansible_collections/imapops/cyrus"
export ANSIBLE_COLLECTIONS_PATH="$COLLECTIONS_DIR"
export ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false
export ANSIBLE_NOCOLOR="${ANSIBLE_NOCOLOR:-1}"
cd "$REPO_ROOT"
