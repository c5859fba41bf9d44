# -*- coding: utf-8 -*-
# Copyright: imapops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that choose partitions and backends; documented in the sidecar YAML files."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.imapops.cyrus.plugins.module_utils import facts as placement
from ansible_collections.imapops.cyrus.plugins.plugin_utils.engine_errors import engine_call


def select_partition(facts, settings=None, count=None, mode=None, exclude=None, soft_usage_limit=None,
                     usage_reinit=None, on_unmeasurable="fail", seed=None, unmounted="exclude",
                     use_defaultpartition=True, expected_mailbox_kib=None):
    names, _warnings = engine_call(
        "select_partition", placement.choose_partitions, facts, settings=settings, count=count,
        use_defaultpartition=use_defaultpartition, expected_mailbox_kib=expected_mailbox_kib, mode=mode, exclude=exclude,
        soft_usage_limit=soft_usage_limit, usage_reinit=usage_reinit, on_unmeasurable=on_unmeasurable,
        seed=seed, unmounted=unmounted)
    return names if count is not None else names[0]


def select_backend(backends, settings=None, count=None, serverlist=None, mode=None, soft_usage_limit=None,
                   usage_reinit=None, on_unmeasurable="fail", seed=None):
    selection = engine_call(
        "select_backend", placement.backend_selection, backends, serverlist=serverlist, mode=mode,
        soft_usage_limit=soft_usage_limit, usage_reinit=usage_reinit, on_unmeasurable=on_unmeasurable,
        seed=seed, settings=settings)
    chosen = []
    for _selection in range(1 if count is None else int(count)):
        name = engine_call("select_backend", selection.select)
        if name is None:
            raise AnsibleFilterError("select_backend: no backend can be chosen (%s)" % ", ".join(
                "%s: %s" % (row["name"], row["error"] or row["state"]) for row in selection.report()))
        chosen.append(name)
    return chosen if count is not None else chosen[0]


def placement_chances(facts, settings=None, mode=None, exclude=None, soft_usage_limit=None,
                      on_unmeasurable="fail", unmounted="exclude", use_defaultpartition=True,
                      serverlist=None):
    if isinstance(facts, list) or (isinstance(facts, dict) and "cyrus_partitions" in facts):
        return engine_call("placement_chances", placement.partition_chances, facts, settings=settings,
                           use_defaultpartition=use_defaultpartition, mode=mode, exclude=exclude,
                           soft_usage_limit=soft_usage_limit, on_unmeasurable=on_unmeasurable,
                           unmounted=unmounted)
    selection = engine_call("placement_chances", placement.backend_selection, facts, serverlist=serverlist,
                            mode=mode, soft_usage_limit=soft_usage_limit, on_unmeasurable=on_unmeasurable,
                            settings=settings)
    return dict(engine_call("placement_chances", selection.chances))


class FilterModule(object):
    def filters(self):
        return {
            "select_partition": select_partition,
            "select_backend": select_backend,
            "placement_chances": placement_chances,
        }
