#!/usr/bin/env python3
# -*- coding: utf-8 -*-
# Copyright: imapops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark 2: partition facts across many backends, against Ansible's own floor.

    python3 benchmarks/fact_gathering.py [--hosts 100] [--forks 5] [--repeat 3]   (as root)

Every inventory host (local connection) has its own imapd.conf with 16 partitions spread
over four real tmpfs mounts. With the same forks, measured in the same run and
interleaved: ``ansible.builtin.ping`` (the cheapest module: Ansible's per-host floor),
``ansible.builtin.setup`` with the hardware subset (the mount facts a user would parse
otherwise) and ``imapops.cyrus.partition_facts``. Printed: median wall times and ratios
to ping (target for partition_facts <= 1.15), then how partition_facts scales with forks
and with pipelining.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
from ansible_run import collections_path  # noqa: E402

TARGET = 1.15
MOUNTS = 4
PARTITIONS = 16


def build(workdir, hosts):
    mounts = []
    for index in range(MOUNTS):
        point = os.path.join(workdir, "mnt%d" % index)
        os.makedirs(point)
        subprocess.check_call(["mount", "-t", "tmpfs", "-o", "size=%dM" % (64 * (index + 1)), "tmpfs", point])
        mounts.append(point)
    inventory = {"cyrus_backends": {"hosts": {}}}
    for host in range(hosts):
        name = "backend%03d" % host
        lines = ["configdirectory: %s/config" % workdir]
        for part in range(PARTITIONS):
            path = os.path.join(mounts[part % MOUNTS], name, "p%02d" % part)
            os.makedirs(path)
            lines.append("partition-p%02d: %s" % (part, path))
        conf = os.path.join(workdir, name + ".conf")
        with open(conf, "w") as handle:
            handle.write("\n".join(lines) + "\n")
        inventory["cyrus_backends"]["hosts"][name] = {
            "ansible_connection": "local", "ansible_python_interpreter": sys.executable, "cyrus_imapd_conf": conf}
    path = os.path.join(workdir, "inventory.json")
    with open(path, "w") as handle:
        json.dump(inventory, handle)
    return path, mounts


def run(inventory, module, arguments, forks, pipelining=False):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections_path(), ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false",
               ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_HOST_KEY_CHECKING="0",
               ANSIBLE_PIPELINING="1" if pipelining else "0", ANSIBLE_DEPRECATION_WARNINGS="0")
    command = [os.path.join(os.path.dirname(sys.executable), "ansible"), "cyrus_backends", "-i", inventory,
               "-m", module, "-f", str(forks), "-o"]
    if arguments:
        command += ["-a", arguments]
    started = time.perf_counter()
    proc = subprocess.run(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    seconds = time.perf_counter() - started
    ok = proc.stdout.count(" | SUCCESS")
    if proc.returncode != 0 or ok == 0:
        raise SystemExit("%s failed (rc %d):\n%s\n%s" % (module, proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:]))
    return seconds, ok


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=100)
    parser.add_argument("--forks", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: the benchmark mounts tmpfs filesystems")
    workdir = tempfile.mkdtemp(prefix="imapops-facts-bench-")
    mounts = []
    try:
        inventory, mounts = build(workdir, args.hosts)
        facts_args = "imapd_conf={{ cyrus_imapd_conf }}"
        commands = [("ping", "ansible.builtin.ping", ""),
                    ("setup hardware", "ansible.builtin.setup", "gather_subset=!all,!min,hardware"),
                    ("partition_facts", "imapops.cyrus.partition_facts", facts_args)]
        times = dict((label, []) for label, _, _ in commands)
        for _ in range(args.repeat):
            for label, module, arguments in commands:  # interleaved: noise hits all alike
                seconds, ok = run(inventory, module, arguments, args.forks)
                assert ok == args.hosts, (label, ok)
                times[label].append(seconds)
        floor = statistics.median(times["ping"])
        print("%d hosts x %d partitions on %d mounts, forks %d, median of %d runs"
              % (args.hosts, PARTITIONS, MOUNTS, args.forks, args.repeat))
        print("%-18s %8s %8s" % ("module", "seconds", "x ping"))
        for label, _, _ in commands:
            seconds = statistics.median(times[label])
            print("%-18s %8.2f %8.2f" % (label, seconds, seconds / floor))
        ratio = statistics.median(times["partition_facts"]) / floor

        print("\npartition_facts scaling (one run each; ping at the same settings in brackets)")
        print("%6s %11s %10s %10s" % ("forks", "pipelining", "facts s", "ping s"))
        for forks in (5, 10, 20):
            for pipelining in (False, True):
                facts_s, _ = run(inventory, "imapops.cyrus.partition_facts", facts_args, forks, pipelining)
                ping_s, _ = run(inventory, "ansible.builtin.ping", "", forks, pipelining)
                print("%6d %11s %10.2f %10.2f" % (forks, "on" if pipelining else "off", facts_s, ping_s))
        print("\nresult: partition_facts / ping = %.2f, target %.2f: %s"
              % (ratio, TARGET, "MET" if ratio <= TARGET else "MISSED"))
        return 0 if ratio <= TARGET else 1
    finally:
        for point in mounts:
            subprocess.call(["umount", point])
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
