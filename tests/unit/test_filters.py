# -*- coding: utf-8 -*-
# Copyright: imapops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The filter plugins: thin layers over the engine, with Ansible errors."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.imapops.cyrus.plugins.filter import onboarding as onboarding_filters
from ansible_collections.imapops.cyrus.plugins.filter import placement

GIB = 1024 * 1024


def part(name, free_gib, total_gib, fsid, **extra):
    entry = {"name": name, "path": "/srv/" + name, "available_kib": free_gib * GIB, "total_kib": total_gib * GIB,
             "fsid": fsid, "measurable": True, "error": None, "flags": []}
    entry.update(extra)
    return entry


DOC = [part("part1", 400, 1000, 1), part("part2", 600, 1000, 2), part("part3", 30, 100, 3),
       part("part4", 70, 100, 4)]


def facts(partitions=None, **settings):
    distribution = {"partition_select_mode": "freespace-most", "partition_select_exclude": [],
                    "partition_select_soft_usage_limit": 0, "partition_select_usage_reinit": 0,
                    "defaultpartition": None}
    distribution.update(settings)
    return {"cyrus_partitions": DOC if partitions is None else partitions, "cyrus_distribution": distribution}


def test_select_partition_uses_gathered_settings_by_default():
    assert placement.select_partition(facts()) == "part2"
    assert placement.select_partition(facts(partition_select_mode="freespace-percent-most")) == "part4"
    assert placement.select_partition(facts(), mode="freespace-percent-most") == "part4"


def test_select_partition_accepts_the_bare_list_with_settings():
    settings = facts(partition_select_mode="freespace-percent-most")["cyrus_distribution"]
    assert placement.select_partition(DOC, settings=settings) == "part4"


def test_count_makes_a_batch_like_one_cyrus_process():
    assert placement.select_partition(facts(), count=3) == ["part2", "part2", "part2"]


def test_seed_is_reproducible_and_matters():
    one = placement.select_partition(facts(), count=30, mode="freespace-percent-weighted", seed="mx1")
    assert one == placement.select_partition(facts(), count=30, mode="freespace-percent-weighted", seed="mx1")
    other = placement.select_partition(facts(), count=30, mode="freespace-percent-weighted", seed="mx2")
    assert one != other
    assert set(one) <= {"part1", "part2", "part3", "part4"}


def test_defaultpartition_wins_unless_disabled():
    gathered = facts(defaultpartition="part3")
    assert placement.select_partition(gathered) == "part3"
    assert placement.placement_chances(gathered) == {"part1": 0.0, "part2": 0.0, "part3": 100.0, "part4": 0.0}
    assert placement.select_partition(gathered, use_defaultpartition=False) == "part2"


def test_defaultpartition_without_partition_is_an_error():
    with pytest.raises(AnsibleFilterError, match="defaultpartition 'main' has no partition-main"):
        placement.select_partition(facts(defaultpartition="main"))


def test_unmeasurable_fails_by_default_naming_the_partition():
    broken = DOC[:1] + [part("p9", 0, 0, 0, measurable=False, available_kib=None, total_kib=None,
                             error="ESTALE: Stale file handle")]
    with pytest.raises(AnsibleFilterError, match="select_partition: cannot measure 'p9': ESTALE"):
        placement.select_partition(facts(broken))
    assert placement.select_partition(facts(broken), on_unmeasurable="skip") == "part1"
    assert placement.placement_chances(facts(broken), on_unmeasurable="random") == {"part1": 50.0, "p9": 50.0}


def test_missing_facts_for_a_partition_refuse_to_select():
    """FC-21: facts lacking a partition's figures must not be guessed from other mounts."""
    incomplete = DOC[:1] + [{"name": "p2", "path": "/srv/cyrus/p2"}]
    with pytest.raises(AnsibleFilterError, match="'p2'"):
        placement.select_partition(facts(incomplete))


def test_unmounted_partitions_are_left_out_by_default():
    flag = {"flag": "root-filesystem", "message": "partition p2 resolves to the root filesystem"}
    layout = [part("p1", 100, 1000, 1), part("p2", 30, 50, 2, flags=[flag])]
    assert placement.select_partition(facts(layout), mode="freespace-percent-most") == "p1"
    assert placement.select_partition(facts(layout), mode="freespace-percent-most", unmounted="include") == "p2"


def test_nothing_to_choose_explains_why():
    full = [part("a", 0, 10, 1), part("b", 0, 10, 2)]
    with pytest.raises(AnsibleFilterError, match="a: full, b: full.*Unknown/invalid partition"):
        placement.select_partition(facts(full))


def test_bad_input_type_is_named():
    with pytest.raises(AnsibleFilterError, match="expected ansible_facts with cyrus_partitions"):
        placement.select_partition("p1")


def test_select_backend_from_values_and_facts():
    backends = {"backend1": "300000000;1000000000", "backend2": [600000000, 1000000000],
                "backend3": facts([part("x", 1, 10, 7)])}
    assert placement.select_backend(backends, mode="freespace-most",
                                    serverlist="backend1 backend2 backend3") == "backend2"
    assert placement.select_backend(backends, mode="freespace-percent-most") == "backend2"


