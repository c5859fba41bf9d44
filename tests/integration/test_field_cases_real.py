# -*- coding: utf-8 -*-
# Copyright: imapops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Field cases the real Cyrus 3.6.1 can show, next to what the collection says."""

import collections

from ansible_collections.imapops.cyrus.plugins.module_utils.facts import choose_partitions, gather_partition_facts
from ansible_collections.imapops.cyrus.plugins.module_utils.imap_client import CyrusImapConnection


def connect(lab):
    return CyrusImapConnection(lab.host, lab.port, lab.admin_user, lab.admin_password).connect()


def refused(imap, *args):
    typ, data = imap._command("CREATE", *args)
    return typ, b" ".join(d for d in data if isinstance(d, bytes)).decode()


def test_fc18_explicit_partition_is_case_sensitive(cyrus_lab):
    lab = cyrus_lab(partitions=(("fast", 16), ("slow", 16)))
    with connect(lab) as imap:
        typ, text = refused(imap, '"user.kim"', "Fast")
        assert typ == "NO" and "Unknown/invalid partition" in text
        imap.create("user.kim", "fast")
        assert imap.partition_of("user.kim")[0] == "fast"


def test_fc18_exclude_is_case_sensitive_so_cyrus_ignores_it(cyrus_lab):
    lab = cyrus_lab(partitions=(("fast", 32), ("slow", 16)), conf={"partition_select_exclude": "Fast"})
    partitions, settings, _ = gather_partition_facts(lab.imapd_conf)
    expected = choose_partitions(partitions, settings)[0][0]
    assert expected == "fast"
    with connect(lab) as imap:
        imap.create("user.lee")
        assert imap.partition_of("user.lee")[0] == expected


def test_fc17_doc_option_names_are_ignored_by_cyrus(cyrus_lab):
    lab = cyrus_lab(partitions=(("main", 16), ("archive", 64)),
                    conf={"partition_mode": "freespace-percent-most", "partition_mode_exclude": "archive",
                          "partition_mode_soft_usage_limit": "80"})
    lab.fill("main", 2)  # main: 87.5 % free but 14 MiB; archive: 100 % and 64 MiB
    partitions, settings, warnings = gather_partition_facts(lab.imapd_conf)
    assert settings["unknown_options"] == ["partition_mode", "partition_mode_exclude",
                                           "partition_mode_soft_usage_limit"]
    assert any("Cyrus reads partition_select_mode" in w for w in warnings)
    expected = choose_partitions(partitions, settings)[0][0]
    with connect(lab) as imap:
        imap.create("user.jack")
        assert imap.partition_of("user.jack")[0] == expected == "archive"


def test_fc19_one_session_piles_a_batch_on_one_partition(cyrus_lab):
    lab = cyrus_lab(partitions=(("p1", 32), ("p2", 31), ("p3", 16)), processes_per_connection_reuse=1)
    partitions, settings, _ = gather_partition_facts(lab.imapd_conf)
    planned = collections.Counter(choose_partitions(partitions, settings, count=60)[0])
    placed = collections.Counter()
    with connect(lab) as imap:
        for number in range(60):
            imap.create("user.u%04d" % number)
            placed[imap.partition_of("user.u%04d" % number)[0]] += 1
    assert placed == planned == collections.Counter({"p1": 60})


def test_fc16_random_mode_chooses_a_full_partition_and_the_create_dies(cyrus_lab):
    """Random mode ignores usage: Cyrus picks the full partition about half the time, the
    CREATE hits ENOSPC and that imapd process exits (the client sees the connection drop);
    the failed mailbox is not left in the mailbox list."""
    from ansible_collections.imapops.cyrus.plugins.module_utils.imap_client import ImapError
    lab = cyrus_lab(partitions=(("p1", 4), ("p2", 32)),
                    conf={"partition_select_mode": "random", "partition_select_soft_usage_limit": "90"})
    with open(lab.partition_paths["p1"] + "/filler", "wb") as handle:
        try:
            while True:
                handle.write(b"\0" * 65536)
                handle.flush()
        except OSError:
            pass
    outcomes = {}
    for number in range(40):
        name = "user.r%02d" % number
        imap = connect(lab)  # a fresh imapd (and a fresh draw) per attempt
        try:
            imap.create(name)
            outcomes[name] = imap.partition_of(name)[0]
        except ImapError as exc:
            assert "connection to %s:%d lost during CREATE" % (lab.host, lab.port) in str(exc)
            outcomes[name] = "died"
        finally:
            imap.close()
        if {"p2", "died"} <= set(outcomes.values()):
            break
    # P(40 fair draws all on one side) = 2**-39 per side
    assert set(outcomes.values()) == {"p2", "died"}
    with connect(lab) as imap:
        assert imap.existing(list(outcomes)) == set(n for n, where in outcomes.items() if where == "p2")
    enospc = [line for line in lab.syslog_lines() if "No space left on device" in line]
    assert any(lab.partition_paths["p1"] in line for line in enospc)
