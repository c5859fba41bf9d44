# -*- coding: utf-8 -*-
# Copyright: imapops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small admin IMAP client for Cyrus (stdlib imaplib). No Ansible imports.

The password is used for LOGIN only; it is never part of an error message,
of ``commands`` (the record of state-changing commands) or of any return value.
"""

import base64
import collections
import imaplib
import ipaddress
import re
import socket
import ssl

TLS_MODES = ("none", "starttls", "implicit")
ANNOTATION_NS = "/shared/vendor/cmu/cyrus-imapd/"
PARTITION_ENTRY = ANNOTATION_NS + "partition"
SERVER_ENTRY = ANNOTATION_NS + "server"
FREESPACE_ENTRIES = (ANNOTATION_NS + "freespace", ANNOTATION_NS + "freespace/total",
                     ANNOTATION_NS + "freespace/percent/most")

# imaplib refuses commands it does not know
imaplib.Commands.setdefault("GETMETADATA", ("AUTH", "SELECTED"))
imaplib.Commands.setdefault("SETMETADATA", ("AUTH", "SELECTED"))

PIPELINE_WINDOW = 256   # commands in flight; responses of this many fit in socket buffers
LOOKUP_BATCH = 200      # mailboxes per optimistic GETMETADATA
# OpenSSL X509_V_ERR_* codes, for messages that say what was wrong with a certificate
_HOSTNAME_MISMATCH = (62, 63, 64)   # host name, e-mail, IP address mismatch
_UNTRUSTED_ISSUER = (2, 18, 19, 20, 21)  # unknown issuer, self-signed, chain without a trusted root
_TIME_INVALID = (9, 10)             # not yet valid, expired
_PARTITION_ATOM = re.compile(r"^[A-Za-z0-9_.:-]+(![A-Za-z0-9_-]+)?$")


class ImapError(Exception):
    """A failed connection, login or command, with a message fit for users."""


def is_loopback(host):
    """True when every address ``host`` resolves to is a loopback address."""
    try:
        infos = socket.getaddrinfo(host, None)
    except socket.gaierror:
        return False
    addresses = set(info[4][0].split("%")[0] for info in infos)
    return bool(addresses) and all(ipaddress.ip_address(a).is_loopback for a in addresses)


def encode_mailbox_name(name):
    """Mailbox name in IMAP modified UTF-7 (RFC 3501 5.1.3), quoted for the wire."""
    out = []
    pending = []

    def flush():
        if pending:
            raw = "".join(pending).encode("utf-16-be")
            out.append("&" + base64.b64encode(raw).decode("ascii").rstrip("=").replace("/", ",") + "-")
            del pending[:]

    for char in name:
        if 0x20 <= ord(char) <= 0x7E:
            flush()
            out.append("&-" if char == "&" else char)
        else:
            pending.append(char)
    flush()
    encoded = "".join(out)
    return '"' + encoded.replace("\\", "\\\\").replace('"', '\\"') + '"'


def decode_mailbox_name(encoded):
    """Inverse of the modified UTF-7 encoding (without quotes)."""
    def replace(match):
        body = match.group(1)
        if not body:
            return "&"
        body = body.replace(",", "/")
        return base64.b64decode(body + "=" * (-len(body) % 4)).decode("utf-16-be")
    return re.sub(r"&([A-Za-z0-9+,]*)-", replace, encoded)


def _text(value):
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _tokens(data):
    """Flatten imaplib untagged data (bytes and (header, literal) tuples) to text."""
    parts = []
    for item in data or []:
        if item is None:
            continue
        if isinstance(item, tuple):
            header, literal = item[0], item[1]
            parts.append(_text(header).rsplit("{", 1)[0] + '"' + _text(literal).replace('"', '\\"') + '"')
        else:
            parts.append(_text(item))
    return parts


_QUOTED_OR_ATOM = r'"((?:[^"\\]|\\.)*)"|(NIL)|([^\s()"]+)'


def _unquote(match):
    if match.group(1) is not None:
        return re.sub(r"\\(.)", r"\1", match.group(1))
    if match.group(2) is not None:
        return None
    return match.group(3)


class CyrusImapConnection(object):
    """One admin session. ``commands`` records every state-changing command sent."""

    def __init__(self, host, port=None, user=None, password=None, tls="none", ca_file=None,
                 validate_certs=True, timeout=10.0, allow_cleartext_password=False):
        if tls not in TLS_MODES:
            raise ImapError("tls must be one of %s, got %r" % (", ".join(TLS_MODES), tls))
        self.host = host
        self.port = int(port) if port else (993 if tls == "implicit" else 143)
        self.user = user
        self._password = password
        self.tls = tls
        self.ca_file = ca_file
        self.validate_certs = validate_certs
        self.timeout = timeout
        self.allow_cleartext_password = allow_cleartext_password
        self.commands = []
        self.imap = None
        self._separator = None

    # -- session ----------------------------------------------------------

    def _ssl_context(self):
        """The TLS context: the system's CAs or ``ca_file``, host name check, TLS 1.2 or newer."""
        try:
            context = ssl.create_default_context(cafile=self.ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise ImapError("cannot use ca_file %s: %s" % (self.ca_file, getattr(exc, "strerror", None) or exc))
        if hasattr(ssl, "TLSVersion"):  # Python 3.7+
            context.minimum_version = max(context.minimum_version, ssl.TLSVersion.TLSv1_2)
        if not self.validate_certs:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def _certificate_error(self, where, exc):
        """A message for a failed certificate check that says what was wrong and what to do."""
        code = getattr(exc, "verify_code", None)
        detail = getattr(exc, "verify_message", None) or str(exc)
        if code in _HOSTNAME_MISMATCH or "mismatch" in detail.lower():
            reason = "the certificate is not valid for host name %r" % self.host
        elif code in _UNTRUSTED_ISSUER:
            reason = "the certificate is not signed by a trusted CA"
        elif code in _TIME_INVALID:
            reason = "the certificate has expired or is not yet valid"
        else:
            reason = "the certificate was rejected"
        return ("TLS certificate verification of IMAP server %s failed: %s (%s). Connect with the name "
                "the certificate is issued for, give the CA that signed it with ca_file (now: %s), or "
                "set validate_certs=false for a test server"
                % (where, reason, detail, self.ca_file or "the system's CAs"))

    def connect(self):
        where = "%s:%s" % (self.host, self.port)
        if self.tls == "none" and not self.allow_cleartext_password and not is_loopback(self.host):
            raise ImapError("refusing to send the password in clear text to %s (not a loopback address): "
                            "use tls=starttls or tls=implicit, or set allow_cleartext_password" % where)
        context = self._ssl_context() if self.tls != "none" else None
        try:
            if self.tls == "implicit":
                self.imap = imaplib.IMAP4_SSL(self.host, self.port, ssl_context=context, timeout=self.timeout)
            else:
                self.imap = imaplib.IMAP4(self.host, self.port, timeout=self.timeout)
                if self.tls == "starttls":
                    if "STARTTLS" not in self.capabilities():
                        raise ImapError("IMAP server %s does not offer STARTTLS: use tls=implicit with its imaps "
                                        "port, or configure TLS on the server" % where)
                    self.imap.starttls(ssl_context=context)
        except ImapError:
            self._drop()
            raise
        except ssl.SSLCertVerificationError as exc:
            self._drop()
            raise ImapError(self._certificate_error(where, exc))
        except ssl.SSLError as exc:
            self._drop()
            raise ImapError("TLS handshake with IMAP server %s failed: %s (is it speaking %s?)"
                            % (where, exc, "implicit TLS" if self.tls == "implicit" else "STARTTLS"))
        except (socket.timeout, TimeoutError):
            self._drop()
            raise ImapError("cannot connect to IMAP server %s: timed out after %s s" % (where, self.timeout))
        except (OSError, imaplib.IMAP4.error) as exc:
            self._drop()
            raise ImapError("cannot connect to IMAP server %s: %s" % (where, getattr(exc, "strerror", None) or exc))
        try:
            # pipelined commands end in small segments: without this, Nagle waits
            # for the server's delayed ACK (about 40 ms) at the end of every window
            self.imap.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except (AttributeError, OSError):
            pass
        try:
            self.imap.login(self.user, self._password)
        except imaplib.IMAP4.error as exc:
            self.close()
            raise ImapError("login as %r at %s failed: %s" % (self.user, where, self._safe(exc)))
        except (OSError, socket.timeout) as exc:
            self.close()
            raise ImapError("connection to %s lost during login: %s" % (where, exc))
        return self

    def _drop(self):
        """Close a connection that never logged in (no LOGOUT)."""
        if self.imap is not None:
            try:
                self.imap.shutdown()
            except Exception:  # noqa: BLE001 - dropping anyway
                pass
            self.imap = None

    def _safe(self, value):
        text = _text(value)
        if self._password:
            text = text.replace(self._password, "********")
        return text

    def close(self):
        if self.imap is not None:
            try:
                self.imap.logout()
            except Exception:  # noqa: BLE001 - closing anyway
                pass
            self.imap = None

    def __enter__(self):
        return self.connect()

    def __exit__(self, *exc_info):
        self.close()

    # -- low level --------------------------------------------------------

    def _command(self, name, *args):
        try:
            typ, data = self.imap._simple_command(name, *args)
        except imaplib.IMAP4.abort as exc:
            raise ImapError("connection to %s:%s lost during %s: %s" % (self.host, self.port, name, self._safe(exc)))
        except imaplib.IMAP4.error as exc:
            return "NO", [self._safe(exc).encode()]
        return typ, data

    def _untagged(self, typ, data, name):
        return self.imap._untagged_response(typ, data, name)

    @property
    def separator(self):
        """Hierarchy separator reported by ``LIST "" ""`` ('.' or '/')."""
        if self._separator is None:
            typ, data = self._command("LIST", '""', '""')
            data = self._untagged(typ, data, "LIST")[1]
            match = re.search(r'\)\s+"(.)"', " ".join(_tokens(data)))
            self._separator = match.group(1) if match else "."
        return self._separator

    # -- queries ----------------------------------------------------------

    def capabilities(self):
        return set(_text(c).upper() for c in getattr(self.imap, "capabilities", ()))

    def pipeline(self, commands, window=PIPELINE_WINDOW):
        """Send (name, args...) commands with up to ``window`` in flight; results in order.

        A sliding window: the next command goes out as each response comes in, so
        data flows both ways and no delayed-ACK stall happens per batch (a
        send-all-then-read batch of 256 cost about 45 ms of idle wait each).
        Each result is (typ, text, untagged): the tagged status, its text, and the
        untagged responses (type -> lines) that arrived while that command completed.
        """
        results = []
        in_flight = collections.deque()
        current = None
        try:
            for command in commands:
                if len(in_flight) >= window:
                    results.append(self._complete(*in_flight.popleft()))
                current = command[0]
                in_flight.append((current, self.imap._command(*command)))
            while in_flight:
                current = in_flight[0][0]
                results.append(self._complete(*in_flight.popleft()))
        except imaplib.IMAP4.abort as exc:
            raise ImapError("connection to %s:%s lost during %s: %s" % (self.host, self.port, current, self._safe(exc)))
        except (OSError, socket.timeout) as exc:
            raise ImapError("connection to %s:%s failed during %s: %s" % (self.host, self.port, current, exc))
        return results

    def _complete(self, name, tag):
        try:
            typ, data = self.imap._command_complete(name, tag)
        except imaplib.IMAP4.abort:
            raise
        except imaplib.IMAP4.error as exc:
            typ, data = "BAD", [str(exc).encode()]
        untagged = dict(self.imap.untagged_responses)
        self.imap.untagged_responses.clear()
        return typ, self._safe(b" ".join(d for d in data if isinstance(d, bytes))), untagged

    def lookup(self, names):
        """Which of ``names`` exist, with the (partition, server) the server reports.

        Cyrus answers GETMETADATA from a direct mailboxes.db lookup, while every
        LIST pattern scans all mailboxes (measured: 4,000 names on a server with
        20,000 mailboxes take 0.3 s with GETMETADATA, 5 s with a multi-pattern
        LIST, 125 s with one LIST per name). First, optimistic batches: one
        GETMETADATA for many mailboxes answers for each of them until the first
        one that does not exist. Every name that got no answer is then checked
        on its own (OK or "Mailbox does not exist").
        """
        for name in names:
            if "*" in name or "%" in name:
                raise ImapError("mailbox name %r contains an IMAP wildcard" % name)
        entries = "(%s %s)" % (PARTITION_ENTRY, SERVER_ENTRY)
        answers = {}
        batches = [names[start:start + LOOKUP_BATCH] for start in range(0, len(names), LOOKUP_BATCH)]
        commands = [("GETMETADATA", "(" + " ".join(encode_mailbox_name(n) for n in batch) + ")", entries)
                    for batch in batches if len(batch) > 1]
        for _typ, _text, untagged in self.pipeline(commands):
            # a frontend answers each entry on a line of its own: merge per mailbox
            for mailbox, values in self._metadata_lines(untagged.get("METADATA")):
                answers.setdefault(mailbox, {}).update(values)
        found = dict((mailbox, (values.get(PARTITION_ENTRY), values.get(SERVER_ENTRY)))
                     for mailbox, values in answers.items())
        unanswered = [n for n in names if n not in found]
        single = [("GETMETADATA", encode_mailbox_name(n), entries) for n in unanswered]
        for name, (typ, text, untagged) in zip(unanswered, self.pipeline(single)):
            if typ == "OK":
                values = {}
                for _mailbox, answered in self._metadata_lines(untagged.get("METADATA")):
                    values.update(answered)
                found[name] = (values.get(PARTITION_ENTRY), values.get(SERVER_ENTRY))
            elif "does not exist" not in text.lower():
                raise ImapError("cannot look up mailbox %r: %s %s" % (name, typ, text))
        return dict((name, found[name]) for name in names if name in found)

    @staticmethod
    def _listed_names(data):
        names = []
        for line in _tokens(data):
            match = re.search(r'\)\s+(?:"(?:[^"\\]|\\.)"|NIL)\s+(.*)$', line)
            if match:
                listed = re.match(_QUOTED_OR_ATOM, match.group(1).strip())
                if listed:
                    names.append(decode_mailbox_name(_unquote(listed) or ""))
        return names

    @staticmethod
    def _metadata_lines(data):
        for line in _tokens(data):
            head = re.match(_QUOTED_OR_ATOM, line.strip())
            if not head or "(" not in line:
                continue
            body = line[line.find("(", head.end()) + 1: line.rfind(")")]
            tokens = [_unquote(m) for m in re.finditer(_QUOTED_OR_ATOM, body)]
            yield decode_mailbox_name(_unquote(head) or ""), dict(zip(tokens[0::2], tokens[1::2]))

    def existing(self, names):
        """The subset of ``names`` that exist."""
        return set(self.lookup(list(names)))

    def metadata(self, mailbox, entries):
        """GETMETADATA: dict entry -> value (None for NIL) for one mailbox ('' for the server)."""
        typ, text, untagged = self.pipeline([("GETMETADATA", encode_mailbox_name(mailbox) if mailbox else '""',
                                              "(" + " ".join(entries) + ")")])[0]
        if typ != "OK":
            raise ImapError("GETMETADATA %r failed: %s" % (mailbox, text))
        values = {}
        for _mailbox, found in self._metadata_lines(untagged.get("METADATA")):
            values.update(found)
        return values

    def partition_of(self, mailbox):
        """(partition, server) the server reports for a mailbox; either may be None."""
        values = self.metadata(mailbox, (PARTITION_ENTRY, SERVER_ENTRY))
        return values.get(PARTITION_ENTRY), values.get(SERVER_ENTRY)

    def quotas(self, roots):
        """Storage limit in KiB of each quota root (None when it has none), pipelined."""
        limits = {}
        for root, (typ, text, untagged) in zip(roots, self.pipeline(
                [("GETQUOTA", encode_mailbox_name(root)) for root in roots])):
            limits[root] = None
            for line in _tokens(untagged.get("QUOTA")) if typ == "OK" else ():
                match = re.search(r"STORAGE\s+\d+\s+(\d+)", line, re.IGNORECASE)
                if match:
                    limits[root] = int(match.group(1))
        return limits

    def quota(self, root):
        return self.quotas([root])[root]

    # -- changes (recorded) ---------------------------------------------------

    def command_text(self, name, *args):
        return " ".join((name,) + args)

    def create_command(self, mailbox, partition=None):
        args = [encode_mailbox_name(mailbox)]
        if partition:
            if not _PARTITION_ATOM.match(partition):
                raise ImapError("invalid partition %r for %s: use a bare name or server!partition"
                                % (partition, mailbox))
            args.append(partition)
        return ("CREATE",) + tuple(args)

    def set_quota_command(self, root, storage_kib):
        return ("SETQUOTA", encode_mailbox_name(root), "(STORAGE %d)" % int(storage_kib))

    def create(self, mailbox, partition=None):
        self.change([self.create_command(mailbox, partition)], stop_on_error=True)

    def set_quota(self, root, storage_kib):
        self.change([self.set_quota_command(root, storage_kib)], stop_on_error=True)

    def change(self, commands, stop_on_error=False):
        """Send state-changing commands (pipelined); record the ones that succeeded.

        Returns a list of error messages, None for each command that succeeded.
        """
        errors = []
        for command, (typ, text, _untagged) in zip(commands, self.pipeline(commands)):
            rendered = self.command_text(*command)
            if typ == "OK":
                self.commands.append(rendered)
                errors.append(None)
            else:
                errors.append("%s failed: %s" % (rendered, text or typ))
        failed = [e for e in errors if e]
        if failed and stop_on_error:
            raise ImapError(failed[0])
        return errors
