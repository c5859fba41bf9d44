# -*- coding: utf-8 -*-
# Copyright: imapops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Edit imapd.conf in place, keeping everything else byte for byte.

Pure logic, no Ansible: ``plan_edit`` computes the new text, ``check_with_parser`` and
``CyrusCheck`` validate a candidate (with this collection's reader and with the real
``cyr_info``), ``install`` replaces the file atomically after a validation callback.

How the file is read: exactly as Cyrus 3.6.1 splits it (``imapd_conf._Reader.read_text``):
lines end at ``\\n``; a line whose text ends in a backslash is joined with the next one
(comment lines too, so a commented line ending in ``\\`` swallows the next line); a
continuation at the very end of the file is dropped by Cyrus. A *logical line* is such a
group of physical lines; only the logical lines of options the caller manages are
rewritten, every other byte is kept (CRLF line ends, comments, indentation, ``@include``).

Rules of the edit:

- A managed key is written once. An existing line for it (any case: ``Partition-X``) is
  replaced in place, keeping its indentation, key spelling and separator; a continued
  line becomes one line. A value Cyrus stores the same way (``0x10`` and ``16``, ``yes``
  and ``1``) is left as written.
- A key present twice is refused with all its line numbers (Cyrus refuses such a file;
  which occurrence is meant is not guessed).
- New keys go after the last ``partition-*`` or distribution option line, or at the end
  of the file (before a last line without newline or a dangling continuation, which would
  otherwise swallow them). They use the file's dominant line end.
- ``<service>_<key>`` overrides of a managed key are kept and reported: for that service
  the override wins.
- The documentation page's wrong names (``partition_mode`` ...) are never written; found in
  the file they are reported, and with ``fix_doc_names`` renamed to the real option in
  place (or removed when the real option is set).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import re
import shutil
import stat
import subprocess
import tempfile
import time
from collections import OrderedDict

from ansible_collections.imapops.cyrus.plugins.module_utils.imapd_conf import (
    DEBIAN_CYRUS_CONF_SERVICES,
    split_logical_lines,
    DISTRIBUTION_DEFAULTS,
    DOC_PAGE_NAMES,
    KNOWN_OPTIONS,
    ImapdConfError,
    option_type,
    parse_imapd_conf,
    stored_value,
)

CYR_INFO = "/usr/lib/cyrus/bin/cyr_info"
CTL_MBOXLIST = "/usr/lib/cyrus/bin/ctl_mboxlist"

RUNNING_SERVERS_NOTE = (
    "Cyrus reads imapd.conf when a process starts: processes already running keep the old "
    "settings, and each keeps the partition measurements of its first selection for its whole "
    "life. The change applies to new processes only; an idle imapd reused "
    "with -U keeps the old settings until master gets SIGHUP (which ends idle processes; busy "
    "ones finish their connection first) or the service restarts.")

_C_SPACE = " \t\n\v\f\r"
_KEY_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")
_MANAGED_KEY = re.compile(r"^[a-z0-9_-]+\Z")
_SERVICE_PREFIX = re.compile(r"^[a-z0-9-]+\Z")
_LINE_IN_MESSAGE = re.compile(r"\bline (\d+)\b")


class ImapdConfEditError(ValueError):
    """The edit cannot be made; ``message`` says why.

    ``lines``: line numbers in ``path`` the message is about; ``option``: the key;
    ``cyrus_message``: Cyrus's (or the reader's) own words when a candidate is refused.
    """

    def __init__(self, message, path=None, lines=None, option=None, cyrus_message=None):
        self.message = message
        self.path = path
        self.lines = list(lines or [])
        self.option = option
        self.cyrus_message = cyrus_message
        super(ImapdConfEditError, self).__init__(self.__str__())

    def __str__(self):
        if self.path:
            return "%s: %s" % (self.path, self.message)
        return self.message


def _text(data):
    if isinstance(data, bytes):
        return data.decode("utf-8", "surrogateescape")
    return data


def _bytes(text):
    return text.encode("utf-8", "surrogateescape")


def _spaces_only(text, default):
    return text if all(char in " \t" for char in text) else default


