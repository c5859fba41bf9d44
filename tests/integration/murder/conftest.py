# -*- coding: utf-8 -*-
# Copyright: imapops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures for a real Cyrus IMAP 3.6.1 Murder on loopback (``lab/murder_lab.py``).

Usage in a test::

    def test_something(murder_lab):
        lab = murder_lab(frontend_conf={"serverlist_select_mode": "freespace-percent-most"})
        conn = lab.frontend.imap()        # admin session on the frontend
        lab.stop_backend("backend2")      # a backend goes down (start_backend brings it back)

Every lab is stopped at teardown (all masters ended, tmpfs unmounted, root removed). The
``cyrus_installation`` fixture of ``tests/integration/conftest.py`` skips without root.
"""
import os
import sys

import pytest

LAB_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))), "lab")
if LAB_DIR not in sys.path:
    sys.path.insert(0, LAB_DIR)

import murder_lab as murder_lab_module  # noqa: E402  after the path insert


@pytest.fixture
def murder_lab(cyrus_installation):
    """Factory: ``murder_lab(**MurderLab options)`` returns a started Murder, stopped at teardown."""
    labs = []

    def start_lab(**options):
        lab = murder_lab_module.MurderLab(**options)
        labs.append(lab)
        return lab.start()

    yield start_lab
    for lab in reversed(labs):
        lab.stop()


@pytest.fixture
def murder_module():
    return murder_lab_module
