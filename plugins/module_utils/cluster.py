# -*- coding: utf-8 -*-
# Copyright: imapops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A Murder cluster: plan new users onto backends and partitions, report facts. No Ansible imports.

``cluster_plan`` chooses a backend for every new user as the frontend would
(``backend_selection``: one selection list for the batch, like one frontend
process) and then a partition of that backend as the backend would
(``choose_partitions``: one list per backend). ``cluster_report`` turns what
``playbooks/gather_facts.yml`` collected per backend into one report, and the
``*_table`` functions make aligned text of both.
"""

from ansible_collections.imapops.cyrus.plugins.module_utils import distribution
from ansible_collections.imapops.cyrus.plugins.module_utils.distribution import SelectionError
from ansible_collections.imapops.cyrus.plugins.module_utils.facts import (
    backend_selection, choose_partitions, partition_selection)
from ansible_collections.imapops.cyrus.plugins.module_utils.imap_client import encode_mailbox_name
from ansible_collections.imapops.cyrus.plugins.module_utils.onboarding import normalise_users

PLACEMENTS = ("collection", "cyrus")
CREATE_VIA = ("frontend", "backend")


def _facts_of(value):
    return isinstance(value, dict) and "cyrus_partitions" in value


def cluster_plan(users, backends, settings=None, backend_facts=None, existing=None, placement="collection",
                 create_via="frontend", default_quota=None, serverlist=None, mode=None, soft_usage_limit=None,
                 usage_reinit=None, on_unmeasurable="fail", seed=None, partition_on_unmeasurable="fail",
                 unmounted="exclude", aliases=None, unreachable=None):
    """Mailbox requests for new users across a Murder: (requests, warnings).

    ``backends``: server name -> what the frontend would measure (the backend's facts,
    ``"avail;total"``, ``[avail, total]``, or None when unreachable), as for
    ``select_backend``. ``backend_facts``: server name -> the backend's ``ansible_facts``
    for choosing the partition (default: the facts found in ``backends``). ``settings``:
    the frontend's ``cyrus_distribution`` (``serverlist``, ``serverlist_select_*``).
    ``existing``: user names that already have a mailbox (they are left out).
    ``aliases``: other names -> server name (inventory host -> ``cyrus_server_name``), so
    that a user's ``server`` may name the inventory host. ``unreachable``: server names
    known to be down (their IMAP service): they count as unreachable whatever ``backends``
    says about them.

    Returns batches ``[{server, mailboxes}]`` in serverlist order, one per backend that
    gets users; ``mailboxes`` is the list for ``imapops.cyrus.mailbox``: items
    ``{user, server, partition[, quota]}`` through the frontend (sent as
    ``server!partition``), ``{user, partition[, quota]}`` with ``create_via='backend'`` (sent
    to that backend). ``placement='cyrus'`` gives one batch with server None and items
    without server and partition: the frontend chooses.
    """
    if placement not in PLACEMENTS:
        raise SelectionError("placement must be one of %s, got %r" % (", ".join(PLACEMENTS), placement))
    if create_via not in CREATE_VIA:
        raise SelectionError("create_via must be one of %s, got %r" % (", ".join(CREATE_VIA), create_via))
    if placement == "cyrus" and create_via == "backend":
        raise SelectionError("placement 'cyrus' lets the frontend choose: it needs create_via 'frontend'")
    if not isinstance(backends, dict):
        raise SelectionError("backends must be a dict: server name -> facts, freespace value or null, got %s"
                             % type(backends).__name__)
    users = normalise_users(users)
    aliases = aliases or {}
    for user in users:
        if user.get("server") in aliases:
            user["server"] = aliases[user["server"]]
    existing = set(existing or [])
    new_users = [user for user in users if user["user"] not in existing]
    warnings = []
    if backend_facts is None:
        backend_facts = dict((name, value) for name, value in backends.items() if _facts_of(value))
    settings = dict(settings or {})
    names = distribution.parse_exclude(serverlist if serverlist is not None
                                       else settings.get("serverlist") or list(backends))
    if not names:
        raise SelectionError("the serverlist is empty: give the frontend's settings or serverlist")
    for user in new_users:
        if user.get("server") and user["server"] not in names:
            raise SelectionError("user %r: server %r is not in the serverlist (%s)"
                                 % (user["user"], user["server"], ", ".join(names)))
        if user.get("partition") and not user.get("server"):
            raise SelectionError("user %r: partition %r without a server; in a Murder a partition belongs to "
                                 "one backend, give both" % (user["user"], user["partition"]))
    if placement == "cyrus":
        pinned = [user["user"] for user in new_users if user.get("server")]
        if pinned:
            raise SelectionError("placement 'cyrus' lets the frontend choose, but %s name a server; "
                                 "use placement 'collection'" % ", ".join(pinned))
        requests = [_request(user, None, None, default_quota, create_via) for user in new_users]
        return ([{"server": None, "mailboxes": requests}] if requests else []), warnings

    measured = dict(backends)
    for name in unreachable or []:
        measured[name] = None
    for name in names:
        if not _facts_of(backend_facts.get(name)) and measured.get(name) is not None:
            # no partition facts: a partition cannot be chosen there, so it cannot be chosen
            measured[name] = None
            warnings.append("backend %s left out of the choice: no partition facts were gathered from it" % name)
    needing = [user for user in new_users if not user.get("server")]
    chosen_servers = []
    if needing:
        selection = backend_selection(measured, serverlist=names, mode=mode, soft_usage_limit=soft_usage_limit,
                                      usage_reinit=usage_reinit, on_unmeasurable=on_unmeasurable, seed=seed,
                                      settings=settings)
        for _user in needing:
            server = selection.select()
            if server is None:
                raise SelectionError("no backend can be chosen (%s)" % ", ".join(
                    "%s: %s" % (row["name"], row["error"] or row["state"]) for row in selection.report()))
            chosen_servers.append(server)
        warnings.extend(selection.warnings)
    servers = iter(chosen_servers)
    assigned = []
    for user in new_users:
        assigned.append((user, user.get("server") or next(servers)))

    by_server = dict()
    for user, server in assigned:
        if not user.get("partition"):
            by_server.setdefault(server, []).append(user["user"])
    partitions = {}
    for server, members in by_server.items():
        facts = backend_facts.get(server)
        if not _facts_of(facts):
            raise SelectionError("cannot choose a partition on backend %s for %s: no partition facts for it"
                                 % (server, ", ".join(members)))
        try:
            picks, picked_warnings = choose_partitions(
                facts, count=len(members), on_unmeasurable=partition_on_unmeasurable, unmounted=unmounted,
                seed=None if seed is None else "%s/%s" % (seed, server))
        except SelectionError as exc:
            raise SelectionError("backend %s: %s" % (server, exc))
        warnings.extend("backend %s: %s" % (server, message) for message in picked_warnings)
        partitions.update(zip(members, picks))
    batches = dict((name, []) for name in names)
    for user, server in assigned:
        partition = user.get("partition") or partitions[user["user"]]
        batches[server].append(_request(user, server, partition, default_quota, create_via))
    return [{"server": server, "mailboxes": requests} for server, requests in batches.items() if requests], warnings


def _request(user, server, partition, default_quota, create_via):
    """One item for imapops.cyrus.mailbox: the server goes along only through the frontend."""
    request = {"user": user["user"]}
    if partition:
        request["partition"] = partition
    if server and create_via == "frontend":
        request["server"] = server
    quota = user.get("quota", default_quota)
    if quota is not None:
        request["quota"] = int(quota)
    return request


def cluster_chances(backends, settings=None, **options):
    """Probability (percent) of each backend for the next new mailbox, frontend rules."""
    return dict(backend_selection(backends, settings=settings, **options).chances())


# --------------------------------------------------------------------------- placement read back

def servers_of_users(users, existing=None, batches=None):
    """server -> [{"user": name}, ...] for every user whose backend is known: existing ones as
    the frontend reports them, new ones as planned. For reading partitions back per backend."""
    names = [user["user"] for user in normalise_users(users)]
    located = {}
    for entry in existing or []:
        user = entry.get("user") or _user_of(entry.get("name"))
        if user in names and _exists(entry) and entry.get("server"):
            located[user] = entry["server"]
    for batch in batches or []:
        for request in batch.get("mailboxes") or []:
            if batch.get("server") and request["user"] not in located:
                located[request["user"]] = batch["server"]
    result = dict()
    for name in names:
        if name in located:
            result.setdefault(located[name], []).append({"user": name})
    return result


def user_items(users):
    """``[{"user": name}, ...]`` for every user (validated): items for imapops.cyrus.mailbox."""
    return [{"user": user["user"]} for user in normalise_users(users)]


def cluster_placement(users, existing=None, created=None, read_back=None, hosts=None, folders=None,
                      failure_status="failed", check_mode=False):
    """One row per user: user, backend (inventory host), server, partition, status, error.

    ``existing``: the ``mailboxes`` result of imapops.cyrus.mailbox_info on the frontend
    before planning (``exists``, ``server``).
    ``created``: the registered results of the creation loop (one per batch: ``item`` is
    the batch ``{server, mailboxes}``; ``mailboxes``, ``imap_commands``, ``failed``, ``msg``).
    ``read_back``: the registered results of imapops.cyrus.mailbox_info on each backend
    (``mailboxes`` with the partition the backend reports). ``hosts``: server name -> inventory host. ``folders``:
    the subfolders every new user gets (to tell a complete creation from a partial one).
    Status: ``existed``, ``created`` (``planned`` in check mode), ``incomplete`` (INBOX
    made, a folder missing), ``failed`` (or ``failure_status``: ``skipped``), ``missing``
    (neither found nor planned).
    """
    names = [user["user"] for user in normalise_users(users)]
    hosts = hosts or {}
    rows = dict((name, {"user": name, "backend": None, "server": None, "partition": None,
                        "status": "missing", "error": None}) for name in names)
    for entry in existing or []:
        row = rows.get(entry.get("user") or _user_of(entry.get("name")))
        if row is not None and _exists(entry):
            row.update(server=entry.get("server"), status="existed")
    for result in created or []:
        batch = result.get("item") or {}
        server = batch.get("server")
        reported = dict((e.get("user") or _user_of(e.get("name")), e) for e in result.get("mailboxes") or [])
        sent = list(result.get("imap_commands") or [])
        for request in batch.get("mailboxes") or []:
            row = rows.get(request["user"])
            if row is None:
                continue
            entry = reported.get(request["user"]) or {}
            row["server"] = server or entry.get("server") or row["server"]
            row["partition"] = request.get("partition") or entry.get("partition")
            error = entry.get("error") or result.get("msg") or "creation failed"
            if result.get("skipped"):
                row["status"] = "planned"
                continue
            if not result.get("failed"):
                if not entry.get("created", True):
                    row["status"] = "existed"
                else:
                    row["status"] = "planned" if check_mode else "created"
                continue
            if not _was_created(sent, request["user"]):
                row.update(status=failure_status, error=error)
            elif all(_was_created(sent, request["user"], folder) for folder in folders or []):
                row["status"] = "created"
            else:
                row.update(status="incomplete", error=error)
    for result in read_back or []:
        for entry in result.get("mailboxes") or []:
            row = rows.get(entry.get("user") or _user_of(entry.get("name")))
            if row is not None and _exists(entry) and entry.get("partition"):
                row["partition"] = entry["partition"]
    for row in rows.values():
        row["backend"] = hosts.get(row["server"], row["server"])
    return list(rows.values())


def _exists(entry):
    """A mailbox_info entry (``exists``) or a mailbox result (``existed`` before the run)."""
    return bool(entry.get("exists", entry.get("existed")))


def _was_created(commands, user, folder=None):
    """Whether ``commands`` (imap_commands) hold the CREATE of the user's INBOX (or folder)."""
    for separator in (".", "/"):
        token = "CREATE " + encode_mailbox_name("user" + separator + user + ((separator + folder) if folder else ""))
        if any(command == token or command.startswith(token + " ") for command in commands):
            return True
    return False


