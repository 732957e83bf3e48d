"""``twin keys create``: a line's signing keys for commands and its ledger (:mod:`twin.edge.keys`)."""

from __future__ import annotations

from pathlib import Path

import typer

from twin.cli.common import command_group, console, fail

keys_app = command_group("Signing keys for a line's commands and ledger.")


@keys_app.command("create")
def keys_create(
    line: str = typer.Option(..., help="the line the keys belong to (the playbook's line)"),
    out: Path = typer.Option(Path("keys"), help="folder for LINE.key (secret, owner-readable) and LINE.pub"),
    overwrite: bool = typer.Option(False, help="replace an existing key file (everything it signed stops verifying)"),
) -> None:
    """Make a line's command secret and ledger key; keep LINE.key out of version control."""
    from twin.edge.keys import KeyFileError, generate_keys, write_keys

    if not line or "/" in line or line.startswith("."):
        raise fail(f"--line: {line!r} is not a usable line name (no '/', not empty, not starting with '.')")
    keys = generate_keys(line)
    try:
        private_path, public_path = write_keys(keys, out, overwrite=overwrite)
    except KeyFileError as err:
        raise fail(str(err)) from None
    except OSError as err:
        raise fail(f"could not write the keys into {out}: {err}", 1) from None
    console.print(f"secret key {private_path} (owner-readable only; never commit it)\n"
                  f"public key {public_path} (give it to whoever verifies the ledger)\n"
                  f"fingerprint {keys.fingerprint()}", markup=False, highlight=False, soft_wrap=True)
