"""Make the checkout importable as ``ansible_collections.imapops.cyrus``.

ansible-core resolves collection code through that package path. Tests run from
a plain checkout, so a throw-away ``ansible_collections/imapops/cyrus`` symlink
to the repository root is put on ``sys.path`` before any test module imports.
"""
import os
import sys
import tempfile

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _install_collection_path():
    try:
        import ansible_collections.imapops.cyrus  # noqa: F401  already importable
        return
    except ImportError:
        pass
    base = tempfile.mkdtemp(prefix="imapops-colpath-")
    ns_dir = os.path.join(base, "ansible_collections", "imapops")
    os.makedirs(ns_dir)
    os.symlink(REPO_ROOT, os.path.join(ns_dir, "cyrus"))
    sys.path.insert(0, base)
    # a previously imported (namespace) ansible_collections must see the new path
    for name in [m for m in sys.modules if m == "ansible_collections" or m.startswith("ansible_collections.")]:
        del sys.modules[name]


_install_collection_path()


def pytest_addoption(parser):
    """Options of tests/differential/, registered here so that ``pytest tests`` accepts them."""
    group = parser.getgroup("differential", "Cyrus-vs-engine differential suite")
    group.addoption("--differential-size", type=int, default=None,
                    help="number of generated configurations (default: the suite's, or $IMAPOPS_DIFF_CASES)")
    group.addoption("--differential-seed", default=None,
                    help="seed of the generated series (default: the suite's, or $IMAPOPS_DIFF_SEED)")
