# -*- coding: utf-8 -*-
# Copyright: imapops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The statvfs shim tells the truth.

1. On real mounts (tmpfs, ext4 with and without a root reserve) Cyrus's cyr_df,
   Python's os.statvfs and every statvfs/statfs flavour agree, with and without the shim
   loaded: paths the shim has no rule for pass through untouched, and a rule holding a
   mount's real figures changes nothing.
2. With rules, cyr_df and every flavour report exactly the configured figures, from
   1 MiB to 100 TiB, for every fragment size, and an errno rule makes the call fail.
3. The shim only matters to Cyrus through the one function it imports (nm -D).
"""
import errno
import os
import subprocess


import diffharness as h
import diffshim as shim
from diffshim import Figures

FUNCTIONS = ("statvfs", "statvfs64", "statfs", "statfs64", "fstatvfs", "fstatvfs64", "fstatfs", "fstatfs64")


def real_figures(path):
    st = os.statvfs(path)
    return Figures(st.f_blocks, st.f_bavail, st.f_bfree, st.f_frsize, st.f_fsid)


def test_cyrus_imports_only_statvfs_from_the_family(cyrus_ready):
    """The shim overrides what Cyrus calls: nm -D of imapd and its libcyrus libraries."""
    imported = set()
    binaries = ["/usr/lib/cyrus/bin/imapd", "/usr/lib/cyrus/bin/cyr_df"]
    ldd = subprocess.run(["ldd", binaries[0]], capture_output=True, text=True, check=True).stdout
    binaries += [line.split("=>")[1].split()[0] for line in ldd.splitlines()
                 if "libcyrus" in line and "=>" in line]
    for binary in binaries:
        output = subprocess.run(["nm", "-D", "--undefined-only", binary], capture_output=True, text=True,
                                check=True).stdout
        for line in output.splitlines():
            symbol = line.split()[-1].split("@")[0]
            if "statfs" in symbol or "statvfs" in symbol:
                imported.add(symbol)
    assert imported and imported <= set(FUNCTIONS), imported
    assert "statvfs" in imported


def test_without_rules_everything_agrees_on_real_mounts(real_filesystems, workdir):
    paths = dict(real_filesystems)
    conf = h.write_minimal_conf(os.path.join(workdir, "imapd.conf"), paths)
    rules = shim.ShimConfig(os.path.join(workdir, "rules.conf"))
    rules.set("/nonexistent/imapops", Figures(1, 1, 1, 4096, 1))   # a rule for some other path
    rules.write()
    shimmed = shim.shim_environment(rules.path)
    plain_df = h.cyr_df(conf)
    shimmed_df = h.cyr_df(conf, env=shimmed)
    plain_probe = shim.run_probe(paths.values())
    shimmed_probe = shim.run_probe(paths.values(), env=shimmed)
    assert set(plain_df) == set(paths)
    for name, path in paths.items():
        figures = real_figures(path)
        available, total, used = shim.kib(figures)
        assert plain_df[name] == (total, used, available, path), name
        assert shimmed_df[name] == plain_df[name], name
        for function in FUNCTIONS:
            assert plain_probe[(function, path)] == ("ok", figures, figures.frsize), (function, path)
            assert shimmed_probe[(function, path)] == plain_probe[(function, path)], (function, path)
    # a rule holding the real figures reproduces cyr_df's output exactly
    rules.clear()
    for path in paths.values():
        rules.set(path, real_figures(path))
    rules.write()
    assert h.cyr_df(conf, env=shimmed) == plain_df
    # the ext4 images with a 5 % reserve really keep blocks from f_bavail (ext4 holds a
    # small reserve of its own even with -m 0)
    for name in ("e4k", "e1k"):
        reserved = real_figures(paths[name]).bfree - real_figures(paths[name]).bavail
        assert reserved >= 0.04 * real_figures(paths[name]).blocks, name
    assert real_figures(paths["e0"]).bfree - real_figures(paths["e0"]).bavail < \
        0.04 * real_figures(paths["e0"]).blocks


TIB_KIB = 1024 ** 3
CONFIGURED = [
    # name, figures: blocks bavail bfree frsize fsid
    ("mib1", Figures(2048, 1024, 1024, 512, 1)),                          # 1 MiB, 512-byte fragments
    ("mib1odd", Figures(2049, 1023, 1500, 512, 2)),                       # half-KiB truncation
    ("gib1", Figures(262144, 100000, 120000, 4096, 0xFFFFFFFF)),
    ("tib1", Figures(TIB_KIB // 64, 12345678, 13000000, 65536, 2 ** 32)),  # fsid above 32 bits
    ("tib100", Figures(100 * TIB_KIB // 4, 26843545599, 26843545600, 4096, 2 ** 64 - 1)),
    ("mibfr", Figures(7, 3, 5, 1048576, 77)),                             # 1 MiB fragments
]


def test_rules_make_cyr_df_and_every_call_report_the_configured_figures(workdir):
    paths = {}
    for name, _ in CONFIGURED + [("stale", None), ("denied", None)]:
        paths[name] = os.path.join(workdir, name)
        os.mkdir(paths[name])
    rules = shim.ShimConfig(os.path.join(workdir, "rules.conf"))
    for name, figures in CONFIGURED:
        rules.set(paths[name], figures)
    rules.fail(paths["stale"], "ESTALE")
    rules.fail(paths["denied"], errno.EACCES)
    rules.write()
    env = shim.shim_environment(rules.path)
    conf = h.write_minimal_conf(os.path.join(workdir, "imapd.conf"), paths)
    rows = h.cyr_df(conf, env=env)
    probe = shim.run_probe(paths.values(), env=env)
    assert set(rows) == set(name for name, _ in CONFIGURED)   # cyr_df skips failing partitions
    for name, figures in CONFIGURED:
        available, total, used = shim.kib(figures)
        assert rows[name] == (total, used, available, paths[name]), name
        for function in FUNCTIONS:
            assert probe[(function, paths[name])] == ("ok", figures, figures.frsize), (function, name)
        # the engine's arithmetic on the same figures
        usage = h.measure_rule(figures)
        assert (usage.available_kib, usage.total_kib, usage.fsid) == (available, total, figures.fsid)
    assert rows["tib100"].total_kib == 100 * TIB_KIB
    assert rows["mib1"].total_kib == 1024
    for function in FUNCTIONS:
        assert probe[(function, paths["stale"])] == ("err", errno.ESTALE, None)
        assert probe[(function, paths["denied"])] == ("err", errno.EACCES, None)


def test_rules_cover_a_prefix_and_the_longest_rule_wins(workdir):
    outer = os.path.join(workdir, "outer")
    inner = os.path.join(outer, "inner")
    sibling = os.path.join(workdir, "outer-sibling")
    for path in (outer, inner, os.path.join(outer, "other"), sibling):
        os.makedirs(path)
    rules = shim.ShimConfig(os.path.join(workdir, "rules.conf"))
    rules.set(outer + "/", Figures(100, 10, 10, 4096, 5))   # a trailing slash covers the path itself
    rules.set(inner, Figures(200, 20, 20, 4096, 6))
    rules.write()
    log = os.path.join(workdir, "calls.log")
    probe = shim.run_probe([outer, inner, os.path.join(outer, "other"), sibling],
                           env=shim.shim_environment(rules.path, log))
    assert probe[("statvfs", outer)][1].blocks == 100
    assert probe[("statvfs", os.path.join(outer, "other"))][1].blocks == 100
    assert probe[("statvfs", inner)][1].blocks == 200
    # "outer-sibling" is not below "outer": the real call answered (its figures are those
    # of /dev/shm, which other processes may change at any moment, so the log says it)
    with open(log) as handle:
        outcomes = set((line.split()[2], line.split()[3]) for line in handle)
    assert (sibling, "real") in outcomes and (sibling, "fake") not in outcomes
    assert (outer, "fake") in outcomes and (outer, "real") not in outcomes
