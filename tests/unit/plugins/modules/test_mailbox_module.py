# -*- coding: utf-8 -*-
# Copyright: imapops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The mailbox module's main(): input checks and connection refusals, without a server."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import socket

from ansible_collections.imapops.cyrus.plugins.modules import mailbox

PASSWORD = "Unit-Test-Password-Never-Printed-42"


def closed_loopback_port():
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


def test_partition_without_name_fails_before_connecting(run_module):
    code, result = run_module(mailbox, {"login_password": PASSWORD, "partition": "p1"})
    assert code == 1 and result["failed"] is True
    assert "partition is given without name" in result["msg"]


def test_item_needs_exactly_one_of_name_or_user(run_module):
    code, result = run_module(mailbox, {"login_password": PASSWORD,
                                        "mailboxes": [{"name": "user.a", "user": "a"}]})
    assert code == 1
    assert "mailboxes[0] needs exactly one of name or user" in result["msg"]


def test_unknown_tls_mode_is_rejected_by_the_argument_spec(run_module):
    code, result = run_module(mailbox, {"login_password": PASSWORD, "name": "user.a", "tls": "ssl"})
    assert code == 1
    assert "tls" in result["msg"] and "starttls" in result["msg"]


def test_cleartext_password_to_non_loopback_is_refused_without_a_connection(run_module):
    # 192.0.2.1 is TEST-NET-1: the refusal comes before any connection attempt
    code, result = run_module(mailbox, {"login_host": "192.0.2.1", "login_password": PASSWORD,
                                        "name": "user.a"})
    assert code == 1
    assert "refusing to send the password in clear text to 192.0.2.1:143" in result["msg"]
    assert result["imap_commands"] == [] and result["changed"] is False
    assert PASSWORD not in str(result)


def test_unreachable_loopback_port_names_host_and_port(run_module):
    port = closed_loopback_port()
    code, result = run_module(mailbox, {"login_host": "127.0.0.1", "login_port": port,
                                        "login_password": PASSWORD, "name": "user.a",
                                        "connect_timeout": 2})
    assert code == 1
    assert "cannot connect to IMAP server 127.0.0.1:%d" % port in result["msg"]


def test_password_comes_from_the_environment(run_module, monkeypatch):
    monkeypatch.setenv("CYRUS_ADMIN_PASSWORD", PASSWORD)
    monkeypatch.setenv("CYRUS_IMAP_HOST", "192.0.2.1")
    code, result = run_module(mailbox, {"name": "user.a"})
    assert code == 1
    assert "192.0.2.1" in result["msg"] and PASSWORD not in str(result)
