# -*- coding: utf-8 -*-
# Copyright: imapops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read imapd.conf exactly as Cyrus IMAP 3.6.1 reads it.

``parse_imapd_conf`` accepts the files Cyrus 3.6.1 accepts and refuses, with Cyrus's own
message, the files it refuses (``config_read`` in ``lib/libconfig.c``): a refused file is a
service that does not start. The rules are those of the project's spec (Cyrus semantics,
section 8); the finer points below were checked against the real ``cyr_info``:

- Lines are split on ``\\n`` only. A ``\\r`` is whitespace, trimmed from both ends of a
  value, so CRLF files read fine; but ``\\`` followed by ``\\r\\n`` is not a
  continuation: the backslash stays in the value.
- A line continued with ``\\`` is numbered, in messages, by its last physical line. A
  continuation on the very last line of the file (nothing follows) drops that line.
- Key characters, whitespace and case folding are those of the C locale (ASCII only).
- A service-specific key (``imap_partition_select_mode``) read after the generic one
  replaces it; a generic key read after the service-specific one is skipped without being
  checked, so a file can be valid for one service and fatal for another. Parse once per
  service to validate a file for all of them.
- ``@include`` opens its path as given, relative to the working directory of the Cyrus
  process (not to the including file); under ``master`` that is ``<configdirectory>/cores``
  or ``<configdirectory>``. A directory reads as an empty file. "Included twice" compares
  the path strings as written.
- ``CYRUS_PREFIX`` (which Cyrus prepends to config paths when set in its environment) is
  not applied.

Besides the options of the 3.6.1 tag, Debian's 3.6.1 package (security backport of
CVE-2024-34055) knows two more integer options, ``maxargssize`` and ``maxliteral``; they are
known here too, as they are to the installed server.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import re
import string
from collections import OrderedDict

from ansible_collections.imapops.cyrus.plugins.module_utils.distribution import SELECT_MODES

CYRUS_VERSION = "3.6.1"

# The distribution options and Cyrus's defaults for them (lib/imapoptions).
DISTRIBUTION_DEFAULTS = OrderedDict([
    ("partition_select_mode", "freespace-most"),
    ("partition_select_exclude", None),
    ("partition_select_soft_usage_limit", 0),
    ("partition_select_usage_reinit", 0),
    ("serverlist", None),
    ("serverlist_select_mode", "freespace-most"),
    ("serverlist_select_soft_usage_limit", 0),
    ("serverlist_select_usage_reinit", 0),
    ("defaultpartition", None),
    ("defaultserver", None),
])

# Services of the SERVICES section of Debian's stock /etc/cyrus.conf (3.6.1 package):
# what ``cyr_info conf-lint`` accepts as ``<service>_`` prefixes on a stock install.
DEBIAN_CYRUS_CONF_SERVICES = ("imap", "pop3", "nntp", "http", "lmtpunix", "sieve", "notify")

# ---------------------------------------------------------------------------------------
# Option table of Cyrus 3.6.1, generated from lib/imapoptions at tag cyrus-imapd-3.6.1
# (plus Debian's maxargssize and maxliteral). Names by type; for ENUM, STRINGLIST and
# BITFIELD options the accepted values (BITFIELD aliases such as imapflags included).

