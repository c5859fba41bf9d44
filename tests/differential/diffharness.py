# -*- coding: utf-8 -*-
# Copyright: imapops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Differential harness: the real Cyrus 3.6.1 against the engine, on sizes set by the shim.

One Cyrus lab (``ShimLab``) serves every configuration: before each CREATE the harness
rewrites the shim's rule file (sizes, filesystem ids, statvfs errors) and imapd.conf
(partitions, mode, exclude, soft limit, reinit). With ``imapd -U 1`` every connection is
a fresh imapd process that reads imapd.conf again and measures again, lazily, at its
first selection. The shim's call log shows which partition paths a process measured and
in which order: that is Cyrus's per-process hash order of the partition list.

Also here: the seeded configuration generator, the engine's answer for a configuration
(in any list order), and a chi-square test written out (no scipy).
"""

import collections
import errno as errno_module
import imaplib
import itertools
import math
import os
import random
import re

from ansible_collections.imapops.cyrus.plugins.module_utils import distribution
from ansible_collections.imapops.cyrus.plugins.module_utils.distribution import (
    SelectionList, kib_from_statvfs)

import diffshim as shim

KIB_PER_MIB = 1024
KIB_PER_TIB = 1024 ** 3
MIN_KIB = 1 * KIB_PER_MIB          # 1 MiB
MAX_KIB = 100 * KIB_PER_TIB        # 100 TiB
MODES = distribution.SELECT_MODES
MOST_MODES = ("freespace-most", "freespace-percent-most")
WEIGHTED_MODES = ("freespace-percent-weighted", "freespace-percent-weighted-delta")
DEFAULT_SEED = 20250611
DEFAULT_CASES = 500
ALPHA = 1e-4  # false-failure rate of each distribution test
PARTITION_ANNOTATION = "/shared/vendor/cmu/cyrus-imapd/partition"
NO_PARTITION = re.compile(r"Unknown/invalid partition", re.I)

imaplib.Commands.setdefault("GETMETADATA", ("AUTH", "SELECTED"))

Figures = shim.Figures
Partition = collections.namedtuple("Partition", "name rule")  # rule: Figures or errno int


# --------------------------------------------------------------------------- run settings

REPORT = []  # lines for the summary at the end of the run (conftest prints them)


def report(line):
    REPORT.append(line)


def _option(config, name):
    try:
        return config.getoption(name)
    except ValueError:  # not registered: pytest saw tests/differential/conftest.py too late
        return None


def differential_size(config):
    """--differential-size, else $IMAPOPS_DIFF_CASES, else DEFAULT_CASES."""
    value = _option(config, "differential_size")
    if value is None:
        value = int(os.environ.get("IMAPOPS_DIFF_CASES") or DEFAULT_CASES)
    return value


def differential_seed(config):
    """--differential-seed, else $IMAPOPS_DIFF_SEED, else DEFAULT_SEED."""
    value = _option(config, "differential_seed")
    if value is None:
        value = os.environ.get("IMAPOPS_DIFF_SEED") or DEFAULT_SEED
    return value


# --------------------------------------------------------------------------- configurations

class Case(object):
    """One configuration: partitions (config-file order) with their statvfs rules, settings."""

    def __init__(self, ident, partitions, mode=None, exclude=None, soft_limit=None, reinit=None,
                 notes=()):
        self.ident = ident
        self.partitions = [p if isinstance(p, Partition) else Partition(*p) for p in partitions]
        self.mode = mode                  # None: not written, Cyrus's default applies
        self.exclude = exclude            # the raw imapd.conf value, or None
        self.soft_limit = soft_limit
        self.reinit = reinit
        self.notes = list(notes)

    @property
    def names(self):
        return [p.name for p in self.partitions]

    @property
    def effective_mode(self):
        return self.mode or distribution.DEFAULT_MODE

    def rule(self, name):
        for partition in self.partitions:
            if partition.name == name:
                return partition.rule
        raise KeyError(name)

    def candidates(self):
        """Names left after the exclude list, in config order."""
        excluded = set(distribution.parse_exclude(self.exclude))
        return [name for name in self.names if name not in excluded]

    def imapd_options(self, paths):
        """imapd.conf options for this case (``paths``: name -> directory)."""
        options = collections.OrderedDict()
        for name in self.names:
            options["partition-%s" % name] = paths[name]
        if self.mode is not None:
            options["partition_select_mode"] = self.mode
        if self.exclude is not None:
            options["partition_select_exclude"] = self.exclude
        if self.soft_limit is not None:
            options["partition_select_soft_usage_limit"] = str(self.soft_limit)
        if self.reinit is not None:
            options["partition_select_usage_reinit"] = str(self.reinit)
        return options

    def describe(self):
        rows = []
        for partition in self.partitions:
            rule = partition.rule
            if isinstance(rule, int):
                rows.append("%s: errno %s" % (partition.name, errno_module.errorcode.get(rule, rule)))
            else:
                available, total, _ = shim.kib(rule)
                percent = "%.6f%%" % (available * 100.0 / total) if total else "total 0"
                rows.append("%s: %d/%d KiB free (%s) fsid %#x" % (partition.name, available, total,
                                                                  percent, rule.fsid))
        return ("case %s mode=%s exclude=%r soft_limit=%s reinit=%s\n  %s"
                % (self.ident, self.mode, self.exclude, self.soft_limit, self.reinit,
                   "\n  ".join(rows)))

    def __repr__(self):
        return "Case(%s)" % self.ident


def measure_rule(rule):
    """The engine's view of a shim rule: a Usage through kib_from_statvfs, or OSError."""
    if isinstance(rule, int):
        raise OSError(rule, os.strerror(rule))
    view = collections.namedtuple("StatvfsView", "f_blocks f_bavail f_bfree f_frsize f_fsid")(
        rule.blocks, rule.bavail, rule.bfree, rule.frsize, rule.fsid)
    return kib_from_statvfs(view)


