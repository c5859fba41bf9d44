# -*- coding: utf-8 -*-
# Copyright: imapops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The modules, the role and the playbook run by real ansible-playbook against a real lab.

Rhythm for state changes: check mode -> server unchanged -> real run with the exact
command list -> re-run changes nothing.
"""

import os
import re

import pytest

from ansible_run import playbook_with_result, read_json, run_playbook, write_inventory, REPO_ROOT

LOGIN = """
      login_host: "{{ cyrus_imap_host }}"
      login_port: "{{ cyrus_imap_port }}"
      login_user: "{{ cyrus_admin_user }}"
      login_password: "{{ cyrus_admin_password }}"
"""

LAB_PARTITIONS = (("p1", 64), ("p2", 32), ("p3", 16))
LAB_USED = {"p1": 32, "p2": 4, "p3": 12}


@pytest.fixture
def lab(cyrus_lab):
    started = cyrus_lab(partitions=LAB_PARTITIONS, admin_password="x" * 8 + "Secr3t-Pw-4-tests")
    for name, mib in LAB_USED.items():
        started.fill(name, mib)
    return started


def mailbox_task(arguments, check=False):
    return ("- name: mailboxes\n  imapops.cyrus.mailbox:" + LOGIN.replace("\n      ", "\n    ")
            + "".join("    %s\n" % line for line in arguments.strip("\n").splitlines())
            + ("  check_mode: true\n" if check else "") + "  register: result\n")


def run_mailbox(tmp_path, lab, arguments, check=False, expect_ok=True):
    directory = str(tmp_path / ("check" if check else "run"))
    os.makedirs(directory, exist_ok=True)
    inventory = write_inventory(directory, lab)
    playbook, out = playbook_with_result(directory, mailbox_task(arguments, check))
    proc = run_playbook(playbook, inventory)
    if expect_ok:
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return read_json(out)
    return proc


ALICE_BOB = """
mailboxes:
  - {user: alice, partition: p3, quota: 2048}
  - {user: bob}
subfolders: [Sent, Trash]
"""


def test_mailbox_module_check_then_run_then_rerun(tmp_path, lab):
    check = run_mailbox(tmp_path, lab, ALICE_BOB, check=True)
    assert check["changed"] is True
    # every parent first, then subfolders and quotas (a subfolder sent before its parent
    # exists would make Cyrus create the parent on a partition of its own choosing)
    planned = ['CREATE "user.alice" p3', 'CREATE "user.bob"',
               'CREATE "user.alice.Sent"', 'CREATE "user.alice.Trash"', 'SETQUOTA "user.alice" (STORAGE 2048)',
               'CREATE "user.bob.Sent"', 'CREATE "user.bob.Trash"']
    assert check["imap_commands"] == planned
    with lab.imap() as conn:
        typ, data = conn.list('""', '"user.*"')
        assert data == [None]  # check mode sent nothing

    first = run_mailbox(tmp_path / "1", lab, ALICE_BOB)
    assert first["imap_commands"] == planned
    by_user = {entry["user"]: entry for entry in first["mailboxes"]}
    assert by_user["alice"]["partition"] == "p3" and by_user["alice"]["quota"] == 2048
    # bob had no partition: Cyrus chose with its default freespace-most -> p1 (32 MiB free)
    assert by_user["bob"]["partition"] == "p1"
    assert lab.partition_of("user.bob") == "p1"
    assert lab.partition_of("user.alice.Sent") == "p3"

    second = run_mailbox(tmp_path / "2", lab, ALICE_BOB)
    assert second["changed"] is False
    assert second["imap_commands"] == []
    assert [m["partition"] for m in second["mailboxes"]] == ["p3", "p1"]


def test_existing_mailbox_is_never_moved(tmp_path, lab):
    run_mailbox(tmp_path / "1", lab, "name: user.carol\npartition: p2")
    moved = run_mailbox(tmp_path / "2", lab, "name: user.carol\npartition: p3")
    assert moved["changed"] is False and moved["imap_commands"] == []
    assert moved["mailboxes"][0]["partition"] == "p2"
    assert lab.partition_of("user.carol") == "p2"


def test_unknown_partition_fails_naming_it(tmp_path, lab):
    proc = run_mailbox(tmp_path, lab, "name: user.dan\npartition: nosuch", expect_ok=False)
    assert proc.returncode != 0
    assert 'CREATE "user.dan" nosuch failed' in proc.stdout
    assert "Unknown/invalid partition" in proc.stdout


def test_partition_facts_module_reports_lab_partitions(tmp_path, lab):
    directory = str(tmp_path)
    inventory = write_inventory(directory, lab)
    playbook, out = playbook_with_result(directory, """
- imapops.cyrus.partition_facts:
    imapd_conf: "{{ cyrus_imapd_conf }}"
  check_mode: true
  register: result
