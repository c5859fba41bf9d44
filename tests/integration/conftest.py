# -*- coding: utf-8 -*-
# Copyright: imapops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures that run a real, private Cyrus IMAP 3.6.1 backend (``lab/cyrus_lab.py``).

Usage in a test::

    def test_something(cyrus_lab):
        lab = cyrus_lab(partitions=(("p1", 64), ("p2", 32)),
                        conf={"partition_select_mode": "freespace-percent-most"})
        conn = lab.imap()          # logged in as lab.admin_user
        ...

Every lab a test starts is stopped (master ended, tmpfs unmounted, root removed) at
teardown. The tests need root (tmpfs mounts) and skip otherwise; Cyrus is installed with
apt-get once per session if it is missing.
"""
import os
import sys

import pytest

LAB_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "lab")
if LAB_DIR not in sys.path:
    sys.path.insert(0, LAB_DIR)

import cyrus_lab as cyrus_lab_module  # noqa: E402  after the path insert


@pytest.fixture(scope="session")
def cyrus_installation():
    """The installed Cyrus version string; skips the test when not running as root."""
    if os.geteuid() != 0:
        pytest.skip("the Cyrus lab mounts tmpfs partitions and runs master as root: run as root")
    return cyrus_lab_module.ensure_cyrus_installed()


@pytest.fixture
def cyrus_lab(cyrus_installation):
    """Factory: ``cyrus_lab(**CyrusLab options)`` returns a started lab, stopped at teardown."""
    labs = []

    def start_lab(**options):
        lab = cyrus_lab_module.CyrusLab(**options)
        labs.append(lab)
        return lab.start()

    yield start_lab
    for lab in reversed(labs):
        lab.stop()
