#!/usr/bin/env python3
# -*- coding: utf-8 -*-
# Copyright: imapops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmarks 1 and 4: bulk onboarding end to end, and the cost of a re-run.

    python3 benchmarks/bulk_onboarding.py [--users 20000] [--repeat 3]      (as root)

Each round starts two identical labs on /dev/shm (tmpfs partitions). On lab A the
baseline, a plain imaplib script, creates every user's INBOX and three folders in one
session on the partitions the collection plans. On lab B ``ansible-playbook
playbooks/onboard.yml`` runs end to end (facts, planning, creation, read-back, table),
then runs again with everything already there (nothing may be created).

Printed: median wall times, ratio playbook/baseline (target <= 1.5), ratio
re-run/first run (target <= 0.5), and the peak resident memory of the controller
(ansible-playbook processes) and of the mailbox module process, sampled every 50 ms.
"""

import argparse
import csv
import imaplib
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "lab"))
sys.path.insert(0, os.path.join(REPO, "tests"))
import conftest  # noqa: E402,F401  the checkout as ansible_collections.imapops.cyrus
import cyrus_lab  # noqa: E402
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
from ansible_run import collections_path, write_inventory  # noqa: E402

from ansible_collections.imapops.cyrus.plugins.module_utils.facts import gather_partition_facts  # noqa: E402
from ansible_collections.imapops.cyrus.plugins.module_utils.onboarding import placement_plan  # noqa: E402

FOLDERS = ("Drafts", "Sent", "Trash")
PARTITIONS = (("p1", 3072), ("p2", 3072), ("p3", 2048))
TARGET_FIRST = 1.5
TARGET_RERUN = 0.5


class PeakMemory(threading.Thread):
    """Samples the resident memory of a process tree: controller vs module processes."""

    def __init__(self, pid):
        super(PeakMemory, self).__init__(daemon=True)
        import psutil
        self.psutil = psutil
        self.root = psutil.Process(pid)
        self.controller = 0
        self.module = 0
        self.running = True

    def run(self):
        while self.running:
            try:
                processes = [self.root] + self.root.children(recursive=True)
                controller = module = 0
                for process in processes:
                    try:
                        rss = process.memory_info().rss
                        command = " ".join(process.cmdline())
                    except self.psutil.Error:
                        continue
                    if "AnsiballZ_mailbox" in command:
                        module = max(module, rss)
                    elif "ansible-playbook" in command:
                        controller += rss
                self.controller = max(self.controller, controller)
                self.module = max(self.module, module)
            except self.psutil.Error:
                pass
            time.sleep(0.05)


def start_lab():
    return cyrus_lab.CyrusLab(partitions=PARTITIONS).start()


def baseline(lab, plan):
    """The same mailboxes on the same partitions, plain imaplib, one session."""
    started = time.perf_counter()
    imap = imaplib.IMAP4(lab.host, lab.port)
    imap.login(lab.admin_user, lab.admin_password)
    for entry in plan:
        name = "user." + entry["user"]
        typ, _ = imap._simple_command("CREATE", '"%s"' % name, entry["partition"])
        assert typ == "OK", name
        for folder in FOLDERS:
            typ, _ = imap.create('"%s.%s"' % (name, folder))
            assert typ == "OK", name
    imap.logout()
    return time.perf_counter() - started


def playbook(lab, users_csv, workdir):
    inventory = write_inventory(workdir, lab)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections_path(), ANSIBLE_NOCOLOR="1",
               ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false", ANSIBLE_LOCALHOST_WARNING="0")
    command = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", inventory,
               os.path.join(REPO, "playbooks", "onboard.yml"), "-e", "onboard_users_csv=%s" % users_csv]
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               universal_newlines=True)
    sampler = PeakMemory(process.pid)
    sampler.start()
    output = process.communicate()[0]
    seconds = time.perf_counter() - started
    sampler.running = False
    if process.returncode != 0:
        raise SystemExit("playbook failed:\n" + output[-3000:])
    changed = int(re.search(r"lab-backend\s*: ok=\d+\s+changed=(\d+)", output).group(1))
    return seconds, changed, sampler.controller, sampler.module, output


def count_mailboxes(lab):
    imap = lab.imap()
    typ, data = imap.list('""', '"user.*"')
    imap.logout()
    return len([d for d in data if d])


def one_round(users, workdir):
    users_csv = os.path.join(workdir, "users.csv")
    with open(users_csv, "w") as handle:
        writer = csv.writer(handle)
        writer.writerow(["user"])
        for number in range(users):
            writer.writerow(["u%06d" % number])
    lab_a, lab_b = start_lab(), start_lab()
    try:
        partitions, settings, _ = gather_partition_facts(lab_a.imapd_conf)
        plan = placement_plan(["u%06d" % n for n in range(users)],
                              {"cyrus_partitions": partitions, "cyrus_distribution": settings},
                              seed="lab-backend")
        base = baseline(lab_a, plan)
        first, changed_first, controller, module, _ = playbook(lab_b, users_csv, workdir)
        created = count_mailboxes(lab_b)
        rerun, changed_rerun, controller2, module2, _ = playbook(lab_b, users_csv, workdir)
        assert created == users * (1 + len(FOLDERS)) == count_mailboxes(lab_a), (created, count_mailboxes(lab_a))
        assert changed_rerun == 0 and count_mailboxes(lab_b) == created
        return dict(baseline=base, first=first, rerun=rerun, controller=max(controller, controller2),
                    module=max(module, module2), created=created)
    finally:
        lab_a.stop()
        lab_b.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: the lab mounts tmpfs partitions")
    cyrus_lab.ensure_cyrus_installed()
    rounds = []
    for number in range(args.repeat):
        workdir = tempfile.mkdtemp(prefix="imapops-bench-")
        result = one_round(args.users, workdir)
        rounds.append(result)
        print("round %d: baseline %.1f s, playbook %.1f s (x%.2f), re-run %.1f s (x%.2f of first), %d mailboxes"
              % (number + 1, result["baseline"], result["first"], result["first"] / result["baseline"],
                 result["rerun"], result["rerun"] / result["first"], result["created"]))
        sys.stdout.flush()
    median = dict((key, statistics.median(r[key] for r in rounds)) for key in ("baseline", "first", "rerun"))
    first_ratio = median["first"] / median["baseline"]
    rerun_ratio = median["rerun"] / median["first"]
    print("\n%d users x (INBOX + %d folders), median of %d rounds" % (args.users, len(FOLDERS), args.repeat))
    print("baseline imaplib, one session:   %7.2f s" % median["baseline"])
    print("onboarding playbook, end to end: %7.2f s  ratio %.2f (target <= %.1f)" % (
        median["first"], first_ratio, TARGET_FIRST))
    print("re-run, everything exists:       %7.2f s  ratio %.2f of first run (target <= %.1f), nothing created" % (
        median["rerun"], rerun_ratio, TARGET_RERUN))
    print("peak RSS: controller (ansible-playbook processes) %.0f MiB, mailbox module %.0f MiB" % (
        max(r["controller"] for r in rounds) / 2.0 ** 20, max(r["module"] for r in rounds) / 2.0 ** 20))
    met = first_ratio <= TARGET_FIRST and rerun_ratio <= TARGET_RERUN
    print("result: %s" % ("MET" if met else "MISSED"))
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
