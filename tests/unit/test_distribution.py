# -*- coding: utf-8 -*-
# Copyright: imapops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The selection engine against the numbers of the Cyrus reference (spec §3-§6)."""

import collections
import hashlib
import os
import struct

import pytest

from ansible_collections.imapops.cyrus.plugins.module_utils import distribution as d
from ansible_collections.imapops.cyrus.plugins.module_utils.distribution import (
    SelectionError, SelectionList, UnmeasurableError, Usage)

GIB = 1024 * 1024  # KiB per GiB

# The doc page's four partitions: 1000 GiB/400 free, 1000/600, 100/30, 100/70.
DOC_PARTS = collections.OrderedDict([
    ("part1", Usage(400 * GIB, 1000 * GIB, 1)),
    ("part2", Usage(600 * GIB, 1000 * GIB, 2)),
    ("part3", Usage(30 * GIB, 100 * GIB, 3)),
    ("part4", Usage(70 * GIB, 100 * GIB, 4)),
])


def table_measure(table, calls=None):
    def measure(name):
        if calls is not None:
            calls.append(name)
        value = table[name]
        if isinstance(value, Exception):
            raise value
        return value
    return measure


def selection(table, **kwargs):
    return SelectionList(list(table), table_measure(table), **kwargs)


def rounded(chances, digits=2):
    return {name: round(value, digits) for name, value in chances.items()}


def fixed_rand(*values):
    stream = iter(values)
    return lambda: next(stream)


# -- spec §3: measuring ------------------------------------------------------

StatvfsResult = collections.namedtuple(
    "StatvfsResult", "f_bsize f_frsize f_blocks f_bfree f_bavail f_fsid")


def test_kib_from_statvfs_uses_bavail_and_frsize_and_fsid():
    st = StatvfsResult(f_bsize=65536, f_frsize=4096, f_blocks=1000, f_bfree=900, f_bavail=800, f_fsid=77)
    assert d.kib_from_statvfs(st) == Usage(3200, 4000, 77)


def test_kib_from_statvfs_truncates_sub_kib_blocks():
    st = StatvfsResult(f_bsize=512, f_frsize=512, f_blocks=1001, f_bfree=5, f_bavail=3, f_fsid=1)
    usage = d.kib_from_statvfs(st)
    assert (usage.available_kib, usage.total_kib) == (1, 500)


def test_kib_from_statvfs_zero_blocks_has_id_0_like_cyrus():
    # partlist.c returns before setting the id when f_blocks <= 0; the real server (shim
    # differential test fsid-zero-then-total-0) then counts such a filesystem as a
    # duplicate of an earlier one whose f_fsid is 0, and does not fall back to random
    st = StatvfsResult(f_bsize=4096, f_frsize=4096, f_blocks=0, f_bfree=0, f_bavail=0, f_fsid=0x77)
    assert d.kib_from_statvfs(st) == Usage(0, 0, 0)
    # 0 KiB after truncation but blocks > 0: Cyrus keeps the filesystem's id
    half = StatvfsResult(f_bsize=512, f_frsize=512, f_blocks=1, f_bfree=1, f_bavail=1, f_fsid=0x88)
    assert d.kib_from_statvfs(half) == Usage(0, 0, 0x88)
    figures = {"zero": st, "first": StatvfsResult(4096, 4096, 1000, 800, 800, 0),
               "third": StatvfsResult(4096, 4096, 1000, 500, 500, 5)}
    measured = []

    def measure(name):
        measured.append(name)
        return d.kib_from_statvfs(figures[name])

    selection = SelectionList(["first", "zero", "third"], measure, mode="freespace-most")
    assert selection.chances() == {"first": 100.0, "zero": 0.0, "third": 0.0}
    assert measured == ["first", "zero", "third"]


def test_kib_from_statvfs_matches_os_statvfs_of_this_machine():
    st = os.statvfs("/")
    usage = d.kib_from_statvfs(st)
    assert usage.total_kib == st.f_blocks * st.f_frsize // 1024
    assert usage.available_kib == st.f_bavail * st.f_frsize // 1024
    assert usage.fsid == st.f_fsid


def test_free_percent_is_an_unrounded_float():
    assert Usage(1, 3, None).free_percent == 100.0 / 3
    assert Usage(0, 0, None).free_percent is None


# -- the doc page's worked examples (backend) -------------------------------

def test_doc_freespace_most_picks_part2():
    assert selection(DOC_PARTS, mode="freespace-most").select() == "part2"


