# -*- coding: utf-8 -*-
# Copyright: imapops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A test CA made with the openssl CLI, and a Cyrus lab that speaks STARTTLS and implicit TLS.

``make_test_pki(directory)`` writes two CAs (the lab's and an unrelated one) and a server
certificate from the lab's CA for ``imap.lab.test`` and IP 127.0.0.1 only, so connecting to
``127.0.0.1`` verifies and connecting to ``localhost`` (same server) is a host name mismatch.

``TlsCyrusLab`` is a ``CyrusLab`` whose imapd.conf has ``tls_server_cert``/``tls_server_key``
(so the ``imap`` service offers STARTTLS) and whose cyrus.conf has an ``imaps`` service
(``imapd -s``: TLS from the first byte) on a second loopback port, ``imaps_port``.
"""

import os
import re
import shutil
import subprocess
import tempfile

from cyrus_lab import CYRUS_BIN, CyrusLab, free_port

SERVER_NAMES = ("imap.lab.test",)
SERVER_ADDRESSES = ("127.0.0.1",)


def _openssl(*args, **kwargs):
    result = subprocess.run(("openssl",) + args, capture_output=True, text=True, check=False, **kwargs)
    if result.returncode != 0:
        raise RuntimeError("openssl %s failed: %s" % (" ".join(args), result.stderr.strip()))
    return result.stdout


def _make_ca(directory, name, common_name):
    key, cert = os.path.join(directory, name + ".key"), os.path.join(directory, name + ".pem")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "3",
             "-subj", "/O=imapops tests/CN=%s" % common_name,
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign",
             "-addext", "subjectKeyIdentifier=hash")
    return key, cert


def make_test_pki(directory):
    """Write the test CAs and the server certificate into ``directory``; return their paths."""
    if not shutil.which("openssl"):
        raise RuntimeError("the openssl command is needed for the TLS tests (apt-get install openssl)")
    os.makedirs(directory, exist_ok=True)
    ca_key, ca_cert = _make_ca(directory, "lab-ca", "imapops lab CA")
    _unused_key, other_ca_cert = _make_ca(directory, "other-ca", "imapops unrelated CA")
    server_key = os.path.join(directory, "server.key")
    request = os.path.join(directory, "server.csr")
    server_cert = os.path.join(directory, "server.pem")
    extensions = os.path.join(directory, "server.ext")
    with open(extensions, "w") as handle:
        handle.write("basicConstraints=critical,CA:FALSE\n"
                     "keyUsage=critical,digitalSignature,keyEncipherment\n"
                     "extendedKeyUsage=serverAuth\n"
                     "subjectKeyIdentifier=hash\n"
                     "authorityKeyIdentifier=keyid,issuer\n"
                     "subjectAltName=%s\n" % ",".join(["DNS:" + n for n in SERVER_NAMES]
                                                      + ["IP:" + a for a in SERVER_ADDRESSES]))
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", server_key, "-out", request,
             "-subj", "/O=imapops tests/CN=%s" % SERVER_NAMES[0])
    _openssl("x509", "-req", "-in", request, "-CA", ca_cert, "-CAkey", ca_key, "-CAcreateserial",
             "-out", server_cert, "-days", "3", "-extfile", extensions)
    return {"ca": ca_cert, "other_ca": other_ca_cert, "cert": server_cert, "key": server_key}


class TlsCyrusLab(CyrusLab):
    """A CyrusLab with STARTTLS on ``port`` and implicit TLS on ``imaps_port``."""

    def __init__(self, cert, key, **options):
        conf = dict(options.pop("conf", None) or {})
        # a directory of its own that the cyrus user can reach (not below a private temp dir)
        self.tls_files_dir = tempfile.mkdtemp(prefix="imapops-lab-tls-", dir="/dev/shm")
        conf.setdefault("tls_server_cert", os.path.join(self.tls_files_dir, "server.pem"))
        conf.setdefault("tls_server_key", os.path.join(self.tls_files_dir, "server.key"))
        self._cert_source, self._key_source = cert, key
        super(TlsCyrusLab, self).__init__(conf=conf, **options)
        self.imaps_port = None

    def start(self, timeout=10.0):
        # the certificate and key go where the cyrus user can read them (the key 0640)
        os.makedirs(self.tls_files_dir, exist_ok=True)
        shutil.copy(self._cert_source, self.conf["tls_server_cert"])
        shutil.copy(self._key_source, self.conf["tls_server_key"])
        self._give_to_cyrus(self.tls_files_dir, 0o750)
        self._give_to_cyrus(self.conf["tls_server_cert"], 0o644)
        self._give_to_cyrus(self.conf["tls_server_key"], 0o640)
        self.imaps_port = free_port(self.address)
        return super(TlsCyrusLab, self).start(timeout)

    def stop(self, timeout=5.0, remove_root=None):
        try:
            super(TlsCyrusLab, self).stop(timeout, remove_root)
        finally:
            shutil.rmtree(self.tls_files_dir, ignore_errors=True)

    def _write_cyrus_conf(self):
        super(TlsCyrusLab, self)._write_cyrus_conf()
        with open(self.cyrus_conf) as handle:
            text = handle.read()
        imaps = '  imaps cmd="%s/imapd -s -C %s -U %d" listen="%s:%d" prefork=0 maxchild=100\n' % (
            CYRUS_BIN, self.imapd_conf, self.processes_per_connection_reuse, self.address, self.imaps_port)
        text, count = re.subn(r"(SERVICES \{\n)", lambda match: match.group(1) + imaps, text)
        if count != 1:
            raise RuntimeError("no SERVICES section in %s" % self.cyrus_conf)
        with open(self.cyrus_conf, "w") as handle:
            handle.write(text)
