#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: imapops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
---
module: freespace_info
short_description: Read the free space Cyrus IMAP servers report to a Murder frontend
version_added: 0.2.0
description:
  - Logs in to each server as an admin and sends one
    C(GETMETADATA "" (/shared/vendor/cmu/cyrus-imapd/freespace ...)) on the server itself, the
    request a Cyrus IMAP 3.6.1 Murder frontend sends to each backend of its C(serverlist)
    before it places a new mailbox (docs/semantics.md section 6).
  - Each value C("<available>;<total>") (KiB) is returned raw and parsed.
    C(freespace/total) is the sum over the partitions the backend's own selection would
    consider (one per filesystem); C(freespace/percent/most) is its single partition with the
    highest free percentage; C(freespace) is the summed available KiB alone.
  - A frontend in mode C(freespace-most) reads C(freespace/total), in every other mode
    C(freespace/percent/most). RV(backends) holds that value per server in the form
    P(imapops.cyrus.select_backend#filter) takes, so the frontend's choice can be computed on
    the controller without logging in to the backends over SSH.
  - A server that answers C(0;0) (its own C(partition_select_mode) is C(random), or none of
    its partitions would be chosen) or cannot be reached is reported as not measurable with
    the reason. A 3.6.1 frontend then gives up on its mode and places new mailboxes
    uniformly at random, with one exception shown on the real server. In the two
    C(*-most) modes an unreachable backend that is not first in C(serverlist) is silently
    left out (docs/cluster.md). The C(on_unmeasurable) option of
    P(imapops.cyrus.select_backend#filter) decides what the collection does.
  - Servers that cannot be reached are reported in RV(unreachable_servers), not a failure, unless
    O(fail_on_unreachable) is set.
author: imapops developers (@imapops)
extends_documentation_fragment:
  - imapops.cyrus.imap
options:
  servers:
    description:
      - Servers to ask, in order. Each item is C(host), C(host:port) (the form of a Cyrus
        C(serverlist) entry; Cyrus splits at the first colon, and so does this module), or a
        dict with C(name), C(host) and C(port).
      - The name (default the item as written, or C(host:port)) keys the results; use the names
        of the frontend's C(serverlist) so that RV(backends) can go straight to
        P(imapops.cyrus.select_backend#filter).
      - Empty means the one server O(login_host):O(login_port).
    type: list
    elements: raw
    default: []
  frontend_mode:
    description:
      - The frontend's C(serverlist_select_mode). Decides which entry fills RV(backends) and,
        with O(entries=frontend), the only entry read.
    type: str
    default: freespace-most
    choices: [random, freespace-most, freespace-percent-most, freespace-percent-weighted, freespace-percent-weighted-delta]
  entries:
    description:
      - C(all) reads C(freespace), C(freespace/total) and C(freespace/percent/most) in one command.
      - C(frontend) reads only the entry a frontend in O(frontend_mode) reads, exactly its request.
      - Cyrus counts every entry read as one operation for the server's
        C(partition_select_usage_reinit); C(frontend) disturbs that counter as little as a frontend does.
    type: str
    default: all
    choices: [all, frontend]
  fail_on_unreachable:
    description: Fail when a server cannot be reached or refuses the login, after asking all of them.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Read-only; runs the same in check mode.
  diff_mode:
    support: none
    description: Nothing changes, so there is nothing to show.
notes:
  - O(login_user) must be an admin of every server (listed in its C(admins)), as the
    frontend's C(proxy_authname) is.
  - Servers are asked one after the other; a server that accepts the connection but does not
    answer costs O(connect_timeout) seconds.
seealso:
  - plugin: imapops.cyrus.select_backend
    plugin_type: filter
  - module: imapops.cyrus.partition_facts
"""

EXAMPLES = r"""
- name: Read what the frontend reads from each backend
  imapops.cyrus.freespace_info:
    login_user: cyrusadmin
    login_password: "{{ cyrus_admin_password }}"
    tls: starttls
    servers: "{{ frontend_facts.cyrus_distribution.serverlist }}"   # e.g. [be1.example.org, be2.example.org]
    frontend_mode: "{{ frontend_facts.cyrus_distribution.serverlist_select_mode }}"
  register: freespace

- name: The backend the frontend would choose for a new mailbox
  ansible.builtin.debug:
    msg: "{{ freespace.backends | imapops.cyrus.select_backend(mode='freespace-most', on_unmeasurable='fail') }}"

- name: Only the entry a freespace-percent-most frontend reads, servers given with ports
  imapops.cyrus.freespace_info:
    login_password: "{{ cyrus_admin_password }}"
    servers:
      - 127.0.0.21:14301
      - {name: backend2, host: 127.0.0.22, port: 14302}
    frontend_mode: freespace-percent-most
    entries: frontend
"""

RETURN = r"""
servers:
  description: One report per server, in O(servers) order.
  returned: always
  type: list
  elements: dict
  contains:
    name: {description: The server's name (the key of RV(backends))., type: str, returned: always, sample: "127.0.0.21:14301"}
    host: {description: Host connected to., type: str, returned: always, sample: 127.0.0.21}
    port: {description: "Port connected to (null means the default of O(tls)).", type: int, returned: always, sample: 14301}
    reachable: {description: Whether the connection and the admin login succeeded., type: bool, returned: always}
    error:
      description: Why the server could not be asked, else null.
      type: str
      returned: always
      sample: "cannot connect to IMAP server 127.0.0.22:14302: Connection refused"
    measurable:
      description: Whether a frontend could use this server's value (reachable, total above 0, available not above total).
      type: bool
      returned: always
    unmeasurable_reason:
      description: Why it is not measurable, else null.
      type: str
      returned: always
      sample: "answers 0;0: its partition_select_mode is random, or none of its partitions would be chosen (all excluded or full)"
    entries:
      description: The raw value of every entry read (null for NIL or when not reached).
      type: dict
      returned: always
      sample:
        /shared/vendor/cmu/cyrus-imapd/freespace: "73728"
        /shared/vendor/cmu/cyrus-imapd/freespace/total: "73728;98304"
        /shared/vendor/cmu/cyrus-imapd/freespace/percent/most: "57344;65536"
    freespace_kib:
      description: "The C(freespace) entry: available KiB summed over the counted partitions (null when not read)."
      type: int
      returned: always
      sample: 73728
    total:
      description: The C(freespace/total) entry parsed (null when not read).
      type: dict
      returned: always
      contains:
        available_kib: {description: Available KiB summed over the partitions the server would consider., type: int, returned: success}
        total_kib: {description: Their size in KiB., type: int, returned: success}
        free_percent: {description: available x 100 / total (null when total is 0)., type: float, returned: success}
      sample: {available_kib: 73728, total_kib: 98304, free_percent: 75.0}
    percent_most:
      description: The C(freespace/percent/most) entry parsed (null when not read).
      type: dict
      returned: always
      contains:
        available_kib: {description: Available KiB of the partition with the highest free percentage., type: int, returned: success}
        total_kib: {description: Its size in KiB., type: int, returned: success}
        free_percent: {description: available x 100 / total (null when total is 0)., type: float, returned: success}
      sample: {available_kib: 57344, total_kib: 65536, free_percent: 87.5}
    frontend_entry:
      description: The entry a frontend in O(frontend_mode) reads.
      type: str
      returned: always
      sample: /shared/vendor/cmu/cyrus-imapd/freespace/total
    frontend_value: {description: "Its raw value C(avail;total), null when not reached.", type: str, returned: always, sample: "73728;98304"}
backends:
  description:
    - Server name -> C([available KiB, total KiB]) of the entry a frontend in O(frontend_mode)
      reads, or null for a server that could not be reached. The input of
      P(imapops.cyrus.select_backend#filter).
  returned: always
  type: dict
  sample: {"127.0.0.21:14301": [73728, 98304], "127.0.0.22:14302": null, "127.0.0.23:14303": [0, 0]}
unreachable_servers:
  description: The servers that could not be asked, with the reason.
  returned: always
  type: list
  elements: dict
  contains:
    name: {description: Server name., type: str, returned: always}
    error: {description: Reason., type: str, returned: always}
  sample: [{name: "127.0.0.22:14302", error: "cannot connect to IMAP server 127.0.0.22:14302: Connection refused"}]
unmeasurable:
  description: Names of the servers a frontend could not measure (unreachable or answering C(0;0)).
  returned: always
  type: list
  elements: str
  sample: ["127.0.0.22:14302", "127.0.0.23:14303"]
frontend_mode:
  description: The O(frontend_mode) the values in RV(backends) are for.
  returned: always
  type: str
  sample: freespace-most
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.imapops.cyrus.plugins.module_utils import freespace
from ansible_collections.imapops.cyrus.plugins.module_utils.distribution import SELECT_MODES, SelectionError
from ansible_collections.imapops.cyrus.plugins.module_utils.imap import imap_common_argument_spec, imap_connection


class FreespaceReader(object):
    """Asks each server once, with the module's login options."""

    def __init__(self, params):
        self.params = params

    def connect(self, host, port):
        params = dict(self.params, login_host=host, login_port=port)
        return imap_connection(params).connect()

    def servers(self):
        items = self.params["servers"] or [{"host": self.params["login_host"], "port": self.params["login_port"]}]
        servers = [freespace.parse_server(item, self.params["login_port"]) for item in items]
        names = [server["name"] for server in servers]
        repeated = sorted(set(name for name in names if names.count(name) > 1))
        if repeated:
            raise SelectionError("servers are listed twice: %s" % ", ".join(repeated))
        return servers

    def read(self):
        mode = self.params["frontend_mode"]
        reports = [freespace.read_freespace(self.connect, server, self.params["entries"], mode)
                   for server in self.servers()]
        return dict(
            servers=reports,
            backends=freespace.backends_input(reports, mode),
            unreachable_servers=[dict(name=r["name"], error=r["error"]) for r in reports if not r["reachable"]],
            unmeasurable=[r["name"] for r in reports if not r["measurable"]],
            frontend_mode=mode,
        )


def main():
    argument_spec = imap_common_argument_spec()
    argument_spec.update(
        servers=dict(type="list", elements="raw", default=[]),
        frontend_mode=dict(type="str", default="freespace-most", choices=list(SELECT_MODES)),
        entries=dict(type="str", default="all", choices=list(freespace.ENTRY_SETS)),
        fail_on_unreachable=dict(type="bool", default=False),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    try:
        result = FreespaceReader(module.params).read()
    except SelectionError as exc:
        module.fail_json(msg=str(exc))
    if module.params["fail_on_unreachable"] and result["unreachable_servers"]:
        module.fail_json(msg="cannot ask %s" % "; ".join("%(name)s: %(error)s" % u for u in result["unreachable_servers"]),
                         changed=False, **result)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
