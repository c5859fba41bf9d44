# -*- coding: utf-8 -*-
# Copyright: imapops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Between gathered facts and the selection engine. No Ansible imports.

``gather_partition_facts`` produces the ``cyrus_partitions`` and
``cyrus_distribution`` facts on a backend. ``partition_selection`` and
``backend_selection`` rebuild a ``SelectionList`` from those facts on the
controller, so filters and modules share one path to the engine.
"""

import hashlib
import json

from ansible_collections.imapops.cyrus.plugins.module_utils import distribution
from ansible_collections.imapops.cyrus.plugins.module_utils.distribution import (
    SelectionError, SelectionList, Usage)
from ansible_collections.imapops.cyrus.plugins.module_utils import imapd_conf
from ansible_collections.imapops.cyrus.plugins.module_utils.imapd_conf import load_imapd_conf
from ansible_collections.imapops.cyrus.plugins.module_utils.partition_probe import (
    flag_partitions, measure_partitions)

PARTITION_SETTINGS = ("partition_select_mode", "partition_select_soft_usage_limit",
                      "partition_select_usage_reinit", "defaultpartition")
SERVERLIST_SETTINGS = ("serverlist_select_mode", "serverlist_select_soft_usage_limit",
                       "serverlist_select_usage_reinit")
# Flags that mean "Cyrus measures some other filesystem than the partition's own".
MISMEASURED_FLAGS = ("missing", "not-mount-point", "root-filesystem")
UNMOUNTED_POLICIES = ("exclude", "include")


def gather_partition_facts(conf_path, service="imap", timeout=5.0):
    """Read imapd.conf, measure every partition; return (partitions, distribution, warnings)."""
    conf = load_imapd_conf(conf_path, service=service)
    measured = measure_partitions(conf.partitions, timeout=timeout)
    flags = flag_partitions(measured)
    warnings = []
    partitions = []
    for fact in measured:
        fact["flags"] = flags[fact["name"]]
        warnings.extend(flag["message"] for flag in fact["flags"])
        partitions.append(fact)
    settings = dict((name, conf.get(name)) for name in PARTITION_SETTINGS + SERVERLIST_SETTINGS)
    settings["partition_select_exclude"] = distribution.parse_exclude(conf.get("partition_select_exclude"))
    settings["serverlist"] = distribution.parse_exclude(conf.get("serverlist"))
    settings.update(
        imapd_conf=conf_path,
        service=service,
        overrides=dict((option, list(value)) for option, value in conf.overrides.items()),
        unknown_options=list(conf.unknown_options),
    )
    for option in conf.unknown_options:
        warnings.append("%s line %s: Cyrus ignores the unknown option %r%s" % (
            conf_path, conf.lines.get(option, "?"), option, _did_you_mean(option)))
    for option, (key, value) in conf.overrides.items():
        warnings.append("%s: %s overrides %s for service %s (value %r)" % (conf_path, key, option, service, value))
    for percent in (False, True):
        answer = _backend_answer(partitions, settings, percent)
        settings["freespace_percent_most" if percent else "freespace_total"] = list(answer)
    return partitions, settings, warnings


def _did_you_mean(option):
    real = imapd_conf.DOC_PAGE_NAMES.get(option)
    return " (the documentation's name; Cyrus reads %s)" % real if real else ""


def _backend_answer(partitions, settings, percent):
    """What this backend would answer a frontend (spec §6), from the measured facts."""
    if settings.get("partition_select_mode") not in distribution.SELECT_MODES:
        return (0, 0)
    try:
        selection = SelectionList(
            [p["name"] for p in partitions], measure_from_facts(partitions),
            mode=settings["partition_select_mode"], exclude=settings["partition_select_exclude"],
            soft_usage_limit=settings["partition_select_soft_usage_limit"] or 0)
        return selection.freespace(percent=percent)
    except SelectionError:
        return (0, 0)


def measure_from_facts(partitions):
    """A ``measure`` callable over gathered partition facts (unmeasurable -> OSError)."""
    by_name = {}
    for fact in partitions:
        if not isinstance(fact, dict) or "name" not in fact:
            raise SelectionError("partition facts must be dicts with a 'name', got %r" % (fact,))
        by_name[fact["name"]] = fact

    def measure(name):
        fact = by_name.get(name)
        if fact is None:
            raise OSError(2, "no facts gathered for partition %s" % name)
        if not fact.get("measurable", fact.get("total_kib") is not None):
            raise OSError(5, fact.get("error") or "not measurable")
        try:
            return Usage(fact["available_kib"], fact["total_kib"], fact.get("fsid"))
        except (KeyError, TypeError, ValueError):
            raise OSError(5, "incomplete facts for partition %s (need available_kib, total_kib)" % name)
    return measure


def partition_selection(partitions, settings=None, mode=None, exclude=None, soft_usage_limit=None,
                        usage_reinit=None, on_unmeasurable="fail", seed=None, unmounted="exclude",
                        names=None):
    """A ``SelectionList`` over gathered facts, settings defaulting to the gathered ones.

    ``unmounted='exclude'`` (default) leaves out partitions whose path is not
    its own mount point (missing, on the root filesystem, on a parent
    filesystem): Cyrus would measure the wrong filesystem there (FC-15).
    ``'include'`` does what Cyrus does.
    """
    if not isinstance(partitions, list):
        raise SelectionError("expected the cyrus_partitions facts (a list), got %s" % type(partitions).__name__)
    if unmounted not in UNMOUNTED_POLICIES:
        raise SelectionError("unmounted must be one of %s, got %r" % (", ".join(UNMOUNTED_POLICIES), unmounted))
    settings = settings or {}
    mode = mode if mode is not None else settings.get("partition_select_mode") or distribution.DEFAULT_MODE
    exclude = distribution.parse_exclude(
        exclude if exclude is not None else settings.get("partition_select_exclude"))
    soft_usage_limit = _integer("soft_usage_limit", soft_usage_limit,
                                settings.get("partition_select_soft_usage_limit"))
    usage_reinit = _integer("usage_reinit", usage_reinit, settings.get("partition_select_usage_reinit"))
    measure = measure_from_facts(partitions)
    if names is None:
        names = [fact["name"] for fact in partitions]
    warnings = []
    if unmounted == "exclude":
        for fact in partitions:
            bad = [flag for flag in fact.get("flags") or [] if flag.get("flag") in MISMEASURED_FLAGS]
            if bad and fact["name"] not in exclude:
                exclude.append(fact["name"])
                warnings.append("%s left out (unmounted='exclude'): %s" % (fact["name"], bad[0]["message"]))
    rand = distribution.stable_rand(seed if seed is not None else facts_seed(partitions, settings, mode))
    selection = SelectionList(names, measure, mode=mode, exclude=exclude, soft_usage_limit=soft_usage_limit,
                              usage_reinit=usage_reinit, rand=rand, on_unmeasurable=on_unmeasurable)
    selection.warnings.extend(warnings)
    return selection


def backend_selection(backends, serverlist=None, mode=None, soft_usage_limit=None, usage_reinit=None,
                      on_unmeasurable="fail", seed=None, settings=None):
    """A frontend's ``SelectionList`` over backends (spec §6).

    ``backends`` maps backend name -> either the backend's gathered facts
    (``{"cyrus_partitions": [...], "cyrus_distribution": {...}}``), a
    freespace annotation value ``"avail;total"`` or ``[avail, total]``, or
    None for a backend that could not be reached.
    """
    if not isinstance(backends, dict):
        raise SelectionError("backends must be a dict: backend name -> facts or freespace value, got %s"
                             % type(backends).__name__)
    settings = settings or {}
    mode = mode if mode is not None else settings.get("serverlist_select_mode") or distribution.DEFAULT_MODE
    names = distribution.parse_exclude(serverlist if serverlist is not None
                                       else settings.get("serverlist") or list(backends))
    soft_usage_limit = _integer("soft_usage_limit", soft_usage_limit,
                                settings.get("serverlist_select_soft_usage_limit"))
    usage_reinit = _integer("usage_reinit", usage_reinit, settings.get("serverlist_select_usage_reinit"))
    positions = dict((name, index) for index, name in reversed(list(enumerate(names))))
    percent = mode != "freespace-most"

    def measure(name):
        if name not in backends or backends[name] is None:
            raise OSError(113, "backend %s is unreachable or has no facts" % name)
        available, total = _backend_value(name, backends[name], percent)
        # Cyrus identifies backends by list position, so they are never merged
        return Usage(available, total, positions[name])

    rand = distribution.stable_rand(seed if seed is not None else facts_seed(backends, settings, mode))
    return SelectionList(names, measure, mode=mode, soft_usage_limit=soft_usage_limit,
                         usage_reinit=usage_reinit, rand=rand, on_unmeasurable=on_unmeasurable)


def facts_seed(*parts):
    """A seed derived from the facts: unchanged facts give unchanged choices (FC-24)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode("utf-8")).hexdigest()


