# -*- coding: utf-8 -*-
# Copyright: imapops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Cyrus 3.6.1 itself is the judge: its choice for a CREATE without partition must be
the engine's, on real tmpfs partitions of different sizes."""

import errno
import os

import pytest

from ansible_collections.imapops.cyrus.plugins.module_utils.facts import (
    choose_partitions, gather_partition_facts, partition_chances)
from ansible_collections.imapops.cyrus.plugins.module_utils.imap_client import CyrusImapConnection

# (partitions as (name, MiB), used MiB per partition): every layout has distinct
# filesystems and no ties, so Cyrus's per-process hash order cannot change its choice.
LAYOUTS = [
    ((("p1", 64), ("p2", 32), ("p3", 16)), {"p1": 32, "p2": 4, "p3": 12}),
    ((("big", 96), ("mid", 48), ("small", 8)), {"big": 80, "mid": 8, "small": 1}),
    ((("a", 40), ("b", 40), ("c", 40), ("d", 40)), {"a": 10, "b": 30, "c": 5, "d": 20}),
    ((("x", 8), ("y", 64)), {"x": 0, "y": 60}),
]


def fill_until_full(path):
    with open(path, "wb") as handle:
        try:
            while True:
                handle.write(b"\0" * 65536)
                handle.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC


def admin_connection(lab):
    return CyrusImapConnection(lab.host, lab.port, lab.admin_user, lab.admin_password).connect()


def start_layout(cyrus_lab, layout, mode, extra_conf=None):
    partitions, used = layout
    conf = {"partition_select_mode": mode}
    conf.update(extra_conf or {})
    lab = cyrus_lab(partitions=partitions, conf=conf)
    for name, mib in used.items():
        if mib:
            lab.fill(name, mib)
    return lab


@pytest.mark.parametrize("mode", ["freespace-most", "freespace-percent-most"])
@pytest.mark.parametrize("layout", LAYOUTS, ids=["lab-default", "big-mid-small", "four-equal-size", "two"])
def test_cyrus_places_new_mailbox_where_engine_says(cyrus_lab, layout, mode):
    lab = start_layout(cyrus_lab, layout, mode)
    partitions, settings, _ = gather_partition_facts(lab.imapd_conf)
    assert settings["partition_select_mode"] == mode
    expected, _ = choose_partitions(partitions, settings)
    assert partition_chances(partitions, settings)[expected[0]] == 100.0
    with admin_connection(lab) as imap:
        imap.create("user.newcomer")
        partition, _ = imap.partition_of("user.newcomer")
    assert partition == expected[0]


def test_cyrus_and_engine_follow_a_change_of_free_space(cyrus_lab):
    """With imapd -U 1 every connection is a new process that measures again (spec §5)."""
    lab = start_layout(cyrus_lab, LAYOUTS[0], "freespace-most")
    for round_number, filler in enumerate([0, 40, 0]):
        if filler:
            lab.fill("p1", filler - 32 + 4)  # p1 drops below p2
        partitions, settings, _ = gather_partition_facts(lab.imapd_conf)
        expected = choose_partitions(partitions, settings)[0][0]
        name = "user.round%d" % round_number
        with admin_connection(lab) as imap:
            imap.create(name)
            assert imap.partition_of(name)[0] == expected
    assert expected == "p2"


def test_subfolder_follows_parent_partition_not_the_mode(cyrus_lab):
    lab = start_layout(cyrus_lab, LAYOUTS[0], "freespace-percent-most")
    with admin_connection(lab) as imap:
        imap.create("user.alice", "p3")
        imap.create("user.alice.Sent")
        assert imap.partition_of("user.alice")[0] == "p3"
        assert imap.partition_of("user.alice.Sent")[0] == "p3"


def test_explicit_partition_bypasses_exclude_and_soft_limit(cyrus_lab):
    lab = start_layout(cyrus_lab, LAYOUTS[0], "freespace-most",
                       {"partition_select_exclude": "p3", "partition_select_soft_usage_limit": "50"})
    partitions, settings, _ = gather_partition_facts(lab.imapd_conf)
    assert choose_partitions(partitions, settings)[0] == ["p2"]  # p1 is 50 % used: over the limit
    with admin_connection(lab) as imap:
        imap.create("user.pinned", "p3")
        imap.create("user.chosen")
        assert imap.partition_of("user.pinned")[0] == "p3"
        assert imap.partition_of("user.chosen")[0] == "p2"


def test_exclude_with_tab_and_comma_as_cyrus_reads_it(cyrus_lab):
    lab = start_layout(cyrus_lab, LAYOUTS[2], "freespace-most", {"partition_select_exclude": "c,\tb"})
    partitions, settings, _ = gather_partition_facts(lab.imapd_conf)
    assert settings["partition_select_exclude"] == ["c", "b"]
    expected = choose_partitions(partitions, settings)[0][0]
    assert expected == "a"  # c (35 MiB free) is excluded; a (30) beats d (20)
    with admin_connection(lab) as imap:
        imap.create("user.tabbed")
        assert imap.partition_of("user.tabbed")[0] == expected


def test_all_partitions_full_cyrus_refuses_and_engine_says_why(cyrus_lab):
    lab = cyrus_lab(partitions=(("p1", 4), ("p2", 4)), conf={"partition_select_mode": "freespace-most"})
    for name in ("p1", "p2"):
        fill_until_full(os.path.join(lab.partition_paths[name], "filler"))
    partitions, settings, _ = gather_partition_facts(lab.imapd_conf)
    assert [p["available_kib"] for p in partitions] == [0, 0]
    from ansible_collections.imapops.cyrus.plugins.module_utils.distribution import SelectionError
    with pytest.raises(SelectionError, match="Unknown/invalid partition"):
        choose_partitions(partitions, settings)
    imap = admin_connection(lab)
    try:
        typ, data = imap._command("CREATE", '"user.ivy"')
        assert typ == "NO"
        assert b"Unknown/invalid partition" in b" ".join(d for d in data if isinstance(d, bytes))
    finally:
        imap.close()


def test_a_created_mailbox_is_found_again_and_never_recreated(cyrus_lab):
    lab = start_layout(cyrus_lab, LAYOUTS[0], "freespace-most")
    with admin_connection(lab) as imap:
        imap.create("user.once", "p2")
        assert imap.existing(["user.once", "user.never"]) == {"user.once"}
        assert imap.commands == ['CREATE "user.once" p2']
