# -*- coding: utf-8 -*-
# Copyright: imapops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Differential tests: the imapd.conf reader against the real Cyrus 3.6.1 tools.

Each file is written to a temporary directory and read by ``cyr_info -n <service> conf-all``
(accept/refuse, Cyrus's message, the effective distribution options, the partitions) and
``conf-lint`` (unknown options), and by ``quota`` for the partition check that imapd, lmtpd
and friends make at startup. ``cyr_info`` prints ``fatal error: <message>`` on stderr and
exits 78 (EX_CONFIG); nothing goes to syslog that we need.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import shutil
import subprocess
import tempfile

import pytest

from ansible_collections.imapops.cyrus.plugins.module_utils import imapd_conf

CYRUS_BIN = "/usr/lib/cyrus/bin"
CYR_INFO = os.path.join(CYRUS_BIN, "cyr_info")

if not os.access(CYR_INFO, os.X_OK):
    pytest.skip("Cyrus IMAP is not installed (%s is absent)" % CYR_INFO, allow_module_level=True)

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import strategies as st  # noqa: E402

SERVICES = ("imap", "pop3", "lmtpunix", "sieve")
DISTRIBUTION = tuple(imapd_conf.DISTRIBUTION_DEFAULTS)


class Cyrus:
    """Runs the real tools on files in one private directory."""

    def __init__(self, base):
        self.base = base
        self.configdir = os.path.join(base, "config")
        os.mkdir(self.configdir)
        os.chmod(self.configdir, 0o777)  # quota drops to the cyrus user as root
        self.cyrus_conf = os.path.join(base, "cyrus.conf")
        with open(self.cyrus_conf, "w") as handle:
            handle.write("SERVICES {\n")
            for service in SERVICES:
                handle.write('  %s cmd="true" listen="/nonexistent/%s"\n' % (service, service))
            handle.write("}\n")
        with open(os.path.join(base, "inc1.conf"), "w") as handle:
            handle.write("partition-inc: /srv/inc\nserverlist: b1 b2\n")
        self.count = 0

    def write(self, text):
        self.count += 1
        path = os.path.join(self.base, "imapd-%d.conf" % self.count)
        with open(path, "wb") as handle:
            handle.write(text.encode("utf-8", "surrogateescape"))
        return path

    def run(self, args):
        proc = subprocess.run(args, cwd=self.base, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=30)
        return proc.returncode, proc.stdout.decode("utf-8", "surrogateescape"), \
            proc.stderr.decode("utf-8", "surrogateescape")

    def cyr_info(self, path, command, service="imap"):
        return self.run([CYR_INFO, "-C", path, "-M", self.cyrus_conf, "-n", service, command])


@pytest.fixture(scope="module")
def cyrus():
    # Run as root, the tools read cyrus.conf after switching to the cyrus user: the
    # directory must be readable by everyone (pytest's own tmp_path is not).
    base = tempfile.mkdtemp(prefix="imapd-conf-vs-cyrus-")
    os.chmod(base, 0o755)
    try:
        yield Cyrus(base)
    finally:
        shutil.rmtree(base)


def fatal_message(stderr):
    for line in stderr.split("\n"):  # a message may hold a carriage return
        if line.startswith("fatal error: "):
            return line[len("fatal error: "):]
    return None


def parse_ours(cyrus, path, service="imap", need_partition_data=False):
    try:
        return imapd_conf.load_imapd_conf(
            path, service=service, need_partition_data=need_partition_data,
            require_configdirectory=True, cyrus_services=SERVICES, include_cwd=cyrus.base), None
    except imapd_conf.ImapdConfError as err:
        return None, err


def effective_from_conf_all(stdout):
    """Known options first, then the overflow keys: take each name's first line."""
    known, overflow = {}, {}
    for line in stdout.split("\n")[:-1]:  # a value may hold a carriage return
        key, _, value = line.partition(": ")
        if key.endswith(":"):  # an empty string option prints as "name:" or "name: "
            key, value = key[:-1], ""
        if key in imapd_conf.KNOWN_OPTIONS and key not in known:
            known[key] = value
        else:
            overflow[key] = value
    return known, overflow


def expected_string(value):
    return value if value is not None else ""


# What config_read() itself says; other fatal errors come from later start-up steps.
PARSER_MESSAGE = re.compile(
    r"can't open configuration file |configuration file .* included twice$"
    r"|invalid option name on line |empty option value on line |invalid directive on line "
    r"|option '.*' was specified twice in config file |non-integer value for "
    r"|non-switch value for |invalid value '|unparsable duration '"
    r"|configdirectory option not specified|defaultpartition option contains"
    r"|partition-.* option not specified", re.S)


def compare(cyrus, text, service="imap", startup_may_fail=False):
    """Assert that Cyrus and the parser agree on ``text``; return the parse result.

    ``startup_may_fail``: a value valid for the parser may still stop cyr_info later (an
    SQL engine it lacks, say); then only check that the parser accepted the file.
    """
    path = cyrus.write(text)
    rc, stdout, stderr = cyrus.cyr_info(path, "conf-all", service)
    conf, err = parse_ours(cyrus, path, service)
    message = fatal_message(stderr)
    if startup_may_fail and rc in (64, 78) and not PARSER_MESSAGE.match(message or ""):
        assert err is None, (err, text)
        return conf
    if rc != 0:
        assert err is not None, "Cyrus refused (rc %d: %s), parser accepted:\n%r" % (rc, stderr, text)
        if rc == -6:  # SIGABRT: Cyrus matched its nameless placeholder option
            assert "Cyrus 3.6.1 aborts" in err.message
        else:
            assert message == err.message, text
        return None
    assert err is None, "Cyrus accepted, parser refused with %s:\n%r" % (err, text)
    known, overflow = effective_from_conf_all(stdout)
    for option in DISTRIBUTION:
        ours = conf.get(option)
        if isinstance(ours, int):
            assert imapd_conf.c_int(int(known[option])) == ours, (option, text)
        else:
            assert known[option] == expected_string(ours), (option, text)
    cyrus_partitions = [(key[len("partition-"):], value) for key, value in overflow.items()
                        if key.startswith("partition-") and len(key) > len("partition-")]
    assert sorted(cyrus_partitions) == sorted(conf.partitions.items()), text
    rc, stdout, stderr = cyrus.cyr_info(path, "conf-lint", service)
    assert rc == 0, stderr
    linted = sorted(line.partition(": ")[0] for line in stdout.split("\n")[:-1])
    assert linted == sorted(conf.unknown_options), text
    return conf


CONFIGDIR = "configdirectory: {configdir}\n"

TRICKY_FILES = [
    ("plain", CONFIGDIR + "partition-main: /srv/main\npartition_select_mode: random\n"),
    ("doc-names", CONFIGDIR + "partition-main: /srv/cyrus/main\npartition-archive: /srv/cyrus/archive\n"
     "partition_mode: freespace-percent-most\npartition_mode_exclude: archive\n"
     "partition_mode_soft_usage_limit: 80\npartition_mode_usage_reinit: 5\n"
     "serverlist_mode: random\nserverlist_mode_soft_usage_limit: 1\nserverlist_mode_usage_reinit: 2\n"),
    ("all-real-names", CONFIGDIR + "partition_select_mode: freespace-percent-weighted-delta\n"
     "partition_select_exclude: a,b\tc\npartition_select_soft_usage_limit: 0x10\n"
     "partition_select_usage_reinit: 062\nserverlist: b1, b2\nserverlist_select_mode: random\n"
     "serverlist_select_soft_usage_limit: -5\nserverlist_select_usage_reinit: +7\n"
     "defaultserver: b1\npartition-p1: /p1\ndefaultpartition: P1\n"),
    ("service-override-after", CONFIGDIR + "partition_select_mode: freespace-most\n"
     "imap_partition_select_mode: random\n"),
    ("service-override-before", CONFIGDIR + "imap_partition_select_mode: random\n"
     "partition_select_mode: freespace-most\n"),
    ("generic-after-override-unchecked", CONFIGDIR + "imap_partition_select_mode: random\n"
     "partition_select_mode: bogus\npartition_select_mode: twice\n"),
    ("override-twice", CONFIGDIR + "imap_partition_select_mode: random\nIMAP_partition_select_mode: random\n"),
    ("other-service-override", CONFIGDIR + "pop3_partition_select_mode: random\nfoo_partition_select_mode: x\n"
     "imap_partition_mode: x\npop3_partition-x: /x\nfoo_partition-x: /x\n"),
    ("override-of-partition", CONFIGDIR + "partition-main: /a\nimap_partition-main: /b\ndefaultpartition: main\n"),
    ("duplicate", CONFIGDIR + "defaultpartition:\tdefault\npartition-default: /d\npartition-main: /m\n"
     "defaultpartition: main\n"),
    ("duplicate-partition-case", CONFIGDIR + "partition-p2: /srv/p2\nPartition-P2: /srv/p2new\n"),
    ("percent", CONFIGDIR + "partition_select_soft_usage_limit: 80%\n"),
    ("bad-enum", CONFIGDIR + "partition_select_mode: freespace_most\n"),
    ("enum-case", CONFIGDIR + "partition_select_mode: Random\n"),
    ("enum-two-words", CONFIGDIR + "partition_select_mode: random freespace-most\n"),
    ("enum-yes", CONFIGDIR + "serverlist_select_mode: yes\n"),
    ("empty-value", CONFIGDIR + "defaultpartition: \n"),
    ("blank-value", CONFIGDIR + "defaultpartition: \t \n"),
    ("space-before-colon", CONFIGDIR + "partition-p3 : /srv/p3\n"),
    ("no-colon", CONFIGDIR + "partition_select_mode random\n"),
    ("bad-key-char", CONFIGDIR + "partition.x: /x\n"),
    ("non-ascii-key", CONFIGDIR + "partition-\u00e9t\u00e9: /x\n"),
    ("nbsp-before-colon", CONFIGDIR + "partition-x\u00a0: /x\n"),
    ("quoted-key", CONFIGDIR + "\"quoted\": x\n"),
    ("non-ascii-value", CONFIGDIR + "partition-x: /srv/\u00e9t\u00e9\u00a0\n"),
    ("indented", CONFIGDIR + "   \tpartition-x: /x\n  # indented comment\n"),
    ("hash-in-value", CONFIGDIR + "partition-x: /srv/x # not a comment\nserverlist: a#b\n"),
    ("crlf", CONFIGDIR.replace("\n", "\r\n") + "partition-x: /x\r\npartition_select_mode: random\r\n"),
    ("crlf-backslash", CONFIGDIR + "partition-x: /x\\\r\npartition_select_mode: random\r\n"),
    ("continuation", CONFIGDIR + "partition_select_mode: free\\\nspace-most\nserverlist: a \\\n  b\n"),
    ("continuation-key", CONFIGDIR + "partition\\\n-x: /x\n"),
    ("continuation-comment", CONFIGDIR + "# comment \\\npartition-x: /x\n"),
    ("continuation-error-line", CONFIGDIR + "partition-x: /x\\\n\\\n\\\n bad key: 1\n"),
    ("continuation-at-eof", CONFIGDIR + "partition-x: /x\npartition-y: /y\\\n"),
    ("backslash-at-eof-no-newline", CONFIGDIR + "partition-y: /y\\"),
    ("no-final-newline", CONFIGDIR + "partition_select_mode: random"),
    ("carriage-return-inside", CONFIGDIR + "partition-x: /x\rpartition-y: /y\n"),
    ("nul-in-value", CONFIGDIR + "partition-x: /x\0junk\npartition-y: /y\n"),
    ("nul-after-continuation", CONFIGDIR + "partition-x: /x\\\n\0partition-y: /y\n"),
    ("nul-then-continuation", CONFIGDIR + "partition-x: /x\0\\\npartition-y: /y\n"),
    ("vertical-tab", CONFIGDIR + "\x0bpartition-x:\x0c/x\x0b\n"),
    ("int-forms", CONFIGDIR + "partition_select_usage_reinit: 0X1f\nserverlist_select_usage_reinit: 010\n"
     "partition_select_soft_usage_limit:  -0x10 \nserverlist_select_soft_usage_limit: 0\n"),
    ("int-octal-bad", CONFIGDIR + "partition_select_usage_reinit: 08\n"),
    ("int-0x", CONFIGDIR + "partition_select_usage_reinit: 0x\n"),
    ("int-binary", CONFIGDIR + "partition_select_usage_reinit: 0b1\n"),
    ("int-space", CONFIGDIR + "partition_select_usage_reinit: 1 2\n"),
    ("int-sign-only", CONFIGDIR + "partition_select_usage_reinit: -\n"),
    ("int-huge", CONFIGDIR + "partition_select_usage_reinit: 99999999999999999999\n"
     "serverlist_select_usage_reinit: -99999999999999999999\n"),
    ("int-float", CONFIGDIR + "partition_select_usage_reinit: 1.5\n"),
    ("int-exponent", CONFIGDIR + "partition_select_usage_reinit: 1e3\n"),
    ("int-arabic-digit", CONFIGDIR + "partition_select_usage_reinit: \u0661\n"),
    ("int-nbsp", CONFIGDIR + "partition_select_usage_reinit: 5\u00a0\n"),
    ("int-wraps", CONFIGDIR + "partition_select_soft_usage_limit: 4294967297\n"),
    ("defaultpartition-dash", CONFIGDIR + "partition-mail-1: /m\ndefaultpartition: mail-1\n"),
    ("defaultpartition-non-ascii", CONFIGDIR + "defaultpartition: m\u00e4il\n"),
    ("defaultpartition-space", CONFIGDIR + "defaultpartition: a b\n"),
    ("defaultpartition-underscore", CONFIGDIR + "defaultpartition: mail_1\n"),
    ("defaultpartition-upper", CONFIGDIR + "partition-Fast: /f\ndefaultpartition: Fast\n"),
    ("defaultpartition-undefined", CONFIGDIR + "partition-default: /srv/mail\ndefaultpartition: main\n"),
    ("defaultpartition-configdirectory", "configdirectory: abc\ndefaultpartition: {configdirectory}x\n"),
    ("exclude-configdirectory", CONFIGDIR + "partition_select_exclude: {CONFIGDIRECTORY}/x\n"),
    ("empty-key", CONFIGDIR + ": value\n"),
    ("service-prefix-only", CONFIGDIR + "imap_: value\n"),
    ("other-prefix-only", CONFIGDIR + "pop3_: value\n"),
    ("partition-no-name", CONFIGDIR + "partition-: /x\n"),
    ("at-sign-key", CONFIGDIR + "@foo: x\n"),
    ("at-sign-alone", CONFIGDIR + "@: x\n"),
    ("at-in-middle", CONFIGDIR + "a@b: x\n"),
    ("include", CONFIGDIR + "@include: inc1.conf\n"),
    ("include-upper", CONFIGDIR + "@INCLUDE: inc1.conf\n"),
    ("include-twice", CONFIGDIR + "@include: inc1.conf\n@include: inc1.conf\n"),
    ("include-other-spelling", CONFIGDIR + "@include: inc1.conf\n@include: ./inc1.conf\n"),
    ("include-missing", CONFIGDIR + "@include: missing.conf\n"),
    ("include-directory", CONFIGDIR + "@include: config\n"),
    ("include-empty", CONFIGDIR + "@include:\n"),
    ("lint-extras", CONFIGDIR + "partition-main: /m\nmetapartition-main: /mm\nmetapartition-none: /x\n"
     "archivepartition-main: /a\narchivepartition-none: /x\nbackuppartition-b: /b\n"
     "tier1searchpartition-main: /s\ntier1searchpartition-none: /s\nxlist-sent: Sent\n"
     "sasl_pwcheck_method: saslauthd\nsasl_whatever: 1\nlmtpunix_partition_select_mode: random\n"
     "sieve_partition-x: /x\nnotify_partition_select_mode: random\n"),
    ("lint-channels", CONFIGDIR + "sync_log_channels: ch1 ch2\nch1_sync_host: h\nch2_sync_host: h\n"
     "ch1_other: x\nch3_sync_host: h\nch1_sync_bogus: x\n"),
    ("deprecated", CONFIGDIR + "autocreatequota: 5\nimap_tls_cert_file: /x\n"),
    ("enum-normalised", CONFIGDIR + "virtdomains: yes\nserverinfo: 0\n"),
    ("enum-normalised-bad", CONFIGDIR + "qosmarking: yes\n"),
    ("bitfield", CONFIGDIR + "event_groups: message  quota\tflags\nsieve_extensions: imapflags\n"),
    ("bitfield-bad", CONFIGDIR + "event_groups: message bogus\n"),
    ("switch-loose", CONFIGDIR + "allowplaintext: nonsense\nallowapop: offline\naltnamespace: true-ish\n"),
    ("switch-bad", CONFIGDIR + "allowplaintext: o\n"),
    ("duration", CONFIGDIR + "archive_after: -\nconversations_expire_after: 1h30\n"),
    ("duration-bad", CONFIGDIR + "archive_after: 1d-\n"),
    ("configdirectory-missing", "partition-x: /x\n"),
    ("configdirectory-override", "imap_configdirectory: {configdir}\nconfigdirectory: /nonexistent\n"),
    ("debian-options", CONFIGDIR + "maxliteral: 1024\nmaxargssize: 0x10\n"),
    ("debian-option-bad", CONFIGDIR + "maxliteral: 50%\n"),
]


@pytest.mark.parametrize("name,template", TRICKY_FILES, ids=[name for name, _ in TRICKY_FILES])
def test_tricky_file_matches_cyrus(cyrus, name, template):
    compare(cyrus, template.replace("{configdir}", cyrus.configdir))


@pytest.mark.parametrize("service", ["imap", "pop3", "lmtpunix", "cyr_info", "IMAP"])
def test_service_view_matches_cyrus(cyrus, service):
    text = (CONFIGDIR.replace("{configdir}", cyrus.configdir)
            + "partition_select_mode: freespace-percent-most\nimap_partition_select_mode: random\n"
            + "pop3_partition_select_soft_usage_limit: 90\nlmtpunix_serverlist: b9\n"
            + "cyr_info_defaultserver: x\npartition-a: /a\nimap_partition-b: /b\n")
    compare(cyrus, text, service)


PARTITION_CHECK_FILES = [
    ("default-defined", "partition-main: /m\ndefaultpartition: main\n"),
    ("default-undefined", "partition-default: /d\ndefaultpartition: main\n"),
    ("default-by-service-key", "quota_partition-main: /m\ndefaultpartition: main\n"),
    ("default-by-other-service-key", "imap_partition-main: /m\ndefaultpartition: main\n"),
    ("no-default-no-partition", "serverlist: a\n"),
    ("proxyservers-no-partition", "proxyservers: p\n"),
    ("proxyservers-service-partition", "proxyservers: p\nquota_partition-x: /x\n"),
    ("proxyservers-partition", "proxyservers: p\npartition-x: /x\n"),
    ("unified-no-partition", "mupdate_server: m\nmupdate_config: unified\n"),
    ("unified-without-server", "mupdate_config: unified\n"),
    ("long-default", "defaultpartition: %s\npartition-%s: /x\n" % ("a" * 70, "a" * 70)),
    ("longest-default", "defaultpartition: %s\npartition-%s: /x\n" % ("a" * 69, "a" * 69)),
]


@pytest.mark.parametrize("name,body", PARTITION_CHECK_FILES,
                         ids=[name for name, _ in PARTITION_CHECK_FILES])
def test_partition_check_matches_cyrus(cyrus, name, body):
    """``quota`` reads the config as imapd does (CONFIG_NEED_PARTITION_DATA)."""
    path = cyrus.write(CONFIGDIR.replace("{configdir}", cyrus.configdir) + body)
    rc, stdout, stderr = cyrus.run([os.path.join(CYRUS_BIN, "quota"), "-C", path])
    conf, err = parse_ours(cyrus, path, service="quota", need_partition_data=True)
    if err is None:
        assert rc == 0, stderr
    else:
        assert rc == 78 and fatal_message(stderr) == err.message


def test_option_table_matches_cyrus(cyrus):
    """Each known option refuses a bad value as Cyrus does: type and value lists agree."""
    head = CONFIGDIR.replace("{configdir}", cyrus.configdir)
    for option in sorted(imapd_conf._STRING_OPTIONS - {"configdirectory"}):
        compare(cyrus, head + "%s: zz bad\n" % option, startup_may_fail=True)
    valued = dict(imapd_conf._ENUM_VALUES)
    valued.update(imapd_conf._STRINGLIST_VALUES)
    for option in sorted(imapd_conf.KNOWN_OPTIONS - imapd_conf._STRING_OPTIONS):
        compare(cyrus, head + "%s: zz bad\n" % option, startup_may_fail=True)
        if option in valued:
            compare(cyrus, head + "%s: yes\n" % option, startup_may_fail=True)
    for option, values in sorted(valued.items()):
        for value in values:
            compare(cyrus, head + "%s: %s\n" % (option, value), startup_may_fail=True)
    for option, values in sorted(imapd_conf._BITFIELD_VALUES.items()):
        compare(cyrus, head + "%s: %s\n" % (option, " ".join(values)), startup_may_fail=True)


# -- generated files --------------------------------------------------------------------

KEYS = st.sampled_from([
    "partition_select_mode", "partition_select_exclude", "partition_select_soft_usage_limit",
    "partition_select_usage_reinit", "serverlist", "serverlist_select_mode",
    "serverlist_select_soft_usage_limit", "serverlist_select_usage_reinit", "defaultpartition",
    "defaultserver", "partition_mode", "partition_mode_exclude", "serverlist_mode",
    "Partition_Select_Mode", "imap_partition_select_mode", "IMAP_defaultpartition",
    "pop3_partition_select_mode", "foo_partition_select_mode", "imap_partition_mode",
    "partition-main", "partition-Main", "partition-p1", "partition-", "imap_partition-p1",
    "metapartition-p1", "sasl_mech_list", "xlist-x", "@include", "@other", "",
    "partition main", "partition-p1 ", " partition-p1", "part#x", "configdirectory",
])
VALUES = st.sampled_from([
    "random", "freespace-most", "freespace-percent-most", "freespace-percent-weighted",
    "freespace-percent-weighted-delta", "Random", "freespace_most", "yes", "random x",
    "0", "80", "80%", "0x10", "062", "08", "-1", "+3", "0x", "99999999999999999999", "1 2",
    "main", "Main", "p1", "mail-1", "p1, main", "/srv/a#b", "inc1.conf", "missing.conf",
    "", " ", "\t", "{configdirectory}", "a\\",
])
ENDINGS = st.sampled_from(["\n", "\n", "\n", "\r\n", "\\\n"])
SPACES = st.sampled_from(["", " ", "\t", "  ", "\r", "\x0b"])


@st.composite
def config_lines(draw):
    kind = draw(st.sampled_from(["option", "option", "option", "option", "comment", "blank"]))
    if kind == "comment":
        line = draw(SPACES) + "#" + draw(VALUES)
    elif kind == "blank":
        line = draw(SPACES)
    else:
        line = draw(SPACES) + draw(KEYS) + ":" + draw(SPACES) + draw(VALUES) + draw(SPACES)
    return line + draw(ENDINGS)


# About 100 generated files in all; IMAPD_CONF_EXAMPLES sets another total for a longer hunt.
EXAMPLES = int(os.environ.get("IMAPD_CONF_EXAMPLES", "100"))
GENERATED = dict(derandomize=True, deadline=None, suppress_health_check=list(hypothesis.HealthCheck))


@hypothesis.settings(max_examples=EXAMPLES * 6 // 10, **GENERATED)
@hypothesis.given(lines=st.lists(config_lines(), max_size=8),
                  service=st.sampled_from(["imap", "pop3", "foo"]))
def test_generated_file_matches_cyrus(cyrus, lines, service):
    text = CONFIGDIR.replace("{configdir}", cyrus.configdir) + "".join(lines)
    compare(cyrus, text, service)


@hypothesis.settings(max_examples=EXAMPLES * 4 // 10, **GENERATED)
@hypothesis.given(body=st.text(alphabet=list(":: \t\r\n\n\\#@_-aAix0\u00e9%"), max_size=40))
def test_generated_noise_matches_cyrus(cyrus, body):
    """Short strings over the characters the reader treats specially."""
    text = CONFIGDIR.replace("{configdir}", cyrus.configdir) + "imap_x: 1\n" + body
    compare(cyrus, text, "imap")
