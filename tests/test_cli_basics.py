"""The ``qualityloop`` command as a user meets it: help, first start, users, migrations."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner

from qualityloop.cli import app

# Commands that report data, and so must offer --json.
DATA_COMMANDS = [
    "kinds", "import", "export", "demo", "migrate", "user add", "user set-role", "user list",
    "user token", "user revoke",
]


def command_paths(group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command and sub-command of the CLI, as argument tuples."""
    found = []
    for name, command in sorted(group.commands.items()):
        path = (*prefix, name)
        found.append(path)
        if getattr(command, "commands", None):
            found.extend(command_paths(command, path))
    return found


ALL_COMMANDS = command_paths(typer.main.get_command(app))


def run_cli(*args: str, home: Path | None, cwd: Path | None = None, timeout: float = 180):
    """Run the installed ``qualityloop`` in a fresh process on the default SQLite database."""
    env = {k: v for k, v in os.environ.items()
           if k not in {"QUALITYLOOP_DATABASE_URL", "QUALITYLOOP_HOME", "DJANGO_SETTINGS_MODULE"}}
    if home is not None:
        env["QUALITYLOOP_HOME"] = str(home)
    script = Path(sys.executable).with_name("qualityloop")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "qualityloop.cli"]
    return subprocess.run(
        [*command, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout,
    )


def help_text(*args: str) -> str:
    result = CliRunner().invoke(app, [*args, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    return result.output


def test_top_level_help_lists_every_command():
    text = help_text()
    top_level = {path[0] for path in ALL_COMMANDS}
    assert {"import", "export", "demo", "user", "serve", "kinds", "migrate"} <= top_level
    for name in top_level:
        assert name in text


@pytest.mark.parametrize("path", ALL_COMMANDS, ids=" ".join)
def test_every_command_has_help(path):
    assert "Usage:" in help_text(*path)


@pytest.mark.parametrize("command", DATA_COMMANDS)
def test_data_commands_offer_json(command):
    assert "--json" in help_text(*command.split())


def test_installed_console_script_answers_help(tmp_path):
    done = run_cli("--help", home=tmp_path / "home")
    assert done.returncode == 0, done.stderr
    assert "import" in done.stdout and "export" in done.stdout


def test_user_add_prints_a_token_as_json(tmp_path):
    done = run_cli("user", "add", "vera", "--role", "viewer", "--json", home=tmp_path)
    assert done.returncode == 0, done.stderr
    created = json.loads(done.stdout)
    assert created["username"] == "vera"
    assert created["role"] == "viewer"
    assert created["token"].startswith("ql_") and len(created["token"]) > 30


def test_user_add_refuses_an_unknown_role_without_a_traceback(tmp_path):
    done = run_cli("user", "add", "wiz", "--role", "wizard", home=tmp_path)
    assert done.returncode == 1
    output = done.stdout + done.stderr
    assert "unknown role 'wizard'" in output
    assert "viewer" in output, "the message should list the roles that exist"
    assert "Traceback" not in output


def test_user_add_refuses_a_duplicate_name(tmp_path):
    assert run_cli("user", "add", "dup", home=tmp_path).returncode == 0
    done = run_cli("user", "add", "dup", "--json", home=tmp_path)
    assert done.returncode == 1
    assert "already exists" in json.loads(done.stdout)["error"]
    assert "Traceback" not in done.stdout + done.stderr


def test_migrate_json_applies_everything_once(tmp_path):
    first = run_cli("migrate", "--json", home=tmp_path)
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert report["applied"] > 0
    assert Path(report["database"]) == tmp_path.resolve() / "qualityloop.sqlite3"
    again = run_cli("migrate", "--json", home=tmp_path)
    assert json.loads(again.stdout)["applied"] == 0


def test_first_start_creates_the_database_in_qualityloop_home(tmp_path):
    home = tmp_path / "new" / "home"
    done = run_cli("kinds", "--json", home=home)
    assert done.returncode == 0, done.stderr
    assert (home / "qualityloop.sqlite3").is_file()
    assert len(json.loads(done.stdout)) > 0


def test_default_data_folder_is_qualityloop_data_in_the_working_directory(tmp_path):
    done = run_cli("migrate", "--json", home=None, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "qualityloop-data" / "qualityloop.sqlite3").is_file()
    database = Path(json.loads(done.stdout)["database"])
    assert database.parent == tmp_path.resolve() / "qualityloop-data"


@pytest.mark.parametrize("url, expected", [
    ("postgres://quality:secret@127.0.0.1:1/qualityloop", "OperationalError"),
    ("nonsense://somewhere", "nonsense://"),
])
def test_an_unusable_database_is_a_clear_error_without_the_password(tmp_path, url, expected):
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.update(QUALITYLOOP_HOME=str(tmp_path), QUALITYLOOP_DATABASE_URL=url)
    script = Path(sys.executable).with_name("qualityloop")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "qualityloop.cli"]
    result = subprocess.run([*command, "kinds"], env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 1
    assert "cannot use the database" in result.stderr
    assert expected in result.stderr
    assert "secret" not in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_serving_on_a_taken_port_is_a_clear_error(tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        # It migrates the new data folder first (a minute or more on a busy machine).
        result = run_cli("serve", "--port", str(port), home=tmp_path, timeout=180)
    assert result.returncode == 1
    assert f"cannot serve on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


@pytest.mark.django_db
def test_user_commands_change_what_the_api_allows(client):
    def cli(*args: str) -> dict:
        result = CliRunner().invoke(app, [*args, "--json"], terminal_width=200)
        assert result.exit_code == 0, result.output
        return json.loads(result.output)

    def create_unit(token: str, external_id: str) -> int:
        return client.post(
            "/api/org-units/", {"external_id": external_id, "name": "Plant"},
            content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}",
        ).status_code

    first = cli("user", "add", "ann", "--role", "viewer")["token"]
    assert create_unit(first, "U-1") == 403
    assert cli("user", "set-role", "ann", "staff") == {"username": "ann", "role": "staff"}
    assert create_unit(first, "U-1") == 403  # staff raise NCs and complaints, not org units
    assert cli("user", "set-role", "ann", "quality-manager")["role"] == "quality-manager"
    assert create_unit(first, "U-1") == 201
    second = cli("user", "token", "ann")["token"]
    listed = {u["username"]: u for u in cli("user", "list")}
    assert listed["ann"]["role"] == "quality-manager" and listed["ann"]["active_tokens"] == 2
    assert cli("user", "revoke", "ann")["revoked"] == 2
    assert create_unit(second, "U-2") == 401
    assert cli("user", "list")[0]["active_tokens"] == 0


@pytest.mark.django_db
def test_user_commands_name_an_unknown_user():
    result = CliRunner().invoke(app, ["user", "set-role", "nobody", "staff"])
    assert result.exit_code == 1
    assert "no user called 'nobody'" in result.output