_STRING_OPTIONS = frozenset("""
addressbookprefix admins afspts_localrealms afspts_mycell altprefix annotation_callout
annotation_db_path annotation_definitions aps_topic aps_topic_caldav aps_topic_carddav
autocreate_inbox_folders autocreate_sieve_compiled_script autocreate_sieve_folders
autocreate_sieve_script autocreate_sieve_script_compiled autocreate_subscribe_folders
autocreate_subscribe_sharedfolders autocreate_users autocreateinboxfolders autosievefolders
autosubscribeinboxfolders autosubscribesharedfolders backup_db_path backup_staging_path
caldav_maxdatetime caldav_mindatetime caldav_realm calendar_default_displayname
calendar_user_address_set calendarprefix carddav_realm caringo_hostname client_bind_name
commandmintimer configdirectory conversations_counted_flags cyrus_group cyrus_user dav_realm
davdriveprefix davnotificationsprefix debug_command debug_writefail_guid defaultacl
defaultdomain defaultpartition defaultsearchtier defaultserver deletedprefix deleteright
duplicate_db_path event_exclude_flags event_exclude_specialuse event_notifier
force_sasl_client_mech http_h2_altsvc http_jwt_key_dir httpallowcors httpallowedurls httpdocroot
httplogheaders idlesocket imipnotifier implicit_owner_rights ischedule_dkim_domain
ischedule_dkim_key_file ischedule_dkim_selector jmap_emailsearch_db_path jmap_imagesize_annot
jmap_inlinedcids_annot jmap_preview_annot jmappushsubscriptionfolder jmapsubmissionfolder
jmapuploadfolder ldap_authz ldap_base ldap_bind_dn ldap_ca_dir ldap_ca_file ldap_ciphers
ldap_client_cert ldap_client_key ldap_domain_base_dn ldap_domain_filter
ldap_domain_name_attribute ldap_domain_result_attribute ldap_filter ldap_group_base
ldap_group_filter ldap_id ldap_mech ldap_member_attribute ldap_member_base ldap_member_filter
ldap_password ldap_realm ldap_sasl_authc ldap_sasl_authz ldap_sasl_mech ldap_sasl_password
ldap_sasl_realm ldap_servers ldap_tls_cacert_dir ldap_tls_cacert_file ldap_tls_cert
ldap_tls_ciphers ldap_tls_key ldap_uri ldap_user_attribute lmtp_catchall_mailbox
lmtp_exclude_specialuse lmtpsocket lock_debugtime loginrealms mailbox_initial_flags mailnotifier
mboxlist_db_path mboxname_lockpath mupdate_authname mupdate_password mupdate_realm
mupdate_server mupdate_username netscapeurl newsgroups newsmaster newspeer newspostuser
newsprefix newsrc_db_path notesmailbox notify_external notifysocket object_storage_dummy_spool
openio_account openio_namespace openio_verbosity partition_select_exclude plaintextloginalert
postmaster postspec postuser proc_path prometheus_stats_dir proxy_authname proxy_password
proxy_realm proxyservers ptloader_sock ptscache_db_path quota_db_path restore_authname
restore_password restore_realm rss_feedlist_template rss_feeds rss_realm
search_attachment_extractor_url search_index_skip_domains search_index_skip_users search_maxtime
search_stopword_path sendmail sendmail_auth_id serverlist servername sharedprefix sieve_folder
sievedir sievenotifier smtp_auth_authname smtp_auth_password smtp_auth_realm smtp_host
specialuse_extra specialuse_nochildren specialuse_protect sql_database sql_hostnames sql_passwd
sql_user srs_domain srs_secrets srs_separator srvtab statuscache_db_path submitservers
suppress_capabilities sync_authname sync_cache_db_path sync_host sync_log_channels
sync_log_unsuppressable_channels sync_password sync_port sync_realm sync_rightnow_channel
sync_shutdown_file syslog_facility syslog_prefix temp_path tls_ca_file tls_ca_path tls_cert_file
tls_cipher_list tls_ciphers tls_client_ca_dir tls_client_ca_file tls_client_cert tls_client_key
tls_crl_file tls_eccurve tls_key_file tls_server_ca_dir tls_server_ca_file tls_server_cert
tls_server_dhparam tls_server_key tls_sessions_db_path tls_versions tlscache_db_path umask
userdeny_db_path userprefix virusscan_notification_subject virusscan_notification_template
zoneinfo_db_path zoneinfo_dir
""".split())

_INT_OPTIONS = frozenset("""
archive_maxsize autocreate_quota autocreate_quota_messages autocreatequota autocreatequotamsg
backup_compact_maxsize backup_compact_minsize backup_compact_work_threshold boundary_limit
caringo_port conversations_max_guidexists conversations_max_guidinfolder
conversations_max_guidrecords conversations_max_thread event_content_size icalendar_max_size
jmap_mail_max_size_attachments_per_email jmap_max_calls_in_request jmap_max_catenate_items
jmap_max_concurrent_requests jmap_max_concurrent_upload jmap_max_objects_in_get
jmap_max_objects_in_set jmap_max_size_blob_set jmap_max_size_request jmap_max_size_upload
jmap_preview_length ldap_size_limit ldap_version mailbox_default_options
mailbox_maxmessages_addressbook mailbox_maxmessages_calendar mailbox_maxmessages_email
maxargssize maxheaderlines maxliteral maxlogins_per_host maxlogins_per_user maxmessagesize
maxquoted maxword mupdate_connections_max mupdate_port mupdate_retry_delay mupdate_workers_max
mupdate_workers_maxspare mupdate_workers_minspare mupdate_workers_start
partition_select_soft_usage_limit partition_select_usage_reinit poppollpadding quotawarn
quotawarnkb quotawarnmsg rss_maxitems rss_maxsynopsis sasl_maximum_layer sasl_minimum_layer
search_batchsize search_maxsize search_normalisation_max search_queryscan search_snippet_length
serverlist_select_soft_usage_limit serverlist_select_usage_reinit sieve_maxscripts
sieve_maxscriptsize srs_hashlength sync_batchsize tcp_keepalive_cnt vcard_max_size
""".split())

_SWITCH_OPTIONS = frozenset("""
acl_admin_implies_write allowallsubscribe allowanonymouslogin allowapop allowdeleted
allownewnews allowplaintext allowsetacl allowusermoves altnamespace annotation_allow_undefined
annotation_callout_disable_append annotation_enable_legacy_commands anyoneuseracl anysievefolder
archive_enabled archive_keepflagged auditlog autocreate_post autocreate_sieve_script_compile
autocreate_subscribe_sharedfolders_all autoexpunge autosubscribe_all_sharedfolders
backup_keep_previous caldav_accept_invalid_rrules caldav_allowattach caldav_allowcalendaradmin
caldav_create_attach caldav_create_default caldav_create_sched carddav_allowaddmember
carddav_allowaddressbookadmin carddav_repair_vcard chatty client_bind conversations
conversations_keep_existing createonpost crossdomains crossdomains_onlyother debug
delete_unsubscribe disable_shared_namespace disable_user_namespace
disconnect_on_vanished_mailbox duplicatesuppression fastmailsharing flushseenstate
foolstupidclients fulldirhash generate_compiled_sieve_script hashimapspool httpallowcompress
httpallowtrace httpcontentmd5 httpprettytelemetry ignorereference imapidresponse imapmagicplus
improved_mboxlist_sort iolog ischedule_dkim_required jmap_nonstandard_extensions
jmap_set_has_attachment jmap_vacation jmapsubmission_deleteonsend ldap_referrals ldap_restart
ldap_sasl ldap_start_tls ldap_tls_check_peer ldap_verify_peer literalminus lmtp_downcase_rcpt
lmtp_fuzzy_mailbox_match lmtp_over_quota_perm_failure lmtp_preparse lmtp_strict_quota
lmtp_strict_rfc2821 loginuseacl logtimestamps mailbox_legacy_dirs master_bind_errors_fatal
munge8bit object_storage_enabled openio_autocreate popsubfolders popuseacl popuseimapflags
prometheus_enabled proxy_compress proxyd_allow_status_referral proxyd_disable_mailbox_referrals
ptskrb5_convert524 ptskrb5_strip_default_realm quota_use_conversations readonly reject8bit
reverseacls reverseuniqueids rfc2046_strict rfc2047_utf8 rfc3028_strict search_fuzzy_always
search_index_headers search_index_language search_index_parts search_query_language
search_skipdiacrit search_skiphtml sieve_allowreferrals sieve_sasl_send_unsolicited_capability
sieve_use_lmtp_reject sieve_utf8fileinto sieveusehomedir singleinstancestore
skiplist_always_checkpoint skiplist_unsafe soft_noauth specialusealways sql_usessl
srs_alwaysrewrite statuscache sync_log sync_log_chain sync_try_imap tcp_keepalive
telemetry_bysessionid tls_prefer_server_ciphers tls_required unix_group_enable unixhierarchysep
username_tolower xbackup_enabled
""".split())

