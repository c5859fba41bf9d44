# -*- coding: utf-8 -*-
# Copyright: imapops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers for the Murder tests: raw IMAP on the frontend (stdlib imaplib, independent of the
collection's client), backend telemetry, the chi-square test, the collection's view."""

import glob
import math
import os
import re
import shutil

from cyrus_lab import getmetadata

from ansible_collections.imapops.cyrus.plugins.module_utils import freespace
from ansible_collections.imapops.cyrus.plugins.module_utils.facts import gather_partition_facts
from ansible_collections.imapops.cyrus.plugins.module_utils.imap_client import CyrusImapConnection

SERVER = "/shared/vendor/cmu/cyrus-imapd/server"
PARTITION = "/shared/vendor/cmu/cyrus-imapd/partition"
UNAVAILABLE = "Server(s) unavailable to complete operation"

# (partitions (name, MiB), used MiB) for three backends; the comments give what each backend
# answers: freespace/total (MiB, sum) and freespace/percent/most (best partition's free %).
LAYOUTS = {
    # totals 72, 96, 40 -> backend2;  percent 87.5, 75, 93.75 -> backend3
    "default": (((("p1", 64), ("p2", 32)), {"p1": 8, "p2": 16}),
                ((("p1", 96), ("p2", 48)), {"p1": 24, "p2": 24}),
                ((("p1", 32), ("p2", 16)), {"p1": 2, "p2": 6})),
    # totals 42, 40, 52 -> backend3;  percent 87.5, 83.3, 43.75 -> backend1
    "big-but-full-first": (((("p1", 128), ("p2", 16)), {"p1": 100, "p2": 2}),
                           ((("p1", 48),), {"p1": 8}),
                           ((("p1", 64), ("p2", 64)), {"p1": 40, "p2": 36})),
    # totals 20, 61, 12 -> backend2;  percent 83.3, 75, 25 -> backend1
    "one-big-one-small": (((("p1", 24),), {"p1": 4}),
                          ((("p1", 80), ("p2", 8)), {"p1": 20, "p2": 7}),
                          ((("p1", 40), ("p2", 40)), {"p1": 30, "p2": 38})),
}


def frontend_create(conn, name):
    """CREATE without server on the frontend: (server it went to, None) or (None, NO text)."""
    typ, data = conn.create(name)
    if typ != "OK":
        return None, b" ".join(d for d in data if isinstance(d, bytes)).decode(errors="replace")
    return getmetadata(conn, name, SERVER)[SERVER], None


def fresh_create(lab, name):
    """One CREATE in a new frontend connection (a new imapd process: it measures again)."""
    conn = lab.frontend.imap()
    try:
        return frontend_create(conn, name)
    finally:
        conn.logout()


def partition_on(backend, name):
    conn = backend.imap()
    try:
        return getmetadata(conn, name, PARTITION)[PARTITION]
    finally:
        conn.logout()


def mailboxes_on(backend, pattern="user.*"):
    conn = backend.imap()
    try:
        typ, data = conn.list('""', pattern)
        names = []
        for line in data or []:
            if line:
                text = line.decode() if isinstance(line, bytes) else str(line[0].decode())
                names.append(text.rsplit(" ", 1)[-1].strip('"'))
        return names
    finally:
        conn.logout()


def connector(lab):
    def connect(host, port):
        return CyrusImapConnection(host, port, lab.admin_user, lab.admin_password, timeout=5).connect()
    return connect


def read_backends(lab, frontend_mode, entries="all"):
    """What freespace_info's engine reads from each backend (name -> report), serverlist order."""
    connect = connector(lab)
    return [freespace.read_freespace(connect, freespace.parse_server(name), entries, frontend_mode)
            for name in lab.serverlist]


def backend_facts(lab):
    """server name -> {cyrus_partitions, cyrus_distribution} gathered as partition_facts does."""
    result = {}
    for backend in lab.backends:
        partitions, settings, _warnings = gather_partition_facts(backend.imapd_conf)
        result[backend.server_name] = {"cyrus_partitions": partitions, "cyrus_distribution": settings}
    return result


def enable_telemetry(backend, user):
    """Cyrus logs every session of ``user`` on this backend to config/log/<user>/ (telemetry)."""
    directory = os.path.join(backend.config_directory, "log", user)
    os.makedirs(directory, exist_ok=True)
    backend._give_to_cyrus(os.path.dirname(directory), 0o750)
    backend._give_to_cyrus(directory, 0o750)
    return directory


def telemetry_metadata(backend, user):
    """(requested entries, answered {entry: value}) from every GETMETADATA "" in the telemetry log."""
    requested, answered = [], {}
    for path in sorted(glob.glob(os.path.join(backend.config_directory, "log", user, "*"))):
        with open(path, errors="replace") as handle:
            for line in handle:
                request = re.match(r'^<\d+<\S+ GETMETADATA "" \((.*)\)\s*$', line)
                if request:
                    requested.extend(entry.strip('"') for entry in request.group(1).split())
                for entry, value in re.findall(r'\* METADATA "" \("([^"]+)" "([^"]*)"\)', line):
                    answered[entry] = value
    return requested, answered


def disable_telemetry(backend, user):
    shutil.rmtree(os.path.join(backend.config_directory, "log", user), ignore_errors=True)


def chi_square(observed, expected_percent, total):
    """Pearson's statistic over the bins with expected > 0; and bins observed where none expected."""
    statistic = 0.0
    impossible = []
    for name, percent in expected_percent.items():
        expected = total * percent / 100.0
        if expected == 0:
            if observed.get(name):
                impossible.append(name)
            continue
        statistic += (observed.get(name, 0) - expected) ** 2 / expected
    return statistic, impossible


# Upper 0.1 % points of the chi-square distribution (false-failure rate 1 in 1000 per test).
CHI2_999 = {1: 10.828, 2: 13.816, 3: 16.266}


def chi2_pvalue_df2(statistic):
    """Exact survival function of chi-square with 2 degrees of freedom: exp(-x/2)."""
    return math.exp(-statistic / 2.0)
