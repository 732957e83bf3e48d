"""Who may do what on the virtual PLC's OPC UA server: users, roles, and the opt-in secured endpoint.

Every virtual PLC refuses to hand out administrator rights: no user, however named, may add,
rename or delete nodes (asyncua's default grants them to a client that logs in as ``admin`` with
any password). Without a security file the server is open for reading: security policy None, any
session may browse, read and subscribe, but a setpoint write is answered ``BadUserAccessDenied``
unless the server was started with ``anonymous_writes=True`` (a lab simulator that says so; a
user name given on an open server counts for nothing, there are no accounts to check it against).

A **security file** (``twin plc serve --opcua-security FILE``) makes it behave as a plant's PLC::

    certificate: pki/certificate.der      # the server's own (twin certs create --server)
    private_key: pki/private_key.pem
    users:
      - {name: op1, role: operator, password_env: PLC_OP1_PASSWORD}
      - {name: eng1, role: engineer, password_file: eng1.password}

Then only ``Basic256Sha256`` with ``Sign`` or ``SignAndEncrypt`` is offered, anonymous sessions
are refused, a login needs a listed user and the right password (compared in constant time;
passwords come from an environment variable or a file, never from the security file itself), an
**operator** may read and subscribe, an **engineer** may also write setpoints: an operator's write
is answered ``BadUserAccessDenied`` and leaves the setpoint unchanged. Files are relative to the
security file.
"""

from __future__ import annotations

import hmac
import os
from pathlib import Path
from typing import Any, Literal

from asyncua.crypto.permission_rules import User, UserRole
from pydantic import BaseModel, ConfigDict, Field, model_validator

from qtconfig import ConfigError, load_yaml_model

Role = Literal["operator", "engineer"]


class PlcUser(BaseModel):
    """One account on the virtual PLC."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    role: Role = Field(description="operator: read and subscribe; engineer: also write setpoints")
    password_env: str | None = Field(default=None, description="environment variable holding the password")
    password_file: str | None = Field(default=None, description="file holding the password (relative to the "
                                                                "security file)")

    @model_validator(mode="after")
    def _one_password_source(self) -> PlcUser:
        if (self.password_env is None) == (self.password_file is None):
            raise ValueError(f"user {self.name}: give password_env or password_file (one of them)")
        return self

    def password(self, base: Path) -> str:
        """The user's password, from the environment or the file; ConfigError names what is missing."""
        if self.password_env is not None:
            value = os.environ.get(self.password_env)
            if not value:
                raise ConfigError(f"user {self.name}", [f"environment variable {self.password_env} is not set"])
            return value
        path = base / str(self.password_file)
        if not path.is_file():
            raise ConfigError(path, [f"password file of user {self.name} not found"])
        return path.read_text(encoding="utf-8").strip()


class OpcUaSecurity(BaseModel):
    """The virtual PLC's secured OPC UA endpoint: its certificate and key, and its users."""

    model_config = ConfigDict(extra="forbid")

    certificate: str = Field(description="the server's certificate (DER or PEM); twin certs create --server")
    private_key: str = Field(description="the server's private key (PEM)")
    users: list[PlcUser] = Field(min_length=1)
    base: Path = Field(default=Path("."), exclude=True)

    @model_validator(mode="after")
    def _unique_names(self) -> OpcUaSecurity:
        names = [u.name for u in self.users]
        if len(set(names)) != len(names):
            raise ValueError(f"user names must be unique, got {names}")
        return self


def load_security(path: str | Path) -> OpcUaSecurity:
    """Read a security file (errors name field and line); its file paths resolve from its folder."""
    path = Path(path)
    security = load_yaml_model(OpcUaSecurity, path)
    base = path.resolve().parent
    return security.model_copy(update={"base": base, "certificate": str(base / security.certificate),
                                       "private_key": str(base / security.private_key)})


class PlcUserManager:
    """asyncua user manager: never an administrator; with accounts, only a listed user with the right password.

    Without accounts (no security file) every session is a plain user who may read, and write only
    when ``anonymous_writes`` is True; with accounts, :meth:`may_write` lets engineers write.
    ``anonymous_writes`` with a security file is refused: that file refuses anonymous sessions.
    """

    def __init__(self, security: OpcUaSecurity | None = None, *, anonymous_writes: bool = False) -> None:
        if security is not None and anonymous_writes:
            raise ValueError("anonymous_writes needs an open server: a security file refuses anonymous sessions")
        self.anonymous_writes = anonymous_writes
        self._passwords: dict[str, str] = {}
        self._roles: dict[str, Role] = {}
        if security is not None:
            for user in security.users:
                self._passwords[user.name] = user.password(security.base)
                self._roles[user.name] = user.role

    @property
    def secured(self) -> bool:
        """True when sessions need a listed user."""
        return bool(self._passwords)

    def get_user(self, iserver: Any, username: str | None = None, password: str | None = None,
                 certificate: Any = None) -> User | None:
        """The session's user, or None (refused) for an unknown user or a wrong password."""
        if not self.secured:
            return User(role=UserRole.User)
        expected = self._passwords.get(username or "")
        given = password.decode() if isinstance(password, bytes) else (password or "")
        if expected is None or not hmac.compare_digest(expected.encode(), given.encode()):
            return None
        return User(role=UserRole.User, name=username)

    def may_write(self, user: User | None) -> bool:
        """True when ``user`` may write setpoints: an engineer on a secured server; on an open one, anyone
        if ``anonymous_writes`` is set, else nobody."""
        if not self.secured:
            return self.anonymous_writes
        return user is not None and self._roles.get(user.name or "") == "engineer"
