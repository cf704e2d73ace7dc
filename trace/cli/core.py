"""`flask --app trace init | demo | checkpoint | verify` (run from the project root)."""
from __future__ import annotations

import sys

import click
from flask import Flask

from trace import services
from trace.db import read_session, write_session
from trace.domain import accounts, audit
from trace.ledger.store import Ledger, VerifyError, b64


def migrate(database_url: str) -> None:
    """Bring the database schema to the latest Alembic revision."""
    from trace.migrations import upgrade

    upgrade(database_url=database_url)


def init_database() -> None:
    """Migrate, create the log head and the signing key, and log the logins made before logins
    were logged. Safe to run again."""
    svc = services.get()
    migrate(svc.database_url)
    with write_session(svc.engine) as s:
        Ledger.create_head(s)
    svc.signer  # noqa: B018 - generates the key file on first run
    accounts.log_existing_logins(svc.trace)


def verify_all(report: dict[str, object] | None = None) -> audit.Verified:
    """Everything verify checks (see trace.domain.audit.verify_everything). Raises VerifyError."""
    svc = services.get()
    return audit.verify_everything(svc.engine, svc.ledger, svc.signer.vkey, report)


def init_app(app: Flask) -> None:
    """Register the commands."""

    @app.cli.command("init")
    def init_cmd() -> None:
        """Create or upgrade the database and generate the signing key."""
        init_database()
        click.echo(f"database ready: {services.get().database_url.split('@')[-1]}")

    @app.cli.command("demo")
    @click.option("--if-empty", is_flag=True, help="Load only if the log is empty.")
    def demo_cmd(if_empty: bool) -> None:
        """Load a believable season of demo data."""
        from trace import demo

        init_database()
        svc = services.get()
        with read_session(svc.engine) as s:
            size = Ledger.size(s)
        if size and if_empty:
            click.echo(f"demo data already loaded ({size} log entries)")
            return
        if size:
            raise click.ClickException("the log is not empty; demo data loads only into an empty log")
        click.echo(demo.load(svc.trace))

    @app.cli.command("checkpoint")
    def checkpoint_cmd() -> None:
        """Print the latest signed checkpoint."""
        svc = services.get()
        with read_session(svc.engine) as s:
            cp = svc.ledger.latest_checkpoint(s)
        if cp is None:
            raise click.ClickException("the log is empty: no checkpoint yet")
        click.echo(cp.note, nl=False)

    @app.cli.command("verify")
    def verify_cmd() -> None:
        """Recompute every hash, the chain, the Merkle roots, every checkpoint and the signer's
        record; replay every entry through the rules; compare the state tables with the replay."""
        report: dict[str, object] = {}
        try:
            done = verify_all(report)
        except VerifyError as exc:
            click.echo(f"FAILED: {exc}", err=True)
            if exc.index is not None:
                click.echo(f"first bad entry: {exc.index}", err=True)
            sys.exit(1)
        click.echo(f"OK: {done.entries} entries, root {b64(done.root)}")
        click.echo(f"{report['checkpoints']} checkpoints: every signature valid, none missing, each a prefix of the log")
        click.echo(str(report["signer"]))
        click.echo(f"integrity and proof nodes {done.integrity_s:.2f} s, replay with every rule {done.replay_s:.2f} s")
