# -*- coding: utf-8 -*-
# Copyright: imapops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters for Murder clusters; documented in the sidecar YAML files."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible.utils.display import Display

from ansible_collections.imapops.cyrus.plugins.module_utils import cluster
from ansible_collections.imapops.cyrus.plugins.plugin_utils.engine_errors import engine_call

display = Display()


def cluster_plan(users, backends, settings=None, backend_facts=None, existing=None, placement="collection",
                 create_via="frontend", quota=None, serverlist=None, mode=None, soft_usage_limit=None,
                 usage_reinit=None, on_unmeasurable="fail", seed=None, partition_on_unmeasurable="fail",
                 unmounted="exclude", aliases=None, unreachable=None):
    batches, warnings = engine_call(
        "cluster_plan", cluster.cluster_plan, users, backends, settings=settings, backend_facts=backend_facts,
        existing=existing, placement=placement, create_via=create_via, default_quota=quota,
        serverlist=serverlist, mode=mode, soft_usage_limit=soft_usage_limit, usage_reinit=usage_reinit,
        on_unmeasurable=on_unmeasurable, seed=seed or None, partition_on_unmeasurable=partition_on_unmeasurable,
        unmounted=unmounted, aliases=aliases, unreachable=unreachable)
    for warning in warnings:
        display.warning("cluster_plan: %s" % warning)
    return batches


def cluster_users_by_server(users, existing=None, batches=None):
    return engine_call("cluster_users_by_server", cluster.servers_of_users, users, existing=existing,
                       batches=batches)


def cluster_user_items(users):
    return engine_call("cluster_user_items", cluster.user_items, users)


def cluster_placement(users, existing=None, created=None, read_back=None, hosts=None, folders=None,
                      failure_status="failed", check_mode=False):
    return engine_call("cluster_placement", cluster.cluster_placement, users, existing=existing,
                       created=created, read_back=read_back, hosts=hosts, folders=folders,
                       failure_status=failure_status, check_mode=check_mode)


def cluster_placement_table(rows):
    return engine_call("cluster_placement_table", cluster.placement_rows_table, rows)


def cluster_report(records, frontend=None):
    return engine_call("cluster_report", cluster.cluster_report, records, frontend=frontend)


def cluster_report_table(report):
    return engine_call("cluster_report_table", cluster.cluster_report_table, report)


class FilterModule(object):
    def filters(self):
        return {
            "cluster_plan": cluster_plan,
            "cluster_users_by_server": cluster_users_by_server,
            "cluster_user_items": cluster_user_items,
            "cluster_placement": cluster_placement,
            "cluster_placement_table": cluster_placement_table,
            "cluster_report": cluster_report,
            "cluster_report_table": cluster_report_table,
        }
