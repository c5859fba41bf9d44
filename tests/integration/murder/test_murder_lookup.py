# -*- coding: utf-8 -*-
# Copyright: imapops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Looking mailboxes up through a real frontend: it answers the server entry on a line of
its own, and the batched lookup must merge the answers per mailbox."""

from ansible_collections.imapops.cyrus.plugins.module_utils.imap_client import CyrusImapConnection


def test_lookup_through_the_frontend_reports_the_backend(murder_lab):
    lab = murder_lab()
    frontend = lab.frontend
    backend = lab.backend("backend2")
    partition = sorted(backend.partition_paths)[0]
    with CyrusImapConnection(frontend.host, frontend.port, frontend.admin_user, frontend.admin_password) as imap:
        names = ["user.fe%02d" % i for i in range(5)]
        imap.change([imap.create_command(n, "%s!%s" % (backend.server_name, partition)) for n in names])
        found = imap.lookup(names + ["user.absent"])
    assert sorted(found) == names
    for name in names:
        assert found[name][1] == backend.server_name, found[name]
    with CyrusImapConnection(backend.host, backend.port, backend.admin_user, backend.admin_password) as imap:
        assert dict((n, v[0]) for n, v in imap.lookup(names).items()) == dict((n, partition) for n in names)