def engine(case, order=None, on_unmeasurable="random", rand=None, usage_reinit=None, measure=None,
           measured=None):
    """The engine's SelectionList for ``case`` (candidates in ``order``, default config order).

    ``measured``, a list, records every name the engine measures, in order.
    """
    names = list(order) if order is not None else case.names

    def default_measure(name):
        if measured is not None:
            measured.append(name)
        return measure_rule(case.rule(name))

    return SelectionList(
        names, measure or default_measure, mode=case.effective_mode, exclude=case.exclude,
        soft_usage_limit=case.soft_limit or 0,
        usage_reinit=(case.reinit or 0) if usage_reinit is None else usage_reinit,
        rand=rand, on_unmeasurable=on_unmeasurable)


def support(case, order=None):
    """Candidates with a chance > 0 for the next selection in ``order``."""
    chances = engine(case, order).chances()
    return frozenset(name for name, chance in chances.items() if chance > 0)


def orders_to_try(case, exhaustive_up_to=0):
    """List orders that reach every answer Cyrus's hash order can give.

    Every permutation of the candidates for up to ``exhaustive_up_to`` of them. Beyond
    that, the config order plus, for each candidate, that candidate first: in the
    ``*-most`` modes the winner is the first of the best (same-filesystem partitions have
    the same figures, so which of them is kept only matters when they win), so a name
    that can win in some order wins when it comes first; in the other modes the
    candidates with a non-zero weight do not depend on the order.
    """
    candidates = case.candidates()
    if len(candidates) <= exhaustive_up_to:
        return list(itertools.permutations(candidates))
    orders = [tuple(candidates)]
    for name in candidates:
        orders.append((name,) + tuple(c for c in candidates if c != name))
    return orders


def possible_answers(case, exhaustive_up_to=0):
    """Every partition the engine can choose in some list order (empty: CREATE fails)."""
    found = set()
    for order in orders_to_try(case, exhaustive_up_to):
        found |= support(case, order)
    return frozenset(found)


# --------------------------------------------------------------------------- the generator

