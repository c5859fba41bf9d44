# -*- coding: utf-8 -*-
# Copyright: imapops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unmeasurable partitions (field case FC-14): every way statvfs can let Cyrus down.

statvfs failing (ESTALE: stale NFS handle, EACCES, EOVERFLOW: 32-bit build on a huge
filesystem, EIO, ENOENT that mkdir cannot cure), a filesystem reporting 0 blocks, and
one reporting more available than total space. Cyrus then gives up on the mode for the
life of the process: every candidate of the list (over the soft limit, full, on a shared
filesystem: all of them, only the exclude list still counts) is equally likely. The
engine with ``on_unmeasurable='random'`` must give exactly that distribution (chi-square,
alpha 1e-4 per test); ``'skip'`` (the collection's safer choice) visibly differs.

Source detail checked on the real server too: partitions after the unmeasurable one in
Cyrus's list order are not measured at all (shim log).
"""
import collections

import pytest

import diffharness as h
from diffharness import Case, Figures

CREATIONS = 1500


def pct(free_percent, fsid):
    return Figures(100 * 1024, free_percent * 1024, free_percent * 1024, 1024, fsid)


KINDS = [
    ("ESTALE", "freespace-most", "IOERROR: statvfs[{path}]: Stale file handle"),
    ("EACCES", "freespace-percent-most", "IOERROR: statvfs[{path}]: Permission denied"),
    ("EOVERFLOW", "freespace-percent-weighted", "IOERROR: statvfs[{path}]: Value too large"),
    ("EIO", "freespace-percent-weighted-delta", "IOERROR: statvfs[{path}]: Input/output error"),
    ("ENOENT", "freespace-most", "IOERROR: creating {path}: File exists"),
    ("total-0", "freespace-percent-most", "IOERROR: statvfs[{path}]: non-positive number of blocks"),
    ("over-100", "freespace-most", None),
]


def fallback_case(kind, mode):
    """A clear winner (u1), one over the soft limit (u2), a shared filesystem (u3/u5), an
    excluded partition (u6) and the unmeasurable one (u4)."""
    shared = pct(40, 0x33)
    return Case("unmeasurable-%s-%s" % (kind, mode),
                [("u1", pct(90, 0x11)), ("u2", pct(5, 0x22)), ("u3", shared),
                 ("u4", h.unmeasurable_rule(kind, 0x44)), ("u5", shared), ("u6", pct(99, 0x66))],
                mode=mode, exclude="u6", soft_limit=80)


@pytest.mark.parametrize("kind, mode, message", KINDS, ids=["%s-%s" % (k, m) for k, m, _ in KINDS])
def test_one_unmeasurable_partition_makes_cyrus_choose_uniformly(shim_lab, kind, mode, message):
    case = fallback_case(kind, mode)
    syslog_before = len(shim_lab.lab.syslog_lines())
    counts, refused, entries = h.run_one_process(shim_lab, case, CREATIONS)
    assert refused == 0
    # measured once (reinit 0), by one process, and never the excluded partition
    assert len(set(pid for pid, _, _ in entries)) == 1
    assert "u6" not in set(name for _, name, _ in entries)
    chances = h.engine(case, on_unmeasurable="random").chances()
    # five candidates, uniform (exactly: rand() % 5 over 2**31 values)
    assert all(chance == pytest.approx(20.0, abs=1e-6) for chance in chances.values()), chances
    fit = h.check_distribution(case, counts, chances, CREATIONS, case.ident)
    # the collection's default 'skip' leaves u4 out and keeps the mode: not what Cyrus does
    skipped = h.engine(case, on_unmeasurable="skip").chances()
    assert h.rejected(counts, skipped)
    with pytest.raises(h.distribution.UnmeasurableError):
        h.engine(case, on_unmeasurable="fail").chances()
    if message:
        expected = message.format(path=shim_lab.paths["u4"])
        lines = shim_lab.lab.syslog_lines()[syslog_before:]
        assert any(expected in line for line in lines), "no %r in Cyrus's syslog:\n%s" % (
            expected, "\n".join(lines[-20:]))
    h.report("unmeasurable %-9s %-33s n=%d chi2=%6.2f df=%d p=%.3f  %s"
             % (kind, mode, CREATIONS, fit.statistic, fit.df, fit.p_value,
                " ".join("%s %d" % (name, counts.get(name, 0)) for name in chances)))


def test_partitions_after_the_unmeasurable_one_are_not_measured(shim_lab):
    """In each process Cyrus measures its list up to the failing partition and stops; the
    engine, given that process's order, measures exactly the same partitions."""
    case = Case("stops-at-failure", [("v%d" % i, pct(10 + 10 * i, 0x100 + i)) for i in range(1, 7)],
                mode="freespace-most")
    case.partitions[2] = h.Partition("v3", h.unmeasurable_rule("ESTALE", 0))
    shim_lab.apply(case)
    lengths = collections.Counter()
    for _ in range(30):
        result = shim_lab.create_fresh()
        assert result.order and result.order[-1] == "v3", result.order
        measured = []
        order = result.order + [name for name in case.names if name not in result.order]
        h.engine(case, order=order, measured=measured).chances()
        assert measured == result.order
        lengths[len(result.order)] += 1
    assert min(lengths) < len(case.names) and len(lengths) > 1, lengths
    h.report("unmeasurable: partitions measured per process before stopping at the failing one: %s"
             % ", ".join("%d x%d" % item for item in sorted(lengths.items())))


def test_a_filesystem_with_more_free_than_total_space_is_the_over_100_rule(shim_lab):
    """free% > 100 is unmeasurable, free% == 100 is not: the boundary, on the server."""
    full_free = Case("free-100", [("t1", Figures(1000, 1000, 1000, 4096, 1)), ("t2", pct(50, 2))],
                     mode="freespace-percent-most")
    shim_lab.apply(full_free)
    assert {shim_lab.create_fresh().partition for _ in range(6)} == {"t1"}
    assert h.engine(full_free).chances()["t1"] == 100.0
    over = Case("free-over-100", [("t1", Figures(1000, 1001, 1001, 4096, 1)), ("t2", pct(50, 2))],
                mode="freespace-percent-most")
    counts, _, _ = h.run_one_process(shim_lab, over, 400)
    assert h.chi_square(counts, h.engine(over).chances()).p_value >= h.ALPHA
    assert set(counts) == {"t1", "t2"}
