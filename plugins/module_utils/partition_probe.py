# -*- coding: utf-8 -*-
# Copyright: imapops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Measure Cyrus partition paths on the managed node without ever hanging.

No Ansible imports. ``statvfs`` on a dead NFS server blocks in the kernel and
cannot be interrupted, so every path is measured in a forked child; the parent
waits until a deadline and then reports the path as unmeasurable, leaving the
stuck child behind (it is killed and reaped by init once the kernel lets go).

``flag_partitions`` turns measurements into warnings about layouts where Cyrus
silently measures the wrong filesystem (spec §3, field cases FC-15, FC-21).
"""

import errno
import json
import os
import select
import signal
import time

from ansible_collections.imapops.cyrus.plugins.module_utils.distribution import kib_from_statvfs

DEFAULT_TIMEOUT = 5.0

# Filesystems whose free space is a pool shared by several mounts: partitions on
# two such mounts of one pool are not independent even with different fsids.
POOLED_FILESYSTEMS = ("zfs", "btrfs")


def _probe_one(path):
    """Everything that can block on a dead mount; runs in a child."""
    result = {"path": path}
    try:
        result["realpath"] = os.path.realpath(path)
        st = os.statvfs(path)
        result["statvfs"] = {
            "f_bsize": st.f_bsize, "f_frsize": st.f_frsize, "f_blocks": st.f_blocks,
            "f_bfree": st.f_bfree, "f_bavail": st.f_bavail, "f_fsid": getattr(st, "f_fsid", 0),
        }
        result["is_dir"] = os.path.isdir(path)
    except OSError as exc:
        result["errno"] = exc.errno
        result["error"] = "%s: %s" % (errno.errorcode.get(exc.errno, "E?"), exc.strerror)
    except Exception as exc:  # noqa: BLE001 - reported, never raised in the child
        result["error"] = repr(exc)
    return result


def _start_child(paths):
    """Fork a child that probes ``paths`` in order, one JSON line per path; (fd, pid)."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        try:
            os.close(read_fd)
            for path in paths:
                os.write(write_fd, json.dumps(_probe_one(path)).encode("utf-8") + b"\n")
        finally:
            os._exit(0)
    os.close(write_fd)
    return read_fd, pid


def _collect(children, deadline, results):
    """Read result lines from children (fd -> [paths, pid, buffer]) until done or the deadline."""
    while children:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        readable, _writable, _errored = select.select(list(children), [], [], remaining)
        for fd in readable:
            paths, pid, buffer = children[fd]
            chunk = os.read(fd, 65536)
            buffer.extend(chunk)
            while b"\n" in buffer:
                line, _sep, rest = bytes(buffer).partition(b"\n")
                buffer[:] = rest
                result = json.loads(line.decode("utf-8"))
                results[result["path"]] = result
            if not chunk:
                os.close(fd)
                del children[fd]
                os.waitpid(pid, 0)


def _stop(children):
    """Kill children that are still probing; reaped later by init if stuck in the kernel."""
    for fd, (_paths, pid, _buffer) in children.items():
        os.close(fd)
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    _reap_finished_children([pid for _paths, pid, _buffer in children.values()])


def _abandon(children, timeout, results):
    """Report the paths of unfinished children as timed out, and stop those children."""
    for paths, _pid, _buffer in children.values():
        for path in paths:
            results.setdefault(path, {"path": path, "timed_out": True,
                                      "error": "statvfs did not return within %.1f s (hung mount?)" % timeout})
    _stop(children)


def probe_paths(paths, timeout=DEFAULT_TIMEOUT):
    """statvfs every path in a child process, within about ``timeout`` seconds (at most twice that).

    One child probes every path in order (one fork, not one per path). If it has not
    finished by the deadline, the path it is stuck on is reported as timed out and each
    path after it gets a child of its own with a fresh deadline. Returns a dict
    path -> probe result (``statvfs`` fields or ``error``, ``timed_out``).
    """
    paths = list(dict.fromkeys(paths))
    results = {}
    if not paths:
        return results
    fd, pid = _start_child(paths)
    children = {fd: [paths, pid, bytearray()]}
    _collect(children, time.monotonic() + timeout, results)
    if not children:
        return results
    unreported = [path for path in paths if path not in results]
    _stop(children)
    if not unreported:  # everything arrived; only the end of the pipe had not been read
        return results
    stuck, rest = unreported[0], unreported[1:]
    results[stuck] = {"path": stuck, "timed_out": True,
                      "error": "statvfs did not return within %.1f s (hung mount?)" % timeout}
    children = {}
    for path in rest:
        fd, pid = _start_child([path])
        children[fd] = [[path], pid, bytearray()]
    _collect(children, time.monotonic() + timeout, results)
    _abandon(children, timeout, results)
    return results


def _reap_finished_children(pids):
    for pid in pids:
        try:
            os.waitpid(pid, os.WNOHANG)
        except OSError:
            pass


def _unescape_mount_field(field):
    # /proc/self/mountinfo escapes space, tab, newline and backslash as octal
    return (field.replace("\\040", " ").replace("\\011", "\t")
            .replace("\\012", "\n").replace("\\134", "\\"))


def read_mounts(mountinfo="/proc/self/mountinfo"):
    """Mount table as a list of dicts (mount point, fstype, source, root), kernel order."""
    mounts = []
    try:
        with open(mountinfo) as handle:
            for line in handle:
                fields = line.split()
                if "-" not in fields:
                    continue
                sep = fields.index("-")
                mounts.append({
                    "mount": _unescape_mount_field(fields[4]),
                    "root": _unescape_mount_field(fields[3]),
                    "fstype": fields[sep + 1],
                    "device": _unescape_mount_field(fields[sep + 2]) if len(fields) > sep + 2 else "",
                })
    except (IOError, OSError):
        return []
    return mounts


