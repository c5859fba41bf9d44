# -*- coding: utf-8 -*-
# Copyright: imapops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The shared IMAP connection options: fresh each call, password no_log, docs agree."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import yaml

from ansible_collections.imapops.cyrus.plugins.doc_fragments.imap import ModuleDocFragment
from ansible_collections.imapops.cyrus.plugins.module_utils.imap import imap_common_argument_spec


def test_a_fresh_dict_every_call():
    first = imap_common_argument_spec()
    first["login_host"]["default"] = "changed"
    first["extra"] = {}
    assert imap_common_argument_spec()["login_host"]["default"] == "localhost"
    assert "extra" not in imap_common_argument_spec()


def test_password_is_no_log_and_has_an_environment_fallback():
    spec = imap_common_argument_spec()
    assert spec["login_password"]["no_log"] is True
    fallbacks = dict((name, option["fallback"][1]) for name, option in spec.items() if "fallback" in option)
    assert fallbacks == {"login_host": ["CYRUS_IMAP_HOST"], "login_port": ["CYRUS_IMAP_PORT"],
                         "login_user": ["CYRUS_ADMIN_USER"], "login_password": ["CYRUS_ADMIN_PASSWORD"]}


def test_secure_defaults():
    spec = imap_common_argument_spec()
    assert spec["validate_certs"]["default"] is True
    assert spec["allow_cleartext_password"]["default"] is False
    assert spec["tls"]["choices"] == ["none", "starttls", "implicit"]


def test_doc_fragment_documents_every_option_with_the_same_type_default_and_choices():
    documented = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"]
    spec = imap_common_argument_spec()
    assert sorted(documented) == sorted(spec)
    for name, option in spec.items():
        doc = documented[name]
        assert doc["type"] == option["type"], name
        assert doc.get("default") == option.get("default"), name
        assert doc.get("choices") == option.get("choices"), name
