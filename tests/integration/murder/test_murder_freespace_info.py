# -*- coding: utf-8 -*-
# Copyright: imapops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""imapops.cyrus.freespace_info, run by ansible-playbook against a real Murder.

Cyrus's telemetry log on each backend records the frontend's own session with it: the
GETMETADATA the frontend sends before a CREATE and the value it gets back. The module must
ask for the same entry and return the same value, also for a backend in random mode (0;0).
"""

import json
import os

from ansible_run import read_json, run_playbook
from murder_helpers import disable_telemetry, enable_telemetry, fresh_create, telemetry_metadata

FREESPACE_TOTAL = "/shared/vendor/cmu/cyrus-imapd/freespace/total"
PERCENT_MOST = "/shared/vendor/cmu/cyrus-imapd/freespace/percent/most"

PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  tasks:
%s
    - ansible.builtin.copy:
        content: "{{ results | to_json }}"
        dest: %s
      check_mode: false
      vars:
        results: {%s}
"""


def freespace_playbook(directory, tasks, check_mode=()):
    """A playbook running freespace_info tasks (name -> module args) and saving their results;
    the tasks named in ``check_mode`` run in check mode."""
    out = os.path.join(directory, "results.json")
    lines = []
    for name, args in tasks.items():
        lines.append("    - name: %s\n      imapops.cyrus.freespace_info: %s\n      register: %s\n"
                     "      ignore_errors: true\n      check_mode: %s\n"
                     % (name, json.dumps(args), name, "true" if name in check_mode else "false"))
    path = os.path.join(directory, "freespace.yml")
    with open(path, "w") as handle:
        handle.write(PLAYBOOK % ("".join(lines), out, ", ".join("%s: '{{ %s }}'" % (n, n) for n in tasks)))
    return path, out


def module_args(lab, **extra):
    args = {"login_user": lab.admin_user, "login_password": "{{ hostvars['frontend'].cyrus_admin_password }}",
            "servers": lab.serverlist, "connect_timeout": 3}
    args.update(extra)
    return args


def frontend_probe(lab, mode):
    """What the frontend in ``mode`` reads from each backend, from the backends' telemetry.

    A CREATE of a mailbox that exists still makes the frontend measure every backend
    (Cyrus chooses the backend first) and then fails, with "Mailbox already exists" from the
    backend that has it or "unable to reserve mailbox on mupdate server" from another one:
    nothing changes on any partition.
    """
    lab.reconfigure_frontend(serverlist_select_mode=mode)
    for backend in lab.backends:
        enable_telemetry(backend, lab.admin_user)
    server, error = fresh_create(lab, "user.probe")
    assert server is None and ("already exists" in error or "unable to reserve" in error), error
    reads = {}
    for backend in lab.backends:
        reads[backend.server_name] = telemetry_metadata(backend, lab.admin_user)
        disable_telemetry(backend, lab.admin_user)
    return reads


def test_freespace_info_returns_what_the_frontend_reads_including_random_mode(murder_lab, tmp_path):
    lab = murder_lab()
    lab.reconfigure_backend("backend3", partition_select_mode="random")  # it answers 0;0
    assert fresh_create(lab, "user.probe")[1] is None
    inventory = lab.write_inventory(str(tmp_path / "inventory.yml"))
    playbook, out = freespace_playbook(str(tmp_path), {
        "most": module_args(lab, frontend_mode="freespace-most", entries="frontend"),
        "percent": module_args(lab, frontend_mode="freespace-percent-most", entries="frontend"),
        "everything": module_args(lab),
    })
    run = run_playbook(playbook, inventory, env={"ANSIBLE_PIPELINING": "1"})
    assert run.returncode == 0, run.stdout + run.stderr
    assert lab.admin_password not in run.stdout + run.stderr
    results = read_json(out)
    usage = [[backend.usage(p) for p in ("p1", "p2")] for backend in lab.backends]

    for task, mode, entry in (("most", "freespace-most", FREESPACE_TOTAL),
                              ("percent", "freespace-percent-most", PERCENT_MOST)):
        frontend_reads = frontend_probe(lab, mode)
        result = results[task]
        assert result["changed"] is False and result["unreachable_servers"] == []
        assert result["frontend_mode"] == mode
        for report, backend in zip(result["servers"], lab.backends):
            requested, answered = frontend_reads[backend.server_name]
            assert requested == [entry], "the frontend asks for exactly one entry"
            assert report["frontend_entry"] == entry and list(report["entries"]) == [entry]
            assert report["frontend_value"] == answered[entry], (mode, backend.server_name)
            available, total = (int(x) for x in answered[entry].split(";"))
            assert result["backends"][backend.server_name] == [available, total]
            everything = results["everything"]["servers"][lab.backends.index(backend)]
            pair = everything["total"] if entry == FREESPACE_TOTAL else everything["percent_most"]
            assert "%(available_kib)d;%(total_kib)d" % pair == answered[entry]
        random_report = result["servers"][2]
        assert random_report["frontend_value"] == "0;0"
        assert random_report["reachable"] and not random_report["measurable"]
        assert "random" in random_report["unmeasurable_reason"]
        assert result["unmeasurable"] == [lab.backend("backend3").server_name]

    everything = results["everything"]["servers"]
    for report in everything:
        assert report["freespace_kib"] == report["total"]["available_kib"]
    # backend1's answers are the spec §3 arithmetic on its two tmpfs mounts
    first = everything[0]
    assert [first["total"]["available_kib"], first["total"]["total_kib"]] == [
        usage[0][0][1] + usage[0][1][1], usage[0][0][0] + usage[0][1][0]]
    assert first["percent_most"]["free_percent"] == max(u[2] for u in usage[0])


def test_freespace_info_reports_an_unreachable_server_and_fails_only_when_asked(murder_lab, tmp_path):
    lab = murder_lab()
    lab.stop_backend("backend2")
    down = lab.backend("backend2").server_name
    inventory = lab.write_inventory(str(tmp_path / "inventory.yml"))
    playbook, out = freespace_playbook(str(tmp_path), {
        "reported": module_args(lab),
        "in_check_mode": module_args(lab),
        "strict": module_args(lab, fail_on_unreachable=True),
    }, check_mode=("in_check_mode",))
    run = run_playbook(playbook, inventory, env={"ANSIBLE_PIPELINING": "1"})
    assert run.returncode == 0, run.stdout + run.stderr
    results = read_json(out)
    for name in ("reported", "in_check_mode"):
        reported = results[name]
        assert not reported.get("failed") and reported["changed"] is False
        assert [u["name"] for u in reported["unreachable_servers"]] == [down]
        assert "Connection refused" in reported["unreachable_servers"][0]["error"]
        assert reported["backends"][down] is None
        assert [name for name, value in reported["backends"].items() if value] == [
            lab.backend("backend1").server_name, lab.backend("backend3").server_name]
        assert reported["unmeasurable"] == [down]
    strict = results["strict"]
    assert strict["failed"] and down in strict["msg"] and "Connection refused" in strict["msg"]
    assert [u["name"] for u in strict["unreachable_servers"]] == [down]
