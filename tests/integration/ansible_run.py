# -*- coding: utf-8 -*-
# Copyright: imapops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run real ansible-playbook against a lab, with this checkout as the collection imapops.cyrus."""

import json
import os
import subprocess
import sys
import tempfile

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def collections_path():
    """A directory holding ansible_collections/imapops/cyrus -> this checkout."""
    base = os.path.join(tempfile.gettempdir(), "imapops-test-collections-%d" % os.getpid())
    link = os.path.join(base, "ansible_collections", "imapops", "cyrus")
    if not os.path.islink(link):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink(REPO_ROOT, link)
    return base


def write_inventory(directory, lab, extra_vars=None):
    path = os.path.join(directory, "inventory.yml")
    host_vars = {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable,
        "cyrus_imapd_conf": lab.imapd_conf, "cyrus_imap_host": lab.host, "cyrus_imap_port": lab.port,
        "cyrus_admin_user": lab.admin_user, "cyrus_admin_password": lab.admin_password,
    }
    host_vars.update(extra_vars or {})
    inventory = {"cyrus_backends": {"hosts": {"lab-backend": host_vars}}}
    with open(path, "w") as handle:
        json.dump(inventory, handle)  # JSON is YAML
    os.chmod(path, 0o600)
    return path


def run_playbook(playbook, inventory, *args, **kwargs):
    """ansible-playbook; returns CompletedProcess with text stdout/stderr."""
    env = dict(os.environ)
    env.update(ANSIBLE_COLLECTIONS_PATH=collections_path(), ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false",
               ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", ANSIBLE_RETRY_FILES_ENABLED="0",
               ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0")
    env.update(kwargs.pop("env", {}))
    command = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", inventory, playbook]
    command.extend(args)
    return subprocess.run(command, env=env, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=kwargs.pop("timeout", 300))


def playbook_with_result(directory, tasks, result_file="result.json"):
    """A playbook on cyrus_backends running ``tasks`` (YAML text) that must register ``result``;
    the registered value is written to ``result_file`` for the test to read."""
    path = os.path.join(directory, "play.yml")
    out = os.path.join(directory, result_file)
    with open(path, "w") as handle:
        handle.write("- hosts: cyrus_backends\n  gather_facts: false\n  tasks:\n")
        for line in tasks.strip("\n").splitlines():
            handle.write("    " + line + "\n")
        handle.write("    - ansible.builtin.copy:\n        content: '{{ result | to_json }}'\n"
                     "        dest: %s\n      check_mode: false\n      when: result is defined\n" % out)
    return path, out


def read_json(path):
    with open(path) as handle:
        return json.load(handle)
