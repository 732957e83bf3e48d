"""``twin classroom``: trainer mode from the command line (:mod:`twin.harness.classroom`).

* ``twin classroom user add|list|remove`` — the class roster (hashed passwords, roles);
* ``twin classroom check PACK...`` — validate exercise packs without running them;
* ``twin classroom build PACK --folder DIR`` — build a pack's exercises (offline runs, the truth kept aside);
* ``twin classroom submit EXERCISE --user NAME ...`` — a trainee's answer, scored;
* ``twin classroom results --folder DIR`` — the class results table (``--csv FILE`` too).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from twin.cli.common import command_group, console, fail, quiet_libraries

classroom_app = command_group("Trainer mode: a class roster, exercises with the truth hidden, scored answers.")
user_app = command_group("The class roster: accounts with a role and a hashed password.")
classroom_app.add_typer(user_app, name="user")

FOLDER_HELP = "the classroom folder (roster, exercises, submissions)"


def _folder_option() -> Path:
    return typer.Option(Path("classroom"), "--folder", help=FOLDER_HELP)


def _password(stdin: bool, *, confirm: bool) -> str:
    """The password from one line of standard input (``--password-stdin``) or a hidden prompt; never echoed."""
    if stdin:
        line = sys.stdin.readline()
        return line[:-1] if line.endswith("\n") else line
    return str(typer.prompt("password", hide_input=True, confirmation_prompt=confirm))


@user_app.command("add")
def user_add(
    name: str = typer.Argument(..., help="the account's name (letters, digits, _ . -)"),
    role: str = typer.Option(..., help="trainer | test | process | after_sales"),
    folder: Path = _folder_option(),
    password_stdin: bool = typer.Option(False, "--password-stdin",
                                        help="read the password from one line of standard input (no prompt)"),
    replace: bool = typer.Option(False, help="set a known account's role and password anew"),
) -> None:
    """Add an account to the roster; the password is asked for twice, hidden, and stored only as a scrypt hash."""
    from twin.harness.classroom.accounts import ACCOUNT_ROLES, add_user, check_name, check_role

    try:
        check_name(name)
        check_role(role)
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint="NAME" if "name" in str(err) else "--role") from None
    password = _password(password_stdin, confirm=True)
    try:
        user = add_user(folder, name, role, password, replace=replace)
    except ValueError as err:
        raise fail(str(err)) from None
    console.print(f"added {user.name} ({user.label}) to {folder / 'accounts.json'}; roles: {', '.join(ACCOUNT_ROLES)}",
                  markup=False, highlight=False, soft_wrap=True)


@user_app.command("list")
def user_list(folder: Path = _folder_option()) -> None:
    """The accounts of the roster and their roles (never a password or a hash)."""
    from twin.harness.classroom.accounts import list_users

    try:
        users = list_users(folder)
    except ValueError as err:
        raise fail(str(err)) from None
    table = Table(title=f"class roster ({folder})")
    table.add_column("user")
    table.add_column("role")
    for user in users:
        table.add_row(user.name, user.label)
    Console().print(table)
    if not users:
        console.print(f"no accounts yet: twin classroom user add NAME --role ROLE --folder {folder}", markup=False)


@user_app.command("remove")
def user_remove(
    name: str = typer.Argument(..., help="the account to remove (its submissions stay in the results)"),
    folder: Path = _folder_option(),
) -> None:
    """Remove an account from the roster."""
    from twin.harness.classroom.accounts import remove_user

    try:
        remove_user(folder, name)
    except KeyError as err:
        raise fail(str(err.args[0])) from None
    except ValueError as err:
        raise fail(str(err)) from None
    console.print(f"removed {name}", markup=False)


@classroom_app.command("check")
def classroom_check(
    packs: list[Path] = typer.Argument(None, help="exercise pack files (default: scenarios/exercises/*.yaml)"),
) -> None:
    """Validate exercise packs without running them: fields, scenario files, durations, actions. Exit 2 when one
    is invalid."""
    from qtconfig import ConfigError
    from twin.harness.classroom.packs import load_pack, shipped_packs

    invalid = 0
    for path in packs or shipped_packs():
        try:
            pack = load_pack(path)
        except ConfigError as err:
            invalid += 1
            console.print(f"fail {err}", style="red", markup=False, soft_wrap=True, highlight=False)
            continue
        console.print(f"ok   {path}: {len(pack.exercises)} exercises", markup=False, soft_wrap=True)
    raise typer.Exit(2 if invalid else 0)


@classroom_app.command("build")
def classroom_build(
    pack: Path = typer.Argument(..., help="an exercise pack (scenarios/exercises/*.yaml)"),
    folder: Path = _folder_option(),
    replace: bool = typer.Option(False, help="rebuild exercises that exist (their submissions stay)"),
) -> None:
    """Build every exercise of a pack: run its scenario offline, keep the truth for the trainer, and offer the
    trainees the diagnoses and corrective actions to choose from."""
    from qtconfig import ConfigError
    from twin.harness.classroom.packs import build_pack
    from twin.harness.progress import progress_bar

    quiet_libraries()
    tasks: dict[str, object] = {}
    try:
        with progress_bar(console, "scans") as bar:
            def progress(name: str, done: int, total: int) -> None:
                if name not in tasks:
                    tasks[name] = bar.add_task(name, total=total)
                bar.update(tasks[name], completed=done, total=total)  # type: ignore[arg-type]

            built = build_pack(pack, folder, progress=progress, replace=replace)
    except ConfigError as err:
        raise fail(f"invalid pack: {err}") from None
    except ValueError as err:
        raise fail(str(err)) from None
    for exercise in built:
        console.print(f"built {exercise.name}: {len(exercise.diagnoses)} diagnoses, {len(exercise.actions)} actions "
                      f"to choose from, for {', '.join(exercise.roles)}", markup=False, soft_wrap=True)
    console.print(f"classroom: {folder}", markup=False)


@classroom_app.command("submit")
def classroom_submit(
    exercise: str = typer.Argument(..., help="the exercise's name"),
    user: str = typer.Option(..., help="the trainee's account"),
    diagnosis: str = typer.Option(..., help="the asset or instrument at fault ('none': nothing is wrong)"),
    action: str = typer.Option(..., help="the corrective action: a playbook rule's name, or 'none'"),
    note: str = typer.Option("", help="what the trainee noticed"),
    folder: Path = _folder_option(),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="read the password from standard input"),
) -> None:
    """A trainee's answer to an exercise, scored: diagnosis (1, ½ for the right place but the wrong kind of
    fault, 0) and corrective action (1 or 0), averaged."""
    from twin.harness.classroom.accounts import AuthenticationError, authenticate
    from twin.harness.classroom.exercise import load_exercise
    from twin.harness.classroom.scoring import submit

    password = _password(password_stdin, confirm=False)
    try:
        who = authenticate(folder, user, password)
        chosen = load_exercise(folder, exercise)
        attempt = submit(folder, chosen, who, diagnosis, action, note)
    except AuthenticationError as err:
        raise fail(f"--user {user}: {err}") from None
    except FileNotFoundError as err:
        raise fail(str(err)) from None
    except (PermissionError, ValueError) as err:
        raise fail(str(err)) from None
    console.print(f"attempt {attempt.attempt} of {chosen.max_attempts}: score {attempt.score:.0%} (diagnosis "
                  f"{attempt.diagnosis_credit:g}, action {'right' if attempt.action_right else 'wrong'})",
                  markup=False, soft_wrap=True)


@classroom_app.command("results")
def classroom_results(
    folder: Path = _folder_option(),
    csv: Optional[Path] = typer.Option(None, "--csv", help="also write the table to this CSV file"),
) -> None:
    """The class results: per trainee and exercise, attempts, best score, whether diagnosis and action were right."""
    from twin.harness.classroom.scoring import class_results

    try:
        table_df = class_results(folder)
    except ValueError as err:
        raise fail(str(err)) from None
    table = Table(title=f"class results ({folder})")
    for column in table_df.columns:
        table.add_column(str(column), overflow="fold")
    for row in table_df.itertuples(index=False):
        table.add_row(*["" if value is None or value != value else  # noqa: PLR0124 - NaN is not itself
                        (f"{value:.0%}" if isinstance(value, float) else str(value)) for value in row])
    Console().print(table)
    if csv is not None:
        try:
            table_df.to_csv(csv, index=False)
        except OSError as err:
            raise fail(f"--csv {csv}: {err}", 1) from None
        console.print(f"wrote {csv}", markup=False, soft_wrap=True)  # a path is never wrapped
