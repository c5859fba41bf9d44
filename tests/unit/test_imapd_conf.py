# -*- coding: utf-8 -*-
# Copyright: imapops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the imapd.conf reader: spec section 8, field cases FC-17, FC-18, FC-25.

Expected messages are Cyrus 3.6.1's own, as ``cyr_info`` prints them after "fatal error: "
(tests/integration/test_imapd_conf_vs_cyrus.py checks the same files against the binary).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest

from ansible_collections.imapops.cyrus.plugins.module_utils import imapd_conf
from ansible_collections.imapops.cyrus.plugins.module_utils.distribution import SELECT_MODES
from ansible_collections.imapops.cyrus.plugins.module_utils.imapd_conf import (
    ImapdConfError,
    load_imapd_conf,
    parse_imapd_conf,
)


def parse(*lines, **kwargs):
    return parse_imapd_conf("".join(line + "\n" for line in lines), **kwargs)


def refusal(text, **kwargs):
    with pytest.raises(ImapdConfError) as info:
        parse_imapd_conf(text, **kwargs)
    return info.value


# -- API shape --------------------------------------------------------------------------

def test_error_is_a_value_error_with_location():
    err = refusal("a: 1\nb: 2\nc: 3\nd: 4\nDefaultPartition: x\ndefaultpartition: y\n",
                  path="/etc/imapd.conf")
    assert isinstance(err, ValueError)
    assert err.message == ("option 'defaultpartition' was specified twice in config file "
                           "(second occurrence on line 6)")
    assert (err.lineno, err.path, err.option) == (6, "/etc/imapd.conf", "defaultpartition")
    assert str(err) == "/etc/imapd.conf line 6: " + err.message


def test_error_text_without_path_or_line():
    assert str(ImapdConfError("m", lineno=3)) == "line 3: m"
    assert str(ImapdConfError("m", path="/f")) == "/f: m"
    assert str(ImapdConfError("m")) == "m"


def test_defaults_of_the_distribution_options():
    conf = parse("configdirectory: /var/lib/cyrus")
    assert conf.distribution_settings() == imapd_conf.DISTRIBUTION_DEFAULTS
    assert conf.get("partition_select_mode") == "freespace-most"
    assert conf.get("serverlist_select_mode") == "freespace-most"
    for option in ("partition_select_exclude", "serverlist", "defaultpartition", "defaultserver"):
        assert conf.get(option) is None
    for option in ("partition_select_soft_usage_limit", "partition_select_usage_reinit",
                   "serverlist_select_soft_usage_limit", "serverlist_select_usage_reinit"):
        assert conf.get(option) == 0


def test_every_distribution_option_typed():
    conf = parse(
        "partition-p1: /srv/p1",
        "partition_select_mode: freespace-percent-weighted",
        "partition_select_exclude: p2, p3",
        "partition_select_soft_usage_limit: 0x50",
        "partition_select_usage_reinit: 010",
        "serverlist: b1 b2",
        "serverlist_select_mode: freespace-percent-most",
        "serverlist_select_soft_usage_limit: 90",
        "serverlist_select_usage_reinit: -1",
        "defaultpartition: P1",
        "defaultserver: b1",
    )
    assert conf.distribution_settings() == {
        "partition_select_mode": "freespace-percent-weighted",
        "partition_select_exclude": "p2, p3",
        "partition_select_soft_usage_limit": 80,
        "partition_select_usage_reinit": 8,
        "serverlist": "b1 b2",
        "serverlist_select_mode": "freespace-percent-most",
        "serverlist_select_soft_usage_limit": 90,
        "serverlist_select_usage_reinit": -1,
        "defaultpartition": "p1",
        "defaultserver": "b1",
    }


def test_other_options_are_raw_strings():
    conf = parse("configdirectory: /var/lib/cyrus", "allowplaintext: yes", "sasl_mech_list: PLAIN",
                 "maxmessagesize: 0x10")
    assert conf.get("allowplaintext") == "yes"
    assert conf.get("maxmessagesize") == "0x10"
    assert conf.get("SASL_MECH_LIST") == "PLAIN"
    assert conf.get("servername") is None
    assert conf.get("no_such_thing") is None


def test_raw_lines_and_locations():
    conf = parse("# comment", "", "Partition-Main: /srv/main", "serverlist: a", path="/x.conf")
    assert list(conf.raw.items()) == [("partition-main", "/srv/main"), ("serverlist", "a")]
    assert conf.lines == {"partition-main": 3, "serverlist": 4}
    assert conf.locations == {"partition-main": ("/x.conf", 3), "serverlist": ("/x.conf", 4)}


