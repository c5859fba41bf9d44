# -*- coding: utf-8 -*-
# Copyright: imapops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Murder clusters without servers: freespace parsing, the cluster plan, placement, report."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.imapops.cyrus.plugins.filter import cluster as cluster_filters
from ansible_collections.imapops.cyrus.plugins.module_utils import cluster, freespace
from ansible_collections.imapops.cyrus.plugins.module_utils.distribution import SelectionError
from ansible_collections.imapops.cyrus.plugins.module_utils.imap_client import ImapError

MIB = 1024
BE = ["be1:1431", "be2:1432", "be3:1433"]


def part(name, free_mib, total_mib, fsid):
    return {"name": name, "path": "/srv/" + name, "available_kib": free_mib * MIB, "total_kib": total_mib * MIB,
            "free_percent": free_mib * 100.0 / total_mib, "fsid": fsid, "measurable": True, "error": None,
            "flags": [], "fstype": "ext4", "mount_point": "/srv/" + name}


def facts(*partitions, **settings):
    distribution = {"partition_select_mode": "freespace-most", "partition_select_exclude": [],
                    "partition_select_soft_usage_limit": 0, "partition_select_usage_reinit": 0,
                    "defaultpartition": None}
    distribution.update(settings)
    return {"cyrus_partitions": list(partitions), "cyrus_distribution": distribution}


# backend totals: be1 60/100, be2 90/200 (best sum), be3 45/50 (best percent, 90 %)
CLUSTER = {
    "be1:1431": facts(part("p1", 50, 80, 1), part("p2", 10, 20, 2)),
    "be2:1432": facts(part("p1", 40, 100, 3), part("p2", 50, 100, 4)),
    "be3:1433": facts(part("p1", 45, 50, 5)),
}
FRONTEND = {"serverlist": BE, "serverlist_select_mode": "freespace-most",
            "serverlist_select_soft_usage_limit": 0, "serverlist_select_usage_reinit": 0}


# --------------------------------------------------------------------------- freespace

@pytest.mark.parametrize("item, expected", [
    ("be1.example.org", {"name": "be1.example.org", "host": "be1.example.org", "port": None}),
    ("127.0.0.21:14301", {"name": "127.0.0.21:14301", "host": "127.0.0.21", "port": 14301}),
    ("be1:imap/tls", {"name": "be1:imap/tls", "host": "be1", "port": 143}),
    ({"name": "backend2", "host": "10.0.0.2", "port": "993"}, {"name": "backend2", "host": "10.0.0.2", "port": 993}),
    ({"host": "10.0.0.3", "port": 1143}, {"name": "10.0.0.3:1143", "host": "10.0.0.3", "port": 1143}),
])
def test_parse_server_splits_like_cyrus(item, expected):
    assert freespace.parse_server(item) == expected


def test_parse_server_default_port_and_errors():
    assert freespace.parse_server("be1", default_port=1143)["port"] == 1143
    for bad in (7, {"name": "x", "colour": "red"}, {}, "be1:nosuchservice", {"host": "h", "port": 70000},
                {"host": "h", "port": True}):
        with pytest.raises(SelectionError):
            freespace.parse_server(bad)


class FakeConnection(object):
    def __init__(self, answers, asked):
        self.answers, self.asked, self.closed = answers, asked, False

    def metadata(self, mailbox, entries):
        assert mailbox == ""
        self.asked.append(list(entries))
        return dict((entry, self.answers.get(entry)) for entry in entries)

    def close(self):
        self.closed = True


def fake_connect(answers_by_host, asked):
    def connect(host, port):
        if answers_by_host.get(host) is None:
            raise ImapError("cannot connect to IMAP server %s:%s: Connection refused" % (host, port))
        return FakeConnection(answers_by_host[host], asked)
    return connect


ANSWERS = {freespace.FREESPACE: "73728", freespace.FREESPACE_TOTAL: "73728;98304",
           freespace.FREESPACE_PERCENT_MOST: "57344;65536"}


def test_read_freespace_parses_all_three_entries():
    asked = []
    report = freespace.read_freespace(fake_connect({"be1": ANSWERS}, asked), freespace.parse_server("be1:1431"))
    assert asked == [[freespace.FREESPACE, freespace.FREESPACE_TOTAL, freespace.FREESPACE_PERCENT_MOST]]
    assert report["reachable"] and report["measurable"] and report["error"] is None
    assert report["freespace_kib"] == 73728
    assert report["total"] == {"available_kib": 73728, "total_kib": 98304, "free_percent": 75.0}
    assert report["percent_most"] == {"available_kib": 57344, "total_kib": 65536, "free_percent": 87.5}
    assert report["frontend_entry"] == freespace.FREESPACE_TOTAL and report["frontend_value"] == "73728;98304"