""")
    proc = run_playbook(playbook, inventory)
    assert proc.returncode == 0, proc.stdout
    facts = read_json(out)["ansible_facts"]
    names = [p["name"] for p in facts["cyrus_partitions"]]
    assert names == ["p1", "p2", "p3"]
    for fact in facts["cyrus_partitions"]:
        total, available, percent = lab.usage(fact["name"])
        assert (fact["total_kib"], fact["available_kib"]) == (total, available)
        assert fact["free_percent"] == percent
        assert fact["fstype"] == "tmpfs" and fact["measurable"] and fact["flags"] == []
    assert facts["cyrus_distribution"]["partition_select_mode"] == "freespace-most"


@pytest.mark.parametrize("content, expected", [
    ("partition-p1: /tmp\npartition_select_mode: freespace_most\n", r"line 2.*freespace_most"),
    ("partition-p1: /tmp\npartition-p1: /srv\n", r"line 2.*partition-p1"),
    ("partition-p1 : /tmp\n", r"line 1"),
])
def test_partition_facts_names_file_and_line_of_a_bad_imapd_conf(tmp_path, lab, content, expected):
    conf = tmp_path / "imapd.conf"
    conf.write_text(content)
    directory = str(tmp_path)
    inventory = write_inventory(directory, lab, {"cyrus_imapd_conf": str(conf)})
    playbook, _ = playbook_with_result(directory, """
- imapops.cyrus.partition_facts:
    imapd_conf: "{{ cyrus_imapd_conf }}"
""")
    proc = run_playbook(playbook, inventory)
    assert proc.returncode != 0
    assert str(conf) in proc.stdout
    assert re.search(expected, proc.stdout), proc.stdout


def test_partition_facts_unreadable_conf(tmp_path, lab):
    directory = str(tmp_path)
    inventory = write_inventory(directory, lab, {"cyrus_imapd_conf": "/nonexistent/imapd.conf"})
    playbook, _ = playbook_with_result(directory, """
- imapops.cyrus.partition_facts:
    imapd_conf: "{{ cyrus_imapd_conf }}"
""")
    proc = run_playbook(playbook, inventory)
    assert proc.returncode != 0
    assert "/nonexistent/imapd.conf" in proc.stdout and "No such file" in proc.stdout


def test_unknown_mode_in_filter_is_a_clear_error(tmp_path, lab):
    directory = str(tmp_path)
    inventory = write_inventory(directory, lab)
    playbook, _ = playbook_with_result(directory, """
- imapops.cyrus.partition_facts:
    imapd_conf: "{{ cyrus_imapd_conf }}"
- ansible.builtin.debug:
    msg: "{{ ansible_facts | imapops.cyrus.select_partition(mode='freespace_most') }}"
