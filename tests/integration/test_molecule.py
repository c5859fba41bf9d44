# -*- coding: utf-8 -*-
# Copyright: imapops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""``molecule test -s <scenario>`` for every scenario of extensions/molecule.

Molecule finds a collection's scenarios in ``extensions/molecule/<scenario>/molecule.yml``
when it runs where ``galaxy.yml`` is (the repository root), and the shared base
``extensions/molecule/config.yml`` there too. Each scenario's sequence (destroy, prepare,
check, converge, idempotence, verify, destroy) runs on localhost with the default driver.

The scenarios run concurrently (IMAPOPS_MOLECULE_JOBS, default 3), each with its own
ephemeral directory, so the whole set takes about as long as the slowest ones. Molecule is
run with the Python running pytest (``python -m molecule``), so the project's virtualenv and
the system Python both work, each with its own ansible-playbook.
"""

import concurrent.futures
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import pytest

from ansible_run import REPO_ROOT

SCENARIO_ROOT = os.path.join(REPO_ROOT, "extensions", "molecule")
SCENARIOS = sorted(name for name in os.listdir(SCENARIO_ROOT)
                   if os.path.isfile(os.path.join(SCENARIO_ROOT, name, "molecule.yml")))
STEPS = ("prepare", "check", "converge", "idempotence", "verify", "destroy")
JOBS = max(1, int(os.environ.get("IMAPOPS_MOLECULE_JOBS", "3")))
TIMEOUT = 900
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _molecule_problem():
    if os.geteuid() != 0:
        return "the scenarios chown to cyrus:mail and the onboard one mounts tmpfs: run as root"
    if not os.access("/usr/lib/cyrus/bin/cyr_info", os.X_OK):
        return "Cyrus IMAP is not installed"
    probe = subprocess.run([sys.executable, "-m", "molecule", "--version"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, universal_newlines=True)
    if probe.returncode != 0:
        return "molecule is not installed for %s: %s" % (sys.executable, probe.stdout.strip()[-300:])
    return None


class MoleculeRuns(object):
    """Starts ``molecule test`` for the selected scenarios in a thread pool."""

    def __init__(self, scenarios):
        self.base = tempfile.mkdtemp(prefix="imapops-molecule-tests-")
        self.executor = concurrent.futures.ThreadPoolExecutor(max_workers=JOBS)
        self.futures = dict((name, self.executor.submit(self._run, name)) for name in scenarios)

    def _run(self, scenario):
        ephemeral = os.path.join(self.base, scenario)
        os.makedirs(ephemeral)
        env = dict(os.environ)
        for name in list(env):
            if name.startswith("MOLECULE_"):
                del env[name]
        env.update(MOLECULE_EPHEMERAL_DIRECTORY=ephemeral, NO_COLOR="1", PY_COLORS="0", ANSIBLE_NOCOLOR="1",
                   ANSIBLE_FORCE_COLOR="0", PATH=os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", ""))
        began = time.monotonic()
        try:
            proc = subprocess.run([sys.executable, "-m", "molecule", "test", "-s", scenario], cwd=REPO_ROOT,
                                  env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  universal_newlines=True, timeout=TIMEOUT)
            code, output = proc.returncode, proc.stdout
        except subprocess.TimeoutExpired as exc:
            code, output = "timeout", (exc.output or b"").decode(errors="replace") if isinstance(
                exc.output, bytes) else (exc.output or "")
        return dict(code=code, output=_ANSI.sub("", output), seconds=time.monotonic() - began,
                    ephemeral=ephemeral)

    def result(self, scenario):
        return self.futures[scenario].result()

    def close(self):
        self.executor.shutdown(wait=True)
        shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture(scope="module")
def molecule_runs(request):
    problem = _molecule_problem()
    if problem:
        pytest.skip(problem)
    selected = [item.callspec.params["scenario"] for item in request.session.items
                if item.module is request.module and hasattr(item, "callspec")]
    runs = MoleculeRuns(selected or SCENARIOS)
    yield runs
    runs.close()


def test_scenarios_are_where_molecule_looks_for_them():
    assert os.path.isfile(os.path.join(REPO_ROOT, "galaxy.yml")), "collection mode needs galaxy.yml at the root"
    assert os.path.isfile(os.path.join(SCENARIO_ROOT, "config.yml")), "the shared base config"
    assert set(SCENARIOS) >= {"distribution_fresh", "distribution_debian", "distribution_override",
                              "distribution_doc_names", "onboard"}
    assert not os.path.isdir(os.path.join(REPO_ROOT, "molecule")), \
        "a molecule/ directory at the root would make molecule ignore extensions/molecule"


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_molecule_scenario(molecule_runs, scenario):
    result = molecule_runs.result(scenario)
    output = result["output"]
    assert result["code"] == 0, "molecule test -s %s: %s after %.0f s\n%s" % (
        scenario, result["code"], result["seconds"], output[-6000:])
    for step in STEPS:
        assert re.search(r"%s\s+\S+\s+%s: Executed: Successful" % (re.escape(scenario), step), output), \
            "step %s did not run successfully:\n%s" % (step, output[-3000:])
    # destroy removed the scenario's work directory (and stopped its lab)
    workdir = "/tmp/imapops-molecule-%s-%s" % (scenario, hashlib.sha1(result["ephemeral"].encode()).hexdigest()[:10])
    assert not os.path.exists(workdir), "%s left behind" % workdir
