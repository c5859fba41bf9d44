#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: imapops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
---
module: mailbox
short_description: Create Cyrus IMAP mailboxes on a chosen partition, idempotently
version_added: 0.1.0
description:
  - Logs in to a Cyrus IMAP server as an admin and creates one or many mailboxes in one
    session, each optionally on a named partition (or C(server!partition) through a Murder
    frontend), with optional subfolders and a storage quota.
  - Subfolders are created after their parent and without a partition, so Cyrus puts them on
    the parent's partition.
  - A mailbox that exists is never moved, renamed or deleted; it is reported with the
    partition the server says it has. Missing subfolders of an existing mailbox are created
    and a differing quota is set.
  - Each mailbox's partition (and server, through a frontend) is read back from the server
    after the run.
author: imapops developers
extends_documentation_fragment:
  - imapops.cyrus.imap
options:
  mailboxes:
    description:
      - Mailboxes to have. Each item is a full mailbox name, or a dict.
    type: list
    elements: raw
    default: []
    suboptions:
      name:
        description: Full mailbox name in the server's hierarchy separator (C(user.alice) or C(user/alice)).
        type: str
      user:
        description: User name; the mailbox is that user's INBOX (C(user<sep><user>)). Use instead of O(mailboxes[].name).
        type: str
      partition:
        description: Partition to create it on. Without it, Cyrus chooses (spec section 2).
        type: str
      server:
        description: Backend to create it on through a Murder frontend; sent as C(server!partition), so O(mailboxes[].partition) is needed too.
        type: str
      subfolders:
        description: Subfolder names below this mailbox; default O(subfolders).
        type: list
        elements: str
      quota:
        description: Storage quota in KiB on this mailbox; default O(quota).
        type: int
  name:
    description: A single mailbox name, as a shorthand for one item in O(mailboxes).
    type: str
  partition:
    description: Partition for O(name).
    type: str
  subfolders:
    description: Default subfolders for every mailbox (for example C([Drafts, Sent, Trash])).
    type: list
    elements: str
    default: []
  quota:
    description: Default storage quota in KiB for every mailbox; omitted means no quota is set.
    type: int
attributes:
  check_mode:
    support: full
    description: Reads the server's state and reports the commands it would send; sends none.
  diff_mode:
    support: full
    description: Shows the mailboxes before and after.
notes:
  - Creating on a named partition or server needs an admin login.
  - Through a Cyrus 3.6.1 frontend, always give O(mailboxes[].server) with O(mailboxes[].partition):
    a bare C(CREATE name partition) crashes the frontend's imapd process.
"""

EXAMPLES = r"""
- name: Create two users on chosen partitions with default folders
  imapops.cyrus.mailbox:
    login_host: 127.0.0.1
    login_user: cyrusadmin
    login_password: "{{ cyrus_admin_password }}"
    mailboxes:
      - {user: alice, partition: p1}
      - {user: bob, partition: p2, quota: 2097152}
    subfolders: [Drafts, Sent, Trash]

- name: Let Cyrus choose the partition
  imapops.cyrus.mailbox:
    login_password: "{{ cyrus_admin_password }}"
    name: user.carol
"""

RETURN = r"""
mailboxes:
  description: One entry per requested mailbox, in request order.
  returned: always
  type: list
  elements: dict
  contains:
    name: {description: Full mailbox name., type: str, returned: always, sample: user.alice}
    user: {description: User name when given as O(mailboxes[].user)., type: str, returned: when given}
    created: {description: Whether this run created it (or would, in check mode)., type: bool, returned: always}
    existed: {description: Whether it existed before the run., type: bool, returned: always}
    partition:
      description: Partition as the server reports it after the run; in check mode the requested one for new mailboxes (null when Cyrus will choose).
      type: str
      returned: always
      sample: p2
    server: {description: Backend as a frontend reports it (null on a backend)., type: str, returned: always}
    subfolders_created: {description: Subfolders created (or to be created)., type: list, elements: str, returned: always}
    quota: {description: Storage quota in KiB after the run, null if none., type: int, returned: always}
imap_commands:
  description: The state-changing IMAP commands sent (in check mode, that would be sent). Never LOGIN.
  returned: always
  type: list
  elements: str
  sample: ['CREATE "user.alice" p1', 'CREATE "user.alice.Sent"', 'SETQUOTA "user.alice" (STORAGE 1024)']
separator:
  description: The server's hierarchy separator.
  returned: success
  type: str
  sample: /
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.imapops.cyrus.plugins.module_utils.imap import imap_common_argument_spec, imap_connection
from ansible_collections.imapops.cyrus.plugins.module_utils.imap_client import ImapError, encode_mailbox_name


class MailboxRequest(object):
    """One requested mailbox with what exists of it and what must be sent for it."""

    def __init__(self, spec, separator):
        self.user = spec.get("user")
        self.name = spec.get("name") or ("user" + separator + self.user)
        self.partition = spec.get("partition")
        self.server = spec.get("server")
        self.subfolders = [self.name + separator + sub for sub in spec.get("subfolders") or []]
        self.quota = spec.get("quota")
        self.existed = False
        self.missing_subfolders = []
        self.quota_before = None

    def create_target(self):
        if self.server:
            return "%s!%s" % (self.server, self.partition)
        return self.partition