class ConfLine(object):
    """One logical line: physical lines ``start`` .. ``end - 1`` (0-based) of the file.

    ``kind``: ``blank``, ``comment``, ``option``, ``directive`` (``@include``),
    ``invalid`` (no valid ``key:``; Cyrus refuses the file) or ``dangling`` (a continuation
    at the end of the file, which Cyrus drops). ``key`` as written, ``name`` lower-cased,
    ``value`` trimmed as Cyrus trims it. ``eol``: line end of the last physical line.
    """

    __slots__ = ("start", "end", "text", "kind", "key", "name", "value", "indent", "separator", "eol")

    def __init__(self, start, end, text, eol, dangling=False):
        self.start, self.end, self.text, self.eol = start, end, text, eol
        self.key = self.name = self.value = None
        self.indent = self.separator = ""
        self.kind = "dangling" if dangling else self._classify()

    def _classify(self):
        text, pos, end = self.text, 0, len(self.text)
        while pos < end and text[pos] in _C_SPACE:
            pos += 1
        if pos == end:
            return "blank"
        if text[pos] == "#":
            return "comment"
        key_start = pos
        if text[pos] == "@":
            pos += 1
        while pos < end and text[pos] in _KEY_CHARS:
            pos += 1
        if pos == end or text[pos] != ":":
            return "invalid"
        self.indent = _spaces_only(text[:key_start], "")
        self.key = text[key_start:pos]
        self.name = self.key.lower()
        value_start = pos + 1
        while value_start < end and text[value_start] in " \t":
            value_start += 1
        self.separator = _spaces_only(text[pos + 1:value_start], " ")
        self.value = text[pos + 1:].strip(_C_SPACE)
        return "directive" if self.key.startswith("@") else "option"

    @property
    def first_lineno(self):
        return self.start + 1

    @property
    def lineno(self):
        """Cyrus's number for this line: that of its last physical line."""
        return self.end

    def where(self):
        if self.end - self.start > 1:
            return "lines %d-%d" % (self.first_lineno, self.lineno)
        return "line %d" % self.lineno

    def rewritten(self, value, key=None):
        """This line with another value (and key), on one physical line."""
        key = self.key if key is None else key
        return "%s%s:%s%s%s" % (self.indent, key, self.separator or " ", value, self.eol)


class ImapdConfText(object):
    """An imapd.conf text split the way Cyrus splits it, able to give back every byte."""

    def __init__(self, data, path=None):
        self.path = path
        text = _text(data)
        pieces = text.split("\n")
        self.physical = [piece + "\n" for piece in pieces[:-1]]
        if pieces[-1]:
            self.physical.append(pieces[-1])
        self.lines = []
        for first, end, line, terminated in split_logical_lines(text):
            if not terminated:
                self.lines.append(ConfLine(first, end, line, "", dangling=True))
                continue
            last = pieces[end - 1]
            eol = ("\r\n" if last.endswith("\r") else "\n") if end < len(pieces) else ""
            self.lines.append(ConfLine(first, end, line, eol))

    def render(self):
        return "".join(self.physical)

    def option_lines(self):
        return [line for line in self.lines if line.kind == "option"]

    def occurrences(self):
        """name -> [ConfLine] for every option key, in file order."""
        found = OrderedDict()
        for line in self.option_lines():
            found.setdefault(line.name, []).append(line)
        return found

    def line_text(self, lineno):
        """The logical line Cyrus numbers ``lineno``, as one string (None if none)."""
        for line in self.lines:
            if line.first_lineno <= lineno <= line.lineno:
                return line.text.rstrip("\r")
        return None

    def physical_text(self, line):
        return "".join(self.physical[line.start:line.end])

    def newline(self):
        """The file's dominant line end (``\\r\\n`` only if most lines use it)."""
        crlf = sum(1 for piece in self.physical if piece.endswith("\r\n"))
        lf = sum(1 for piece in self.physical if piece.endswith("\n")) - crlf
        return "\r\n" if crlf > lf else "\n"

    def duplicates(self):
        return OrderedDict((name, lines) for name, lines in self.occurrences().items() if len(lines) > 1)

    def relative_includes(self):
        return [line for line in self.lines
                if line.kind == "directive" and line.name == "@include" and not line.value.startswith("/")]


# ------------------------------------------------------------------------------ the plan

