# -*- coding: utf-8 -*-
# Copyright: imapops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the in-place imapd.conf editor (plugins/module_utils/imapd_conf_edit.py).

Tricky files: continuation lines, comment lines ending in a backslash, CRLF, mixed-case
keys, ``@include``, duplicates already present, byte-for-byte preservation. The collection's
reader (itself checked against cyr_info) is the referee for what Cyrus reads after an edit.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import stat

import pytest

from ansible_collections.imapops.cyrus.plugins.module_utils import imapd_conf_edit as edit
from ansible_collections.imapops.cyrus.plugins.module_utils.imapd_conf import (
    DOC_PAGE_NAMES,
    option_type,
    parse_imapd_conf,
    stored_value,
)
from ansible_collections.imapops.cyrus.plugins.module_utils.imapd_conf_edit import (
    CyrusCheck,
    ImapdConfEditError,
    ImapdConfText,
    check_with_parser,
    install,
    plan_edit,
)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEBIAN_IMAPD_CONF = os.path.join(REPO, "extensions", "molecule", "resources", "files", "debian-imapd.conf")
BASE = "configdirectory: /var/lib/cyrus\n"


def read(text, service="imap"):
    """What Cyrus reads from ``text``: the collection's reader."""
    return parse_imapd_conf(text, service=service, need_partition_data=False)


def physical(text):
    return text.splitlines(True)


def removed_and_added(before, after):
    """Lines only in ``before`` and only in ``after`` (multiset difference, order kept)."""
    remaining = list(physical(after))
    gone = []
    for line in physical(before):
        if line in remaining:
            remaining.remove(line)
        else:
            gone.append(line)
    return gone, remaining


# -- reading: logical lines as Cyrus builds them ------------------------------------------

def test_logical_lines_and_cyrus_line_numbers():
    text = ("# head\n"
            "partition-a: /srv/\\\n"
            "a\n"
            "# comment \\\n"
            "partition-ghost: /srv/ghost\n"
            "\n"
            "Partition-B: /srv/b\r\n"
            "@include: /etc/other.conf\n"
            "last: x\\\n")
    document = ImapdConfText(text)
    kinds = [(line.kind, line.first_lineno, line.lineno) for line in document.lines]
    assert kinds == [("comment", 1, 1), ("option", 2, 3), ("comment", 4, 5), ("blank", 6, 6),
                     ("option", 7, 7), ("directive", 8, 8), ("dangling", 9, 9)]
    assert document.render() == text
    part_a = document.lines[1]
    assert (part_a.name, part_a.value, part_a.where()) == ("partition-a", "/srv/a", "lines 2-3")
    assert document.lines[4].key == "Partition-B" and document.lines[4].value == "/srv/b"
    assert "partition-ghost" not in document.occurrences()


def test_line_numbers_agree_with_the_reader():
    text = ("a: 1\n"
            "b: 2 \\\n"
            "  continued\n"
            "# c \\\n"
            "d: swallowed\n"
            "E: 5\r\n"
            "\\\n"
            "f: 6\n")
    document = ImapdConfText(text)
    conf = parse_imapd_conf(text, service=None, need_partition_data=False)
    assert {line.name: line.lineno for line in document.option_lines()} == conf.lines
    assert {line.name: line.value for line in document.option_lines()} == dict(conf.raw)


def test_backslash_before_crlf_is_not_a_continuation():
    document = ImapdConfText("a: x\\\r\nb: y\r\n")
    assert [line.name for line in document.option_lines()] == ["a", "b"]
    assert document.lines[0].value == "x\\"


# -- byte-for-byte preservation ---------------------------------------------------------