def _name(rng, taken):
    while True:
        name = rng.choice("abcdefghijklmnopqrstuvwxyz") + "".join(
            rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(rng.randint(0, 5)))
        if name not in taken:
            taken.add(name)
            return name


def _figures_for(rng, total_kib, free_fraction, reserve_fraction, fsid):
    frsize = rng.choice((512, 1024, 2048, 4096, 4096, 4096, 65536))
    blocks = max(1, int(round(total_kib * 1024.0 / frsize)))
    bavail = min(blocks, int(blocks * free_fraction))
    bfree = min(blocks, bavail + int(blocks * reserve_fraction))
    return Figures(blocks, bavail, bfree, frsize, fsid)


def _exact_percent_figures(rng, free_percent, fsid):
    """Figures whose free% is exactly ``free_percent`` (an integer) in Cyrus's arithmetic."""
    unit = rng.choice((1, 7, 1000, 123457, 10 ** 7))
    blocks = 100 * unit
    bavail = free_percent * unit
    return Figures(blocks, bavail, bavail, 1024, fsid)


UNMEASURABLE_KINDS = ("ESTALE", "EACCES", "EOVERFLOW", "EIO", "ENOENT", "total-0", "over-100")


def unmeasurable_rule(kind, fsid):
    if kind == "total-0":
        return Figures(0, 0, 0, 4096, fsid)
    if kind == "over-100":
        return Figures(1000, 1001, 1001, 4096, fsid)   # more available than total
    return getattr(errno_module, kind)


def generate_case(seed, index):
    """Configuration ``index`` of the seeded series (independent of how many are generated)."""
    rng = random.Random("imapops-differential-%s-%d" % (seed, index))
    count = rng.randint(2, 12)
    taken = set()
    partitions = []
    filesystems = []  # (fsid, figures) usable for sharing
    notes = []
    for _ in range(count):
        name = _name(rng, taken)
        if filesystems and rng.random() < 0.2:
            fsid, figures = rng.choice(filesystems)
            partitions.append(Partition(name, figures))
            notes.append("same-fs")
            continue
        fsid = rng.choice((rng.randint(1, 2 ** 32 - 1), rng.randint(2 ** 32, 2 ** 64 - 1)))
        total_kib = int(math.exp(rng.uniform(math.log(MIN_KIB), math.log(MAX_KIB))))
        roll = rng.random()
        if roll < 0.08:
            free = 0.0                                  # full
        elif roll < 0.13:
            free = 1.0                                  # empty
        elif roll < 0.25:
            free = rng.uniform(0.0, 0.02)               # nearly full
        else:
            free = rng.random()
        reserve = rng.choice((0.0, 0.0, 0.05, 0.1))
        figures = _figures_for(rng, total_kib, free, reserve, fsid)
        filesystems.append((fsid, figures))
        partitions.append(Partition(name, figures))

    roll = rng.random()
    if roll < 0.3:
        mode = "freespace-most"
    elif roll < 0.6:
        mode = "freespace-percent-most"
    elif roll < 0.72:
        mode = "freespace-percent-weighted"
    elif roll < 0.84:
        mode = "freespace-percent-weighted-delta"
    elif roll < 0.94:
        mode = "random"
    else:
        mode = None                                     # Cyrus's default: freespace-most

    soft_limit = None
    roll = rng.random()
    if roll < 0.25:
        soft_limit = rng.randint(1, 99)
    elif roll < 0.45:
        # the exact boundary: one partition's usage equals the limit (equal counts as over)
        soft_limit = rng.randint(1, 99)
        victim = rng.randrange(len(partitions))
        partitions[victim] = Partition(partitions[victim].name,
                                       _exact_percent_figures(rng, 100 - soft_limit, rng.randint(1, 2 ** 40)))
        notes.append("soft-limit-boundary")
    elif roll < 0.5:
        soft_limit = rng.choice((0, -5, 100, 150))

    exclude = None
    if rng.random() < 0.35:
        names = [p.name for p in partitions]
        chosen = rng.sample(names, rng.randint(1, min(3, len(names))))
        if rng.random() < 0.2:
            chosen.append(_name(rng, set(taken)))       # a name with no partition
        if rng.random() < 0.1:
            chosen.append(rng.choice(names).upper())    # case-sensitive: excludes nothing
        separators = (",", "\t", " ", ", ", ",\t", "\t,", "  ", "\t\t")
        text = chosen[0]
        for item in chosen[1:]:
            text += rng.choice(separators) + item
        if rng.random() < 0.2:
            text = rng.choice((",", "\t,", ", ")) + text   # a leading separator
        exclude = text
        notes.append("exclude")

    if rng.random() < 0.06:
        victim = rng.randrange(len(partitions))
        kind = rng.choice(UNMEASURABLE_KINDS)
        partitions[victim] = Partition(partitions[victim].name, unmeasurable_rule(kind, rng.randint(1, 2 ** 40)))
        notes.append("unmeasurable-%s" % kind)

    reinit = rng.choice((None, None, 0, 1, 3))
    return Case("%s-%04d" % (seed, index), partitions, mode=mode, exclude=exclude,
                soft_limit=soft_limit, reinit=reinit, notes=notes)