def test_partitions_in_file_order_lower_cased():
    conf = parse("partition-Zeta: /z", "serverlist: a", "partition-alpha: /a", "PARTITION-MID: /m",
                 "metapartition-alpha: /meta", "imap_partition-other: /o", "partition-: /empty")
    assert list(conf.partitions.items()) == [("zeta", "/z"), ("alpha", "/a"), ("mid", "/m")]


def test_select_modes_come_from_the_engine():
    assert imapd_conf._STRINGLIST_VALUES["partition_select_mode"] is SELECT_MODES
    assert imapd_conf._STRINGLIST_VALUES["serverlist_select_mode"] is SELECT_MODES
    for mode in SELECT_MODES:
        assert parse("partition_select_mode: " + mode).get("partition_select_mode") == mode


def test_option_table_of_3_6_1():
    # 524 options in lib/imapoptions at cyrus-imapd-3.6.1, plus Debian's two backported ones
    assert len(imapd_conf.KNOWN_OPTIONS) == 526
    assert {"maxargssize", "maxliteral"} <= imapd_conf._INT_OPTIONS
    for option in imapd_conf.DISTRIBUTION_DEFAULTS:
        assert option in imapd_conf.KNOWN_OPTIONS
    for doc_name in ("partition_mode", "partition_mode_exclude", "serverlist_select_exclude"):
        assert doc_name not in imapd_conf.KNOWN_OPTIONS


# -- spec 8: keys ------------------------------------------------------------------------

def test_keys_are_lower_cased():
    conf = parse("PARTITION_SELECT_MODE: random", "Partition-Big: /b")
    assert conf.get("partition_select_mode") == "random"
    assert conf.raw == {"partition_select_mode": "random", "partition-big": "/b"}


@pytest.mark.parametrize("line", [
    "partition-p3 : /srv/cyrus/p3",      # FC-25 space-before-colon
    "partition_select_mode random",       # no colon
    "partition.x: /x",
    "a@b: x",
    "partition-\u00e9t\u00e9: /x",        # isalnum() of the C locale: ASCII only
    "partition-x\u00a0: /x",
    "\"quoted\": x",
])
def test_invalid_option_name(line):
    err = refusal("configdirectory: /c\n" + line + "\n", path="/etc/imapd.conf")
    assert err.message == "invalid option name on line 2 of configuration file /etc/imapd.conf"
    assert (err.lineno, err.path) == (2, "/etc/imapd.conf")


def test_invalid_option_name_without_path():
    err = refusal("partition-p3 : /srv/cyrus/p3\n")
    assert err.message == "invalid option name on line 1 of configuration file"
    assert str(err) == "line 1: " + err.message


@pytest.mark.parametrize("text", [": value\n", "imap_: value\n"])
def test_key_matching_no_option_name_makes_cyrus_abort(text):
    err = refusal(text)
    assert "Cyrus 3.6.1 aborts" in err.message
    assert err.lineno == 1


def test_other_service_prefix_alone_is_an_unknown_option():
    conf = parse("pop3_: value")
    assert conf.unknown_options == ["pop3_"]


def test_directives():
    err = refusal("@foo: x\n", path="/f")
    assert err.message == "invalid directive on line 1 of configuration file /f"
    assert err.option == "@foo"
    assert refusal("@: x\n").message == "invalid directive on line 1 of configuration file"


# -- spec 8: comments, continuation, trimming --------------------------------------------

def test_whole_line_comments_only():
    conf = parse("# partition_select_mode: random", "   \t# indented comment",
                 "partition-x: /srv/x # not a comment", "serverlist: a#b")
    assert conf.get("partition_select_mode") == "freespace-most"
    assert conf.get("partition-x") == "/srv/x # not a comment"
    assert conf.get("serverlist") == "a#b"


def test_backslash_joins_lines_without_adding_space():
    conf = parse("partition_select_mode: free\\", "space-most", "serverlist: a \\", "  b")
    assert conf.get("partition_select_mode") == "freespace-most"
    assert conf.get("serverlist") == "a   b"


def test_backslash_inside_a_key():
    assert parse("partition\\", "-x: /x").partitions == {"x": "/x"}


