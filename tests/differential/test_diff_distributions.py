# -*- coding: utf-8 -*-
# Copyright: imapops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where the choice is random, compare distributions: thousands of CREATEs in ONE imapd
process against the engine's exact ``chances()``.

``partition_select_usage_reinit: 1`` makes Cyrus measure again before every selection
(the shim log must show one round of statvfs calls per CREATE, all from one pid); every
selection draws a new ``rand()``. Pearson's chi-square goodness of fit, bins with fewer
than 5 expected merged, fails at p < ALPHA = 1e-4: each test here fails falsely with
probability 1e-4 (asymptotically), the module's tests together with at most
len(CASES) x 1e-4. A partition the engine gives chance 0 that Cyrus chooses even once
fails outright. Each test also shows it could fail: the counts reject a plausible wrong
model (uniform instead of weighted, weighted instead of weighted-delta) at the same alpha.
"""

import time

import pytest

import diffharness as h
from diffharness import Case, Figures

ALPHA = h.ALPHA


def pct(free_percent, fsid, total_kib=10 * 1024 * 1024):
    """A filesystem with exactly ``free_percent`` % free (integer percent, 1 KiB blocks)."""
    unit = total_kib // 100
    return Figures(100 * unit, free_percent * unit, free_percent * unit, 1024, fsid)


SHARED = pct(40, 0xABC)
# (case, creations, wrong model that the counts must reject)
CASES = [
    (Case("random-with-full-and-excluded", [("r1", pct(90, 1)), ("r2", pct(0, 2)), ("r3", pct(50, 3)),
                                            ("r4", pct(5, 4)), ("r5", pct(70, 5))],
          mode="random", exclude="r5", soft_limit=50, reinit=1), 4000, "freespace-percent-weighted"),
    (Case("random-three-of-five", [("s1", pct(10, 1)), ("s2", pct(20, 2)), ("s3", pct(30, 3)),
                                   ("s4", pct(40, 4)), ("s5", pct(50, 5))],
          mode="random", exclude="s2,\ts4", reinit=1), 3000, "freespace-percent-weighted"),
    (Case("weighted", [("w1", pct(10, 1)), ("w2", pct(35, 2)), ("w3", pct(60, 3)), ("w4", pct(90, 4)),
                       ("w5", pct(0, 5))],
          mode="freespace-percent-weighted", reinit=1), 5000, "random"),
    (Case("weighted-same-fs-and-limit", [("x1", pct(25, 1)), ("x2", SHARED), ("x3", SHARED), ("x4", pct(80, 4))],
          mode="freespace-percent-weighted", soft_limit=70, reinit=1), 4000, "random"),
    (Case("weighted-delta-full-gets-half", [("y1", pct(0, 1)), ("y2", pct(20, 2)), ("y3", pct(50, 3)),
                                            ("y4", pct(80, 4))],
          mode="freespace-percent-weighted-delta", reinit=1), 6000, "freespace-percent-weighted"),
    (Case("weighted-delta-limit", [("z1", pct(30, 1)), ("z2", pct(45, 2)), ("z3", pct(70, 3)), ("z4", pct(85, 4))],
          mode="freespace-percent-weighted-delta", soft_limit=60, reinit=1), 5000, "freespace-percent-weighted"),
]


@pytest.mark.parametrize("case, creations, wrong_mode", CASES, ids=[c[0].ident for c in CASES])
def test_one_process_distribution_matches_chances(shim_lab, case, creations, wrong_mode):
    counts, refused, entries = h.run_one_process(shim_lab, case, creations)
    assert refused == 0
    pids = set(pid for pid, _, _ in entries)
    if case.effective_mode == "random":
        assert entries == [], "random mode measured partitions"
    else:
        assert len(pids) == 1, "the CREATEs were not served by one process: %r" % pids
        rounds = len(entries) / float(len(case.candidates()))
        assert rounds == h.engine_measurements(case, creations) == creations, \
            "Cyrus measured %.1f times, the engine %d times" % (rounds, h.engine_measurements(case, creations))
    chances = h.engine(case).chances()
    fit = h.check_distribution(case, counts, chances, creations, case.ident)
    wrong = h.engine(Case(case.ident, case.partitions, mode=wrong_mode, exclude=case.exclude,
                          soft_limit=case.soft_limit)).chances()
    assert h.rejected(counts, wrong), "the counts cannot tell %s from %s: the test has no power" % (
        case.effective_mode, wrong_mode)
    h.report("distribution %-30s %-33s n=%d chi2=%7.2f df=%d p=%.3f  %s"
             % (case.ident, case.effective_mode, creations, fit.statistic, fit.df, fit.p_value,
                "  ".join("%s %d/%.1f" % (name, counts.get(name, 0), chances[name] * creations / 100.0)
                          for name in chances)))


def test_processes_of_one_clock_second_draw_the_same_random_number(shim_lab):
    """Cyrus 3.6.1 calls srand(time(NULL)) when a process first selects: imapd processes
    that start selecting in the same second draw the same rand() sequence. With equal
    weights, each fresh process picks the same *position* of its own (hash-ordered) list
    as the others of that second, so the position changes at most once per second; with
    independent draws it would change at about 3 of 4 connections. This is why every
    distribution test draws in one process, and why choices over many short connections
    are not independent."""
    case = Case("equal-weights", [("e%d" % i, pct(50, 0x500 + i)) for i in range(4)],
                mode="freespace-percent-weighted")
    shim_lab.apply(case)
    positions = []
    began = time.time()
    for _ in range(24):
        result = shim_lab.create_fresh()
        assert len(result.order) == 4
        positions.append(result.order.index(result.partition))
    seconds = time.time() - began
    changes = sum(1 for before, after in zip(positions, positions[1:]) if before != after)
    assert changes <= int(seconds) + 2, (positions, seconds)
    h.report("same-second draws: 24 fresh processes in %.1f s chose list positions %s (%d changes)"
             % (seconds, "".join(str(p) for p in positions), changes))