def test_debian_stock_file_keeps_every_other_byte():
    with open(DEBIAN_IMAPD_CONF, "rb") as handle:
        before = handle.read()
    plan = plan_edit(before, {"partition_select_mode": "freespace-percent-most", "defaultpartition": None,
                              "partition-p4": "/srv/cyrus/p4", "partition-news": None})
    gone, added = removed_and_added(plan.before, plan.after)
    assert gone == ["defaultpartition: default\n", "partition-news: /var/spool/cyrus/news\n"]
    assert added == ["partition_select_mode: freespace-percent-most\n", "partition-p4: /srv/cyrus/p4\n"]
    # the new lines follow the last partition line, before the unrelated options
    after = physical(plan.after)
    index = after.index("partition_select_mode: freespace-percent-most\n")
    assert after[index - 1] == "partition-default: /var/spool/cyrus/mail\n"
    assert after[index + 2:index + 4] == ["\n", "# News setup\n"]
    assert plan.after_bytes.replace(b"partition_select_mode: freespace-percent-most\n", b"") \
        .replace(b"partition-p4: /srv/cyrus/p4\n", b"") == \
        before.replace(b"defaultpartition: default\n", b"").replace(b"partition-news: /var/spool/cyrus/news\n", b"")
    assert [c["action"] for c in plan.changes] == ["added", "removed", "added", "removed"]


def test_nothing_to_do_gives_the_same_bytes():
    text = "# x\r\n" + BASE + "partition-p1: /srv/p1\npartition_select_mode: random\n"
    plan = plan_edit(text, {"partition-p1": "/srv/p1", "partition_select_mode": "random",
                            "defaultpartition": None})
    assert not plan.changed and plan.after == text and plan.changes == []


def test_invalid_utf8_survives():
    before = b"# caf\xe9 \xff\n" + BASE.encode() + b"x_sasl_note: \xfe\n"
    plan = plan_edit(before, {"partition_select_mode": "random"})
    assert plan.after_bytes.startswith(before)
    assert plan.after_bytes.endswith(b"partition_select_mode: random\n")


# -- replacing in place -------------------------------------------------------------------

def test_continued_line_is_replaced_by_one_line_in_place():
    text = BASE + "partition-main: /srv/\\\nold\n# after\n"
    plan = plan_edit(text, {"partition-main": "/srv/new"})
    assert plan.after == BASE + "partition-main: /srv/new\n# after\n"
    assert plan.changes == [dict(option="partition-main", action="updated", before="/srv/old",
                                 after="/srv/new", line=3, line_after=2)]


def test_continued_line_with_the_same_value_is_left_as_written():
    text = BASE + "partition-main: /srv/\\\nmain\n"
    assert not plan_edit(text, {"partition-main": "/srv/main"}).changed


def test_mixed_case_key_is_replaced_in_place_keeping_its_spelling_and_separator():
    text = BASE + "  Partition-Main:\t/srv/old\npartition_select_mode: random\n"
    plan = plan_edit(text, {"partition-main": "/srv/new", "partition_select_mode": "freespace-most"})
    assert plan.after == BASE + "  Partition-Main:\t/srv/new\npartition_select_mode: freespace-most\n"
    assert read(plan.after).partitions == {"main": "/srv/new"}


def test_mixed_case_key_is_removed():
    text = BASE + "DefaultPartition: main\npartition-main: /srv/main\n"
    plan = plan_edit(text, {"defaultpartition": None})
    assert plan.after == BASE + "partition-main: /srv/main\n"


def test_crlf_file_keeps_crlf_and_new_lines_use_it():
    text = "# crlf\r\n" + "configdirectory: /var/lib/cyrus\r\npartition-p1: /srv/p1\r\nallowplaintext: yes\r\n"
    plan = plan_edit(text, {"partition-p1": "/srv/one", "partition_select_mode": "random"})
    assert plan.after == ("# crlf\r\nconfigdirectory: /var/lib/cyrus\r\npartition-p1: /srv/one\r\n"
                          "partition_select_mode: random\r\nallowplaintext: yes\r\n")
    assert read(plan.after).get("partition_select_mode") == "random"


def test_same_value_in_another_spelling_is_kept():
    text = BASE + "partition_select_usage_reinit: 0x10\nallowplaintext: 1\n"
    plan = plan_edit(text, {"partition_select_usage_reinit": 16, "allowplaintext": True})
    assert not plan.changed
    plan = plan_edit(text, {"partition_select_usage_reinit": 17})
    assert "partition_select_usage_reinit: 17\n" in plan.after