def mount_of(realpath, mounts):
    """The mount a resolved path lives on: the last-mounted longest mount-point prefix."""
    best = None
    for entry in mounts:
        point = entry["mount"]
        if realpath == point or realpath.startswith(point.rstrip("/") + "/") or point == "/":
            if best is None or len(point) >= len(best["mount"]):
                best = entry
    return best


def measure_partitions(partitions, timeout=DEFAULT_TIMEOUT, mounts=None):
    """Facts for ``partitions`` (ordered name -> path): one dict per partition.

    Keys: name, path, realpath, available_kib, total_kib, free_percent, fsid,
    mount_point, fstype, device, measurable, error, exists (None when unknown), timed_out.
    """
    probes = probe_paths(list(partitions.values()), timeout=timeout)
    mounts = read_mounts() if mounts is None else mounts
    facts = []
    for name, path in partitions.items():
        probe = probes[path]
        fact = {
            "name": name, "path": path, "realpath": probe.get("realpath"),
            "available_kib": None, "total_kib": None, "free_percent": None, "fsid": None,
            "mount_point": None, "fstype": None, "device": None,
            "measurable": False,
            "exists": None if probe.get("timed_out") else probe.get("errno") != errno.ENOENT,
            "timed_out": bool(probe.get("timed_out")), "error": probe.get("error"),
        }
        if "statvfs" in probe:
            raw = probe["statvfs"]
            usage = kib_from_statvfs(_StatvfsView(raw))
            fact.update(available_kib=usage.available_kib, total_kib=usage.total_kib,
                        fsid=usage.fsid, free_percent=usage.free_percent)
            if usage.total_kib <= 0:
                fact["error"] = "filesystem reports a total size of 0"
            elif usage.available_kib > usage.total_kib:
                fact["error"] = "filesystem reports more free than total space"
            else:
                fact["measurable"] = True
            if not probe.get("is_dir", True):
                fact["measurable"] = False
                fact["error"] = "not a directory"
        if fact["realpath"] and not fact["timed_out"]:
            entry = mount_of(fact["realpath"], mounts)
            if entry:
                fact.update(mount_point=entry["mount"], fstype=entry["fstype"], device=entry["device"])
        facts.append(fact)
    return facts


class _StatvfsView(object):
    def __init__(self, raw):
        self.__dict__.update(raw)


def flag_partitions(facts):
    """Warnings about partitions Cyrus would measure wrongly or not independently.

    Returns a dict name -> list of flag dicts {flag, message}. Flags:
    missing, not-mount-point, root-filesystem, same-path, nested-path,
    same-filesystem, shared-pool, unmeasurable.
    """
    flags = dict((fact["name"], []) for fact in facts)

    def add(name, flag, message):
        flags[name].append({"flag": flag, "message": message})

    for fact in facts:
        name, path = fact["name"], fact["path"]
        if fact.get("timed_out") or (fact.get("error") and fact.get("exists") is not False):
            add(name, "unmeasurable", "partition %s (%s) cannot be measured: %s" % (name, path, fact["error"]))
        if fact.get("exists") is False:
            add(name, "missing", "partition %s path %s does not exist; Cyrus would create it on the "
                                 "parent filesystem and use that filesystem's space" % (name, path))
            continue
        point = fact.get("mount_point")
        if point is None:
            continue
        if point == "/":
            add(name, "root-filesystem", "partition %s (%s) resolves to the root filesystem (%s): "
                                         "is its volume mounted?" % (name, path, fact.get("device")))
        elif fact.get("realpath") != point:
            add(name, "not-mount-point", "partition %s (%s) is not a mount point: it is measured on %s (%s)"
                % (name, path, point, fact.get("device")))

    for i, first in enumerate(facts):
        for second in facts[i + 1:]:
            a, b = first.get("realpath"), second.get("realpath")
            if not a or not b:
                continue
            if a == b:
                message = "partitions %s and %s share the path %s" % (first["name"], second["name"], a)
                add(first["name"], "same-path", message)
                add(second["name"], "same-path", message)
            elif b.startswith(a.rstrip("/") + "/") or a.startswith(b.rstrip("/") + "/"):
                outer, inner = (first, second) if b.startswith(a.rstrip("/") + "/") else (second, first)
                message = "partition %s (%s) lies inside partition %s (%s)" % (
                    inner["name"], inner["realpath"], outer["name"], outer["realpath"])
                add(first["name"], "nested-path", message)
                add(second["name"], "nested-path", message)
            elif first.get("fsid") is not None and first.get("fsid") == second.get("fsid"):
                message = ("partitions %s and %s are on one filesystem (fsid %s): the *-most modes "
                           "count only one of them" % (first["name"], second["name"], first["fsid"]))
                add(first["name"], "same-filesystem", message)
                add(second["name"], "same-filesystem", message)
            elif (first.get("fstype") in POOLED_FILESYSTEMS and first.get("fstype") == second.get("fstype")
                  and _pool_of(first) == _pool_of(second)):
                message = ("partitions %s and %s are %s filesystems of one pool (%s): their free space "
                           "is shared" % (first["name"], second["name"], first["fstype"], _pool_of(first)))
                add(first["name"], "shared-pool", message)
                add(second["name"], "shared-pool", message)
    return flags


def _pool_of(fact):
    device = fact.get("device") or ""
    if fact.get("fstype") == "zfs":
        return device.split("/", 1)[0]
    return device