def _backend_value(name, value, percent):
    if isinstance(value, dict):
        partitions = value.get("cyrus_partitions")
        backend_settings = value.get("cyrus_distribution") or {}
        if partitions is None:
            raise SelectionError("facts of backend %s lack cyrus_partitions" % name)
        mode = backend_settings.get("partition_select_mode") or distribution.DEFAULT_MODE
        answer = distribution.backend_freespace(
            [p["name"] for p in partitions], measure_from_facts(partitions), mode=mode,
            exclude=backend_settings.get("partition_select_exclude"),
            soft_usage_limit=backend_settings.get("partition_select_soft_usage_limit") or 0,
            frontend_mode="freespace-percent-most" if percent else "freespace-most")
        return answer.available_kib, answer.total_kib
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return int(value[0]), int(value[1])
    if isinstance(value, str):
        return distribution.parse_freespace_value(value)
    raise SelectionError("backend %s: expected facts, 'avail;total' or [avail, total], got %r" % (name, value))


def _integer(label, explicit, gathered):
    value = explicit if explicit is not None else (gathered if gathered is not None else 0)
    if isinstance(value, bool):
        raise SelectionError("%s must be an integer, got %r" % (label, value))
    try:
        return int(value)
    except (TypeError, ValueError):
        raise SelectionError("%s must be an integer, got %r" % (label, value))