def test_select_backend_unreachable_fails_by_default_or_follows_policy():
    backends = {"backend1": "300000000;1000000000", "backend2": None, "backend3": "600000000;1000000000"}
    with pytest.raises(AnsibleFilterError, match="cannot measure 'backend2'"):
        placement.select_backend(backends, serverlist="backend1,backend2,backend3")
    assert placement.select_backend(backends, serverlist="backend1,backend2,backend3",
                                    on_unmeasurable="skip") == "backend3"


def test_select_backend_random_mode_backend_answers_0_0():
    backends = {"backend1": "0;0", "backend2": "600000000;1000000000"}
    chances = placement.placement_chances(backends, serverlist=["backend1", "backend2"], on_unmeasurable="random")
    assert chances == {"backend1": 50.0, "backend2": 50.0}


def test_select_backend_uses_frontend_settings():
    settings = {"serverlist": ["b1", "b2"], "serverlist_select_mode": "freespace-percent-most",
                "serverlist_select_soft_usage_limit": 0, "serverlist_select_usage_reinit": 0}
    backends = {"b1": "900;1000", "b2": "5000;10000"}
    assert placement.select_backend(backends, settings=settings) == "b1"


def test_placement_plan_and_table():
    plan = onboarding_filters.placement_plan(["u1", {"user": "u2", "partition": "part1", "quota": "5"}],
                                             facts(), quota=100)
    assert plan == [{"user": "u1", "partition": "part2", "quota": 100},
                    {"user": "u2", "partition": "part1", "quota": 5}]
    assert onboarding_filters.placement_plan(["u1"], facts(), placement="cyrus") == [{"user": "u1"}]
    table = onboarding_filters.placement_table([
        {"user": "u1", "partition": "part2", "server": None, "created": True},
        {"name": "shared.x", "partition": "part1", "created": False}])
    assert table == ["user      partition  server  status", "u1        part2      -       created",
                     "shared.x  part1      -       existed"]


@pytest.mark.parametrize("text, message", [
    ("name\nx\n", "line 1: the header must name a 'user' column"),
    ("user\nok\nbad user\n", "users.csv line 3: invalid user name 'bad user'"),
    ("user,quota\nok,12%\n", "users.csv line 2: quota must be a whole number"),
    ("user\nsame\nsame\n", "user 'same' is listed twice"),
    ("user,color\nx,red\n", "users.csv line 2: unknown columns color"),
])
def test_users_from_csv_errors_name_the_line(text, message):
    with pytest.raises(AnsibleFilterError, match=message):
        onboarding_filters.users_from_csv(text, source="users.csv")


def test_users_from_csv_reads_optional_columns():
    text = "user, quota ,partition\r\nalice,1024,p1\r\n\r\nbob,,\r\n"
    assert onboarding_filters.users_from_csv(text) == [
        {"user": "alice", "quota": 1024, "partition": "p1"}, {"user": "bob"}]


def test_expected_mailbox_size_spreads_a_batch_as_space_would_be_used():
    """FC-19's layout: without it 1000 users pile onto p1; with 1 GB each they spread so that
    every partition ends with about the same free space (500+490+300-1000)/3 GB."""
    layout = [part("p1", 500, 1000, 1), part("p2", 490, 1000, 2), part("p3", 300, 1000, 3)]
    piled = placement.select_partition(facts(layout), count=1000)
    assert set(piled) == {"p1"}
    spread = placement.select_partition(facts(layout), count=1000, expected_mailbox_kib=GIB)
    final_free = (500 + 490 + 300 - 1000) / 3.0
    for name, start in (("p1", 500), ("p2", 490), ("p3", 300)):
        assert abs(spread.count(name) - (start - final_free)) <= 1, (name, spread.count(name))
    assert spread[:10] == ["p1"] * 10  # p1 first has to come down to p2's 490 GB


@pytest.mark.parametrize("text, message", [
    ("user,quota\nok,2147483648\n", "users.csv line 2: quota 2147483648 KiB for user 'ok' is over Cyrus's limit"),
    ("user\nsame\nother\nsame\n", "users.csv line 4: user 'same' is listed twice \\(first at users.csv line 2\\)"),
])
def test_users_from_csv_limits_and_duplicates_name_lines(text, message):
    with pytest.raises(AnsibleFilterError, match=message):
        onboarding_filters.users_from_csv(text, source="users.csv")


def test_users_from_csv_accepts_a_byte_order_mark_and_any_header_case():
    assert onboarding_filters.users_from_csv("\ufeffUser,Quota\r\nalice,2147483647\r\n") == [
        {"user": "alice", "quota": 2147483647}]


def test_placement_plan_refuses_a_partition_the_backend_does_not_have():
    with pytest.raises(AnsibleFilterError, match="user 'u1': partition 'p77' is not a partition of this backend"):
        onboarding_filters.placement_plan([{"user": "u1", "partition": "p77"}], facts())


def test_placement_table_marks_completed_users():
    table = onboarding_filters.placement_table([
        {"user": "u1", "partition": "p1", "created": False, "subfolders_created": ["user.u1.Sent"]}])
    assert table[1].split()[-1] == "completed"
