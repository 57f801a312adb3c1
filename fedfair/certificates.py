"""Certificates and keys for a secure deployment (TLS and SuperNode authentication), with ``cryptography``.

``fedfair certificates --out DIR --host HOST --nodes N`` writes:

- ``ca.crt`` / ``ca.key``: a self-signed certificate authority (keep ``ca.key`` offline);
- ``server.pem`` / ``server.key``: the SuperLink's TLS certificate for HOST (an IP address or a DNS name,
  repeatable), signed by the CA; SuperNodes and the ``flwr`` CLI verify it with ``ca.crt``;
- ``node-K.key`` / ``node-K.pub`` for K = 1..N: each SuperNode's P-384 key pair (OpenSSH format, as Flower
  reads them); the SuperLink operator registers the ``.pub`` files (``flwr supernode register``), each
  SuperNode keeps its ``.key``.

Secret files (mode 0600, owner only): ``ca.key``, ``server.key`` and every ``node-K.key``. The rest
(``ca.crt``, ``server.pem``, ``node-K.pub``) is public. For trials and tests; an organisation with its own PKI
uses its own CA instead.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _alternative_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def _pem_key(key: ec.EllipticCurvePrivateKey, openssh: bool = False) -> bytes:
    fmt = serialization.PrivateFormat.OpenSSH if openssh else serialization.PrivateFormat.PKCS8
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption())


def write_certificates(out: str | Path, hosts: Sequence[str], nodes: int, days: int = 365,
                       force: bool = False) -> list[Path]:
    """Write the CA, the SuperLink's certificate for ``hosts`` and ``nodes`` SuperNode key pairs; the files.

    ``out`` follows fedfair's output-directory policy (:mod:`fedfair.outdirs`): a new or empty directory or one an
    earlier call wrote; certificates and keys already there are never overwritten without ``force`` (a new CA
    or key stops every deployed site from verifying)."""
    from fedfair.outdirs import OutDirError, claim

    if not hosts:
        raise ValueError("give the SuperLink's address with --host (an IP address or a DNS name)")
    if nodes < 0:
        raise ValueError("--nodes must be >= 0")
    names = ["ca.crt", "ca.key", "server.pem", "server.key"] + [f"node-{k}.{e}" for k in range(1, nodes + 1)
                                                                for e in ("key", "pub")]
    with claim(out, "certificates", overwrite=force, overwrite_flag="--force",
               what="the certificates directory") as held:
        there = [name for name in names if (held.path / name).exists()]
        if there and not force:
            raise OutDirError(f"--out {held.path} already holds {', '.join(there[:4])}"
                              f"{f' and {len(there) - 4} more' if len(there) > 4 else ''}: certificates and keys are "
                              f"never overwritten (every deployed site would stop verifying); pass --force to "
                              f"replace them or choose a new --out")
        written = _write_all(held.path, hosts, nodes, days)
        held.done()
    return written


def _write_all(out: Path, hosts: Sequence[str], nodes: int, days: int) -> list[Path]:
    now = datetime.datetime.now(datetime.timezone.utc)
    valid = {"not_valid_before": now - datetime.timedelta(minutes=5), "not_valid_after": now + datetime.timedelta(days=days)}
    ca_key = ec.generate_private_key(ec.SECP384R1())
    ca = (x509.CertificateBuilder().subject_name(_name("fedfair federation CA")).issuer_name(_name("fedfair federation CA"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(valid["not_valid_before"]).not_valid_after(valid["not_valid_after"])
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .sign(ca_key, hashes.SHA256()))
    server_key = ec.generate_private_key(ec.SECP384R1())
    server = (x509.CertificateBuilder().subject_name(_name(hosts[0])).issuer_name(ca.subject)
              .public_key(server_key.public_key()).serial_number(x509.random_serial_number())
              .not_valid_before(valid["not_valid_before"]).not_valid_after(valid["not_valid_after"])
              .add_extension(x509.SubjectAlternativeName([_alternative_name(h) for h in hosts]), critical=False)
              .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
              .sign(ca_key, hashes.SHA256()))
    files = {"ca.crt": ca.public_bytes(serialization.Encoding.PEM), "ca.key": _pem_key(ca_key),
             "server.pem": server.public_bytes(serialization.Encoding.PEM), "server.key": _pem_key(server_key)}
    for k in range(1, nodes + 1):
        key = ec.generate_private_key(ec.SECP384R1())
        files[f"node-{k}.key"] = _pem_key(key, openssh=True)
        files[f"node-{k}.pub"] = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                                               serialization.PublicFormat.OpenSSH)
    written = []
    for name, data in files.items():
        path = out / name
        _write(path, data, secret=name.endswith(".key"))
        written.append(path)
    return written


def _write(path: Path, data: bytes, secret: bool) -> None:
    """Write ``data``; a private key is created with mode 0600 (owner read / write only) from the first byte on,
    and an existing file's mode is narrowed before it is overwritten."""
    mode = 0o600 if secret else 0o644
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        if secret:
            os.fchmod(fd, 0o600)  # also when the file existed with a wider mode (O_CREAT's mode applies to new files)
        os.write(fd, data)
    finally:
        os.close(fd)
