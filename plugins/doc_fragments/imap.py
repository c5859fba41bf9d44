# -*- coding: utf-8 -*-
# Copyright: imapops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
options:
  login_host:
    description:
      - IMAP server to connect to (a backend, or a Murder frontend).
      - Falls back to the environment variable E(CYRUS_IMAP_HOST).
    type: str
    default: localhost
  login_port:
    description:
      - IMAP port. Default 143, or 993 with O(tls=implicit).
      - Falls back to E(CYRUS_IMAP_PORT).
    type: int
  login_user:
    description:
      - Cyrus admin user (listed in C(admins) in imapd.conf). Falls back to E(CYRUS_ADMIN_USER).
    type: str
    default: cyrus
  login_password:
    description:
      - Password of O(login_user). Never logged nor returned. Falls back to E(CYRUS_ADMIN_PASSWORD).
    type: str
  tls:
    description:
      - C(none) plain IMAP, C(starttls) upgrade with STARTTLS, C(implicit) TLS from the first byte (imaps).
    type: str
    default: none
    choices: [none, starttls, implicit]
  ca_file:
    description: CA certificates (PEM) to verify the server certificate with; default the system store.
    type: path
  validate_certs:
    description: Verify the server certificate and host name. Turn off only for tests.
    type: bool
    default: true
  allow_cleartext_password:
    description:
      - Without TLS the password is sent only to loopback addresses; set this to send it in clear
        text to other hosts anyway.
    type: bool
    default: false
  connect_timeout:
    description: Seconds to wait for the connection and for each reply.
    type: float
    default: 10.0
notes:
  - The modules use Python's C(imaplib); nothing needs to be installed on the managed node.
"""
