"""The ``tracecert`` command line: set up, administer, inspect, verify and run the service."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from chain import log as event_log
from chain.backends import Backend, RpcBackend, make_backend
from chain.errors import ChainError
from service.adapters.db import migrate as run_migrations
from service.app import commands, handlers
from service.bootstrap import Container, bootstrap
from service.config import Settings
from service.domain.errors import TracecertError

app = typer.Typer(help="tracecert: one item, one code, one certificate.", no_args_is_help=True)
admin_app = typer.Typer(help="The first administrator.", no_args_is_help=True)
org_app = typer.Typer(help="Organisations.", no_args_is_help=True)
key_app = typer.Typer(help="API keys.", no_args_is_help=True)
chain_app = typer.Typer(help="The chain.", no_args_is_help=True)
log_app = typer.Typer(help="The append-only event log.", no_args_is_help=True)
app.add_typer(admin_app, name="admin")
app.add_typer(org_app, name="org")
app.add_typer(key_app, name="key")
app.add_typer(chain_app, name="chain")
app.add_typer(log_app, name="log")

console = Console()
err = Console(stderr=True)


def _settings() -> Settings:
    try:
        return Settings()
    except ValueError as exc:
        err.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(2) from exc


@contextlib.contextmanager
def _failures() -> Iterator[None]:
    """Print expected errors as one line and exit non-zero, instead of a traceback."""
    try:
        yield
    except TracecertError as exc:
        err.print(f"[red]{exc.code}:[/red] {exc.detail}")
        raise typer.Exit(1) from exc
    except ChainError as exc:
        err.print(f"[red]chain error:[/red] {exc}")
        raise typer.Exit(1) from exc


@contextlib.contextmanager
def _chain_backend(settings: Settings, *, manage: bool) -> Iterator[Backend]:
    """The configured backend; a managed anvil is started (and stopped afterwards, by PID)."""
    backend = make_backend(settings.chain)
    started = False
    if settings.chain.backend == "anvil" and manage:
        try:
            backend.start()
            started = True
            console.print(
                f"anvil started (pid {getattr(backend, 'pid', '?')}) at {backend.rpc_url}, "
                f"state in {settings.chain.anvil_state_file}"
            )
        except ChainError as exc:
            if "already in use" not in str(exc):
                raise
            # Another `tracecert run` owns the node; talk to it (the genesis check still holds).
            console.print(f"[yellow]using the node already at {backend.rpc_url}[/yellow]")
            backend = RpcBackend(str(backend.rpc_url), settings.chain.request_timeout_s)
    elif settings.chain.backend != "anvil":
        backend.start()
    try:
        yield backend
    finally:
        if started:
            backend.stop()
            console.print("anvil stopped")


class _Terminated(Exception):
    """Raised when the process receives SIGTERM while serving."""


def _terminated(signum: int, frame: object) -> None:
    raise _Terminated()


def _container(settings: Settings, backend: Backend | None = None) -> Container:
    return bootstrap(settings, backend=backend)


def _print_chain(container: Container) -> None:
    info = handlers.chain_info(container.ledger, container.uow_factory)
    table = Table(show_header=False, box=None)
    ident, rec = info["identity"], info["recorded_identity"]
    table.add_row("node", f"chain {ident['chain_id']} genesis {ident['genesis_hash']}")
    table.add_row("block", str(ident["block_number"]))
    table.add_row("recorded", f"chain {rec['chain_id']} genesis {rec['genesis_hash']}")
    mismatch = info["genesis_mismatch"]
    table.add_row("genesis mismatch", "[red]YES: writes held[/red]" if mismatch else "no")
    dep = info["deployment"]
    table.add_row(
        "registry", f"{dep['address']} (tx {dep['tx_hash']})" if dep else "[yellow]none[/yellow]"
    )
    sender = info["sender"]
    table.add_row(
        "sender",
        f"{sender['address']} held={sender['held']} queued={sender['queued']} "
        f"in_flight={sender['in_flight']} failed={sender['failed']}",
    )
    console.print(table)


# ----------------------------------------------------------------------------- setup
@app.command()
def migrate() -> None:
    """Bring the database to the newest schema."""
    settings = _settings()
    run_migrations(settings.database_url)
    console.print(f"database at head: {settings.database_url}")


@app.command()
def init() -> None:
    """Migrate, record the chain identity and deploy the registry (once per chain)."""
    settings = _settings()
    run_migrations(settings.database_url)
    with _failures(), _chain_backend(settings, manage=True) as backend:
        with console.status("checking the chain and deploying the registry if needed"):
            container = _container(settings, backend)
        try:
            _print_chain(container)
            if container.runtime.registry is None:
                err.print("[red]the registry is not deployed[/red]: see the chain status above")
                raise typer.Exit(1)
        finally:
            container.close()


@app.command()
def run(
    host: Annotated[str | None, typer.Option(help="Interface (default from settings).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default from settings).")] = None,
) -> None:
    """Start anvil (when managed), set up, and serve the API with its workers until Ctrl-C."""
    import uvicorn

    from service.api.app import create_app

    settings = _settings()
    run_migrations(settings.database_url)
    with _failures(), _chain_backend(settings, manage=True) as backend:
        container = _container(settings, backend)
        try:
            _print_chain(container)
            server = uvicorn.Server(
                uvicorn.Config(
                    create_app(container),
                    host=host or settings.host,
                    port=port or settings.port,
                    log_level="info",
                )
            )
            console.print(f"serving on http://{host or settings.host}:{port or settings.port}")
            # uvicorn shuts down gracefully on SIGINT/SIGTERM and then re-raises the signal;
            # turn SIGTERM into an exception so that the cleanup below (workers, anvil) runs.
            previous = signal.signal(signal.SIGTERM, _terminated)
            try:
                server.run()
            except _Terminated:
                pass
            finally:
                signal.signal(signal.SIGTERM, previous)
        finally:
            container.close()


# ----------------------------------------------------------------------------- administration
def _offline_container(settings: Settings) -> Container:
    """A container for database-only commands; the chain may be down."""
    return _container(settings)


@admin_app.command("create")
def admin_create(
    name: Annotated[str, typer.Option(help="Name of the platform organisation.")],
) -> None:
    """Create the platform organisation (if needed) and an admin key; the key is shown once."""
    settings = _settings()
    with _failures():
        container = _offline_container(settings)
        try:
            org, issued = handlers.create_admin(
                name, container.uow_factory, container.clock, settings.pepper
            )
        finally:
            container.close()
    console.print(f"organisation {org.id} ({org.name}), admin key id {issued.key.key_id}")
    console.print("API key (shown once, store it now):")
    print(issued.secret_key)


@org_app.command("create")
def org_create(
    name: Annotated[str, typer.Option()],
    kind: Annotated[str, typer.Option(help="brand, factory, distributor, store, ...")],
) -> None:
    """Register an organisation."""
    settings = _settings()
    with _failures():
        container = _offline_container(settings)
        try:
            cmd = commands.CreateOrganisation(handlers.SYSTEM_ACTOR, name, kind)
            org = handlers.create_organisation(cmd, container.uow_factory(), container.clock)
        finally:
            container.close()
    console.print(f"organisation {org.id}: {org.name} ({org.kind})")


@key_app.command("create")
def key_create(
    org: Annotated[int, typer.Option(help="Organisation id.")],
    role: Annotated[str, typer.Option(help="Role of the key.")],
) -> None:
    """Issue an API key for an organisation; the key is shown once."""
    settings = _settings()
    with _failures():
        container = _offline_container(settings)
        try:
            cmd = commands.CreateApiKey(handlers.SYSTEM_ACTOR, org, role)
            issued = handlers.create_api_key(
                cmd, container.uow_factory(), container.clock, settings.pepper
            )
        finally:
            container.close()
    console.print(f"key id {issued.key.key_id}, role {issued.key.role}, organisation {org}")
    console.print("API key (shown once, store it now):")
    print(issued.secret_key)


@key_app.command("revoke")
def key_revoke(key_id: Annotated[str, typer.Argument(help="The key id (after 'tc_').")]) -> None:
    """Revoke an API key."""
    settings = _settings()
    with _failures():
        container = _offline_container(settings)
        try:
            cmd = commands.RevokeApiKey(handlers.SYSTEM_ACTOR, key_id)
            key = handlers.revoke_api_key(cmd, container.uow_factory(), container.clock)
        finally:
            container.close()
    console.print(f"key {key.key_id} revoked at {key.revoked_at}")


# ----------------------------------------------------------------------------- inspection
@chain_app.command("status")
def chain_status() -> None:
    """Show the node's identity, the recorded one, the deployment and the sender."""
    settings = _settings()
    with _failures():
        container = _offline_container(settings)
        try:
            _print_chain(container)
        finally:
            container.close()


