#!/usr/bin/env python3
# -*- coding: utf-8 -*-
# Copyright: imapops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A private Cyrus IMAP 3.6.1 backend on loopback, with real partitions of chosen sizes.

Importable (``CyrusLab``, used by the pytest fixtures in ``tests/integration``) and
runnable as a script::

    python3 lab/cyrus_lab.py start [--state-dir lab/state] [--partitions p1:64:32,p2:32:4]
                                   [--set key=value ...]
    python3 lab/cyrus_lab.py status [--state-dir lab/state]
    python3 lab/cyrus_lab.py stop [--state-dir lab/state]

Everything of one lab lives in one directory (default: a fresh ``/dev/shm/imapops-lab-*``):
``imapd.conf``, ``cyrus.conf``, the config directory, the sasldb, ``master.pid``,
``master.log`` (master's stdout/stderr) and ``syslog.log``. Each partition with a size is a
tmpfs mount (root only). Mailboxes use the netnews hierarchy separator ``.``
(``unixhierarchysep: no``, ``altnamespace: no``): ``user.alice``.

Cyrus reports its errors through syslog(3), and no syslog daemon runs on these machines.
The lab compiles a tiny LD_PRELOAD library (needs ``cc``) that makes every Cyrus process
of this lab append its syslog lines to ``<root>/syslog.log``; the system's ``/dev/log`` is
never touched. Without a C compiler Cyrus's syslog messages are lost (``syslog_file`` is
then None) and only ``master.log`` remains.
"""

import argparse
import grp
import hashlib
import imaplib
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import warnings

CYRUS_BIN = "/usr/lib/cyrus/bin"
MASTER = os.path.join(CYRUS_BIN, "master")
EXPECTED_VERSION = "3.6.1"
CYRUS_PACKAGES = ("cyrus-imapd", "cyrus-common", "cyrus-admin", "cyrus-clients",
                  "cyrus-murder", "sasl2-bin")
POLICY_RC_D = "/usr/sbin/policy-rc.d"
DEFAULT_PARTITIONS = (("p1", 64), ("p2", 32), ("p3", 16))
PARTITION_ANNOTATION = "/shared/vendor/cmu/cyrus-imapd/partition"
MOUNT_SOURCE = "imapops-lab"
LAB_DIR = os.path.dirname(os.path.abspath(__file__))
DEFAULT_STATE_DIR = os.path.join(LAB_DIR, "state")
# CLI default: freespace-most picks p1 (32 MiB free), freespace-percent-most picks p2 (87.5 %).
DEFAULT_CLI_PARTITIONS = "p1:64:32,p2:32:4,p3:16:12"

_PARTITION_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_CONF_KEY = re.compile(r"^@?[A-Za-z0-9_-]+$")

imaplib.Commands.setdefault("GETMETADATA", ("AUTH", "SELECTED"))


class LabError(RuntimeError):
    """The lab could not do what was asked; the message says why."""


# --------------------------------------------------------------------------- install

def cyrus_version():
    """Return the output of ``master -V`` (e.g. ``cyrus-imapd 3.6.1-Debian-...``), or None."""
    if not os.path.exists(MASTER):
        return None
    result = subprocess.run([MASTER, "-V"], capture_output=True, text=True, check=False)
    return (result.stdout or result.stderr).strip() or None


def ensure_cyrus_installed():
    """Install the Cyrus packages with apt-get if ``master`` is missing; return its version.

    Package scripts must not start the system's Cyrus: a ``policy-rc.d`` that exits 101 is
    put in place for the install unless one already exists (then it is left alone).
    Warns when the installed version is not 3.6.1.
    """
    if not os.path.exists(MASTER):
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        own_policy = not os.path.lexists(POLICY_RC_D)
        if own_policy:
            with open(POLICY_RC_D, "w") as policy:
                policy.write("#!/bin/sh\n# imapops lab: no service starts during install\nexit 101\n")
            os.chmod(POLICY_RC_D, 0o755)
        try:
            subprocess.run(["apt-get", "update"], env=env, check=True)
            subprocess.run(["apt-get", "install", "-y", "--no-install-recommends"]
                           + list(CYRUS_PACKAGES), env=env, check=True)
        finally:
            if own_policy:
                os.unlink(POLICY_RC_D)
    version = cyrus_version()
    release = version.split()[-1] if version else ""
    if not re.match(re.escape(EXPECTED_VERSION) + r"(\D|$)", release):
        warnings.warn("expected Cyrus IMAP %s, master -V says: %s" % (EXPECTED_VERSION, version))
    return version


# --------------------------------------------------------------------------- syslog

_SYSLOG_TO_FILE_C = r"""
/* imapops lab: syslog(3) appends to the file named by $IMAPOPS_LAB_SYSLOG. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char lab_ident[64] = "";
static const char *const lab_levels[] = {
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"};

void openlog(const char *ident, int option, int facility)
{
    (void)option;
    (void)facility;
    if (ident)
        strncpy(lab_ident, ident, sizeof lab_ident - 1);
}

void closelog(void) {}

void vsyslog(int priority, const char *format, va_list ap)
{
    int saved_errno = errno;
    const char *path = getenv("IMAPOPS_LAB_SYSLOG");
    char message[4096], stamp[32], line[4400];
    struct tm now_tm;
    time_t now = time(NULL);
    int fd, length;

    if (!path)
        return;
    errno = saved_errno; /* for %m */
    vsnprintf(message, sizeof message, format, ap);
    localtime_r(&now, &now_tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &now_tm);
    length = snprintf(line, sizeof line, "%s %s[%d] %s: %s\n", stamp, lab_ident,
                      (int)getpid(), lab_levels[priority & 7], message);
    if (length > (int)sizeof line - 1) {
        length = sizeof line - 1;
        line[length - 1] = '\n';
    }
    fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd >= 0 && length > 0) {
        ssize_t written = write(fd, line, length);
        (void)written;
    }
    if (fd >= 0)
        close(fd);
    errno = saved_errno;
}

