# -*- coding: utf-8 -*-
# Copyright: imapops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The admin password stays secret: a real onboarding run at -vvvv leaks it nowhere.

The lab is started the way scripts/demo.sh starts it (``lab/cyrus_lab.py start`` with its
own state dir), so the inventory and state files it writes are checked too: they hold the
password by design and must be readable by their owner only (0600).

The onboarding playbook then runs at -vvvv with ANSIBLE_KEEP_REMOTE_FILES off, a log file,
the tree callback (every task result as JSON) and temp dirs inside the test directory. The
password (32 characters, long enough that no_log masking cannot garble other output) must
appear in none of: stdout, stderr, the log, the task results, the role's registered and
internal variables, and any file created or changed during the run under the test
directory, the lab's state dir and the lab's own directory (Cyrus's logs included; the
sasldb, where Cyrus keeps the password, is the only file allowed to hold it).
"""

import json
import os
import stat
import subprocess
import sys

import pytest

from ansible_run import REPO_ROOT, run_playbook

LAB_SCRIPT = os.path.join(REPO_ROOT, "lab", "cyrus_lab.py")


def snapshot(*roots):
    """{path: (size, mtime_ns)} of every file below ``roots``."""
    files = {}
    for root in roots:
        for directory, _dirs, names in os.walk(root):
            for name in names:
                path = os.path.join(directory, name)
                try:
                    info = os.lstat(path)
                except OSError:
                    continue
                if stat.S_ISREG(info.st_mode):
                    files[path] = (info.st_size, info.st_mtime_ns)
    return files


def holding(secret, paths):
    found = []
    for path in paths:
        try:
            with open(path, "rb") as handle:
                if secret.encode() in handle.read():
                    found.append(path)
        except OSError:
            pass
    return found


@pytest.fixture
def cli_lab(cyrus_installation, tmp_path):
    state_dir = str(tmp_path / "state")
    started = subprocess.run([sys.executable, LAB_SCRIPT, "start", "--state-dir", state_dir,
                              "--partitions", "p1:16:4,p2:16:8"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                             timeout=120, check=False)
    assert started.returncode == 0, started.stdout
    with open(os.path.join(state_dir, "lab.json")) as handle:
        state = json.load(handle)
    yield state_dir, state
    stopped = subprocess.run([sys.executable, LAB_SCRIPT, "stop", "--state-dir", state_dir],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                             timeout=120, check=False)
    assert stopped.returncode == 0, stopped.stdout


WRAPPER = """
- name: Onboard
  ansible.builtin.import_playbook: {onboard}

- name: Keep what the role registered and set
  hosts: cyrus_backends
  gather_facts: false
  tasks:
    - name: Write the role's own variables (registered results and internal facts)
      ansible.builtin.copy:
        content: "{{{{ dict(names | zip(query('ansible.builtin.vars', *names))) | to_nice_json }}}}"
        dest: "{{{{ role_vars_file }}}}"
        mode: "0600"
      vars:
        names: "{{{{ query('ansible.builtin.varnames', '^_+onboard_') }}}}"
"""


def test_password_leaks_nowhere_at_high_verbosity(tmp_path, cli_lab):
    state_dir, state = cli_lab
    password = state["admin_password"]
    assert len(password) >= 24
    inventory = os.path.join(state_dir, "inventory.yml")
    for name in ("inventory.yml", "lab.json"):
        mode = stat.S_IMODE(os.stat(os.path.join(state_dir, name)).st_mode)
        assert mode == 0o600, "%s is %o, must be 0600 (it holds the password)" % (name, mode)
    with open(inventory) as handle:
        assert password in handle.read()  # the input, by design

    work = tmp_path / "run"
    for sub in ("local-tmp", "remote-tmp", "tree"):
        (work / sub).mkdir(parents=True)
    playbook = work / "wrapper.yml"
    playbook.write_text(WRAPPER.format(onboard=os.path.join(REPO_ROOT, "playbooks", "onboard.yml")))
    role_vars_file = str(work / "role-vars.json")
    watched = (str(tmp_path), state["root"])
    before = snapshot(*watched)

    proc = run_playbook(str(playbook), inventory, "-vvvv", "-e", "role_vars_file=%s" % role_vars_file, env={
        "ANSIBLE_KEEP_REMOTE_FILES": "0",
        "ANSIBLE_LOCAL_TEMP": str(work / "local-tmp"),
        "ANSIBLE_REMOTE_TMP": str(work / "remote-tmp"),
        "ANSIBLE_LOG_PATH": str(work / "ansible.log"),
        "ANSIBLE_CALLBACKS_ENABLED": "ansible.builtin.tree",
        "ANSIBLE_CALLBACK_TREE_DIR": str(work / "tree"),
    })
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr
    assert "created" in proc.stdout  # the placement table: the run did create mailboxes

    assert password not in proc.stdout, "password in stdout"
    assert password not in proc.stderr, "password in stderr"
    with open(role_vars_file) as handle:
        role_vars = handle.read()
    assert "__onboard" in role_vars and password not in role_vars
    assert os.listdir(str(work / "tree")), "the tree callback wrote no results"

    after = snapshot(*watched)
    written = sorted(path for path, info in after.items() if before.get(path) != info)
    assert str(work / "ansible.log") in written and role_vars_file in written
    sasldb = os.path.join(state["root"], "sasldb2")
    leaking = [path for path in holding(password, written) if path != sasldb]
    assert leaking == [], "the password is in %s" % leaking
    # ANSIBLE_KEEP_REMOTE_FILES=0: no module payload (which carries the arguments) is left
    assert [name for name in os.listdir(str(work / "remote-tmp")) if name.startswith("ansible-tmp")] == []
