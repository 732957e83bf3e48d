"""The keys a line's edge signs with: an HMAC secret for commands, an Ed25519 key for its ledger.

One key file per line, provisioned once with ``twin keys create --line LINE --out DIR`` and
kept outside the repository (``*.key`` is git-ignored; the file is owner-readable only)::

    DIR/LINE.key   {"line": ..., "command_secret": "<hex, 32 bytes>", "ledger_private_key": "<PEM>"}
    DIR/LINE.pub   the ledger's Ed25519 public key (PEM), for whoever verifies the ledger

The **command secret** is shared by the edge (which signs every command with HMAC-SHA256) and
the PLC bridge (which refuses a command whose signature does not verify). The **ledger key**
signs each ledger entry; the public key's fingerprint is written into the ledger's head, and an
auditor who holds ``LINE.pub`` (or the fingerprint) can tell the writer's entries from a forgery
signed with any other key.

A simulated run that names no key file gets fresh keys for that run only
(:func:`generate_keys`); they live in memory and are never written beside the code.

>>> keys = generate_keys("line1")
>>> len(keys.command_secret), keys.fingerprint().startswith("sha256:")
(32, True)
>>> keys.verify_command(b'{"id": "x"}', keys.sign_command(b'{"id": "x"}'))
True
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

KEY_SUFFIX = ".key"
PUBLIC_SUFFIX = ".pub"
SECRET_BYTES = 32


class KeyFileError(ValueError):
    """A key file is missing, unreadable or malformed; the message names the file and the field."""


@dataclass(frozen=True)
class LineKeys:
    """One line's signing keys (see the module docstring)."""

    line: str
    command_secret: bytes
    ledger_private_key: Ed25519PrivateKey

    def public_key(self) -> Ed25519PublicKey:
        """The ledger's public key."""
        return self.ledger_private_key.public_key()

    def fingerprint(self) -> str:
        """``sha256:<hex>`` of the ledger public key's raw bytes."""
        return fingerprint(self.public_key())

    def sign_command(self, payload: bytes) -> str:
        """HMAC-SHA256 (hex) of a command's canonical bytes under the command secret."""
        return hmac.new(self.command_secret, payload, hashlib.sha256).hexdigest()

    def verify_command(self, payload: bytes, signature: str) -> bool:
        """True when ``signature`` is :meth:`sign_command` of ``payload`` (compared in constant time)."""
        return hmac.compare_digest(self.sign_command(payload), signature)

    def sign(self, data: bytes) -> str:
        """Ed25519 signature (hex) of ``data`` under the ledger key."""
        return self.ledger_private_key.sign(data).hex()


def fingerprint(public_key: Ed25519PublicKey) -> str:
    """``sha256:<hex>`` of a public key's raw 32 bytes: how a head names the key that signed it."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def verify_signature(public_key: Ed25519PublicKey, data: bytes, signature_hex: str) -> bool:
    """True when ``signature_hex`` is a valid Ed25519 signature of ``data`` by ``public_key``."""
    try:
        public_key.verify(bytes.fromhex(signature_hex), data)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def generate_keys(line: str) -> LineKeys:
    """Fresh random keys for ``line`` (from the operating system's random source)."""
    return LineKeys(line, secrets.token_bytes(SECRET_BYTES), Ed25519PrivateKey.generate())


def key_paths(directory: str | Path, line: str) -> tuple[Path, Path]:
    """Where :func:`write_keys` puts a line's private key file and its public key."""
    directory = Path(directory)
    return directory / f"{line}{KEY_SUFFIX}", directory / f"{line}{PUBLIC_SUFFIX}"


def write_keys(keys: LineKeys, directory: str | Path, *, overwrite: bool = False) -> tuple[Path, Path]:
    """Write ``LINE.key`` (mode 0600) and ``LINE.pub`` into ``directory``; refuses to replace a key file."""
    private_path, public_path = key_paths(directory, keys.line)
    if private_path.exists() and not overwrite:
        raise KeyFileError(f"{private_path}: a key file for line {keys.line!r} exists already "
                           "(replacing it would orphan every command and ledger it signed)")
    private_path.parent.mkdir(parents=True, exist_ok=True)
    pem = keys.ledger_private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                serialization.NoEncryption()).decode("ascii")
    body = json.dumps({"line": keys.line, "command_secret": keys.command_secret.hex(), "ledger_private_key": pem},
                      indent=2) + "\n"
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(body)
    private_path.chmod(0o600)
    public_path.write_bytes(keys.public_key().public_bytes(serialization.Encoding.PEM,
                                                           serialization.PublicFormat.SubjectPublicKeyInfo))
    return private_path, public_path


def load_keys(path: str | Path) -> LineKeys:
    """Read a ``LINE.key`` file; :class:`KeyFileError` names the file and the field at fault."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise KeyFileError(f"{path}: no such key file (make one with: twin keys create --line LINE)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise KeyFileError(f"{path}: not a key file ({err})") from None
    if not isinstance(raw, dict):
        raise KeyFileError(f"{path}: not a key file (expected a JSON object)")
    for field in ("line", "command_secret", "ledger_private_key"):
        if not isinstance(raw.get(field), str) or not raw[field]:
            raise KeyFileError(f"{path}: field {field!r} is missing or not a string")
    try:
        secret = bytes.fromhex(raw["command_secret"])
    except ValueError:
        raise KeyFileError(f"{path}: field 'command_secret' is not hexadecimal") from None
    if len(secret) < SECRET_BYTES:
        raise KeyFileError(f"{path}: field 'command_secret' has {len(secret)} bytes, at least {SECRET_BYTES} needed")
    try:
        private = serialization.load_pem_private_key(raw["ledger_private_key"].encode("ascii"), password=None)
    except (ValueError, TypeError, UnicodeEncodeError) as err:
        raise KeyFileError(f"{path}: field 'ledger_private_key' is not a PEM private key ({err})") from None
    if not isinstance(private, Ed25519PrivateKey):
        raise KeyFileError(f"{path}: field 'ledger_private_key' is not an Ed25519 key")
    return LineKeys(raw["line"], secret, private)


def load_public_key(path: str | Path) -> Ed25519PublicKey:
    """Read a ``LINE.pub`` file (PEM); :class:`KeyFileError` names the file when it is not an Ed25519 key."""
    path = Path(path)
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except FileNotFoundError:
        raise KeyFileError(f"{path}: no such public key file") from None
    except (OSError, ValueError, TypeError) as err:
        raise KeyFileError(f"{path}: not a PEM public key ({err})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError(f"{path}: not an Ed25519 public key")
    return key