def test_an_invalid_current_value_is_replaced():
    text = BASE + "partition_select_soft_usage_limit: 80%\n"
    plan = plan_edit(text, {"partition_select_soft_usage_limit": 80})
    assert plan.after == BASE + "partition_select_soft_usage_limit: 80\n"


# -- where new lines go -------------------------------------------------------------------

def test_new_line_never_joins_a_comment_ending_in_a_backslash():
    text = BASE + "# partition-old: /srv/old \\\npartition-ghost: /srv/ghost\n"
    plan = plan_edit(text, {"partition-ghost": "/srv/ghost"})
    assert plan.changed, "the swallowed line is part of the comment: Cyrus has no partition-ghost"
    assert read(plan.after).partitions == {"ghost": "/srv/ghost"}
    assert plan.after.startswith(text)
    assert any("comment line ends in a backslash" in warning for warning in plan.warnings)


def test_new_line_goes_before_a_last_line_without_newline():
    text = BASE + "allowplaintext: yes"
    plan = plan_edit(text, {"partition_select_mode": "random"})
    assert plan.after == BASE + "partition_select_mode: random\nallowplaintext: yes"


def test_new_line_goes_before_a_last_line_ending_in_a_backslash_without_newline():
    text = BASE + "admins: cyrus\\"
    plan = plan_edit(text, {"partition_select_mode": "random"})
    assert plan.after == BASE + "partition_select_mode: random\nadmins: cyrus\\"
    assert read(plan.after).get("admins") == "cyrus\\"


def test_new_line_goes_before_a_dangling_continuation():
    text = BASE + "admins: cyrus\n# dangling \\\n"
    plan = plan_edit(text, {"partition_select_mode": "random"})
    assert plan.after == BASE + "admins: cyrus\npartition_select_mode: random\n# dangling \\\n"
    assert any("ends with a continuation" in warning for warning in plan.warnings)


def test_empty_file():
    plan = plan_edit(b"", {"configdirectory": "/var/lib/cyrus", "partition-p1": "/srv/p1"})
    assert plan.after == "configdirectory: /var/lib/cyrus\npartition-p1: /srv/p1\n"


def test_other_options_go_to_the_end_and_distribution_ones_after_the_partitions():
    text = BASE + "partition-p1: /srv/p1\n# rest\nadmins: cyrus\n"
    plan = plan_edit(text, {"sasl_mech_list": "PLAIN", "partition-p2": "/srv/p2"})
    assert plan.after == BASE + "partition-p1: /srv/p1\npartition-p2: /srv/p2\n# rest\nadmins: cyrus\nsasl_mech_list: PLAIN\n"


def test_include_is_left_alone():
    text = BASE + "@include: /etc/imapd.local.conf\npartition-p1: /srv/p1\n@include: relative.conf\n"
    plan = plan_edit(text, {"partition-p1": "/srv/one", "partition-p2": "/srv/p2"})
    assert plan.after == (BASE + "@include: /etc/imapd.local.conf\npartition-p1: /srv/one\npartition-p2: /srv/p2\n"
                          "@include: relative.conf\n")
    assert [line.value for line in plan.document.relative_includes()] == ["relative.conf"]
    with pytest.raises(ImapdConfEditError):
        plan_edit(text, {"@include": "/x"})


# -- refusals -------------------------------------------------------------------------

def test_duplicates_already_present_are_refused_with_both_line_numbers():
    text = BASE + "partition-p1: /a\nadmins: x\nPartition-P1: /b\n"
    with pytest.raises(ImapdConfEditError) as info:
        plan_edit(text, {"partition_select_mode": "random"}, path="/etc/imapd.conf")
    assert "partition-p1 on line 2 and line 4" in info.value.message
    assert info.value.lines == [2, 4]
    assert str(info.value).startswith("/etc/imapd.conf: ")


