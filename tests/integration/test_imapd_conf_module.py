# -*- coding: utf-8 -*-
# Copyright: imapops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""imapops.cyrus.imapd_conf run by real ansible-playbook, checked by the real cyr_info.

Rhythm: check mode -> file unchanged -> real run with the exact changes -> re-run changes
nothing. A candidate Cyrus refuses is never installed, whichever check refuses it.
"""

import hashlib
import json
import os
import stat
import subprocess
import sys

import pytest

from ansible_run import REPO_ROOT, read_json, run_playbook

CYR_INFO = "/usr/lib/cyrus/bin/cyr_info"
DEBIAN_IMAPD_CONF = os.path.join(REPO_ROOT, "extensions", "molecule", "resources", "files", "debian-imapd.conf")

if not os.access(CYR_INFO, os.X_OK):
    pytest.skip("Cyrus IMAP is not installed (%s is absent)" % CYR_INFO, allow_module_level=True)


@pytest.fixture
def workdir(tmp_path):
    os.chmod(str(tmp_path), 0o755)
    return tmp_path


def run_tasks(directory, tasks, expect_ok=True):
    """Run ``tasks`` (YAML text) on localhost in one block; every ``register``ed result is
    written to results.json, even when a task fails. Returns (CompletedProcess, results)."""
    directory = str(directory)
    os.makedirs(directory, exist_ok=True)
    inventory = os.path.join(directory, "inventory.json")
    with open(inventory, "w") as handle:
        json.dump({"all": {"hosts": {"localhost": {"ansible_connection": "local",
                                                   "ansible_python_interpreter": sys.executable}}}}, handle)
    registered = [line.split("register:")[1].strip() for line in tasks.splitlines() if "register:" in line]
    out = os.path.join(directory, "results.json")
    playbook = os.path.join(directory, "play.yml")
    with open(playbook, "w") as handle:
        handle.write("- hosts: all\n  gather_facts: false\n  tasks:\n")
        handle.write("    - block:\n")
        for line in tasks.strip("\n").splitlines():
            handle.write("        " + line + "\n")
        handle.write("      always:\n")
        content = "{{ {%s} | to_json }}" % ", ".join('"%s": (%s | default(none))' % (name, name)
                                                    for name in registered)
        handle.write("        - ansible.builtin.copy:\n            content: %s\n"
                     "            dest: %s\n          check_mode: false\n" % (json.dumps(content), out))
    proc = run_playbook(playbook, inventory, "--diff")
    if expect_ok:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc, read_json(out)


def module_task(path, options=None, register="result", check=False, ignore_errors=False, **arguments):
    lines = ["- name: imapd.conf", "  imapops.cyrus.imapd_conf:", "    path: %s" % path]
    if options is not None:
        lines.append("    options: %s" % json.dumps(options))
    for key, value in arguments.items():
        lines.append("    %s: %s" % (key, json.dumps(value)))
    if check:
        lines.append("  check_mode: true")
    if ignore_errors:
        lines.append("  ignore_errors: true")
    lines.append("  register: %s" % register)
    return "\n".join(lines) + "\n"


def stat_task(path, register):
    return ("- ansible.builtin.stat:\n    path: %s\n    checksum_algorithm: sha1\n  register: %s\n"
            % (path, register))


def listing(directory):
    return sorted(os.listdir(str(directory)))


def debian_copy(workdir):
    path = workdir / "imapd.conf"
    with open(DEBIAN_IMAPD_CONF, "rb") as handle:
        path.write_bytes(handle.read())
    os.chmod(str(path), 0o644)
    return path


def cyr_info_conf(path, service="imap"):
    proc = subprocess.run([CYR_INFO, "-C", str(path), "-n", service, "conf-all"], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, check=True)
    return dict(line.split(": ", 1) if ": " in line else (line.rstrip(":"), "")
                for line in proc.stdout.splitlines())


OPTIONS = {"partition_select_mode": "freespace-percent-most", "defaultpartition": None,
           "partition-p4": "/srv/cyrus/p4", "partition_select_exclude": ["news"]}


def test_check_mode_then_run_then_rerun(workdir):
    path = debian_copy(workdir)
    before = path.read_bytes()
    tasks = (module_task(path, OPTIONS, register="check", check=True) + stat_task(path, "after_check")
             + module_task(path, OPTIONS, register="run") + module_task(path, OPTIONS, register="rerun"))
    _, results = run_tasks(workdir / "play", tasks)
    check, run, rerun = results["check"], results["run"], results["rerun"]

    expected_after = before.replace(b"defaultpartition: default\n", b"").replace(
        b"partition-news: /var/spool/cyrus/news\n",
        b"partition-news: /var/spool/cyrus/news\npartition_select_mode: freespace-percent-most\n"
        b"partition-p4: /srv/cyrus/p4\npartition_select_exclude: news\n")
    changes = [
        dict(option="partition_select_mode", action="added", before=None, after="freespace-percent-most",
             line=None, line_after=16),
        dict(option="defaultpartition", action="removed", before="default", after=None, line=12, line_after=None),
        dict(option="partition-p4", action="added", before=None, after="/srv/cyrus/p4", line=None, line_after=17),
        dict(option="partition_select_exclude", action="added", before=None, after="news", line=None,
             line_after=18),
    ]
    # check mode: the exact plan and diff, the file untouched, the candidate checked by Cyrus
    assert check["changed"] is True and check["changes"] == changes
    assert results["after_check"]["stat"]["checksum"] == hashlib.sha1(before).hexdigest()
    assert check["diff"]["before"] == before.decode() and check["diff"]["after"] == expected_after.decode()
    assert any(command.endswith(" conf-lint") for command in check["checks"])
    assert any(" -n lmtpunix conf" in command for command in check["checks"])
    # the real run: same changes, exact bytes, mode kept, nothing left over
    assert run["changed"] is True and run["changes"] == changes
    assert run["changed_options"] == ["partition_select_mode", "defaultpartition", "partition-p4",
                                      "partition_select_exclude"]
    assert path.read_bytes() == expected_after
    assert stat.S_IMODE(os.stat(str(path)).st_mode) == 0o644
    assert listing(workdir) == ["imapd.conf", "play"]
    assert "new processes only" in run["note"]
    # re-run: nothing
    assert rerun["changed"] is False and rerun["changes"] == [] and "backup_file" not in rerun
    # Cyrus reads what was asked
    effective = cyr_info_conf(path)
    assert effective["partition_select_mode"] == "freespace-percent-most"
    assert effective["partition_select_exclude"] == "news"
    assert effective["partition-p4"] == "/srv/cyrus/p4"
    assert effective.get("defaultpartition", "") == ""


def test_refused_candidate_is_never_installed(workdir):
    path = debian_copy(workdir)
    before = path.read_bytes()
    tasks = (module_task(path, {"partition_select_mode": "freespace_most"}, register="bad_mode",
                         ignore_errors=True)
             + module_task(path, {"defaultpartition": "nosuch"}, register="bad_default", ignore_errors=True)
             + module_task(path, {"partition_selct_mode": "random"}, register="typo", ignore_errors=True)
             + module_task(path, {"partition_mode": "random"}, register="doc_name", ignore_errors=True))
    _, results = run_tasks(workdir / "play", tasks)
    assert results["bad_mode"]["failed"] is True
    assert ("invalid value 'freespace_most' for partition_select_mode in line 17 "
            "(line 17 reads 'partition_select_mode: freespace_most')") in results["bad_mode"]["msg"]
    assert results["bad_mode"]["line"] == 17 and "the file was not changed" in results["bad_mode"]["msg"]
    assert "partition-nosuch option not specified" in results["bad_default"]["msg"]
    assert "does not know the option partition_selct_mode" in results["typo"]["msg"]
    assert "documentation page's name" in results["doc_name"]["msg"]
    assert path.read_bytes() == before
    assert listing(workdir) == ["imapd.conf", "play"]


def test_a_file_cyrus_refuses_is_not_installed_even_if_the_reader_accepts_it(workdir):
    """Cyrus has the last word: a cyr_info that refuses stops the write."""
    path = debian_copy(workdir)
    before = path.read_bytes()
    fake = workdir / "cyr_info"
    fake.write_text("#!/bin/sh\n# stands in for a Cyrus stricter than the collection's reader\n"
                    "for last; do :; done\n"
                    "if [ \"$last\" = conf ]; then echo \"fatal error: invalid value 'random' for "
                    "partition_select_mode in line 17\" >&2; exit 78; fi\nexit 0\n")
    os.chmod(str(fake), 0o755)
    tasks = module_task(path, {"partition_select_mode": "random"}, register="refused", ignore_errors=True,
                        cyr_info=str(fake))
    _, results = run_tasks(workdir / "play", tasks)
    refused = results["refused"]
    assert refused["failed"] is True and refused["changed"] is False
    assert refused["cyrus_message"] == "fatal error: invalid value 'random' for partition_select_mode in line 17"
    assert "(line 17 reads 'partition_select_mode: random')" in refused["msg"]
    assert path.read_bytes() == before
    assert listing(workdir) == ["cyr_info", "imapd.conf", "play"]


def test_real_cyr_info_refusal_is_quoted(workdir):
    """The check with the real binary, on a file the reader is not asked about."""
    from ansible_collections.imapops.cyrus.plugins.module_utils.imapd_conf_edit import (
        CyrusCheck, ImapdConfEditError)
    candidate = workdir / "candidate.conf"
    candidate.write_text("configdirectory: /var/lib/cyrus\npartition-p1: /srv/p1\n"
                         "partition_select_soft_usage_limit: 80%\n")
    with pytest.raises(ImapdConfEditError) as info:
        CyrusCheck(CYR_INFO, services=["imap"]).check(str(candidate), path="/etc/imapd.conf")
    assert info.value.cyrus_message == "fatal error: non-integer value for partition_select_soft_usage_limit in line 3"
    assert "(line 3 reads 'partition_select_soft_usage_limit: 80%')" in info.value.message
    candidate.write_text("configdirectory: /var/lib/cyrus\npartition-p1: /srv/p1\npartition_mode: random\n")
    assert CyrusCheck(CYR_INFO, services=["imap"]).check(str(candidate)) == ["partition_mode"]


def test_backup_owner_group_and_mode(workdir):
    path = debian_copy(workdir)
    before = path.read_bytes()
    os.chown(str(path), 0, 8)  # root:mail
    os.chmod(str(path), 0o640)
    _, results = run_tasks(workdir / "play", module_task(path, {"partition_select_mode": "random"},
                                                         register="result", backup=True))
    backup = results["result"]["backup_file"]
    assert os.path.dirname(backup) == str(workdir) and os.path.basename(backup).startswith("imapd.conf.")
    with open(backup, "rb") as handle:
        assert handle.read() == before
    for name in (str(path), backup):
        info = os.stat(name)
        assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (0, 8, 0o640)
    assert b"partition_select_mode: random\n" in path.read_bytes()


def test_duplicates_overrides_and_doc_names_are_reported(workdir):
    duplicated = workdir / "duplicated.conf"
    duplicated.write_text("configdirectory: /var/lib/cyrus\npartition-p1: /a\nadmins: x\nsasl_a: b\n"
                          "Partition-P1: /b\n")
    overridden = workdir / "overridden.conf"
    overridden.write_bytes(b"configdirectory: /var/lib/cyrus\r\npartition-p1: /a\r\n"
                           b"imap_partition_select_mode: random\r\npartition_mode: freespace-most\r\n")
    tasks = (module_task(duplicated, {"partition_select_mode": "random"}, register="dup", ignore_errors=True)
             + module_task(overridden, {"partition_select_mode": "freespace-percent-most"}, register="over")
             + module_task(overridden, {}, register="fixed", fix_doc_names=True))
    proc, results = run_tasks(workdir / "play", tasks)
    assert "partition-p1 on line 2 and line 5" in results["dup"]["msg"] and results["dup"]["lines"] == [2, 5]
    over = results["over"]
    assert [(o["key"], o["service"], o["value"]) for o in over["overrides"]] == [
        ("imap_partition_select_mode", "imap", "random")]
    assert [(d["key"], d["action"]) for d in over["doc_names"]] == [("partition_mode", "reported")]
    assert "overrides partition_select_mode for the service 'imap'" in proc.stdout + proc.stderr
    assert [(d["key"], d["action"]) for d in results["fixed"]["doc_names"]] == [("partition_mode", "removed")]
    assert overridden.read_bytes() == (b"configdirectory: /var/lib/cyrus\r\npartition-p1: /a\r\n"
                                       b"partition_select_mode: freespace-percent-most\r\n"
                                       b"imap_partition_select_mode: random\r\n")
    assert cyr_info_conf(overridden, "imap")["partition_select_mode"] == "random"
    assert cyr_info_conf(overridden, "pop3")["partition_select_mode"] == "freespace-percent-most"


def test_missing_file_is_created_only_when_asked(workdir):
    path = workdir / "new" / "imapd.conf"
    os.makedirs(str(path.parent))
    options = {"configdirectory": "/var/lib/cyrus", "partition-p1": "/srv/cyrus/p1"}
    tasks = (module_task(path, options, register="missing", ignore_errors=True)
             + module_task(path, {"partition-p1": "/srv/cyrus/p1"}, register="incomplete", ignore_errors=True,
                           create=True)
             + module_task(path, options, register="created", create=True))
    _, results = run_tasks(workdir / "play", tasks)
    assert "does not exist (set create=true" in results["missing"]["msg"]
    assert "configdirectory option not specified" in results["incomplete"]["msg"]
    assert results["created"]["changed"] is True
    assert path.read_text() == "configdirectory: /var/lib/cyrus\npartition-p1: /srv/cyrus/p1\n"
    info = os.stat(str(path))
    assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (0, 8, 0o640)
    assert listing(path.parent) == ["imapd.conf"]