def test_backslash_continues_a_comment():
    conf = parse("# comment \\", "partition_select_mode: random")
    assert conf.get("partition_select_mode") == "freespace-most"
    assert conf.raw == {}


def test_continued_line_is_numbered_by_its_last_line():
    err = refusal("bad \\\n\\\n\\\nkey: 1\n")
    assert err.lineno == 4
    assert err.message == "invalid option name on line 4 of configuration file"
    conf = parse("serverlist: a\\", "b", "partition-x: /x")
    assert conf.lines == {"serverlist": 2, "partition-x": 3}


def test_continuation_on_the_last_line_is_dropped():
    conf = parse_imapd_conf("partition-x: /x\npartition-y: /y\\\n")
    assert conf.partitions == {"x": "/x"}


def test_backslash_at_end_of_file_without_newline_is_kept():
    conf = parse_imapd_conf("partition-y: /y\\")
    assert conf.partitions == {"y": "/y\\"}


def test_last_line_without_newline_is_read():
    assert parse_imapd_conf("partition_select_mode: random").get("partition_select_mode") == "random"


def test_values_are_trimmed():
    conf = parse("partition-x: \t /srv/x \t ", "serverlist:b1   b2\t", "\x0bdefaultserver:\x0cb1\x0b")
    assert conf.get("partition-x") == "/srv/x"
    assert conf.get("serverlist") == "b1   b2"
    assert conf.get("defaultserver") == "b1"


def test_non_ascii_space_is_not_trimmed():
    assert parse("partition-x: /x\u00a0").get("partition-x") == "/x\u00a0"


@pytest.mark.parametrize("line", [
    "defaultpartition: ",     # FC-25 empty-value
    "defaultpartition:",
    "defaultpartition: \t \t",
    "partition_select_soft_usage_limit:   ",
    "@include: ",
])
def test_empty_value_is_fatal(line):
    err = refusal("configdirectory: /c\n" + line + "\n", path="/f")
    assert err.message == "empty option value on line 2 of configuration file"
    assert (err.lineno, err.path) == (2, "/f")


def test_crlf_lines():
    conf = parse_imapd_conf("configdirectory: /c\r\npartition-x: /x\r\n"
                            "partition_select_mode: random\r\n\r\n# c\r\n")
    assert conf.get("partition_select_mode") == "random"
    assert conf.partitions == {"x": "/x"}


def test_crlf_backslash_is_not_a_continuation():
    conf = parse_imapd_conf("partition-x: /x\\\r\npartition_select_mode: random\r\n")
    assert conf.partitions == {"x": "/x\\"}
    assert conf.get("partition_select_mode") == "random"


def test_lone_carriage_return_does_not_end_a_line():
    conf = parse_imapd_conf("partition-x: /x\rpartition-y: /y\n")
    assert conf.partitions == {"x": "/x\rpartition-y: /y"}


def test_nul_ends_what_cyrus_sees_of_a_line():
    assert parse_imapd_conf("partition-x: /x\0junk\npartition-y: /y\n").partitions == {
        "x": "/x", "y": "/y"}
    assert parse_imapd_conf("partition-x: /x\\\n\0partition-y: /y\n").partitions == {"x": "/x"}


def test_bytes_are_accepted():
    conf = parse_imapd_conf("partition-x: /srv/\u00e9\n".encode("utf-8"))
    assert conf.partitions == {"x": "/srv/\u00e9"}


# -- spec 8: duplicates ----------------------------------------------------------------------

def test_fc25_duplicate_known_option():
    err = refusal("configdirectory: /var/lib/cyrus\ndefaultpartition:\tdefault\n"
                  "partition-default: /srv/cyrus/default\npartition-main: /srv/cyrus/main\n"
                  "defaultpartition: main\n", path="/etc/imapd.conf")
    assert err.message == ("option 'defaultpartition' was specified twice in config file "
                           "(second occurrence on line 5)")
    assert (err.lineno, err.option) == (5, "defaultpartition")


def test_fc25_duplicate_partition_key():
    err = refusal("partition-p2: /srv/cyrus/p2\npartition-p2: /srv/cyrus/p2new\n")
    assert err.message == ("option 'partition-p2' was specified twice in config file "
                           "(second occurrence on line 2)")
    assert (err.lineno, err.option) == (2, "partition-p2")


def test_duplicate_partition_key_case_insensitively():
    err = refusal("partition-P2: /a\nPartition-p2: /b\n")
    assert err.option == "partition-p2"
    assert err.lineno == 2


