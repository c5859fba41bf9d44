# -*- coding: utf-8 -*-
# Copyright: imapops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Turn a list of new users into mailbox requests with partitions. No Ansible imports."""

import csv
import io
import re

from ansible_collections.imapops.cyrus.plugins.module_utils.distribution import SelectionError
from ansible_collections.imapops.cyrus.plugins.module_utils.facts import choose_partitions

USER_KEYS = ("user", "quota", "partition", "server")
# Cyrus 3.6.1 parses a STORAGE limit into a 32-bit int: a larger one is a fatal
# "num too big" that drops the connection in the middle of a batch.
MAX_QUOTA_KIB = 2 ** 31 - 1
_BAD_USER_CHARS = re.compile(r'[\s"\\*%\x00-\x1f\x7f]')


def normalise_users(users, source="users", wheres=None):
    """Validate users (names or dicts with USER_KEYS) and return dicts, in order, without duplicates."""
    if not isinstance(users, list):
        raise SelectionError("%s must be a list of user names or dicts, got %s" % (source, type(users).__name__))
    result = []
    seen = {}
    for index, item in enumerate(users):
        where = wheres[index] if wheres else "%s[%d]" % (source, index)
        if isinstance(item, str):
            item = {"user": item}
        if not isinstance(item, dict):
            raise SelectionError("%s must be a user name or a dict, got %r" % (where, item))
        unknown = sorted(set(item) - set(USER_KEYS))
        if unknown:
            raise SelectionError("%s has unknown keys %s (known: %s)" % (where, ", ".join(unknown), ", ".join(USER_KEYS)))
        name = item.get("user")
        if not isinstance(name, str) or not name or _BAD_USER_CHARS.search(name):
            raise SelectionError("%s: invalid user name %r (no spaces, quotes, backslashes or * %%)" % (where, name))
        if name in seen:
            first = wheres[seen[name]] if wheres else "%s[%d]" % (source, seen[name])
            raise SelectionError("%s: user %r is listed twice (first at %s)" % (where, name, first))
        seen[name] = index
        entry = {"user": name}
        for key in ("quota", "partition", "server"):
            value = item.get(key)
            if value in (None, ""):
                continue
            if key == "quota":
                try:
                    value = int(value)
                except (TypeError, ValueError):
                    raise SelectionError("%s: quota must be a whole number of KiB, got %r" % (where, value))
                if value < 0:
                    raise SelectionError("%s: quota must not be negative, got %d" % (where, value))
                if value > MAX_QUOTA_KIB:
                    raise SelectionError("%s: quota %d KiB for user %r is over Cyrus's limit of %d KiB (2 TiB)"
                                         % (where, value, name, MAX_QUOTA_KIB))
            entry[key] = value
        result.append(entry)
    return result


def users_from_csv(text, source="CSV"):
    """Users from CSV text with a header row naming a 'user' column (and optionally quota, partition, server)."""
    if text.startswith("\ufeff"):  # byte order mark, as spreadsheet programs write it
        text = text[1:]
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or "user" not in [f.strip().lower() for f in reader.fieldnames]:
        raise SelectionError("%s line 1: the header must name a 'user' column, got %r" % (source, reader.fieldnames))
    users = []
    wheres = []
    for row in reader:
        cleaned = dict((k.strip().lower(), (v or "").strip()) for k, v in row.items() if k is not None)
        if not any(cleaned.values()):
            continue
        unknown = sorted(k for k in cleaned if k not in USER_KEYS)
        if unknown:
            raise SelectionError("%s line %d: unknown columns %s" % (source, reader.line_num, ", ".join(unknown)))
        where = "%s line %d" % (source, reader.line_num)
        users.extend(normalise_users([cleaned], wheres=[where]))
        wheres.append(where)
    normalise_users(users, source=source, wheres=wheres)  # duplicates across lines
    return users


def placement_plan(users, facts, placement="collection", default_quota=None, expected_mailbox_kib=None,
                   users_csv=None, users_csv_source="CSV", **options):
    """Mailbox requests for the mailbox module: one dict per user, partition chosen by the engine.

    ``users_csv`` is CSV text whose users are added (errors name
    ``users_csv_source`` and the line). ``placement='collection'`` chooses with the engine (one selection list for
    the batch, as one Cyrus process would); ``'cyrus'`` leaves the choice to
    the server (no partition sent).
    """
    users = normalise_users(users)
    if users_csv:
        users = normalise_users(users + users_from_csv(users_csv, source=users_csv_source),
                                source="users and %s" % users_csv_source)
    if placement not in ("collection", "cyrus"):
        raise SelectionError("placement must be 'collection' or 'cyrus', got %r" % (placement,))
    known = _known_partitions(facts)
    for user in users:
        if "partition" in user and "server" not in user and known is not None and user["partition"] not in known:
            raise SelectionError("user %r: partition %r is not a partition of this backend (%s); Cyrus would refuse "
                                 "the CREATE with 'Unknown/invalid partition'"
                                 % (user["user"], user["partition"], ", ".join(known) or "none"))
    needing = [u for u in users if "partition" not in u]
    chosen = []
    if placement == "collection" and needing:
        chosen, _warnings = choose_partitions(facts, count=len(needing), expected_mailbox_kib=expected_mailbox_kib,
                                              **options)
    picks = iter(chosen)
    plan = []
    for user in users:
        request = dict(user)
        if "partition" not in request and placement == "collection":
            request["partition"] = next(picks)
        if "quota" not in request and default_quota is not None:
            request["quota"] = int(default_quota)
        plan.append(request)
    return plan


def _known_partitions(facts):
    partitions = facts.get("cyrus_partitions") if isinstance(facts, dict) else facts
    if not isinstance(partitions, list):
        return None
    return [p.get("name") for p in partitions if isinstance(p, dict)]


def placement_table(results):
    """Lines 'user  partition  status' from the mailbox module's ``mailboxes`` result."""
    rows = [("user", "partition", "server", "status")]
    for entry in results:
        if entry.get("created"):
            status = "created"
        elif entry.get("subfolders_created") or entry.get("quota_changed"):
            status = "completed"  # existed; missing folders or the quota were added
        else:
            status = "existed"
        rows.append((entry.get("user") or entry.get("name"), entry.get("partition") or "-",
                     entry.get("server") or "-", status))
    widths = [max(len(str(row[i])) for row in rows) for i in range(4)]
    return ["  ".join(str(value).ljust(width) for value, width in zip(row, widths)).rstrip() for row in rows]
