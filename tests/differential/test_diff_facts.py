# -*- coding: utf-8 -*-
# Copyright: imapops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Facts fidelity: ``gather_partition_facts`` reports Cyrus's own figures (``cyr_df``).

On real mounts (tmpfs; ext4 loop images with a 5 % root reserve, where f_bfree and
f_bavail differ; a directory that is not a mount point), under the shim (1 MiB to
100 TiB, failing statvfs), and on the real server for field case FC-12: the root
reserve changes which partition is "most free", and Cyrus, like the facts, counts
f_bavail, not f_bfree.
"""
import json
import math
import os
import subprocess
import sys

import pytest

from ansible_collections.imapops.cyrus.plugins.module_utils.distribution import SelectionList, Usage
from ansible_collections.imapops.cyrus.plugins.module_utils.facts import (
    choose_partitions, gather_partition_facts)

import diffharness as h
import diffmounts as mounts
import diffshim as shim
from diffshim import Figures


def by_name(partitions):
    return dict((fact["name"], fact) for fact in partitions)


def test_facts_equal_cyr_df_on_real_mounts(real_filesystems, workdir):
    conf = h.write_minimal_conf(os.path.join(workdir, "imapd.conf"), real_filesystems)
    facts = by_name(gather_partition_facts(conf)[0])
    rows = h.cyr_df(conf)
    assert set(facts) == set(rows) == set(real_filesystems)
    for name, row in rows.items():
        fact = facts[name]
        assert fact["measurable"], fact
        assert (fact["total_kib"], fact["available_kib"]) == (row.total_kib, row.available_kib), (name, fact, row)
        assert fact["fsid"] == os.statvfs(real_filesystems[name]).f_fsid
    for name in ("e4k", "e1k"):
        row = rows[name]
        # cyr_df's own columns show the reserve: used (f_blocks - f_bfree) + available < total
        reserve = row.total_kib - row.used_kib - row.available_kib
        assert reserve >= 0.04 * row.total_kib, (name, row)
        # the facts count f_bavail: the reserve is not free space for Cyrus
        assert facts[name]["available_kib"] == row.available_kib < row.total_kib - row.used_kib
    assert facts["e4k"]["fstype"] == "ext4" and facts["t64m"]["fstype"] == "tmpfs"
    assert facts["t64m"]["mount_point"] == real_filesystems["t64m"]
    # a plain directory inside a mount: measured on that mount, and flagged
    assert facts["inner"]["mount_point"] == real_filesystems["t64m"]
    assert "not-mount-point" in [flag["flag"] for flag in facts["inner"]["flags"]]
    h.report("facts vs cyr_df on real mounts: %d partitions identical (tmpfs 1 MiB-250 MiB, ext4 with a "
             "5 %% reserve at 4 KiB and 1 KiB blocks, ext4 -m 0, a non-mount-point directory)" % len(rows))


def facts_in_a_shimmed_process(conf, env):
    """gather_partition_facts run in a child process that loads the shim."""
    code = ("import json, sys\n"
            "from ansible_collections.imapops.cyrus.plugins.module_utils.facts import gather_partition_facts\n"
            "print(json.dumps(gather_partition_facts(sys.argv[1])[0]))\n")
    full_env = dict(os.environ)
    full_env.update(env)
    full_env["PYTHONPATH"] = os.pathsep.join(path for path in sys.path if path)
    result = subprocess.run([sys.executable, "-c", code, conf], env=full_env, capture_output=True,
                            text=True, check=True)
    return by_name(json.loads(result.stdout))


TIB = 1024 ** 3  # KiB
SHIMMED = [
    ("m1", Figures(256, 100, 120, 4096, 1)),                                  # 1 MiB
    ("m1h", Figures(2049, 1023, 1500, 512, 2)),                               # 1 MiB + half a KiB
    ("g37", Figures(37 * 262144, 5 * 262144, 6 * 262144, 4096, 3)),
    ("t3", Figures(3 * TIB // 64, 12345678, 12345679, 65536, 2 ** 33 + 5)),
    ("t100", Figures(100 * TIB // 4, 1, 2, 4096, 2 ** 64 - 2)),               # 100 TiB, 4 KiB free
]


def test_facts_under_the_shim_equal_the_configured_figures_and_cyr_df(workdir):
    paths = dict((name, os.path.join(workdir, name)) for name, _ in SHIMMED)
    paths.update(stale=os.path.join(workdir, "stale"), empty=os.path.join(workdir, "empty"))
    for path in paths.values():
        os.mkdir(path)
    rules = shim.ShimConfig(os.path.join(workdir, "rules.conf"))
    for name, figures in SHIMMED:
        rules.set(paths[name], figures)
    rules.fail(paths["stale"], "ESTALE")
    rules.set(paths["empty"], Figures(0, 0, 0, 4096, 9))
    rules.write()
    env = shim.shim_environment(rules.path)
    conf = h.write_minimal_conf(os.path.join(workdir, "imapd.conf"), paths)
    facts = facts_in_a_shimmed_process(conf, env)
    rows = h.cyr_df(conf, env=env)
    for name, figures in SHIMMED:
        available, total, _ = shim.kib(figures)
        assert (facts[name]["available_kib"], facts[name]["total_kib"]) == (available, total), name
        assert (rows[name].available_kib, rows[name].total_kib) == (available, total), name
        assert facts[name]["fsid"] == figures.fsid and facts[name]["measurable"]
    assert rows["t100"].total_kib == 100 * TIB
    assert "stale" not in rows and not facts["stale"]["measurable"] and "ESTALE" in facts["stale"]["error"]
    assert not facts["empty"]["measurable"]
    assert rows["empty"].total_kib == 0   # cyr_df prints it; Cyrus's selection cannot use it


@pytest.fixture
def fc12_mounts():
    import grp
    import pwd
    real = mounts.Mounts(owner=(pwd.getpwnam("cyrus").pw_uid, grp.getgrnam("mail").gr_gid))
    try:
        yield real
    finally:
        problems = real.cleanup()
        assert not problems, problems


def bfree_view(fact, path):
    """What a tool counting f_bfree (df's 'free including the reserve') would see."""
    st = os.statvfs(path)
    scale = st.f_frsize / 1024.0
    return Usage(int(st.f_bfree * scale), int(st.f_blocks * scale), st.f_fsid)


def test_fc12_reserved_blocks_real_server_counts_bavail(shim_lab, fc12_mounts):
    """px: ext4 with a 5 % root reserve; py: tmpfs sized so that its free space lies
    between px's f_bavail and f_bfree figures. Cyrus, the facts and the engine choose py;
    a tool counting f_bfree would choose px."""
    px = fc12_mounts.ext4("px", 64, reserve_percent=5, block_size=4096)
    st = os.statvfs(px)
    total = int(st.f_blocks * st.f_frsize / 1024.0)
    bavail = int(st.f_bavail * st.f_frsize / 1024.0)
    bfree = int(st.f_bfree * st.f_frsize / 1024.0)
    assert bfree - bavail > 64, "no reserve on the ext4 image"
    # freespace-most: py's free KiB between px's bavail and bfree
    py_most = fc12_mounts.tmpfs("py_most", (bavail + bfree) // 2 // 4 * 4)
    # freespace-percent-most: py's free % between px's two percentages (16 MiB, partly filled)
    py_percent = fc12_mounts.tmpfs("py_percent", 16384)
    middle = (bavail + bfree) / 2.0 / total
    fc12_mounts.fill(py_percent, int(math.ceil(16384 * (1 - middle) / 4.0)) * 4)
    # soft limit: px is at/over the limit counting bavail, far under it counting bfree
    py_small = fc12_mounts.tmpfs("py_small", 8192)
    limit = int(100 - bavail * 100.0 / total)
    variants = [
        ("freespace-most", py_most, None),
        ("freespace-percent-most", py_percent, None),
        ("freespace-most", py_small, limit),
    ]
    for mode, py, soft_limit in variants:
        shim_lab.paths = {}
        shim_lab.rules.clear()
        shim_lab.rules.write()
        conf = {"partition-base": None, "partition-px": px, "partition-py": py, "partition_select_mode": mode}
        if soft_limit is not None:
            conf["partition_select_soft_usage_limit"] = str(soft_limit)
        shim_lab.lab.rewrite_imapd_conf(conf)
        partitions, settings, _ = gather_partition_facts(shim_lab.lab.imapd_conf)
        facts = by_name(partitions)
        rows = h.cyr_df(shim_lab.lab.imapd_conf)
        for name in ("px", "py"):
            assert (facts[name]["available_kib"], facts[name]["total_kib"]) == \
                (rows[name].available_kib, rows[name].total_kib)
        expected = choose_partitions(partitions, settings)[0][0]
        paths = {"px": px, "py": py}
        bfree_tool = SelectionList(["px", "py"], lambda name: bfree_view(facts[name], paths[name]), mode=mode,
                                   soft_usage_limit=soft_limit or 0).select()
        result = shim_lab.create_fresh()
        assert result.partition == expected == "py", (mode, soft_limit, result, facts)
        assert bfree_tool == "px", "the variant does not separate f_bavail from f_bfree"
        h.report("FC-12 %-22s soft limit %-4s px ext4 %d KiB: bavail %d, bfree %d; py %d KiB free -> "
                 "Cyrus %s, facts+engine %s, an f_bfree tool %s"
                 % (mode, soft_limit, total, bavail, bfree, facts["py"]["available_kib"], result.partition,
                    expected, bfree_tool))