def generate_cases(seed, count):
    return [generate_case(seed, index) for index in range(count)]


# --------------------------------------------------------------------------- the server side

CreateResult = collections.namedtuple("CreateResult", "mailbox partition error pid order")


class ShimLab(object):
    """A started CyrusLab whose processes load the shim, plus the shim's rule file and log."""

    def __init__(self, lab, shim_conf_path, shim_log_path):
        self.lab = lab
        self.owner = lab._cyrus_ids()
        self.rules = shim.ShimConfig(shim_conf_path, owner=self.owner)
        self.log_path = shim_log_path
        self.case = None
        self.paths = {}
        self._serial = itertools.count(1)
        self._parts_dir = os.path.join(lab.root, "p")
        self._ensure_dir(self._parts_dir)

    def _ensure_dir(self, path):
        if not os.path.isdir(path):
            os.makedirs(path)
            os.chown(path, *self.owner)
            os.chmod(path, 0o750)

    def path_of(self, name):
        return os.path.join(self._parts_dir, name)

    def apply(self, case, extra_conf=None):
        """Make the server see ``case``: shim rules first, then imapd.conf."""
        self.case = case
        self.paths = {}
        self.rules.clear()
        for partition in case.partitions:
            path = self.path_of(partition.name)
            self._ensure_dir(path)
            self.paths[partition.name] = path
            if isinstance(partition.rule, int):
                self.rules.fail(path, partition.rule)
            else:
                self.rules.set(path, partition.rule)
        self.rules.write()
        conf = {"partition-base": None}
        conf.update(case.imapd_options(self.paths))
        conf.update(extra_conf or {})
        self.lab.rewrite_imapd_conf(conf)

    def set_rule(self, name, rule):
        """Change one partition's statvfs rule now (running processes see it at their next call)."""
        path = self.paths[name]
        if isinstance(rule, int):
            self.rules.fail(path, rule)
        else:
            self.rules.set(path, rule)
        self.rules.write()

    def mailbox(self, prefix="d"):
        return "user.%s%06d" % (prefix, next(self._serial))

    # ----- the shim's call log
    def clear_log(self):
        with open(self.log_path, "w"):
            pass

    def log_entries(self):
        """[(pid, path, outcome)] of statvfs calls on this case's partition paths."""
        by_path = dict((path, name) for name, path in self.paths.items())
        entries = []
        with open(self.log_path) as handle:
            for line in handle:
                fields = line.split()
                if len(fields) == 4 and fields[1] == "statvfs" and fields[2] in by_path:
                    entries.append((int(fields[0]), by_path[fields[2]], fields[3]))
        return entries

    def measured_order(self, pid=None):
        """Names in the order one process measured them, repeated calls for one path folded."""
        order = []
        for entry_pid, name, _ in self.log_entries():
            if pid is not None and entry_pid != pid:
                continue
            if not order or order[-1] != name:
                order.append(name)
        return order

    # ----- IMAP
    def create_fresh(self, mailbox=None):
        """CREATE without partition on a new connection (a new imapd); what did Cyrus do?"""
        mailbox = mailbox or self.mailbox()
        self.clear_log()
        conn = self.lab.imap()
        try:
            partition, error = create(conn, mailbox)
        finally:
            conn.logout()
        pids = sorted(set(pid for pid, _, _ in self.log_entries()))
        pid = pids[0] if len(pids) == 1 else None
        order = self.measured_order(pid) if pid is not None else []
        return CreateResult(mailbox, partition, error, pid, order)

    def session(self):
        """A logged-in connection: one imapd process for as many CREATEs as wanted."""
        return self.lab.imap()