_DURATION_OPTIONS = frozenset("""
archive_after archive_days backup_retention backup_retention_days caldav_historical_age
client_timeout conversations_expire_after conversations_expire_days dav_lock_timeout
failedloginpause http_jwt_max_age httpkeepalive httptimeout imapidlepoll imapidletimeout
jmap_max_delayed_send jmap_pushpoll jmap_querycache_max_age ldap_time_limit ldap_timeout
lmtptxn_timeout nntptimeout openio_proxy_timeout openio_rawx_timeout plaintextloginpause
popexpiretime popminpoll poptimeout prometheus_update_freq ptscache_timeout rss_maxage
sieve_duplicate_max_expiration sieve_vacation_max_response sieve_vacation_min_response
sync_reconnect_maxwait sync_repeat_interval sync_timeout tcp_keepalive_idle tcp_keepalive_intvl
timeout tls_session_timeout websocket_timeout
""".split())

_ENUM_VALUES = {
    "caldav_allowscheduling": ("off", "on", "apple"),
    "delete_mode": ("immediate", "delayed"),
    "event_content_inclusion_mode": ("standard", "message", "header", "body", "headerbody"),
    "expunge_mode": ("immediate", "semidelayed", "delayed"),
    "mupdate_config": ("standard", "unified", "replicated"),
    "qosmarking": (
        "cs0", "cs1", "cs2", "cs3", "cs4", "cs5", "cs6", "cs7", "af11", "af12", "af13", "af21",
        "af22", "af23", "af31", "af32", "af33", "af41", "af42", "af43", "ef"
    ),
    "search_engine": ("none", "squat", "xapian"),
    "search_whitespace": ("skip", "merge", "keep"),
    "serverinfo": ("off", "min", "on"),
    "tls_client_certs": ("off", "optional", "require"),
    "uidl_format": ("uidonly", "cyrus", "dovecot", "courier"),
    "virtdomains": ("off", "userid", "on"),
}

_STRINGLIST_VALUES = {
    "annotation_db": ("skiplist", "twoskip", "zeroskip"),
    "auth_mech": ("unix", "pts", "krb", "krb5"),
    "backup_db": ("skiplist", "sql", "twoskip", "zeroskip"),
    "conversations_db": ("skiplist", "sql", "twoskip", "zeroskip"),
    "duplicate_db": ("skiplist", "sql", "twoskip", "zeroskip"),
    "ldap_deref": ("search", "find", "always", "never"),
    "ldap_domain_scope": ("sub", "one", "base"),
    "ldap_group_scope": ("sub", "one", "base"),
    "ldap_member_method": ("attribute", "filter"),
    "ldap_member_scope": ("sub", "one", "base"),
    "ldap_scope": ("sub", "one", "base"),
    "mboxkey_db": ("skiplist", "twoskip", "zeroskip"),
    "mboxlist_db": ("flat", "skiplist", "sql", "twoskip", "zeroskip"),
    "partition_select_mode": SELECT_MODES,
    "prometheus_need_auth": ("none", "user", "admin"),
    "pts_module": ("afskrb", "ldap"),
    "ptscache_db": ("skiplist", "twoskip", "zeroskip"),
    "quota_db": ("flat", "skiplist", "sql", "quotalegacy", "twoskip", "zeroskip"),
    "search_indexed_db": ("flat", "skiplist", "twoskip", "zeroskip"),
    "seenstate_db": ("flat", "skiplist", "twoskip", "zeroskip"),
    "serverlist_select_mode": SELECT_MODES,
    "smtp_backend": ("host", "sendmail"),
    "sortcache_db": ("skiplist", "twoskip", "zeroskip"),
    "sql_engine": ("mysql", "pgsql", "sqlite"),
    "subscription_db": ("flat", "skiplist", "twoskip", "zeroskip"),
    "statuscache_db": ("skiplist", "sql", "twoskip", "zeroskip"),
    "sync_cache_db": ("skiplist", "sql", "twoskip", "zeroskip"),
    "tlscache_db": ("skiplist", "sql", "twoskip", "zeroskip"),
    "tls_sessions_db": ("skiplist", "sql", "twoskip", "zeroskip"),
    "userdeny_db": ("flat", "skiplist", "sql", "twoskip", "zeroskip"),
    "zoneinfo_db": ("flat", "skiplist", "twoskip", "zeroskip"),
}

