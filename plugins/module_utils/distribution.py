# -*- coding: utf-8 -*-
# Copyright: imapops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where Cyrus IMAP 3.6.1 puts a new mailbox: the selection engine.

Pure Python, no Ansible imports, no I/O: the caller measures (``measure``
callables) and supplies randomness (``rand`` callables). Every rule here is one
of ``docs/semantics.md``; the numbered comments point at the sections of the
project's Cyrus reference (spec §3-§6).

Public API (stable): ``Usage``, ``kib_from_statvfs``, ``SelectionList``,
``parse_exclude``, ``parse_freespace_value``, ``stable_rand``,
``backend_freespace``, ``SELECT_MODES``, ``DEFAULT_MODE``,
``SelectionError``, ``UnmeasurableError``.
"""

import array
import bisect
import copy
import hashlib
import random
import re
import struct
import sys
from collections import OrderedDict, namedtuple

SELECT_MODES = (
    "random",
    "freespace-most",
    "freespace-percent-most",
    "freespace-percent-weighted",
    "freespace-percent-weighted-delta",
)
DEFAULT_MODE = "freespace-most"
ON_UNMEASURABLE = ("random", "skip", "fail")

# Modes that keep one candidate per filesystem id (spec §4 "same filesystem").
_DEDUP_MODES = ("freespace-most", "freespace-percent-most")
_WEIGHTED_MODES = ("freespace-percent-weighted", "freespace-percent-weighted-delta")

RAND_RANGE = 2 ** 31  # RAND_MAX + 1 on glibc: rand() returns 0 .. 2**31-1
_LIST_SEPARATORS = re.compile(r"[ ,\t]+")


class SelectionError(ValueError):
    """Arguments the engine cannot work with (unknown mode, bad exclude, ...)."""


class UnmeasurableError(SelectionError):
    """A candidate could not be measured and the policy is ``fail``."""

    def __init__(self, name, reason, others=()):
        self.name = name
        self.reason = reason
        self.failures = [(name, reason)] + list(others)
        described = "; ".join("cannot measure %r: %s" % failure for failure in self.failures)
        super(UnmeasurableError, self).__init__(
            "%s (on_unmeasurable=fail; use 'skip' to leave it out or 'random' to do what Cyrus "
            "does: choose uniformly at random)" % described)


class Usage(namedtuple("Usage", "available_kib total_kib fsid")):
    """Free and total space in KiB as Cyrus computes them, plus the filesystem id."""

    __slots__ = ()

    def __new__(cls, available_kib, total_kib, fsid=None):
        return super(Usage, cls).__new__(cls, int(available_kib), int(total_kib), fsid)

    @property
    def free_percent(self):
        """available x 100 / total as a float, never rounded; None when total is 0."""
        if self.total_kib <= 0:
            return None
        return self.available_kib * 100.0 / self.total_kib


def kib_from_statvfs(st):
    """Cyrus's arithmetic on a ``statvfs`` result (spec §3).

    f_bavail (not f_bfree) and f_frsize (not f_bsize), scaled to KiB in double
    precision and truncated; the id is f_fsid (not st_dev). A filesystem reporting
    0 blocks gets (0, 0, id 0): Cyrus stops filling its entry before the id, so in the
    ``*-most`` modes it is a "duplicate" of any earlier filesystem whose f_fsid is 0.
    """
    if not st.f_blocks > 0:
        return Usage(0, 0, 0)
    scale = st.f_frsize / 1024.0
    return Usage(int(st.f_bavail * scale), int(st.f_blocks * scale), getattr(st, "f_fsid", None))


def parse_exclude(exclude):
    """Cyrus's exclude syntax: names split on space, comma and tab; or a list."""
    if exclude is None:
        return []
    if isinstance(exclude, str):
        return [name for name in _LIST_SEPARATORS.split(exclude) if name]
    if isinstance(exclude, (list, tuple, set, frozenset)):
        names = []
        for item in exclude:
            if not isinstance(item, str):
                raise SelectionError("exclude list items must be strings, got %r (%s)"
                                     % (item, type(item).__name__))
            names.extend(parse_exclude(item))
        return names
    raise SelectionError("exclude must be a string or a list of names, got %s"
                         % type(exclude).__name__)


def parse_freespace_value(value):
    """Parse a freespace annotation value ``"<available>;<total>"`` (KiB) to a pair."""
    match = re.match(r"^\s*(\d+);(\d+)\s*$", str(value))
    if not match:
        raise SelectionError("not a freespace value '<available KiB>;<total KiB>': %r" % (value,))
    return int(match.group(1)), int(match.group(2))


