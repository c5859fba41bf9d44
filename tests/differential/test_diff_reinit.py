# -*- coding: utf-8 -*-
# Copyright: imapops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""partition_select_usage_reinit: one imapd process, free space changed between CREATEs.

The shim rereads its rules at every statvfs call, so a partition grows or shrinks for
the running process the moment the harness rewrites them. Cyrus measures lazily at the
first selection and again before operations N+1, 2N+1, ... (N = reinit; 0 = never); an
operation that finds nothing counts too. The engine runs in lockstep on the same
figures; both sequences of choices, and the number of measuring rounds, must be equal.
"""
import random

import pytest

import diffharness as h
from diffharness import Case, Figures

TIB_BLOCKS = 1024 ** 4 // 4096


def figures(free_tenths, fsid):
    """A 1 TiB filesystem with ``free_tenths``/10 of it free."""
    return Figures(TIB_BLOCKS, TIB_BLOCKS * free_tenths // 10, TIB_BLOCKS * free_tenths // 10, 4096, fsid)


STATES = {
    "a-wins": {"pa": figures(6, 101), "pb": figures(4, 102)},
    "b-wins": {"pa": figures(4, 101), "pb": figures(7, 102)},
    "full": {"pa": figures(0, 101), "pb": figures(0, 102)},
}


def run_lockstep(shim_lab, mode, reinit, schedule, before_first=None):
    """``schedule``: state name before each operation (None: unchanged). Returns
    (Cyrus's choices, the engine's choices, Cyrus's measuring rounds, the engine's)."""
    start = before_first or schedule[0]
    case = Case("reinit-%s-%d" % (mode, reinit), [(name, rule) for name, rule in STATES[start].items()],
                mode=mode, reinit=reinit)
    shim_lab.apply(case)
    current = dict(STATES[start])
    selection = h.engine(case, measure=lambda name: h.measure_rule(current[name]))
    server, engine = [], []
    shim_lab.clear_log()
    conn = shim_lab.session()     # one imapd process for the whole sequence
    try:
        for index, state in enumerate(schedule):
            if state is not None and (index > 0 or before_first):
                current.update(STATES[state])
                for name, rule in STATES[state].items():
                    shim_lab.set_rule(name, rule)
            partition, error = h.create(conn, shim_lab.mailbox("r"))
            assert partition or h.NO_PARTITION.search(error or ""), error
            server.append(partition)
            engine.append(selection.select())
    finally:
        conn.logout()
    entries = shim_lab.log_entries()
    assert len(set(pid for pid, _, _ in entries)) == 1
    return server, engine, len(entries) // 2, selection.measurements_taken


@pytest.mark.parametrize("mode", h.MOST_MODES)
@pytest.mark.parametrize("reinit", [0, 1, 2, 3])
def test_switch_happens_at_the_same_operation(shim_lab, mode, reinit):
    """pb grows past pa right after operation 1: the switch comes at operation reinit + 1."""
    schedule = ["a-wins", "b-wins"] + [None] * 6
    server, engine, server_rounds, engine_rounds = run_lockstep(shim_lab, mode, reinit, schedule)
    assert server == engine, "reinit %d: Cyrus %r, engine %r" % (reinit, server, engine)
    assert server_rounds == engine_rounds
    switch = server.index("pb") + 1 if "pb" in server else None
    assert switch == (reinit + 1 if reinit else None)
    h.report("reinit %d %-24s Cyrus %s | engine %s  (switch at operation %s)"
             % (reinit, mode, short(server), short(engine), switch))


@pytest.mark.parametrize("reinit", [0, 1, 2, 3])
def test_lazy_first_measurement_and_refused_operations_count(shim_lab, reinit):
    """Free space changed after login but before the first CREATE is what Cyrus sees (it
    measures at the first selection, not at connection); a CREATE refused because every
    partition is full is an operation for the reinit count too."""
    rng = random.Random("reinit-schedule-%d" % reinit)
    schedule = ["b-wins"] + [rng.choice(["a-wins", "b-wins", "full", None, None]) for _ in range(15)]
    server, engine, server_rounds, engine_rounds = run_lockstep(
        shim_lab, "freespace-most", reinit, schedule, before_first="a-wins")
    assert server == engine, "schedule %r\nCyrus  %r\nengine %r" % (schedule, server, engine)
    assert server_rounds == engine_rounds
    assert server[0] == "pb"  # measured at the first CREATE, after the change
    h.report("reinit %d schedule with full phases  Cyrus %s | engine %s  (%d refused, %d measuring rounds)"
             % (reinit, short(server), short(engine), server.count(None), server_rounds))


def short(choices):
    return " ".join(choice[1] if choice else "-" for choice in choices)