_BITFIELD_VALUES = {
    "calendar_component_set": (
        "VEVENT", "VTODO", "VJOURNAL", "VFREEBUSY", "VAVAILABILITY", "VPOLL"
    ),
    "event_extra_params": (
        "bodyStructure", "clientAddress", "diskUsed", "flagNames", "messageContent", "messageSize",
        "messages", "modseq", "service", "timestamp", "uidnext", "vnd.cmu.midset",
        "vnd.cmu.unseenMessages", "vnd.cmu.envelope", "vnd.cmu.sessionId", "vnd.cmu.mailboxACL",
        "vnd.cmu.mbtype", "vnd.cmu.davFilename", "vnd.cmu.davUid", "vnd.fastmail.clientId",
        "vnd.fastmail.sessionId", "vnd.fastmail.convExists", "vnd.fastmail.convUnseen",
        "vnd.fastmail.cid", "vnd.fastmail.counters", "vnd.fastmail.jmapEmail",
        "vnd.fastmail.jmapStates", "vnd.cmu.emailid", "vnd.cmu.threadid"
    ),
    "event_groups": (
        "message", "quota", "flags", "access", "mailbox", "subscription", "calendar",
        "applepushservice"
    ),
    "httpmodules": (
        "admin", "caldav", "carddav", "cgi", "domainkey", "freebusy", "ischedule", "jmap",
        "prometheus", "rss", "tzdist", "webdav"
    ),
    "metapartition_files": (
        "header", "index", "cache", "expunge", "squat", "annotations", "lock", "dav", "archivecache"
    ),
    "newsaddheaders": ("to", "replyto"),
    "sieve_extensions": (
        "fileinto", "reject", "vacation", "vacation-seconds", "notify", "include", "envelope",
        "environment", "body", "relational", "regex", "subaddress", "copy", "date", "index",
        "imap4flags", "imapflags", "mailbox", "mboxmetadata", "servermetadata", "variables",
        "editheader", "extlists", "duplicate", "ihave", "fcc", "special-use", "redirect-dsn",
        "redirect-deliverby", "mailboxid", "vnd.cyrus.log", "x-cyrus-log", "vnd.cyrus.jmapquery",
        "x-cyrus-jmapquery", "vnd.cyrus.imip", "snooze", "vnd.cyrus.snooze", "x-cyrus-snooze"
    ),
}

_DEPRECATED_OPTIONS = frozenset("""
archive_days autocreate_sieve_compiled_script autocreateinboxfolders autocreatequota
autocreatequotamsg autosievefolders autosubscribe_all_sharedfolders autosubscribeinboxfolders
autosubscribesharedfolders backup_retention_days carddav_repair_vcard conversations_expire_days
createonpost flushseenstate generate_compiled_sieve_script jmap_emailsearch_db_path
ldap_sasl_authc ldap_sasl_authz ldap_sasl_mech ldap_sasl_password ldap_sasl_realm ldap_servers
ldap_tls_cacert_dir ldap_tls_cacert_file ldap_tls_cert ldap_tls_check_peer ldap_tls_ciphers
ldap_tls_key reverseuniqueids search_index_parts search_query_language tls_ca_file tls_ca_path
tls_cert_file tls_cipher_list tls_key_file tlscache_db tlscache_db_path
""".split())

KNOWN_OPTIONS = frozenset(
    _STRING_OPTIONS | _INT_OPTIONS | _SWITCH_OPTIONS | _DURATION_OPTIONS
    | frozenset(_ENUM_VALUES) | frozenset(_STRINGLIST_VALUES) | frozenset(_BITFIELD_VALUES)
)

# The names the public documentation page gives (spec section 1): Cyrus 3.6.1 accepts
# them silently and ignores them. Each maps to the option Cyrus really reads.
DOC_PAGE_NAMES = OrderedDict([
    ("partition_mode", "partition_select_mode"),
    ("partition_mode_exclude", "partition_select_exclude"),
    ("partition_mode_soft_usage_limit", "partition_select_soft_usage_limit"),
    ("partition_mode_usage_reinit", "partition_select_usage_reinit"),
    ("serverlist_mode", "serverlist_select_mode"),
    ("serverlist_mode_soft_usage_limit", "serverlist_select_soft_usage_limit"),
    ("serverlist_mode_usage_reinit", "serverlist_select_usage_reinit"),
])


def option_type(option):
    """Type of a known option as in lib/imapoptions: ``int``, ``switch``, ``duration``,
    ``enum``, ``stringlist``, ``bitfield`` or ``string``; None for keys Cyrus does not
    know (``partition-<name>``, ``sasl_*``, service-specific keys, unknown names)."""
    option = _ascii_lower(option)
    for kind, names in (("int", _INT_OPTIONS), ("switch", _SWITCH_OPTIONS),
                        ("duration", _DURATION_OPTIONS), ("enum", _ENUM_VALUES),
                        ("stringlist", _STRINGLIST_VALUES), ("bitfield", _BITFIELD_VALUES),
                        ("string", _STRING_OPTIONS)):
        if option in names:
            return kind
    return None


