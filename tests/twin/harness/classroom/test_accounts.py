"""The class roster: scrypt-hashed passwords with a salt per user, no plaintext on disk, one error for an unknown
user and a wrong password."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from filelock import FileLock
from hypothesis import given, settings
from hypothesis import strategies as st

from twin.harness.classroom.accounts import (
    ACCOUNT_ROLES,
    MIN_PASSWORD,
    AuthenticationError,
    User,
    accounts_file,
    add_user,
    authenticate,
    list_users,
    remove_user,
)

PRINTABLE = st.characters(blacklist_categories=("Cs", "Cc"))  # any printable text, not only ASCII


def test_the_roster_holds_no_plaintext_and_a_salt_per_user(tmp_path: Path) -> None:
    secret = "correct horse battery staple"
    add_user(tmp_path, "ana", "test", secret)
    add_user(tmp_path, "ben", "process", secret)
    raw = accounts_file(tmp_path).read_bytes()
    for form in (secret.encode(), secret.encode().hex().encode(), json.dumps(secret).encode()):
        assert form not in raw
    users = json.loads(raw)["users"]
    assert users["ana"]["salt"] != users["ben"]["salt"]
    assert users["ana"]["hash"] != users["ben"]["hash"]  # the same password, two salts: two hashes
    assert stat.S_IMODE(accounts_file(tmp_path).stat().st_mode) == 0o600
    assert authenticate(tmp_path, "ana", secret) == User("ana", "test")


def test_a_wrong_password_and_an_unknown_user_get_the_same_refusal(tmp_path: Path) -> None:
    add_user(tmp_path, "ana", "test", "right-password")
    with pytest.raises(AuthenticationError) as wrong:
        authenticate(tmp_path, "ana", "wrong-password")
    with pytest.raises(AuthenticationError) as unknown:
        authenticate(tmp_path, "nobody", "right-password")
    assert str(wrong.value) == str(unknown.value) == "unknown user or wrong password"
    with pytest.raises(AuthenticationError):
        authenticate(tmp_path, "ana", "")


@settings(max_examples=12)
@given(password=st.text(PRINTABLE, min_size=MIN_PASSWORD, max_size=80), other=st.text(PRINTABLE, max_size=80))
def test_any_printable_password_round_trips(tmp_path_factory: pytest.TempPathFactory, password: str,
                                            other: str) -> None:
    folder = tmp_path_factory.mktemp("roster")
    add_user(folder, "ana", "after_sales", password)
    assert password not in accounts_file(folder).read_text(encoding="utf-8")
    assert authenticate(folder, "ana", password).role == "after_sales"
    if other != password:
        with pytest.raises(AuthenticationError):
            authenticate(folder, "ana", other)


def test_names_roles_and_passwords_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown role 'boss'; roles: trainer, test, process, after_sales"):
        add_user(tmp_path, "ana", "boss", "long-enough")
    with pytest.raises(ValueError, match="user name '../x' is not valid"):
        add_user(tmp_path, "../x", "test", "long-enough")
    with pytest.raises(ValueError, match=f"a password must be {MIN_PASSWORD} to") as short:
        add_user(tmp_path, "ana", "test", "short")
    assert "short" not in str(short.value).replace("a password", "")
    add_user(tmp_path, "ana", "test", "long-enough")
    with pytest.raises(ValueError, match="user 'ana' already exists"):
        add_user(tmp_path, "ana", "process", "long-enough")
    add_user(tmp_path, "ana", "process", "another-one", replace=True)
    assert authenticate(tmp_path, "ana", "another-one").role == "process"


def test_users_are_listed_and_removed(tmp_path: Path) -> None:
    for i, role in enumerate(ACCOUNT_ROLES):
        add_user(tmp_path, f"user{i}", role, f"password-{i}")
    assert [(u.name, u.role) for u in list_users(tmp_path)] == [(f"user{i}", r) for i, r in enumerate(ACCOUNT_ROLES)]
    assert list_users(tmp_path)[0].is_trainer and not list_users(tmp_path)[1].is_trainer
    remove_user(tmp_path, "user1")
    assert "user1" not in [u.name for u in list_users(tmp_path)]
    with pytest.raises(AuthenticationError):
        authenticate(tmp_path, "user1", "password-1")
    with pytest.raises(KeyError, match="no user 'user1'"):
        remove_user(tmp_path, "user1")
    assert list_users(tmp_path / "empty") == []



_ADDER = """
import sys
from pathlib import Path
from twin.harness.classroom.accounts import add_user
Path(sys.argv[2]).touch()  # imported, about to change the roster
add_user(sys.argv[1], "ben", "test", "a long enough password")
"""


def test_a_change_to_the_roster_waits_for_one_in_progress(tmp_path: Path) -> None:
    """While one change holds the roster (its lock, here held by the test), another trainer's process waits and
    does not write; it adds its account once the first is done, and the first one's account stays (without the
    lock, the second process wrote the roster at once, and the first then wrote over it)."""
    add_user(tmp_path, "ana", "trainer", "a long enough password")
    ready = tmp_path / "ready"
    with FileLock(str(accounts_file(tmp_path)) + ".lock"):
        before = accounts_file(tmp_path).read_bytes()
        adder = subprocess.Popen([sys.executable, "-c", _ADDER, str(tmp_path), str(ready)])
        try:
            deadline = time.monotonic() + 120
            while not ready.exists() and adder.poll() is None and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(0.5)  # time enough to hash and write, had it not waited
            assert adder.poll() is None, "the other process did not wait for the lock"
            assert accounts_file(tmp_path).read_bytes() == before
        except BaseException:
            adder.kill()
            raise
    assert adder.wait(timeout=120) == 0
    assert [user.name for user in list_users(tmp_path)] == ["ana", "ben"]
