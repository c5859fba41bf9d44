# -*- coding: utf-8 -*-
# Copyright: imapops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read a server's freespace annotations as a Murder frontend does (spec §6, §7). No Ansible imports.

A Cyrus 3.6.1 frontend measures each backend of its ``serverlist`` with one
``GETMETADATA "" (/shared/vendor/cmu/cyrus-imapd/freespace/total)`` (mode
``freespace-most``) or ``.../freespace/percent/most`` (every other mode), as admin, and
parses ``"<available KiB>;<total KiB>"``. A backend that cannot be reached keeps
available = total = 0, and so does one whose own ``partition_select_mode`` is
``random`` (it answers ``0;0``): both are unmeasurable for the frontend.

Each entry read is one *operation* for the backend's ``partition_select_usage_reinit``
counter (Cyrus bumps it once per entry), so reading all three entries counts three.
"""

import socket

from ansible_collections.imapops.cyrus.plugins.module_utils.distribution import (
    DEFAULT_MODE, SELECT_MODES, SelectionError, parse_freespace_value)
from ansible_collections.imapops.cyrus.plugins.module_utils.imap_client import ANNOTATION_NS, ImapError

FREESPACE = ANNOTATION_NS + "freespace"
FREESPACE_TOTAL = ANNOTATION_NS + "freespace/total"
FREESPACE_PERCENT_MOST = ANNOTATION_NS + "freespace/percent/most"
ENTRY_SETS = ("all", "frontend")


def frontend_entry(frontend_mode):
    """The one entry a frontend in ``frontend_mode`` reads (imap_proxy.c proxy_part_filldata)."""
    if frontend_mode not in SELECT_MODES:
        raise SelectionError("unknown frontend mode %r; Cyrus knows %s" % (frontend_mode, ", ".join(SELECT_MODES)))
    return FREESPACE_TOTAL if frontend_mode == "freespace-most" else FREESPACE_PERCENT_MOST


def parse_server(item, default_port=None):
    """A server entry -> dict(name, host, port).

    ``item`` is ``"host"``, ``"host:port"`` (a Cyrus ``serverlist`` name: split at the
    first colon, like Cyrus's backend_connect; ``/options`` after the port are ignored) or
    a dict with ``name`` and/or ``host`` and optional ``port``. The name is what the
    frontend's ``serverlist`` calls the server; it defaults to the item as written.
    """
    if isinstance(item, str):
        item = {"name": item}
    if not isinstance(item, dict):
        raise SelectionError("a server must be 'host', 'host:port' or a dict with name/host/port, got %r" % (item,))
    unknown = sorted(set(item) - {"name", "host", "port"})
    if unknown:
        raise SelectionError("server %r: unknown keys %s (known: name, host, port)" % (item, ", ".join(unknown)))
    name = item.get("name")
    host = item.get("host")
    port = item.get("port")
    if not name and not host:
        raise SelectionError("server %r needs a name or a host" % (item,))
    if not host:
        host, _colon, service = str(name).partition(":")
        service = service.split("/", 1)[0]
        if service and port is None:
            port = _port_number(service, name)
    if port in (None, ""):
        port = default_port
    if port is not None:
        port = _port_number(port, name or host)
    if not name:
        name = host if port is None else "%s:%d" % (host, port)
    return {"name": str(name), "host": str(host), "port": port}


def _port_number(value, where):
    if isinstance(value, bool):
        raise SelectionError("server %s: port must be a number, got %r" % (where, value))
    try:
        number = int(value)
    except (TypeError, ValueError):
        try:
            number = socket.getservbyname(str(value), "tcp")
        except OSError:
            raise SelectionError("server %s: port %r is neither a number nor a known service" % (where, value))
    if not 0 < number < 65536:
        raise SelectionError("server %s: port %d out of range" % (where, number))
    return number


def _pair(raw):
    """'a;t' -> dict(available_kib, total_kib, free_percent) or None for NIL/garbage."""
    if raw is None:
        return None
    try:
        available, total = parse_freespace_value(raw)
    except SelectionError:
        return None
    return {"available_kib": available, "total_kib": total,
            "free_percent": (available * 100.0 / total) if total > 0 else None}


def unmeasurable_reason(pair):
    """Why a frontend could not use a value (Cyrus: total 0 or free% > 100), else None."""
    if pair is None:
        return "no value"
    if pair["total_kib"] <= 0:
        return ("answers 0;0: its partition_select_mode is random, or none of its partitions would "
                "be chosen (all excluded or full)")
    if pair["available_kib"] > pair["total_kib"]:
        return "available %d KiB exceeds total %d KiB" % (pair["available_kib"], pair["total_kib"])
    return None


def read_freespace(connect, server, entries="all", frontend_mode=DEFAULT_MODE):
    """Ask one server; return its report (never raises for an unreachable server).

    ``connect(host, port)`` returns a connected ``CyrusImapConnection`` or raises
    ``ImapError``; ``server`` comes from ``parse_server``.
    """
    if entries not in ENTRY_SETS:
        raise SelectionError("entries must be one of %s, got %r" % (", ".join(ENTRY_SETS), entries))
    wanted = frontend_entry(frontend_mode)
    asked = [FREESPACE, FREESPACE_TOTAL, FREESPACE_PERCENT_MOST] if entries == "all" else [wanted]
    report = {
        "name": server["name"], "host": server["host"], "port": server["port"],
        "reachable": False, "error": None, "measurable": False, "unmeasurable_reason": None,
        "entries": dict((entry, None) for entry in asked),
        "freespace_kib": None, "total": None, "percent_most": None,
        "frontend_entry": wanted, "frontend_value": None,
    }
    connection = None
    try:
        connection = connect(server["host"], server["port"])
        report["reachable"] = True
        values = connection.metadata("", asked)
    except ImapError as exc:
        report["error"] = str(exc)
        report["unmeasurable_reason"] = "unreachable: %s" % exc
        return report
    finally:
        if connection is not None:
            connection.close()
    for entry in asked:
        report["entries"][entry] = values.get(entry)
    if values.get(FREESPACE) is not None:
        try:
            report["freespace_kib"] = int(values[FREESPACE])
        except ValueError:
            report["freespace_kib"] = None
    report["total"] = _pair(values.get(FREESPACE_TOTAL))
    report["percent_most"] = _pair(values.get(FREESPACE_PERCENT_MOST))
    chosen = report["total"] if wanted == FREESPACE_TOTAL else report["percent_most"]
    report["frontend_value"] = values.get(wanted)
    reason = unmeasurable_reason(chosen)
    if values.get(wanted) is not None and chosen is None:
        reason = "cannot parse %s value %r" % (wanted, values.get(wanted))
    report["measurable"] = reason is None
    report["unmeasurable_reason"] = reason
    return report


def backends_input(reports, frontend_mode=DEFAULT_MODE):
    """name -> [available, total] of the frontend's entry (None when unreachable): select_backend's input."""
    frontend_entry(frontend_mode)
    result = {}
    for report in reports:
        pair = report["total"] if frontend_mode == "freespace-most" else report["percent_most"]
        if not report["reachable"] or pair is None:
            result[report["name"]] = None
        else:
            result[report["name"]] = [pair["available_kib"], pair["total_kib"]]
    return result
