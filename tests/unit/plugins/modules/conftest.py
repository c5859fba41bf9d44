# -*- coding: utf-8 -*-
# Copyright: imapops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run a module's main() in-process with given arguments and return its JSON result.

Uses ``ansible.module_utils.testing.patch_module_args`` (ansible-core 2.19+), the supported
way to hand arguments to AnsibleModule in a unit test.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json

import pytest

from ansible.module_utils.testing import patch_module_args


@pytest.fixture
def run_module(capsys):
    """run_module(module, args) -> (exit code, result dict)."""
    def run(module, args):
        with patch_module_args(args):
            with pytest.raises(SystemExit) as exited:
                module.main()
        out = capsys.readouterr().out
        return exited.value.code, json.loads(out)
    return run