def test_duplicate_unknown_option():
    assert refusal("partition_mode: a\npartition_mode: b\n").option == "partition_mode"


def test_duplicate_service_specific_option():
    err = refusal("imap_partition_select_mode: random\nIMAP_partition_select_mode: random\n")
    assert err.message == ("option 'imap_partition_select_mode' was specified twice in config "
                           "file (second occurrence on line 2)")


def test_duplicate_with_the_same_value_is_still_fatal():
    assert refusal("serverlist: a\nserverlist: a\n").lineno == 2


# -- spec 8: service-specific overrides ------------------------------------------------------

def test_fc25_service_specific_override_is_not_a_duplicate():
    text = "partition_select_mode: freespace-most\nimap_partition_select_mode: random\n"
    assert parse_imapd_conf(text, service="imap").get("partition_select_mode") == "random"
    assert parse_imapd_conf(text, service="lmtpunix").get("partition_select_mode") == "freespace-most"
    # the prefix is the service name from cyrus.conf: imaps needs its own imaps_ key
    assert parse_imapd_conf(text, service="imaps").get("partition_select_mode") == "freespace-most"


@pytest.mark.parametrize("text", [
    "partition_select_mode: freespace-most\nimap_partition_select_mode: random\n",
    "imap_partition_select_mode: random\npartition_select_mode: freespace-most\n",
])
def test_override_wins_whatever_the_order(text):
    conf = parse_imapd_conf(text)
    assert conf.get("partition_select_mode") == "random"
    assert conf.overrides == {"partition_select_mode": ("imap_partition_select_mode", "random")}


def test_override_prefix_is_case_insensitive():
    conf = parse_imapd_conf("IMAP_Serverlist: b1\nserverlist: b2\n", service="Imap")
    assert conf.get("serverlist") == "b1"
    assert conf.overrides == {"serverlist": ("imap_serverlist", "b1")}


def test_generic_key_after_override_is_skipped_unchecked():
    # Cyrus skips the generic lines for imap without looking at them ...
    text = ("imap_partition_select_mode: random\npartition_select_mode: bogus\n"
            "partition_select_mode: again\n")
    assert parse_imapd_conf(text, service="imap").get("partition_select_mode") == "random"
    # ... but pop3 reads them: the same file stops pop3
    err = refusal(text, service="pop3")
    assert err.message == "invalid value 'bogus' for partition_select_mode in line 2"


def test_override_value_is_checked():
    err = refusal("partition_select_mode: random\nimap_partition_select_mode: Random\n")
    assert err.message == "invalid value 'Random' for partition_select_mode in line 2"
    assert err.option == "partition_select_mode"


def test_override_of_other_service_is_kept_raw():
    conf = parse_imapd_conf("pop3_partition_select_mode: bogus\n", service="imap")
    assert conf.get("partition_select_mode") == "freespace-most"
    assert conf.raw == {"pop3_partition_select_mode": "bogus"}
    assert conf.overrides == {}


def test_service_specific_partition_path():
    conf = parse_imapd_conf("partition-main: /a\nimap_partition-main: /b\n", service="imap")
    assert conf.partitions == {"main": "/a"}      # what the selection measures
    assert conf.partition_path("main") == "/b"   # where mailbox operations look
    assert conf.get("partition-main") == "/b"
    assert parse_imapd_conf("partition-main: /a\nimap_partition-main: /b\n",
                            service="pop3").partition_path("main") == "/a"


def test_no_service():
    conf = parse_imapd_conf("partition_select_mode: random\nimap_partition_select_mode: bogus\n",
                            service=None)
    assert conf.get("partition_select_mode") == "random"
    assert conf.raw["imap_partition_select_mode"] == "bogus"


# -- spec 8: @include ------------------------------------------------------------------------