def normalise_value(name, value):
    """The text to write for ``value`` of option ``name`` (None: remove the option).

    Lists are joined with spaces (``partition_select_exclude``, ``serverlist``); booleans
    are accepted for switch options only. The text must fit on one line, must not be empty
    (Cyrus refuses an empty value), and must not end in a backslash (it would swallow the
    next line).
    """
    if value is None:
        return None
    if isinstance(value, bool):
        if option_type(name) != "switch":
            raise ImapdConfEditError("%s: a boolean (%r) is only valid for a switch option" % (name, value),
                                     option=name)
        value = "yes" if value else "no"
    elif isinstance(value, int):
        value = "%d" % value
    elif isinstance(value, (list, tuple)):
        items = [str(item).strip(_C_SPACE) for item in value]
        if any(not item or re.search(r"[ ,\t]", item) for item in items):
            raise ImapdConfEditError("%s: list items must be non-empty words without space, comma or tab, got %r"
                                     % (name, list(value)), option=name)
        value = " ".join(items)
    elif not isinstance(value, str):
        raise ImapdConfEditError("%s: value must be a string, an integer or a list, got %s %r"
                                 % (name, type(value).__name__, value), option=name)
    text = value.strip(_C_SPACE)
    if any(char in text for char in "\n\r\0"):
        raise ImapdConfEditError("%s: the value must be one line, got %r" % (name, value), option=name)
    if not text:
        raise ImapdConfEditError("%s: empty value (Cyrus refuses the file: \"empty option value\"); "
                                 "give null to remove the option" % name, option=name)
    if text.endswith("\\"):
        raise ImapdConfEditError("%s: a value ending in a backslash would continue onto the next line: %r"
                                 % (name, value), option=name)
    return text


def normalise_options(options):
    """``options`` (key -> value or None) with keys lower-cased and values normalised."""
    result = OrderedDict()
    given = {}
    for key, value in (options or {}).items():
        if not isinstance(key, str):
            raise ImapdConfEditError("option names must be strings, got %r" % (key,))
        name = key.lower()
        if not _MANAGED_KEY.match(name):
            raise ImapdConfEditError(
                "%r is not an option name this module writes: letters, digits, '-' and '_' only "
                "(directives such as @include are left alone)" % key, option=key)
        if name in given:
            raise ImapdConfEditError("option %s is given twice (%r and %r)" % (name, given[name], key), option=name)
        given[name] = key
        if name in DOC_PAGE_NAMES and value is not None:
            raise ImapdConfEditError(
                "%s is the documentation page's name: Cyrus 3.6.1 ignores it. The option Cyrus reads is %s"
                % (name, DOC_PAGE_NAMES[name]), option=name)
        if name.startswith("partition-") and len(name) == len("partition-"):
            raise ImapdConfEditError("partition- needs a partition name", option=name)
        result[name] = normalise_value(name, value)
    return result


def same_value(name, current, wanted):
    """Whether Cyrus reads ``current`` (as written in the file) as ``wanted``."""
    if option_type(name) in ("int", "switch"):
        stored = stored_value(name, current)
        return stored is not None and stored == stored_value(name, wanted)
    return current.strip(_C_SPACE) == wanted


def _is_distribution_key(name):
    return name.startswith("partition-") or name in DISTRIBUTION_DEFAULTS


def override_keys(document, name):
    """Lines ``<service>_<name>`` of ``document``: (service, ConfLine) pairs."""
    found = []
    suffix = "_" + name
    for line in document.option_lines():
        if line.name.endswith(suffix) and line.name != name and line.name not in KNOWN_OPTIONS:
            service = line.name[:-len(suffix)]
            if _SERVICE_PREFIX.match(service):
                found.append((service, line))
    return found


class EditPlan(object):
    """The result of ``plan_edit``: the texts before and after and what changed.

    ``changes``: dicts (option, action: added/updated/removed/renamed, before, after, line);
    ``doc_names``: doc-page names found (key, real, line, value, action:
    reported/renamed/removed); ``overrides``: ``<service>_<key>`` lines of managed keys
    (key, option, service, value, line); ``warnings``: sentences for the operator.
    """

    def __init__(self, document, after, options):
        self.document = document
        self.path = document.path
        self.before = document.render()
        self.after = after
        self.options = options
        self.changes = []
        self.doc_names = []
        self.overrides = []
        self.warnings = []

    @property
    def changed(self):
        return self.before != self.after

    @property
    def before_bytes(self):
        return _bytes(self.before)

    @property
    def after_bytes(self):
        return _bytes(self.after)

    @property
    def written_keys(self):
        return [change["option"] for change in self.changes if change["action"] != "removed"]

    @property
    def changed_options(self):
        names = []
        for change in self.changes:
            for name in (change.get("from_option"), change["option"]):
                if name and name not in names:
                    names.append(name)
        return names