def _split_facts(facts, settings):
    """Accept ``ansible_facts`` (or a dict holding cyrus_partitions) or the bare list."""
    if isinstance(facts, dict) and "cyrus_partitions" in facts:
        return facts["cyrus_partitions"], settings if settings is not None else facts.get("cyrus_distribution")
    if isinstance(facts, list):
        return facts, settings
    raise SelectionError("expected ansible_facts with cyrus_partitions (from imapops.cyrus.partition_facts) "
                         "or the cyrus_partitions list, got %s" % type(facts).__name__)


def choose_partitions(facts, settings=None, count=None, use_defaultpartition=True, expected_mailbox_kib=None,
                      **options):
    """Where new mailboxes go on a backend, as spec §2-§4 say: (names, warnings).

    ``count`` selections are made from one list, as one Cyrus process making
    ``count`` CREATEs would (None: one, returned as a one-element list).
    ``defaultpartition``, when set and ``use_defaultpartition``, wins and no
    mode runs.

    ``expected_mailbox_kib`` (opt-in, not Cyrus): each placed mailbox is
    assumed to use that much, so the partitions are re-measured with it
    subtracted before every selection and a batch spreads as the space will
    really be used. Costs O(count x partitions).
    """
    partitions, settings = _split_facts(facts, settings)
    settings = settings or {}
    how_many = 1 if count is None else _integer("count", count, None)
    if how_many < 0:
        raise SelectionError("count must not be negative, got %d" % how_many)
    known = [p.get("name") for p in partitions if isinstance(p, dict)]
    default = settings.get("defaultpartition")
    if use_defaultpartition and default:
        if default not in known:
            raise SelectionError("defaultpartition %r has no partition-%s entry (partitions: %s)"
                                 % (default, default, ", ".join(known) or "none"))
        return [default] * how_many, ["defaultpartition %s is set: selection modes are not used" % default]
    if expected_mailbox_kib:
        return _choose_with_expected_usage(partitions, settings, how_many, _integer(
            "expected_mailbox_kib", expected_mailbox_kib, None), options)
    selection = partition_selection(partitions, settings, **options)
    chosen = selection.select_many(how_many)
    if None in chosen:
        raise SelectionError(_nothing_to_choose(selection))
    return chosen, selection.warnings


def _choose_with_expected_usage(partitions, settings, how_many, expected_kib, options):
    if expected_kib < 0:
        raise SelectionError("expected_mailbox_kib must not be negative, got %d" % expected_kib)
    planned = [dict(p) for p in partitions]
    by_name = dict((p.get("name"), p) for p in planned)
    options = dict(options, usage_reinit=1)
    selection = partition_selection(planned, settings, **options)
    chosen = []
    for _step in range(how_many):
        name = selection.select()
        if name is None:
            raise SelectionError(_nothing_to_choose(selection))
        chosen.append(name)
        fact = by_name[name]
        fact["available_kib"] = max(0, fact["available_kib"] - expected_kib)
    return chosen, selection.warnings


def partition_chances(facts, settings=None, use_defaultpartition=True, **options):
    """Probability (percent) of each partition for the next new mailbox, and the per-partition report."""
    partitions, settings = _split_facts(facts, settings)
    settings = settings or {}
    default = settings.get("defaultpartition")
    if use_defaultpartition and default:
        return dict((p["name"], 100.0 if p["name"] == default else 0.0) for p in partitions)
    return dict(partition_selection(partitions, settings, **options).chances())


def _nothing_to_choose(selection):
    rows = selection.report()
    reasons = ", ".join("%s: %s" % (row["name"], row["error"] or row["state"]) for row in rows)
    if not rows:
        return ("no partition can be chosen: every partition is excluded (%s); Cyrus would refuse the "
                "CREATE with 'Unknown/invalid partition'" % ", ".join(selection.excluded) or "none configured")
    return ("no partition can be chosen in mode %s (%s); Cyrus would refuse the CREATE with "
            "'Unknown/invalid partition'" % (selection.mode, reasons))
