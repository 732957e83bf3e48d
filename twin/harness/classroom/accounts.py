"""The class roster: who may log in to the classroom, with which role, and a hashed password.

The roster is one JSON file, ``accounts.json`` in the classroom folder::

    {"version": 1, "users": {"ana": {"role": "test", "salt": "<hex>", "hash": "<hex>",
                                     "n": 16384, "r": 8, "p": 1}}}

A password is never stored nor logged: only its ``hashlib.scrypt`` digest with a random salt of the user's own
(16 bytes from :func:`secrets.token_bytes`) and the cost parameters it was hashed with, so a roster written with
other costs still verifies. Changes to the roster hold a lock file beside it (``accounts.json.lock``, by
:mod:`filelock`) from reading it to writing it back, so two trainers adding accounts at the same moment both
keep theirs. :func:`authenticate` compares digests in constant time
(:func:`hmac.compare_digest`) and answers an unknown name and a wrong password with the same error, after the
same work, so neither the message nor the time tells which it was.

Roles: ``trainer`` builds exercises and sees the truth and the class results; the trainee roles are those of
:data:`twin.harness.runview.roles.ROLES` (``test``, ``process``, ``after_sales``), each seeing its own panels.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock

from twin.harness.runview.roles import ROLES

ACCOUNTS_FILE = "accounts.json"
TRAINER = "trainer"
#: every role an account may have: the trainer, then the trainee roles of the run views
ACCOUNT_ROLES: tuple[str, ...] = (TRAINER, *ROLES)
TRAINEE_ROLES: tuple[str, ...] = tuple(ROLES)
MIN_PASSWORD = 8
MAX_PASSWORD = 1024
#: scrypt costs for new hashes (RFC 7914's interactive-login figures: about 16 MiB and a few tens of ms)
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
SALT_BYTES, KEY_BYTES = 16, 32
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")
_FAILED = "unknown user or wrong password"


class AuthenticationError(Exception):
    """A log-in refused: the same message for an unknown name and a wrong password."""


@dataclass(frozen=True)
class User:
    """An account as the rest of the classroom sees it: its name and role (never its password or hash)."""

    name: str
    role: str

    @property
    def is_trainer(self) -> bool:
        """True for the trainer's account."""
        return self.role == TRAINER

    @property
    def label(self) -> str:
        """The role in words (``Test engineer``, ``Trainer``)."""
        return role_label(self.role)


def role_label(role: str) -> str:
    """A role in words: ``Trainer`` or the run view's label of a trainee role.

    >>> role_label("trainer"), role_label("after_sales")
    ('Trainer', 'After-sales engineer')
    """
    return "Trainer" if role == TRAINER else ROLES[role].label  # type: ignore[index]


def a_role(role: str) -> str:
    """A role with its article, for messages.

    >>> a_role("test"), a_role("after_sales"), a_role("trainer")
    ('a test engineer', 'an after-sales engineer', 'the trainer')
    """
    if role == TRAINER:
        return "the trainer"
    label = role_label(role).lower()
    return ("an " if label[0] in "aeiou" else "a ") + label


def accounts_file(folder: str | Path) -> Path:
    """The roster file of the classroom in ``folder``."""
    return Path(folder) / ACCOUNTS_FILE


def check_name(name: str) -> str:
    """``name`` when it is a valid account name (a letter or digit, then up to 39 letters, digits, ``_ . -``);
    ValueError saying what a name may hold otherwise.

    >>> check_name("ana.k")
    'ana.k'
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"user name {name!r} is not valid: 1 to 40 letters, digits, '_', '.' or '-', "
                         "starting with a letter or digit")
    return name


def check_role(role: str) -> str:
    """``role`` when it is one of :data:`ACCOUNT_ROLES`; ValueError listing them otherwise."""
    if role not in ACCOUNT_ROLES:
        raise ValueError(f"unknown role {role!r}; roles: {', '.join(ACCOUNT_ROLES)}")
    return role


def check_password(password: str) -> str:
    """``password`` when it is long enough (:data:`MIN_PASSWORD` to :data:`MAX_PASSWORD` characters); the
    ValueError says how long it must be, never what it was."""
    if not isinstance(password, str) or not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise ValueError(f"a password must be {MIN_PASSWORD} to {MAX_PASSWORD} characters long")
    return password


def hash_password(password: str, salt: bytes, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> bytes:
    """The scrypt digest of ``password`` (UTF-8) with ``salt`` and the costs ``n``, ``r``, ``p``."""
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=KEY_BYTES,
                          maxmem=max(64 * 1024 * 1024, 256 * n * r))


def _load(folder: str | Path) -> dict[str, dict[str, Any]]:
    """The roster's users by name ({} when there is no roster yet); a broken file is a ValueError naming it."""
    path = accounts_file(folder)
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ValueError(f"{path}: not a classroom roster: {err}") from None
    users = data.get("users") if isinstance(data, dict) else None
    if not isinstance(users, dict):
        raise ValueError(f"{path}: not a classroom roster: no 'users' mapping")
    return users


