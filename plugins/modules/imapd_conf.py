#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: imapops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
---
module: imapd_conf
short_description: Set or remove options in an existing Cyrus imapd.conf, in place
version_added: 0.2.0
description:
  - Sets or removes the given options in a Cyrus IMAP 3.6.1 C(imapd.conf) and leaves every
    other byte of the file as it is (comments, blank lines, CRLF line ends, continued lines,
    comment lines ending in a backslash, the case of keys, C(@include) lines).
  - A managed key is written once. An existing line for it (also C(Partition-X) or a line
    continued with a backslash) is replaced in place; a new key goes after the last
    C(partition-*) or distribution option, else at the end of the file. A value Cyrus reads
    the same (C(0x10) and C(16)) is left as written.
  - A file that already holds a key twice is refused with the line numbers of every
    occurrence (Cyrus refuses such a file, and which one is meant cannot be guessed).
  - C(<service>_<option>) lines (for example C(imap_partition_select_mode)) are kept and
    reported with a warning, because for that service they win over the option set here.
  - The names of the public documentation page (C(partition_mode), C(partition_mode_exclude),
    C(partition_mode_soft_usage_limit), C(partition_mode_usage_reinit), C(serverlist_mode),
    C(serverlist_mode_soft_usage_limit), C(serverlist_mode_usage_reinit)) are never written;
    Cyrus ignores them. Found in the file they are reported, and replaced by the real name
    with O(fix_doc_names=true).
  - Before the new file replaces the old one it is checked twice, and is not installed if
    either check fails. First by this collection's reader, as every service of C(cyrus.conf)
    and as a program without a service would read it. Then by Cyrus itself,
    C(cyr_info -C <candidate> [-n <service>] conf) per service, and C(cyr_info conf-lint).
    A key written by this module that conf-lint lists as unknown is an error.
  - The write is atomic. The candidate is written to a temporary file in the same
    directory, fsynced, given the old file's owner, group and mode, checked, and renamed
    over the old file.
author: imapops developers (@imapops)
options:
  path:
    description: The imapd.conf to edit. A symlink is followed and its target replaced.
    type: path
    default: /etc/imapd.conf
  options:
    description:
      - Options to set, key to value. A null value removes the key.
      - Keys are lower-cased as Cyrus does; letters, digits, C(-) and C(_) only.
      - Values are strings or integers; lists (for C(partition_select_exclude) and
        C(serverlist)) are joined with spaces; booleans only for switch options. A value
        must be one line, not empty and not end in a backslash.
    type: dict
    default: {}
  fix_doc_names:
    description:
      - Replace the documentation page's wrong names found in the file by the real option.
        The value is kept, or replaced by the one given in O(options). If the real option is
        already in the file, the wrong line is removed instead.
      - Without it they are only reported.
    type: bool
    default: false
  create:
    description:
      - Create the file if it does not exist (it must then get C(configdirectory) from
        O(options), as Cyrus refuses a file without it). Without it a missing file is an error.
    type: bool
    default: false
  create_owner:
    description: Owner of a file this module creates. An existing file keeps its owner.
    type: str
    default: root
  create_group:
    description:
      - Group of a file this module creates. An existing file keeps its group.
      - Cyrus's processes run as C(cyrus:mail) and read imapd.conf again after they start.
    type: str
    default: mail
  create_mode:
    description: Mode of a file this module creates, as an octal string. An existing file keeps its mode.
    type: str
    default: "0640"
  backup:
    description: Keep a copy of the old file (C(<path>.<pid>.<date>@<time>~)) when it changes.
    type: bool
    default: false
  cyrus_conf:
    description:
      - C(cyrus.conf) whose SERVICES names are the services the new file is checked for,
        and that C(conf-lint) reads for C(<service>_) prefixes.
      - If it cannot be read, the services of Debian's stock C(cyrus.conf) are used.
    type: path
    default: /etc/cyrus.conf
  services:
    description: Service names to check the file for, instead of those of O(cyrus_conf).
    type: list
    elements: str
  cyr_info:
    description: Path of Cyrus's C(cyr_info). The module fails if it cannot run it.
    type: path
    default: /usr/lib/cyrus/bin/cyr_info
  include_cwd:
    description:
      - Directory from which relative C(@include) paths are opened during the checks.
        Cyrus opens them relative to its working directory; absolute paths avoid the question.
      - Default is the directory of O(path).
    type: path
attributes:
  check_mode:
    support: full
    description: Computes the new text and checks it, also with C(cyr_info), on a copy in a private temporary directory; the file is not touched.
  diff_mode:
    support: full
    description: Shows the exact text before and after.
notes:
  - Cyrus reads imapd.conf when a process starts. Running processes keep the old settings,
    and each keeps the partition measurements of its first selection for its whole life. A
    change therefore applies to new processes only; see RV(note) and the
    C(imapops.cyrus.distribution) role's reload handler.
  - Only the file O(path) is edited. An option set in an C(@include)d file and again here
    makes the candidate fail the checks (Cyrus refuses a key given twice).
  - SELinux contexts and ACLs of the old file are not copied to the new one.