void syslog(int priority, const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    vsyslog(priority, format, ap);
    va_end(ap);
}

/* glibc's _FORTIFY_SOURCE variants, which the Debian build of Cyrus calls. */
void __vsyslog_chk(int priority, int flag, const char *format, va_list ap)
{
    (void)flag;
    vsyslog(priority, format, ap);
}

void __syslog_chk(int priority, int flag, const char *format, ...)
{
    va_list ap;
    (void)flag;
    va_start(ap, format);
    vsyslog(priority, format, ap);
    va_end(ap);
}
"""

SYSLOG_LIBRARY_DIR = "/dev/shm/imapops-lab-cache"


def syslog_to_file_library():
    """Path of the compiled syslog-to-file preload library, or None without a C compiler.

    Built once per source version into a world-readable cache directory (the cyrus user
    must be able to load it) and shared by all labs.
    """
    digest = hashlib.sha256(_SYSLOG_TO_FILE_C.encode()).hexdigest()[:12]
    library = os.path.join(SYSLOG_LIBRARY_DIR, "syslog-to-file-%s.so" % digest)
    if os.path.exists(library):
        return library
    compiler = shutil.which("cc") or shutil.which("gcc")
    if not compiler:
        return None
    os.makedirs(SYSLOG_LIBRARY_DIR, mode=0o755, exist_ok=True)
    os.chmod(SYSLOG_LIBRARY_DIR, 0o755)
    build_dir = tempfile.mkdtemp(dir=SYSLOG_LIBRARY_DIR)
    try:
        source = os.path.join(build_dir, "syslog-to-file.c")
        with open(source, "w") as handle:
            handle.write(_SYSLOG_TO_FILE_C)
        built = os.path.join(build_dir, "syslog-to-file.so")
        result = subprocess.run([compiler, "-shared", "-fPIC", "-O2", "-o", built, source],
                                capture_output=True, text=True, check=False)
        if result.returncode != 0:
            warnings.warn("cannot build the syslog library, Cyrus's syslog is lost: %s"
                          % result.stderr.strip())
            return None
        os.chmod(built, 0o755)
        os.replace(built, library)  # atomic: concurrent labs may build at the same time
    finally:
        shutil.rmtree(build_dir, ignore_errors=True)
    return library


# --------------------------------------------------------------------------- helpers

def free_port(address="127.0.0.1"):
    """A TCP port that was free on ``address`` a moment ago (bind to port 0)."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((address, 0))
        return probe.getsockname()[1]


def mount_points():
    """The set of mount points of this process's mount namespace."""
    points = set()
    with open("/proc/self/mountinfo") as mountinfo:
        for line in mountinfo:
            point = line.split()[4]
            points.add(re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), point))
    return points