def test_duplicates_name_continued_lines_and_every_key():
    text = (BASE + "defaultpartition: a\npartition-a: /\\\nsrv\ndefaultpartition: b\n"
            "partition-a: /x\n")
    with pytest.raises(ImapdConfEditError) as info:
        plan_edit(text, {})
    assert "defaultpartition on line 2 and line 5" in info.value.message
    assert "partition-a on lines 3-4 and line 6" in info.value.message


def test_service_override_is_not_a_duplicate():
    text = BASE + "partition_select_mode: freespace-most\nimap_partition_select_mode: random\n"
    plan = plan_edit(text, {"partition_select_mode": "freespace-percent-most"})
    assert plan.after == BASE + "partition_select_mode: freespace-percent-most\nimap_partition_select_mode: random\n"


@pytest.mark.parametrize("value, reason", [
    ("", "empty value"),
    ("   ", "empty value"),
    ("a\nb", "one line"),
    ("/srv/p1\\", "backslash"),
    (1.5, "must be a string"),
    (["p1", "p 2"], "list items"),
])
def test_bad_values_are_refused(value, reason):
    with pytest.raises(ImapdConfEditError) as info:
        plan_edit(BASE, {"partition-p1": value})
    assert reason in info.value.message


def test_keys_are_checked_and_lower_cased():
    assert "partition-p1: /srv\n" in plan_edit(BASE, {"Partition-P1": "/srv"}).after
    for key in ("bad key", "x:y", "partition-", "naïve"):
        with pytest.raises(ImapdConfEditError):
            plan_edit(BASE, {key: "v"})
    with pytest.raises(ImapdConfEditError) as info:
        plan_edit(BASE, {"partition-a": "/a", "Partition-A": "/b"})
    assert "given twice" in info.value.message


def test_values_are_normalised():
    plan = plan_edit(BASE, {"partition_select_exclude": ["p1", "p2"], "partition_select_usage_reinit": 5,
                            "allowplaintext": False, "admins": "  cyrus  "})
    assert "partition_select_exclude: p1 p2\n" in plan.after
    assert "partition_select_usage_reinit: 5\n" in plan.after
    assert "allowplaintext: no\n" in plan.after
    assert "admins: cyrus\n" in plan.after
    with pytest.raises(ImapdConfEditError):
        plan_edit(BASE, {"admins": True})


# -- the documentation page's names ---------------------------------------------------------

DOC_FILE = (BASE + "partition-p1: /srv/p1\n"
            "partition_mode: freespace-percent-most\n"
            "partition_mode_exclude: p3\n"
            "Serverlist_Mode: random\n")


@pytest.mark.parametrize("name", list(DOC_PAGE_NAMES))
def test_doc_names_are_never_written(name):
    with pytest.raises(ImapdConfEditError) as info:
        plan_edit(BASE, {name: "random"})
    assert DOC_PAGE_NAMES[name] in info.value.message


def test_doc_names_are_reported_and_left_without_fix():
    plan = plan_edit(DOC_FILE, {"partition_select_usage_reinit": 3})
    assert [(d["key"], d["real"], d["line"], d["action"]) for d in plan.doc_names] == [
        ("partition_mode", "partition_select_mode", 3, "reported"),
        ("partition_mode_exclude", "partition_select_exclude", 4, "reported"),
        ("Serverlist_Mode", "serverlist_select_mode", 5, "reported")]
    assert plan.after == DOC_FILE.replace("/srv/p1\n", "/srv/p1\npartition_select_usage_reinit: 3\n")
    assert sum("documentation page's name" in warning for warning in plan.warnings) == 3


def test_doc_names_are_renamed_in_place_when_asked():
    plan = plan_edit(DOC_FILE, {"partition_select_mode": "random"}, fix_doc_names=True)
    assert plan.after == (BASE + "partition-p1: /srv/p1\n"
                          "partition_select_mode: random\n"
                          "partition_select_exclude: p3\n"
                          "serverlist_select_mode: random\n")
    assert [(c["option"], c.get("from_option"), c["action"], c["after"]) for c in plan.changes] == [
        ("partition_select_mode", "partition_mode", "renamed", "random"),
        ("partition_select_exclude", "partition_mode_exclude", "renamed", "p3"),
        ("serverlist_select_mode", "serverlist_mode", "renamed", "random")]
    conf = read(plan.after)
    assert conf.get("partition_select_mode") == "random"
    assert conf.unknown_options == []
    assert not plan_edit(plan.after, {"partition_select_mode": "random"}, fix_doc_names=True).changed


