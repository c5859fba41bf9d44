#!/usr/bin/env python3
# -*- coding: utf-8 -*-
# Copyright: imapops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A real Cyrus IMAP 3.6.1 Murder on one machine: mupdate master, frontend, backends.

Importable (``MurderLab``, used by the ``murder_lab`` pytest fixture) and runnable::

    python3 lab/murder_lab.py start  [--state-dir lab/state/murder] [--backend p1:64:16,p2:32:4 ...]
                                     [--set KEY=VALUE ...] [--frontend-set KEY=VALUE ...]
    python3 lab/murder_lab.py status [--state-dir lab/state/murder]
    python3 lab/murder_lab.py stop   [--state-dir lab/state/murder]
    python3 lab/murder_lab.py stop-backend|start-backend backend2 [--state-dir ...]

Layout (one ``/dev/shm/imapops-murder-*`` directory, one sub-directory per server, each a
``CyrusLab`` of ``lab/cyrus_lab.py`` with its own imapd.conf, cyrus.conf, sasldb, master
process and syslog capture):

=========  =============  ====================================================================
role       address        services
=========  =============  ====================================================================
mupdate    127.0.0.10     ``mupdate -m`` (the master) on a free port
frontend   127.0.0.11     ``imapd`` (a proxy: no ``proxyservers``) and the ``mupdate`` slave
                          on a unix socket, which keeps the frontend's mailbox list in sync
backendN   127.0.0.2N     ``imapd`` with its own tmpfs partitions; reserves/activates new
                          mailboxes on the mupdate master; ``proxyservers`` lets the
                          frontend log in on behalf of the user
=========  =============  ====================================================================

Names: a frontend reaches a backend by the server name in its ``serverlist`` and in the
mupdate entries (``server!partition``), and that name is the backend's ``servername``.
Without DNS names for loopback addresses the lab uses ``<address>:<port>``
(``127.0.0.21:40123``): Cyrus's backend_connect splits host and port at the colon.

