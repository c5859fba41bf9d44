# -*- coding: utf-8 -*-
# Copyright: imapops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The IMAP client's batched and pipelined paths against the real server."""

import random

import pytest

from ansible_collections.imapops.cyrus.plugins.module_utils import imap_client
from ansible_collections.imapops.cyrus.plugins.module_utils.imap_client import CyrusImapConnection, ImapError


def connect(lab):
    return CyrusImapConnection(lab.host, lab.port, lab.admin_user, lab.admin_password).connect()


def test_lookup_finds_exactly_the_existing_names_in_any_mix(cyrus_lab, monkeypatch):
    monkeypatch.setattr(imap_client, "LOOKUP_BATCH", 7)  # many batch boundaries
    lab = cyrus_lab(partitions=(("p1", 32), ("p2", 32)))
    generator = random.Random(5)
    names = ["user.m%03d" % i for i in range(120)]
    existing = dict((n, generator.choice(["p1", "p2"])) for n in names if generator.random() < 0.6)
    existing.update({"user.m000": "p1", "user.m001": "p2"})  # a run at the start
    for n in names[-10:]:
        existing[n] = "p2"  # and one at the end
    with connect(lab) as imap:
        imap.change([imap.create_command(n, p) for n, p in sorted(existing.items())])
        found = imap.lookup(names + ["user.m000"])
    assert set(found) == set(existing)
    assert dict((n, v[0]) for n, v in found.items()) == existing


def test_non_ascii_folder_names_round_trip(cyrus_lab):
    lab = cyrus_lab(partitions=(("p1", 16),))
    names = ["user.zoe", u"user.zoe.Entw\u00fcrfe", u"user.zoe.\u9001\u4fe1\u6e08\u307f", "user.zoe.A&B"]
    with connect(lab) as imap:
        imap.change([imap.create_command(n) for n in names])
        assert set(imap.lookup(names)) == set(names)
        typ, data = imap._command("LIST", '""', '"user.zoe.*"')
        listed = b" ".join(d for d in imap._untagged(typ, data, "LIST")[1] if d)
    assert b"Entw&APw-rfe" in listed and b"A&-B" in listed


def test_wildcards_are_refused():
    with pytest.raises(ImapError, match="wildcard"):
        CyrusImapConnection("127.0.0.1").lookup(["user.*"])


def test_pipeline_keeps_order_and_reports_each_failure(cyrus_lab):
    lab = cyrus_lab(partitions=(("p1", 16),))
    with connect(lab) as imap:
        errors = imap.change([imap.create_command("user.one"), imap.create_command("user.two", "nosuch"),
                              imap.create_command("user.three")])
        assert errors[0] is None and errors[2] is None
        assert errors[1].startswith('CREATE "user.two" nosuch failed') and "Unknown/invalid partition" in errors[1]
        assert imap.commands == ['CREATE "user.one"', 'CREATE "user.three"']