def plan_edit(data, options, fix_doc_names=False, path=None):
    """Plan setting/removing ``options`` (key -> value; None removes) in the text ``data``.

    Returns an EditPlan. Raises ImapdConfEditError for bad options and for keys the file
    already holds twice. Nothing is validated against Cyrus here (see ``check_with_parser``
    and ``CyrusCheck``).
    """
    document = ImapdConfText(data, path)
    options = normalise_options(options)
    duplicates = document.duplicates()
    if duplicates:
        details = "; ".join("%s on %s" % (name, " and ".join(line.where() for line in lines))
                            for name, lines in duplicates.items())
        raise ImapdConfEditError(
            "the file already sets an option more than once (%s). Cyrus refuses such a file "
            "(\"option ... was specified twice\"); remove the wrong one by hand, this module "
            "does not guess which one is meant" % details, path=path,
            lines=[line.lineno for lines in duplicates.values() for line in lines],
            option=list(duplicates)[0])

    warnings = _layout_warnings(document)
    present = document.occurrences()
    replace = {}  # ConfLine index -> new physical text ("" deletes)
    plan_changes, doc_names = [], []
    handled = set()
    index_of = dict((id(line), index) for index, line in enumerate(document.lines))

    for line in document.option_lines():
        real = DOC_PAGE_NAMES.get(line.name)
        if real is None or line.name in options:
            continue
        entry = dict(key=line.key, real=real, line=line.lineno, value=line.value, action="reported")
        doc_names.append(entry)
        if not fix_doc_names:
            warnings.append(
                "%s %s: %s is the documentation page's name; Cyrus 3.6.1 ignores it (the option "
                "it reads is %s). Set fix_doc_names to replace it."
                % (path or "imapd.conf", line.where(), line.key, real))
            continue
        wanted = options.get(real, line.value)
        if real in present or (real in options and options[real] is None):
            replace[index_of[id(line)]] = ""
            entry["action"] = "removed"
            plan_changes.append(dict(option=line.name, action="removed", before=line.value, after=None,
                                     line=line.lineno))
            if real in present and real not in options:
                warnings.append("%s %s: removed %s: %s; %s is already set (%s: %s), which is what Cyrus reads"
                                % (path or "imapd.conf", line.where(), line.key, line.value, real,
                                   present[real][0].where(), present[real][0].value))
        else:
            replace[index_of[id(line)]] = line.rewritten(wanted, key=real)
            entry["action"] = "renamed"
            handled.add(real)
            plan_changes.append(dict(option=real, from_option=line.name, action="renamed",
                                     before=line.value, after=wanted, line=line.lineno))

    new_lines = []
    for name, value in options.items():
        if name in handled:
            continue
        lines = present.get(name, [])
        if value is None:
            for line in lines:
                replace[index_of[id(line)]] = ""
                plan_changes.append(dict(option=name, action="removed", before=line.value, after=None,
                                         line=line.lineno))
        elif lines:
            line = lines[0]
            if not same_value(name, line.value, value):
                replace[index_of[id(line)]] = line.rewritten(value)
                plan_changes.append(dict(option=name, action="updated", before=line.value, after=value,
                                         line=line.lineno))
        else:
            new_lines.append((name, "%s: %s%s" % (name, value, document.newline())))
            plan_changes.append(dict(option=name, action="added", before=None, after=value, line=None))

    inserts = OrderedDict()
    anchor_position = _insert_position(document, replace)
    for name, text in new_lines:
        position = anchor_position if _is_distribution_key(name) else _end_position(document)
        inserts.setdefault(position, []).append(text)

    pieces = []
    for index, line in enumerate(document.lines):
        pieces.extend(inserts.get(index, []))
        pieces.append(replace.get(index, document.physical_text(line)))
    pieces.extend(inserts.get(len(document.lines), []))
    after = "".join(pieces)

    plan = EditPlan(document, after, options)
    plan.changes, plan.doc_names, plan.warnings = plan_changes, doc_names, warnings
    _number_added_lines(plan)
    _report_overrides(plan, document)
    _check_result(plan)
    return plan