Facts established with this lab (see docs/cluster.md): ``mupdate_port`` is ignored, use
``mupdate_server: host:port``; ``CREATE name partition`` (a bare partition) on a 3.6.1
frontend kills the imapd serving it; use ``server!partition``.
"""

import argparse
import json
import os
import shutil
import socket
import sys
import tempfile
import time

LAB_DIR = os.path.dirname(os.path.abspath(__file__))
if LAB_DIR not in sys.path:
    sys.path.insert(0, LAB_DIR)

import cyrus_lab  # noqa: E402  after the path insert
from cyrus_lab import CYRUS_BIN, CyrusLab, LabError, free_port  # noqa: E402

DEFAULT_STATE_DIR = os.path.join(LAB_DIR, "state", "murder")
MUPDATE_ADDRESS = "127.0.0.10"
FRONTEND_ADDRESS = "127.0.0.11"
BACKEND_ADDRESS_BASE = 21  # backend i (0-based) listens on 127.0.0.(21 + i)
# (partitions (name, MiB), used MiB per partition) per backend; sizes all differ, so both
# *-most modes have one clear winner at every level:
#   freespace/total:        backend1 72 MiB, backend2 96 MiB, backend3 40 MiB  -> backend2
#   freespace/percent/most: backend1 87.5 %, backend2 75 %,   backend3 93.75 % -> backend3
DEFAULT_BACKENDS = (
    ((("p1", 64), ("p2", 32)), {"p1": 8, "p2": 16}),
    ((("p1", 96), ("p2", 48)), {"p1": 24, "p2": 24}),
    ((("p1", 32), ("p2", 16)), {"p1": 2, "p2": 6}),
)
ROLES = ("mupdate", "frontend", "backend")
MUPDATE_TARGET = os.path.join("config", "socket", "mupdate.target")


class MurderNode(CyrusLab):
    """One server of the Murder: a ``CyrusLab`` with a role and the cyrus.conf for it.

    ``mupdate``: master runs ``mupdate -m`` on ``port`` (no IMAP). ``frontend``: IMAP on
    ``port`` plus the mupdate slave on a unix socket. ``backend``: IMAP only.
    """

    def __init__(self, role="backend", **options):
        if role not in ROLES:
            raise ValueError("role must be one of %s, got %r" % (", ".join(ROLES), role))
        super(MurderNode, self).__init__(**options)
        self.role = role

    @property
    def server_name(self):
        """The name frontends and mupdate know this server by: ``servername``."""
        return self.servername

    @property
    def mupdate_target(self):
        return os.path.join(self.root, MUPDATE_TARGET)

    def _write_cyrus_conf(self):
        listen = "%s:%d" % (self.address, self.port)
        conf = "-C %s" % self.imapd_conf
        services = []
        if self.role == "mupdate":
            services.append('  mupdate cmd="%s/mupdate %s -m" listen="%s" prefork=1 maxchild=20'
                            % (CYRUS_BIN, conf, listen))
        else:
            services.append('  imap cmd="%s/imapd %s -U %d" listen="%s" prefork=0 maxchild=200'
                            % (CYRUS_BIN, conf, self.processes_per_connection_reuse, listen))
        if self.role == "frontend":
            # the slave: syncs the frontend's mailboxes.db from the master, then listens
            # for the kicks of the frontend's imapd on config/socket/mupdate.target
            services.append('  mupdate cmd="%s/mupdate %s" listen="%s" prefork=1 maxchild=5'
                            % (CYRUS_BIN, conf, os.path.join(self.root, "config", "socket", "mupdate")))
        with open(self.cyrus_conf, "w") as handle:
            handle.write(
                "# imapops murder lab (%s): written by lab/murder_lab.py; every cmd carries -C\n"
                "START {\n"
                '  recover cmd="%s/ctl_cyrusdb %s -r"\n'
                "}\n"
                "SERVICES {\n%s\n}\n"
                "EVENTS {\n"
                '  checkpoint cmd="%s/ctl_cyrusdb %s -c" period=30\n'
                "}\n" % (self.role, CYRUS_BIN, conf, "\n".join(services), CYRUS_BIN, conf))
        self._give_to_cyrus(self.cyrus_conf, 0o640)

    def greeting(self, timeout=1.0):
        """The IMAP greeting, or for the mupdate master its ``* OK MUPDATE ...`` line."""
        if self.role != "mupdate":
            return super(MurderNode, self).greeting(timeout)
        try:
            with socket.create_connection((self.host, self.port), timeout=timeout) as conn:
                reader = conn.makefile("rb")
                for _ in range(10):
                    line = reader.readline().decode(errors="replace").strip()
                    if not line or line.startswith("* OK"):
                        return line or None
        except OSError:
            return None
        return None

    def start(self, timeout=10.0):
        super(MurderNode, self).start(timeout)
        if self.role == "frontend":
            self.wait_for_slave(timeout)
        return self

    def wait_for_slave(self, timeout=10.0):
        """A frontend: wait until the mupdate slave has synced (it then opens its kick socket)."""
        deadline = time.monotonic() + timeout
        while not os.path.exists(self.mupdate_target):
            if time.monotonic() > deadline:
                raise LabError(self._failure("the frontend's mupdate slave did not sync with the master "
                                             "within %.0f s" % timeout))
            time.sleep(0.02)

    def state(self):
        state = super(MurderNode, self).state()
        state["role"] = self.role
        return state

    @classmethod
    def from_state(cls, state):
        node = super(MurderNode, cls).from_state(state)
        node.role = state.get("role", "backend")
        return node


class MurderLab(object):
    """A mupdate master, one frontend and N backends, each a ``MurderNode``.

    ``backends``: one ``(partitions, used)`` per backend, partitions as ``(name, MiB)``,
    used as ``{partition: MiB}`` (filler files). ``backend_conf``: imapd.conf options for
    every backend, or a list with one dict per backend. ``frontend_conf``: options for the
    frontend (``serverlist_select_mode``, ...). Admin user and password are the same on
    every server; the frontend logs in to backends with them (``proxy_authname``) and all
    servers log in to the master with them (``mupdate_authname``).
    """

    def __init__(self, root=None, backends=DEFAULT_BACKENDS, backend_conf=None, frontend_conf=None,
                 admin_user="cyrusadmin", admin_password=None, processes_per_connection_reuse=1,
                 mupdate_address=MUPDATE_ADDRESS, frontend_address=FRONTEND_ADDRESS,
                 backend_addresses=None):
        if not backends:
            raise ValueError("a Murder needs at least one backend")
        self._owns_root = root is None
        self.root = os.path.abspath(root) if root else None
        self.backend_specs = [(tuple(tuple(p) for p in parts), dict(used or {})) for parts, used in backends]
        if isinstance(backend_conf, (list, tuple)):
            if len(backend_conf) != len(self.backend_specs):
                raise ValueError("backend_conf has %d entries for %d backends"
                                 % (len(backend_conf), len(self.backend_specs)))
            self.backend_confs = [dict(conf or {}) for conf in backend_conf]
        else:
            self.backend_confs = [dict(backend_conf or {}) for _ in self.backend_specs]
        self.frontend_conf = dict(frontend_conf or {})
        self.admin_user = admin_user
        self.admin_password = admin_password or cyrus_lab.secrets.token_urlsafe(24)
        self.processes_per_connection_reuse = processes_per_connection_reuse
        self.mupdate_address = mupdate_address
        self.frontend_address = frontend_address
        self.backend_addresses = list(backend_addresses or [
            "127.0.0.%d" % (BACKEND_ADDRESS_BASE + i) for i in range(len(self.backend_specs))])
        self.mupdate = None
        self.frontend = None
        self.backends = []
        self.started = False

    # ----- names
    @property
    def backend_names(self):
        """Inventory names: backend1, backend2, ..."""
        return ["backend%d" % (i + 1) for i in range(len(self.backend_specs))]

    @property
    def serverlist(self):
        """The frontend's serverlist: the backends' server names, in order."""
        return [backend.server_name for backend in self.backends]

    def backend(self, key):
        """A backend by inventory name (``backend2``), server name or 0-based index."""
        if isinstance(key, int):
            return self.backends[key]
        for name, backend in zip(self.backend_names, self.backends):
            if key in (name, backend.server_name):
                return backend
        raise KeyError(key)

    def inventory_name(self, server_name):
        for name, backend in zip(self.backend_names, self.backends):
            if backend.server_name == server_name:
                return name
        raise KeyError(server_name)

    @property
    def nodes(self):
        return [n for n in [self.mupdate, self.frontend] + self.backends if n is not None]

    # ----- configuration
    def _common_conf(self, mupdate_port):
        return {
            "mupdate_server": "%s:%d" % (self.mupdate_address, mupdate_port),
            "mupdate_authname": self.admin_user,
            "mupdate_password": self.admin_password,
        }

    def _node(self, role, name, address, port, partitions=(), conf=None, servername=None):
        return MurderNode(role=role, root=os.path.join(self.root, name), partitions=partitions,
                          conf=conf, address=address, port=port, admin_user=self.admin_user,
                          admin_password=self.admin_password, servername=servername or name,
                          processes_per_connection_reuse=self.processes_per_connection_reuse)

    def frontend_options(self):
        """The frontend's imapd.conf additions (``serverlist`` and proxy login)."""
        conf = self._common_conf(self.mupdate.port)
        conf.update({
            "serverlist": " ".join(self.serverlist),
            "proxy_authname": self.admin_user,
            "proxy_password": self.admin_password,
            "serverlist_select_mode": "freespace-most",
        })
        conf.update(self.frontend_conf)
        return conf

    # ----- lifecycle
    def start(self, timeout=15.0):
        """Start master, backends, then the frontend (whose slave syncs from the master)."""
        if self.started:
            raise LabError("murder lab in %s is already started" % self.root)
        if self.root is None:
            self.root = tempfile.mkdtemp(prefix="imapops-murder-", dir="/dev/shm")
        os.makedirs(self.root, exist_ok=True)
        os.chmod(self.root, 0o755)
        self.started = True
        try:
            self.mupdate = self._node("mupdate", "mupdate", self.mupdate_address,
                                      free_port(self.mupdate_address))
            self.mupdate.start(timeout)
            for index, (name, (partitions, used)) in enumerate(zip(self.backend_names, self.backend_specs)):
                address = self.backend_addresses[index]
                port = free_port(address)
                conf = self._common_conf(self.mupdate.port)
                conf["proxyservers"] = self.admin_user
                conf.update(self.backend_confs[index])
                backend = self._node("backend", name, address, port, partitions=partitions, conf=conf,
                                     servername="%s:%d" % (address, port))
                self.backends.append(backend)
                backend.start(timeout)
                for partition, mib in used.items():
                    if mib:
                        backend.fill(partition, mib)
            self.frontend = self._node("frontend", "frontend", self.frontend_address,
                                       free_port(self.frontend_address), conf=self.frontend_options())
            self.frontend.start(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, remove_root=None):
        """Stop every server (frontend first), unmount every partition, remove the root."""
        if self.root is None:
            return
        errors = []
        for node in reversed(self.nodes):
            try:
                node.stop(remove_root=False)
            except Exception as error:  # noqa: BLE001 - stop the others anyway
                errors.append("%s: %s" % (node.root, error))
        self.started = False
        if remove_root if remove_root is not None else self._owns_root:
            if any(path.startswith(self.root + os.sep) for path in cyrus_lab.mount_points()):
                errors.append("not removing %s: something is still mounted below it" % self.root)
            else:
                shutil.rmtree(self.root, ignore_errors=True)
        if errors:
            raise LabError("; ".join(errors))

    def __enter__(self):
        if not self.started:
            self.start()
        return self

    def __exit__(self, *exc_info):
        self.stop()

    def stop_backend(self, key):
        """Stop one backend's master (its partitions stay mounted); ``start_backend`` restarts it."""
        backend = self.backend(key)
        pid = backend.master_pid
        if pid:
            os.kill(pid, cyrus_lab.signal.SIGTERM)
            deadline = time.monotonic() + 5
            while cyrus_lab._process_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.01)
            if cyrus_lab._process_alive(pid):
                os.kill(pid, cyrus_lab.signal.SIGKILL)
        deadline = time.monotonic() + 5
        while cyrus_lab._pids_using(backend.imapd_conf) and time.monotonic() < deadline:
            time.sleep(0.02)
        return backend

    def start_backend(self, key, timeout=10.0):
        """Start a stopped backend again, same address, port and partitions."""
        backend = self.backend(key)
        if backend.running():
            return backend
        backend._start_master(timeout)
        return backend

    def reconfigure_frontend(self, **options):
        """Rewrite the frontend's imapd.conf with ``options`` (None drops one); new connections see it."""
        for key, value in options.items():
            if value is None:
                self.frontend_conf.pop(key, None)
                self.frontend.conf[key] = None
            else:
                self.frontend_conf[key] = value
                self.frontend.conf[key] = value
        self.frontend._write_imapd_conf()

    def reconfigure_backend(self, key, **options):
        """Rewrite a backend's imapd.conf; with imapd -U 1 each new connection reads it."""
        backend = self.backend(key)
        for option, value in options.items():
            backend.conf[option] = value
        backend._write_imapd_conf()
        return backend

    # ----- inventory and state
    def state(self):
        return {
            "root": self.root, "admin_user": self.admin_user, "admin_password": self.admin_password,
            "mupdate": self.mupdate.state(), "frontend": self.frontend.state(),
            "backends": [backend.state() for backend in self.backends],
            "backend_names": self.backend_names,
        }

    @classmethod
    def from_state(cls, state):
        lab = cls(root=state["root"], backends=[(tuple(b["partitions"]), {}) for b in state["backends"]],
                  admin_user=state["admin_user"], admin_password=state["admin_password"])
        lab._owns_root = True
        lab.mupdate = MurderNode.from_state(state["mupdate"])
        lab.frontend = MurderNode.from_state(state["frontend"])
        lab.backends = [MurderNode.from_state(b) for b in state["backends"]]
        lab.backend_addresses = [b.host for b in lab.backends]
        lab.started = True
        return lab

    def write_state(self, state_dir):
        """murder.json and inventory.yml in ``state_dir`` (what the CLI commands read)."""
        os.makedirs(state_dir, exist_ok=True)
        cyrus_lab._write_private(_state_file(state_dir), json.dumps(self.state(), indent=2) + "\n")
        return self.write_inventory(os.path.join(state_dir, "inventory.yml"))

    def inventory(self, python=None):
        """An Ansible inventory (dict) with groups cyrus_backends, cyrus_frontends, cyrus_mupdate."""
        python = python or sys.executable

        def login(node):
            return {
                "ansible_connection": "local", "ansible_python_interpreter": python,
                "cyrus_imapd_conf": node.imapd_conf, "cyrus_imap_host": node.host,
                "cyrus_imap_port": node.port, "cyrus_admin_user": self.admin_user,
                "cyrus_admin_password": self.admin_password,
            }
        backends = {}
        for name, backend in zip(self.backend_names, self.backends):
            host_vars = login(backend)
            host_vars["cyrus_server_name"] = backend.server_name
            backends[name] = host_vars
        frontend = login(self.frontend)
        mupdate = {"ansible_connection": "local", "ansible_python_interpreter": python,
                   "cyrus_imapd_conf": self.mupdate.imapd_conf,
                   "cyrus_mupdate_host": self.mupdate.host, "cyrus_mupdate_port": self.mupdate.port}
        return {
            "all": {"children": {
                "cyrus_mupdate": {"hosts": {"mupdate": mupdate}},
                "cyrus_frontends": {"hosts": {"frontend": frontend}},
                "cyrus_backends": {"hosts": backends},
            }},
        }

    def write_inventory(self, path, python=None):
        text = ("# imapops murder lab inventory, written by lab/murder_lab.py (holds the lab's admin "
                "password)\n" + json.dumps(self.inventory(python), indent=2) + "\n")
        cyrus_lab._write_private(path, text)  # JSON is YAML
        return path

    def describe(self):
        """Lines for people: every server, its address and partitions."""
        lines = ["mupdate master  %s:%d  pid %s" % (self.mupdate.host, self.mupdate.port, self.mupdate.master_pid),
                 "frontend        imap://%s:%d  pid %s  serverlist_select_mode %s"
                 % (self.frontend.host, self.frontend.port, self.frontend.master_pid,
                    self.frontend.conf.get("serverlist_select_mode"))]
        for name, backend in zip(self.backend_names, self.backends):
            lines.append("%-15s imap://%s  pid %s" % (name, backend.server_name, backend.master_pid))
            for partition in backend.partition_paths:
                try:
                    total, available, percent = backend.usage(partition)
                    lines.append("    partition %-4s %7d KiB total %7d KiB free (%5.1f%%)"
                                 % (partition, total, available, percent))
                except OSError as error:
                    lines.append("    partition %-4s cannot measure: %s" % (partition, error))
        return lines


