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
author: imapops developers (@imapops)
extends_documentation_fragment:
  - imapops.cyrus.imap
options:
  mailboxes:
    description:
      - Mailboxes to have. Each item is a full mailbox name, or a dict with the keys below.
    type: list
    elements: raw
    default: []
    suboptions:
      name:
        description:
          - Full mailbox name in the server's hierarchy separator (C(user.alice) or C(user/alice)).
        type: str
      user:
        description:
          - User name; the mailbox is that user's INBOX (C(user<sep><user>)).
          - Use instead of O(mailboxes[].name).
        type: str
      partition:
        description:
          - Partition to create it on. Without it, Cyrus chooses with its own selection rules.
        type: str
      server:
        description:
          - Backend to create it on through a Murder frontend; sent as C(server!partition), so
            O(mailboxes[].partition) is needed too.
        type: str
      subfolders:
        description:
          - Subfolder names below this mailbox; default O(subfolders).
        type: list
        elements: str
      quota:
        description:
          - Storage quota in KiB on this mailbox; default O(quota).
        type: int
  name:
    description:
      - A single mailbox name, as a shorthand for one item in O(mailboxes).
    type: str
  partition:
    description:
      - Partition for O(name).
    type: str
  subfolders:
    description:
      - Default subfolders for every mailbox (for example C([Drafts, Sent, Trash])).
    type: list
    elements: str
    default: []
  quota:
    description:
      - Default storage quota in KiB for every mailbox; omitted means no quota is set.
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
  - Through a Cyrus 3.6.1 frontend, always give O(mailboxes[].server) with
    O(mailboxes[].partition); a bare C(CREATE name partition) crashes the frontend's imapd
    process.
seealso:
  - module: imapops.cyrus.partition_facts
  - plugin: imapops.cyrus.placement_plan
    plugin_type: filter
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
    name:
      description: Full mailbox name.
      type: str
      returned: always
      sample: user.alice
    user:
      description: User name, when the mailbox was given as O(mailboxes[].user).
      type: str
      returned: when given
      sample: alice
    created:
      description: Whether this run created it (or would, in check mode).
      type: bool
      returned: always
      sample: true
    existed:
      description: Whether it existed before the run.
      type: bool
      returned: always
      sample: false
    partition:
      description:
        - Partition as the server reports it after the run.
        - In check mode, the requested one for new mailboxes (null when Cyrus will choose).
      type: str
      returned: always
      sample: p2
    server:
      description: Backend as a frontend reports it (null on a backend).
      type: str
      returned: always
      sample: null
    subfolders_created:
      description: Subfolders created (or to be created).
      type: list
      elements: str
      returned: always
      sample: [user.alice.Drafts, user.alice.Sent]
    quota:
      description: Storage quota in KiB after the run; null if none.
      type: int
      returned: always
      sample: 2097152
    error:
      description: Why this mailbox could not be created or changed; its subfolders and quota were then not sent.
      type: str
      returned: on failure
      sample: 'CREATE "user.dan" nosuch failed: Unknown/invalid partition'
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
failed:
  description: Names of the mailboxes that failed (the module fails when this is not empty).
  returned: on failure
  type: list
  elements: str
  sample: [user.dan]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.imapops.cyrus.plugins.module_utils.imap import imap_common_argument_spec, imap_connection
from ansible_collections.imapops.cyrus.plugins.module_utils.imap_client import ImapError


MAX_QUOTA_KIB = 2 ** 31 - 1  # Cyrus 3.6.1: "num too big" above this, and the connection drops


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
            if spec["quota"] > MAX_QUOTA_KIB:
                label = item.get("name") or item.get("user")
                raise ValueError("mailboxes[%d] %r: quota %d KiB is over Cyrus's limit of %d KiB (a larger one makes "
                                 "Cyrus drop the connection)" % (index, label, spec["quota"], MAX_QUOTA_KIB))
        key = item.get("name") or ("user", item.get("user"))
        if key in seen:
            raise ValueError("mailboxes[%d] %r is requested twice" % (index, item.get("name") or item.get("user")))
        seen.add(key)
        specs.append(spec)
    return specs