@log_app.command("verify")
def log_verify() -> None:
    """Recompute every anchored log root from the database and compare it with the contract."""
    from sqlalchemy import select

    from service.adapters.orm import EventRow, LogAnchorRow

    settings = _settings()
    failures = 0
    with _failures():
        container = _offline_container(settings)
        try:
            with container.uow_factory.sessions() as s:
                anchors = list(
                    s.scalars(
                        select(LogAnchorRow)
                        .where(LogAnchorRow.status == "anchored")
                        .order_by(LogAnchorRow.size)
                    )
                )
                total = s.scalar(select(EventRow.log_index).order_by(EventRow.log_index.desc()))
                leaves: list[bytes] = []
                with Progress(
                    TextColumn("{task.description}"),
                    BarColumn(),
                    MofNCompleteColumn(),
                    TimeElapsedColumn(),
                    console=console,
                ) as progress:
                    task = progress.add_task("re-hashing events", total=(total or -1) + 1)
                    for row in s.execute(
                        select(EventRow.payload, EventRow.leaf_hash).order_by(EventRow.log_index)
                    ).yield_per(1000):
                        recomputed = event_log.leaf_hash(row.payload)
                        if recomputed != row.leaf_hash:
                            failures += 1
                        leaves.append(recomputed)
                        progress.advance(task)
            if failures:
                err.print(f"[red]{failures} event(s) do not match their stored leaf hash[/red]")
            for anchor in anchors:
                local = event_log.root(leaves[: anchor.size])
                on_chain = container.ledger.log_root(anchor.size)
                ok = local == on_chain == anchor.root
                failures += 0 if ok else 1
                mark = "[green]ok[/green]" if ok else "[red]MISMATCH[/red]"
                console.print(f"size {anchor.size}: root 0x{local.hex()} {mark}")
            if not anchors:
                console.print("no anchored log roots yet")
        finally:
            container.close()
    if failures:
        raise typer.Exit(1)
    console.print(f"[green]log verified[/green]: {len(leaves)} events, {len(anchors)} anchors")


def main() -> None:  # pragma: no cover - console entry
    app(prog_name="tracecert")


if __name__ == "__main__":  # pragma: no cover
    main()