LOCK_TIMEOUT_S = 30.0  # how long a change waits for another to finish before it gives up


@contextmanager
def _changing(folder: str | Path) -> Iterator[dict[str, dict[str, Any]]]:
    """The roster's users, to change in place: read under the roster's lock and written back when the block ends
    without an error (a Timeout from :mod:`filelock` when another change holds the lock for too long)."""
    path = accounts_file(folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock", timeout=LOCK_TIMEOUT_S):
        users = _load(folder)
        yield users
        _save(folder, users)


def _save(folder: str | Path, users: dict[str, dict[str, Any]]) -> None:
    """Write the roster atomically, readable by its owner only."""
    path = accounts_file(folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump({"version": 1, "users": dict(sorted(users.items()))}, out, indent=2)
    tmp.replace(path)


def add_user(folder: str | Path, name: str, role: str, password: str, *, replace: bool = False) -> User:
    """Add an account to the roster (or, with ``replace``, set a known one's role and password); ValueError for
    a bad name, role or password, or a name already taken."""
    check_name(name)
    check_role(role)
    check_password(password)
    salt = secrets.token_bytes(SALT_BYTES)
    digest = hash_password(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)  # before the lock: it takes a while
    with _changing(folder) as users:
        if name in users and not replace:
            raise ValueError(f"user {name!r} already exists in {accounts_file(folder)}")
        users[name] = {"role": role, "salt": salt.hex(), "hash": digest.hex(),
                       "n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P}
    return User(name, role)


def remove_user(folder: str | Path, name: str) -> None:
    """Remove an account (its submissions stay in the results); KeyError naming it when there is none."""
    with _changing(folder) as users:
        if name not in users:
            raise KeyError(f"no user {name!r} in {accounts_file(folder)}")
        del users[name]


def list_users(folder: str | Path) -> list[User]:
    """Every account of the roster, by name."""
    return [User(name, str(record.get("role", ""))) for name, record in sorted(_load(folder).items())]


def get_user(folder: str | Path, name: str) -> User | None:
    """The account called ``name``, or None (for the pages that know who is logged in)."""
    record = _load(folder).get(name)
    return User(name, str(record["role"])) if record else None


_DUMMY_SALT = secrets.token_bytes(SALT_BYTES)


def authenticate(folder: str | Path, name: str, password: str) -> User:
    """The account ``name`` when ``password`` is its password; :class:`AuthenticationError` otherwise, with the
    same message (and the same scrypt work) whether the name is unknown or the password wrong."""
    record = _load(folder).get(name) if isinstance(name, str) else None
    if not isinstance(password, str) or len(password) > MAX_PASSWORD:
        password = ""
    if record is None:
        hash_password(password, _DUMMY_SALT)  # as much work as a known name: the time tells nothing
        raise AuthenticationError(_FAILED)
    try:
        salt, stored = bytes.fromhex(record["salt"]), bytes.fromhex(record["hash"])
        digest = hash_password(password, salt, int(record["n"]), int(record["r"]), int(record["p"]))
    except (KeyError, ValueError, TypeError):
        raise ValueError(f"{accounts_file(folder)}: the account of {name!r} is damaged; add it again") from None
    if not hmac.compare_digest(digest, stored):
        raise AuthenticationError(_FAILED)
    return User(name, str(record["role"]))