def test_doc_freespace_percent_most_picks_part4():
    assert selection(DOC_PARTS, mode="freespace-percent-most").select() == "part4"


def test_doc_weighted_20_30_15_35():
    chances = selection(DOC_PARTS, mode="freespace-percent-weighted").chances()
    assert rounded(chances) == {"part1": 20.0, "part2": 30.0, "part3": 15.0, "part4": 35.0}


def test_doc_weighted_delta_12_8_37_2_0_6_49_4():
    chances = selection(DOC_PARTS, mode="freespace-percent-weighted-delta").chances()
    assert rounded(chances, 1) == {"part1": 12.8, "part2": 37.2, "part3": 0.6, "part4": 49.4}
    # exactly 10.5/82, 30.5/82, 0.5/82, 40.5/82
    assert chances["part3"] == pytest.approx(0.5 / 82 * 100, abs=1e-6)


def test_doc_soft_limit_50_excludes_part1_and_part3():
    sel = selection(DOC_PARTS, mode="freespace-percent-weighted", soft_usage_limit=50)
    states = {row["name"]: row["state"] for row in sel.report()}
    assert states == {"part1": "over-soft-limit", "part2": "candidate",
                      "part3": "over-soft-limit", "part4": "candidate"}
    assert rounded(sel.chances()) == {"part1": 0.0, "part2": 46.15, "part3": 0.0, "part4": 53.85}


def test_doc_soft_limit_20_changes_nothing():
    for mode in d.SELECT_MODES:
        with_limit = selection(DOC_PARTS, mode=mode, soft_usage_limit=20).chances()
        without = selection(DOC_PARTS, mode=mode).chances()
        assert with_limit == without, mode


# -- the doc page's worked examples (frontend, spec §6) ----------------------

DOC_BACKENDS = collections.OrderedDict([
    ("backend1", [("part1", Usage(500 * GIB, 1000 * GIB, 11)), ("part2", Usage(500 * GIB, 1000 * GIB, 12))]),
    ("backend2", [("part1", Usage(200 * GIB, 1000 * GIB, 21)), ("part2", Usage(700 * GIB, 1000 * GIB, 22))]),
    ("backend3", [("part1", Usage(30 * GIB, 100 * GIB, 31)), ("part2", Usage(80 * GIB, 100 * GIB, 32))]),
])


def frontend(mode, soft_usage_limit=0):
    """A frontend's list over the doc backends, each answering from its partitions."""
    answers = {}
    for index, (name, parts) in enumerate(DOC_BACKENDS.items()):
        table = collections.OrderedDict(parts)
        answer = d.backend_freespace(list(table), table_measure(table), frontend_mode=mode)
        answers[name] = Usage(answer.available_kib, answer.total_kib, index)
    return SelectionList(list(answers), table_measure(answers), mode=mode,
                         soft_usage_limit=soft_usage_limit)


def test_doc_frontend_freespace_most_picks_backend1():
    assert frontend("freespace-most").select() == "backend1"


def test_doc_frontend_percent_most_picks_backend3():
    assert frontend("freespace-percent-most").select() == "backend3"


def test_doc_frontend_weighted_25_35_40():
    assert rounded(frontend("freespace-percent-weighted").chances()) == {
        "backend1": 25.0, "backend2": 35.0, "backend3": 40.0}


def test_doc_frontend_weighted_delta_1_0_39_8_59_2():
    assert rounded(frontend("freespace-percent-weighted-delta").chances(), 1) == {
        "backend1": 1.0, "backend2": 39.8, "backend3": 59.2}


def test_doc_frontend_limit_49_freespace_most_excludes_backend1_and_backend2():
    sel = frontend("freespace-most", soft_usage_limit=49)
    assert [row["state"] for row in sel.report()] == ["over-soft-limit", "over-soft-limit", "candidate"]
    assert sel.select() == "backend3"


def test_doc_frontend_limit_49_percent_modes_exclude_only_backend1():
    sel = frontend("freespace-percent-weighted", soft_usage_limit=49)
    assert [row["state"] for row in sel.report()] == ["over-soft-limit", "candidate", "candidate"]
    assert rounded(sel.chances()) == {"backend1": 0.0, "backend2": 46.67, "backend3": 53.33}