def _layout_warnings(document):
    """Lines Cyrus reads differently from how they look."""
    warnings = []
    name = document.path or "imapd.conf"
    for line in document.lines:
        if line.kind == "comment" and line.end - line.start > 1:
            warnings.append("%s %s: a comment line ends in a backslash, so Cyrus joins the next line to the "
                            "comment and ignores it" % (name, line.where()))
        elif line.kind == "dangling":
            warnings.append("%s %s: the file ends with a continuation (a backslash and nothing after it); "
                            "Cyrus ignores that line" % (name, line.where()))
    return warnings


def _end_position(document):
    """Index of the logical line new lines go before when they go at the end of the file."""
    position = len(document.lines)
    while position and document.lines[position - 1].kind == "dangling":
        position -= 1
    if position and not document.lines[position - 1].eol:
        position -= 1  # a last line without newline: adding one would change that line
    return position


def _insert_position(document, replace):
    """After the last partition-*/distribution option line that stays, else the end."""
    for index in range(len(document.lines) - 1, -1, -1):
        line = document.lines[index]
        if line.kind == "option" and _is_distribution_key(line.name) and replace.get(index) != "":
            return index + 1 if line.eol else index
    return _end_position(document)


def _number_added_lines(plan):
    after = ImapdConfText(plan.after)
    where = dict((line.name, line.lineno) for line in after.option_lines())
    for change in plan.changes:
        change["line_after"] = where.get(change["option"]) if change["action"] != "removed" else None


def _report_overrides(plan, document):
    for name, value in plan.options.items():
        for service, line in override_keys(document, name):
            plan.overrides.append(dict(key=line.name, option=name, service=service, value=line.value,
                                       line=line.lineno))
            if value is None:
                plan.warnings.append(
                    "%s %s: %s: %s overrides %s for the service '%s' and stays in force for it"
                    % (plan.path or "imapd.conf", line.where(), line.key, line.value, name, service))
            else:
                plan.warnings.append(
                    "%s %s: %s: %s overrides %s for the service '%s': processes of that service keep "
                    "using %r, not %r (left as it is)"
                    % (plan.path or "imapd.conf", line.where(), line.key, line.value, name, service,
                       line.value, value))


def _check_result(plan):
    """Re-read the new text: each managed key once with its value, and every line that was
    not managed exactly as before (a defence against an edit that changes other lines)."""
    after = ImapdConfText(plan.after, plan.path)
    occurrences = after.occurrences()
    for name, value in plan.options.items():
        lines = occurrences.get(name, [])
        expected = 0 if value is None else 1
        if len(lines) != expected or (lines and not same_value(name, lines[0].value, value)):
            raise ImapdConfEditError("internal error: the edited text does not hold %s exactly as asked" % name,
                                     path=plan.path, option=name)
    touched = set(plan.options)
    for change in plan.changes:
        touched.update(name for name in (change["option"], change.get("from_option")) if name)

    def untouched(document):
        return [document.physical_text(line) for line in document.lines
                if not (line.kind == "option" and line.name in touched)]
    if untouched(plan.document) != untouched(after):
        raise ImapdConfEditError("internal error: the edit would change lines it does not manage",
                                 path=plan.path)


# ------------------------------------------------------------------------------ validation

def cyrus_conf_services(text):
    """Service names of the SERVICES section of a cyrus.conf text, in order."""
    services, section = [], None
    for raw in _text(text).splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        opening = re.match(r"^([A-Za-z]+)\s*\{", line)
        if opening:
            section = opening.group(1).upper()
            line = line[opening.end():].strip()
            if not line:
                continue
        if line.startswith("}"):
            section = None
            continue
        if section == "SERVICES":
            match = re.match(r"^([A-Za-z0-9_-]+)\s", line + " ")
            if match and match.group(1).lower() not in services:
                services.append(match.group(1).lower())
    return services


def services_from(cyrus_conf=None, services=None):
    """The services to validate for: ``services`` if given, else those of the file
    ``cyrus_conf`` if it can be read, else Debian's stock list."""
    if services:
        return [service.lower() for service in services]
    if cyrus_conf:
        try:
            with open(cyrus_conf, "rb") as handle:
                found = cyrus_conf_services(handle.read())
            if found:
                return found
        except (IOError, OSError):
            pass
    return list(DEBIAN_CYRUS_CONF_SERVICES)