# --------------------------------------------------------------------------- CLI

def _state_file(state_dir):
    return os.path.join(state_dir, "murder.json")


def _load_state(state_dir):
    try:
        with open(_state_file(state_dir)) as handle:
            return json.load(handle)
    except FileNotFoundError:
        return None


def _settings(pairs, flag):
    conf = {}
    for setting in pairs:
        key, sep, value = setting.partition("=")
        if not sep:
            raise SystemExit("%s %r: expected key=value" % (flag, setting))
        conf[key.strip()] = value.strip()
    return conf


def command_start(args):
    backends = [cyrus_lab.parse_partitions(text) for text in args.backend] or list(DEFAULT_BACKENDS)
    state_dir = os.path.abspath(args.state_dir)
    if _load_state(state_dir):
        print("stopping the previous murder lab of %s" % state_dir)
        command_stop(args)
    print("cyrus: %s" % cyrus_lab.ensure_cyrus_installed())
    began = time.monotonic()
    lab = MurderLab(backends=backends, backend_conf=_settings(args.set, "--set"),
                    frontend_conf=_settings(args.frontend_set, "--frontend-set"))
    lab.start()
    try:
        lab.write_state(state_dir)
    except BaseException:
        lab.stop()
        raise
    print("murder started in %.2f s, root %s" % (time.monotonic() - began, lab.root))
    for line in lab.describe():
        print("  " + line)
    print("state: %s, inventory: %s" % (_state_file(state_dir), os.path.join(state_dir, "inventory.yml")))
    return 0


