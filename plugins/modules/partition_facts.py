#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: imapops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
---
module: partition_facts
short_description: Gather the partitions of a Cyrus IMAP backend and their free space
version_added: 0.1.0
description:
  - Reads the backend's C(imapd.conf) the way Cyrus IMAP 3.6.1 reads it and measures every
    C(partition-<name>) path with C(statvfs), using Cyrus's own arithmetic (C(f_bavail) and
    C(f_frsize), truncated to KiB; filesystem id C(f_fsid)).
  - Each path is measured in a separate child process with a deadline, so a hung NFS mount
    gives C(measurable=false) after O(timeout) seconds instead of hanging the play.
  - Warns where a partition path is missing, is not its own mount point, sits on the root
    filesystem, shares or nests in another partition's path, shares a filesystem or a
    storage pool with another partition, and where C(imapd.conf) uses option names that
    Cyrus ignores (such as the documentation's C(partition_mode)).
  - Changes nothing on the host; unlike Cyrus it never creates a missing partition directory.
author: imapops developers (@imapops)
options:
  imapd_conf:
    description: Path of the Cyrus configuration file to read.
    type: path
    default: /etc/imapd.conf
  service:
    description:
      - Service name from C(cyrus.conf) whose view of the configuration is wanted;
        C(<service>_<option>) entries override C(<option>) for that service.
    type: str
    default: imap
  timeout:
    description: Seconds to wait for all partitions to be measured before giving up on the slow ones.
    type: float
    default: 5.0
attributes:
  check_mode:
    support: full
    description: The module never changes anything; it runs the same in check mode.
  diff_mode:
    support: none
    description: Nothing changes, so there is nothing to show.
  facts:
    support: full
    description: Sets C(cyrus_partitions) and C(cyrus_distribution) in C(ansible_facts).
notes:
  - Partitions are listed in C(imapd.conf) order. Cyrus itself walks them in hash-table order,
    which differs between processes; only ties and same-filesystem partitions are affected.
seealso:
  - name: Selection rules as implemented
    description: docs/semantics.md in this collection.
    link: https://example.invalid/imapops/cyrus/docs/semantics.md
"""

EXAMPLES = r"""
- name: Gather partition facts of the backend
  imapops.cyrus.partition_facts:
    imapd_conf: /etc/imapd.conf

- name: Show where the next mailbox would go
  ansible.builtin.debug:
    msg: "{{ ansible_facts.cyrus_partitions | imapops.cyrus.select_partition }}"
"""

RETURN = r"""
ansible_facts:
  description: Facts added to the host.
  returned: always
  type: dict
  contains:
    cyrus_partitions:
      description: One entry per C(partition-<name>) option, in file order.
      returned: always
      type: list
      elements: dict
      contains:
        name:
          description: Partition name (lower case, as Cyrus uses it).
          type: str
          returned: always
        path:
          description: Path from imapd.conf.
          type: str
          returned: always
        available_kib:
          description: Free KiB for unprivileged users (C(f_bavail)); null if unmeasurable.
          type: int
          returned: always
        total_kib:
          description: Size in KiB (C(f_blocks)); null if unmeasurable.
          type: int
          returned: always
        free_percent:
          description: Available times 100 divided by total, unrounded.
          type: float
          returned: always
        fsid:
          description: Filesystem id (C(f_fsid)) Cyrus compares for the same-filesystem rule.
          type: int
          returned: always
        mount_point:
          description: Mount point the path lives on.
          type: str
          returned: always
        fstype:
          description: Filesystem type of that mount.
          type: str
          returned: always
        device:
          description: Source device of that mount.
          type: str
          returned: always
        measurable:
          description: Whether Cyrus could measure the path.
          type: bool
          returned: always
        error:
          description: Why it could not be measured; null when it could.
          type: str
          returned: always
        flags:
          description: Layout warnings for this partition, each a dict with C(flag) and C(message).
          type: list
          elements: dict
          returned: always
      sample:
        - name: p1
          path: /srv/cyrus/p1
          available_kib: 57344
          total_kib: 65536
          free_percent: 87.5
          fsid: 2130706433
          mount_point: /srv/cyrus/p1
          fstype: tmpfs
          device: tmpfs
          measurable: true
          error: null
          flags: []
    cyrus_distribution:
      description: The selection settings in force for the service.
      returned: always
      type: dict
      contains:
        imapd_conf:
          description: File read.
          type: str
          returned: always
        service:
          description: Service whose view this is.
          type: str
          returned: always
        partition_select_mode:
          description: Selection mode.
          type: str
          returned: always
          sample: freespace-most
        partition_select_exclude:
          description: Excluded partition names.
          type: list
          elements: str
          returned: always
        partition_select_soft_usage_limit:
          description: Soft usage limit in percent (0 is off).
          type: int
          returned: always
        partition_select_usage_reinit:
          description: Operations between re-measurements (0 is never).
          type: int
          returned: always
        defaultpartition:
          description: Default partition; when it is set, the selection modes are not used.
          type: str
          returned: always
        serverlist:
          description: Backends of a Murder frontend.
          type: list
          elements: str
          returned: always
        serverlist_select_mode:
          description: Backend selection mode of a frontend.
          type: str
          returned: always
        serverlist_select_soft_usage_limit:
          description: Frontend soft usage limit.
          type: int
          returned: always
        serverlist_select_usage_reinit:
          description: Frontend re-measurement interval.
          type: int
          returned: always
        overrides:
          description: Options overridden by C(<service>_<option>) entries.
          type: dict
          returned: always
        unknown_options:
          description: Options Cyrus silently ignores.
          type: list
          elements: str
          returned: always
        freespace_total:
          description: What this backend answers for C(freespace/total), C([available, total]) in KiB.
          type: list
          elements: int
          returned: always
        freespace_percent_most:
          description: What it answers for C(freespace/percent/most), C([available, total]) in KiB.
          type: list
          elements: int
          returned: always
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.imapops.cyrus.plugins.module_utils.facts import gather_partition_facts
from ansible_collections.imapops.cyrus.plugins.module_utils.imapd_conf import ImapdConfError


def main():
    module = AnsibleModule(
        argument_spec=dict(
            imapd_conf=dict(type="path", default="/etc/imapd.conf"),
            service=dict(type="str", default="imap"),
            timeout=dict(type="float", default=5.0),
        ),
        supports_check_mode=True,
    )
    if module.params["timeout"] <= 0:
        module.fail_json(msg="timeout must be a positive number of seconds, got %s" % module.params["timeout"])
    try:
        partitions, distribution, warnings = gather_partition_facts(
            module.params["imapd_conf"], module.params["service"], module.params["timeout"])
    except ImapdConfError as exc:
        module.fail_json(msg=str(exc), imapd_conf=module.params["imapd_conf"],
                         line=getattr(exc, "lineno", None), option=getattr(exc, "option", None))
    if warnings:
        # one warning per host: hundreds of backends with many partitions each would
        # otherwise flood the controller (and slow it) with one line per finding
        module.warn("%s: %d finding(s):\n- %s" % (module.params["imapd_conf"], len(warnings), "\n- ".join(warnings)))
    module.exit_json(changed=False, ansible_facts=dict(cyrus_partitions=partitions,
                                                       cyrus_distribution=distribution))


if __name__ == "__main__":
    main()