def _quote_line(document, lineno):
    if document is None or lineno is None:
        return ""
    text = document.line_text(lineno)
    return "" if text is None else " (line %d reads %r)" % (lineno, text)


def check_with_parser(data, path, services, include_cwd=None, written_keys=()):
    """Read ``data`` as every service would (and as a program without one); return the
    keys Cyrus does not know (what ``conf-lint`` lists). Raises ImapdConfEditError when a
    service would refuse the file or when a written key is unknown to Cyrus."""
    document = ImapdConfText(data, path)
    conf = None
    for service in [None] + list(services):
        try:
            parsed = parse_imapd_conf(data, service=service, path=path, need_partition_data=True,
                                      require_configdirectory=True, cyrus_services=services,
                                      include_cwd=include_cwd)
        except ImapdConfError as exc:
            if exc.path in (None, path):
                where = "line %d: " % exc.lineno if exc.lineno else ""
                quoted = _quote_line(document, exc.lineno)
            else:
                where = "%s line %s: " % (exc.path, exc.lineno) if exc.lineno else "%s: " % exc.path
                quoted = " (in an @include'd file; this module edits only %s)" % path
            raise ImapdConfEditError(
                "Cyrus would refuse the new file%s (found by the collection's reader): %s%s%s; "
                "the file was not changed"
                % (" for the service %s" % service if service else "", where, exc.message, quoted),
                path=path, lines=[exc.lineno] if exc.lineno else [], option=exc.option,
                cyrus_message=exc.message)
        if service is None:
            conf = parsed
    unknown = list(conf.unknown_options)
    _refuse_unknown(written_keys, unknown, path)
    return unknown


def _refuse_unknown(written_keys, unknown, path):
    bad = [key for key in written_keys if key in unknown]
    if bad:
        raise ImapdConfEditError(
            "Cyrus does not know the option%s %s (cyr_info conf-lint lists %s): it would be ignored "
            "silently; check the name, or add the service to cyrus.conf for a <service>_ key"
            % ("s" if len(bad) > 1 else "", ", ".join(bad), "them" if len(bad) > 1 else "it"),
            path=path, option=bad[0])