def stored_value(option, value):
    """What Cyrus keeps for ``value`` of the known ``option`` (an int for int and switch
    options, the canonical string otherwise), or None when Cyrus refuses the value.

    Two spellings with the same stored value (``0x10`` and ``16``, ``yes`` and ``1``) mean
    the same to Cyrus. Values are trimmed first, as Cyrus trims them.
    """
    option = _ascii_lower(option)
    value = value.strip(_C_SPACE)
    if option not in KNOWN_OPTIONS:
        return value
    try:
        stored = _check_value(option, value, 0, None)
    except ImapdConfError:
        return None
    return c_int(stored) if option in _INT_OPTIONS else stored


# ---------------------------------------------------------------------------------------
# C-locale character classes: Cyrus uses isspace/isalnum/isupper without setlocale().

_C_SPACE = " \t\n\v\f\r"
_KEY_CHARS = frozenset(string.ascii_letters + string.digits + "-_")
_ALNUM = frozenset(string.ascii_letters + string.digits)
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
_HEX_DIGITS = frozenset(string.hexdigits)
_DURATION = re.compile(r"-?(?:[0-9]+[dhms])*[0-9]*\Z")
_LONG_MAX = 2 ** 63 - 1
_LONG_MIN = -2 ** 63
_CONFIGDIRECTORY_MARK = "{configdirectory}"
# config_partitiondir() builds "partition-<name>" in an 80-byte buffer and gives up if it
# does not fit; config_getoverflowstring() truncates "<service>_<key>" to 255 bytes.
_PARTITION_KEY_MAX = 79
_SERVICE_KEY_MAX = 255


def _ascii_lower(text):
    return text.translate(_ASCII_LOWER)


def _as_bytes(text):
    return text.encode("utf-8", "surrogateescape")


class ImapdConfError(ValueError):
    """A file Cyrus 3.6.1 refuses (every Cyrus service exits at startup on it).

    ``message`` is Cyrus's own wording where Cyrus has one; ``lineno`` counts lines in
    ``path`` (the included file for an error inside an ``@include``).
    """

    def __init__(self, message, lineno=None, path=None, option=None):
        self.message = message
        self.lineno = lineno
        self.path = path
        self.option = option
        super(ImapdConfError, self).__init__(self.__str__())

    def __str__(self):
        if self.path is not None and self.lineno is not None:
            return "%s line %d: %s" % (self.path, self.lineno, self.message)
        if self.path is not None:
            return "%s: %s" % (self.path, self.message)
        if self.lineno is not None:
            return "line %d: %s" % (self.lineno, self.message)
        return self.message


def c_strtol(text):
    """Return ``strtol(text, &end, 0)`` if it consumes all of ``text`` (glibc), else None.

    Accepts leading whitespace and a sign, ``0x`` hex and ``0`` octal; out-of-range values
    saturate at the limits of a 64-bit long, as glibc does (Cyrus does not check errno).
    """
    pos, end = 0, len(text)
    while pos < end and text[pos] in _C_SPACE:
        pos += 1
    negative = False
    if pos < end and text[pos] in "+-":
        negative = text[pos] == "-"
        pos += 1
    if text[pos:pos + 2] in ("0x", "0X") and text[pos + 2:pos + 3] in _HEX_DIGITS:
        base, digits = 16, string.hexdigits
        pos += 2
    elif text[pos:pos + 1] == "0":
        base, digits = 8, string.octdigits
    else:
        base, digits = 10, string.digits
    start = pos
    while pos < end and text[pos] in digits:
        pos += 1
    if pos == start or pos != end:
        return None
    value = int(text[start:pos], base)
    if negative:
        value = -value
    return max(_LONG_MIN, min(_LONG_MAX, value))


def c_int(value):
    """Convert a C long to int (32 bits, two's complement) as config_getint() returns it."""
    return (value + 2 ** 31) % 2 ** 32 - 2 ** 31


def _parse_switch(value):
    """config_parse_switch(): only the first one or two characters count."""
    if value[:1] in ("0", "n", "f") or value[:2] == "of":
        return 0
    if value[:1] in ("1", "y", "t") or value[:2] == "on":
        return 1
    return None


def split_logical_lines(text):
    """Cyrus's fgets() loop over imapd.conf text: yield (first, end, line, terminated).

    ``first`` and ``end`` index the physical lines (``text.split("\\n")``) the logical line
    spans, ``end`` exclusive and equal to the 1-based number of its last physical line.
    A line ending in a backslash continues on the next one; a NUL ends what fgets() keeps
    of a physical line. ``terminated`` is False only for a continuation left dangling at
    the end of the file, which Cyrus drops.
    """
    pieces = text.split("\n")
    pending, start = "", None
    for index, piece in enumerate(pieces):
        has_newline = index < len(pieces) - 1
        if not has_newline and not piece:
            break  # end of file
        if start is None:
            start, pending = index, ""
        if piece[:1] == "\0":
            line = pending  # fgets() chunk starting with NUL: nothing is appended
        else:
            nul = piece.find("\0")
            if nul >= 0:
                line = pending + piece[:nul]
            else:
                line = pending + piece
                if has_newline and line.endswith("\\"):
                    pending = line[:-1]
                    continue
        yield start, index + 1, line, True
        start = None
    if start is not None:
        yield start, len(pieces) - (0 if pieces[-1] else 1), pending, False


