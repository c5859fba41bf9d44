# -*- coding: utf-8 -*-
# Copyright: imapops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The partition_facts module's main() on imapd.conf files in a temporary directory."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

from ansible_collections.imapops.cyrus.plugins.modules import partition_facts


def test_facts_for_partitions_in_file_order(run_module, tmp_path):
    for name in ("p2", "p1"):
        (tmp_path / name).mkdir()
    conf = tmp_path / "imapd.conf"
    conf.write_text("configdirectory: %s\npartition-p2: %s\npartition-p1: %s\n"
                    "partition_select_mode: freespace-percent-most\n"
                    % (tmp_path, tmp_path / "p2", tmp_path / "p1"))
    code, result = run_module(partition_facts, {"imapd_conf": str(conf)})
    assert code == 0 and result["changed"] is False
    facts = result["ansible_facts"]
    assert [p["name"] for p in facts["cyrus_partitions"]] == ["p2", "p1"]
    stat = os.statvfs(str(tmp_path / "p1"))
    p1 = facts["cyrus_partitions"][1]
    assert p1["measurable"] is True
    assert p1["total_kib"] == int(stat.f_blocks * stat.f_frsize / 1024.0)
    assert facts["cyrus_distribution"]["partition_select_mode"] == "freespace-percent-most"


def test_bad_option_value_names_the_line(run_module, tmp_path):
    conf = tmp_path / "imapd.conf"
    conf.write_text("configdirectory: /tmp\npartition-p1: /tmp\npartition_select_mode: freespace_most\n")
    code, result = run_module(partition_facts, {"imapd_conf": str(conf)})
    assert code == 1
    assert result["imapd_conf"] == str(conf) and result["line"] == 3
    assert "freespace_most" in result["msg"]


def test_timeout_must_be_positive(run_module, tmp_path):
    code, result = run_module(partition_facts, {"imapd_conf": str(tmp_path / "x"), "timeout": 0})
    assert code == 1 and "timeout must be a positive number" in result["msg"]
