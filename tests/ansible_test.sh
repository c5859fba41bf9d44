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
# benchmarks/, extensions/molecule/ (scenarios; one fixture is CRLF on purpose, to test that
# edits keep CRLF) and the project's own pytest suites under tests/ (tests/integration drives real
# servers; tests/unit/test_*.py are the engine's tests). None of it is collection content:
# Ansible never loads it, the built artifact leaves it out (galaxy.yml build_ignore), and
# scripts/test.sh runs it under pytest. ansible-test gets the layout it defines:
# tests/unit/plugins/ (module, module_utils and filter tests, run by ansible-test units and
# by the project's pytest alike), tests/unit/requirements.txt and tests/sanity/.
echo "== copying $REPO_ROOT to $COLLECTION"
"$PYTHON" - "$REPO_ROOT" <<'PY' | tar -C "$REPO_ROOT" --null -T - -cf - | tar -C "$COLLECTION" -xf -
import os
import subprocess
import sys

root = sys.argv[1]
HARNESS = ("lab/", "scripts/", ".ci/", "benchmarks/", "extensions/molecule/")
KEEP_TESTS = ("tests/unit/plugins/", "tests/unit/requirements.txt", "tests/sanity/")
try:  # tracked files and new ones that are not ignored
    listed = subprocess.run(["git", "-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=True).stdout
    names = [n.decode() for n in listed.split(b"\0") if n]
except (OSError, subprocess.CalledProcessError):  # no git: every file outside dot-folders and caches
    names = []
    for directory, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d not in ("__pycache__", "output")]
        names += [os.path.relpath(os.path.join(directory, f), root) for f in files if not f.endswith(".pyc")]
for name in sorted(set(names)):
    if (os.path.isfile(os.path.join(root, name)) and not name.startswith(HARNESS)
            and (not name.startswith("tests/") or name.startswith(KEEP_TESTS))):
        sys.stdout.write(name + "\0")
PY

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