class _Setting:
    """What Cyrus keeps for one known option: where its value in force came from."""

    __slots__ = ("seen", "key", "value", "stored", "path", "lineno")

    def __init__(self):
        self.seen = 0  # 0: unset, 1: generic key read, 2: service-specific key read
        self.key = self.value = self.stored = self.path = self.lineno = None


class _Reader:
    """State of one config_read(): known options, the overflow table and the includes."""

    def __init__(self, service, include_cwd):
        self.service = service
        self.include_cwd = include_cwd
        self.settings = {}
        self.overflow = OrderedDict()
        self.raw = OrderedDict()
        self.where = {}
        self.included = set()
        self.included_files = []

    # -- files -------------------------------------------------------------------------

    def read_file(self, name, from_path=None, from_lineno=None):
        """Read an ``@include``d (or the main) file given by the path string ``name``."""
        location = name
        if self.include_cwd is not None:
            location = os.path.join(self.include_cwd, name)
        try:
            with open(location, "rb") as handle:
                data = handle.read()
        except OSError as exc:
            if exc.errno != errno.EISDIR:  # fopen() opens a directory; reading it gives nothing
                raise ImapdConfError(
                    "can't open configuration file %s: %s" % (name, exc.strerror or exc),
                    lineno=from_lineno, path=from_path if from_lineno else name,
                    option="@include" if from_lineno else None)
            data = b""
        if name in self.included:
            raise ImapdConfError("configuration file %s included twice" % name,
                                 lineno=from_lineno, path=from_path, option="@include")
        self.included.add(name)
        if from_lineno is not None:
            self.included_files.append(name)
        self.read_text(data.decode("utf-8", "surrogateescape"), name)

    def read_text(self, text, path):
        """Read each logical line (numbered by its last physical line), as Cyrus does."""
        for _first, end, line, terminated in split_logical_lines(text):
            if terminated:  # a continuation dangling at the end of the file is dropped
                self.read_line(line, end, path)

    # -- one logical line ----------------------------------------------------------------

    def read_line(self, line, lineno, path):
        shown_path = "" if path is None else " %s" % path
        pos, end = 0, len(line)
        while pos < end and line[pos] in _C_SPACE:
            pos += 1
        if pos == end or line[pos] == "#":
            return
        key_start = pos
        if line[pos] == "@":
            pos += 1
        while pos < end and line[pos] in _KEY_CHARS:
            pos += 1
        if pos == end or line[pos] != ":":
            raise ImapdConfError(
                "invalid option name on line %d of configuration file%s" % (lineno, shown_path),
                lineno=lineno, path=path)
        key = _ascii_lower(line[key_start:pos])
        value = line[pos + 1:].strip(_C_SPACE)
        if not value:
            raise ImapdConfError(
                "empty option value on line %d of configuration file" % lineno,
                lineno=lineno, path=path, option=key)

        if key.startswith("@"):
            if key != "@include":
                raise ImapdConfError(
                    "invalid directive on line %d of configuration file%s" % (lineno, shown_path),
                    lineno=lineno, path=path, option=key)
            self.read_file(value, path, lineno)
            return

        option, service_specific = self.resolve(key)
        if option == "":
            # Cyrus matches its placeholder option IMAPOPT_ZERO, whose name is empty, and
            # calls abort() on it: the process dies without a message.
            raise ImapdConfError(
                "option name '%s' on line %d of configuration file%s names no option "
                "(Cyrus 3.6.1 aborts on it)" % (key, lineno, shown_path),
                lineno=lineno, path=path, option=key)
        if key not in self.raw:
            self.raw[key] = value
            self.where[key] = (path, lineno)
        if option is None:
            self.add_overflow(key, value, lineno, path)
            return
        self.set_known(option, key, value, service_specific, lineno, path)

    def resolve(self, key):
        """Return (known option or None, service_specific) for a key, as Cyrus matches it."""
        if self.service is not None:
            prefix_length = len(self.service)
            if (len(key) > prefix_length and key[prefix_length] == "_"
                    and key[:prefix_length] == _ascii_lower(self.service)):
                service_key = key[prefix_length + 1:]
                if service_key == "" or service_key in KNOWN_OPTIONS:
                    return service_key, True
        if key == "" or key in KNOWN_OPTIONS:
            return key, False
        return None, False

    def add_overflow(self, key, value, lineno, path):
        if key in self.overflow:
            raise ImapdConfError(
                "option '%s' was specified twice in config file "
                "(second occurrence on line %d)" % (key, lineno),
                lineno=lineno, path=path, option=key)
        self.overflow[key] = value

    def set_known(self, option, key, value, service_specific, lineno, path):
        setting = self.settings.setdefault(option, _Setting())
        if (setting.seen == 1 and not service_specific) or (setting.seen == 2 and service_specific):
            raise ImapdConfError(
                "option '%s' was specified twice in config file "
                "(second occurrence on line %d)" % (key, lineno),
                lineno=lineno, path=path, option=key)
        if setting.seen == 2:
            return  # generic key after the service-specific one: skipped, not even checked
        setting.seen = 2 if service_specific else 1
        if option in _DEPRECATED_OPTIONS:
            # Cyrus keeps a copy under the key as written (conf-lint then lists it)
            self.add_overflow(key, value, lineno, path)
        setting.stored = _check_value(option, value, lineno, path)
        setting.key, setting.value, setting.path, setting.lineno = key, value, path, lineno


