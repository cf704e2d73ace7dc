"""`flask --app trace init | demo | checkpoint | verify` (run from the project root)."""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass

import click
from flask import Flask

from trace import services
from trace.db import read_session, write_session
from trace.domain import accounts
from trace.domain.replay import ReplayError, compare, replay, users_without_entry
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


@dataclass(frozen=True)
class Verified:
    """What verify found: the log's size and root, and how long each pass took (seconds)."""

    entries: int
    root: bytes
    integrity_s: float
    replay_s: float


def verify_all() -> Verified:
    """Integrity (entries, chain, roots, signature, proof nodes), then the replay through the rule
    book, then the state tables against the replay. Raises VerifyError naming the first bad entry."""
    from trace.migrations import current, head

    svc = services.get()
    with read_session(svc.engine) as s:
        at, latest = current(s.connection()), head()
        if at != latest:
            raise VerifyError(None, f"the database schema is at revision {at or 'none'}, this code reads {latest}: "
                                    "run `flask --app trace init` to upgrade it")
        t0 = time.perf_counter()
        count, root = svc.ledger.verify_integrity(s, svc.signer.vkey)
        svc.ledger.verify_nodes(s)
        t1 = time.perf_counter()
        conn = s.connection()
        unlogged = users_without_entry(conn)
        if unlogged:
            raise VerifyError(None, f"logins without a user.create entry: {', '.join(unlogged[:5])}; "
                                    "run `flask --app trace init` to log them")
        try:
            state = replay(svc.ledger.iter_entries(s))
        except ReplayError as exc:
            raise VerifyError(exc.index, f"{exc.code}: {exc.detail}") from None
        diff = compare(conn, state)
        if diff is not None:
            blame = diff.entry
            if blame is None and diff.watch is not None:
                blame = replay(svc.ledger.iter_entries(s), watch=diff.watch).watched_entry  # type: ignore[attr-defined]
            raise VerifyError(blame, f"the state tables differ from the log: {diff.message}")
        t2 = time.perf_counter()
    return Verified(count, root, t1 - t0, t2 - t1)


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
        """Recompute every hash, the chain, the Merkle roots and signature; replay every entry
        through the rules; compare the state tables with the replay."""
        try:
            done = verify_all()
        except VerifyError as exc:
            click.echo(f"FAILED: {exc}", err=True)
            if exc.index is not None:
                click.echo(f"first bad entry: {exc.index}", err=True)
            sys.exit(1)
        click.echo(f"OK: {done.entries} entries, root {b64(done.root)}")
        click.echo(f"integrity and proof nodes {done.integrity_s:.2f} s, replay with every rule {done.replay_s:.2f} s")
