# -*- coding: utf-8 -*-
# Copyright: imapops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Murder lab itself: one command starts a mupdate master, a frontend and three backends
on distinct loopback addresses; mailboxes created through the frontend land on backends and
are known to every server; one command stops it all and leaves nothing behind."""

import imaplib
import json
import os
import subprocess
import sys
import time

from cyrus_lab import getmetadata, mount_points
from murder_helpers import PARTITION, SERVER, mailboxes_on

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
SCRIPT = os.path.join(REPO_ROOT, "lab", "murder_lab.py")


def cli(*args):
    return subprocess.run([sys.executable, SCRIPT] + list(args), capture_output=True, text=True, timeout=120)


def test_cli_starts_a_murder_that_routes_creates_and_stops_clean(cyrus_installation, tmp_path, murder_module):
    state_dir = str(tmp_path / "murder")
    started = cli("start", "--state-dir", state_dir, "--frontend-set", "serverlist_select_mode=freespace-most")
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        assert cli("status", "--state-dir", state_dir).returncode == 0
        with open(os.path.join(state_dir, "inventory.yml")) as handle:
            inventory = json.loads(handle.read().split("\n", 1)[1])
        groups = inventory["all"]["children"]
        assert sorted(groups) == ["cyrus_backends", "cyrus_frontends", "cyrus_mupdate"]
        assert sorted(groups["cyrus_backends"]["hosts"]) == ["backend1", "backend2", "backend3"]
        assert oct(os.stat(os.path.join(state_dir, "inventory.yml")).st_mode & 0o777) == "0o600"
        with open(os.path.join(state_dir, "murder.json")) as handle:
            lab = murder_module.MurderLab.from_state(json.load(handle))
        addresses = [node.host for node in lab.nodes]
        assert len(set(addresses)) == 5 and all(a.startswith("127.0.0.") for a in addresses)
        assert lab.frontend.conf["serverlist"].split() == lab.serverlist
        for name, backend in zip(lab.backend_names, lab.backends):
            host_vars = groups["cyrus_backends"]["hosts"][name]
            assert host_vars["cyrus_server_name"] == backend.server_name == "%s:%d" % (backend.host, backend.port)
            sizes = [backend.usage(p)[0] for p in backend.partition_paths]
            assert len(set(sizes)) == len(sizes)  # partitions of different sizes

        conn = lab.frontend.imap()
        try:
            assert conn.create("user.alice")[0] == "OK"  # freespace-most: backend2 (96 MiB free)
            pinned = "%s!p2" % lab.backend("backend3").server_name
            assert conn._simple_command("CREATE", "user.bob", pinned)[0] == "OK"
            assert getmetadata(conn, "user.alice", SERVER)[SERVER] == lab.backend("backend2").server_name
            assert getmetadata(conn, "user.bob", SERVER)[SERVER] == lab.backend("backend3").server_name
            # a frontend does not answer the partition; the backend does
            assert getmetadata(conn, "user.bob", PARTITION)[PARTITION] is None
        finally:
            conn.logout()
        backend3 = lab.backend("backend3").imap()
        try:
            assert getmetadata(backend3, "user.bob", PARTITION)[PARTITION] == "p2"
        finally:
            backend3.logout()
        assert mailboxes_on(lab.backend("backend2")) == ["user.alice"]
        assert mailboxes_on(lab.backend("backend1")) == []
    finally:
        stopped = cli("stop", "--state-dir", state_dir)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert not os.path.exists(lab.root)
    assert not [p for p in mount_points() if p.startswith(lab.root)]
    assert not any(node.running() for node in lab.nodes)
    assert not os.path.exists(os.path.join(state_dir, "murder.json"))


def test_a_bare_partition_through_a_frontend_kills_its_imapd(murder_lab):
    """Why the collection always sends server!partition through a 3.6.1 frontend."""
    lab = murder_lab()
    conn = lab.frontend.imap()
    try:
        try:
            typ, _ = conn._simple_command("CREATE", "user.crash", "p1")
        except (imaplib.IMAP4.abort, OSError, EOFError):
            typ = "connection lost"
        assert typ != "OK"
    finally:
        try:
            conn.shutdown()
        except OSError:
            pass
    assert typ == "connection lost"
    deadline = time.monotonic() + 5  # master logs the child's death when it reaps it
    while not any("signal 11" in line for line in lab.frontend.syslog_lines()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert any("signaled to death by signal 11" in line for line in lab.frontend.syslog_lines())
    # the frontend's master serves the next connection (imapd -U 1: one process per connection)
    assert lab.frontend.greeting().startswith("* OK")
    for backend in lab.backends:
        assert mailboxes_on(backend) == []


def test_a_stopped_backend_comes_back_with_its_mailboxes(murder_lab):
    lab = murder_lab()
    conn = lab.frontend.imap()
    try:
        assert conn.create("user.carol")[0] == "OK"
    finally:
        conn.logout()
    lab.stop_backend("backend2")
    assert not lab.backend("backend2").running() and lab.backend("backend2").greeting() is None
    conn = lab.frontend.imap()
    try:
        typ, data = conn.select("user.carol")
        assert typ == "NO"
    finally:
        conn.logout()
    lab.start_backend("backend2")
    assert mailboxes_on(lab.backend("backend2")) == ["user.carol"]
