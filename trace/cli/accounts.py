"""`flask --app trace parties|users|plots ...`: what an operator (or a script) sets up.

Run from the project root. The commands act as the system itself (an administrator), print
ids on standard output for scripts, and report a refusal on standard error with exit code 1."""
from __future__ import annotations

import sys

import click
from flask import Flask
from flask.cli import AppGroup

from trace import services
from trace.domain import accounts
from trace.domain.actors import SYSTEM
from trace.domain.errors import DomainError
from trace.domain.tables.parties import PartyKind

parties_cli = AppGroup("parties", help="Register parties (growers, processors, ... regulators).")
users_cli = AppGroup("users", help="Create logins and manage their passwords.")
plots_cli = AppGroup("plots", help="Register growers' plots.")


def _refused(exc: DomainError) -> click.ClickException:
    where = f" ({exc.field})" if exc.field else ""
    return click.ClickException(f"{exc.en}{where} / {exc.zh} [{exc.code}]")


def _read_password(confirm: bool) -> str:
    """The password from standard input: the first line when piped, a hidden prompt on a terminal."""
    if sys.stdin.isatty():
        return click.prompt("Password", hide_input=True, confirmation_prompt=confirm)
    line = sys.stdin.readline()
    return line.rstrip("\r\n")


@parties_cli.command("add")
@click.option("--kind", required=True, type=click.Choice([k.value for k in PartyKind]), help="What the party does.")
@click.option("--name", required=True, help="Registered name, e.g. 中卫市沙坡头区某某合作社.")
@click.option("--uscc", required=True, help="Unified social credit code (18 characters).")
@click.option("--township", default="", help="Township (乡镇).")
@click.option("--gi-logo", is_flag=True, help="Authorised to print the GI logo on labels.")
@click.option("--phone", default="")
@click.option("--address", default="")
def parties_add(kind: str, name: str, uscc: str, township: str, gi_logo: bool, phone: str, address: str) -> None:
    """Register a party and print its id."""
    try:
        pid = services.get().trace.register_party(SYSTEM, kind=kind, name=name, uscc=uscc, township=township,
                                                  gi_logo=gi_logo, phone=phone, address=address)
    except DomainError as exc:
        raise _refused(exc) from None
    click.echo(pid)


@users_cli.command("add")
@click.option("--party", "party_id", type=int, default=None, help="Id of the party the user acts for.")
@click.option("--username", required=True)
@click.option("--admin", "is_admin", is_flag=True, help="An administrator (may have no party).")
def users_add(party_id: int | None, username: str, is_admin: bool) -> None:
    """Create a login; the password is read from standard input. Its role is the party's kind."""
    password = _read_password(confirm=True)
    try:
        acc = accounts.create_user(services.get().trace, SYSTEM, party_id=party_id, username=username,
                                   password=password, is_admin=is_admin)
    except DomainError as exc:
        raise _refused(exc) from None
    click.echo(f"user {acc.username} ({acc.role}{', admin' if acc.is_admin and acc.party_kind else ''}) created", err=True)
    click.echo(acc.id)


@users_cli.command("passwd")
@click.option("--username", required=True)
def users_passwd(username: str) -> None:
    """Set a user's password (read from standard input), ending its sessions and forgetting its failed logins."""
    password = _read_password(confirm=True)
    try:
        acc = accounts.reset_password(services.get().engine, SYSTEM, username=username, new=password)
    except DomainError as exc:
        raise _refused(exc) from None
    click.echo(f"password of {acc.username} set", err=True)


@users_cli.command("list")
def users_list() -> None:
    """List logins: username, role, party, SLOWED when failed logins make it wait right now."""
    for u in accounts.list_users(services.get().engine, SYSTEM):
        click.echo(f"{u.username}\t{u.role}\t{u.party_id or '-'}\t{u.party_name or '-'}\t{'SLOWED' if u.slowed else ''}".rstrip())


@plots_cli.command("add")
@click.option("--party", "party_id", type=int, required=True, help="Id of the grower.")
@click.option("--township", required=True)
@click.option("--village", required=True)
@click.option("--area-mu", required=True, help="Area in mu (亩), up to two decimals.")
@click.option("--lat", default=None, help="Latitude in decimal degrees.")
@click.option("--lon", default=None, help="Longitude in decimal degrees.")
def plots_add(party_id: int, township: str, village: str, area_mu: str, lat: str | None, lon: str | None) -> None:
    """Register a grower's plot and print its id."""
    try:
        pid = services.get().trace.register_plot(SYSTEM, party_id=party_id, township=township, village=village,
                                                 area_mu=area_mu, lat=lat, lon=lon)
    except DomainError as exc:
        raise _refused(exc) from None
    click.echo(pid)


def init_app(app: Flask) -> None:
    """Register the commands."""
    app.cli.add_command(parties_cli)
    app.cli.add_command(users_cli)
    app.cli.add_command(plots_cli)
