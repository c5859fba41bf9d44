#!/usr/bin/env bash
# Copyright: imapops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# ansible-test sanity and units for imapops.cyrus.
#
#   bash tests/ansible_test.sh            # sanity, then units
#   bash tests/ansible_test.sh sanity     # only sanity (extra arguments go to ansible-test)
#   bash tests/ansible_test.sh units -v
#
# ansible-test runs only from a real directory ending in ansible_collections/imapops/cyrus,
# so this script copies the checkout (the files git knows of, tracked or new but not
# ignored) into a temporary one and runs there. Every ansible-test environment is a
# virtualenv of its own (--venv), so nothing but the project's venv (.venv, made by
# scripts/_env.sh) is needed; ansible-test installs its pinned test tools from PyPI into
# ~/.ansible/test/venv the first time (about 1-2 minutes), later runs reuse them.
#
# ansible-test bootstraps pip in those virtualenvs with a script it downloads from a host
# that is not reachable here. It looks for a cached copy first
# (~/.ansible/test/cache/get_pip_<pip version>.py); this script puts a stand-in there that
# uses the interpreter's own ensurepip and then installs the requested pip from PyPI.
#
# Python interpreters of other versions (pyenv's, when present) are put on PATH so the
# sanity tests that run per Python version (compile, import) cover them as well; versions
# that are not installed are skipped by ansible-test.
#
# Environment: IMAPOPS_VENV (default .venv), ANSIBLE_TEST (default: the venv's),
# IMAPOPS_KEEP_ANSIBLE_TEST_DIR=1 keeps the temporary copy.
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${IMAPOPS_VENV:-$REPO_ROOT/.venv}"

if [ -z "${ANSIBLE_TEST:-}" ]; then
  if [ -x "$VENV/bin/ansible-test" ]; then
    ANSIBLE_TEST="$VENV/bin/ansible-test"
  else
    ANSIBLE_TEST="$(command -v ansible-test)" || { echo "ansible-test not found (install ansible-core)" >&2; exit 2; }
  fi
fi
PYTHON="$(dirname "$ANSIBLE_TEST")/python"
[ -x "$PYTHON" ] || PYTHON="$(command -v python3)"
PY_VERSION="$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"

WHAT="${1:-all}"
[ $# -gt 0 ] && shift
case "$WHAT" in
  all|sanity|units) ;;
  *) echo "usage: $0 [all|sanity|units] [ansible-test options]" >&2; exit 2 ;;
esac

WORK="$(mktemp -d /tmp/imapops-ansible-test.XXXXXX)"
cleanup() {
  if [ "${IMAPOPS_KEEP_ANSIBLE_TEST_DIR:-0}" = 1 ]; then
    echo "== kept $WORK"
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT
COLLECTION="$WORK/ansible_collections/imapops/cyrus"
mkdir -p "$COLLECTION"

# --- the copy: what git knows of (tracked, or new and not ignored), that still exists,
# without the development harness: lab/ (the private Cyrus servers), scripts/, .ci/,
# benchmarks/ and the project's own pytest suites under tests/ (tests/integration drives real
# servers; tests/unit/test_*.py are the engine's tests). None of it is collection content:
# Ansible never loads it, the built artifact leaves it out (galaxy.yml build_ignore), and
# scripts/test.sh runs it under pytest. ansible-test gets the layout it defines:
# tests/unit/plugins/ (module, module_utils and filter tests, run by ansible-test units and
# by the project's pytest alike), tests/unit/requirements.txt and tests/sanity/.
echo "== copying $REPO_ROOT to $COLLECTION"
if git -C "$REPO_ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  git -C "$REPO_ROOT" ls-files -z --cached --others --exclude-standard \
    | "$PYTHON" -c '
import os, sys
root = sys.argv[1]
HARNESS = (b"lab/", b"scripts/", b".ci/", b"benchmarks/")
KEEP_TESTS = (b"tests/unit/plugins/", b"tests/unit/requirements.txt", b"tests/sanity/")
names = [n for n in sys.stdin.buffer.read().split(b"\0") if n]
sys.stdout.buffer.write(b"".join(n + b"\0" for n in sorted(set(names))
                                 if os.path.isfile(os.path.join(root.encode(), n))
                                 and not n.startswith(HARNESS)
                                 and (not n.startswith(b"tests/") or n.startswith(KEEP_TESTS))))
' "$REPO_ROOT" \
    | tar -C "$REPO_ROOT" --null -T - -cf - | tar -C "$COLLECTION" -xf -
else
  tar -C "$REPO_ROOT" --exclude=.git --exclude='.venv*' --exclude=.ansible-collections \
    --exclude=./lab --exclude=./scripts --exclude=./.ci --exclude=./benchmarks \
    --exclude=./tests/integration --exclude=./tests/differential --exclude=./tests/shim \
    --exclude=./tests/fixtures --exclude='./tests/*.py' --exclude='./tests/unit/*.py' \
    --exclude=__pycache__ --exclude=.pytest_cache --exclude=.hypothesis --exclude=tests/output \
    --exclude=lab/state -cf - . | tar -C "$COLLECTION" -xf -
fi

# --- the pip bootstrap stand-in
PIP_VERSION="$("$PYTHON" - <<'PY'
import re, ansible_test, os
path = os.path.join(os.path.dirname(ansible_test.__file__), "_internal", "python_requirements.py")
print(re.search(r"pip='([0-9.]+)'", open(path).read()).group(1))
PY
)"
GET_PIP="$HOME/.ansible/test/cache/get_pip_${PIP_VERSION//./_}.py"
if [ ! -f "$GET_PIP" ]; then
  echo "== writing the pip bootstrap stand-in $GET_PIP"
  mkdir -p "$(dirname "$GET_PIP")"
  cat > "$GET_PIP.tmp" <<'PY'
