# -*- coding: utf-8 -*-
# Copyright: imapops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""TLS settings and the cleartext guard of CyrusImapConnection, without a server.

The real handshakes (good certificate, wrong host name, unknown CA, STARTTLS and implicit
TLS) are tested against a real Cyrus in tests/integration/test_secure_imap.py.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import ssl

import pytest

from ansible_collections.imapops.cyrus.plugins.module_utils import imap_client
from ansible_collections.imapops.cyrus.plugins.module_utils.imap_client import CyrusImapConnection, ImapError

PASSWORD = "Unit-Test-Password-Never-Printed-42"


@pytest.mark.parametrize("host, loopback", [
    ("127.0.0.1", True), ("127.3.4.5", True), ("::1", True), ("localhost", True),
    ("192.0.2.1", False), ("2001:db8::1", False), ("no-such-host.invalid", False),
])
def test_is_loopback(host, loopback):
    assert imap_client.is_loopback(host) is loopback


@pytest.mark.parametrize("tls, port", [("none", 143), ("starttls", 143), ("implicit", 993)])
def test_default_ports(tls, port):
    assert CyrusImapConnection("127.0.0.1", None, "u", PASSWORD, tls=tls).port == port


def test_cleartext_to_non_loopback_is_refused_before_connecting(monkeypatch):
    def no_connection(*args, **kwargs):
        raise AssertionError("must not connect")
    monkeypatch.setattr(imap_client.imaplib.socket, "create_connection", no_connection)
    with pytest.raises(ImapError) as error:
        CyrusImapConnection("192.0.2.1", 143, "u", PASSWORD).connect()
    assert "refusing to send the password in clear text to 192.0.2.1:143" in str(error.value)
    assert PASSWORD not in str(error.value)


def test_cleartext_allowed_when_asked(monkeypatch):
    attempts = []

    def refused(address, *args, **kwargs):
        attempts.append(address)
        raise ConnectionRefusedError(111, "Connection refused")
    monkeypatch.setattr(imap_client.imaplib.socket, "create_connection", refused)
    with pytest.raises(ImapError) as error:
        CyrusImapConnection("192.0.2.1", 143, "u", PASSWORD, allow_cleartext_password=True).connect()
    assert attempts == [("192.0.2.1", 143)]
    assert "cannot connect to IMAP server 192.0.2.1:143: Connection refused" in str(error.value)


@pytest.mark.parametrize("tls", ["starttls", "implicit"])
def test_tls_to_non_loopback_is_not_refused(monkeypatch, tls):
    attempts = []

    def refused(address, *args, **kwargs):
        attempts.append(address)
        raise ConnectionRefusedError(111, "Connection refused")
    monkeypatch.setattr(imap_client.imaplib.socket, "create_connection", refused)
    with pytest.raises(ImapError) as error:
        CyrusImapConnection("192.0.2.1", None, "u", PASSWORD, tls=tls).connect()
    assert len(attempts) == 1 and "cannot connect" in str(error.value)


def test_verifying_context_by_default(tmp_path):
    context = CyrusImapConnection("127.0.0.1", 993, "u", PASSWORD, tls="implicit")._ssl_context()
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname is True
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2


def test_validate_certs_false_turns_off_checks():
    context = CyrusImapConnection("127.0.0.1", 993, "u", PASSWORD, tls="implicit",
                                  validate_certs=False)._ssl_context()
    assert context.verify_mode == ssl.CERT_NONE and context.check_hostname is False


def test_missing_ca_file_is_a_clear_error():
    conn = CyrusImapConnection("127.0.0.1", 993, "u", PASSWORD, tls="implicit", ca_file="/nonexistent/ca.pem")
    with pytest.raises(ImapError) as error:
        conn.connect()
    assert "/nonexistent/ca.pem" in str(error.value)


@pytest.mark.parametrize("verify_code, verify_message, expected", [
    (62, "Hostname mismatch, certificate is not valid for '127.0.0.2'.",
     "certificate is not valid for host name '127.0.0.2'"),
    (20, "unable to get local issuer certificate", "certificate is not signed by a trusted CA"),
    (10, "certificate has expired", "certificate has expired"),
])
def test_certificate_errors_say_it_was_the_certificate(monkeypatch, verify_code, verify_message, expected):
    def failing(*args, **kwargs):
        error = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
        error.verify_code = verify_code
        error.verify_message = verify_message
        raise error
    monkeypatch.setattr(imap_client.imaplib, "IMAP4_SSL", failing)
    with pytest.raises(ImapError) as error:
        CyrusImapConnection("127.0.0.2", 993, "u", PASSWORD, tls="implicit").connect()
    message = str(error.value)
    assert message.startswith("TLS certificate verification of IMAP server 127.0.0.2:993 failed")
    assert expected in message and verify_message in message
    assert "ca_file" in message and "validate_certs" in message