def command_stop(args):
    state_dir = os.path.abspath(args.state_dir)
    state = _load_state(state_dir)
    if not state:
        print("no murder lab in %s" % state_dir)
        return 0
    lab = MurderLab.from_state(state)
    began = time.monotonic()
    lab.stop(remove_root=True)
    for name in ("murder.json", "inventory.yml"):
        try:
            os.unlink(os.path.join(state_dir, name))
        except FileNotFoundError:
            pass
    print("stopped murder lab %s in %.2f s" % (state["root"], time.monotonic() - began))
    return 0


def command_status(args):
    state_dir = os.path.abspath(args.state_dir)
    state = _load_state(state_dir)
    if not state:
        print("no murder lab in %s" % state_dir)
        return 1
    lab = MurderLab.from_state(state)
    down = [node.root for node in lab.nodes if not node.running()]
    for line in lab.describe():
        print(line)
    if down:
        print("not running: %s (run stop to clean up)" % ", ".join(down))
        return 1
    return 0


def _backend_command(args, action):
    state_dir = os.path.abspath(args.state_dir)
    state = _load_state(state_dir)
    if not state:
        print("no murder lab in %s" % state_dir)
        return 1
    lab = MurderLab.from_state(state)
    try:
        backend = lab.stop_backend(args.backend) if action == "stop" else lab.start_backend(args.backend)
    except KeyError:
        print("no backend %r (backends: %s)" % (args.backend, ", ".join(lab.backend_names)), file=sys.stderr)
        return 1
    if action == "stop":
        print("stopped %s (imap://%s); its partitions stay mounted" % (args.backend, backend.server_name))
    else:
        print("started %s (imap://%s): master pid %s" % (args.backend, backend.server_name, backend.master_pid))
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description="A Cyrus IMAP 3.6.1 Murder on loopback.")
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("start", help="install Cyrus if missing, start mupdate, backends, frontend")
    start.add_argument("--backend", action="append", default=[], metavar="PARTITIONS",
                       help="one backend's partitions name:MiB[:used MiB],... (repeat per backend; "
                            "default three backends of different sizes)")
    start.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="imapd.conf option for every backend (repeatable)")
    start.add_argument("--frontend-set", action="append", default=[], metavar="KEY=VALUE",
                       help="imapd.conf option for the frontend, e.g. serverlist_select_mode=freespace-percent-most")
    for name in ("stop", "status"):
        commands.add_parser(name, help="%s the murder lab of the state dir" % name)
    for name in ("stop-backend", "start-backend"):
        sub = commands.add_parser(name, help="%s one backend's master (partitions stay mounted)" % name.split("-")[0])
        sub.add_argument("backend", help="inventory name (backend2) or server name (127.0.0.22:PORT)")
    for sub in commands.choices.values():
        sub.add_argument("--state-dir", default=DEFAULT_STATE_DIR,
                         help="where murder.json and inventory.yml live (default %(default)s)")
    args = parser.parse_args(argv)
    handler = {"start": command_start, "stop": command_stop, "status": command_status,
               "stop-backend": lambda a: _backend_command(a, "stop"),
               "start-backend": lambda a: _backend_command(a, "start")}[args.command]
    try:
        return handler(args)
    except (LabError, ValueError) as error:
        print("error: %s" % error, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
