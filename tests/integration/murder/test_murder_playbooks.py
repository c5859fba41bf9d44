# -*- coding: utf-8 -*-
# Copyright: imapops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""playbooks/gather_facts.yml and playbooks/onboard_cluster.yml on a real Murder.

- fact gathering runs on every backend in parallel; a stopped backend, a host that cannot be
  reached over SSH and a hung host are reported with the reason, the others are measured;
- cluster onboarding places a list of users on backends and partitions, the table read back
  shows both, and a second run changes nothing;
- a backend that is down fails the onboarding clearly (default, nothing created) or is
  skipped (on_unreachable=skip); a backend that dies between plan and creation leaves the
  other users created and its users failed or skipped; a run after it is back completes
  everything, and no mailbox exists twice or without its folders.
"""

import json
import os
import re
import socket
import threading
import time

import pytest

from ansible_run import REPO_ROOT, read_json, run_playbook
from cyrus_lab import getmetadata
from murder_helpers import SERVER, backend_facts, mailboxes_on, partition_on

from ansible_collections.imapops.cyrus.plugins.filter.placement import select_partition

GATHER = os.path.join(REPO_ROOT, "playbooks", "gather_facts.yml")
ONBOARD = os.path.join(REPO_ROOT, "playbooks", "onboard_cluster.yml")
MURDER_LAB = os.path.join(REPO_ROOT, "lab", "murder_lab.py")
FOLDERS = ["Drafts", "Sent", "Trash"]
FAST = {"ANSIBLE_PIPELINING": "1"}  # fewer subprocesses per task with the local connection


def extra_vars(directory, **values):
    """``@file`` for ansible-playbook -e: the values as JSON in ``directory``."""
    path = os.path.join(str(directory), "extra-vars-%d.json" % len(os.listdir(str(directory))))
    with open(path, "w") as handle:
        json.dump(values, handle)
    return "@" + path


def onboard(lab, tmp_path, users, *args, **role_vars):
    inventory = lab.write_inventory(str(tmp_path / "inventory.yml"))
    role_vars.setdefault("onboard_cluster_users_csv", "")
    role_vars["onboard_cluster_users"] = users
    role_vars["onboard_cluster_report_file"] = str(tmp_path / "placement.json")
    if os.path.exists(role_vars["onboard_cluster_report_file"]):
        os.unlink(role_vars["onboard_cluster_report_file"])
    return run_playbook(ONBOARD, inventory, "-e", extra_vars(tmp_path, **role_vars), *args, env=FAST)


def placement_rows(tmp_path):
    """The placement the role wrote: {user: (backend, server, partition, status)}."""
    rows = read_json(str(tmp_path / "placement.json"))
    return dict((row["user"], (row["backend"], row["server"], row["partition"], row["status"])) for row in rows)


def where_is(lab, user):
    """Every running backend that has user.<user>, with the folders it has."""
    found = {}
    for name, backend in zip(lab.backend_names, lab.backends):
        if not backend.running():
            continue
        names = mailboxes_on(backend, "user.%s*" % user)
        if "user." + user in names:
            found[name] = sorted(n.split(".", 2)[2] for n in names if n.count(".") == 2)
    return found


def assert_each_once_and_complete(lab, users):
    for user in users:
        found = where_is(lab, user)
        assert len(found) == 1, "%s is on %s" % (user, found)
        assert list(found.values())[0] == FOLDERS, (user, found)


# --------------------------------------------------------------------------- fact gathering

class Blackhole(object):
    """A TCP port that accepts connections and never says a word (a hung IMAP server)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.accepted = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def close(self):
        self.sock.close()
        for conn in self.accepted:
            conn.close()


