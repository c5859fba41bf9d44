# -*- coding: utf-8 -*-
# Copyright: imapops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Measuring partitions: real statvfs, a hang injected into the child, and layout flags."""

import os
import time

from ansible_collections.imapops.cyrus.plugins.module_utils import partition_probe as probe


def test_probe_matches_os_statvfs(tmp_path):
    result = probe.probe_paths([str(tmp_path)])[str(tmp_path)]
    st = os.statvfs(str(tmp_path))
    assert result["statvfs"]["f_blocks"] == st.f_blocks
    assert result["statvfs"]["f_fsid"] == st.f_fsid
    assert result["realpath"] == os.path.realpath(str(tmp_path))


def test_missing_path_is_reported_not_created(tmp_path):
    missing = str(tmp_path / "nope")
    facts = probe.measure_partitions({"p1": missing})
    assert facts[0]["exists"] is False and facts[0]["measurable"] is False
    assert "ENOENT" in facts[0]["error"]
    assert not os.path.exists(missing)
    flags = probe.flag_partitions(facts)["p1"]
    assert [f["flag"] for f in flags] == ["missing"]
    assert "Cyrus would create it" in flags[0]["message"]


def test_a_hung_statvfs_is_bounded_by_the_timeout(tmp_path, monkeypatch):
    """Fault injection: statvfs of one path never returns (as on a dead hard NFS mount)."""
    hung = str(tmp_path / "hung")
    os.mkdir(hung)
    real_statvfs = os.statvfs

    def statvfs(path):
        if path == hung:
            time.sleep(60)
        return real_statvfs(path)

    monkeypatch.setattr(os, "statvfs", statvfs)
    started = time.monotonic()
    facts = probe.measure_partitions({"ok": str(tmp_path), "p3": hung}, timeout=0.5)
    elapsed = time.monotonic() - started
    assert elapsed < 3
    by_name = dict((f["name"], f) for f in facts)
    assert by_name["ok"]["measurable"] is True
    assert by_name["p3"]["measurable"] is False and by_name["p3"]["timed_out"] is True
    assert "did not return within 0.5 s" in by_name["p3"]["error"]
    assert [f["flag"] for f in probe.flag_partitions(facts)["p3"]] == ["unmeasurable"]


def test_a_file_is_not_a_partition(tmp_path):
    path = tmp_path / "file"
    path.write_text("x")
    fact = probe.measure_partitions({"p": str(path)})[0]
    assert fact["measurable"] is False and fact["error"] == "not a directory"


MOUNTS = [
    {"mount": "/", "root": "/", "fstype": "ext4", "device": "/dev/sda1"},
    {"mount": "/srv/cyrus/p1", "root": "/", "fstype": "ext4", "device": "/dev/sdb1"},
    {"mount": "/srv/pool/a", "root": "/", "fstype": "zfs", "device": "tank/a"},
    {"mount": "/srv/pool/b", "root": "/", "fstype": "zfs", "device": "tank/b"},
]


def fact(name, realpath, fsid, exists=True):
    entry = probe.mount_of(realpath, MOUNTS)
    return {"name": name, "path": realpath, "realpath": realpath, "fsid": fsid, "exists": exists,
            "mount_point": entry["mount"], "fstype": entry["fstype"], "device": entry["device"],
            "error": None, "timed_out": False}


def flag_names(flags):
    return dict((name, sorted(f["flag"] for f in items)) for name, items in flags.items())


def test_flags_root_filesystem_not_mount_point_and_nesting():
    facts = [fact("p1", "/srv/cyrus/p1", 1), fact("p2", "/srv/cyrus/p2", 2),
             fact("inner", "/srv/cyrus/p1/sub", 1)]
    flags = probe.flag_partitions(facts)
    assert flag_names(flags) == {"p1": ["nested-path"], "p2": ["root-filesystem"],
                                 "inner": ["nested-path", "not-mount-point"]}
    assert "partition p2 (/srv/cyrus/p2) resolves to the root filesystem (/dev/sda1)" in flags["p2"][0]["message"]
    assert "partition inner (/srv/cyrus/p1/sub) lies inside partition p1" in flags["p1"][0]["message"]


def test_flags_same_path_same_filesystem_and_shared_pool():
    facts = [fact("a", "/srv/pool/a", 10), fact("b", "/srv/pool/b", 11),
             fact("c", "/srv/cyrus/p1", 1), fact("d", "/srv/cyrus/p1", 1)]
    flags = flag_names(probe.flag_partitions(facts))
    assert flags == {"a": ["shared-pool"], "b": ["shared-pool"], "c": ["same-path"], "d": ["same-path"]}


def test_mount_of_prefers_longest_and_respects_path_boundaries():
    assert probe.mount_of("/srv/cyrus/p10", MOUNTS)["mount"] == "/"
    assert probe.mount_of("/srv/cyrus/p1/x", MOUNTS)["mount"] == "/srv/cyrus/p1"


def test_read_mounts_unescapes_spaces(tmp_path):
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text("36 35 98:0 / /mnt/with\\040space rw,noatime shared:1 - ext4 /dev/x rw\n")
    assert probe.read_mounts(str(mountinfo)) == [
        {"mount": "/mnt/with space", "root": "/", "fstype": "ext4", "device": "/dev/x"}]


def test_paths_after_a_hung_one_are_still_measured(tmp_path, monkeypatch):
    """Fault injection: the hang is in the middle; the paths after it get children of their own."""
    paths = [str(tmp_path / name) for name in ("a", "hung", "c", "d")]
    for path in paths:
        os.mkdir(path)
    real_statvfs = os.statvfs

    def statvfs(path):
        if path == paths[1]:
            time.sleep(60)
        return real_statvfs(path)

    monkeypatch.setattr(os, "statvfs", statvfs)
    started = time.monotonic()
    results = probe.probe_paths(paths, timeout=0.5)
    assert time.monotonic() - started < 2.5  # at most twice the timeout
    assert [bool(results[p].get("timed_out")) for p in paths] == [False, True, False, False]
    assert all("statvfs" in results[p] for p in (paths[0], paths[2], paths[3]))
