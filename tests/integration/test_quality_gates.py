# -*- coding: utf-8 -*-
# Copyright: imapops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""QUALITY GATES (issue 6): the ecosystem checks, run by the README's test command.

- ansible-test sanity and units (tests/ansible_test.sh; about 1-2 minutes the first time,
  while ansible-test installs its pinned tools into ~/.ansible/test, 30-60 s later);
- ansible-lint, production profile, over roles, playbooks and metadata;
- ansible-doc for every module, filter and role: exit 0, no warning, examples and
  return values present;
- docs/variables.md up to date with the role argument specs, and the specs' defaults equal
  to the roles' defaults/main.yml;
- the changelog (antsibull-changelog lint);
- packaging: the built artifact holds no caches, test output or development harness, and the
  onboarding playbook runs from it, installed into an empty collections path, against a lab;
- versions: the newest ansible-core this machine runs (Python 3.12 from pyenv, in
  .venv-312) passes the unit tests and a real onboarding run; the rest of the suite runs
  on the project venv's ansible-core. meta/runtime.yml states the range.

Each gate prints the tool's own output when it fails.
"""

import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile

import pytest
import yaml

from ansible_run import REPO_ROOT, collections_path, write_inventory

BIN = os.path.dirname(sys.executable)
VENV_312 = os.path.join(REPO_ROOT, ".venv-312")
# the ansible-core releases this collection is tested with (meta/runtime.yml must admit both)
OLDEST_TESTED, NEWEST_TESTED = (2, 19), (2, 21)


def tool(name):
    path = os.path.join(BIN, name)
    if not os.path.exists(path):
        pytest.fail("%s is not installed in %s: pip install -r requirements-test.txt" % (name, BIN))
    return path


def ansible_env(**extra):
    env = dict(os.environ)
    env.update(ANSIBLE_COLLECTIONS_PATH=collections_path(), ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false",
               ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", NO_COLOR="1", PY_COLORS="0")
    env["PATH"] = BIN + os.pathsep + env.get("PATH", "")
    env.update(extra)
    return env


def run(command, timeout=900, **kwargs):
    kwargs.setdefault("env", ansible_env())
    kwargs.setdefault("cwd", REPO_ROOT)
    return subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                          timeout=timeout, check=False, **kwargs)


def tail(proc, lines=120):
    return "\n".join((proc.stdout + "\n" + proc.stderr).splitlines()[-lines:])


# --------------------------------------------------------------------------- ansible-test

def test_ansible_test_sanity_and_units():
    """tests/ansible_test.sh: ansible-test sanity (all tests, every Python found) and units."""
    proc = run(["bash", os.path.join(REPO_ROOT, "tests", "ansible_test.sh")], timeout=1500,
               env=ansible_env(ANSIBLE_TEST=tool("ansible-test")))
    assert proc.returncode == 0, tail(proc)
    assert "== sanity: exit 0" in proc.stdout and "== units: exit 0" in proc.stdout, tail(proc)
    assert "All targets skipped" not in proc.stdout + proc.stderr, tail(proc)
    ran = [int(count) for count in re.findall(r"=+ (\d+) passed", proc.stdout)]
    assert sum(ran) >= 30, "ansible-test units ran %s tests" % ran


# --------------------------------------------------------------------------- ansible-lint

def test_ansible_lint_production_profile():
    proc = run([tool("ansible-lint"), "--nocolor", "--offline", "--profile", "production"], timeout=600)
    assert proc.returncode == 0, tail(proc)
    assert re.search(r"Passed: 0 failure\(s\)", proc.stdout + proc.stderr), tail(proc)


# --------------------------------------------------------------------------- ansible-doc

def plugin_names():
    modules = sorted(os.path.splitext(os.path.basename(p))[0]
                     for p in glob.glob(os.path.join(REPO_ROOT, "plugins", "modules", "*.py"))
                     if not os.path.basename(p).startswith("_"))
    filters = set()
    for path in glob.glob(os.path.join(REPO_ROOT, "plugins", "filter", "*.py")):
        with open(path) as handle:
            source = handle.read()
        body = source[source.find("def filters(self)"):]
        filters.update(re.findall(r'^\s+"([a-z_0-9]+)":', body, re.MULTILINE))
    roles = sorted(os.path.basename(os.path.dirname(os.path.dirname(p)))
                   for p in glob.glob(os.path.join(REPO_ROOT, "roles", "*", "meta", "argument_specs.yml")))
    return {"module": modules, "filter": sorted(filters), "role": roles}


def test_every_plugin_and_role_has_documentation_files():
    names = plugin_names()
    assert "mailbox" in names["module"] and "select_partition" in names["filter"] and "onboard" in names["role"]
    for name in names["filter"]:
        assert os.path.exists(os.path.join(REPO_ROOT, "plugins", "filter", name + ".yml")), \
            "filter %s has no documentation file plugins/filter/%s.yml" % (name, name)
    for role in os.listdir(os.path.join(REPO_ROOT, "roles")):
        assert role in names["role"], "role %s has no meta/argument_specs.yml" % role


@pytest.mark.parametrize("kind", ["module", "filter", "role"])
def test_ansible_doc_shows_every_plugin_without_warnings(kind):
    names = ["imapops.cyrus." + name for name in plugin_names()[kind]]
    proc = run([tool("ansible-doc"), "-t", kind, "--json"] + names, timeout=300)
    assert proc.returncode == 0, tail(proc)
    assert "WARNING" not in proc.stderr and "ERROR" not in proc.stderr, proc.stderr
    docs = json.loads(proc.stdout)
    assert sorted(docs) == sorted(names)
    for name, doc in docs.items():
        if kind == "role":
            main = doc["entry_points"]["main"]
            assert main.get("short_description") and main.get("options"), name
            continue
        assert doc["doc"].get("short_description") and doc["doc"].get("description"), name
        assert (doc.get("examples") or "").strip(), "%s has no EXAMPLES" % name
        assert doc.get("return"), "%s has no RETURN" % name
        for option, spec in doc["doc"].get("options", {}).items():
            assert spec.get("description") and spec.get("type"), "%s option %s: description and type" % (name, option)
    # and the plain text form each user sees
    for name in names:
        proc = run([tool("ansible-doc"), "-t", kind, name], timeout=120)
        assert proc.returncode == 0 and "WARNING" not in proc.stderr, tail(proc)


# --------------------------------------------------------------------------- docs

def test_variables_reference_is_up_to_date():
    proc = run([sys.executable, os.path.join(REPO_ROOT, "scripts", "role_variables.py"), "--check"])
    assert proc.returncode == 0, proc.stderr + "\n(regenerate: python3 scripts/role_variables.py --write)"


def test_role_spec_defaults_equal_role_defaults():
    for spec_path in glob.glob(os.path.join(REPO_ROOT, "roles", "*", "meta", "argument_specs.yml")):
        role_dir = os.path.dirname(os.path.dirname(spec_path))
        with open(spec_path) as handle:
            options = yaml.safe_load(handle)["argument_specs"]["main"].get("options") or {}
        defaults_path = os.path.join(role_dir, "defaults", "main.yml")
        defaults = {}
        if os.path.exists(defaults_path):
            with open(defaults_path) as handle:
                defaults = yaml.safe_load(handle) or {}
        role = os.path.basename(role_dir)
        for name, value in defaults.items():
            if name.startswith("_"):
                continue
            assert name in options, "%s: default %s is not in meta/argument_specs.yml" % (role, name)
            assert options[name].get("default") == value, \
                "%s: %s defaults to %r but the spec says %r" % (role, name, value, options[name].get("default"))
        for name, spec in options.items():
            if "default" in spec and not spec.get("required"):
                assert name in defaults, "%s: %s has a spec default but none in defaults/main.yml" % (role, name)


def test_documentation_pages_exist_and_link():
    with open(os.path.join(REPO_ROOT, "docs", "getting-started.md")) as handle:
        guide = handle.read()
    assert "cluster.md" in guide and "variables.md" in guide


def test_changelog_lints_and_is_generated():
    proc = run([tool("antsibull-changelog"), "lint"])
    assert proc.returncode == 0 and not proc.stdout.strip(), tail(proc)
    with open(os.path.join(REPO_ROOT, "changelogs", "changelog.yaml")) as handle:
        releases = yaml.safe_load(handle)["releases"]
    with open(os.path.join(REPO_ROOT, "CHANGELOG.md")) as handle:
        changelog = handle.read()
    for version in releases:
        assert "v%s" % version.replace(".", "\\.") in changelog, "CHANGELOG.md lacks %s" % version


# --------------------------------------------------------------------------- packaging

FORBIDDEN_IN_ARTIFACT = re.compile(
    r"(^|/)(__pycache__|\.pytest_cache|\.hypothesis|\.git|\.venv[^/]*|\.ansible|\.benchmarks|output)(/|$)"
    r"|\.pyc$|\.tar\.gz$|^(lab|scripts|benchmarks|\.ci)(/|$)|^tests/(integration|differential|shim|fixtures)(/|$)")


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("build"))
    proc = run([tool("ansible-galaxy"), "collection", "build", "--output-path", out, REPO_ROOT])
    assert proc.returncode == 0, tail(proc)
    built = glob.glob(os.path.join(out, "imapops-cyrus-*.tar.gz"))
    assert len(built) == 1, os.listdir(out)
    return built[0]


def test_artifact_has_no_caches_test_output_or_harness(artifact):
    with tarfile.open(artifact) as tar:
        members = [m.name.lstrip("./") for m in tar.getmembers()]
    bad = [m for m in members if FORBIDDEN_IN_ARTIFACT.search(m)]
    assert bad == []
    for needed in ("MANIFEST.json", "FILES.json", "README.md", "COPYING", "CHANGELOG.md", "meta/runtime.yml",
                   "meta/execution-environment.yml", "meta/ee-requirements.txt", "bindep.txt",
                   "plugins/modules/mailbox.py", "plugins/doc_fragments/imap.py", "roles/onboard/tasks/main.yml",
                   "playbooks/onboard.yml", "docs/getting-started.md", "docs/variables.md"):
        assert needed in members, needed
    with tarfile.open(artifact) as tar:
        manifest = json.load(tar.extractfile("MANIFEST.json"))
    assert manifest["collection_info"]["name"] == "cyrus"


def test_installed_artifact_onboards_users(artifact, tmp_path, cyrus_lab):
    install_path = str(tmp_path / "collections")
    env = ansible_env(ANSIBLE_COLLECTIONS_PATH=install_path)
    proc = run([tool("ansible-galaxy"), "collection", "install", "--offline", "-p", install_path, artifact], env=env)
    assert proc.returncode == 0, tail(proc)
    installed = os.path.join(install_path, "ansible_collections", "imapops", "cyrus")
    assert os.path.isdir(installed) and not os.path.islink(installed)
    lab = cyrus_lab(partitions=(("p1", 16), ("p2", 16)), admin_password="Artifact-Run-Password-" + "9" * 10)
    lab.fill("p2", 8)
    inventory = write_inventory(str(tmp_path), lab)
    proc = run([tool("ansible-playbook"), "-vv", "-i", inventory, os.path.join(installed, "playbooks", "onboard.yml"),
                "-e", json.dumps({"onboard_users": ["ann", {"user": "ben", "partition": "p2"}],
                                  "onboard_users_csv": ""})],
               env=env, cwd=str(tmp_path))
    assert proc.returncode == 0, tail(proc)
    # the role and modules came from the installed artifact, not from this checkout
    assert os.path.join(installed, "roles", "onboard", "tasks") in proc.stdout
    assert "imapops-test-collections" not in proc.stdout
    assert lab.partition_of("user.ann") == "p1" and lab.partition_of("user.ben") == "p2"


def test_execution_environment_definition():
    with open(os.path.join(REPO_ROOT, "meta", "execution-environment.yml")) as handle:
        ee = yaml.safe_load(handle)
    assert ee["version"] == 1
    for key in ("python", "system"):
        assert os.path.exists(os.path.join(REPO_ROOT, ee["dependencies"][key])), ee["dependencies"][key]


# --------------------------------------------------------------------------- versions

def _version_tuple(text):
    return tuple(int(part) for part in re.findall(r"\d+", text)[:2])


def test_runtime_states_the_tested_range():
    with open(os.path.join(REPO_ROOT, "meta", "runtime.yml")) as handle:
        requires = yaml.safe_load(handle)["requires_ansible"]
    from ansible.module_utils.compat.version import LooseVersion  # noqa: E402 (in ansible-core)
    floor = re.search(r">=\s*([\d.]+)", requires).group(1)
    assert _version_tuple(floor) == OLDEST_TESTED, "requires_ansible %s: the oldest tested is %s" % (requires, OLDEST_TESTED)
    ceiling = re.search(r"<\s*([\d.]+)", requires)
    if ceiling:
        assert LooseVersion(ceiling.group(1)) > LooseVersion("%d.%d" % NEWEST_TESTED)
    import ansible
    assert _version_tuple(ansible.__version__) >= OLDEST_TESTED


def python312():
    candidates = [os.environ.get("IMAPOPS_PYTHON312")] + sorted(
        glob.glob(os.path.expanduser("~/.pyenv/versions/3.12*/bin/python3.12")), reverse=True) + [
        shutil.which("python3.12")]
    for candidate in filter(None, candidates):
        if run([candidate, "-c", "import sys; assert sys.version_info[:2] == (3, 12)"], timeout=60).returncode == 0:
            return candidate
    return None


@pytest.fixture(scope="module")
def newest_venv():
    """.venv-312 with the newest ansible-core for Python 3.12 (made here when missing)."""
    python = os.path.join(VENV_312, "bin", "python")
    check = "import ansible, pytest, hypothesis, psutil, yaml; print(ansible.__version__)"
    if not os.path.exists(python) or run([python, "-c", check], timeout=120).returncode != 0:
        base = python312()
        if base is None:
            pytest.skip("no Python 3.12 here (pyenv ~/.pyenv/versions/3.12*, or set IMAPOPS_PYTHON312)")
        proc = run([base, "-m", "venv", VENV_312], timeout=300)
        assert proc.returncode == 0, tail(proc)
        proc = run([python, "-m", "pip", "install", "-q", "--disable-pip-version-check",
                    "ansible-core>=%d.%d" % NEWEST_TESTED, "pytest", "hypothesis", "psutil", "PyYAML"], timeout=900)
        assert proc.returncode == 0, tail(proc)
    proc = run([python, "-c", check], timeout=120)
    assert proc.returncode == 0, tail(proc)
    version = proc.stdout.strip()
    assert _version_tuple(version) >= NEWEST_TESTED, "ansible-core %s in %s" % (version, VENV_312)
    return VENV_312


def test_newest_ansible_core_unit_tests(newest_venv):
    python = os.path.join(newest_venv, "bin", "python")
    proc = run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", os.path.join(REPO_ROOT, "tests", "unit")],
               timeout=900)
    assert proc.returncode == 0, tail(proc)
    assert re.search(r"\d+ passed", proc.stdout), tail(proc)


def test_newest_ansible_core_onboards_users(newest_venv, tmp_path, cyrus_lab):
    lab = cyrus_lab(partitions=(("p1", 16), ("p2", 16)), admin_password="Newest-Core-Password-" + "5" * 10)
    lab.fill("p1", 8)
    inventory = write_inventory(str(tmp_path), lab)
    playbook = os.path.join(REPO_ROOT, "playbooks", "onboard.yml")
    users = json.dumps({"onboard_users": ["cleo", "dirk"], "onboard_users_csv": ""})
    env = ansible_env()
    env["PATH"] = os.path.join(newest_venv, "bin") + os.pathsep + env["PATH"]
    command = [os.path.join(newest_venv, "bin", "ansible-playbook"), "-i", inventory, playbook, "-e", users]
    proc = run(command, env=env)
    assert proc.returncode == 0, tail(proc)
    assert "[DEPRECATION WARNING]" not in proc.stdout + proc.stderr, tail(proc)
    assert lab.partition_of("user.cleo") == "p2" and lab.partition_of("user.dirk") == "p2"
    again = run(command, env=env)
    assert again.returncode == 0 and re.search(r"lab-backend\s*: ok=\d+\s+changed=0 ", again.stdout), tail(again)
    version = run([os.path.join(newest_venv, "bin", "ansible-playbook"), "--version"], env=env).stdout
    assert _version_tuple(version.split("core")[1]) >= NEWEST_TESTED