def stable_rand(seed):
    """A ``rand()`` stand-in that gives the same 31-bit stream for a seed on every Python 3.

    The stream is SHAKE-256 of the seed text and a block number, read as big-endian
    32-bit words with the top bit cleared: unlike ``random.Random(seed)`` it does
    not depend on the interpreter. The callable also has ``many(n)`` for bulk draws
    (the same values n calls would return).
    """
    return _StableRand(seed)


class _StableRand(object):
    BLOCK_VALUES = 1024

    def __init__(self, seed):
        self._seed = str(seed).encode("utf-8") + b"\0"
        self._block = 0
        self._values = []
        self._position = 0

    def _refill(self):
        raw = hashlib.shake_256(self._seed + str(self._block).encode("ascii")).digest(4 * self.BLOCK_VALUES)
        self._block += 1
        words = array.array("I")
        if words.itemsize != 4:  # pragma: no cover - platforms with a 2- or 8-byte int
            self._values = [v & 0x7FFFFFFF for v in struct.unpack(">%dI" % self.BLOCK_VALUES, raw)]
        else:
            words.frombytes(raw)
            if sys.byteorder == "little":
                words.byteswap()
            self._values = [v & 0x7FFFFFFF for v in words]
        self._position = 0

    def __call__(self):
        if self._position >= len(self._values):
            self._refill()
        self._position += 1
        return self._values[self._position - 1]

    def many(self, count):
        drawn = []
        while len(drawn) < count:
            if self._position >= len(self._values):
                self._refill()
            take = min(count - len(drawn), len(self._values) - self._position)
            drawn.extend(self._values[self._position:self._position + take])
            self._position += take
        return drawn


def _system_rand():
    generator = random.SystemRandom()
    return lambda: generator.getrandbits(31)


class _Item(object):
    """One candidate as Cyrus keeps it: id, KiB figures and its selection weight ('quota')."""

    __slots__ = ("name", "fsid", "available", "total", "quota", "error", "skipped")

    def __init__(self, name):
        self.name = name
        self.fsid = 0
        self.available = 0
        self.total = 0
        self.quota = 0.0
        self.error = None
        self.skipped = False


class _Plan(object):
    """Derived from one measurement: what a selection can pick, precomputed.

    Cyrus scans the list on every selection; nothing changes between two
    measurements, so the scan results are computed once and reused.
    """

    __slots__ = ("available_count", "best_index", "cumulative", "fallback", "nonzero")

    def __init__(self, items, mode, force_random):
        self.nonzero = [i for i, item in enumerate(items) if item.quota != 0.0]
        self.available_count = len(self.nonzero)
        self.best_index = -1
        self.cumulative = []
        self.fallback = []
        if mode == "random" or force_random:
            return
        if mode == "freespace-most":
            best = 0
            for i, item in enumerate(items):
                if item.quota != 0.0 and item.available > best:
                    self.best_index, best = i, item.available
        elif mode == "freespace-percent-most":
            best = 0.0
            for i, item in enumerate(items):
                if item.quota != 0.0 and item.quota > best:
                    self.best_index, best = i, item.quota
        else:
            running = 0.0
            last_nonzero = -1
            for i, item in enumerate(items):
                running += item.quota
                self.cumulative.append(running)
                if item.quota != 0.0:
                    last_nonzero = i
                # a draw landing on a zero weight falls back to the nearest earlier non-zero one
                self.fallback.append(last_nonzero)

    def weighted_index(self, val):
        """First index whose running sum is strictly greater than val, as Cyrus scans."""
        index = bisect.bisect_right(self.cumulative, val)
        if index >= len(self.cumulative):
            index = len(self.cumulative) - 1
        return self.fallback[index]