seealso:
  - name: imapops.cyrus.distribution role
    description: Manages partitions and the selection options with this module.
    link: https://example.invalid/imapops/cyrus/roles/distribution/README.md
"""

EXAMPLES = r"""
- name: Choose partitions by free percentage and add a partition
  imapops.cyrus.imapd_conf:
    path: /etc/imapd.conf
    options:
      partition-p4: /srv/cyrus/p4
      partition_select_mode: freespace-percent-most
      partition_select_exclude: [p1]
      defaultpartition: null        # Debian's stock value blocks the selection modes
    backup: true

- name: Replace the documentation's wrong names by the real ones
  imapops.cyrus.imapd_conf:
    path: /etc/imapd.conf
    fix_doc_names: true
"""

RETURN = r"""
path:
  description: The file edited.
  returned: always
  type: str
  sample: /etc/imapd.conf
changes:
  description: One entry per option added, updated, removed or renamed (in check mode, that would be).
  returned: always
  type: list
  elements: dict
  contains:
    option: {description: Key as written in the new file (lower case)., type: str, returned: always, sample: partition_select_mode}
    action: {description: "C(added), C(updated), C(removed) or C(renamed) (a doc-page name replaced)", type: str, returned: always}
    before:
      description: Old value, null if the key was absent.
      type: str
      returned: always
    after:
      description: New value, null if the key was removed.
      type: str
      returned: always
    line:
      description: Line number of the old line (Cyrus's numbering), null when added.
      type: int
      returned: always
    line_after:
      description: Line number in the new file, null when removed.
      type: int
      returned: always
    from_option: {description: The doc-page name a renamed line had., type: str, returned: when renamed}
changed_options:
  description: Names of the options that changed.
  returned: always
  type: list
  elements: str
  sample: [partition_select_mode, partition-p4]
doc_names:
  description: Lines using the documentation page's names, which Cyrus ignores.
  returned: always
  type: list
  elements: dict
  contains:
    key: {description: Key as written., type: str, returned: always, sample: partition_mode}
    real: {description: The option Cyrus reads., type: str, returned: always, sample: partition_select_mode}
    line: {description: Line number., type: int, returned: always}
    value: {description: Its value., type: str, returned: always}
    action: {description: "C(reported), C(renamed) or C(removed).", type: str, returned: always}
overrides:
  description: C(<service>_<option>) lines overriding a managed option for one service (kept as they are).
  returned: always
  type: list
  elements: dict
  contains:
    key: {description: The override key., type: str, returned: always, sample: imap_partition_select_mode}
    option: {description: The option it overrides., type: str, returned: always}
    service: {description: The service it applies to., type: str, returned: always, sample: imap}
    value: {description: Its value., type: str, returned: always}
    line: {description: Line number., type: int, returned: always}
config_warnings:
  description: The warnings of this run about the file (each is also shown as an Ansible warning).
  returned: always
  type: list
  elements: str
unknown_options:
  description: Keys of the new file that Cyrus does not know and ignores (what C(cyr_info conf-lint) lists).
  returned: always
  type: list
  elements: str
services:
  description: The services the file was checked for.
  returned: always
  type: list
  elements: str
  sample: [imap, pop3, lmtpunix]
checks:
  description: The Cyrus commands run on the candidate.
  returned: when changed
  type: list
  elements: str
backup_file:
  description: The copy of the old file.
  returned: when O(backup=true) and the file changed
  type: str
  sample: /etc/imapd.conf.4711.2026-01-31@12:00:00~
note:
  description: What a change means for running Cyrus processes.
  returned: always
  type: str
"""

import grp
import os
import pwd

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.imapops.cyrus.plugins.module_utils.imapd_conf import ImapdConfError, parse_imapd_conf
from ansible_collections.imapops.cyrus.plugins.module_utils.imapd_conf_edit import (
    RUNNING_SERVERS_NOTE,
    CyrusCheck,
    ImapdConfEditError,
    check_in_scratch,
    check_with_parser,
    install,
    plan_edit,
    read_file,
    services_from,
)


class ImapdConfFile(object):
    """One imapd.conf: its current bytes, the planned edit, the checks and the write."""

    def __init__(self, params):
        self.params = params
        self.path = params["path"]
        self.before = read_file(self.path)
        self.exists = self.before is not None
        self.services = services_from(params["cyrus_conf"], params["services"])
        self.include_cwd = params["include_cwd"] or os.path.dirname(os.path.abspath(self.path))
        self.cyrus = CyrusCheck(params["cyr_info"], params["cyrus_conf"], self.services)
        self.plan = None
        self.unknown_options = []

    def make_plan(self):
        if not self.exists and not self.params["create"]:
            raise ImapdConfEditError("the file does not exist (set create=true to create it)", path=self.path)
        self.plan = plan_edit(self.before or b"", self.params["options"], self.params["fix_doc_names"],
                              path=self.path)
        for include in self.plan.document.relative_includes():
            self.plan.warnings.append(
                "%s %s: @include %s is relative; it was checked from %s, Cyrus opens it from its working "
                "directory" % (self.path, include.where(), include.value, self.include_cwd))
        return self.plan

    def validate(self, candidate):
        """Both checks on the file ``candidate``; raises ImapdConfEditError."""
        with open(candidate, "rb") as handle:
            data = handle.read()
        check_with_parser(data, self.path, self.services, self.include_cwd, self.plan.written_keys)
        self.unknown_options = self.cyrus.check(candidate, cwd=self.include_cwd, path=self.path,
                                                written_keys=self.plan.written_keys)

    def check_copy(self):
        check_in_scratch(self.plan.after_bytes, self.validate)

    def write(self):
        owner, group = self.params["create_owner"], self.params["create_group"]
        try:
            uid = pwd.getpwnam(owner).pw_uid if owner else -1
            gid = grp.getgrnam(group).gr_gid if group else -1
        except KeyError as exc:
            raise ImapdConfEditError("unknown owner or group for the new file: %s" % exc, path=self.path)
        try:
            mode = int(self.params["create_mode"], 8)
        except ValueError:
            raise ImapdConfEditError("create_mode must be an octal string such as 0640, got %r"
                                     % self.params["create_mode"], path=self.path)
        return install(self.path, self.plan.after_bytes, self.before, self.validate,
                       backup=self.params["backup"], create_uid=uid if not self.exists else -1,
                       create_gid=gid if not self.exists else -1, create_mode=mode)

    def current_file_problem(self):
        """Why Cyrus would refuse the file as it is (None if it would not): for a run
        that changes nothing."""
        if not self.exists:
            return None
        for service in [None] + self.services:
            try:
                parse_imapd_conf(self.before, service=service, path=self.path, require_configdirectory=True,
                                 cyrus_services=self.services, include_cwd=self.include_cwd)
            except ImapdConfError as exc:
                return "Cyrus would refuse the file as it is%s: %s" % (
                    " (service %s)" % service if service else "", exc)
        return None

    def diff(self):
        return dict(before_header=self.path, after_header=self.path,
                    before=self.plan.before.encode("utf-8", "surrogateescape").decode("utf-8", "replace"),
                    after=self.plan.after.encode("utf-8", "surrogateescape").decode("utf-8", "replace"))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", default="/etc/imapd.conf"),
            options=dict(type="dict", default={}),
            fix_doc_names=dict(type="bool", default=False),
            create=dict(type="bool", default=False),
            create_owner=dict(type="str", default="root"),
            create_group=dict(type="str", default="mail"),
            create_mode=dict(type="str", default="0640"),
            backup=dict(type="bool", default=False),
            cyrus_conf=dict(type="path", default="/etc/cyrus.conf"),
            services=dict(type="list", elements="str"),
            cyr_info=dict(type="path", default="/usr/lib/cyrus/bin/cyr_info"),
            include_cwd=dict(type="path"),
        ),
        supports_check_mode=True,
    )
    try:
        conf = ImapdConfFile(module.params)
    except (IOError, OSError) as exc:
        module.fail_json(msg="cannot read %s: %s" % (module.params["path"], exc))
    result = dict(changed=False, path=conf.path, changes=[], changed_options=[], doc_names=[], overrides=[],
                  config_warnings=[], unknown_options=[], services=conf.services, note=RUNNING_SERVERS_NOTE)
    try:
        plan = conf.make_plan()
        result.update(changes=plan.changes, changed_options=plan.changed_options, doc_names=plan.doc_names,
                      overrides=plan.overrides, config_warnings=plan.warnings)
        if not plan.changed:
            problem = conf.current_file_problem()
            if problem:
                plan.warnings.append(problem)
        elif module.check_mode:
            conf.check_copy()
        else:
            result["backup_file"] = conf.write()
        if plan.changed:
            result["checks"] = list(conf.cyrus.commands)
        result.update(changed=plan.changed, unknown_options=conf.unknown_options)
        if module._diff:
            result["diff"] = conf.diff()
    except ImapdConfEditError as exc:
        result.pop("backup_file", None)
        module.fail_json(msg=str(exc), line=exc.lines[0] if exc.lines else None, lines=exc.lines,
                         option=exc.option, cyrus_message=exc.cyrus_message, **result)
    except (IOError, OSError) as exc:
        result.pop("backup_file", None)
        module.fail_json(msg="%s: the new file could not be written, the old one is unchanged: %s"
                         % (conf.path, exc), **result)
    for warning in result["config_warnings"]:
        module.warn(warning)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