def test_read_freespace_as_a_frontend_asks_one_entry_per_mode():
    for mode, entry in (("freespace-most", freespace.FREESPACE_TOTAL),
                        ("freespace-percent-weighted", freespace.FREESPACE_PERCENT_MOST)):
        asked = []
        report = freespace.read_freespace(fake_connect({"be1": ANSWERS}, asked), freespace.parse_server("be1"),
                                          entries="frontend", frontend_mode=mode)
        assert asked == [[entry]] and list(report["entries"]) == [entry]
        assert report["frontend_value"] == ANSWERS[entry]


def test_read_freespace_random_mode_and_unreachable_are_unmeasurable():
    asked = []
    zero = {freespace.FREESPACE: "0", freespace.FREESPACE_TOTAL: "0;0", freespace.FREESPACE_PERCENT_MOST: "0;0"}
    connect = fake_connect({"be1": zero}, asked)
    report = freespace.read_freespace(connect, freespace.parse_server("be1"))
    assert report["reachable"] and not report["measurable"] and "random" in report["unmeasurable_reason"]
    down = freespace.read_freespace(connect, freespace.parse_server("be2:1432"))
    assert not down["reachable"] and "Connection refused" in down["error"]
    assert down["unmeasurable_reason"].startswith("unreachable")
    odd = freespace.read_freespace(fake_connect({"be1": {freespace.FREESPACE_TOTAL: "5;4"}}, []),
                                   freespace.parse_server("be1"), entries="frontend")
    assert not odd["measurable"] and "exceeds" in odd["unmeasurable_reason"]
    garbage = freespace.read_freespace(fake_connect({"be1": {freespace.FREESPACE_TOTAL: "lots"}}, []),
                                       freespace.parse_server("be1"), entries="frontend")
    assert not garbage["measurable"] and "cannot parse" in garbage["unmeasurable_reason"]
    assert freespace.backends_input([report, down]) == {"be1": [0, 0], "be2:1432": None}
    with pytest.raises(SelectionError):
        freespace.read_freespace(connect, freespace.parse_server("be1"), entries="some")


# --------------------------------------------------------------------------- plan

def plan(users, backends=None, **options):
    batches, warnings = cluster.cluster_plan(users, CLUSTER if backends is None else backends,
                                             settings=dict(FRONTEND, **options.pop("frontend", {})),
                                             backend_facts=options.pop("backend_facts", CLUSTER), **options)
    return batches, warnings


def flat(batches):
    return dict((m["user"], (b["server"], m.get("partition"))) for b in batches for m in b["mailboxes"])


def test_plan_most_modes_put_a_batch_on_one_backend_and_its_best_partition():
    batches, _ = plan(["a", "b", "c"])
    assert batches == [{"server": "be2:1432", "mailboxes": [
        {"user": u, "server": "be2:1432", "partition": "p2"} for u in ("a", "b", "c")]}]
    batches, _ = plan(["a"], frontend={"serverlist_select_mode": "freespace-percent-most"})
    assert flat(batches) == {"a": ("be3:1433", "p1")}


def test_plan_from_freespace_values_equals_plan_from_facts():
    values = {"be1:1431": "61440;102400", "be2:1432": [92160, 204800], "be3:1433": "46080;51200"}
    for mode in ("freespace-most", "freespace-percent-most"):
        assert flat(plan(["a"], values, frontend={"serverlist_select_mode": mode})[0]) == \
            flat(plan(["a"], frontend={"serverlist_select_mode": mode})[0])


def test_plan_weighted_spreads_reproducibly_with_a_seed():
    users = ["u%d" % i for i in range(40)]
    one = flat(plan(users, frontend={"serverlist_select_mode": "freespace-percent-weighted"}, seed="s")[0])
    two = flat(plan(users, frontend={"serverlist_select_mode": "freespace-percent-weighted"}, seed="s")[0])
    assert one == two and len(set(server for server, _ in one.values())) == 3


def test_plan_pins_existing_quota_and_create_via_backend():
    users = [{"user": "a", "server": "backend1"}, {"user": "b", "server": "be3:1433", "partition": "p1"},
             {"user": "c", "quota": 10}, "d"]
    batches, _ = plan(users, existing=["d"], aliases={"backend1": "be1:1431"}, default_quota=99, create_via="backend")
    assert batches == [
        {"server": "be1:1431", "mailboxes": [{"user": "a", "partition": "p1", "quota": 99}]},
        {"server": "be2:1432", "mailboxes": [{"user": "c", "partition": "p2", "quota": 10}]},
        {"server": "be3:1433", "mailboxes": [{"user": "b", "partition": "p1", "quota": 99}]},
    ]
    assert plan(["a", "b"], existing=["a", "b"])[0] == []