def test_gather_facts_reports_every_backend_and_carries_on_past_failures(murder_lab, tmp_path):
    lab = murder_lab()
    lab.stop_backend("backend3")  # IMAP down, its partitions still readable
    inventory = lab.write_inventory(str(tmp_path / "inventory.yml"))
    fifo = str(tmp_path / "imapd.conf")
    os.mkfifo(fifo)  # opening it blocks: partition_facts hangs on this host
    blackhole = Blackhole()
    broken = {"cyrus_backends": {"hosts": {
        "ghost": {"ansible_connection": "ssh", "ansible_host": "127.0.0.1", "ansible_port": 1,
                  "ansible_ssh_common_args": "-o ConnectTimeout=2", "cyrus_imap_host": "127.0.0.1",
                  "cyrus_imap_port": 1, "cyrus_admin_password": "unused-but-long-enough"},
        "hung": {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}",
                 "cyrus_imapd_conf": fifo, "cyrus_imap_host": "127.0.0.1", "cyrus_imap_port": blackhole.port,
                 "cyrus_admin_password": "unused-but-long-enough"},
    }}}
    extra_inventory = str(tmp_path / "broken.yml")
    with open(extra_inventory, "w") as handle:
        json.dump(broken, handle)
    report_dir = tmp_path / "report"
    try:
        run = run_playbook(GATHER, inventory, "-i", extra_inventory, "-e", "cluster_report_dir=%s" % report_dir,
                           "-e", "cluster_gather_timeout=4", "-e", "cluster_connect_timeout=2", "-f", "10",
                           env=FAST)
    finally:
        try:  # release the module process still blocked on the FIFO
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass
        blackhole.close()
    assert run.returncode == 0, run.stdout + run.stderr
    assert lab.admin_password not in run.stdout + run.stderr
    report = read_json(str(report_dir / "cluster-report.json"))
    by_host = dict((b["host"], b) for b in report["backends"])
    assert sorted(by_host) == ["backend1", "backend2", "backend3", "ghost", "hung"]
    assert report["summary"] == {"backends": 5, "ok": 2, "failed": 3}
    reasons = dict((f["host"], " ".join(f["reasons"])) for f in report["failed"])
    assert "Connection refused" in reasons["backend3"] and reasons["backend3"].startswith("imap:")
    assert "unreachable" in reasons["ghost"]
    assert re.search(r"[Tt]imed out", reasons["hung"])
    for name in ("backend1", "backend2"):
        entry, backend = by_host[name], lab.backend(name)
        assert entry["ok"] and entry["server_name"] == backend.server_name
        assert entry["settings"]["partition_select_mode"] == "freespace-most"
        for partition in entry["partitions"]:
            total, available, percent = backend.usage(partition["name"])
            assert (partition["total_kib"], partition["available_kib"]) == (total, available)
            assert partition["used_percent"] == pytest.approx(100.0 - percent)
            assert partition["flags"] == [] and partition["fstype"] == "tmpfs"
        assert entry["imap"]["reachable"] and entry["imap"]["freespace_total"] == "%d;%d" % tuple(
            entry["answers"]["freespace_total"])
    # backend3's files were still measured; only its IMAP service is down
    assert len(by_host["backend3"]["partitions"]) == 2 and not by_host["backend3"]["imap"]["reachable"]
    frontend = report["frontend"]
    assert frontend["serverlist"] == lab.serverlist
    assert frontend["values"][lab.backend("backend3").server_name] is None
    assert "cannot measure" in frontend["choice_error"]
    table = (report_dir / "cluster-report.txt").read_text()
    for host in ("backend1", "backend2", "backend3", "ghost", "hung"):
        assert host in table
    assert "FAILED ghost" in table and "FAILED hung" in table and "DOWN" in table


# --------------------------------------------------------------------------- onboarding

USERS = ["ana", "ben", "cleo", "dan", "eve", "fay"]


def test_onboard_cluster_places_users_and_a_second_run_changes_nothing(murder_lab, tmp_path):
    lab = murder_lab(frontend_conf={"serverlist_select_mode": "freespace-percent-weighted"})
    run = onboard(lab, tmp_path, USERS, onboard_cluster_seed="spread")
    assert run.returncode == 0, run.stdout + run.stderr
    rows = placement_rows(tmp_path)
    assert sorted(rows) == sorted(USERS)
    assert len(set(row[0] for row in rows.values())) >= 2, rows  # the weighted mode spread them
    for user, (backend_name, server, partition, status) in rows.items():
        assert status == "created"
        backend = lab.backend(backend_name)
        assert server == backend.server_name
        assert partition_on(backend, "user." + user) == partition
    assert_each_once_and_complete(lab, USERS)
    # every partition is what the backend's own rules choose (all partitions free enough)
    facts_before = backend_facts(lab)
    for user, (backend_name, server, partition, _status) in rows.items():
        assert partition in [p["name"] for p in facts_before[server]["cyrus_partitions"]]

    again = onboard(lab, tmp_path, USERS, onboard_cluster_seed="spread")
    assert again.returncode == 0, again.stdout + again.stderr
    assert re.search(r"frontend\s+: ok=\d+\s+changed=0\s+unreachable=0\s+failed=0", again.stdout), again.stdout
    again_rows = placement_rows(tmp_path)
    assert dict((u, r[:3]) for u, r in again_rows.items()) == dict((u, r[:3]) for u, r in rows.items())
    assert set(r[3] for r in again_rows.values()) == {"existed"}


