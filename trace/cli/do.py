"""`flask --app trace do COMMAND --as USERNAME --input JSON`: any domain command, as a user.

The input is the command's typed input as JSON (quantities in grams); `do --list` prints every
command with its input's JSON Schema. The result is printed as JSON; a refusal prints
`{"error": {"code": ..., "message": ..., "field": ...}}` (with every field's refusal under
"errors") and exits with status 2."""
from __future__ import annotations

import json
import sys
from typing import Any

import click
from flask import Flask

from trace import services
from trace.domain import accounts
from trace.domain.errors import DomainError
from trace.domain.inputs import G
from trace.domain.rules import COMMANDS


def _print(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True))


def _refuse(exc: DomainError, lang: str) -> None:
    out: dict[str, Any] = {"error": exc.as_dict(lang, unit=G)}
    if len(exc.errors) > 1:
        out["errors"] = [e.as_dict(lang, unit=G) for e in exc.errors]
    _print(out)
    sys.exit(2)


def _read_input(raw: str) -> Any:
    if raw == "-":
        raw = sys.stdin.read()
    elif raw.startswith("@"):
        with open(raw[1:], encoding="utf-8") as f:
            raw = f.read()
    return json.loads(raw)


def init_app(app: Flask) -> None:
    """Register the command."""

    @app.cli.command("do")
    @click.argument("command", required=False)
    @click.option("--as", "username", help="The login to act as (its party and rights).")
    @click.option("--input", "raw", default="{}", show_default=True,
                  help="The command's input as a JSON object; '-' reads it from standard input, '@FILE' from a file.")
    @click.option("--list", "listing", is_flag=True, help="List every command with its input's JSON Schema.")
    @click.option("--lang", type=click.Choice(["en", "zh"]), default="en", show_default=True, help="Language of messages.")
    def do_cmd(command: str | None, username: str | None, raw: str, listing: bool, lang: str) -> None:
        """Run a domain command as a user and print its result as JSON."""
        if listing:
            _print({name: {"summary": cmd.summary, "input": cmd.input.model_json_schema()}
                    for name, cmd in sorted(COMMANDS.items())})
            return
        if not command:
            raise click.UsageError("name a command (see `flask --app trace do --list`)")
        if not username:
            raise click.UsageError("--as USERNAME is required: the login whose party and rights the command uses")
        svc = services.get()
        try:
            data = _read_input(raw)
        except (OSError, ValueError) as exc:
            _print({"error": {"code": "input.json", "message": f"the input is not JSON: {exc}", "field": None}})
            sys.exit(2)
        if not isinstance(data, dict):
            _print({"error": {"code": "input.json", "message": "the input must be a JSON object", "field": None}})
            sys.exit(2)
        try:
            actor = accounts.actor_of(svc.engine, username)
            result = svc.trace.run(command, actor, data, unit=G)
        except DomainError as exc:
            _refuse(exc, lang)
        _print(result.as_json())
