# -*- coding: utf-8 -*-
# Copyright: imapops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller-side helper shared by the filter plugins."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.imapops.cyrus.plugins.module_utils.distribution import SelectionError


def engine_call(filter_name, function, *args, **kwargs):
    """Call into the engine; its errors become AnsibleFilterError prefixed with the filter's name."""
    try:
        return function(*args, **kwargs)
    except SelectionError as exc:
        raise AnsibleFilterError("%s: %s" % (filter_name, exc)) from exc