def create(conn, mailbox):
    """CREATE ``mailbox`` without partition; (partition, None) or (None, Cyrus's NO text)."""
    typ, data = conn.create(mailbox)
    if typ != "OK":
        text = b" ".join(d for d in data if isinstance(d, bytes)).decode(errors="replace")
        return None, text or typ
    typ, data = conn._simple_command("GETMETADATA", '"%s"' % mailbox, "(%s)" % PARTITION_ANNOTATION)
    if typ != "OK":
        raise AssertionError("GETMETADATA %s failed: %r" % (mailbox, data))
    _, responses = conn._untagged_response(typ, data, "METADATA")
    for response in responses:
        text = response.decode(errors="replace") if isinstance(response, bytes) else str(response)
        match = re.search(r'%s"? "([^"]*)"' % re.escape(PARTITION_ANNOTATION), text)
        if match:
            return match.group(1), None
    raise AssertionError("no partition in the GETMETADATA answer for %s: %r" % (mailbox, responses))


# --------------------------------------------------------------------------- comparisons

def check_with_cyrus_order(case, result):
    """The engine, given the order this Cyrus process measured in, does what Cyrus did.

    Returns the engine's chances in that order. Partitions Cyrus did not measure (after
    an unmeasurable one) go last, in config order: the engine must not measure them either.
    """
    candidates = case.candidates()
    assert set(result.order) <= set(candidates), \
        "Cyrus measured partitions that are not candidates (excluded?): %r" % (result.order,)
    order = list(result.order) + [name for name in candidates if name not in result.order]
    measured = []
    selection = engine(case, order=order, measured=measured)
    chances = selection.chances()
    if case.effective_mode == "random":
        assert result.order == [], "Cyrus measured partitions in random mode: %r" % (result.order,)
    assert measured == list(result.order), (
        "in Cyrus's order %r, Cyrus measured %r but the engine measured %r"
        % (order, result.order, measured))
    return chances


def run_one_process(shim_lab, case, creations):
    """``creations`` CREATEs on one connection; (counts per partition, refusals, log entries)."""
    shim_lab.apply(case)
    shim_lab.clear_log()
    counts = collections.Counter()
    refused = 0
    conn = shim_lab.session()
    try:
        for _ in range(creations):
            partition, _ = create(conn, shim_lab.mailbox("w"))
            if partition is None:
                refused += 1
            else:
                counts[partition] += 1
    finally:
        conn.logout()
    return counts, refused, shim_lab.log_entries()


def engine_measurements(case, creations):
    """How many times the engine measures in ``creations`` selections (its reinit rule)."""
    selection = engine(case, rand=distribution.stable_rand("count"))
    for _ in range(creations):
        selection.select()
    return selection.measurements_taken


def check_distribution(case, counts, chances, creations, label):
    fit = chi_square(counts, chances)
    assert not fit.impossible, "%s: Cyrus chose partitions the engine gives no chance: %r (chances %r)" % (
        label, fit.impossible, dict(chances))
    assert fit.p_value >= ALPHA, (
        "%s: Cyrus's counts do not fit the engine's chances: chi2=%.2f df=%d p=%.3g\n%s\ncounts %r\nchances %r"
        % (label, fit.statistic, fit.df, fit.p_value, case.describe(), dict(counts), dict(chances)))
    return fit