def test_a_down_backend_fails_the_onboarding_clearly_or_is_skipped(murder_lab, tmp_path):
    lab = murder_lab()  # freespace-most: backend2 is the frontend's choice
    lab.stop_backend("backend2")
    down = lab.backend("backend2").server_name
    run = onboard(lab, tmp_path, USERS)
    assert run.returncode != 0
    assert "Nothing was created" in run.stdout and down in run.stdout and "Connection refused" in run.stdout
    assert "onboard_cluster_on_unreachable=skip" in run.stdout
    for backend in lab.backends:
        if backend.running():
            assert mailboxes_on(backend) == []

    # skip: the others take the users; created on the backends directly this time, and one
    # user pinned to a backend by its inventory name
    users = USERS + [{"user": "hal", "server": "backend3"}]
    skipped = onboard(lab, tmp_path, users, onboard_cluster_on_unreachable="skip",
                      onboard_cluster_create_via="backend")
    assert skipped.returncode == 0, skipped.stdout + skipped.stderr
    assert "Left out, new users go to the other backends: %s: unreachable" % down in skipped.stdout
    rows = placement_rows(tmp_path)
    facts = backend_facts(lab)
    backend1 = lab.backend("backend1")
    assert {u: r[:2] for u, r in rows.items() if u != "hal"} == {
        u: ("backend1", backend1.server_name) for u in USERS}  # the best of the others
    assert rows["hal"][:2] == ("backend3", lab.backend("backend3").server_name)
    assert set(row[3] for row in rows.values()) == {"created"}
    for user, (name, server, partition, _status) in rows.items():
        assert partition == partition_on(lab.backend(name), "user." + user)
    assert rows["ana"][2] == select_partition(facts[backend1.server_name])
    assert_each_once_and_complete(lab, USERS + ["hal"])
    # created on the backends, known to the frontend through the mupdate master: the
    # backend -> mupdate master -> frontend update is asynchronous, so wait for it (bounded)
    conn = lab.frontend.imap()
    try:
        for user in USERS + ["hal"]:
            assert frontend_server_of(conn, "user." + user) == rows[user][1]
    finally:
        conn.logout()


def frontend_server_of(conn, mailbox, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            return getmetadata(conn, mailbox, SERVER)[SERVER]
        except Exception:  # noqa: BLE001 - "Mailbox does not exist" until mupdate has passed it on
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


MIDRUN = """
- name: Onboarding where a backend dies between the plan and the creation
  hosts: cyrus_frontends[0]
  gather_facts: false
  vars:
    onboard_cluster_frontend_imapd_conf: "{{ cyrus_imapd_conf }}"
    onboard_cluster_login_host: "{{ cyrus_imap_host }}"
    onboard_cluster_login_port: "{{ cyrus_imap_port }}"
    onboard_cluster_login_user: "{{ cyrus_admin_user }}"
    onboard_cluster_login_password: "{{ cyrus_admin_password }}"
  tasks:
    - {ansible.builtin.include_role: {name: imapops.cyrus.onboard_cluster, tasks_from: preflight}}
    - {ansible.builtin.include_role: {name: imapops.cyrus.onboard_cluster, tasks_from: gather}}
    - {ansible.builtin.include_role: {name: imapops.cyrus.onboard_cluster, tasks_from: plan}}
    - name: backend2 dies now
      ansible.builtin.command: "{{ ansible_playbook_python }} %s stop-backend backend2 --state-dir %s"
      changed_when: true
    - {ansible.builtin.include_role: {name: imapops.cyrus.onboard_cluster, tasks_from: create}}
    - {ansible.builtin.include_role: {name: imapops.cyrus.onboard_cluster, tasks_from: report}}
"""

PINNED = [{"user": "ivy", "server": "backend1"}, {"user": "jon", "server": "backend2"},
          {"user": "kim", "server": "backend2"}, "lou", {"user": "max", "server": "backend3"}]


def test_a_backend_dying_mid_run_then_a_rerun_completes_without_duplicates(murder_lab, tmp_path, policy="fail"):
    """(policy "skip" labels the same users "skipped" and does not fail: tests/unit/test_cluster.py)"""
    lab = murder_lab()  # lou follows the mode: freespace-most -> backend2, which dies
    state_dir = str(tmp_path / "state")
    lab.write_state(state_dir)
    playbook = str(tmp_path / "midrun.yml")
    with open(playbook, "w") as handle:
        handle.write(MIDRUN % (MURDER_LAB, state_dir))
    inventory = lab.write_inventory(str(tmp_path / "inventory.yml"))
    options = {"onboard_cluster_users": PINNED, "onboard_cluster_on_unreachable": policy,
               "onboard_cluster_report_file": str(tmp_path / "placement.json")}
    run = run_playbook(playbook, inventory, "-e", extra_vars(tmp_path, **options), env=FAST)
    assert not lab.backend("backend2").running()
    rows = placement_rows(tmp_path)
    expected_status = "failed"
    assert {u: r[3] for u, r in rows.items()} == {
        "ivy": "created", "jon": expected_status, "kim": expected_status, "lou": expected_status, "max": "created"}
    assert run.returncode != 0
    assert "3 user(s) not (completely) onboarded" in run.stdout
    assert "Server(s) unavailable" in run.stdout
    assert_each_once_and_complete(lab, ["ivy", "max"])
    lab.start_backend("backend2")
    for user in ("jon", "kim", "lou"):
        assert where_is(lab, user) == {}  # nothing half-created, on backend2 either

    rerun = onboard(lab, tmp_path, PINNED, onboard_cluster_on_unreachable=policy)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    rows = placement_rows(tmp_path)
    assert {u: r[3] for u, r in rows.items()} == {
        "ivy": "existed", "jon": "created", "kim": "created", "lou": "created", "max": "existed"}
    assert {u: r[0] for u, r in rows.items()} == {
        "ivy": "backend1", "jon": "backend2", "kim": "backend2", "lou": "backend2", "max": "backend3"}
    assert_each_once_and_complete(lab, ["ivy", "jon", "kim", "lou", "max"])