def _process_cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as handle:
            return handle.read().decode(errors="replace").split("\0")
    except OSError:
        return None


def _process_alive(pid):
    """True while ``pid`` exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _pids_using(path):
    """Pids of live processes whose command line names ``path`` (our imapd.conf)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            cmdline = _process_cmdline(int(entry))
            if cmdline and path in cmdline and _process_alive(int(entry)):
                pids.append(int(entry))
    return pids


def _tail(path, lines=20):
    try:
        with open(path, errors="replace") as handle:
            return "".join(handle.readlines()[-lines:])
    except OSError:
        return ""


def getmetadata(conn, mailbox, entries):
    """GETMETADATA on ``conn`` (a logged-in imaplib.IMAP4): return {entry: value or None}."""
    entries = [entries] if isinstance(entries, str) else list(entries)
    typ, data = conn._simple_command("GETMETADATA", '"%s"' % mailbox, "(%s)" % " ".join(entries))
    if typ != "OK":
        raise LabError("GETMETADATA %s failed: %s" % (mailbox, data))
    typ, responses = conn._untagged_response(typ, data, "METADATA")
    values = dict.fromkeys(entry.lower() for entry in entries)
    for response in responses:
        if response is None:
            continue
        if isinstance(response, tuple):  # (b'... "/entry" {5}', b'value'): inline the literal
            header, literal = response[0].decode(errors="replace"), response[1].decode(errors="replace")
            text = re.sub(r"\{\d+\+?\}$", lambda _: json.dumps(literal), header)
        else:
            text = response.decode(errors="replace") if isinstance(response, bytes) else str(response)
        for entry, value, nil in re.findall(r'"?(/[^"\s]+)"? (?:"((?:[^"\\]|\\.)*)"|(NIL))', text):
            values[entry.lower()] = None if nil else value
    return values


# --------------------------------------------------------------------------- the lab

def _checked_conf(conf):
    """``conf`` as a dict, after checking that every key and value can go into imapd.conf."""
    conf = dict(conf or {})
    for key, value in conf.items():
        if not _CONF_KEY.match(str(key)):
            raise ValueError("imapd.conf key %r is not valid" % (key,))
        text = None if value is None else str(value)
        if text is not None and (not text.strip() or "\n" in text or "\r" in text
                                 or text.rstrip().endswith("\\")):
            raise ValueError("imapd.conf value for %s is empty or spans lines: %r" % (key, value))
    return conf


