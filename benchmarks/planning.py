#!/usr/bin/env python3
# -*- coding: utf-8 -*-
# Copyright: imapops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark 3: choosing partitions for many users in the filter, against random.choices.

    python3 benchmarks/planning.py [--users 100000] [--partitions 1000] [--repeat 5]

Baseline, measured in the same run: ``random.choices`` drawing the same number of
partitions over the same weights in pure Python. Printed: the median time of each mode
through ``imapops.cyrus.select_partition`` (count=users), its ratio to the baseline
(target <= 3), a log-log growth table over users and partitions with fitted exponents
(target <= 1: no worse than linear), and the effect of ``expected_mailbox_kib``.
"""

import argparse
import math
import os
import random
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
import conftest  # noqa: E402,F401  makes the checkout importable as ansible_collections.imapops.cyrus

from ansible_collections.imapops.cyrus.plugins.filter.placement import select_partition  # noqa: E402
from ansible_collections.imapops.cyrus.plugins.module_utils.distribution import SELECT_MODES  # noqa: E402

TARGET_RATIO = 3.0


def layout(partitions, seed=7):
    generator = random.Random(seed)
    facts = []
    for index in range(partitions):
        total = generator.randint(500, 4000) * 1024 * 1024
        facts.append({"name": "p%04d" % index, "path": "/srv/cyrus/p%04d" % index,
                      "available_kib": generator.randint(total // 20, total - 1), "total_kib": total,
                      "fsid": index + 1, "measurable": True, "error": None, "flags": []})
    return {"cyrus_partitions": facts, "cyrus_distribution": {"partition_select_mode": "freespace-most"}}


def median_time(function, repeat):
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def baseline(facts, users, repeat):
    names = [p["name"] for p in facts["cyrus_partitions"]]
    weights = [p["available_kib"] * 100.0 / p["total_kib"] for p in facts["cyrus_partitions"]]
    generator = random.Random(1)
    return median_time(lambda: generator.choices(names, weights, k=users), repeat)


def plan(facts, users, mode, **options):
    return select_partition(facts, count=users, mode=mode, **options)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100000)
    parser.add_argument("--partitions", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    facts = layout(args.partitions)
    base = baseline(facts, args.users, args.repeat)
    print("planning %d users over %d partitions (median of %d runs)" % (args.users, args.partitions, args.repeat))
    print("baseline random.choices: %.4f s" % base)
    print("%-34s %9s %7s  %s" % ("mode", "seconds", "ratio", "target <= %.1f" % TARGET_RATIO))
    worst = 0.0
    for mode in SELECT_MODES:
        seconds = median_time(lambda: plan(facts, args.users, mode), args.repeat)
        ratio = seconds / base
        worst = max(worst, ratio)
        print("%-34s %9.4f %7.2f  %s" % (mode, seconds, ratio, "ok" if ratio <= TARGET_RATIO else "OVER"))

    print("\ngrowth (freespace-percent-weighted; seconds; log-log slope per axis)")
    user_steps = [args.users // 100, args.users // 10, args.users]
    part_steps = [max(2, args.partitions // 100), max(2, args.partitions // 10), args.partitions]
    grid = {}
    print("%10s" % "users\\parts" + "".join("%10d" % p for p in part_steps))
    for users in user_steps:
        row = []
        for parts in part_steps:
            layout_facts = layout(parts)
            seconds = median_time(lambda: plan(layout_facts, users, "freespace-percent-weighted"), 3)
            grid[(users, parts)] = seconds
            row.append("%10.4f" % seconds)
        print("%10d" % users + "".join(row))
    user_slope = math.log(grid[(user_steps[-1], part_steps[-1])] / grid[(user_steps[0], part_steps[-1])]) / \
        math.log(user_steps[-1] / float(user_steps[0]))
    part_slope = math.log(grid[(user_steps[-1], part_steps[-1])] / grid[(user_steps[-1], part_steps[0])]) / \
        math.log(part_steps[-1] / float(part_steps[0]))
    print("slope in users: %.2f, in partitions: %.2f (1.0 = linear)" % (user_slope, part_slope))

    small_users, small_parts = max(1, args.users // 10), max(2, args.partitions // 10)
    small = layout(small_parts)
    quota_kib = 2 * 1024 * 1024
    print("\nexpected_mailbox_kib=%d (2 GiB) for %d users over %d partitions, freespace-most:"
          % (quota_kib, small_users, small_parts))
    for label, options in (("Cyrus (no expected size)", {}), ("expected size", {"expected_mailbox_kib": quota_kib})):
        started = time.perf_counter()
        names = plan(small, small_users, "freespace-most", **options)
        seconds = time.perf_counter() - started
        counts = sorted(names.count(p["name"]) for p in small["cyrus_partitions"])
        print("  %-26s %7.3f s  partitions used: %4d of %d, most users on one: %d"
              % (label, seconds, sum(1 for c in counts if c), small_parts, counts[-1]))
    print("\nresult: worst ratio %.2f, target %.1f: %s" % (worst, TARGET_RATIO, "MET" if worst <= TARGET_RATIO else "MISSED"))
    return 0 if worst <= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