def test_doc_name_is_removed_when_the_real_option_is_set():
    text = BASE + "partition_mode: random\npartition_select_mode: freespace-most\n"
    plan = plan_edit(text, {}, fix_doc_names=True)
    assert plan.after == BASE + "partition_select_mode: freespace-most\n"
    assert plan.doc_names[0]["action"] == "removed"
    assert any("already set" in warning for warning in plan.warnings)


def test_doc_name_may_be_removed_explicitly():
    plan = plan_edit(DOC_FILE, {"partition_mode": None})
    assert "partition_mode:" not in plan.after


# -- overrides ---------------------------------------------------------------------------

def test_service_overrides_are_reported_and_kept():
    text = BASE + "IMAP_Partition_Select_Mode: random\nlmtpunix_partition-p1: /srv/lmtp\npartition-p1: /srv/p1\n"
    plan = plan_edit(text, {"partition_select_mode": "freespace-most", "partition-p1": "/srv/one"})
    assert [(o["key"], o["option"], o["service"], o["value"], o["line"]) for o in plan.overrides] == [
        ("imap_partition_select_mode", "partition_select_mode", "imap", "random", 2),
        ("lmtpunix_partition-p1", "partition-p1", "lmtpunix", "/srv/lmtp", 3)]
    assert any("overrides partition_select_mode for the service 'imap'" in w for w in plan.warnings)
    assert read(plan.after, "imap").get("partition_select_mode") == "random"
    assert read(plan.after, "pop3").get("partition_select_mode") == "freespace-most"


# -- checks of a candidate ---------------------------------------------------------------

def test_parser_check_refuses_and_quotes_the_line():
    plan = plan_edit(BASE + "partition-p1: /srv/p1\n", {"partition_select_mode": "freespace_most"})
    with pytest.raises(ImapdConfEditError) as info:
        check_with_parser(plan.after, "/etc/imapd.conf", ["imap"], written_keys=plan.written_keys)
    message = info.value.message
    assert "invalid value 'freespace_most' for partition_select_mode in line 3" in message
    assert "(line 3 reads 'partition_select_mode: freespace_most')" in message
    assert info.value.lines == [3]


def test_parser_check_is_made_for_every_service():
    # generic key after a service-specific one: skipped for imap, fatal for pop3
    text = BASE + "partition-p1: /srv/p1\nimap_partition_select_mode: random\npartition_select_mode: bad\n"
    with pytest.raises(ImapdConfEditError) as info:
        check_with_parser(text, None, ["imap", "pop3"])
    assert "invalid value 'bad'" in info.value.message


def test_parser_check_refuses_a_written_unknown_key():
    plan = plan_edit(BASE + "partition-p1: /srv/p1\n", {"partition_selct_mode": "random"})
    with pytest.raises(ImapdConfEditError) as info:
        check_with_parser(plan.after, None, ["imap"], written_keys=plan.written_keys)
    assert "does not know the option partition_selct_mode" in info.value.message
    assert check_with_parser(plan.after, None, ["imap"]) == ["partition_selct_mode"]


def test_parser_check_needs_the_default_partition():
    with pytest.raises(ImapdConfEditError) as info:
        check_with_parser(BASE + "partition-p1: /srv/p1\ndefaultpartition: p2\n", None, ["imap"])
    assert "partition-p2 option not specified" in info.value.message


class FakeRun(object):
    """A subprocess.run stand-in: answers per command, records the commands."""

    def __init__(self, answers):
        self.answers = answers
        self.calls = []

    def __call__(self, args, **kwargs):
        self.calls.append(list(args))
        code, out, err = self.answers.get(args[-1], (0, "", ""))
        return type("Done", (), dict(returncode=code, stdout=out.encode(), stderr=err.encode()))()