def test_plan_refuses_what_a_murder_cannot_do():
    with pytest.raises(SelectionError, match="without a server"):
        plan([{"user": "a", "partition": "p1"}])
    with pytest.raises(SelectionError, match="not in the serverlist"):
        plan([{"user": "a", "server": "elsewhere"}])
    with pytest.raises(SelectionError, match="needs create_via 'frontend'"):
        plan(["a"], placement="cyrus", create_via="backend")
    with pytest.raises(SelectionError, match="name a server"):
        plan([{"user": "a", "server": "be1:1431"}], placement="cyrus")
    with pytest.raises(SelectionError, match="serverlist is empty"):
        plan(["a"], frontend={"serverlist": []}, backends={})


def test_plan_cyrus_placement_sends_no_server_and_no_partition():
    batches, _ = plan(["a", {"user": "b", "quota": 5}], placement="cyrus")
    assert batches == [{"server": None, "mailboxes": [{"user": "a"}, {"user": "b", "quota": 5}]}]


def test_plan_unreachable_backend_policies():
    down = dict(CLUSTER)
    down["be2:1432"] = None
    with pytest.raises(SelectionError, match="be2:1432"):
        plan(["a"], down)
    batches, warnings = plan(["a"], down, on_unmeasurable="skip")
    assert flat(batches) == {"a": ("be1:1431", "p1")}
    assert any("be2:1432" in w for w in warnings)
    # Cyrus itself: be2 (position 2) keeps id 0, is dropped as a duplicate of be1 -> be1
    batches, _ = plan(["a"], down, on_unmeasurable="random")
    assert flat(batches) == {"a": ("be1:1431", "p1")}
    # IMAP down although its facts are fine: the same
    assert flat(plan(["a"], unreachable=["be2:1432"], on_unmeasurable="skip")[0]) == {"a": ("be1:1431", "p1")}


def test_plan_leaves_out_a_backend_without_partition_facts():
    values = {"be1:1431": "61440;102400", "be2:1432": "92160;204800", "be3:1433": "46080;51200"}
    partial = dict((k, v) for k, v in CLUSTER.items() if k != "be2:1432")
    batches, warnings = plan(["a"], values, backend_facts=partial, on_unmeasurable="skip")
    assert flat(batches) == {"a": ("be1:1431", "p1")}
    assert any("no partition facts" in w for w in warnings)


# --------------------------------------------------------------------------- placement

BATCHES = [{"server": "be1:1431", "mailboxes": [{"user": "a", "server": "be1:1431", "partition": "p1"}]},
           {"server": "be2:1432", "mailboxes": [{"user": "b", "server": "be2:1432", "partition": "p2"},
                                                {"user": "c", "server": "be2:1432", "partition": "p2"}]}]


def created(batch, commands, failed=False, msg=None, errors=None):
    mailboxes = [{"user": m["user"], "name": "user." + m["user"], "created": True, "existed": False,
                  "partition": None, "server": None} for m in batch["mailboxes"]]
    for entry in mailboxes:
        if errors and entry["user"] in errors:
            entry["error"] = errors[entry["user"]]
    return {"item": batch, "failed": failed, "msg": msg, "imap_commands": commands, "mailboxes": mailboxes}


FULL = ['CREATE "user.a" be1:1431!p1', 'CREATE "user.a.Sent"']


def test_placement_statuses():
    existing = [{"user": "z", "name": "user.z", "exists": True, "server": "be3:1433"},
                {"user": "a", "name": "user.a", "exists": False}]
    results = [created(BATCHES[0], FULL),
               created(BATCHES[1], ['CREATE "user.b" be2:1432!p2'], failed=True, msg="1 of 2 failed",
                       errors={"c": 'CREATE "user.c" be2:1432!p2 failed: Server(s) unavailable'})]
    read_back = [{"mailboxes": [{"user": "a", "exists": True, "partition": "p1"},
                                {"user": "z", "exists": True, "partition": "p9"}]}]
    rows = cluster.cluster_placement(["a", "b", "c", "z", "y"], existing=existing, created=results,
                                     read_back=read_back, hosts={"be1:1431": "backend1"}, folders=["Sent"])
    by_user = dict((row["user"], row) for row in rows)
    assert by_user["a"] == {"user": "a", "backend": "backend1", "server": "be1:1431", "partition": "p1",
                            "status": "created", "error": None}
    assert by_user["b"]["status"] == "incomplete"  # INBOX made, Sent missing
    assert by_user["c"]["status"] == "failed" and "Server(s) unavailable" in by_user["c"]["error"]
    assert by_user["z"]["status"] == "existed" and by_user["z"]["partition"] == "p9"
    assert by_user["y"]["status"] == "missing"
    skipped = cluster.cluster_placement(["c"], created=results[1:], failure_status="skipped")
    assert skipped[0]["status"] == "skipped"
    planned = cluster.cluster_placement(["a"], created=[created(BATCHES[0], [])], check_mode=True)
    assert planned[0]["status"] == "planned" and planned[0]["partition"] == "p1"
    table = cluster.placement_rows_table(rows)
    assert table[0].split() == ["user", "backend", "server", "partition", "status", "error"]
    assert table[1].split()[:5] == ["a", "backend1", "be1:1431", "p1", "created"]