class CyrusMailboxes(object):
    """The requested mailboxes on one server: read state, plan, apply, report.

    Commands are pipelined. Parents are created before any subfolder is sent,
    and subfolders only below parents that exist: Cyrus would otherwise create
    a missing parent itself, on a partition of its own choosing.
    """

    def __init__(self, connection, specs):
        self.connection = connection
        self.separator = connection.separator
        for spec in specs:
            if spec.get("user") and self.separator in spec["user"]:
                owner = spec["user"].split(self.separator)[0]
                raise ImapError("user %r contains the server's hierarchy separator %r: it would name a folder "
                                "below user %r, not a user" % (spec["user"], self.separator, owner))
        self.requests = [MailboxRequest(spec, self.separator) for spec in specs]
        self.errors = {}
        self.found_before = connection.lookup([r.name for r in self.requests])
        # subfolders can only exist below an existing parent: look only there
        below_existing = [s for r in self.requests if r.name in self.found_before for s in r.subfolders]
        subfolders_found = connection.lookup(below_existing) if below_existing else {}
        for request in self.requests:
            request.existed = request.name in self.found_before
            request.missing_subfolders = [s for s in request.subfolders if s not in subfolders_found]
        with_quota = [r.name for r in self.requests if r.existed and r.quota is not None]
        before = connection.quotas(with_quota) if with_quota else {}
        for request in self.requests:
            request.quota_before = before.get(request.name)

    def _quota_due(self, request):
        return request.quota is not None and request.quota != request.quota_before

    def _phases(self):
        """Commands in the order they are sent: parents, then subfolders and quotas."""
        conn = self.connection
        parents = [(r, conn.create_command(r.name, r.create_target())) for r in self.requests if not r.existed]
        children = []
        for request in self.requests:
            children.extend((request, conn.create_command(sub)) for sub in request.missing_subfolders)
            if self._quota_due(request):
                children.append((request, conn.set_quota_command(request.name, request.quota)))
        return parents, children

    def planned_commands(self):
        parents, children = self._phases()
        return [self.connection.command_text(*command) for _request, command in parents + children]

    def apply(self):
        parents, children = self._phases()
        for (request, _command), error in zip(parents, self.connection.change([c for _r, c in parents])):
            if error:
                self.errors[request.name] = error
        children = [(r, c) for r, c in children if r.name not in self.errors]
        for (request, _command), error in zip(children, self.connection.change([c for _r, c in children])):
            if error:
                self.errors.setdefault(request.name, error)

    def report(self, check_mode):
        found = dict(self.found_before)
        if not check_mode:
            # existing mailboxes were never moved: only the new ones need reading back
            created = [r.name for r in self.requests if not r.existed and r.name not in self.errors]
            found.update(self.connection.lookup(created))
        results = []
        for request in self.requests:
            if check_mode and not request.existed:
                partition, server = request.partition, request.server
            else:
                partition, server = found.get(request.name, (None, None))
            quota = request.quota
            if request.name in self.errors:
                quota = None if request.quota_before is None else request.quota_before
            entry = dict(name=request.name, quota_changed=self._quota_due(request) and request.name not in self.errors,
                         created=not request.existed and request.name in found or
                         (check_mode and not request.existed),
                         existed=request.existed, partition=partition, server=server,
                         subfolders_created=[] if request.name in self.errors and not request.existed
                         else list(request.missing_subfolders), quota=quota)
            if request.name in self.errors:
                entry["error"] = self.errors[request.name]
            if request.user:
                entry["user"] = request.user
            results.append(entry)
        return results

    def diff(self, results):
        before = [r.name + "\n" for r in self.requests if r.existed]
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
    if module.params["login_port"] is not None and not 0 < module.params["login_port"] < 65536:
        module.fail_json(msg="login_port must be 1-65535, got %d" % module.params["login_port"])
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
        if mailboxes.errors:
            failed = sorted(mailboxes.errors)
            module.fail_json(msg="%d of %d mailboxes failed (nothing else was changed for them): %s" % (
                len(failed), len(mailboxes.requests), "; ".join(mailboxes.errors[n] for n in failed[:5])
                + (" ..." if len(failed) > 5 else "")), failed=failed, **result)
    except ImapError as exc:
        result["changed"] = bool(connection.commands)
        module.fail_json(msg=str(exc), **result)
    finally:
        connection.close()
    module.exit_json(**result)


if __name__ == "__main__":
    main()