class SelectionList(object):
    """Cyrus's partition (or backend) list with its selection mode (spec §4-§5).

    ``names`` are the candidates in list order (this collection uses
    imapd.conf order; Cyrus uses hash order). ``measure(name)`` returns a
    ``Usage`` or raises ``OSError``. ``rand()`` returns a 31-bit non-negative
    integer and is called exactly where Cyrus calls ``rand()``.

    Measurement is lazy (the first operation) and is redone before operations
    N+1, 2N+1, ... when ``usage_reinit`` is N > 0. Operations are ``select()``
    and ``freespace()``; ``chances()`` is not one.
    """

    def __init__(self, names, measure, mode=DEFAULT_MODE, exclude=None, soft_usage_limit=0,
                 usage_reinit=0, rand=None, on_unmeasurable="random"):
        if mode not in SELECT_MODES:
            raise SelectionError("unknown selection mode %r; Cyrus knows %s"
                                 % (mode, ", ".join(SELECT_MODES)))
        if on_unmeasurable not in ON_UNMEASURABLE:
            raise SelectionError("on_unmeasurable must be one of %s, got %r"
                                 % (", ".join(ON_UNMEASURABLE), on_unmeasurable))
        for label, value in (("soft_usage_limit", soft_usage_limit), ("usage_reinit", usage_reinit)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise SelectionError("%s must be an integer, got %r" % (label, value))
        if isinstance(names, str):
            names = parse_exclude(names)
        names = list(names)
        for name in names:
            if not isinstance(name, str) or not name:
                raise SelectionError("candidate names must be non-empty strings, got %r" % (name,))
        if not callable(measure):
            raise SelectionError("measure must be callable")
        excluded = set(parse_exclude(exclude))
        self.mode = mode
        self.soft_usage_limit = soft_usage_limit
        self.usage_reinit = usage_reinit
        self.on_unmeasurable = on_unmeasurable
        self.excluded = [name for name in names if name in excluded]
        self.candidates = [name for name in names if name not in excluded]
        self.warnings = []
        self._measure = measure
        self._rand = rand if rand is not None else _system_rand()
        self._items = [_Item(name) for name in self.candidates]
        self._force_random = False
        self._initialized = False
        self._reinit_counter = 0
        self._plan = None
        self.measurements_taken = 0

    # -- measuring (spec §3, §4) ----------------------------------------

    def _measure_item(self, item):
        item.fsid, item.available, item.total, item.quota = 0, 0, 0, 0.0
        item.error = None
        try:
            usage = self._measure(item.name)
        except OSError as exc:
            item.error = exc.strerror or str(exc) or exc.__class__.__name__
            return
        if not isinstance(usage, Usage):
            raise SelectionError("measure(%r) must return a Usage, got %r" % (item.name, usage))
        item.fsid, item.available, item.total = usage.fsid, usage.available_kib, usage.total_kib
        if item.total <= 0:
            item.error = "total size is 0"
        elif item.available > item.total:
            item.error = "available %d KiB exceeds total %d KiB" % (item.available, item.total)

    def _compute(self, items):
        """Measure every candidate and set its weight: partlist's quota computation."""
        self._plan = None
        mode = self.mode
        force_random = False
        if mode == "random":
            # nothing is measured in random mode: ids and sizes stay as they were
            for item in items:
                item.quota = 50.0
            return False
        self.measurements_taken += 1
        seen_fsids = set()
        soft_limit = 100.0 - self.soft_usage_limit
        soft_limit_in_use = False
        lowest = 100.0
        lowest_within_limit = 100.0
        if self.on_unmeasurable == "fail":
            # measure everything first so that the error names every failing candidate
            for item in items:
                self._measure_item(item)
            failures = [(item.name, item.error) for item in items if item.error is not None]
            if failures:
                raise UnmeasurableError(failures[0][0], failures[0][1], failures[1:])
        for item in items:
            if self.on_unmeasurable != "fail":
                self._measure_item(item)
            item.skipped = False
            if item.error is not None and self.on_unmeasurable == "skip":
                item.skipped = True
                item.quota = 0.0
                self.warnings.append("candidate %r left out: cannot measure it (%s)"
                                     % (item.name, item.error))
                continue
            if mode in _DEDUP_MODES:
                if item.fsid in seen_fsids:
                    item.quota = 0.0
                    continue
                seen_fsids.add(item.fsid)
            if item.error is not None:
                # Cyrus gives up on the mode: uniform random over the whole list
                force_random = True
                break
            item.quota = item.available * 100.0 / item.total
            lowest = min(lowest, item.quota)
            if item.quota <= soft_limit:
                continue
            soft_limit_in_use = True
            lowest_within_limit = min(lowest_within_limit, item.quota)
        if soft_limit_in_use:
            lowest = lowest_within_limit
        for item in items:
            if force_random:
                item.quota = 50.0
            elif soft_limit_in_use and item.quota <= soft_limit:
                item.quota = 0.0
            elif mode == "freespace-percent-weighted-delta" and not item.skipped:
                item.quota = max(item.quota - lowest + 0.5, 0.0)
        if force_random:
            return True
        if mode in _WEIGHTED_MODES:
            total = sum(item.quota for item in items)
            if total != 0:
                for item in items:
                    item.quota = item.quota * 100.0 / total
        return False

    def _ensure_initialized(self):
        if not self._initialized:
            self._initialized = True
            self._force_random = self._compute(self._items)

    def _bump(self):
        """Count one operation; re-measure when usage_reinit says so (spec §5)."""
        due = self.usage_reinit > 0 and self._reinit_counter >= self.usage_reinit
        self._reinit_counter += 1
        if due:
            self._force_random = self._compute(self._items)
            self._reinit_counter = 1

    def _current_plan(self):
        if self._plan is None:
            self._plan = _Plan(self._items, self.mode, self._force_random)
        return self._plan

    # -- operations -------------------------------------------------------

    def select(self):
        """The candidate Cyrus would pick for a CREATE without partition, or None."""
        index = self.select_index()
        return None if index < 0 else self._items[index].name

    def select_index(self):
        """Like ``select()``, returning the index in ``candidates`` (-1 for none)."""
        if not self._items:
            return -1
        self._ensure_initialized()
        available_before = self._current_plan().available_count
        if not available_before:
            self._bump()
            return -1
        self._bump()
        plan = self._current_plan()
        if self.mode == "random" or self._force_random:
            return self._random_walk(self._rand() % available_before)
        if self.mode in _WEIGHTED_MODES:
            return plan.weighted_index(100.0 * (self._rand() / float(RAND_RANGE)))
        return plan.best_index

    def select_many(self, count):
        """``count`` selections, exactly those ``count`` calls of ``select()`` make.

        Between two measurements nothing changes, so those stretches are drawn in
        bulk (one ``rand()`` per selection where Cyrus draws, none in the *-most
        modes). Returns a list of names (None where nothing could be chosen).
        """
        names = []
        while len(names) < count:
            index = self.select_index()
            names.append(None if index < 0 else self._items[index].name)
            remaining = count - len(names)
            if self.usage_reinit > 0:
                remaining = min(remaining, self.usage_reinit - self._reinit_counter)
            if remaining <= 0 or not self._items:
                continue
            plan = self._current_plan()
            self._reinit_counter += remaining
            if not plan.available_count:
                names.extend([None] * remaining)
            elif self.mode == "random" or self._force_random:
                steps = self._walk_table(plan.available_count)
                available = plan.available_count
                names.extend(self._items[steps[r % available]].name if steps[r % available] >= 0 else None
                             for r in self._draws(remaining))
            elif self.mode in _WEIGHTED_MODES:
                cumulative, fallback, last = plan.cumulative, plan.fallback, len(plan.cumulative) - 1
                chosen = [fallback[min(bisect.bisect_right(cumulative, 100.0 * (r / float(RAND_RANGE))), last)]
                          for r in self._draws(remaining)]
                names.extend(self._items[i].name if i >= 0 else None for i in chosen)
            else:
                best = plan.best_index
                names.extend([self._items[best].name if best >= 0 else None] * remaining)
        return names

    def _draws(self, count):
        many = getattr(self._rand, "many", None)
        return many(count) if many is not None else [self._rand() for _draw in range(count)]

    def _walk_table(self, available):
        """Index reached by Cyrus's walk for each residue 0..available-1 (-1 past the end)."""
        table = [0]
        index = 0
        for _slot in range(available - 1):
            index += 1
            while index < len(self._items) and self._items[index].quota == 0.0:
                index += 1
            table.append(index if index < len(self._items) else -1)
        return table

    def _random_walk(self, steps):
        # Cyrus starts at the first item and steps over zero-weight items
        index = 0
        for _step in range(steps):
            index += 1
            while index < len(self._items) and self._items[index].quota == 0.0:
                index += 1
            if index >= len(self._items):
                return -1
        return index

    def freespace(self, percent=False):
        """(available KiB, total KiB) a backend answers for ``freespace/total``.

        With ``percent=True``: the figures of the single candidate with the
        highest free percentage (``freespace/percent/most``). Counted as an
        operation for usage_reinit, as in Cyrus (spec §6).
        """
        self._ensure_initialized()
        self._bump()
        seen_ids = []
        sum_available = sum_total = 0
        best = (0, 0)
        best_percent = 0.0
        for item in self._items:
            if item.skipped:
                continue
            if item.quota == 0.0:
                seen_ids.append(item.fsid)
                continue
            if item.fsid in seen_ids:
                seen_ids.append(item.fsid)
                continue
            seen_ids.append(item.fsid)
            sum_available += item.available
            sum_total += item.total
            if percent:
                free = item.available * 100.0 / item.total if item.total > 0 else 0.0
                if best_percent < free <= 100.0:
                    best_percent, best = free, (item.available, item.total)
            elif item.available > best[0]:
                best = (item.available, item.total)
        if percent:
            return best
        return sum_available, sum_total

    # -- explanation ------------------------------------------------------

    def chances(self):
        """Probability (percent) of each candidate for the next ``select()``.

        Exact for Cyrus's draw: counts the 2**31 values ``rand()`` can return.
        Not an operation, though it measures if nothing was measured yet or if
        the next selection would re-measure.
        """
        self._ensure_initialized()
        items, force_random = self._items, self._force_random
        available_before = self._current_plan().available_count
        if self.usage_reinit > 0 and self._reinit_counter >= self.usage_reinit:
            items = copy.deepcopy(self._items)
            saved = (self._plan, self.measurements_taken)
            force_random = self._compute(items)
            self._plan, self.measurements_taken = saved
        plan = _Plan(items, self.mode, force_random)
        counts = [0] * len(items)
        if available_before:
            if self.mode == "random" or force_random:
                for residue in range(available_before):
                    index = self._walk_in(items, residue)
                    if index >= 0:
                        counts[index] += _residue_count(residue, available_before)
            elif self.mode in _WEIGHTED_MODES:
                previous = 0
                for i, bound in enumerate(plan.cumulative):
                    below = _draws_below(bound) if i < len(items) - 1 else RAND_RANGE
                    index = plan.fallback[i]
                    if index >= 0:
                        counts[index] += below - previous
                    previous = below
            elif plan.best_index >= 0:
                counts[plan.best_index] = RAND_RANGE
        result = OrderedDict((name, 0.0) for name in self.candidates)
        for item, count in zip(items, counts):
            result[item.name] += count * 100.0 / RAND_RANGE
        return result

    @staticmethod
    def _walk_in(items, steps):
        index = 0
        for _step in range(steps):
            index += 1
            while index < len(items) and items[index].quota == 0.0:
                index += 1
            if index >= len(items):
                return -1
        return index

    def report(self):
        """Per-candidate view of the last measurement, for people and for facts."""
        self._ensure_initialized()
        rows = []
        seen = []
        for item in self._items:
            if item.skipped:
                state = "unmeasurable-skipped"
            elif item.error is not None:
                state = "unmeasurable"
            elif self._force_random:
                state = "random-fallback"
            elif self.mode == "random":
                state = "candidate"
            elif self.mode in _DEDUP_MODES and item.fsid in seen:
                state = "same-filesystem"
            elif item.quota == 0.0 and item.total and item.available == 0:
                state = "full"
            elif item.quota == 0.0:
                state = "over-soft-limit"
            else:
                state = "candidate"
            seen.append(item.fsid)
            rows.append(OrderedDict([
                ("name", item.name),
                ("available_kib", item.available),
                ("total_kib", item.total),
                ("free_percent", (item.available * 100.0 / item.total) if item.total > 0 else None),
                ("fsid", item.fsid),
                ("weight", item.quota),
                ("state", state),
                ("error", item.error),
            ]))
        return rows


def _residue_count(residue, modulus):
    """How many of rand()'s 2**31 values leave ``residue`` modulo ``modulus``."""
    return (RAND_RANGE - 1 - residue) // modulus + 1


def _draws_below(bound):
    """How many r in [0, 2**31) give 100*(r/2**31) < bound, with Cyrus's float arithmetic."""
    low, high = 0, RAND_RANGE  # answer in [low, high]
    while low < high:
        middle = (low + high) // 2
        if 100.0 * (middle / float(RAND_RANGE)) < bound:
            low = middle + 1
        else:
            high = middle
    return low


def backend_freespace(partitions, measure, mode=DEFAULT_MODE, exclude=None, soft_usage_limit=0,
                      frontend_mode=DEFAULT_MODE, on_unmeasurable="random"):
    """What a backend answers when a frontend in ``frontend_mode`` measures it (spec §6).

    ``freespace/total`` for a ``freespace-most`` frontend, else
    ``freespace/percent/most``; computed with the backend's own partition
    settings. Returns ``Usage(available, total, None)``.
    """
    selection = SelectionList(partitions, measure, mode=mode, exclude=exclude,
                              soft_usage_limit=soft_usage_limit, on_unmeasurable=on_unmeasurable)
    available, total = selection.freespace(percent=(frontend_mode != "freespace-most"))
    return Usage(available, total, None)