def _user_of(name):
    if not name:
        return None
    for separator in (".", "/"):
        prefix = "user" + separator
        if name.startswith(prefix) and separator not in name[len(prefix):]:
            return name[len(prefix):]
    return None


def text_table(header, rows):
    """Aligned text lines, header first; None shows as '-'."""
    cells = [list(header)] + [["-" if value is None else str(value) for value in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    return ["  ".join(value.ljust(width) for value, width in zip(row, widths)).rstrip() for row in cells]


def placement_rows_table(rows):
    return text_table(("user", "backend", "server", "partition", "status", "error"),
                      [[row.get(key) for key in ("user", "backend", "server", "partition", "status", "error")]
                       for row in rows])


# --------------------------------------------------------------------------- gathered facts report

def _failure_reason(result, stage):
    """(failed?, reason) from a registered task result."""
    if result is None:
        return True, "%s: no result (the host did not run it)" % stage
    if not isinstance(result, dict):
        return True, "%s: unexpected result %r" % (stage, result)
    if result.get("unreachable"):
        return True, "%s: unreachable: %s" % (stage, result.get("msg") or "no details")
    if result.get("skipped"):
        return True, "%s: skipped: %s" % (stage, result.get("skip_reason") or result.get("msg") or "no details")
    if result.get("failed"):
        return True, "%s: %s" % (stage, result.get("msg") or "failed")
    return False, None


def backend_report(record):
    """The report of one backend from what the gathering play registered for it."""
    host = record.get("host")
    facts_result = record.get("partition_facts")
    imap_result = record.get("freespace")
    failed_facts, facts_reason = _failure_reason(facts_result, "partition_facts")
    entry = dict([
        ("host", host), ("server_name", record.get("server_name") or host), ("ok", False),
        ("errors", []), ("partitions", []), ("settings", None), ("answers", None), ("imap", None),
        ("chances", None), ("warnings", []),
    ])
    if failed_facts:
        entry["errors"].append(facts_reason)
    else:
        gathered = facts_result.get("ansible_facts") or {}
        partitions = gathered.get("cyrus_partitions") or []
        settings = gathered.get("cyrus_distribution") or {}
        rows = _selection_rows(partitions, settings)
        for fact in partitions:
            row = rows.get(fact.get("name"), {})
            free = fact.get("free_percent")
            entry["partitions"].append(dict([
                ("name", fact.get("name")), ("path", fact.get("path")),
                ("total_kib", fact.get("total_kib")), ("available_kib", fact.get("available_kib")),
                ("used_kib", None if fact.get("total_kib") is None or fact.get("available_kib") is None
                 else fact["total_kib"] - fact["available_kib"]),
                ("free_percent", free), ("used_percent", None if free is None else 100.0 - free),
                ("fsid", fact.get("fsid")), ("mount_point", fact.get("mount_point")), ("fstype", fact.get("fstype")),
                ("measurable", fact.get("measurable")), ("error", fact.get("error")),
                ("flags", [flag.get("flag") for flag in fact.get("flags") or []]),
                ("state", row.get("state")), ("chance_percent", row.get("chance")),
            ]))
        entry["settings"] = dict((key, settings.get(key)) for key in (
            "imapd_conf", "service", "partition_select_mode", "partition_select_exclude",
            "partition_select_soft_usage_limit", "partition_select_usage_reinit", "defaultpartition",
            "overrides", "unknown_options"))
        entry["answers"] = {"freespace_total": settings.get("freespace_total"),
                            "freespace_percent_most": settings.get("freespace_percent_most")}
        entry["chances"] = dict((name, row.get("chance")) for name, row in rows.items())
        entry["warnings"] = list(facts_result.get("warnings") or [])
    if "freespace" in record:
        failed_imap, imap_reason = _failure_reason(imap_result, "imap")
        if failed_imap:
            entry["errors"].append(imap_reason)
        else:
            server = (imap_result.get("servers") or [{}])[0]
            entry["imap"] = dict([
                ("reachable", server.get("reachable")), ("error", server.get("error")),
                ("measurable", server.get("measurable")), ("unmeasurable_reason", server.get("unmeasurable_reason")),
                ("freespace_total", (server.get("entries") or {}).get("/shared/vendor/cmu/cyrus-imapd/freespace/total")),
                ("freespace_percent_most",
                 (server.get("entries") or {}).get("/shared/vendor/cmu/cyrus-imapd/freespace/percent/most")),
            ])
            if not server.get("reachable"):
                entry["errors"].append("imap: %s" % (server.get("error") or "unreachable"))
    entry["ok"] = not entry["errors"]
    return entry


def _selection_rows(partitions, settings):
    """Per partition: its state in the backend's own selection and its chance for the next mailbox."""
    try:
        selection = partition_selection(partitions, settings, on_unmeasurable="random", unmounted="include")
        chances = selection.chances()
        return dict((row["name"], {"state": row["state"], "chance": chances.get(row["name"])})
                    for row in selection.report())
    except SelectionError as exc:
        return dict((p.get("name"), {"state": "error: %s" % exc, "chance": None}) for p in partitions)


def cluster_report(records, frontend=None):
    """The cluster report: every backend with partitions, settings, answers, and the failures.

    ``records``: one dict per backend with ``host``, ``server_name`` and the registered
    results ``partition_facts`` and ``freespace`` (freespace_info on its IMAP service).
    ``frontend``: the frontend's ``cyrus_distribution`` (or None): adds the frontend's view,
    the values it reads, each backend's chance as Cyrus computes it and the collection's choice.
    """
    if not isinstance(records, list):
        raise SelectionError("records must be a list of per-backend records, got %s" % type(records).__name__)
    backends = [backend_report(record) for record in records]
    failed = [dict([("host", b["host"]), ("server_name", b["server_name"]), ("reasons", b["errors"])])
              for b in backends if b["errors"]]
    report = dict([
        ("backends", backends),
        ("failed", failed),
        ("summary", {"backends": len(backends), "ok": len(backends) - len(failed), "failed": len(failed)}),
    ])
    if frontend is not None:
        report["frontend"] = frontend_view(frontend, backends)
    return report


def frontend_view(settings, backends):
    """What a frontend with ``settings`` reads from the reported backends and what it would do."""
    if not isinstance(settings, dict):
        raise SelectionError("frontend settings must be the frontend's cyrus_distribution (a dict), got %s"
                             % type(settings).__name__)
    mode = settings.get("serverlist_select_mode") or distribution.DEFAULT_MODE
    key = "freespace_total" if mode == "freespace-most" else "freespace_percent_most"
    by_name = dict((b["server_name"], b) for b in backends)
    names = distribution.parse_exclude(settings.get("serverlist")) or [b["server_name"] for b in backends]
    values = dict()
    for name in names:
        imap = (by_name.get(name) or {}).get("imap") or {}
        values[name] = imap.get(key) if imap.get("reachable") else None
    view = dict([
        ("serverlist", names), ("serverlist_select_mode", mode),
        ("serverlist_select_soft_usage_limit", settings.get("serverlist_select_soft_usage_limit") or 0),
        ("serverlist_select_usage_reinit", settings.get("serverlist_select_usage_reinit") or 0),
        ("values", values), ("not_in_inventory", [name for name in names if name not in by_name]),
        ("cyrus_chances", None), ("choice", None), ("choice_error", None),
    ])
    try:
        view["cyrus_chances"] = cluster_chances(values, settings=settings, serverlist=names,
                                                on_unmeasurable="random")
        view["choice"] = backend_selection(values, settings=settings, serverlist=names,
                                           on_unmeasurable="fail").select()
    except SelectionError as exc:
        view["choice_error"] = str(exc)
    return view


def cluster_report_table(report):
    """Readable lines: one row per partition, a settings line per backend, then the failures."""
    rows = []
    for backend in report.get("backends") or []:
        settings = backend.get("settings") or {}
        imap = backend.get("imap") or {}
        answer = imap.get("freespace_total") if imap else None
        if not backend.get("partitions"):
            rows.append([backend["host"], backend["server_name"], "-", None, None, None, None, "FAILED", None,
                         "; ".join(backend.get("errors") or ["no partitions"])])
        for partition in backend.get("partitions") or []:
            rows.append([backend["host"], backend["server_name"], partition["name"],
                         _mib(partition.get("total_kib")), _mib(partition.get("available_kib")),
                         _percent(partition.get("free_percent")), _percent(partition.get("used_percent")),
                         partition.get("state") or ("unmeasurable" if not partition.get("measurable") else "-"),
                         _percent(partition.get("chance_percent")), ",".join(partition.get("flags") or []) or None])
        if backend.get("settings"):
            rows.append(["", "", "settings", None, None, None, None, None, None, "mode %s, exclude %s, soft limit %s, "
                         "reinit %s, defaultpartition %s; imap %s" % (
                             settings.get("partition_select_mode"),
                             ",".join(settings.get("partition_select_exclude") or []) or "-",
                             settings.get("partition_select_soft_usage_limit") or 0,
                             settings.get("partition_select_usage_reinit") or 0,
                             settings.get("defaultpartition") or "-",
                             ("answers freespace/total %s" % answer) if imap.get("reachable")
                             else "DOWN: %s" % (imap.get("error") if imap else "not asked"))])
    lines = text_table(("backend", "server", "partition", "size MiB", "free MiB", "free %", "used %", "state",
                        "chance %", "flags / notes"), rows)
    summary = report.get("summary") or {}
    frontend = report.get("frontend")
    if frontend:
        lines.append("")
        lines.append("frontend: serverlist_select_mode %s, soft limit %s; a new mailbox goes to %s"
                     % (frontend["serverlist_select_mode"], frontend["serverlist_select_soft_usage_limit"],
                        frontend["choice"] or "(no choice: %s)" % frontend["choice_error"]))
        for name, value in frontend["values"].items():
            chance = (frontend.get("cyrus_chances") or {}).get(name)
            lines.append("  %s reads %s, Cyrus's chance %s" % (
                name, value if value is not None else "nothing (down)",
                "-" if chance is None else "%.1f %%" % chance))
    lines.append("")
    lines.append("%s backends, %s ok, %s failed" % (summary.get("backends"), summary.get("ok"), summary.get("failed")))
    for failure in report.get("failed") or []:
        lines.append("FAILED %s (%s): %s" % (failure["host"], failure["server_name"], "; ".join(failure["reasons"])))
    return lines


def _mib(kib):
    return None if kib is None else "%.1f" % (kib / 1024.0)


def _percent(value):
    return None if value is None else "%.1f" % value