""")
    proc = run_playbook(playbook, inventory)
    assert proc.returncode != 0
    assert "select_partition: unknown selection mode 'freespace_most'" in proc.stdout


def test_unreachable_server_is_a_clear_error(tmp_path, lab):
    directory = str(tmp_path)
    inventory = write_inventory(directory, lab, {"cyrus_imap_port": 1})
    playbook, _ = playbook_with_result(directory, mailbox_task("name: user.erin"))
    proc = run_playbook(playbook, inventory)
    assert proc.returncode != 0
    assert "cannot connect to IMAP server 127.0.0.1:1" in proc.stdout


def test_wrong_password_fails_and_no_password_is_printed(tmp_path, lab):
    wrong = "Wr0ng-Password-That-Must-Not-Leak"
    directory = str(tmp_path)
    inventory = write_inventory(directory, lab, {"cyrus_admin_password": wrong})
    playbook, _ = playbook_with_result(directory, mailbox_task("name: user.frank"))
    proc = run_playbook(playbook, inventory, "-vvv")
    assert proc.returncode != 0
    assert "login as 'cyrusadmin' at 127.0.0.1:%d failed" % lab.port in proc.stdout
    assert wrong not in proc.stdout + proc.stderr


def test_cleartext_password_to_non_loopback_is_refused(tmp_path, lab):
    directory = str(tmp_path)
    inventory = write_inventory(directory, lab, {"cyrus_imap_host": "192.0.2.1"})  # TEST-NET, never contacted
    playbook, _ = playbook_with_result(directory, mailbox_task("name: user.gina"))
    proc = run_playbook(playbook, inventory)
    assert proc.returncode != 0
    assert "refusing to send the password in clear text to 192.0.2.1:" in proc.stdout


def test_onboarding_playbook_table_matches_server_and_rerun_changes_nothing(tmp_path, lab):
    directory = str(tmp_path)
    inventory = write_inventory(directory, lab)
    playbook = os.path.join(REPO_ROOT, "playbooks", "onboard.yml")
    users = '{"onboard_users": ["henry", {"user": "iris", "partition": "p2"}], "onboard_users_csv": ""}'
    proc = run_playbook(playbook, inventory, "-e", users, "-vvv")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert lab.admin_password not in proc.stdout + proc.stderr
    table = table_rows(proc.stdout)
    assert table == {"henry": lab.partition_of("user.henry"), "iris": lab.partition_of("user.iris")}
    assert table == {"henry": "p1", "iris": "p2"}
    assert lab.partition_of("user.henry.Drafts") == "p1"
    again = run_playbook(playbook, inventory, "-e", users)
    assert again.returncode == 0
    assert re.search(r"lab-backend\s*: ok=\d+\s+changed=0 ", again.stdout), again.stdout


def test_onboarding_sample_csv(tmp_path, lab):
    directory = str(tmp_path)
    inventory = write_inventory(directory, lab)
    proc = run_playbook(os.path.join(REPO_ROOT, "playbooks", "onboard.yml"), inventory)
    assert proc.returncode == 0, proc.stdout
    table = table_rows(proc.stdout)
    assert sorted(table) == ["alice", "bob", "carol", "dave", "erin"]
    for user, partition in table.items():
        assert lab.partition_of("user." + user) == partition


def test_onboarding_csv_error_names_the_line(tmp_path, lab):
    csv_path = tmp_path / "users.csv"
    csv_path.write_text("user,quota\nanna,10\nbad user,5\n")
    inventory = write_inventory(str(tmp_path), lab)
    proc = run_playbook(os.path.join(REPO_ROOT, "playbooks", "onboard.yml"), inventory,
                        "-e", "onboard_users_csv=%s" % csv_path)
    assert proc.returncode != 0
    assert "%s line 3: invalid user name 'bad user'" % csv_path in proc.stdout


def table_rows(stdout):
    """user -> partition from the placement table the role prints."""
    rows = {}
    for match in re.finditer(r'^\s*"(\S+)\s+(\S+)\s+(\S+)\s+(created|existed)"', stdout, re.MULTILINE):
        rows[match.group(1)] = match.group(2)
    return rows


def test_one_failing_mailbox_leaves_no_half_created_user(tmp_path, lab):
    proc = run_mailbox(tmp_path / "1", lab, """
mailboxes:
  - {user: ok1}
  - {user: broken, partition: nosuch}
  - {user: ok2, partition: p2}
subfolders: [Sent]
""", expect_ok=False)
    assert proc.returncode != 0
    assert "1 of 3 mailboxes failed" in proc.stdout
    assert 'CREATE "user.broken" nosuch failed' in proc.stdout
    with lab.imap() as conn:
        typ, data = conn.list('""', '"user.*"')
    listed = sorted(line.decode().split()[-1] for line in data)
    # the others are complete; neither user.broken nor its subfolder exists
    assert listed == ["user.ok1", "user.ok1.Sent", "user.ok2", "user.ok2.Sent"]
    again = run_mailbox(tmp_path / "2", lab, "mailboxes: [{user: ok1}, {user: ok2}]\nsubfolders: [Sent]")
    assert again["changed"] is False and again["imap_commands"] == []


def test_onboarding_in_batches_shows_progress(tmp_path, lab):
    inventory = write_inventory(str(tmp_path), lab)
    users = '{"onboard_users": ["b1", "b2", "b3", "b4", "b5"], "onboard_users_csv": "", "onboard_batch_size": 2}'
    proc = run_playbook(os.path.join(REPO_ROOT, "playbooks", "onboard.yml"), inventory, "-e", users)
    assert proc.returncode == 0, proc.stdout
    progress = re.findall(r"(\d+)/5 users done", proc.stdout)
    assert progress == ["2", "4", "5"]
    assert re.search(r"5/5 users done, 4 IMAP changes in this batch, [\d.]+ users/s", proc.stdout)
    table = table_rows(proc.stdout)
    assert sorted(table) == ["b1", "b2", "b3", "b4", "b5"]
    assert all(lab.partition_of("user." + user) == partition for user, partition in table.items())


@pytest.mark.parametrize("arguments, message", [
    ("mailboxes: [{user: small, quota: 100}, {user: huge, quota: 2147483648}]",
     "mailboxes[1] 'huge': quota 2147483648 KiB is over Cyrus's limit of 2147483647 KiB"),
    ("mailboxes: [{user: ok}, {user: first.last}]",
     "user 'first.last' contains the server's hierarchy separator '.'"),
])
def test_input_cyrus_would_choke_on_is_refused_before_anything_is_sent(tmp_path, lab, arguments, message):
    proc = run_mailbox(tmp_path, lab, arguments, expect_ok=False)
    assert proc.returncode != 0
    assert message in proc.stdout
    with lab.imap() as conn:
        typ, data = conn.list('""', '"user.*"')
    assert data == [None]  # nothing was created
