# -*- coding: utf-8 -*-
# Copyright: imapops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters for onboarding users; documented in the sidecar YAML files."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.imapops.cyrus.plugins.module_utils import onboarding
from ansible_collections.imapops.cyrus.plugins.plugin_utils.engine_errors import engine_call


def users_from_csv(text, source="CSV"):
    return engine_call("users_from_csv", onboarding.users_from_csv, text, source=source)


def placement_plan(users, facts, placement="collection", quota=None, mode=None, exclude=None,
                   soft_usage_limit=None, usage_reinit=None, on_unmeasurable="fail", seed=None,
                   unmounted="exclude", use_defaultpartition=True, expected_mailbox_kib=None, users_csv=None,
                   users_csv_source="CSV"):
    return engine_call(
        "placement_plan", onboarding.placement_plan, users, facts, placement=placement, default_quota=quota,
        expected_mailbox_kib=expected_mailbox_kib, users_csv=users_csv, users_csv_source=users_csv_source,
        mode=mode, exclude=exclude, soft_usage_limit=soft_usage_limit, usage_reinit=usage_reinit,
        on_unmeasurable=on_unmeasurable, seed=seed, unmounted=unmounted,
        use_defaultpartition=use_defaultpartition)


def placement_table(results):
    return engine_call("placement_table", onboarding.placement_table, results)


class FilterModule(object):
    def filters(self):
        return {
            "users_from_csv": users_from_csv,
            "placement_plan": placement_plan,
            "placement_table": placement_table,
        }