class CyrusCheck(object):
    """Validate a candidate file with the real ``cyr_info`` (``conf`` per service, then
    ``conf-lint``). ``runner`` is ``subprocess.run``-like (tests inject one)."""

    def __init__(self, cyr_info=CYR_INFO, cyrus_conf=None, services=(), timeout=30, runner=None):
        self.cyr_info = cyr_info
        self.cyrus_conf = cyrus_conf
        self.services = list(services)
        self.timeout = timeout
        self.runner = runner or subprocess.run
        self.commands = []

    def available(self):
        return bool(self.cyr_info) and os.access(self.cyr_info, os.X_OK)

    def _run(self, args, cwd):
        self.commands.append(" ".join(args))
        try:
            proc = self.runner(args, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               timeout=self.timeout, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ImapdConfEditError("could not run %s: %s" % (args[0], exc))
        return (proc.returncode, proc.stdout.decode("utf-8", "replace"),
                proc.stderr.decode("utf-8", "replace"))

    def check(self, candidate, cwd=None, path=None, written_keys=()):
        """Run the checks on the file ``candidate``; return conf-lint's unknown keys."""
        if not self.available():
            raise ImapdConfEditError(
                "%s is not an executable: the new file cannot be checked by Cyrus itself, so it is "
                "not installed (install Cyrus IMAP or set cyr_info to its path)" % self.cyr_info, path=path)
        with open(candidate, "rb") as handle:
            document = ImapdConfText(handle.read(), path)
        for service in [None] + self.services:
            args = [self.cyr_info, "-C", candidate] + (["-n", service] if service else []) + ["conf"]
            code, errors = self._run(args, cwd)[0::2]
            if code != 0:
                message = errors.strip() or "exit status %d" % code
                match = _LINE_IN_MESSAGE.search(message)
                lineno = int(match.group(1)) if match else None
                raise ImapdConfEditError(
                    "Cyrus refuses the new file (cyr_info%s conf): %s%s; the file was not changed"
                    % (" -n %s" % service if service else "", message, _quote_line(document, lineno)),
                    path=path, lines=[lineno] if lineno else [], cyrus_message=message)
        unknown = self._lint(candidate, cwd)
        _refuse_unknown(written_keys, unknown, path)
        return unknown

    def _lint(self, candidate, cwd):
        scratch = None
        cyrus_conf = self.cyrus_conf
        try:
            if not cyrus_conf or not os.path.isfile(cyrus_conf):
                # conf-lint needs a cyrus.conf for the <service>_ prefixes; Cyrus reads it
                # as the cyrus user, so it lives in a directory everyone may read
                scratch = tempfile.mkdtemp(prefix="imapops-cyrus-conf-")
                os.chmod(scratch, 0o755)
                cyrus_conf = os.path.join(scratch, "cyrus.conf")
                with open(cyrus_conf, "w") as handle:
                    handle.write("SERVICES {\n")
                    for service in self.services:
                        handle.write('  %s cmd="true" listen="/nonexistent/%s"\n' % (service, service))
                    handle.write("}\n")
                os.chmod(cyrus_conf, 0o644)
            code, output, errors = self._run([self.cyr_info, "-C", candidate, "-M", cyrus_conf, "conf-lint"], cwd)
        finally:
            if scratch:
                shutil.rmtree(scratch, ignore_errors=True)
        if code != 0:
            raise ImapdConfEditError("cyr_info conf-lint failed: %s" % (errors.strip() or "exit status %d" % code))
        return [line.split(":", 1)[0].strip().lower() for line in output.splitlines() if ":" in line]


# ------------------------------------------------------------------------------ writing

def backup_name(path):
    """Where a backup of ``path`` goes (Ansible's pattern: path.<pid>.<date@time>~)."""
    return "%s.%d.%s~" % (path, os.getpid(), time.strftime("%Y-%m-%d@%H:%M:%S"))


def make_backup(path):
    target = backup_name(path)
    shutil.copy2(path, target)
    info = os.stat(path)
    os.chown(target, info.st_uid, info.st_gid)
    return target


def read_file(path):
    """The bytes of ``path`` (symlinks followed), or None if it does not exist."""
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except (IOError, OSError) as exc:
        if getattr(exc, "errno", None) == errno.ENOENT:
            return None
        raise


def install(path, data, expected_before, validate, backup=False, create_uid=-1, create_gid=-1,
            create_mode=0o640):
    """Replace ``path`` by ``data`` atomically; return the backup file or None.

    The candidate is written to a temporary file in the same directory, fsynced, given the
    old file's owner, group and mode (or the create_* ones for a new file), then
    ``validate(candidate_path)`` runs; only if it returns does the candidate replace the
    file (rename, then fsync of the directory). A symlink is followed: its target is
    replaced. If the file no longer holds ``expected_before`` (None: did not exist) the
    write is abandoned, so a concurrent edit is never lost.
    """
    real = os.path.realpath(path)
    directory, base = os.path.split(real)
    try:
        info = os.stat(real)
        uid, gid, mode = info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)
    except OSError:
        info = None
        uid, gid, mode = create_uid, create_gid, create_mode
    handle, candidate = tempfile.mkstemp(prefix=".%s." % base, suffix=".imapops-new", dir=directory)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
            if uid != -1 or gid != -1:
                os.fchown(out.fileno(), uid, gid)
            os.fchmod(out.fileno(), mode)
        validate(candidate)
        if read_file(real) != expected_before:
            raise ImapdConfEditError("the file changed while it was being edited; nothing was written, run again",
                                     path=path)
        backup_file = make_backup(real) if backup and info is not None else None
        os.rename(candidate, real)
    except BaseException:
        try:
            os.unlink(candidate)
        except OSError:
            pass
        raise
    directory_handle = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(directory_handle)
    finally:
        os.close(directory_handle)
    return backup_file


def check_in_scratch(data, validate, name="imapd.conf"):
    """Write ``data`` to a private temporary directory and run ``validate`` on it (check
    mode: the candidate is validated like a real run, the target is never touched)."""
    scratch = tempfile.mkdtemp(prefix="imapops-imapd-conf-")
    try:
        candidate = os.path.join(scratch, name)
        with open(candidate, "wb") as out:
            out.write(data)
        return validate(candidate)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