def test_backend_freespace_total_sums_one_partition_per_filesystem():
    table = collections.OrderedDict([
        ("a", Usage(100, 1000, 1)), ("b", Usage(100, 1000, 1)), ("c", Usage(300, 500, 2))])
    assert d.backend_freespace(list(table), table_measure(table)) == Usage(400, 1500, None)
    # in every mode, including the weighted ones that do not drop same-filesystem candidates
    assert d.backend_freespace(list(table), table_measure(table),
                               mode="freespace-percent-weighted") == Usage(400, 1500, None)


def test_backend_freespace_leaves_out_excluded_over_limit_and_full():
    table = collections.OrderedDict([
        ("ok", Usage(600, 1000, 1)), ("over", Usage(100, 1000, 2)),
        ("full", Usage(0, 1000, 3)), ("gone", Usage(999, 1000, 4))])
    got = d.backend_freespace(list(table), table_measure(table), exclude="gone", soft_usage_limit=80)
    assert got == Usage(600, 1000, None)


def test_backend_freespace_percent_most_is_the_best_single_partition():
    table = collections.OrderedDict([("big", Usage(500, 1000, 1)), ("small", Usage(90, 100, 2))])
    got = d.backend_freespace(list(table), table_measure(table), frontend_mode="freespace-percent-weighted")
    assert got == Usage(90, 100, None)


def test_backend_in_random_mode_answers_0_0():
    table = collections.OrderedDict([("a", Usage(500, 1000, 1)), ("b", Usage(90, 100, 2))])
    for frontend_mode in ("freespace-most", "freespace-percent-most"):
        got = d.backend_freespace(list(table), table_measure(table), mode="random",
                                  frontend_mode=frontend_mode)
        assert got == Usage(0, 0, None)


# -- spec §4: the rules and their edges ---------------------------------------

def test_ties_go_to_the_earlier_candidate():
    table = collections.OrderedDict([("a", Usage(500, 1000, 1)), ("b", Usage(500, 1000, 2))])
    assert selection(table, mode="freespace-most").select() == "a"
    assert selection(table, mode="freespace-percent-most").select() == "a"
    reverse = collections.OrderedDict(reversed(list(table.items())))
    assert selection(reverse, mode="freespace-most").select() == "b"


def test_same_filesystem_keeps_only_the_first_in_most_modes():
    table = collections.OrderedDict([
        ("small", Usage(100, 1000, 9)), ("twin", Usage(900, 1000, 9)), ("other", Usage(500, 1000, 3))])
    assert selection(table, mode="freespace-most").select() == "other"
    sel = selection(table, mode="freespace-percent-most")
    assert sel.select() == "other"
    assert [row["state"] for row in sel.report()] == ["candidate", "same-filesystem", "candidate"]


def test_weighted_modes_count_every_candidate_of_a_shared_filesystem():
    table = collections.OrderedDict([("a", Usage(500, 1000, 9)), ("b", Usage(500, 1000, 9))])
    assert rounded(selection(table, mode="freespace-percent-weighted").chances()) == {"a": 50.0, "b": 50.0}


def test_soft_limit_equal_to_usage_counts_as_over():
    table = collections.OrderedDict([("at60", Usage(400, 1000, 1)), ("at40", Usage(600, 1000, 2)),
                                     ("big", Usage(500, 2000, 3))])
    sel = selection(table, mode="freespace-most", soft_usage_limit=60)
    # "big" has the most KiB free but is 75 % used; "at60" is exactly at the limit
    assert sel.select() == "at40"
    assert [row["state"] for row in sel.report()] == ["over-soft-limit", "candidate", "over-soft-limit"]


def test_soft_limit_exactly_reached_by_all_counts_as_all_over():
    """A candidate exactly at the limit does not switch the limit on (usage >= L is over)."""
    table = collections.OrderedDict([("at40", Usage(400, 1000, 1)), ("at30", Usage(300, 1000, 2))])
    assert selection(table, mode="freespace-most", soft_usage_limit=60).select() == "at40"
    delta = selection(table, mode="freespace-percent-weighted-delta", soft_usage_limit=60).chances()
    assert rounded(delta) == {"at40": round(10.5 / 11 * 100, 2), "at30": round(0.5 / 11 * 100, 2)}


def test_soft_limit_ignored_when_every_candidate_is_over():
    table = collections.OrderedDict([("a", Usage(100, 1000, 1)), ("b", Usage(200, 1000, 2))])
    assert selection(table, mode="freespace-most", soft_usage_limit=50).select() == "b"