def test_cyrus_check_runs_conf_per_service_then_conf_lint(tmp_path):
    candidate = tmp_path / "imapd.conf"
    candidate.write_text(BASE + "partition-p1: /srv/p1\nimap_foo: 1\n")
    runner = FakeRun({"conf-lint": (0, "imap_foo: 1\n", "")})
    check = CyrusCheck("/bin/true", cyrus_conf=str(tmp_path / "missing-cyrus.conf"), services=["imap", "pop3"],
                       runner=runner)
    assert check.check(str(candidate)) == ["imap_foo"]
    assert [call[3:] for call in runner.calls[:3]] == [["conf"], ["-n", "imap", "conf"], ["-n", "pop3", "conf"]]
    assert runner.calls[3][-1] == "conf-lint" and runner.calls[3][3] == "-M"
    assert not os.path.exists(runner.calls[3][4]), "the scratch cyrus.conf is removed"


def test_cyrus_check_quotes_cyrus_and_the_line(tmp_path):
    candidate = tmp_path / "imapd.conf"
    candidate.write_text(BASE + "partition_select_mode: Random\n")
    runner = FakeRun({"conf": (78, "", "fatal error: invalid value 'Random' for partition_select_mode in line 2\n")})
    with pytest.raises(ImapdConfEditError) as info:
        CyrusCheck("/bin/true", services=[], runner=runner).check(str(candidate), path="/etc/imapd.conf")
    assert info.value.cyrus_message == "fatal error: invalid value 'Random' for partition_select_mode in line 2"
    assert "(line 2 reads 'partition_select_mode: Random')" in info.value.message
    assert info.value.lines == [2]


def test_cyrus_check_without_cyr_info_refuses(tmp_path):
    with pytest.raises(ImapdConfEditError) as info:
        CyrusCheck(str(tmp_path / "no-cyr_info")).check(str(tmp_path / "x"))
    assert "cannot be checked by Cyrus itself" in info.value.message


def test_services_of_cyrus_conf():
    text = ("# x\nSTART {\n  recover cmd=\"ctl_cyrusdb -r\"\n}\nSERVICES {\n"
            "  imap  cmd=\"imapd\" listen=\"imap\"\n  # pop3 cmd=\"pop3d\"\n\tlmtpunix cmd=\"lmtpd\"\n}\n"
            "EVENTS {\n  checkpoint cmd=\"ctl_cyrusdb -c\" period=30\n}\n")
    assert edit.cyrus_conf_services(text) == ["imap", "lmtpunix"]
    assert edit.services_from(None, ["IMAP"]) == ["imap"]
    assert "lmtpunix" in edit.services_from("/nonexistent/cyrus.conf")


# -- writing ------------------------------------------------------------------------------

def test_install_is_atomic_keeps_owner_and_mode_and_makes_a_backup(tmp_path):
    path = tmp_path / "imapd.conf"
    path.write_bytes(b"old\n")
    os.chmod(str(path), 0o640)
    seen = []

    def validate(candidate):
        seen.append((os.path.dirname(candidate), stat.S_IMODE(os.stat(candidate).st_mode),
                     open(candidate, "rb").read()))
    backup = install(str(path), b"new\n", b"old\n", validate, backup=True)
    assert seen == [(str(tmp_path), 0o640, b"new\n")]
    assert path.read_bytes() == b"new\n" and stat.S_IMODE(os.stat(str(path)).st_mode) == 0o640
    assert open(backup, "rb").read() == b"old\n" and os.path.dirname(backup) == str(tmp_path)
    assert sorted(os.listdir(str(tmp_path))) == sorted(["imapd.conf", os.path.basename(backup)])


def test_install_refused_candidate_leaves_everything_as_it_was(tmp_path):
    path = tmp_path / "imapd.conf"
    path.write_bytes(b"old\n")

    def refuse(candidate):
        raise ImapdConfEditError("no")
    with pytest.raises(ImapdConfEditError):
        install(str(path), b"new\n", b"old\n", refuse, backup=True)
    assert path.read_bytes() == b"old\n"
    assert os.listdir(str(tmp_path)) == ["imapd.conf"]