@pytest.fixture
def conf_dir(tmp_path):
    (tmp_path / "inc1.conf").write_text("partition-inc: /srv/inc\nserverlist: b1 b2\n")
    (tmp_path / "bad.conf").write_text("partition-a: /a\npartition_select_mode: Random\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "nested.conf").write_text("@include: inc1.conf\n")
    return tmp_path


def test_include_reads_another_file(conf_dir):
    conf = parse_imapd_conf("partition-main: /m\n@include: inc1.conf\nserverlist_select_mode: random\n",
                            include_cwd=str(conf_dir))
    assert list(conf.partitions) == ["main", "inc"]
    assert conf.get("serverlist") == "b1 b2"
    assert conf.locations["serverlist"] == ("inc1.conf", 2)
    assert conf.lines["serverlist_select_mode"] == 3
    assert conf.included_files == ["inc1.conf"]


def test_include_directive_is_case_insensitive(conf_dir):
    conf = parse_imapd_conf("@INCLUDE: inc1.conf\n", include_cwd=str(conf_dir))
    assert conf.partitions == {"inc": "/srv/inc"}


def test_include_twice_is_fatal(conf_dir):
    err = refusal("@include: inc1.conf\n\n@include: inc1.conf\n", path="/etc/imapd.conf",
                  include_cwd=str(conf_dir))
    assert err.message == "configuration file inc1.conf included twice"
    assert (err.path, err.lineno, err.option) == ("/etc/imapd.conf", 3, "@include")


def test_include_of_the_main_file_is_included_twice(conf_dir):
    main = conf_dir / "main.conf"
    main.write_text("partition-x: /x\n@include: %s\n" % main)
    with pytest.raises(ImapdConfError) as info:
        load_imapd_conf(str(main), require_configdirectory=False)
    assert info.value.message == "configuration file %s included twice" % main


def test_same_file_under_another_name_gives_duplicates(conf_dir):
    # Cyrus compares the path strings: ./inc1.conf is read again
    err = refusal("@include: inc1.conf\n@include: ./inc1.conf\n", include_cwd=str(conf_dir))
    assert err.message == ("option 'partition-inc' was specified twice in config file "
                           "(second occurrence on line 1)")
    assert err.path == "./inc1.conf"


def test_include_paths_are_relative_to_the_working_directory(conf_dir):
    # not to the including file: sub/nested.conf includes inc1.conf of the working directory
    conf = parse_imapd_conf("@include: sub/nested.conf\n", include_cwd=str(conf_dir))
    assert conf.partitions == {"inc": "/srv/inc"}
    err = refusal("@include: nested.conf\n", include_cwd=str(conf_dir / "sub"))
    assert err.message.startswith("can't open configuration file inc1.conf: ")


def test_include_relative_to_the_process_directory(conf_dir, monkeypatch):
    monkeypatch.chdir(str(conf_dir))
    assert parse_imapd_conf("@include: inc1.conf\n").partitions == {"inc": "/srv/inc"}


def test_include_missing_file(conf_dir):
    err = refusal("serverlist: a\n@include: missing.conf\n", path="/etc/imapd.conf",
                  include_cwd=str(conf_dir))
    assert err.message == "can't open configuration file missing.conf: No such file or directory"
    assert (err.path, err.lineno, err.option) == ("/etc/imapd.conf", 2, "@include")


def test_include_of_a_directory_reads_nothing(conf_dir):
    conf = parse_imapd_conf("@include: sub\nserverlist: a\n", include_cwd=str(conf_dir))
    assert conf.raw == {"serverlist": "a"}


def test_error_inside_an_included_file_names_that_file(conf_dir):
    err = refusal("serverlist: a\n@include: bad.conf\n", path="/etc/imapd.conf",
                  include_cwd=str(conf_dir))
    assert err.message == "invalid value 'Random' for partition_select_mode in line 2"
    assert (err.path, err.lineno) == ("bad.conf", 2)
    assert str(err) == "bad.conf line 2: " + err.message


def test_duplicate_across_files(conf_dir):
    err = refusal("@include: inc1.conf\nserverlist: b3\n", include_cwd=str(conf_dir))
    assert (err.option, err.lineno, err.path) == ("serverlist", 2, None)


# -- spec 8: integers, enums, other types ----------------------------------------------------

@pytest.mark.parametrize("value,expected", [
    ("0x10", 16), ("0X1f", 31), ("062", 50), ("010", 8), ("0", 0), ("00", 0), ("-5", -5),
    ("+7", 7), ("-0x10", -16), ("80", 80), ("2147483647", 2147483647),
    ("4294967297", 1),          # config_getint() hands Cyrus's code a 32-bit int
    ("99999999999999999999", -1),  # strtol saturates at LONG_MAX, which becomes -1
])
def test_integers_are_c_style(value, expected):
    conf = parse("partition_select_soft_usage_limit: " + value)
    assert conf.get("partition_select_soft_usage_limit") == expected


@pytest.mark.parametrize("value", ["80%", "08", "0x", "0b1", "1 2", "-", "+", "1.5", "ten", "1e3",
                                   "\u0661"])
def test_non_integer_is_fatal(value):
    err = refusal("configdirectory: /c\npartition_select_soft_usage_limit: %s\n" % value)
    assert err.message == "non-integer value for partition_select_soft_usage_limit in line 2"
    assert (err.lineno, err.option) == (2, "partition_select_soft_usage_limit")


def test_fc25_percent_in_int():
    err = refusal("partition_select_soft_usage_limit: 80%\n")
    assert err.message == "non-integer value for partition_select_soft_usage_limit in line 1"


def test_c_strtol():
    assert imapd_conf.c_strtol("99999999999999999999") == 2 ** 63 - 1
    assert imapd_conf.c_strtol("-99999999999999999999") == -2 ** 63
    assert imapd_conf.c_strtol(" 12") == 12
    assert imapd_conf.c_strtol("12 ") is None
    assert imapd_conf.c_int(2 ** 31) == -2 ** 31


def test_fc25_bad_enum():
    err = refusal("partition_select_mode: freespace_most\n")
    assert err.message == "invalid value 'freespace_most' for partition_select_mode in line 1"


@pytest.mark.parametrize("value", ["Random", "RANDOM", "freespace", "random freespace-most",
                                   "yes", "on", "1"])
def test_select_mode_values_are_exact(value):
    err = refusal("serverlist_select_mode: %s\n" % value)
    assert err.message == "invalid value '%s' for serverlist_select_mode in line 1" % value


def test_enum_options_normalise_yes_and_no_first():
    conf = parse("virtdomains: yes", "serverinfo: 0")
    assert conf.get("virtdomains") == "on"
    assert conf.get("serverinfo") == "off"
    err = refusal("qosmarking: yes\n")
    assert err.message == "invalid value 'on' for qosmarking in line 1"


def test_bitfield_options_take_words():
    conf = parse("event_groups: message  quota\tflags", "sieve_extensions: imapflags")
    assert conf.get("event_groups") == "message  quota\tflags"
    err = refusal("event_groups: message bogus\n")
    assert err.message == "invalid value 'bogus' for event_groups in line 1"


def test_switch_options_look_at_the_first_letters():
    parse("allowplaintext: nonsense", "allowapop: offline", "altnamespace: true-ish")
    err = refusal("allowplaintext: o\n")
    assert err.message == "non-switch value for allowplaintext in line 1"


def test_duration_options():
    parse("archive_after: -", "conversations_expire_after: 1h30", "backup_retention: 7d")
    err = refusal("archive_after: 1d-\n")
    assert err.message == "unparsable duration '1d-' for archive_after in line 1"


def test_debian_backported_options_are_integers():
    parse("maxliteral: 1024", "maxargssize: 0x10")
    assert refusal("maxliteral: 50%\n").message == "non-integer value for maxliteral in line 1"


def test_configdirectory_is_expanded_in_string_options():
    conf = parse("configdirectory: /var/lib/cyrus", "partition_select_exclude: {ConfigDirectory}/x",
                 "partition-x: {configdirectory}/x")
    assert conf.get("partition_select_exclude") == "/var/lib/cyrus/x"
    assert conf.get("partition-x") == "{configdirectory}/x"  # only known options are expanded


# -- spec 8 / FC-18: defaultpartition ------------------------------------------------------

def test_fc18_defaultpartition_mixed_case():
    conf = parse("partition-Fast: /srv/fast", "defaultpartition: Fast")
    assert conf.get("defaultpartition") == "fast"
    assert conf.partitions == {"fast": "/srv/fast"}


def test_fc18_defaultpartition_with_dash():
    err = refusal("partition-mail-1: /srv/mail1\ndefaultpartition: mail-1\n", path="/f")
    assert err.message == "defaultpartition option contains non-alnum character"
    assert (err.lineno, err.path, err.option) == (2, "/f", "defaultpartition")


@pytest.mark.parametrize("value", ["mail_1", "mail.1", "m\u00e4il", "a b", "{configdirectory}"])
def test_defaultpartition_must_be_ascii_alphanumeric(value):
    err = refusal("defaultpartition: %s\n" % value)
    assert err.message == "defaultpartition option contains non-alnum character"


def test_defaultpartition_is_checked_without_partition_data():
    err = refusal("defaultpartition: mail-1\n", need_partition_data=False)
    assert err.message == "defaultpartition option contains non-alnum character"


def test_fc18_defaultpartition_undefined():
    err = refusal("partition-default: /srv/mail\ndefaultpartition: main\n", path="/f")
    assert err.message == "partition-main option not specified in configuration file"
    assert (err.lineno, err.path, err.option) == (2, "/f", "partition-main")


def test_defaultpartition_undefined_accepted_when_partitions_are_not_needed():
    conf = parse("partition-default: /srv/mail", "defaultpartition: main", need_partition_data=False)
    assert conf.get("defaultpartition") == "main"


def test_defaultpartition_found_by_service_key():
    parse("imap_partition-main: /m", "defaultpartition: main", service="imap")
    with pytest.raises(ImapdConfError):
        parse("imap_partition-main: /m", "defaultpartition: main", service="pop3")


def test_defaultpartition_too_long_for_cyrus_buffer():
    name = "a" * 70
    err = refusal("defaultpartition: %s\npartition-%s: /x\n" % (name, name))
    assert err.message == "partition-%s option not specified in configuration file" % name
    parse("defaultpartition: " + "a" * 69, "partition-%s: /x" % ("a" * 69))


def test_fc18_explicit_partition_names_are_case_sensitive():
    conf = parse("partition-fast: /srv/fast")
    assert conf.partition_path("fast") == "/srv/fast"
    assert conf.partition_path("Fast") is None   # CREATE ... Fast: Unknown/invalid partition


def test_fc18_exclude_is_not_lower_cased():
    conf = parse("partition-Fast: /srv/fast", "partition-slow: /srv/slow",
                 "partition_select_exclude: Fast")
    assert conf.get("partition_select_exclude") == "Fast"
    assert list(conf.partitions) == ["fast", "slow"]


@pytest.mark.parametrize("lines,ok", [
    (["serverlist: a"], True),                          # no partition needed
    (["proxyservers: p"], False),                       # then some partition- is needed
    (["proxyservers: p", "partition-x: /x"], True),
    (["proxyservers: p", "imap_partition-x: /x"], False),
    (["mupdate_server: m", "mupdate_config: unified"], False),
    (["mupdate_config: unified"], True),                # only read with mupdate_server
])
def test_partition_check_without_defaultpartition(lines, ok):
    if ok:
        parse(*lines)
    else:
        err = refusal("".join(line + "\n" for line in lines))
        assert err.message == "partition-<name> option not specified in configuration file"
        assert err.lineno is None


# -- configdirectory ---------------------------------------------------------------------

def test_configdirectory_required_on_request():
    parse("partition-x: /x")
    err = refusal("partition-x: /x\n", require_configdirectory=True, path="/f")
    assert err.message == "configdirectory option not specified in configuration file"
    assert str(err) == "/f: " + err.message


def test_load_requires_configdirectory(tmp_path):
    path = tmp_path / "imapd.conf"
    path.write_text("partition-x: /x\n")
    with pytest.raises(ImapdConfError) as info:
        load_imapd_conf(str(path))
    assert info.value.message == "configdirectory option not specified in configuration file"
    assert load_imapd_conf(str(path), require_configdirectory=False).partitions == {"x": "/x"}


def test_load_reads_the_file(tmp_path):
    path = tmp_path / "imapd.conf"
    path.write_bytes(b"configdirectory: /c\r\npartition-x: /srv/\xc3\xa9\n"
                     b"imap_partition_select_mode: random\n")
    conf = load_imapd_conf(str(path))
    assert conf.path == str(path)
    assert conf.partitions == {"x": "/srv/\u00e9"}
    assert conf.get("partition_select_mode") == "random"
    assert load_imapd_conf(str(path), service="pop3").get("partition_select_mode") == "freespace-most"


def test_load_missing_file(tmp_path):
    path = str(tmp_path / "nope.conf")
    with pytest.raises(ImapdConfError) as info:
        load_imapd_conf(path)
    err = info.value
    assert err.message == "can't open configuration file %s: No such file or directory" % path
    assert (err.path, err.lineno) == (path, None)
    assert str(err) == "%s: %s" % (path, err.message)


def test_load_error_line(tmp_path):
    path = tmp_path / "imapd.conf"
    path.write_text("configdirectory: /c\n\n\n\ndefaultpartition: a\ndefaultpartition: b\n")
    with pytest.raises(ImapdConfError) as info:
        load_imapd_conf(str(path))
    assert str(info.value) == ("%s line 6: option 'defaultpartition' was specified twice in "
                               "config file (second occurrence on line 6)" % path)


# -- FC-17 and conf-lint: unknown options -------------------------------------------------

def test_fc17_doc_names_are_ignored():
    conf = parse(
        "partition-main: /srv/cyrus/main",
        "partition-archive: /srv/cyrus/archive",
        "partition_mode: freespace-percent-most",
        "partition_mode_exclude: archive",
        "partition_mode_soft_usage_limit: 80",
    )
    assert conf.unknown_options == ["partition_mode", "partition_mode_exclude",
                                    "partition_mode_soft_usage_limit"]
    assert conf.get("partition_select_mode") == "freespace-most"
    assert conf.get("partition_select_exclude") is None
    assert list(conf.partitions) == ["main", "archive"]


def test_fc17_real_names():
    conf = parse("partition_select_mode: freespace-percent-most", "partition_select_exclude: archive")
    assert conf.unknown_options == []
    assert conf.get("partition_select_mode") == "freespace-percent-most"
    assert conf.get("partition_select_exclude") == "archive"


def test_all_doc_names_are_unknown():
    doc_names = ["partition_mode", "partition_mode_exclude", "partition_mode_soft_usage_limit",
                 "partition_mode_usage_reinit", "serverlist_mode",
                 "serverlist_mode_soft_usage_limit", "serverlist_mode_usage_reinit",
                 "serverlist_select_exclude"]
    conf = parse(*("%s: 1" % name for name in doc_names))
    assert conf.unknown_options == doc_names
    assert conf.distribution_settings() == imapd_conf.DISTRIBUTION_DEFAULTS


def test_doc_names_are_not_checked():
    conf = parse("partition_mode_soft_usage_limit: 80%", "partition_mode: bogus")
    assert conf.get("partition_select_soft_usage_limit") == 0


def test_service_prefixes_known_to_conf_lint():
    conf = parse("pop3_partition_select_mode: random", "lmtpunix_serverlist: a",
                 "imaps_partition_select_mode: random", "foo_partition_select_mode: random",
                 "imap_partition_mode: x", "pop3_partition-x: /x", "foo_partition-x: /x",
                 service="imap")
    # Debian's stock cyrus.conf has pop3 and lmtpunix, not imaps
    assert conf.unknown_options == ["imaps_partition_select_mode", "foo_partition_select_mode",
                                    "imap_partition_mode", "foo_partition-x"]
    conf = parse("imaps_partition_select_mode: random", cyrus_services=["imap", "imaps"])
    assert conf.unknown_options == []


def test_conf_lint_partition_families():
    conf = parse("partition-main: /m", "metapartition-main: /mm", "metapartition-none: /x",
                 "archivepartition-main: /a", "archivepartition-none: /x",
                 "backuppartition-b: /b", "tier1searchpartition-main: /s",
                 "tier1searchpartition-none: /s", "xlist-sent: Sent", "sasl_pwcheck_method: x")
    assert conf.unknown_options == ["metapartition-none", "archivepartition-none",
                                    "tier1searchpartition-none"]


def test_conf_lint_sync_channels():
    conf = parse("sync_log_channels: ch1 ch2", "ch1_sync_host: h", "ch2_sync_host: h",
                 "ch1_other: x", "ch3_sync_host: h", "ch1_sync_bogus: x")
    assert conf.unknown_options == ["ch1_other", "ch3_sync_host", "ch1_sync_bogus"]


def test_deprecated_options_are_listed_like_conf_lint():
    # Cyrus keeps a copy of a deprecated option under the key as written: conf-lint lists it,
    # unless a service prefix of cyrus.conf makes it known
    conf = parse("autocreatequota: 5", "imap_tls_cert_file: /x", "tls_server_cert: /y")
    assert conf.unknown_options == ["autocreatequota"]
    assert conf.deprecated_options == ["autocreatequota", "imap_tls_cert_file"]


def test_known_option_is_never_unknown():
    conf = parse("configdirectory: /c", "serverlist: a", "imap_serverlist: b")
    assert conf.unknown_options == []


# -- the module stays importable without Ansible ----------------------------------------------

def test_no_ansible_imports():
    source_path = imapd_conf.__file__
    with open(source_path) as handle:
        source = handle.read()
    assert "import ansible." not in source and "from ansible." not in source
    assert os.path.basename(source_path) == "imapd_conf.py"