@pytest.mark.parametrize("limit", [0, -5])
def test_soft_limit_zero_or_negative_is_off(limit):
    table = collections.OrderedDict([("a", Usage(1, 1000, 1)), ("b", Usage(2, 1000, 2))])
    assert selection(table, mode="freespace-most", soft_usage_limit=limit).select() == "b"


def test_soft_limit_not_applied_in_random_mode():
    table = collections.OrderedDict([("full", Usage(0, 1000, 1)), ("half", Usage(500, 1000, 2))])
    assert rounded(selection(table, mode="random", soft_usage_limit=90).chances()) == {
        "full": 50.0, "half": 50.0}


def test_full_partition_never_chosen_except_weighted_delta():
    table = collections.OrderedDict([("full", Usage(0, 1000, 1)), ("half", Usage(500, 1000, 2))])
    for mode in ("freespace-most", "freespace-percent-most", "freespace-percent-weighted"):
        assert selection(table, mode=mode).chances()["full"] == 0.0, mode
    delta = selection(table, mode="freespace-percent-weighted-delta").chances()
    assert delta["full"] == pytest.approx(0.5 / 51 * 100, abs=1e-6)


@pytest.mark.parametrize("mode", [m for m in d.SELECT_MODES if m != "random"])
def test_all_full_means_nothing_to_choose(mode):
    table = collections.OrderedDict([("a", Usage(0, 1000, 1)), ("b", Usage(0, 1000, 2))])
    sel = selection(table, mode=mode)
    if mode == "freespace-percent-weighted-delta":
        # 0.5 each: the delta mode still chooses a full partition
        assert sel.select() in ("a", "b")
    else:
        assert sel.select() is None
        assert all(value == 0.0 for value in sel.chances().values())


def test_empty_candidate_list_selects_nothing():
    assert SelectionList([], table_measure({})).select() is None
    table = {"only": Usage(1, 2, 1)}
    assert SelectionList(["only"], table_measure(table), exclude="only").select() is None


def test_exclude_splits_on_space_comma_tab_and_is_case_sensitive():
    table = collections.OrderedDict((name, Usage(100 + i, 1000, i)) for i, name in
                                    enumerate(["a", "b", "c", "d", "Fast"]))
    sel = selection(table, exclude="a,b\tc  fast")
    assert sel.candidates == ["d", "Fast"]
    assert sel.excluded == ["a", "b", "c"]
    assert selection(table, exclude=["a", "b,c"]).candidates == ["d", "Fast"]


def test_random_mode_measures_nothing():
    calls = []
    table = collections.OrderedDict([("a", Usage(1, 2, 1)), ("b", Usage(1, 2, 2))])
    sel = SelectionList(list(table), table_measure(table, calls), mode="random", rand=fixed_rand(0, 1, 2))
    assert [sel.select() for _ in range(3)] == ["a", "b", "a"]
    assert calls == []


def test_random_index_is_r_mod_n():
    table = collections.OrderedDict((name, Usage(1, 2, i)) for i, name in enumerate("abc"))
    sel = selection(table, mode="random", rand=fixed_rand(7, 2 ** 31 - 1, 3))
    assert [sel.select() for _ in range(3)] == ["b", "b", "a"]


def test_weighted_draw_uses_100_r_over_2_31_and_strictly_greater_running_sum():
    sel = selection(DOC_PARTS, mode="freespace-percent-weighted",
                    rand=fixed_rand(0, 429496729, 429496730, 2 ** 31 - 1))
    # 100*r/2**31 = 0 -> part1; 19.99999999 -> part1; 20.0000000 -> part2; 99.99... -> part4
    assert [sel.select() for _ in range(4)] == ["part1", "part1", "part2", "part4"]


def test_chances_are_exact_counts_of_rand_values():
    sel = selection(DOC_PARTS, mode="freespace-percent-weighted")
    total = sum(sel.chances().values())
    assert total == pytest.approx(100.0, abs=1e-9)
    three = collections.OrderedDict((name, Usage(1, 2, i)) for i, name in enumerate("abc"))
    chances = selection(three, mode="random").chances()
    # 2**31 = 715827882*3 + 2: residues 0 and 1 get one extra value
    assert chances["a"] == 715827883 * 100.0 / 2 ** 31
    assert chances["c"] == 715827882 * 100.0 / 2 ** 31