def _check_value(option, value, lineno, path):
    """Validate a known option's value as Cyrus does; return what Cyrus stores."""
    if option in _INT_OPTIONS:
        number = c_strtol(value)
        if number is None:
            raise ImapdConfError("non-integer value for %s in line %d" % (option, lineno),
                                 lineno=lineno, path=path, option=option)
        return number
    if option in _SWITCH_OPTIONS:
        switch = _parse_switch(value)
        if switch is None:
            raise ImapdConfError("non-switch value for %s in line %d" % (option, lineno),
                                 lineno=lineno, path=path, option=option)
        return switch
    if option in _DURATION_OPTIONS:
        if not _DURATION.match(value):
            raise ImapdConfError(
                "unparsable duration '%s' for %s in line %d" % (value, option, lineno),
                lineno=lineno, path=path, option=option)
        return value
    if option in _BITFIELD_VALUES:
        words = _c_split(value)
        for word in words:
            if word not in _BITFIELD_VALUES[option]:
                raise ImapdConfError(
                    "invalid value '%s' for %s in line %d" % (word, option, lineno),
                    lineno=lineno, path=path, option=option)
        return " ".join(words)
    if option in _ENUM_VALUES or option in _STRINGLIST_VALUES:
        allowed = _ENUM_VALUES.get(option) or _STRINGLIST_VALUES[option]
        if option in _ENUM_VALUES:
            if value in ("1", "yes", "t", "true"):
                value = "on"
            elif value in ("0", "no", "f", "false"):
                value = "off"
        if value not in allowed:  # the whole value, internal spaces included
            raise ImapdConfError(
                "invalid value '%s' for %s in line %d" % (value, option, lineno),
                lineno=lineno, path=path, option=option)
        return value
    return value


def _c_split(text):
    words, word = [], ""
    for char in text:
        if char in _C_SPACE:
            if word:
                words.append(word)
            word = ""
        else:
            word += char
    if word:
        words.append(word)
    return words