def test_users_by_server_for_reading_back():
    existing = [{"user": "z", "exists": True, "server": "be3:1433"}]
    assert cluster.servers_of_users(["a", "b", "c", "z"], existing, BATCHES) == {
        "be1:1431": [{"user": "a"}], "be2:1432": [{"user": "b"}, {"user": "c"}], "be3:1433": [{"user": "z"}]}
    assert cluster.user_items(["a", {"user": "b", "quota": 1}]) == [{"user": "a"}, {"user": "b"}]


# --------------------------------------------------------------------------- report

def gathered(server, backend_facts, imap_value="61440;102400"):
    return {"host": server.split(":")[0], "server_name": server,
            "partition_facts": {"changed": False, "ansible_facts": backend_facts, "warnings": ["w"]},
            "freespace": {"servers": [{"reachable": imap_value is not None, "measurable": imap_value is not None,
                                       "error": None if imap_value else "Connection refused",
                                       "unmeasurable_reason": None,
                                       "entries": {freespace.FREESPACE_TOTAL: imap_value,
                                                   freespace.FREESPACE_PERCENT_MOST: imap_value}}]}}


def test_report_lists_every_backend_and_every_failure():
    be1 = facts(part("p1", 50, 80, 1), part("p2", 10, 20, 2))
    be1["cyrus_distribution"].update(freespace_total=[61440, 102400], freespace_percent_most=[51200, 81920])
    records = [
        gathered("be1:1431", be1),
        gathered("be2:1432", be1, imap_value=None),
        {"host": "ghost", "server_name": "be3:1433",
         "partition_facts": {"unreachable": True, "msg": "ssh: connect to host ghost port 22: Connection refused"},
         "freespace": {"failed": True, "msg": "Timed out after 4 second(s)."}},
        {"host": "never", "partition_facts": None, "freespace": None},
    ]
    report = cluster.cluster_report(records, frontend=FRONTEND)
    assert report["summary"] == {"backends": 4, "ok": 1, "failed": 3}
    first = report["backends"][0]
    assert first["ok"] and [p["name"] for p in first["partitions"]] == ["p1", "p2"]
    assert first["partitions"][0]["used_kib"] == 30 * MIB and first["partitions"][0]["used_percent"] == 37.5
    assert first["partitions"][0]["state"] == "candidate" and first["chances"] == {"p1": 100.0, "p2": 0.0}
    assert first["settings"]["partition_select_mode"] == "freespace-most"
    assert first["answers"]["freespace_total"] == [61440, 102400]
    reasons = dict((f["host"], " ".join(f["reasons"])) for f in report["failed"])
    assert "imap: Connection refused" in reasons["be2"]
    assert "unreachable" in reasons["ghost"] and "Timed out" in reasons["ghost"]
    assert "no result" in reasons["never"]
    view = report["frontend"]
    assert view["values"] == {"be1:1431": "61440;102400", "be2:1432": None, "be3:1433": None}
    assert view["choice"] is None and "cannot measure" in view["choice_error"]
    # what Cyrus does: be2 and be3 keep id 0 and are dropped as duplicates of be1
    assert view["cyrus_chances"] == {"be1:1431": 100.0, "be2:1432": 0.0, "be3:1433": 0.0}
    table = cluster.cluster_report_table(report)
    assert table[0].split()[:3] == ["backend", "server", "partition"]
    assert any(line.startswith("FAILED ghost") for line in table)
    assert any("DOWN" in line for line in table)
    assert "4 backends, 1 ok, 3 failed" in table


# --------------------------------------------------------------------------- filters

def test_filters_are_thin_and_raise_ansible_errors():
    assert cluster_filters.cluster_plan(["a"], CLUSTER, settings=FRONTEND, backend_facts=CLUSTER) == \
        plan(["a"])[0]
    with pytest.raises(AnsibleFilterError, match="cluster_plan: .*be2:1432"):
        cluster_filters.cluster_plan(["a"], dict(CLUSTER, **{"be2:1432": None}), settings=FRONTEND)
    with pytest.raises(AnsibleFilterError, match="cluster_report"):
        cluster_filters.cluster_report("not a list")
    names = set(cluster_filters.FilterModule().filters())
    assert names == {"cluster_plan", "cluster_users_by_server", "cluster_user_items", "cluster_placement",
                     "cluster_placement_table", "cluster_report", "cluster_report_table"}