def normalise_requests(params):
    items = list(params["mailboxes"])
    if params["name"]:
        items.append({"name": params["name"], "partition": params["partition"]})
    elif params["partition"]:
        raise ValueError("partition is given without name; put it on an item of mailboxes")
    specs = []
    seen = set()
    for index, item in enumerate(items):
        if isinstance(item, str):
            item = {"name": item}
        if not isinstance(item, dict):
            raise ValueError("mailboxes[%d] must be a name or a dict, got %r" % (index, item))
        unknown = set(item) - {"name", "user", "partition", "server", "subfolders", "quota"}
        if unknown:
            raise ValueError("mailboxes[%d]: unknown keys %s" % (index, ", ".join(sorted(unknown))))
        if bool(item.get("name")) == bool(item.get("user")):
            raise ValueError("mailboxes[%d] needs exactly one of name or user, got %r" % (index, item))
        if item.get("server") and not item.get("partition"):
            raise ValueError("mailboxes[%d]: server %r needs a partition (sent as server!partition)"
                             % (index, item["server"]))
        spec = dict(item)
        spec.setdefault("subfolders", params["subfolders"])
        spec.setdefault("quota", params["quota"])
        if spec["quota"] is not None:
            try:
                spec["quota"] = int(spec["quota"])
            except (TypeError, ValueError):
                raise ValueError("mailboxes[%d]: quota must be an integer number of KiB, got %r"
                                 % (index, spec["quota"]))
            if spec["quota"] < 0:
                raise ValueError("mailboxes[%d]: quota must not be negative" % index)
        key = item.get("name") or ("user", item.get("user"))
        if key in seen:
            raise ValueError("mailboxes[%d] %r is requested twice" % (index, item.get("name") or item.get("user")))
        seen.add(key)
        specs.append(spec)
    return specs


class CyrusMailboxes(object):
    """The requested mailboxes on one server: read state, plan, apply, report."""

    def __init__(self, connection, specs):
        self.connection = connection
        self.separator = connection.separator
        self.requests = [MailboxRequest(spec, self.separator) for spec in specs]
        names = [r.name for r in self.requests] + [s for r in self.requests for s in r.subfolders]
        existing = connection.existing(names)
        for request in self.requests:
            request.existed = request.name in existing
            request.missing_subfolders = [s for s in request.subfolders if s not in existing]
            if request.existed and request.quota is not None:
                request.quota_before = connection.quota(request.name)

    def planned_commands(self):
        commands = []
        for request in self.requests:
            if not request.existed:
                target = request.create_target()
                commands.append(self.connection.command_text(
                    "CREATE", encode_mailbox_name(request.name), *([target] if target else [])))
            for sub in request.missing_subfolders:
                commands.append(self.connection.command_text("CREATE", encode_mailbox_name(sub)))
            if request.quota is not None and request.quota != request.quota_before:
                commands.append(self.connection.command_text(
                    "SETQUOTA", encode_mailbox_name(request.name), "(STORAGE %d)" % request.quota))
        return commands

    def apply(self):
        for request in self.requests:
            if not request.existed:
                self.connection.create(request.name, request.create_target())
            for sub in request.missing_subfolders:
                self.connection.create(sub)
            if request.quota is not None and request.quota != request.quota_before:
                self.connection.set_quota(request.name, request.quota)

    def report(self, check_mode):
        results = []
        for request in self.requests:
            if check_mode and not request.existed:
                partition, server = request.partition, request.server
            else:
                partition, server = self.connection.partition_of(request.name)
            quota = request.quota if request.quota is not None else (
                None if check_mode and not request.existed else self.connection.quota(request.name))
            entry = dict(name=request.name, created=not request.existed, existed=request.existed,
                         partition=partition, server=server,
                         subfolders_created=list(request.missing_subfolders), quota=quota)
            if request.user:
                entry["user"] = request.user
            results.append(entry)
        return results

    def diff(self, results):
        before = [r["name"] + "\n" for r in self.requests if r.existed]
        before += [s + "\n" for r in self.requests for s in r.subfolders if s not in r.missing_subfolders]
        after = ["%s (partition %s)\n" % (r["name"], r["partition"] or "chosen by Cyrus") for r in results]
        after += [s + "\n" for r in self.requests for s in r.subfolders]
        return dict(before_header="mailboxes before", after_header="mailboxes after",
                    before="".join(sorted(before)), after="".join(sorted(after)))


def main():
    argument_spec = imap_common_argument_spec()
    argument_spec.update(
        mailboxes=dict(type="list", elements="raw", default=[]),
        name=dict(type="str"),
        partition=dict(type="str"),
        subfolders=dict(type="list", elements="str", default=[]),
        quota=dict(type="int"),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    try:
        specs = normalise_requests(module.params)
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    connection = imap_connection(module.params)
    result = dict(changed=False, imap_commands=[], mailboxes=[])
    try:
        connection.connect()
        mailboxes = CyrusMailboxes(connection, specs)
        result["separator"] = mailboxes.separator
        if module.check_mode:
            result["imap_commands"] = mailboxes.planned_commands()
        else:
            try:
                mailboxes.apply()
            finally:
                result["imap_commands"] = list(connection.commands)
        result["changed"] = bool(result["imap_commands"])
        result["mailboxes"] = mailboxes.report(module.check_mode)
        if module._diff:
            result["diff"] = mailboxes.diff(result["mailboxes"])
    except ImapError as exc:
        result["changed"] = bool(connection.commands)
        module.fail_json(msg=str(exc), **result)
    finally:
        connection.close()
    module.exit_json(**result)


if __name__ == "__main__":
    main()