class ImapdConf:
    """imapd.conf as one Cyrus service (``service``, its name in cyrus.conf) sees it.

    ``raw``: every key as read (lower-cased) -> its value, first occurrence; ``lines``: key
    -> line number and ``locations``: key -> (file, line number) of that occurrence;
    ``partitions``: ``partition-<name>`` entries, name -> path, in file order;
    ``overrides``: option -> (service-specific key, value) in force for ``service``;
    ``unknown_options``: keys Cyrus ignores, as ``cyr_info conf-lint`` lists them (this
    includes deprecated option names, which Cyrus does honour); ``deprecated_options``:
    deprecated option keys used; ``included_files``: ``@include`` paths, as written.
    """

    def __init__(self, reader, path, cyrus_services):
        self.service = reader.service
        self.path = path
        self.raw = reader.raw
        self.locations = dict(reader.where)
        self.lines = dict((key, where[1]) for key, where in reader.where.items())
        self.included_files = list(reader.included_files)
        self._settings = dict((option, setting) for option, setting in reader.settings.items()
                              if setting.seen)
        self._overflow = reader.overflow
        self.partitions = OrderedDict(
            (key[len("partition-"):], value) for key, value in self._overflow.items()
            if key.startswith("partition-") and len(key) > len("partition-"))
        self.overrides = dict((option, (setting.key, setting.value))
                              for option, setting in self._settings.items() if setting.seen == 2)
        self.deprecated_options = [setting.key for option, setting in self._settings.items()
                                   if option in _DEPRECATED_OPTIONS]
        if cyrus_services is None:
            cyrus_services = DEBIAN_CYRUS_CONF_SERVICES
        self.cyrus_services = tuple(cyrus_services)
        self.unknown_options = [key for key in self._overflow if not self._linted_known(key)]

    # -- values ------------------------------------------------------------------------

    def get(self, option):
        """Effective value of ``option`` for this service.

        Distribution options are typed, with Cyrus's defaults (integers as the C int
        Cyrus's code reads). Other known options: the string in force or None (with
        ``{configdirectory}`` expanded in string options, as Cyrus does). Other keys
        (``partition-<name>``, ``sasl_*``...): ``<service>_<key>`` first, then ``<key>``.
        """
        option = _ascii_lower(option)
        if option in DISTRIBUTION_DEFAULTS:
            setting = self._settings.get(option)
            if setting is None:
                return DISTRIBUTION_DEFAULTS[option]
            if option in _INT_OPTIONS:
                return c_int(setting.stored)
            value = self._string(option)
            if option == "defaultpartition":
                value = _ascii_lower(value)
            return value
        if option in KNOWN_OPTIONS:
            return self._string(option)
        return self._overflow_lookup(option)

    def distribution_settings(self):
        """The ten distribution options, name -> effective typed value."""
        return OrderedDict((option, self.get(option)) for option in DISTRIBUTION_DEFAULTS)

    def partition_path(self, name):
        """Path of partition ``name`` as mailbox operations look it up (config_partitiondir).

        Names are not lower-cased: ``Fast`` is unknown where ``partition-fast`` exists.
        """
        key = "partition-" + name
        if len(_as_bytes(key)) > _PARTITION_KEY_MAX:
            return None
        return self._overflow_lookup(key)

    def _string(self, option):
        setting = self._settings.get(option)
        if setting is None:
            return None
        value = setting.stored if option in _ENUM_VALUES else setting.value
        config_dir = self._settings.get("configdirectory")
        if (option in _STRING_OPTIONS and option != "configdirectory" and config_dir is not None
                and _ascii_lower(value[:len(_CONFIGDIRECTORY_MARK)]) == _CONFIGDIRECTORY_MARK):
            value = config_dir.value + value[len(_CONFIGDIRECTORY_MARK):]
        return value

    def _overflow_lookup(self, key):
        """config_getoverflowstring(): the service-specific key (lower-cased) wins."""
        if self.service is not None:
            service_key = _as_bytes(self.service + "_" + key)[:_SERVICE_KEY_MAX]
            service_key = _ascii_lower(service_key.decode("utf-8", "surrogateescape"))
            if service_key in self._overflow:
                return self._overflow[service_key]
        return self._overflow.get(key)

    def _setting_location(self, option):
        setting = self._settings.get(option)
        if setting is None:
            return None, None
        return setting.path, setting.lineno

    # -- conf-lint -----------------------------------------------------------------------

    def _known_overflow_key(self, key):
        if key.startswith("partition-") or key.startswith("backuppartition-"):
            return True
        if key.startswith("metapartition-") and self._overflow_lookup(key[4:]) is not None:
            return True
        if key.startswith("archivepartition-") and self._overflow_lookup(key[7:]) is not None:
            return True
        found = key.find("searchpartition-")  # any tier prefix
        if found >= 0 and self._overflow_lookup(key[found + 6:]) is not None:
            return True
        return key.startswith("xlist-")

    def _linted_known(self, key):
        """Whether ``cyr_info conf-lint`` stays silent about an overflow key."""
        if self._known_overflow_key(key) or key.startswith("sasl_"):
            return True
        for service in self.cyrus_services:
            prefix = service + "_"
            if key.startswith(prefix):
                rest = key[len(prefix):]
                if rest in KNOWN_OPTIONS or self._known_overflow_key(rest):
                    return True
        for channel in (self._string("sync_log_channels") or "").split(" "):
            if not channel or channel == '""':
                continue
            if key.startswith(channel):
                rest = key[len(channel) + 1:]
                if (len(key) <= len(channel) + 1 or key[len(channel)] != "_"
                        or not rest.startswith("sync_")):
                    break
                if rest in KNOWN_OPTIONS or self._known_overflow_key(rest):
                    return True
        return False

    # -- checks config_read() makes after reading ----------------------------------------

    def _check(self, need_partition_data, require_configdirectory):
        if require_configdirectory and "configdirectory" not in self._settings:
            raise ImapdConfError("configdirectory option not specified in configuration file",
                                 path=self.path, option="configdirectory")
        default_partition = self._string("defaultpartition")
        if default_partition is not None:
            path, lineno = self._setting_location("defaultpartition")
            if any(char not in _ALNUM for char in default_partition):
                raise ImapdConfError("defaultpartition option contains non-alnum character",
                                     lineno=lineno, path=path, option="defaultpartition")
            default_partition = _ascii_lower(default_partition)
        if not need_partition_data:
            return
        if default_partition is not None:
            found = self.partition_path(default_partition) is not None
        elif self._mupdate_config() == "standard" and self._string("proxyservers") is None:
            found = True  # Cyrus: "don't need partitions on the frontend"
        else:
            found = any(key.startswith("partition-") for key in self._overflow)
        if not found:
            path, lineno = self._setting_location("defaultpartition")
            raise ImapdConfError(
                "partition-%s option not specified in configuration file"
                % (default_partition or "<name>"),
                lineno=lineno, path=path if lineno else self.path,
                option="partition-%s" % default_partition if default_partition else None)

    def _mupdate_config(self):
        if self._string("mupdate_server") is None:
            return "standard"  # only read when mupdate_server is set
        return self._string("mupdate_config") or "standard"


def parse_imapd_conf(text, service="imap", path=None, need_partition_data=True,
                     require_configdirectory=False, cyrus_services=None, include_cwd=None):
    """Read imapd.conf text as the Cyrus service ``service`` does; return an ImapdConf.

    Raises ImapdConfError for everything Cyrus 3.6.1 refuses. ``path`` names the text in
    messages. ``need_partition_data``: check, as imapd, lmtpd, pop3d... do, that
    ``partition-<defaultpartition>`` exists. ``require_configdirectory``: refuse a text
    without ``configdirectory`` as every Cyrus program does (off by default so that
    fragments can be checked). ``cyrus_services``: service names of cyrus.conf, the
    prefixes conf-lint accepts (default: Debian's stock cyrus.conf). ``include_cwd``:
    directory relative ``@include`` paths are opened from (default: the current one).
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8", "surrogateescape")
    reader = _Reader(service, include_cwd)
    if path is not None:
        reader.included.add(path)
    reader.read_text(text, path)
    conf = ImapdConf(reader, path, cyrus_services)
    conf._check(need_partition_data, require_configdirectory)
    return conf


def load_imapd_conf(path, service="imap", need_partition_data=True,
                    require_configdirectory=True, cyrus_services=None, include_cwd=None):
    """Read the file ``path`` as parse_imapd_conf does.

    A whole file must name ``configdirectory`` (Cyrus refuses it otherwise), so that check
    is on by default here. An unreadable file raises ImapdConfError with Cyrus's message.
    A relative ``path`` is opened from ``include_cwd`` too, when given.
    """
    reader = _Reader(service, include_cwd)
    reader.read_file(path)
    conf = ImapdConf(reader, path, cyrus_services)
    conf._check(need_partition_data, require_configdirectory)
    return conf
