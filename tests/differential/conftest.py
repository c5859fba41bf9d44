# -*- coding: utf-8 -*-
# Copyright: imapops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures of the differential suite: one real Cyrus 3.6.1 that loads the statvfs shim.

Size of the generated series: ``--differential-size=N`` (registered in tests/conftest.py
so that ``pytest tests`` accepts it too) or ``IMAPOPS_DIFF_CASES=N``; seed: ``--differential-seed`` or
``IMAPOPS_DIFF_SEED``. See docs/differential.md.

The tests need root (Cyrus runs as ``cyrus``, real mounts for the truth checks) and a C
compiler for the shim; they skip without them. Everything started here is stopped at the
end of the session: the lab's master (by its pid file), mounts, loop devices.
"""
import os
import shutil
import sys
import tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
LAB_DIR = os.path.join(os.path.dirname(os.path.dirname(HERE)), "lab")
for _path in (LAB_DIR, HERE):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import cyrus_lab as cyrus_lab_module  # noqa: E402  after the path insert
import diffharness  # noqa: E402
import diffshim as shim  # noqa: E402

def pytest_terminal_summary(terminalreporter):
    if diffharness.REPORT:
        terminalreporter.section("differential: real Cyrus 3.6.1 vs the engine")
        for line in diffharness.REPORT:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def cyrus_ready():
    """Root, Cyrus installed, the shim compiled; else the test is skipped."""
    if os.geteuid() != 0:
        pytest.skip("the differential suite runs Cyrus as its own user and mounts filesystems: run as root")
    if not (shutil.which("gcc") or shutil.which("cc")):
        pytest.skip("no C compiler to build the statvfs shim")
    version = cyrus_lab_module.ensure_cyrus_installed()
    return version, shim.shim_library()


@pytest.fixture(scope="session")
def shim_lab(cyrus_ready):
    """One Cyrus for the whole session; every process it starts loads the statvfs shim."""
    _, library = cyrus_ready
    root = tempfile.mkdtemp(prefix="imapops-diff-", dir="/dev/shm")
    conf_path = os.path.join(root, "statvfs-shim.conf")
    log_path = os.path.join(root, "statvfs-shim.log")
    for path in (conf_path, log_path):
        with open(path, "w") as handle:
            handle.write("")
    environment = shim.shim_environment(conf_path, log_path, library)
    del environment["LD_PRELOAD"]  # the lab puts extra_preload after its syslog library
    lab = cyrus_lab_module.CyrusLab(
        root=root, partitions=[("base", 0)], processes_per_connection_reuse=1,
        extra_preload=[library], environment=environment)
    try:
        lab.start()
        owner = lab._cyrus_ids()
        for path in (conf_path, log_path):
            os.chown(path, *owner)
            os.chmod(path, 0o644 if path == conf_path else 0o666)
        yield diffharness.ShimLab(lab, conf_path, log_path)
    finally:
        lab.stop(remove_root=True)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def real_filesystems(cyrus_ready):
    """Real mounts of different kinds and sizes, name -> path; unmounted at the end.

    tmpfs of 1, 3, 64 and 250 MiB, ext4 loop images with a 5 % root reserve (4 KiB and
    1 KiB blocks) and one without, some partly filled, and a plain directory inside one
    tmpfs (measured on that tmpfs).
    """
    import pwd
    import grp
    import diffmounts as mounts
    owner = (pwd.getpwnam("cyrus").pw_uid, grp.getgrnam("mail").gr_gid)
    real = mounts.Mounts(owner=owner)
    try:
        paths = {}
        for name, size_kib, fill_kib in (("t1m", 1024, 0), ("t3m", 3072, 1024), ("t64m", 65536, 10240),
                                          ("t250m", 256000, 102400)):
            paths[name] = real.tmpfs(name, size_kib)
            if fill_kib:
                real.fill(paths[name], fill_kib)
        for name, size_mib, reserve, block, fill_kib in (("e4k", 64, 5, 4096, 5120), ("e1k", 32, 5, 1024, 3072),
                                                         ("e0", 32, 0, 4096, 1024)):
            paths[name] = real.ext4(name, size_mib, reserve, block)
            real.fill(paths[name], fill_kib)
        paths["inner"] = os.path.join(paths["t64m"], "inner")
        os.mkdir(paths["inner"])
        os.chown(paths["inner"], *owner)
        yield paths
    finally:
        problems = real.cleanup()
        assert not problems, problems


@pytest.fixture
def workdir():
    """A fresh directory the cyrus user can traverse (cyr_df drops to that user; pytest's
    tmp_path lies below a 0700 directory)."""
    path = tempfile.mkdtemp(prefix="imapops-diff-work-", dir="/dev/shm")
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)
