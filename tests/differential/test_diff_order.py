# -*- coding: utf-8 -*-
# Copyright: imapops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ties and shared filesystems: where Cyrus's per-process list order decides.

Cyrus keeps its partition list in hash-table order, seeded per process. In the
``*-most`` modes the first of equal candidates wins and only the first partition of a
filesystem counts, so the same configuration can place a mailbox on different
partitions in different processes. For each configuration here the engine is run over
every permutation of the candidates; every answer Cyrus gives over many connections
must be in that set, the answer under the order this process measured in (shim log)
must be exactly the engine's, and when the set has several members Cyrus must be seen
to give more than one of them.
"""
import collections

import pytest

import diffharness as h
from diffharness import Case, Figures

MAX_CONNECTIONS = 40   # stop earlier once every possible answer was seen


def fs(total_mib, free_mib, fsid, frsize=4096):
    blocks = total_mib * 1024 * 1024 // frsize
    bavail = free_mib * 1024 * 1024 // frsize
    return Figures(blocks, bavail, bavail, frsize, fsid)


GIB = 1024
SHARED = fs(800 * GIB, 600 * GIB, 0x5151)
CASES = [
    # equal available KiB on two different filesystems of different sizes
    Case("tie-available", [("p1", fs(100 * GIB, 60 * GIB, 11)), ("p2", fs(500 * GIB, 60 * GIB, 12)),
                           ("p3", fs(300 * GIB, 59 * GIB, 13)), ("p4", fs(50 * GIB, 40 * GIB, 14))],
         mode="freespace-most"),
    # equal free percentage (75 %) at very different sizes
    Case("tie-percent", [("small", fs(4, 3, 21)), ("huge", fs(4 * 1024 * GIB, 3 * 1024 * GIB, 22)),
                         ("mid", fs(64 * GIB, 40 * GIB, 23))],
         mode="freespace-percent-most"),
    # three partitions on one filesystem win together: any of them
    Case("same-fs-wins", [("a", SHARED), ("b", fs(900 * GIB, 500 * GIB, 32)), ("c", SHARED),
                          ("d", SHARED), ("e", fs(10 * GIB, 9 * GIB, 33))],
         mode="freespace-most"),
    # a shared filesystem wins in percent mode, behind a soft limit that drops the others
    Case("same-fs-wins-limit", [("x", fs(100, 30, 41)), ("y", SHARED), ("z", SHARED), ("w", fs(1000, 200, 42))],
         mode="freespace-percent-most", soft_limit=50),
    # same filesystem that does not win: one answer only, whatever the order
    Case("same-fs-loses", [("m", fs(100 * GIB, 20 * GIB, 51)), ("n", fs(100 * GIB, 20 * GIB, 51)),
                           ("o", fs(200 * GIB, 90 * GIB, 52)), ("q", fs(50 * GIB, 10 * GIB, 53))],
         mode="freespace-most"),
    # two different filesystems that both report f_fsid 0 (some FUSE and network
    # filesystems do): Cyrus counts them as one, the first in its order
    Case("fsid-zero", [("f1", fs(100 * GIB, 80 * GIB, 0)), ("f2", fs(100 * GIB, 20 * GIB, 0)),
                       ("f3", fs(100 * GIB, 50 * GIB, 61))],
         mode="freespace-most"),
    # a filesystem reporting 0 blocks after one with f_fsid 0: Cyrus gives a 0-block
    # filesystem the id 0, so it counts as that filesystem's duplicate in the orders
    # where it comes second, and nothing falls back to random there
    Case("fsid-zero-then-total-0", [("g1", fs(100 * GIB, 80 * GIB, 0)), ("g2", Figures(0, 0, 0, 4096, 0x77)),
                                    ("g3", fs(100 * GIB, 50 * GIB, 71))],
         mode="freespace-most"),
    # the same with 1 block of 512 bytes: 0 KiB in total, but blocks > 0, so Cyrus keeps
    # the filesystem's id, counts it as unmeasurable and falls back to random in every order
    Case("fsid-zero-then-half-kib", [("h1", fs(100 * GIB, 80 * GIB, 0)), ("h2", Figures(1, 1, 1, 512, 0x88)),
                                     ("h3", fs(100 * GIB, 50 * GIB, 81))],
         mode="freespace-most"),
]


# Where the variety comes from Cyrus's random fallback rather than from the order alone,
# "more than one answer" is not a safe expectation: every imapd seeds rand() with
# srand(time(NULL)) at its first selection, so processes of one clock second draw the
# same number (test_diff_distributions.py shows it). There, the test asks instead for
# both behaviours to show up: processes that measured every partition (the 0-block
# filesystem counted as a duplicate) and processes that stopped at it (fallback).
VARIETY_FROM_FALLBACK = ("fsid-zero-then-total-0",)


@pytest.mark.parametrize("case", CASES, ids=[case.ident for case in CASES])
def test_every_order_cyrus_uses_is_one_the_engine_knows(shim_lab, case):
    possible = h.possible_answers(case, exhaustive_up_to=7)
    shim_lab.apply(case)
    seen = collections.Counter()
    orders = set()
    for connection in range(MAX_CONNECTIONS):
        result = shim_lab.create_fresh()
        context = "%s\nconnection %d: Cyrus chose %s (%s), measured in order %r; possible: %s" % (
            case.describe(), connection, result.partition, result.error, result.order, sorted(possible))
        if possible:
            assert result.partition in possible, context
        else:
            assert result.partition is None and h.NO_PARTITION.search(result.error or ""), context
        chances = h.check_with_cyrus_order(case, result)
        if result.partition is not None:
            assert chances[result.partition] > 0, context
            if max(chances.values()) == 100.0:
                assert chances[result.partition] == 100.0, context
        seen[result.partition] += 1
        orders.add(tuple(result.order))
        if len(possible) > 1 and set(seen) == set(possible) and connection >= 9 \
                and case.ident not in VARIETY_FROM_FALLBACK:
            break
    assert len(orders) > 1, "every process used one list order %r: is the hash order not per process?" % orders
    if case.ident in VARIETY_FROM_FALLBACK:
        complete = set(len(order) == len(case.candidates()) for order in orders)
        assert complete == {True, False}, "measured lists: %r" % orders
    elif len(possible) > 1:
        assert len(seen) > 1, "Cyrus always chose %s in %d processes; possible: %s" % (
            list(seen), sum(seen.values()), sorted(possible))
    else:
        assert len(seen) == 1
    h.report("order-dependent %-24s engine over all orders: %-22s Cyrus over %2d processes: %s"
             % (case.ident, ",".join(sorted(possible)) or "-", sum(seen.values()),
                ", ".join("%s x%d" % (name, count) for name, count in sorted(seen.items()))))
