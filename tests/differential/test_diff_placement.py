# -*- coding: utf-8 -*-
# Copyright: imapops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hundreds of generated configurations: Cyrus's choice for a CREATE without partition
against the engine's, every one on a fresh imapd process.

Each configuration falls in one class, decided by the engine over list orders (Cyrus
uses its hash order, different per process):

- deterministic: one partition in every order (or none: Cyrus must refuse the CREATE).
  Cyrus must choose exactly that partition; 100 % agreement is required.
- order-dependent (``*-most`` modes: a tie, or a same-filesystem group that wins):
  Cyrus's choice must be one the engine makes in some order.
- random (``random``, the weighted modes, the fallback after an unmeasurable partition):
  Cyrus's choice must have a chance > 0; the distributions are in
  ``test_diff_distributions.py``.

For every class, in addition: the shim's log shows the order in which this process
measured its partitions. Given that order, the engine must measure exactly the same
partitions (nothing in ``random`` mode, nothing excluded, nothing after an unmeasurable
one) and, in the ``*-most`` modes, choose exactly what Cyrus chose.
"""
import collections

import pytest

import diffharness as h

_TALLY = collections.Counter()


def pytest_generate_tests(metafunc):
    if "generated_case" in metafunc.fixturenames:
        cases = h.generate_cases(h.differential_seed(metafunc.config), h.differential_size(metafunc.config))
        metafunc.parametrize("generated_case", cases, ids=[case.ident for case in cases])


@pytest.fixture(scope="module", autouse=True)
def _summary():
    yield
    if _TALLY["cases"]:
        h.report("generated configurations compared: %d (seed %s)" % (_TALLY["cases"], _TALLY.get("seed", "?")))
        h.report("  deterministic: %d/%d identical (of which %d refused by both: no partition left)"
               % (_TALLY["deterministic-agree"], _TALLY["deterministic"], _TALLY["refused"]))
        h.report("  order-dependent (*-most ties / same filesystem): %d/%d in the engine's set over orders"
               % (_TALLY["order-agree"], _TALLY["order"]))
        h.report("  random outcome (random, weighted, fallback): %d/%d with a chance > 0"
               % (_TALLY["random-agree"], _TALLY["random"]))
        h.report("  exact under Cyrus's own list order (shim log): %d/%d *-most choices, "
               "measured partitions identical in %d/%d"
               % (_TALLY["exact-agree"], _TALLY["exact"], _TALLY["measured-agree"], _TALLY["cases"]))


def test_generated_configuration(shim_lab, generated_case, request):
    case = generated_case
    _TALLY["seed"] = h.differential_seed(request.config)
    possible = h.possible_answers(case)
    shim_lab.apply(case)
    result = shim_lab.create_fresh()
    context = "%s\nCyrus: %s %s, measured in order %r; engine's possible answers: %s" % (
        case.describe(), result.partition, result.error or "", result.order, sorted(possible))
    assert result.pid is not None or case.effective_mode == "random" or not case.candidates(), \
        "no single imapd measured the partitions: %s" % context
    _TALLY["cases"] += 1

    chances = h.check_with_cyrus_order(case, result)
    _TALLY["measured-agree"] += 1

    if not possible:
        _TALLY["deterministic"] += 1
        _TALLY["refused"] += 1
        assert result.partition is None and h.NO_PARTITION.search(result.error or ""), context
        assert all(chance == 0 for chance in chances.values()), context
        _TALLY["deterministic-agree"] += 1
        return

    assert result.partition is not None, context
    forced_random = max(chances.values()) < 100.0 and case.effective_mode in h.MOST_MODES
    if len(possible) == 1:
        _TALLY["deterministic"] += 1
        assert result.partition == next(iter(possible)), context
        _TALLY["deterministic-agree"] += 1
    elif case.effective_mode in h.MOST_MODES and not forced_random:
        _TALLY["order"] += 1
        assert result.partition in possible, context
        _TALLY["order-agree"] += 1
    else:
        _TALLY["random"] += 1
        assert result.partition in possible, context
        _TALLY["random-agree"] += 1

    assert chances[result.partition] > 0, "engine in Cyrus's order gives %s no chance: %s" % (
        result.partition, context)
    if case.effective_mode in h.MOST_MODES and not forced_random:
        _TALLY["exact"] += 1
        assert chances[result.partition] == 100.0, context
        _TALLY["exact-agree"] += 1