def test_select_follows_chances_statistically():
    """20,000 seeded draws: each share within 5 standard deviations (false failure < 1e-5)."""
    sel = selection(DOC_PARTS, mode="freespace-percent-weighted-delta", rand=d.stable_rand("stats"))
    expected = sel.chances()
    draws = 20000
    counts = collections.Counter(sel.select() for _ in range(draws))
    for name, percent in expected.items():
        p = percent / 100.0
        sigma = (draws * p * (1 - p)) ** 0.5
        assert abs(counts[name] - draws * p) <= 5 * sigma + 1, (name, counts[name], draws * p)


# -- spec §3/§4: unmeasurable candidates ---------------------------------------

FC14 = collections.OrderedDict([
    ("p1", OSError(116, "Stale file handle")),
    ("p2", Usage(400000000, 1000000000, 2)),
    ("p3", Usage(700000000, 1000000000, 3)),
])


def test_unmeasurable_random_policy_is_cyrus_uniform_over_all():
    sel = selection(FC14, mode="freespace-percent-most")
    assert rounded(sel.chances()) == {"p1": 33.33, "p2": 33.33, "p3": 33.33}
    assert {row["state"] for row in sel.report()} == {"unmeasurable", "random-fallback"}


def test_unmeasurable_skip_policy_drops_and_warns():
    sel = selection(FC14, mode="freespace-percent-most", on_unmeasurable="skip")
    assert sel.select() == "p3"
    assert sel.warnings == ["candidate 'p1' left out: cannot measure it (Stale file handle)"]


def test_unmeasurable_fail_policy_names_the_candidate_and_reason():
    sel = selection(FC14, mode="freespace-percent-most", on_unmeasurable="fail")
    with pytest.raises(UnmeasurableError) as caught:
        sel.select()
    assert caught.value.name == "p1"
    assert "'p1'" in str(caught.value) and "Stale file handle" in str(caught.value)


@pytest.mark.parametrize("bad", [Usage(0, 0, 5), Usage(1001, 1000, 5)], ids=["zero-total", "over-100"])
def test_zero_total_or_over_100_percent_is_unmeasurable(bad):
    table = collections.OrderedDict([("good", Usage(900, 1000, 1)), ("bad", bad)])
    assert rounded(selection(table, mode="freespace-most").chances()) == {"good": 50.0, "bad": 50.0}
    with pytest.raises(UnmeasurableError):
        selection(table, on_unmeasurable="fail").select()


def test_candidates_after_the_failing_one_are_not_measured():
    calls = []
    table = collections.OrderedDict([("a", Usage(5, 10, 1)), ("b", OSError(5, "EIO")), ("c", Usage(5, 10, 3))])
    SelectionList(list(table), table_measure(table, calls), mode="freespace-percent-weighted").select()
    assert calls == ["a", "b"]


def test_random_fallback_includes_over_limit_and_same_filesystem():
    table = collections.OrderedDict([
        ("over", Usage(1, 1000, 1)), ("twin", Usage(1, 1000, 1)), ("ok", Usage(900, 1000, 2)),
        ("broken", OSError(13, "Permission denied"))])
    chances = selection(table, mode="freespace-percent-weighted", soft_usage_limit=50).chances()
    assert rounded(chances) == {"over": 25.0, "twin": 25.0, "ok": 25.0, "broken": 25.0}


# -- spec §5: when usage is measured ---------------------------------------------

class GrowingTable(object):
    """Partition 'a' starts with the most free space; 'b' overtakes it once ``flip`` is set."""

    def __init__(self):
        self.flip = False
        self.calls = 0

    def __call__(self, name):
        self.calls += 1
        if name == "a":
            return Usage(100 if self.flip else 900, 1000, 1)
        return Usage(500, 1000, 2)


@pytest.mark.parametrize("reinit, first_switch", [(0, None), (1, 2), (2, 3)])
def test_reinit_switches_before_operation_n_plus_1(reinit, first_switch):
    measure = GrowingTable()
    sel = SelectionList(["a", "b"], measure, usage_reinit=reinit)
    picks = []
    for operation in range(1, 7):
        picks.append(sel.select())
        measure.flip = True  # space changes right after the first operation
    if first_switch is None:
        assert picks == ["a"] * 6
    else:
        assert picks == ["a"] * (first_switch - 1) + ["b"] * (7 - first_switch)


def test_reinit_2_remeasures_before_operations_3_5_7():
    measure = GrowingTable()
    sel = SelectionList(["a", "b"], measure, usage_reinit=2)
    passes = []
    for _ in range(7):
        sel.select()
        passes.append(sel.measurements_taken)
    assert passes == [1, 1, 2, 2, 3, 3, 4]


