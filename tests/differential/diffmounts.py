# -*- coding: utf-8 -*-
# Copyright: imapops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Real filesystems for the truth checks: tmpfs mounts and loop-mounted ext4 images.

Everything lives below one fresh ``/dev/shm/imapops-diff-mounts-*`` directory.
``cleanup()`` unmounts what was mounted here (lazily as a last resort), detaches any
loop device still attached to one of our images, and removes the directory; it is safe
to call twice. Only our own mount points and our own images are ever touched.
"""
import os
import shutil
import subprocess
import tempfile
import time

MOUNT_SOURCE = "imapops-diff"


def mount_points():
    points = set()
    with open("/proc/self/mountinfo") as handle:
        for line in handle:
            point = line.split()[4]
            points.add(point.replace("\\040", " ").replace("\\011", "\t").replace("\\134", "\\"))
    return points


class Mounts(object):
    def __init__(self, owner=None):
        self.base = tempfile.mkdtemp(prefix="imapops-diff-mounts-", dir="/dev/shm")
        os.chmod(self.base, 0o755)
        self.owner = owner          # (uid, gid) for the mount roots, or None
        self.mounted = []
        self.images = []

    def _point(self, name):
        path = os.path.join(self.base, name)
        os.makedirs(path)
        return path

    def _own(self, path):
        if self.owner:
            os.chown(path, *self.owner)
        os.chmod(path, 0o755)

    def tmpfs(self, name, size_kib):
        """A tmpfs of ``size_kib`` KiB (a multiple of the page size) at base/name."""
        path = self._point(name)
        run(["mount", "-t", "tmpfs", "-o", "size=%dk,mode=0755" % size_kib, MOUNT_SOURCE, path])
        self.mounted.append(path)
        self._own(path)
        return path

    def ext4(self, name, size_mib, reserve_percent=5, block_size=4096):
        """A loop-mounted ext4 image with ``reserve_percent`` % of blocks kept for root."""
        image = os.path.join(self.base, name + ".img")
        with open(image, "wb") as handle:
            handle.truncate(size_mib * 1024 * 1024)
        self.images.append(image)
        run(["mkfs.ext4", "-q", "-F", "-m", str(reserve_percent), "-b", str(block_size),
             "-E", "lazy_itable_init=0,lazy_journal_init=0", image])
        path = self._point(name)
        run(["mount", "-o", "loop", image, path])
        self.mounted.append(path)
        self._own(path)
        return path

    def fill(self, path, kib):
        """Write a filler file of ``kib`` KiB into ``path`` and flush it."""
        filler = os.path.join(path, "filler-%d" % len(os.listdir(path)))
        with open(filler, "wb") as handle:
            remaining = kib
            while remaining > 0:
                chunk = min(remaining, 1024)
                handle.write(b"\1" * (chunk * 1024))
                remaining -= chunk
            handle.flush()
            os.fsync(handle.fileno())
        os.sync()
        return filler

    def loops_of_our_images(self):
        """Loop devices still attached to one of our images."""
        devices = []
        for image in self.images:
            result = subprocess.run(["losetup", "-j", image], capture_output=True, text=True, check=False)
            devices += [line.split(":", 1)[0] for line in result.stdout.splitlines() if line.strip()]
        return devices

    def cleanup(self):
        problems = []
        for path in reversed(self.mounted):
            for attempt in range(20):
                if path not in mount_points():
                    break
                lazy = ["-l"] if attempt == 19 else []
                subprocess.run(["umount"] + lazy + [path], capture_output=True, check=False)
                if path in mount_points():
                    time.sleep(0.05)
            if path in mount_points():
                problems.append("still mounted: %s" % path)
        self.mounted = []
        for device in self.loops_of_our_images():
            subprocess.run(["losetup", "-d", device], capture_output=True, check=False)
        leftover = self.loops_of_our_images()
        if leftover:
            problems.append("loop devices still attached: %s" % leftover)
        if not any(point.startswith(self.base + os.sep) for point in mount_points()):
            shutil.rmtree(self.base, ignore_errors=True)
        return problems


def run(command):
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (" ".join(command), result.returncode,
                                                   (result.stderr or result.stdout).strip()))
    return result.stdout
