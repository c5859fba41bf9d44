#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: imapops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
---
module: mailbox_info
short_description: Tell whether Cyrus IMAP mailboxes exist, and on which server and partition
version_added: 0.2.0
description:
  - Logs in as an admin, finds which of the given mailboxes exist (C(LIST)) and asks the server
    for each existing one C(GETMETADATA <mailbox> (/shared/vendor/cmu/cyrus-imapd/partition
    /shared/vendor/cmu/cyrus-imapd/server)).
  - On a backend the answer is the mailbox's partition; through a Murder frontend it is the
    backend (server) that holds it, as the frontend's mupdate copy says. Ask the frontend to
    find a user's backend, then that backend for the partition.
  - Changes nothing.
author: imapops developers (@imapops)
extends_documentation_fragment:
  - imapops.cyrus.imap
options:
  mailboxes:
    description:
      - Mailboxes to look up. Each item is a full mailbox name, or a dict with C(name) or
        C(user) (the user's INBOX, C(user<sep><user>) with the server's separator). Other keys of
        a dict are ignored, so the O(imapops.cyrus.mailbox#module:mailboxes) list can be reused.
    type: list
    elements: raw
    required: true
attributes:
  check_mode:
    support: full
    description: Read-only; runs the same in check mode.
  diff_mode:
    support: none
    description: Nothing changes, so there is nothing to show.
seealso:
  - module: imapops.cyrus.mailbox
"""

EXAMPLES = r"""
- name: Which backend holds each user (ask the frontend)
  imapops.cyrus.mailbox_info:
    login_host: frontend.example.org
    login_password: "{{ cyrus_admin_password }}"
    tls: starttls
    mailboxes: [{user: alice}, {user: bob}]
  register: where

- name: Users that have no mailbox yet
  ansible.builtin.debug:
    msg: "{{ where.mailboxes | rejectattr('exists') | map(attribute='user') | list }}"
"""

RETURN = r"""
mailboxes:
  description: One entry per requested mailbox, in request order.
  returned: always
  type: list
  elements: dict
  contains:
    name: {description: Full mailbox name., type: str, returned: always, sample: user.alice}
    user: {description: "The user, when the item named one.", type: str, returned: when given}
    exists: {description: Whether the mailbox exists., type: bool, returned: always}
    partition:
      description: Partition the server reports (a backend answers it; null through a frontend or when missing).
      type: str
      returned: always
      sample: p2
    server:
      description: Backend the server reports (a frontend answers it; null on a backend or when missing).
      type: str
      returned: always
      sample: "127.0.0.22:14302"
separator:
  description: The server's hierarchy separator.
  returned: success
  type: str
  sample: .
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.imapops.cyrus.plugins.module_utils.imap import imap_common_argument_spec, imap_connection
from ansible_collections.imapops.cyrus.plugins.module_utils.imap_client import (
    PARTITION_ENTRY, SERVER_ENTRY, ImapError)


def requested(items, separator):
    """(name, user or None) per item; ValueError names a bad item."""
    result = []
    for index, item in enumerate(items):
        if isinstance(item, str):
            item = {"name": item}
        if not isinstance(item, dict) or bool(item.get("name")) == bool(item.get("user")):
            raise ValueError("mailboxes[%d] must be a name or a dict with exactly one of name, user; got %r"
                             % (index, item))
        user = item.get("user")
        result.append((item.get("name") or "user" + separator + user, user))
    return result


def main():
    argument_spec = imap_common_argument_spec()
    argument_spec.update(mailboxes=dict(type="list", elements="raw", required=True))
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    connection = imap_connection(module.params)
    try:
        connection.connect()
        separator = connection.separator
        try:
            wanted = requested(module.params["mailboxes"], separator)
        except ValueError as exc:
            module.fail_json(msg=str(exc))
        found = connection.existing([name for name, _user in wanted])
        entries = []
        for name, user in wanted:
            values = connection.metadata(name, (PARTITION_ENTRY, SERVER_ENTRY)) if name in found else {}
            entry = dict(name=name, exists=name in found, partition=values.get(PARTITION_ENTRY),
                         server=values.get(SERVER_ENTRY))
            if user:
                entry["user"] = user
            entries.append(entry)
    except ImapError as exc:
        module.fail_json(msg=str(exc), mailboxes=[])
    finally:
        connection.close()
    module.exit_json(changed=False, mailboxes=entries, separator=separator)


if __name__ == "__main__":
    main()
