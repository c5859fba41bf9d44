# -*- coding: utf-8 -*-
# Copyright: imapops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Secure IMAP against a real Cyrus 3.6.1 with a certificate from a test CA made here.

The lab (tls_lab.TlsCyrusLab) offers STARTTLS on its imap port and implicit TLS on its
imaps port. Its certificate is issued by the lab CA for imap.lab.test and IP 127.0.0.1 only:

- 127.0.0.1 with the lab CA verifies (implicit TLS and STARTTLS);
- localhost reaches the same server but is a host name the certificate does not name;
- the unrelated CA cannot verify it (an unknown CA);
- validate_certs=false connects anyway.

The good and bad cases run the mailbox module through ansible-playbook; the message of a
failure must say it was the certificate and which check failed.
"""

import json
import os

import pytest

from ansible_run import run_playbook, write_inventory
from tls_lab import TlsCyrusLab, make_test_pki

from ansible_collections.imapops.cyrus.plugins.module_utils.imap_client import CyrusImapConnection, ImapError

PASSWORD = "Tls-Lab-Admin-Password-" + "7" * 12


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_test_pki(str(tmp_path_factory.mktemp("pki")))


@pytest.fixture(scope="module")
def tls_lab(cyrus_installation, pki):
    lab = TlsCyrusLab(pki["cert"], pki["key"], partitions=(("p1", 0), ("p2", 0)), admin_password=PASSWORD)
    lab.start()
    yield lab
    lab.stop()


@pytest.mark.parametrize("tls", ["implicit", "starttls"])
def test_good_certificate_connects(tls_lab, pki, tls):
    port = tls_lab.imaps_port if tls == "implicit" else tls_lab.port
    with CyrusImapConnection("127.0.0.1", port, tls_lab.admin_user, PASSWORD, tls=tls, ca_file=pki["ca"]) as conn:
        assert conn.imap.sock.version() in ("TLSv1.2", "TLSv1.3")
        assert conn.separator == "."


def test_starttls_refused_by_a_server_without_tls(cyrus_lab):
    plain = cyrus_lab(partitions=(("p1", 0),), admin_password=PASSWORD)
    with pytest.raises(ImapError) as error:
        CyrusImapConnection("127.0.0.1", plain.port, plain.admin_user, PASSWORD, tls="starttls").connect()
    assert "does not offer STARTTLS" in str(error.value)


def mailbox_play(cases):
    """A play with one mailbox task per case (ignore_errors), all results written to a file."""
    lines = ["- hosts: cyrus_backends", "  gather_facts: false", "  tasks:"]
    for name, args in cases:
        lines += ["    - name: %s" % name, "      imapops.cyrus.mailbox:"]
        lines += ["        %s: %s" % (key, json.dumps(value)) for key, value in args.items()]
        lines += ["        login_user: \"{{ cyrus_admin_user }}\"",
                  "        login_password: \"{{ cyrus_admin_password }}\"",
                  "        connect_timeout: 5",
                  "      register: r_%s" % name, "      ignore_errors: true"]
    lines += ["    - ansible.builtin.copy:",
              "        content: \"{{ {%s} | to_json }}\"" % ", ".join("'%s': r_%s" % (n, n) for n, _ in cases),
              "        dest: \"{{ result_file }}\""]
    return "\n".join(lines) + "\n"


def test_mailbox_module_over_tls_good_and_bad(tmp_path, tls_lab, pki):
    imaps, imap = tls_lab.imaps_port, tls_lab.port
    cases = [
        ("implicit_good", {"login_host": "127.0.0.1", "login_port": imaps, "tls": "implicit",
                           "ca_file": pki["ca"], "mailboxes": [{"user": "tlsimplicit", "partition": "p2"}]}),
        ("starttls_good", {"login_host": "127.0.0.1", "login_port": imap, "tls": "starttls",
                           "ca_file": pki["ca"], "mailboxes": [{"user": "tlsstarttls", "partition": "p1"}]}),
        ("implicit_wrong_host", {"login_host": "localhost", "login_port": imaps, "tls": "implicit",
                                 "ca_file": pki["ca"], "name": "user.wronghost"}),
        ("starttls_wrong_host", {"login_host": "localhost", "login_port": imap, "tls": "starttls",
                                 "ca_file": pki["ca"], "name": "user.wronghost"}),
        ("implicit_unknown_ca", {"login_host": "127.0.0.1", "login_port": imaps, "tls": "implicit",
                                 "ca_file": pki["other_ca"], "name": "user.unknownca"}),
        ("starttls_unknown_ca", {"login_host": "127.0.0.1", "login_port": imap, "tls": "starttls",
                                 "ca_file": pki["other_ca"], "name": "user.unknownca"}),
        ("system_cas", {"login_host": "127.0.0.1", "login_port": imaps, "tls": "implicit",
                        "name": "user.systemcas"}),
        ("no_validation", {"login_host": "localhost", "login_port": imaps, "tls": "implicit",
                           "ca_file": pki["other_ca"], "validate_certs": False,
                           "mailboxes": [{"user": "novalidation", "partition": "p1"}]}),
        ("missing_ca_file", {"login_host": "127.0.0.1", "login_port": imaps, "tls": "implicit",
                             "ca_file": str(tmp_path / "nonexistent-ca.pem"), "name": "user.missingca"}),
    ]
    playbook = tmp_path / "tls.yml"
    playbook.write_text(mailbox_play(cases))
    result_file = str(tmp_path / "results.json")
    inventory = write_inventory(str(tmp_path), tls_lab)
    proc = run_playbook(str(playbook), inventory, "-e", "result_file=%s" % result_file)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with open(result_file) as handle:
        results = json.load(handle)

    for name, user, partition in (("implicit_good", "tlsimplicit", "p2"), ("starttls_good", "tlsstarttls", "p1"),
                                  ("no_validation", "novalidation", "p1")):
        assert results[name].get("failed") is not True, results[name]
        assert results[name]["imap_commands"][0] == 'CREATE "user.%s" %s' % (user, partition)
        assert tls_lab.partition_of("user." + user) == partition

    for name in ("implicit_wrong_host", "starttls_wrong_host"):
        message = results[name]["msg"]
        assert results[name]["failed"] is True and results[name]["imap_commands"] == []
        assert message.startswith("TLS certificate verification of IMAP server localhost:"), message
        assert "the certificate is not valid for host name 'localhost'" in message
    for name in ("implicit_unknown_ca", "starttls_unknown_ca", "system_cas"):
        message = results[name]["msg"]
        assert results[name]["failed"] is True
        assert message.startswith("TLS certificate verification of IMAP server 127.0.0.1:"), message
        assert "the certificate is not signed by a trusted CA" in message
    assert "other-ca.pem" in results["implicit_unknown_ca"]["msg"]
    assert "the system's CAs" in results["system_cas"]["msg"]
    assert "cannot use ca_file %s" % (tmp_path / "nonexistent-ca.pem") in results["missing_ca_file"]["msg"]
    # nothing of the failed cases reached the server
    with tls_lab.imap() as conn:
        typ, data = conn.list('""', '"user.*"')
    listed = b" ".join(d for d in data if d)
    assert b"wronghost" not in listed and b"unknownca" not in listed and b"systemcas" not in listed
    assert PASSWORD not in proc.stdout + proc.stderr


def test_cleartext_password_is_refused_to_non_loopback_even_with_a_port_that_answers(tmp_path, tls_lab):
    # 192.0.2.1 is TEST-NET-1: the module refuses before connecting, so nothing is sent there.
    # (allow_cleartext_password=true to a non-loopback address is covered by the unit tests,
    # with the connection mocked: this machine may send traffic only to loopback.)
    cases = [("cleartext", {"login_host": "192.0.2.1", "login_port": tls_lab.port, "tls": "none",
                            "name": "user.cleartext"}),
             ("cleartext_loopback", {"login_host": "127.0.0.1", "login_port": tls_lab.port, "tls": "none",
                                     "mailboxes": [{"user": "cleartextloopback", "partition": "p1"}]})]
    playbook = tmp_path / "cleartext.yml"
    playbook.write_text(mailbox_play(cases))
    result_file = str(tmp_path / "results.json")
    proc = run_playbook(str(playbook), write_inventory(str(tmp_path), tls_lab), "-e", "result_file=%s" % result_file)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with open(result_file) as handle:
        results = json.load(handle)
    assert results["cleartext"]["failed"] is True
    assert ("refusing to send the password in clear text to 192.0.2.1:%d" % tls_lab.port
            in results["cleartext"]["msg"])
    assert results["cleartext_loopback"].get("failed") is not True