def rejected(counts, chances):
    fit = chi_square(counts, chances)
    return bool(fit.impossible) or fit.p_value < ALPHA


# --------------------------------------------------------------------------- statistics

def chi2_sf(statistic, df):
    """P(X >= statistic) for X chi-square with ``df`` degrees of freedom.

    The regularized upper incomplete gamma function Q(df/2, statistic/2): a power series
    below a + 1, a continued fraction (modified Lentz) above, as in every numerics text.
    """
    if df <= 0:
        raise ValueError("degrees of freedom must be positive")
    if statistic <= 0:
        return 1.0
    a, x = df / 2.0, statistic / 2.0
    log_prefix = a * math.log(x) - x - math.lgamma(a)
    if x < a + 1.0:
        term = total = 1.0 / a
        n = a
        for _ in range(10000):
            n += 1.0
            term *= x / n
            total += term
            if abs(term) < abs(total) * 1e-16:
                break
        return max(0.0, 1.0 - total * math.exp(log_prefix))
    tiny = 1e-300
    b = x + 1.0 - a
    c = 1.0 / tiny
    d = 1.0 / b
    h = d
    for i in range(1, 10000):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-16:
            break
    return math.exp(log_prefix) * h


ChiSquare = collections.namedtuple("ChiSquare", "statistic df p_value bins impossible")


def chi_square(observed, chances, min_expected=5.0):
    """Pearson's goodness of fit of ``observed`` counts to ``chances`` (percent per name).

    Names with chance 0 are not bins: any observation there is listed in ``impossible``
    (the caller fails on it outright). Bins expected below ``min_expected`` are merged,
    smallest first, so the chi-square approximation holds.
    """
    total = sum(observed.values())
    impossible = dict((name, count) for name, count in observed.items()
                      if count and chances.get(name, 0.0) <= 0.0)
    bins = [([name], chances[name] * total / 100.0, observed.get(name, 0))
            for name in chances if chances[name] > 0.0]
    bins.sort(key=lambda item: item[1])
    while len(bins) > 1 and bins[0][1] < min_expected:
        first, second = bins[0], bins[1]
        bins = [(first[0] + second[0], first[1] + second[1], first[2] + second[2])] + bins[2:]
        bins.sort(key=lambda item: item[1])
    statistic = sum((seen - expected) ** 2 / expected for _, expected, seen in bins)
    df = len(bins) - 1
    p_value = chi2_sf(statistic, df) if df > 0 else 1.0
    return ChiSquare(statistic, df, p_value, bins, impossible)


# --------------------------------------------------------------------------- cyr_df

CYR_DF = "/usr/lib/cyrus/bin/cyr_df"
DfRow = collections.namedtuple("DfRow", "total_kib used_kib available_kib location")


def write_minimal_conf(path, partitions, extra=None):
    """An imapd.conf with ``partitions`` (name -> path) that cyr_df and the facts read."""
    with open(path, "w") as handle:
        handle.write("configdirectory: %s\n" % os.path.join(os.path.dirname(path), "config"))
        for name, location in partitions.items():
            handle.write("partition-%s: %s\n" % (name, location))
        for key, value in (extra or {}).items():
            handle.write("%s: %s\n" % (key, value))
    os.chmod(path, 0o644)
    return path


def cyr_df(conf_path, env=None):
    """{partition: DfRow} as Cyrus's own cyr_df prints them (a failing statvfs: no row)."""
    import subprocess
    full_env = dict(os.environ)
    full_env.pop("LD_PRELOAD", None)
    full_env.update(env or {})
    result = subprocess.run([CYR_DF, "-C", conf_path], env=full_env, capture_output=True, text=True,
                            check=True)
    rows = {}
    for line in result.stdout.splitlines()[1:]:
        name, total, used, available, _percent, location = line.split(None, 5)
        rows[name] = DfRow(int(total), int(used), int(available), location)
    return rows