def test_measurement_is_lazy_and_kept_without_reinit():
    measure = GrowingTable()
    sel = SelectionList(["a", "b"], measure)
    assert measure.calls == 0
    for _ in range(5):
        sel.select()
    assert measure.calls == 2


def test_freespace_read_counts_as_an_operation():
    measure = GrowingTable()
    sel = SelectionList(["a", "b"], measure, usage_reinit=1)
    assert sel.freespace() == (1400, 2000)
    measure.flip = True
    assert sel.freespace() == (600, 2000)
    assert sel.select() == "b"
    assert sel.measurements_taken == 3


def test_empty_selection_counts_as_an_operation():
    """Cyrus counts what is available before it re-measures: space freed shows one op late."""
    state = {"free": 0}
    sel = SelectionList(["a"], lambda name: Usage(state["free"], 1000, 1), usage_reinit=1)
    assert sel.select() is None          # op 1: nothing available, counter 0 -> 1
    state["free"] = 10
    assert sel.select() is None          # op 2: counted empty, then re-measured
    assert sel.measurements_taken == 2
    assert sel.select() == "a"           # op 3 sees the re-measured space


def test_chances_is_not_an_operation_but_shows_the_next_selection():
    measure = GrowingTable()
    sel = SelectionList(["a", "b"], measure, usage_reinit=1)
    assert sel.select() == "a"
    measure.flip = True
    assert sel.chances() == {"a": 0.0, "b": 100.0}
    assert sel.measurements_taken == 1
    assert sel.select() == "b"


def test_bulk_creates_without_reinit_pile_on_one_partition():
    table = collections.OrderedDict([("p1", Usage(500000000, 1000000000, 1)),
                                     ("p2", Usage(490000000, 1000000000, 2)),
                                     ("p3", Usage(300000000, 1000000000, 3))])
    sel = selection(table)
    assert collections.Counter(sel.select() for _ in range(1000)) == {"p1": 1000}


# -- arguments -------------------------------------------------------------------

def test_unknown_mode_is_refused_with_the_valid_list():
    with pytest.raises(SelectionError, match="unknown selection mode 'freespace_most'.*freespace-most"):
        SelectionList(["a"], table_measure({}), mode="freespace_most")


@pytest.mark.parametrize("kwargs, message", [
    ({"on_unmeasurable": "ignore"}, "on_unmeasurable"),
    ({"soft_usage_limit": "80%"}, "soft_usage_limit"),
    ({"usage_reinit": 1.5}, "usage_reinit"),
    ({"exclude": 5}, "exclude"),
])
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(SelectionError, match=message):
        SelectionList(["a"], table_measure({}), **kwargs)


def test_measure_must_return_usage():
    with pytest.raises(SelectionError, match="must return a Usage"):
        SelectionList(["a"], lambda name: (1, 2)).select()


def test_parse_freespace_value():
    assert d.parse_freespace_value("300000000;1000000000") == (300000000, 1000000000)
    with pytest.raises(SelectionError):
        d.parse_freespace_value("NIL")


# -- reproducible randomness ----------------------------------------------------------

def expected_stream(seed, count):
    """The documented stream: SHAKE-256(seed NUL block), big-endian 32-bit words, top bit cleared."""
    values, block = [], 0
    while len(values) < count:
        raw = hashlib.shake_256(seed.encode() + b"\0" + str(block).encode()).digest(4096)
        values.extend(v & 0x7FFFFFFF for v in struct.unpack(">1024I", raw))
        block += 1
    return values[:count]


def test_stable_rand_is_the_documented_shake256_stream():
    draw = d.stable_rand("mx1.example.test")
    assert [draw() for _ in range(1030)] == expected_stream("mx1.example.test", 1030)


def test_stable_rand_many_continues_the_same_stream():
    one, bulk = d.stable_rand("s"), d.stable_rand("s")
    sequential = [one() for _ in range(3000)]
    assert bulk.many(5) + [bulk() for _ in range(10)] + bulk.many(2985) == sequential


def test_stable_rand_same_seed_same_choices():
    first = selection(DOC_PARTS, mode="random", rand=d.stable_rand("seed"))
    second = selection(DOC_PARTS, mode="random", rand=d.stable_rand("seed"))
    assert [first.select() for _ in range(20)] == [second.select() for _ in range(20)]