def test_install_does_not_overwrite_a_concurrent_edit(tmp_path):
    path = tmp_path / "imapd.conf"
    path.write_bytes(b"someone else's\n")
    with pytest.raises(ImapdConfEditError) as info:
        install(str(path), b"new\n", b"old\n", lambda candidate: None)
    assert "changed while it was being edited" in info.value.message
    assert path.read_bytes() == b"someone else's\n" and os.listdir(str(tmp_path)) == ["imapd.conf"]


def test_install_follows_a_symlink_and_creates_files(tmp_path):
    target = tmp_path / "real.conf"
    target.write_bytes(b"old\n")
    link = tmp_path / "imapd.conf"
    link.symlink_to(target)
    install(str(link), b"new\n", b"old\n", lambda candidate: None)
    assert os.path.islink(str(link)) and target.read_bytes() == b"new\n"
    fresh = tmp_path / "fresh.conf"
    install(str(fresh), b"x\n", None, lambda candidate: None, create_mode=0o600)
    assert stat.S_IMODE(os.stat(str(fresh)).st_mode) == 0o600


# -- helpers added to imapd_conf ----------------------------------------------------------

def test_option_type_and_stored_value():
    assert option_type("Partition_Select_Usage_Reinit") == "int"
    assert option_type("partition_select_mode") == "stringlist"
    assert option_type("partition-p1") is None
    assert stored_value("partition_select_usage_reinit", " 0x10 ") == 16
    assert stored_value("partition_select_usage_reinit", "80%") is None
    assert stored_value("allowplaintext", "yes") == stored_value("allowplaintext", "1") == 1
    assert stored_value("partition_select_mode", "bogus") is None


# -- a property: any edit of a valid file gives a file Cyrus reads as asked -------------------

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings, strategies as st  # noqa: E402

FRAGMENTS = [
    "# comment\n", "# comment ending in a backslash \\\n", "\n", "   \n", "admins: cyrus\n",
    "Partition-Main: /srv/\\\nmain\n", "partition-p1: /srv/p1\r\n", "sasl_mech_list: PLAIN\r\n",
    "IMAP_partition_select_mode: random\n", "@include: /nonexistent/ignored.conf\n",
    "partition_mode: random\n", "  allowplaintext:\tyes\n", "partition_select_soft_usage_limit: 0x50\n",
]
OPTIONS = st.dictionaries(
    st.sampled_from(["partition-p1", "partition-main", "partition-new", "partition_select_mode",
                     "partition_select_soft_usage_limit", "partition_select_exclude", "admins"]),
    st.one_of(st.none(), st.sampled_from(["/srv/x", "random", "freespace-most", "90", "p1 p2", "cyrus"])),
    max_size=4)


@settings(max_examples=300, deadline=None, database=None)
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=12, unique=True), st.booleans(), OPTIONS, st.booleans())
def test_edit_property(fragments, newline_at_end, options, fix):
    text = "".join(fragments)
    if not newline_at_end and text.endswith("\n") and not text.endswith("\\\n"):
        text = text[:-1]
    # the values must suit the keys (the reader, not the editor, judges values)
    options = dict((key, value) for key, value in options.items()
                   if value is None or stored_value(key, value) is not None)
    plan = plan_edit(text, options, fix_doc_names=fix)
    after = ImapdConfText(plan.after)
    touched = set(options) | (set(DOC_PAGE_NAMES) | set(DOC_PAGE_NAMES.values()) if fix else set())

    def kept(document):
        return [document.physical_text(line) for line in document.lines
                if not (line.kind == "option" and line.name in touched)]
    kept_before, kept_after = kept(plan.document), kept(after)
    assert kept_before == kept_after
    seen = after.occurrences()
    for key, value in options.items():
        if value is None:
            assert key not in seen
        else:
            assert len(seen[key]) == 1 and edit.same_value(key, seen[key][0].value, value)
    assert not plan_edit(plan.after, options, fix_doc_names=fix).changed
