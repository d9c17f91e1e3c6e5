"""Secrets at rest and the certificates of the embedded runtimes.

- Passwords are stored as salted scrypt hashes (slow on purpose); secrets kymaprov generates itself
  (OAuth client secrets, 192 random bits) as salted SHA-256, and the admin token as its SHA-256
  fingerprint: they cannot be guessed, and the token endpoint stays fast.
- Secrets we must read back (signing keys, CA keys, kubeconfigs) are sealed with AES-256-GCM under the
  installation's master key: ``base64(nonce || ciphertext || tag)``, the same layout KEB uses.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import ipaddress
import os
import secrets
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def random_token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def hash_secret(secret: str, *, generated: bool = False) -> str:
    """A stored form of ``secret`` that cannot be turned back into it.

    People's passwords get a salted scrypt hash (``scrypt$<salt>$<digest>``), slow on purpose. Secrets
    we generate ourselves (``generated=True``: 192 random bits, e.g. OAuth client secrets) cannot be
    guessed, so a salted SHA-256 (``sha256$<salt>$<digest>``) is as safe and keeps the token endpoint
    fast: clients fetch tokens often.
    """
    salt = os.urandom(16)
    if generated:
        digest = hashlib.sha256(salt + secret.encode()).digest()
        return f"sha256${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"
    digest = hashlib.scrypt(secret.encode(), salt=salt, **_SCRYPT)
    return f"scrypt${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_secret(secret: str, stored: str) -> bool:
    try:
        scheme, salt_b64, digest_b64 = stored.split("$")
        salt, expected = (
            base64.b64decode(salt_b64, validate=True),
            base64.b64decode(digest_b64, validate=True),
        )
    except ValueError:  # binascii.Error is a ValueError
        return False
    if scheme == "sha256":
        digest = hashlib.sha256(salt + secret.encode()).digest()
    elif scheme == "scrypt":
        digest = hashlib.scrypt(secret.encode(), salt=salt, **_SCRYPT)
    else:
        return False
    return hmac.compare_digest(digest, expected)


def fingerprint(secret: str) -> str:
    """A fast, non-reversible lookup key for high-entropy tokens (never for passwords)."""
    return hashlib.sha256(secret.encode()).hexdigest()


class Sealer:
    """AES-256-GCM with a random 12-byte nonce prepended."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("the master key must be 32 bytes")
        self._aead = AESGCM(key)

    def seal(self, plaintext: str | bytes) -> str:
        data = plaintext.encode() if isinstance(plaintext, str) else plaintext
        nonce = os.urandom(12)
        return base64.b64encode(nonce + self._aead.encrypt(nonce, data, None)).decode()

    def open(self, sealed: str) -> bytes:
        raw = base64.b64decode(sealed)
        return self._aead.decrypt(raw[:12], raw[12:], None)

    def open_str(self, sealed: str) -> str:
        return self.open(sealed).decode()


def load_or_create_master_key(path: str, env_value: str | None) -> bytes:
    """The master key comes from the environment (replicas share it) or a 0600 file in the data dir."""
    if env_value:
        key = base64.b64decode(env_value)
        if len(key) != 32:
            raise ValueError("KYMAPROV_SECRET_KEY must be 32 bytes, base64-encoded")
        return key
    if os.path.exists(path):
        with open(path, "rb") as fh:
            return base64.b64decode(fh.read().strip())
    key = AESGCM.generate_key(bit_length=256)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(base64.b64encode(key))
    return key


def new_rsa_key_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def new_ec_key_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def public_key_pem(private_pem: str) -> str:
    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@dataclass(frozen=True)
class CertPair:
    cert_pem: str
    key_pem: str


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def issue_ca(common_name: str, years: int = 10) -> CertPair:
    """A self-signed CA (ECDSA P-256), as the observed kubectl-compatible setups use."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - dt.timedelta(minutes=5))
        .not_valid_after(_now() + dt.timedelta(days=365 * years))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return CertPair(_cert_pem(cert), _key_pem(key))


def issue_server_cert(ca: CertPair, dns_names: list[str], ips: list[str], years: int = 5) -> CertPair:
    """A serving certificate signed by ``ca`` with SANs for every name and address clients dial."""
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem.encode())
    ca_key = serialization.load_pem_private_key(ca.key_pem.encode(), password=None)
    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
    sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    cert = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns_names[0] if dns_names else ips[0])])
        )
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - dt.timedelta(minutes=5))
        .not_valid_after(_now() + dt.timedelta(days=365 * years))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    return CertPair(_cert_pem(cert), _key_pem(key))


def _cert_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _key_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
