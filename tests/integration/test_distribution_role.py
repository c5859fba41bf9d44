# -*- coding: utf-8 -*-
# Copyright: imapops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The distribution role on a real Cyrus 3.6.1 lab, by real ansible-playbook.

- A server restarted from the role-written imapd.conf starts, and a CREATE without a
  partition lands where ``select_partition`` says.
- A partition that still holds mailboxes is not removed unless forced.
- The SIGHUP handler makes master replace its idle processes, so new connections use the
  new settings; it never signals a process that is not Cyrus master.
"""

import grp
import json
import os
import pwd
import signal
import subprocess
import sys
import time

import pytest

from ansible_run import REPO_ROOT, read_json, run_playbook

MASTER = "/usr/lib/cyrus/bin/master"
CYR_INFO = "/usr/lib/cyrus/bin/cyr_info"
LAB_PARTITIONS = (("p1", 64), ("p2", 32), ("p3", 16))
# freespace-most picks p1 (32 MiB free), freespace-percent-most picks p2 (87.5 %)
LAB_USED = {"p1": 32, "p2": 4, "p3": 12}
PASSWORD = "x" * 8 + "Distribution-Role-Pw-4-tests"


@pytest.fixture
def lab_factory(cyrus_lab):
    def make(**options):
        options.setdefault("partitions", LAB_PARTITIONS)
        lab = cyrus_lab(admin_password=PASSWORD, **options)
        for name, mib in LAB_USED.items():
            lab.fill(name, mib)
        return lab
    return make


def run_role(directory, role_vars, after_tasks="", check=False):
    """Apply imapops.cyrus.distribution with ``role_vars`` (then flush handlers and run
    ``after_tasks``); return (CompletedProcess, the registered ``result`` or None)."""
    directory = str(directory)
    os.makedirs(directory, exist_ok=True)
    inventory = os.path.join(directory, "inventory.json")
    with open(inventory, "w") as handle:
        json.dump({"all": {"hosts": {"localhost": {"ansible_connection": "local",
                                                   "ansible_python_interpreter": sys.executable}}}}, handle)
    variables = os.path.join(directory, "vars.json")
    with open(variables, "w") as handle:
        json.dump(role_vars, handle)
    out = os.path.join(directory, "result.json")
    playbook = os.path.join(directory, "play.yml")
    with open(playbook, "w") as handle:
        handle.write("- hosts: all\n  gather_facts: false\n  tasks:\n"
                     "    - ansible.builtin.include_role:\n        name: imapops.cyrus.distribution\n"
                     "    - ansible.builtin.meta: flush_handlers\n")
        for line in after_tasks.strip("\n").splitlines():
            handle.write("    " + line + "\n")
        handle.write("    - ansible.builtin.copy:\n        content: '{{ result | to_json }}'\n"
                     "        dest: %s\n      check_mode: false\n      when: result is defined\n" % out)
    args = ["-e", "@" + variables, "--diff"] + (["--check"] if check else [])
    proc = run_playbook(playbook, inventory, *args)
    return proc, (read_json(out) if os.path.exists(out) else None)


def lab_role_vars(lab, **extra):
    role_vars = dict(
        distribution_imapd_conf=lab.imapd_conf,
        distribution_cyrus_conf=lab.cyrus_conf,
        distribution_partitions=[dict(name=name, path=path) for name, path in sorted(lab.partition_paths.items())],
    )
    role_vars.update(extra)
    return role_vars


def idle_imapds(lab):
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/cmdline" % entry, "rb") as handle:
                    argv = handle.read().decode(errors="replace").split("\0")
            except OSError:
                continue
            if argv[0].endswith("/imapd") and lab.imapd_conf in argv:
                pids.append(int(entry))
    return sorted(pids)


def wait_gone(pids, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(os.path.exists("/proc/%d" % pid) for pid in pids):
            return True
        time.sleep(0.05)
    return False


def create(lab, mailbox):
    conn = lab.imap()
    try:
        typ, data = conn.create(mailbox)
        assert typ == "OK", data
        return lab.partition_of(mailbox, conn)
    finally:
        conn.logout()


def restart_master(lab):
    """Stop master and start it again from the imapd.conf now on disk, the way a service
    manager starts Cyrus (master -C ... -M ... -d)."""
    pid = lab.master_pid
    os.kill(pid, signal.SIGTERM)
    assert wait_gone([pid] + idle_imapds(lab)), "master did not stop"
    launcher = subprocess.run([MASTER, "-C", lab.imapd_conf, "-M", lab.cyrus_conf, "-p", lab.pid_file,
                               "-L", lab.master_log, "-d"], cwd=lab.root, stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=30)
    assert launcher.returncode == 0, launcher.stderr
    deadline = time.monotonic() + 10
    while not (lab.greeting() or "").startswith("* OK"):
        assert time.monotonic() < deadline, "no greeting from the restarted server: %s" % lab.master_log
        time.sleep(0.05)
    assert lab.master_pid not in (None, pid)


def test_server_started_from_the_role_config_places_as_select_partition_says(lab_factory, tmp_path):
    lab = lab_factory()
    assert create(lab, "user.before") == "p1"  # freespace-most, before the role
    p4 = os.path.join(lab.root, "partitions", "p4")
    role_vars = lab_role_vars(
        lab,
        distribution_partitions=[dict(name=name, path=path) for name, path in sorted(lab.partition_paths.items())]
        + [dict(name="p4", path=p4)],
        distribution_partition_select_mode="freespace-percent-most",
        distribution_partition_select_exclude=["p4"],
        distribution_partition_select_usage_reinit=1,
    )
    after = ("- imapops.cyrus.partition_facts:\n    imapd_conf: %s\n"
             "- ansible.builtin.set_fact:\n    result: \"{{ ansible_facts | imapops.cyrus.select_partition }}\"\n"
             % lab.imapd_conf)
    proc, expected = run_role(tmp_path / "run", role_vars, after)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert expected == "p2"
    info = os.stat(p4)
    assert (info.st_uid, info.st_gid, info.st_mode & 0o7777) == (
        pwd.getpwnam("cyrus").pw_uid, grp.getgrnam("mail").gr_gid, 0o750)

    restart_master(lab)
    assert create(lab, "user.after") == expected
    assert create(lab, "user.after2") == expected
    assert lab.partition_of("user.before") == "p1"
    with open(lab.imapd_conf) as handle:
        text = handle.read()
    assert text.count("partition_select_mode: freespace-percent-most\n") == 1
    assert "partition-p4: %s\n" % p4 in text

    proc, _ = run_role(tmp_path / "rerun", role_vars)
    assert proc.returncode == 0 and "changed=0" in proc.stdout, proc.stdout


def test_partition_with_mailboxes_is_not_removed_unless_forced(lab_factory, tmp_path):
    lab = lab_factory()
    conn = lab.imap()
    try:
        typ, data = conn._simple_command("CREATE", "user.keeper", "p3")
        assert typ == "OK", data
    finally:
        conn.logout()
    with open(lab.imapd_conf, "rb") as handle:
        before = handle.read()
    absent = [dict(name="p2", state="absent"), dict(name="p3", state="absent")]

    proc, _ = run_role(tmp_path / "refused", lab_role_vars(lab, distribution_partitions=absent))
    assert proc.returncode != 0
    output = proc.stdout + proc.stderr
    assert "Partition p3 still holds 1 mailbox(es), for example user.keeper" in output
    assert "distribution_force" in output
    with open(lab.imapd_conf, "rb") as handle:
        assert handle.read() == before

    proc, _ = run_role(tmp_path / "forced", lab_role_vars(lab, distribution_partitions=absent,
                                                          distribution_force=True))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    conf = subprocess.run([CYR_INFO, "-C", lab.imapd_conf, "conf"], stdout=subprocess.PIPE,
                          universal_newlines=True, check=True).stdout
    assert "partition-p1:" in conf and "partition-p2:" not in conf and "partition-p3:" not in conf
    assert os.path.isdir(lab.partition_paths["p3"]), "the directory itself is never deleted"


def test_sighup_handler_replaces_idle_processes(lab_factory, tmp_path):
    lab = lab_factory(processes_per_connection_reuse=30)
    assert create(lab, "user.before") == "p1"
    time.sleep(0.2)
    idle = idle_imapds(lab)
    assert idle, "an imapd started with -U 30 waits for the next connection"
    role_vars = lab_role_vars(lab, distribution_partition_select_mode="freespace-percent-most",
                              distribution_reload="sighup", distribution_master_pid_file=lab.pid_file)

    proc, _ = run_role(tmp_path / "check", role_vars, check=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "partition_select_mode" not in open(lab.imapd_conf).read()
    assert all(os.path.exists("/proc/%d" % pid) for pid in idle), "check mode sends no signal"

    proc, _ = run_role(tmp_path / "run", role_vars)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Send SIGHUP to Cyrus master" in proc.stdout
    assert wait_gone(idle), "idle imapd processes end on SIGHUP"
    assert create(lab, "user.after") == "p2"

    proc, _ = run_role(tmp_path / "rerun", role_vars)
    assert proc.returncode == 0 and "changed=0" in proc.stdout, proc.stdout


def test_sighup_handler_signals_only_cyrus_master(tmp_path):
    if not os.access(CYR_INFO, os.X_OK):
        pytest.skip("Cyrus IMAP is not installed")
    os.chmod(str(tmp_path), 0o755)
    conf = tmp_path / "imapd.conf"
    with open(os.path.join(REPO_ROOT, "extensions", "molecule", "resources", "files", "debian-imapd.conf")) as handle:
        conf.write_text(handle.read())
    pid_file = tmp_path / "master.pid"
    pid_file.write_text("%d\n" % os.getpid())
    proc, _ = run_role(tmp_path / "run", dict(
        distribution_imapd_conf=str(conf), distribution_cyrus_conf="/nonexistent/cyrus.conf",
        distribution_partition_select_mode="random", distribution_reload="sighup",
        distribution_master_pid_file=str(pid_file)))
    assert proc.returncode != 0
    assert "which is not Cyrus master" in proc.stdout + proc.stderr
    assert "Send SIGHUP" not in proc.stdout