# Stand-in for ansible-test's get-pip bootstrap script (written by imapops.cyrus
# tests/ansible_test.sh; the real one cannot be downloaded here): ensurepip, then pip
# install of the requested packages (pip==<version>) from the package index.
import subprocess
import sys

subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade", "--default-pip"])
arguments = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "pip", "install"] + arguments)
PY
  mv "$GET_PIP.tmp" "$GET_PIP"
fi

# --- interpreters: the venv first, then any pyenv pythonX.Y; no pyenv shims (they fail
# for versions that are not the global one, and ansible-test would take them as present)
BIN="$WORK/bin"
mkdir -p "$BIN"
for interpreter in "$HOME"/.pyenv/versions/*/bin/python[23].[0-9]*; do
  case "$interpreter" in *-config|*-gdb.py|*m) continue ;; esac
  [ -x "$interpreter" ] || continue
  name="$(basename "$interpreter")"
  [ -e "$BIN/$name" ] || ln -s "$interpreter" "$BIN/$name"
done
CLEAN_PATH="$(printf '%s' "$PATH" | tr ':' '\n' | grep -v '/\.pyenv/shims$' | paste -sd: -)"
export PATH="$(dirname "$ANSIBLE_TEST"):$BIN:$CLEAN_PATH"
export ANSIBLE_TEST_PREFER_VENV=1

cd "$COLLECTION"
status=0
if [ "$WHAT" = all ] || [ "$WHAT" = sanity ]; then
  echo "== ansible-test sanity --venv (controller Python $PY_VERSION)"
  started=$SECONDS
  "$ANSIBLE_TEST" sanity --venv --python "$PY_VERSION" --color no "$@" || status=$?
  # the per-version tests (compile, import) for the other Python versions that exist here
  "$ANSIBLE_TEST" sanity --venv --color no --test compile "$@" || status=$?
  echo "== sanity: exit $status in $((SECONDS - started)) s"
fi
if [ "$WHAT" = all ] || [ "$WHAT" = units ]; then
  echo "== ansible-test units --venv --python $PY_VERSION"
  started=$SECONDS
  units_status=0
  "$ANSIBLE_TEST" units --venv --python "$PY_VERSION" --color no "$@" || units_status=$?
  echo "== units: exit $units_status in $((SECONDS - started)) s"
  [ $units_status -eq 0 ] || status=$units_status
fi
# keep the reports (not the .tmp virtualenvs) in tests/output/ansible-test of the checkout
rm -rf "$REPO_ROOT/tests/output/ansible-test"
for kind in junit bot results; do
  if [ -d "$COLLECTION/tests/output/$kind" ]; then
    mkdir -p "$REPO_ROOT/tests/output/ansible-test"
    cp -a "$COLLECTION/tests/output/$kind" "$REPO_ROOT/tests/output/ansible-test/$kind"
  fi
done
exit $status
