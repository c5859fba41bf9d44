# -*- coding: utf-8 -*-
# Copyright: imapops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Connection options shared by every module that talks IMAP (documented in doc_fragments/imap.py)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible.module_utils.basic import env_fallback

from ansible_collections.imapops.cyrus.plugins.module_utils.imap_client import TLS_MODES, CyrusImapConnection


def imap_common_argument_spec():
    """A fresh argument spec dict for the login options, every call."""
    return dict(
        login_host=dict(type="str", default="localhost", fallback=(env_fallback, ["CYRUS_IMAP_HOST"])),
        login_port=dict(type="int", fallback=(env_fallback, ["CYRUS_IMAP_PORT"])),
        login_user=dict(type="str", default="cyrus", fallback=(env_fallback, ["CYRUS_ADMIN_USER"])),
        login_password=dict(type="str", no_log=True, fallback=(env_fallback, ["CYRUS_ADMIN_PASSWORD"])),
        tls=dict(type="str", default="none", choices=list(TLS_MODES)),
        ca_file=dict(type="path"),
        validate_certs=dict(type="bool", default=True),
        allow_cleartext_password=dict(type="bool", default=False, no_log=False),
        connect_timeout=dict(type="float", default=10.0),
    )


def imap_connection(params):
    """A not yet connected ``CyrusImapConnection`` from module parameters."""
    return CyrusImapConnection(
        params["login_host"], params["login_port"], params["login_user"], params["login_password"],
        tls=params["tls"], ca_file=params["ca_file"], validate_certs=params["validate_certs"],
        timeout=params["connect_timeout"], allow_cleartext_password=params["allow_cleartext_password"])