class CyrusLab(object):
    """One private Cyrus IMAP backend: own config, partitions, sasldb and master process.

    With ``root=None`` the lab makes a fresh ``/dev/shm/imapops-lab-*`` at ``start()``
    (the paths are known from then on) and removes it at ``stop()``. ``extra_preload``
    (library paths) and ``environment`` (variables) go to master and all its children,
    e.g. the statvfs shim of ``tests/shim`` (docs/differential.md).
    """

    def __init__(self, root=None, partitions=DEFAULT_PARTITIONS, conf=None, address="127.0.0.1",
                 port=None, processes_per_connection_reuse=1, admin_user="cyrusadmin",
                 admin_password=None, servername=None, capture_syslog=True, extra_preload=(),
                 environment=None):
        self._owns_root = root is None
        self.root = os.path.abspath(root) if root else None
        self.partitions = []
        for name, size_mib in partitions:
            if not _PARTITION_NAME.match(str(name)):
                raise ValueError("partition name %r: lower-case letters, digits, '_' or '-'" % (name,))
            if size_mib is not None and (not isinstance(size_mib, int) or size_mib < 0):
                raise ValueError("partition %s: size %r is not a MiB count" % (name, size_mib))
            self.partitions.append((name, size_mib or 0))
        if len({name for name, _ in self.partitions}) != len(self.partitions):
            raise ValueError("partition names repeat: %r" % (self.partitions,))
        self.conf = _checked_conf(conf)
        self.address = address
        self._port = port
        self.processes_per_connection_reuse = int(processes_per_connection_reuse)
        self._admin_user = admin_user
        self._admin_password = admin_password or secrets.token_urlsafe(24)
        self.servername = servername or "imapops-lab"
        self.capture_syslog = capture_syslog
        # more LD_PRELOAD libraries and environment variables for master and its children
        # (e.g. the statvfs shim of tests/shim); the syslog library stays first
        self.extra_preload = [str(path) for path in (extra_preload or ())]
        self.environment = dict((str(key), str(value)) for key, value in (environment or {}).items())
        self.syslog_file = None
        self.mounts = []
        self.started = False

    # ----- properties
    @property
    def host(self):
        return self.address

    @property
    def port(self):
        return self._port

    @property
    def admin_user(self):
        return self._admin_user

    @property
    def admin_password(self):
        return self._admin_password

    @property
    def imapd_conf(self):
        return os.path.join(self.root, "imapd.conf")

    @property
    def cyrus_conf(self):
        return os.path.join(self.root, "cyrus.conf")

    @property
    def pid_file(self):
        return os.path.join(self.root, "master.pid")

    @property
    def master_log(self):
        return os.path.join(self.root, "master.log")

    @property
    def sasldb(self):
        return os.path.join(self.root, "sasldb2")

    @property
    def config_directory(self):
        return os.path.join(self.root, "config")

    @property
    def partition_paths(self):
        return {name: os.path.join(self.root, "partitions", name) for name, _ in self.partitions}

    @property
    def master_pid(self):
        """The pid in our pid file if that process is our master, else None."""
        try:
            with open(self.pid_file) as handle:
                pid = int(handle.read().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        cmdline = _process_cmdline(pid)
        if cmdline and self.imapd_conf in cmdline and _process_alive(pid):
            return pid
        return None

    def running(self):
        return self.master_pid is not None

    # ----- ownership
    def _cyrus_ids(self):
        """uid and gid Cyrus runs as: cyrus:mail as root, else the caller."""
        if os.geteuid() == 0:
            return pwd.getpwnam("cyrus").pw_uid, grp.getgrnam("mail").gr_gid
        return os.geteuid(), os.getegid()

    def _give_to_cyrus(self, path, mode):
        uid, gid = self._cyrus_ids()
        os.chown(path, uid, gid)
        os.chmod(path, mode)

    # ----- files
    def imapd_options(self):
        """The imapd.conf options in writing order: base options, then ``conf`` over them.

        A ``conf`` key that is also a base key replaces the base value in place (Cyrus
        rejects duplicates); a ``conf`` value of None drops that base option.
        """
        config = self.config_directory
        options = [
            ("configdirectory", config),
            ("servername", self.servername),
            ("admins", self.admin_user),
            ("unixhierarchysep", "no"),
            ("altnamespace", "no"),
            ("allowplaintext", "yes"),
            ("sasl_pwcheck_method", "auxprop"),
            ("sasl_auxprop_plugin", "sasldb"),
            ("sasl_sasldb_path", self.sasldb),
            ("sasl_mech_list", "PLAIN LOGIN"),
            ("failedloginpause", "0"),  # the 3 s default makes a failed-login test slow
            ("proc_path", os.path.join(config, "proc")),
            ("mboxname_lockpath", os.path.join(config, "lock")),
            ("lmtpsocket", os.path.join(config, "socket", "lmtp")),
            ("idlesocket", os.path.join(config, "socket", "idle")),
            ("notifysocket", os.path.join(config, "socket", "notify")),
            ("sievedir", os.path.join(config, "sieve")),
            ("temp_path", os.path.join(self.root, "tmp")),
            ("syslog_prefix", os.path.basename(self.root)),
        ]
        options += [("partition-%s" % name, path) for name, path in self.partition_paths.items()]
        extra = {str(key).lower(): (key, value) for key, value in self.conf.items()}
        merged = []
        for key, value in options:
            if key in extra:
                value = extra.pop(key)[1]
            if value is not None:
                merged.append((key, value))
        merged += [(key, value) for key, value in extra.values() if value is not None]
        return merged

    def _write_imapd_conf(self):
        # written aside and renamed: a process starting meanwhile reads the old or the new file
        partial = self.imapd_conf + ".new"
        with open(partial, "w") as handle:
            handle.write("# imapops lab: private Cyrus instance, written by lab/cyrus_lab.py\n")
            for key, value in self.imapd_options():
                handle.write("%s: %s\n" % (key, value))
        self._give_to_cyrus(partial, 0o640)
        os.replace(partial, self.imapd_conf)

    def rewrite_imapd_conf(self, conf):
        """Replace the extra imapd.conf options (``conf`` as in the constructor) and rewrite
        the file. Running processes keep what they read; every process started afterwards
        (with ``processes_per_connection_reuse=1``: every new connection) reads the new file.
        """
        self.conf = _checked_conf(conf)
        self._write_imapd_conf()

    def _write_cyrus_conf(self):
        listen = "[%s]:%d" % (self.address, self.port) if ":" in self.address \
            else "%s:%d" % (self.address, self.port)
        conf_option = "-C %s" % self.imapd_conf
        with open(self.cyrus_conf, "w") as handle:
            handle.write(
                "# imapops lab: master -C/-M/-p point here; every cmd carries -C itself\n"
                "START {\n"
                '  recover cmd="%s/ctl_cyrusdb %s -r"\n'
                "}\n"
                "SERVICES {\n"
                '  imap cmd="%s/imapd %s -U %d" listen="%s" prefork=0 maxchild=100\n'
                "}\n"
                "EVENTS {\n"
                '  checkpoint cmd="%s/ctl_cyrusdb %s -c" period=30\n'
                "}\n"
                % (CYRUS_BIN, conf_option, CYRUS_BIN, conf_option,
                   self.processes_per_connection_reuse, listen, CYRUS_BIN, conf_option))
        self._give_to_cyrus(self.cyrus_conf, 0o640)

    def _saslpasswd(self, user, password):
        result = subprocess.run(
            ["saslpasswd2", "-p", "-c", "-f", self.sasldb, "-u", self.servername, user],
            input=password, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise LabError("saslpasswd2 for %s failed: %s" % (user, result.stderr.strip()))
        self._give_to_cyrus(self.sasldb, 0o640)

    def add_user(self, name, password):
        """Create (or reset) a sasldb user ``name`` that can log in with ``password``."""
        self._saslpasswd(name, password)

    # ----- partitions
    def _mount_partitions(self):
        uid, gid = self._cyrus_ids()
        for name, size_mib in self.partitions:
            path = self.partition_paths[name]
            os.makedirs(path, exist_ok=True)
            if size_mib:
                if os.geteuid() != 0:
                    raise LabError("partition %s: a %d MiB tmpfs needs root (use size 0 for a "
                                   "plain directory)" % (name, size_mib))
                options = "size=%dM,mode=0750,uid=%d,gid=%d" % (size_mib, uid, gid)
                result = subprocess.run(["mount", "-t", "tmpfs", "-o", options, MOUNT_SOURCE, path],
                                        capture_output=True, text=True, check=False)
                if result.returncode != 0:
                    raise LabError("mount tmpfs on %s failed: %s" % (path, result.stderr.strip()))
                self.mounts.append(path)
            self._give_to_cyrus(path, 0o750)

    def _unmount_partitions(self):
        for path in list(self.mounts) + [p for p in self.partition_paths.values() if p not in self.mounts]:
            for attempt in range(20):
                if path not in mount_points():
                    break
                lazy = ["-l"] if attempt == 19 else []
                subprocess.run(["umount"] + lazy + [path], capture_output=True, check=False)
                if path in mount_points():
                    time.sleep(0.05)
            if path in self.mounts:
                self.mounts.remove(path)

    def fill(self, partition, mib):
        """Write a new filler file of ``mib`` MiB into ``partition``; return its path."""
        directory = self.partition_paths[partition]
        handle, path = tempfile.mkstemp(prefix="lab-filler-", suffix=".bin", dir=directory)
        chunk = b"\0" * (1 << 20)
        try:
            with os.fdopen(handle, "wb") as filler:
                for _ in range(int(mib)):
                    filler.write(chunk)
        except OSError as error:
            os.unlink(path)
            raise LabError("filling %s with %s MiB: %s" % (partition, mib, error))
        return path

    def usage(self, partition):
        """(total KiB, available KiB, free %) of ``partition`` as Cyrus computes them."""
        stat = os.statvfs(self.partition_paths[partition])
        total = int(stat.f_blocks * stat.f_frsize / 1024.0)
        available = int(stat.f_bavail * stat.f_frsize / 1024.0)
        return total, available, (available * 100.0 / total if total else 0.0)

    # ----- lifecycle
    def start(self, timeout=10.0):
        """Write the config, mount the partitions, start master; return once IMAP greets."""
        if self.started:
            raise LabError("lab in %s is already started" % self.root)
        if not os.path.exists(MASTER):
            raise LabError("%s is missing: run ensure_cyrus_installed() first" % MASTER)
        if self.root is None:
            self.root = tempfile.mkdtemp(prefix="imapops-lab-", dir="/dev/shm")
        os.makedirs(self.root, exist_ok=True)
        if self._port is None:
            self._port = free_port(self.address)
        self.started = True
        try:
            self._give_to_cyrus(self.root, 0o750)
            for sub in ("config", "config/proc", "config/lock", "config/socket", "config/sieve",
                        "tmp", "partitions"):
                os.makedirs(os.path.join(self.root, sub), exist_ok=True)
                self._give_to_cyrus(os.path.join(self.root, sub), 0o750)
            self._mount_partitions()
            self._write_imapd_conf()
            self._write_cyrus_conf()
            self._saslpasswd(self.admin_user, self.admin_password)
            self._start_master(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _start_master(self, timeout):
        env = dict(os.environ)
        if os.geteuid() != 0:
            env["CYRUS_USER"] = pwd.getpwuid(os.geteuid()).pw_name
            env["CYRUS_GROUP"] = grp.getgrgid(os.getegid()).gr_name
        library = syslog_to_file_library() if self.capture_syslog else None
        for log in (self.master_log, os.path.join(self.root, "syslog.log")):
            open(log, "a").close()
            self._give_to_cyrus(log, 0o640)
        env.update(self.environment)
        if library:
            self.syslog_file = os.path.join(self.root, "syslog.log")
            env["IMAPOPS_LAB_SYSLOG"] = self.syslog_file
        preload = [library] + self.extra_preload + [env.get("LD_PRELOAD")]
        if any(preload):
            env["LD_PRELOAD"] = " ".join(filter(None, preload))
        command = [MASTER, "-C", self.imapd_conf, "-M", self.cyrus_conf, "-p", self.pid_file,
                   "-L", self.master_log, "-d"]
        deadline = time.monotonic() + timeout
        # -d: master forks into its own session (setsid), so its SIGTERM to its process
        # group cannot reach us; the parent we wait for returns once the daemon is up.
        launcher = subprocess.Popen(command, env=env, cwd=self.root, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            _, launcher_errors = launcher.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            launcher.kill()
            launcher.communicate()
            raise LabError(self._failure("master did not daemonize within %.0f s" % timeout))
        if launcher.returncode != 0:
            details = launcher_errors.decode(errors="replace").strip()
            raise LabError(self._failure("master exited with %d%s"
                                         % (launcher.returncode, ": " + details if details else "")))
        while True:
            greeting = self.greeting()
            if greeting and greeting.startswith("* OK"):
                return
            if time.monotonic() > deadline:
                raise LabError(self._failure("no IMAP greeting on %s:%d within %.0f s (last: %r)"
                                             % (self.host, self.port, timeout, greeting)))
            if self.master_pid is None and os.path.exists(self.pid_file):
                raise LabError(self._failure("master exited during start"))
            time.sleep(0.02)

    def _failure(self, message):
        """``message`` plus the tails of master.log and syslog.log."""
        parts = [message]
        for log in (self.master_log, self.syslog_file):
            tail = _tail(log) if log else ""
            if tail:
                parts.append("--- %s (tail)\n%s" % (log, tail.rstrip()))
        return "\n".join(parts)

    def greeting(self, timeout=1.0):
        """The server's greeting line, or None if nothing answers."""
        try:
            with socket.create_connection((self.host, self.port), timeout=timeout) as conn:
                return conn.makefile("rb").readline().decode(errors="replace").strip()
        except OSError:
            return None

    def stop(self, timeout=5.0, remove_root=None):
        """Stop our master (SIGTERM, then SIGKILL), end its children, unmount our partitions.

        Only the pid in our own pid file is signalled (and any process whose command line
        names our imapd.conf). ``remove_root`` (default: if the lab made its root) deletes
        the lab directory afterwards.
        """
        if self.root is None:
            return
        pid = self.master_pid
        if pid:
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while _process_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.01)
            if _process_alive(pid):
                os.kill(pid, signal.SIGKILL)
        if os.path.exists(self.imapd_conf):
            deadline = time.monotonic() + timeout
            leftovers = _pids_using(self.imapd_conf)
            while leftovers and time.monotonic() < deadline:
                time.sleep(0.02)
                leftovers = _pids_using(self.imapd_conf)
            for leftover in leftovers:
                try:
                    os.kill(leftover, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self._unmount_partitions()
        self.started = False
        if remove_root if remove_root is not None else self._owns_root:
            if any(path.startswith(self.root + os.sep) for path in mount_points()):
                raise LabError("not removing %s: something is still mounted below it" % self.root)
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self):
        if not self.started:
            self.start()
        return self

    def __exit__(self, *exc_info):
        self.stop()

    # ----- IMAP
    def imap(self):
        """A new ``imaplib.IMAP4`` logged in as the admin (the caller logs out)."""
        conn = imaplib.IMAP4(self.host, self.port)
        try:
            conn.login(self.admin_user, self.admin_password)
        except imaplib.IMAP4.error:
            conn.shutdown()
            raise
        return conn

    def partition_of(self, mailbox, conn=None):
        """The partition Cyrus placed ``mailbox`` on (GETMETADATA, as admin)."""
        if conn is not None:
            return getmetadata(conn, mailbox, PARTITION_ANNOTATION)[PARTITION_ANNOTATION]
        conn = self.imap()
        try:
            return getmetadata(conn, mailbox, PARTITION_ANNOTATION)[PARTITION_ANNOTATION]
        finally:
            conn.logout()

    def syslog_lines(self):
        """Cyrus's syslog lines so far (empty when syslog is not captured)."""
        if not self.syslog_file:
            return []
        with open(self.syslog_file, errors="replace") as handle:
            return handle.read().splitlines()

    # ----- state for the CLI
    def state(self):
        """What ``stop`` and Ansible need to find this lab again (holds the password)."""
        return {
            "root": self.root, "host": self.host, "port": self.port,
            "pid_file": self.pid_file, "imapd_conf": self.imapd_conf,
            "cyrus_conf": self.cyrus_conf, "master_log": self.master_log,
            "syslog_file": self.syslog_file, "mounts": list(self.mounts),
            "partitions": [[name, size] for name, size in self.partitions],
            "partition_paths": self.partition_paths, "conf": self.conf,
            "servername": self.servername, "admin_user": self.admin_user,
            "admin_password": self.admin_password,
            "processes_per_connection_reuse": self.processes_per_connection_reuse,
            "extra_preload": list(self.extra_preload), "environment": dict(self.environment),
        }

    @classmethod
    def from_state(cls, state):
        """A lab object for a lab described by ``state()`` (e.g. to stop it)."""
        lab = cls(root=state["root"], partitions=[tuple(p) for p in state["partitions"]],
                  conf=state.get("conf"), address=state["host"], port=state["port"],
                  processes_per_connection_reuse=state.get("processes_per_connection_reuse", 1),
                  admin_user=state["admin_user"], admin_password=state["admin_password"],
                  servername=state.get("servername"),
                  extra_preload=state.get("extra_preload", ()), environment=state.get("environment"))
        lab.mounts = list(state.get("mounts", []))
        lab.syslog_file = state.get("syslog_file")
        lab.started = True
        return lab


# --------------------------------------------------------------------------- CLI

def _write_private(path, text):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(path, 0o600)


def inventory_yaml(lab):
    """An Ansible inventory with the lab as ``lab-backend`` in ``cyrus_backends``."""
    def quoted(value):
        return json.dumps(value)  # a JSON string is a YAML double-quoted scalar
    return (
        "# imapops lab inventory, written by lab/cyrus_lab.py start\n"
        "cyrus_backends:\n"
        "  hosts:\n"
        "    lab-backend:\n"
        "      ansible_connection: local\n"
        "      ansible_python_interpreter: %s\n"
        "      cyrus_imapd_conf: %s\n"
        "      cyrus_imap_host: %s\n"
        "      cyrus_imap_port: %d\n"
        "      cyrus_admin_user: %s\n"
        "      cyrus_admin_password: %s\n"
        % (quoted(sys.executable), quoted(lab.imapd_conf), quoted(lab.host), lab.port,
           quoted(lab.admin_user), quoted(lab.admin_password)))


def parse_partitions(text):
    """``p1:64:32,p2:32`` -> ([("p1", 64), ("p2", 32)], {"p1": 32}): name:MiB[:used MiB]."""
    partitions, used = [], {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        fields = item.split(":")
        if len(fields) not in (2, 3):
            raise ValueError("partition %r: expected name:MiB or name:MiB:usedMiB" % item)
        partitions.append((fields[0], int(fields[1])))
        if len(fields) == 3 and int(fields[2]):
            used[fields[0]] = int(fields[2])
    return partitions, used


def _load_state(state_dir):
    try:
        with open(os.path.join(state_dir, "lab.json")) as handle:
            return json.load(handle)
    except FileNotFoundError:
        return None


def command_start(args):
    partitions, used = parse_partitions(args.partitions)
    conf = {}
    for setting in args.set:
        key, sep, value = setting.partition("=")
        if not sep:
            raise SystemExit("--set %r: expected key=value" % setting)
        conf[key.strip()] = value.strip()
    state_dir = os.path.abspath(args.state_dir)
    previous = _load_state(state_dir)
    if previous:
        print("stopping the previous lab of %s (%s)" % (state_dir, previous["root"]))
        command_stop(args)
    version = ensure_cyrus_installed()
    print("cyrus: %s" % version)
    began = time.monotonic()
    lab = CyrusLab(partitions=partitions, conf=conf)
    lab.start()
    try:
        for name, mib in used.items():
            lab.fill(name, mib)
        os.makedirs(state_dir, exist_ok=True)
        _write_private(os.path.join(state_dir, "lab.json"), json.dumps(lab.state(), indent=2) + "\n")
        _write_private(os.path.join(state_dir, "inventory.yml"), inventory_yaml(lab))
    except BaseException:
        lab.stop()
        raise
    print("started in %.2f s: imap://%s:%d, master pid %s, root %s"
          % (time.monotonic() - began, lab.host, lab.port, lab.master_pid, lab.root))
    for name, path in lab.partition_paths.items():
        total, available, percent = lab.usage(name)
        print("  partition %-6s %6d KiB total %6d KiB free (%5.1f%%)  %s"
              % (name, total, available, percent, path))
    print("imapd.conf: %s" % lab.imapd_conf)
    print("syslog:     %s" % (lab.syslog_file or "not captured (no C compiler)"))
    print("state:      %s/lab.json, inventory: %s/inventory.yml" % (state_dir, state_dir))
    return 0


def command_stop(args):
    state_dir = os.path.abspath(args.state_dir)
    state = _load_state(state_dir)
    if not state:
        print("no lab in %s" % state_dir)
        return 0
    lab = CyrusLab.from_state(state)
    was_running = lab.running()
    began = time.monotonic()
    lab.stop(remove_root=True)
    for name in ("lab.json", "inventory.yml"):
        try:
            os.unlink(os.path.join(state_dir, name))
        except FileNotFoundError:
            pass
    print("%s lab %s in %.2f s" % ("stopped" if was_running else "cleaned up (was not running)",
                                    state["root"], time.monotonic() - began))
    return 0


def command_status(args):
    state_dir = os.path.abspath(args.state_dir)
    state = _load_state(state_dir)
    if not state:
        print("no lab in %s" % state_dir)
        return 1
    lab = CyrusLab.from_state(state)
    pid = lab.master_pid
    if pid is None:
        print("not running (lab.json names %s; run stop to clean up)" % state["root"])
        return 1
    print("running: master pid %d, imap://%s:%d, greeting: %s" % (pid, lab.host, lab.port, lab.greeting()))
    for name in lab.partition_paths:
        total, available, percent = lab.usage(name)
        print("  partition %-6s %6d KiB total %6d KiB free (%5.1f%%)" % (name, total, available, percent))
    return 0


def command_install(args):
    print(ensure_cyrus_installed().strip())
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description="A private Cyrus IMAP 3.6.1 lab on loopback.")
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("start", help="install Cyrus if missing, start a lab")
    start.add_argument("--partitions", default=DEFAULT_CLI_PARTITIONS,
                       help="name:MiB[:used MiB],... (default %(default)s; MiB 0 = plain directory)")
    start.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="extra imapd.conf option (repeatable)")
    for name in ("stop", "status"):
        commands.add_parser(name, help="%s the lab of the state dir" % name)
    commands.add_parser("install", help="install the Cyrus IMAP Debian packages if missing")
    for sub in commands.choices.values():
        sub.add_argument("--state-dir", default=DEFAULT_STATE_DIR,
                         help="where lab.json and inventory.yml live (default %(default)s)")
    args = parser.parse_args(argv)
    handler = {"start": command_start, "stop": command_stop, "status": command_status,
               "install": command_install}[args.command]
    try:
        return handler(args)
    except (LabError, ValueError) as error:
        print("error: %s" % error, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
