# -*- coding: utf-8 -*-
# Copyright: imapops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab itself: a real Cyrus 3.6.1 on loopback with tmpfs partitions of chosen sizes.

Mailbox names use Cyrus's netnews separator '.' (the lab writes ``unixhierarchysep: no``).
"""
import imaplib
import json
import os
import stat
import subprocess

import pytest

import cyrus_lab as lab_module  # put on sys.path by conftest.py

MIB = 1024  # KiB


def cyr_df(lab):
    """{partition: (1k-blocks, available KiB, location)} as Cyrus's cyr_df reports them."""
    output = subprocess.run([os.path.join(lab_module.CYRUS_BIN, "cyr_df"), "-C", lab.imapd_conf],
                            capture_output=True, text=True, check=True).stdout
    rows = {}
    for line in output.splitlines()[1:]:
        name, blocks, _used, available, _percent, location = line.split()
        rows[name] = (int(blocks), int(available), location)
    return rows


def test_greeting_and_admin_login(cyrus_lab):
    lab = cyrus_lab()
    greeting = lab.greeting()
    assert greeting.startswith("* OK") and "Cyrus IMAP 3.6.1" in greeting
    conn = lab.imap()
    try:
        assert conn.state == "AUTH"
    finally:
        conn.logout()


def test_create_user_mailbox_and_read_its_partition(cyrus_lab):
    lab = cyrus_lab()
    conn = lab.imap()
    try:
        assert conn.create("user.alice")[0] == "OK"
        assert lab.partition_of("user.alice", conn) in lab.partition_paths
        assert conn.create("user.bob p3")[0] == "OK"
        values = lab_module.getmetadata(conn, "user.bob", lab_module.PARTITION_ANNOTATION)
        assert values == {lab_module.PARTITION_ANNOTATION: "p3"}
        # a child follows its parent's partition
        assert conn.create("user.bob.Sent")[0] == "OK"
        assert lab.partition_of("user.bob.Sent", conn) == "p3"
    finally:
        conn.logout()


@pytest.mark.parametrize("mode, expected", [
    ("freespace-most", "p1"),           # 32 MiB free beats 28 and 4
    ("freespace-percent-most", "p2"),   # 87.5 % free beats 50 % and 25 %
])
def test_filled_partitions_steer_the_selection_mode(cyrus_lab, mode, expected):
    lab = cyrus_lab(conf={"partition_select_mode": mode})
    for name, used_mib in (("p1", 32), ("p2", 4), ("p3", 12)):
        lab.fill(name, used_mib)
    conn = lab.imap()
    try:
        assert conn.create("user.carol")[0] == "OK"
        assert lab.partition_of("user.carol", conn) == expected
    finally:
        conn.logout()


def test_cyr_df_shows_the_configured_sizes(cyrus_lab):
    lab = cyrus_lab(partitions=(("p1", 64), ("p2", 32), ("plain", 0)))
    lab.fill("p2", 8)
    rows = cyr_df(lab)
    assert set(rows) == {"p1", "p2", "plain"}
    assert rows["p1"][:2] == (64 * MIB, 64 * MIB)
    assert rows["p2"][0] == 32 * MIB and rows["p2"][1] == 24 * MIB
    assert rows["p1"][2] == lab.partition_paths["p1"]
    mounts = lab_module.mount_points()
    assert lab.partition_paths["p1"] in mounts and lab.partition_paths["p2"] in mounts
    assert lab.partition_paths["plain"] not in mounts
    assert lab.usage("p2") == (32 * MIB, 24 * MIB, 75.0)


def test_imapd_conf_has_extra_options_last_and_no_defaultpartition(cyrus_lab):
    lab = cyrus_lab(conf={"partition_select_mode": "freespace-percent-most", "altnamespace": "no"})
    with open(lab.imapd_conf) as handle:
        lines = [line for line in handle.read().splitlines() if line and not line.startswith("#")]
    keys = [line.split(":", 1)[0] for line in lines]
    assert "defaultpartition" not in keys
    assert len(keys) == len(set(keys))
    assert lines[-1] == "partition_select_mode: freespace-percent-most"
    assert "unixhierarchysep: no" in lines


def test_added_user_can_log_in(cyrus_lab):
    lab = cyrus_lab()
    lab.add_user("alice", "alice-password-long-enough")
    conn = imaplib.IMAP4(lab.host, lab.port)
    try:
        assert conn.login("alice", "alice-password-long-enough")[0] == "OK"
    finally:
        conn.logout()
    conn = imaplib.IMAP4(lab.host, lab.port)
    try:
        with pytest.raises(imaplib.IMAP4.error):
            conn.login("alice", "wrong-password")
    finally:
        conn.shutdown()


def test_cyrus_syslog_lands_in_the_lab(cyrus_lab):
    lab = cyrus_lab()
    if not lab.syslog_file:
        pytest.skip("no C compiler: Cyrus's syslog is not captured")
    lab.imap().logout()
    assert any("login:" in line and lab.admin_user in line for line in lab.syslog_lines())


def test_stop_leaves_no_process_and_no_mount(cyrus_lab):
    lab = cyrus_lab()
    conn = lab.imap()  # a connection still open at stop must not keep anything alive
    pid, root, conf = lab.master_pid, lab.root, lab.imapd_conf
    assert pid and lab_module._pids_using(conf)
    lab.stop()
    conn.shutdown()
    assert not lab_module._process_alive(pid)
    assert lab_module._pids_using(conf) == []
    assert not [point for point in lab_module.mount_points() if point.startswith(root + os.sep)]
    assert not os.path.exists(root)
    assert lab.greeting() is None


def test_cli_start_status_stop(cyrus_installation, tmp_path, capsys):
    state_dir = str(tmp_path / "state")
    assert lab_module.main(["start", "--state-dir", state_dir]) == 0
    with open(os.path.join(state_dir, "lab.json")) as handle:
        first = json.load(handle)
    try:
        for name in ("lab.json", "inventory.yml"):
            assert stat.S_IMODE(os.stat(os.path.join(state_dir, name)).st_mode) == 0o600
        with open(os.path.join(state_dir, "inventory.yml")) as handle:
            inventory = handle.read()
        assert "cyrus_backends:" in inventory and "lab-backend:" in inventory
        assert "cyrus_imap_port: %d" % first["port"] in inventory
        assert json.dumps(first["admin_password"]) in inventory
        lab = lab_module.CyrusLab.from_state(first)
        first_pid = lab.master_pid
        assert first_pid
        assert lab.usage("p1")[1] == 32 * MIB and lab.usage("p3")[1] == 4 * MIB
        assert lab_module.main(["status", "--state-dir", state_dir]) == 0

        # starting again replaces the running lab of the same state dir
        assert lab_module.main(["start", "--state-dir", state_dir, "--partitions", "p1:8"]) == 0
        assert not lab_module._process_alive(first_pid) and not os.path.exists(first["root"])
    finally:
        assert lab_module.main(["stop", "--state-dir", state_dir]) == 0
    assert lab_module.main(["status", "--state-dir", state_dir]) == 1
    assert not os.listdir(state_dir)
    assert "started in" in capsys.readouterr().out
