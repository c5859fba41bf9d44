# -*- coding: utf-8 -*-
# Copyright: imapops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Build and drive the statvfs shim of ``tests/shim/statvfs_shim.c``.

``shim_library()`` compiles the LD_PRELOAD library (and ``probe_program()`` a small
program that calls every statvfs/statfs flavour) with gcc into a world-readable cache
directory, keyed by a hash of the source, so Cyrus running as ``cyrus`` can load it.
Nothing compiled is ever written into the checkout.

``ShimConfig`` writes the rule file the library reads at every call: figures
(``blocks bavail bfree frsize fsid``) or an errno per path prefix.
"""

import collections
import errno as errno_module
import hashlib
import os
import shutil
import subprocess
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SHIM_DIR = os.path.join(os.path.dirname(HERE), "shim")
SHIM_SOURCE = os.path.join(SHIM_DIR, "statvfs_shim.c")
PROBE_SOURCE = os.path.join(SHIM_DIR, "shim_probe.c")
CACHE_DIR = "/dev/shm/imapops-lab-cache"
CONF_ENV = "IMAPOPS_STATVFS_SHIM"
LOG_ENV = "IMAPOPS_STATVFS_SHIM_LOG"

# Figures as statvfs reports them; fsid is statvfs's f_fsid (an unsigned long).
Figures = collections.namedtuple("Figures", "blocks bavail bfree frsize fsid")


class ShimBuildError(RuntimeError):
    """gcc is missing or the shim does not compile."""


def _build(source, shared):
    with open(source, "rb") as handle:
        code = handle.read()
    digest = hashlib.sha256(code + (b"shared" if shared else b"program")).hexdigest()[:12]
    stem = os.path.splitext(os.path.basename(source))[0]
    target = os.path.join(CACHE_DIR, "%s-%s%s" % (stem, digest, ".so" if shared else ""))
    if os.path.exists(target):
        return target
    compiler = shutil.which("gcc") or shutil.which("cc")
    if not compiler:
        raise ShimBuildError("no C compiler (gcc) to build %s" % source)
    os.makedirs(CACHE_DIR, mode=0o755, exist_ok=True)
    os.chmod(CACHE_DIR, 0o755)
    build_dir = tempfile.mkdtemp(dir=CACHE_DIR)
    try:
        built = os.path.join(build_dir, os.path.basename(target))
        command = [compiler, "-O2", "-Wall", "-Wextra", "-o", built, source]
        if shared:
            command[1:1] = ["-shared", "-fPIC"]
            command.append("-ldl")
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise ShimBuildError("%s failed:\n%s" % (" ".join(command), result.stderr))
        os.chmod(built, 0o755)
        os.replace(built, target)  # atomic: parallel test runs may build at the same time
    finally:
        shutil.rmtree(build_dir, ignore_errors=True)
    return target


def shim_library():
    """Path of the compiled LD_PRELOAD library."""
    return _build(SHIM_SOURCE, shared=True)


def probe_program():
    """Path of the compiled probe program (prints every statvfs/statfs flavour per path)."""
    return _build(PROBE_SOURCE, shared=False)


def kib(figures):
    """(available KiB, total KiB, used KiB) exactly as Cyrus's partlist.c and cyr_df compute."""
    scale = figures.frsize / 1024.0
    return (int(figures.bavail * scale), int(figures.blocks * scale),
            int((figures.blocks - figures.bfree) * scale))


class ShimConfig(object):
    """The rule file: ``path -> Figures`` or ``path -> errno number``; ``write()`` publishes.

    Written aside and renamed, so a process reading it at any moment sees a whole file.
    """

    def __init__(self, path, owner=None):
        self.path = path
        self.owner = owner  # (uid, gid) that must be able to read it, or None
        self.rules = collections.OrderedDict()

    def set(self, path, figures):
        if not isinstance(figures, Figures):
            figures = Figures(*figures)
        self.rules[path] = figures

    def fail(self, path, error):
        if isinstance(error, str):
            error = getattr(errno_module, error)
        self.rules[path] = int(error)

    def clear(self):
        self.rules.clear()

    def text(self):
        lines = ["# imapops statvfs shim rules: path blocks bavail bfree frsize fsid | path errno N"]
        for path, rule in self.rules.items():
            if any(c.isspace() for c in path):
                raise ValueError("shim paths cannot contain blanks: %r" % path)
            if isinstance(rule, int):
                lines.append("%s errno %d" % (path, rule))
            else:
                lines.append("%s %d %d %d %d %d" % ((path,) + tuple(rule)))
        return "\n".join(lines) + "\n"

    def write(self):
        partial = self.path + ".new"
        with open(partial, "w") as handle:
            handle.write(self.text())
        os.chmod(partial, 0o644)
        if self.owner:
            os.chown(partial, *self.owner)
        os.replace(partial, self.path)


def shim_environment(conf_path, log_path=None, library=None):
    """Environment variables that load the shim with ``conf_path`` (and a call log)."""
    env = {"LD_PRELOAD": library or shim_library(), CONF_ENV: conf_path}
    if log_path:
        env[LOG_ENV] = log_path
    return env


def run_probe(paths, env=None):
    """{(function, path): ("ok", Figures) or ("err", errno)} from the probe program."""
    full_env = dict(os.environ)
    full_env.pop("LD_PRELOAD", None)
    full_env.update(env or {})
    output = subprocess.run([probe_program()] + list(paths), env=full_env, capture_output=True,
                            text=True, check=True).stdout
    results = {}
    for line in output.splitlines():
        fields = line.split()
        if fields[2] == "ok":
            blocks, bavail, bfree, frsize, bsize, fsid = (int(v) for v in fields[3:9])
            results[(fields[0], fields[1])] = ("ok", Figures(blocks, bavail, bfree, frsize, fsid), bsize)
        else:
            results[(fields[0], fields[1])] = ("err", int(fields[3]), None)
    return results
