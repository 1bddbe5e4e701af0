"""The ``tracecert`` command line: set up, administer, inspect, verify and run the service."""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import signal
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from chain.backends import Backend, RpcBackend, make_backend
from chain.errors import ChainError
from service.audit import app as audit
from service.bootstrap import Container, bootstrap, dev_clock
from service.config import Settings
from service.factory.app.commands import (
    ActivateCodes,
    AnchorBatch,
    ApproveReprint,
    CreateBatch,
    DownloadCodeFile,
    GenerateCodes,
    RecallBatch,
    RegisterProduct,
)
from service.factory.domain.labels import LabelLayout, validate_layout
from service.factory.domain.units import UnitKind
from service.identity.app.commands import CreateApiKey, CreateOrganisation, RevokeApiKey
from service.identity.app.organisations import SYSTEM_ACTOR
from service.identity.domain.errors import OrganisationNotFoundError
from service.kernel.actor import Actor
from service.kernel.errors import TracecertError
from service.kernel.roles import OrganisationKind, Role
from service.kernel.storage.db import known_revision, schema_revision
from service.kernel.storage.db import migrate as run_migrations

app = typer.Typer(help="tracecert: one item, one code, one certificate.", no_args_is_help=True)
admin_app = typer.Typer(help="The first administrator.", no_args_is_help=True)
org_app = typer.Typer(help="Organisations.", no_args_is_help=True)
key_app = typer.Typer(help="API keys.", no_args_is_help=True)
chain_app = typer.Typer(help="The chain.", no_args_is_help=True)
log_app = typer.Typer(help="The append-only event log.", no_args_is_help=True)
audit_app = typer.Typer(help="The auditor's export (docs/audit.md).", no_args_is_help=True)
touchpoints_app = typer.Typer(
    help="The touchpoints' feed and journey (docs/touchpoints.md).", no_args_is_help=True
)
product_app = typer.Typer(help="Products (GTINs) of a brand.", no_args_is_help=True)
regions_app = typer.Typer(
    help="Regions: GB/T 2260 ships built in; load custom trees.", no_args_is_help=True
)
batch_app = typer.Typer(
    help="Production batches: codes, activation, anchoring, print files, recall.",
    no_args_is_help=True,
)
app.add_typer(admin_app, name="admin")
app.add_typer(org_app, name="org")
app.add_typer(key_app, name="key")
app.add_typer(product_app, name="product")
app.add_typer(regions_app, name="regions")
app.add_typer(batch_app, name="batch")
app.add_typer(chain_app, name="chain")
app.add_typer(log_app, name="log")
app.add_typer(audit_app, name="audit")
app.add_typer(touchpoints_app, name="touchpoints")
points_app = typer.Typer(help="Points: the expiry job (docs/touchpoints.md).", no_args_is_help=True)
app.add_typer(points_app, name="points")

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


def _log_sender_decisions() -> None:
    """Show the sender's decisions (re-sent, fee bumped, re-included: INFO; removed by a
    reorg, undone, re-queued, nonce gap: WARNING) on stderr. Without a handler Python shows
    only warnings, and an operator would miss half of what the sender did."""
    sender_log = logging.getLogger("chain.sender")
    if sender_log.handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    sender_log.addHandler(handler)
    sender_log.setLevel(logging.INFO)
    sender_log.propagate = False


class _Terminated(Exception):
    """Raised when the process receives SIGTERM while serving."""


def _terminated(signum: int, frame: object) -> None:
    raise _Terminated()


def _container(settings: Settings, backend: Backend | None = None) -> Container:
    return bootstrap(settings, backend=backend)


#: Width of the labels of the chain table: a label, two spaces and a 66-character hash fit
#: in 80 columns.
_LABEL = 11


def chain_lines(info: dict[str, Any], dev_clock: dict[str, Any] | None = None) -> list[str]:
    """The chain as the start-up table shows it: one value per line, every hash and address in
    full (rich markup for the colours), and the dev clock offset when one is set."""
    ident, rec = info["identity"], info["recorded_identity"]
    dep, sender = info["deployment"], info["sender"]
    rows = [
        (
            "chain id",
            f"{ident['chain_id']} (recorded {rec['chain_id']}), block {ident['block_number']}",
        ),
        ("genesis", str(ident["genesis_hash"])),
        ("recorded", str(rec["genesis_hash"])),
        ("mismatch", "[red]YES: writes held[/red]" if info["genesis_mismatch"] else "no"),
        ("registry", str(dep["address"]) if dep else "[yellow]none[/yellow]"),
        ("deployed in", str(dep["tx_hash"]) if dep else "-"),
        ("sender", str(sender["address"])),
        (
            "writes",
            f"queued {sender['queued']}, in flight {sender['in_flight']}, "
            f"failed {sender['failed']}" + (", [red]HELD[/red]" if sender["held"] else ""),
        ),
    ]
    if "chain_nonce" in sender:
        rows.append(
            (
                "in flight",
                f"oldest {sender['oldest_in_flight_age_s']} s, lowest nonce "
                f"{sender['lowest_in_flight_nonce']} (chain {sender['chain_nonce']}), "
                f"gap {sender['nonce_gap']}",
            )
        )
        rows.append(("missing", f"{sender['confirmed_missing']} confirmed write(s) not on chain"))
        rows.extend(("[red]problem[/red]", problem) for problem in sender.get("problems", ()))
    if dev_clock is not None:
        offset = f"+{dev_clock['offset_s']:g} s"
        rows.append(("dev clock", f"[yellow]{offset}[/yellow] (TRACECERT_DEV_CLOCK_OFFSET_S)"))
        rows.append(("service now", f"[yellow]{dev_clock['now']}[/yellow]"))
    return [f"{label:<{_LABEL}}  {value}" for label, value in rows]


def _print_chain(container: Container) -> None:
    info = container.chain_info()
    offset = container.settings.dev_clock_offset_s
    clock = dev_clock(offset, container.clock.now()) if offset else None
    for line in chain_lines(info, clock):
        # Never wrapped or cut by rich: a hash must be copied whole from any terminal.
        console.print(line, soft_wrap=True, highlight=False)


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
    from service.api.limits import bound_access_log, server_config

    settings = _settings()
    run_migrations(settings.database_url)
    _log_sender_decisions()
    with _failures(), _chain_backend(settings, manage=True) as backend:
        container = _container(settings, backend)
        try:
            _print_chain(container)
            server = uvicorn.Server(server_config(create_app(container), settings, host, port))
            bound_access_log()  # after uvicorn's logging set-up, which the Config does
            # Everything built so far (modules, the app, the region tree) lives as long as the
            # process: keep it out of the garbage collector's full passes, which otherwise
            # walk it again and again under load (the gc.freeze pattern of long-lived servers).
            gc.collect()
            gc.freeze()
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


def _require_schema(settings: Settings) -> None:
    """Stop with what to do, changing nothing, when the database is not at this code's schema.

    Commands other than ``migrate``, ``init`` and ``run`` never migrate: changing a schema
    (perhaps under a running service of another version) is a step an operator takes."""
    where = make_url(settings.database_url).render_as_string(hide_password=True)
    try:
        current, head = schema_revision(settings.database_url)
    except SQLAlchemyError as exc:
        reason = str(exc.orig if isinstance(exc, DBAPIError) else exc).strip().splitlines()[0]
        err.print(f"[red]cannot reach the database[/red] at {where}: {reason}")
        raise typer.Exit(2) from exc
    if current == head:
        return
    if current is None:
        err.print(
            f"[red]the database at {where} is not set up yet[/red]: run `tracecert migrate` "
            "(or scripts/run, which migrates it and starts the service), then try again."
        )
    elif known_revision(settings.database_url, current):
        err.print(
            f"[red]the database at {where} is at schema {current}, this tracecert needs "
            f"{head}[/red]: run `tracecert migrate`, then try again."
        )
    else:
        err.print(
            f"[red]the database at {where} is at schema {current}, which this tracecert does "
            "not know[/red] (a newer version migrated it): use that version."
        )
    raise typer.Exit(2)


@contextlib.contextmanager
def _operator(settings: Settings | None = None) -> Iterator[Container]:
    """A container for one command, closed afterwards; expected errors print as one line."""
    settings = settings or _settings()
    _require_schema(settings)
    with _failures():
        container = _offline_container(settings)
        try:
            yield container
        finally:
            container.close()


@admin_app.command("create")
def admin_create(
    name: Annotated[str, typer.Option(help="Name of the platform organisation.")],
) -> None:
    """Create the platform organisation (if needed) and an admin key; the key is shown once."""
    with _operator() as container:
        org, issued = container.organisations.create_admin(name)
    console.print(f"organisation {org.id} ({org.name}), admin key id {issued.key.key_id}")
    console.print("API key (shown once, store it now):")
    print(issued.secret_key)


@org_app.command("create")
def org_create(
    name: Annotated[str, typer.Option()],
    kind: Annotated[str, typer.Option(help="brand, factory, distributor, store, ...")],
    brand: Annotated[
        int | None, typer.Option(help="The brand a factory, distributor or store works for.")
    ] = None,
    gs1_prefix: Annotated[
        str | None, typer.Option(help="A brand's GS1 company prefix (for SSCCs).")
    ] = None,
) -> None:
    """Register an organisation."""
    with _operator() as container:
        cmd = CreateOrganisation(SYSTEM_ACTOR, name, kind, brand, gs1_prefix)
        org = container.organisations.create_organisation(cmd)
    console.print(f"organisation {org.id}: {org.name} ({org.kind})")


@org_app.command("prefix")
def org_prefix(
    org: Annotated[int, typer.Option(help="The brand's organisation id.")],
    prefix: Annotated[
        list[str] | None,
        typer.Option(
            help="A GS1 company prefix GS1 assigned the brand; repeatable. Replaces "
            "the brand's prefixes; without any, shows them."
        ),
    ] = None,
) -> None:
    """Show or set the GS1 company prefixes a brand holds (its GTINs fall within them)."""
    with _operator() as container:
        if prefix:
            held = container.organisations.set_company_prefixes(SYSTEM_ACTOR, org, prefix)
        else:
            held = container.organisations.company_prefixes(SYSTEM_ACTOR, org)
    console.print(f"organisation {org}: prefixes {', '.join(held) or '(none)'}")


@org_app.command("authorise")
def org_authorise(
    brand: Annotated[int, typer.Option(help="The brand's organisation id.")],
    partner: Annotated[int, typer.Option(help="The partner's organisation id.")],
    role: Annotated[
        list[str] | None,
        typer.Option(
            help="store, custodian, pledgee or attestor; repeatable. None withdraws "
            "every authorisation."
        ),
    ] = None,
) -> None:
    """Authorise a partner organisation in some roles for a brand's bottles."""
    with _operator() as container:
        container.organisations.set_partner(SYSTEM_ACTOR, partner, role or [], brand_id=brand)
    console.print(f"organisation {partner} for brand {brand}: {', '.join(role or []) or 'none'}")


@key_app.command("create")
def key_create(
    org: Annotated[int, typer.Option(help="Organisation id.")],
    role: Annotated[str, typer.Option(help="Role of the key.")],
) -> None:
    """Issue an API key for an organisation; the key is shown once."""
    with _operator() as container:
        cmd = CreateApiKey(SYSTEM_ACTOR, org, role)
        issued = container.organisations.create_api_key(cmd)
    console.print(f"key id {issued.key.key_id}, role {issued.key.role}, organisation {org}")
    console.print("API key (shown once, store it now):")
    print(issued.secret_key)


@key_app.command("revoke")
def key_revoke(key_id: Annotated[str, typer.Argument(help="The key id (after 'tc_').")]) -> None:
    """Revoke an API key."""
    with _operator() as container:
        cmd = RevokeApiKey(SYSTEM_ACTOR, key_id)
        key = container.organisations.revoke_api_key(cmd)
    console.print(f"key {key.key_id} revoked at {key.revoked_at}")


# ----------------------------------------------------------------------------- inspection
@chain_app.command("status")
def chain_status() -> None:
    """Show the node's identity, the recorded one, the deployment and the sender."""
    with _operator() as container:
        _print_chain(container)


@chain_app.command("recheck")
def chain_recheck(
    requeue: Annotated[
        bool,
        typer.Option(
            "--requeue",
            help="Hand every write found off its recorded block back to the sender, which "
            "follows it again: re-included, its block numbers are refreshed; lost, it is sent "
            "again or its effect undone.",
        ),
    ] = False,
) -> None:
    """Check every write the database holds as confirmed against the chain (all time, not
    only the sender's finality window); exit 1 if any is not where the database says."""
    from chain.recheck import RecheckVerdict

    with _operator() as container:
        if container.runtime.genesis_mismatch or container.runtime.recorded is None:
            err.print("[red]the chain is not the recorded one[/red]: see `tracecert chain status`")
            raise typer.Exit(1)
        total = container.confirmed_writes()
        by_kind: dict[str, dict[RecheckVerdict, int]] = {}
        wrong = []
        with _progress() as progress:
            task = progress.add_task("re-checking confirmed writes", total=total)
            for result in container.recheck_chain():
                counts = by_kind.setdefault(result.request.kind, dict.fromkeys(RecheckVerdict, 0))
                counts[result.verdict] += 1
                if result.verdict is not RecheckVerdict.OK:
                    wrong.append(result)
                    if requeue:
                        container.hand_back(result)
                progress.advance(task)
    summary = Table(title="confirmed writes against the chain")
    summary.add_column("kind")
    for verdict in RecheckVerdict:
        summary.add_column(verdict.value, justify="right")
    for kind, counts in sorted(by_kind.items()):
        summary.add_row(kind, *(str(counts[v]) for v in RecheckVerdict))
    console.print(summary)
    if not wrong:
        console.print("[green]every confirmed write is where the database says[/green]")
        return
    detail = Table(title="not where the database says")
    for column in ("write", "kind", "nonce", "recorded block", "verdict", "found in block"):
        detail.add_column(column)
    for result in wrong[:100]:
        r = result.request
        detail.add_row(
            f"#{r.id}",
            r.kind,
            str(r.nonce),
            str(r.mined_block_number),
            result.verdict.value,
            str(result.receipt.block_number) if result.receipt else "-",
        )
    console.print(detail)
    if len(wrong) > 100:
        console.print(f"... and {len(wrong) - 100} more")
    if requeue:
        console.print(f"{len(wrong)} write(s) handed back to the sender, which follows them again")
    else:
        console.print("run again with --requeue to hand them back to the sender")
    raise typer.Exit(1)


@log_app.command("verify")
def log_verify() -> None:
    """Replay the stored log against the chain: every entry's bytes and link, dense indexes, and
    the root at every anchored size; names each problem and exits 1 on any."""
    settings = _settings()
    with _operator(settings) as container, _progress() as progress:
        tasks: dict[str, Any] = {}

        def advance(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                label = "reading anchored roots" if stage == "anchors" else "re-hashing events"
                tasks[stage] = progress.add_task(label, total=total)
            progress.update(tasks[stage], completed=done, total=total)

        report = container.log.verify(advance)
    for anchor in report.anchors:
        mark = (
            "[green]ok[/green]"
            if anchor.status == "ok"
            else f"[red]{anchor.status.upper().replace('_', ' ')}[/red]"
        )
        stored = f"0x{anchor.stored_root.hex()}" if anchor.stored_root else "none"
        console.print(f"size {anchor.size}: stored root {stored} {mark}")
        if anchor.status != "ok":
            chain = f"0x{anchor.chain_root.hex()}" if anchor.chain_root else "none"
            recorded = f"0x{anchor.recorded_root.hex()}" if anchor.recorded_root else "none"
            console.print(f"  {anchor.detail}; on chain {chain}, in log_anchors {recorded}")
    if not report.anchors:
        console.print("no anchored log roots yet")
    for finding in report.findings:
        where = f"{finding.index}..{finding.end}" if finding.end is not None else finding.index
        err.print(f"[red]{finding.kind.upper()}[/red] at {where}: {finding.detail}")
    if report.finding_count > len(report.findings):
        err.print(f"... and {report.finding_count - len(report.findings)} more")
    if not report.ok:
        bad = report.first_bad_index
        err.print(
            f"[red]log NOT verified[/red]: {report.finding_count} problem(s) in the entries, "
            f"{sum(a.status != 'ok' for a in report.anchors)} anchored size(s) disagreeing"
            + (f"; first bad index {bad}" if bad is not None else "")
        )
        raise typer.Exit(1)
    console.print(
        f"[green]log verified[/green]: {report.size} events, {len(report.anchors)} anchors"
    )


@touchpoints_app.command("rebuild")
def touchpoints_rebuild() -> None:
    """Forget what the touchpoints' feed built and apply the event log and the consumer-scan
    stream again from the start: the state the live projector built, from scratch."""
    settings = _settings()
    with _operator(settings) as container, _progress() as progress:
        task = progress.add_task("applying the log and the scans", total=None)

        def advance(done: int, to_go: int) -> None:
            progress.update(task, completed=done, total=done + to_go)

        applied = container.touchpoints.rebuild(advance)
    console.print(f"[green]touchpoints rebuilt[/green]: {applied} entries applied")


@touchpoints_app.command("screen")
def touchpoints_screen() -> None:
    """Run the anti-farming screening now (``tracecert run`` runs it every
    TRACECERT_RISK_SCREEN_INTERVAL_S): members with pending awards are scored, and their awards
    released (clear), held for the brand's review (grey) or forfeited (black), one log entry per
    brand and page of members."""
    with _operator() as container, _progress() as progress:
        task = progress.add_task("screening members with pending points", total=None)

        def advance(done: int) -> None:
            progress.update(task, completed=done)

        ran = container.risk.screen(progress=advance)
    levels = ", ".join(f"{n} {level}" for level, n in ran["levels"].items())
    console.print(f"[green]screened {ran['screened']} members[/green]: {levels}")


@touchpoints_app.command("status")
def touchpoints_status() -> None:
    """Where the touchpoints' projector stands in the event log and the consumer-scan stream."""
    with _operator() as container:
        lag = container.touchpoints.lag()
    console.print(
        f"event log: {lag['log_position']} of {lag['log_size']} applied "
        f"({lag['log_behind']} behind)"
    )
    console.print(f"consumer scans: applied up to row {lag['scan_position']} of {lag['last_scan']}")


@points_app.command("expire")
def points_expire(
    as_of: Annotated[
        datetime | None,
        typer.Option(
            "--as-of",
            formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"],
            help="Run as of this time (UTC unless it names its offset); default now. A time "
            "before the last run's changes nothing.",
        ),
    ] = None,
) -> None:
    """Run the points' expiry job now (``tracecert run`` runs it every
    TRACECERT_POINTS_EXPIRY_INTERVAL_S): awards that have expired lose what is left of them, and
    bottles a full year more in storage earn their anniversary. One log entry, applied at once."""
    when = None if as_of is None else as_of if as_of.tzinfo else as_of.replace(tzinfo=UTC)
    with _operator() as container:
        ran = container.points.run_expiry(when)
    console.print(f"[green]points expiry ran[/green] as of {ran['as_of']} (log {ran['log_index']})")


@audit_app.command("export")
def audit_export(
    directory: Annotated[Path, typer.Argument(help="Directory to write the export into.")],
    since_index: Annotated[
        int,
        typer.Option(
            "--since-index",
            min=0,
            help="First log index wanted (incremental export; it starts at the last anchored "
            "size at or before it, with the tree's frontier there).",
        ),
    ] = 0,
    brand: Annotated[
        int | None,
        typer.Option(help="Export as this brand's auditor sees it (default: everything)."),
    ] = None,
) -> None:
    """Write the auditor's export (log, anchors, batches, items, units, certificates and a
    manifest) from one database snapshot; check it with ``tracecert-verify DIR --rpc URL``."""
    settings = _settings()
    with _operator(settings) as container, _progress() as progress:
        tasks: dict[str, Any] = {}

        def advance(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(f"exporting {stage}", total=total)
            progress.update(tasks[stage], completed=done, total=total)

        if brand is None:
            actor = Actor(principal_id="cli:audit", role=Role.ADMIN)
        else:
            actor = Actor(principal_id=f"cli:audit:{brand}", role=Role.AUDITOR, brand_id=brand)
        manifest = audit.audit_export(
            actor, container.audit_exporter, directory, since_index, advance
        )
    records = {name: f["records"] for name, f in manifest["files"].items()}
    console.print(f"[green]export written[/green] to {directory}: {records}")


# ----------------------------------------------------------------------------- factory
def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def _factory_actor(container: Container, factory_id: int) -> Actor:
    """The operator acting for a factory (the CLI runs with full database access)."""
    org = container.organisations.organisation(factory_id)
    if org is None or org.kind is not OrganisationKind.FACTORY:
        raise OrganisationNotFoundError(f"Organisation {factory_id} is not a factory.")
    return Actor(
        principal_id=f"cli:factory:{factory_id}",
        role=Role.FACTORY,
        organisation_id=factory_id,
        brand_id=org.brand_scope,
    )


def _print_batch(view: dict[str, Any]) -> None:
    table = Table(show_header=False, box=None)
    for key in (
        "id",
        "status",
        "gtin",
        "lot",
        "production_date",
        "line",
        "item_count",
        "cases",
        "pallets",
        "activated_cases",
        "root",
    ):
        table.add_row(key, str(view.get(key)))
    anchor = view.get("anchor")
    if anchor:
        table.add_row("anchor", f"{anchor['status']} tx {anchor['tx_hash']}")
    if view.get("recall"):
        table.add_row("recall", f"{view['recall']['reason']} ({view['recall']['recalled_at']})")
    console.print(table)


def _parse_attributes(pairs: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise typer.BadParameter(f"{pair!r}: write attributes as key=value")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


@product_app.command("create")
def product_create(
    brand: Annotated[int, typer.Option(help="The brand's organisation id.")],
    gtin: Annotated[str, typer.Option(help="GTIN-8/12/13/14 with its check digit.")],
    name: Annotated[str, typer.Option()],
    attr: Annotated[
        list[str] | None, typer.Option(help="key=value, repeatable (e.g. volume_ml=500)")
    ] = None,
) -> None:
    """Register a product of a brand."""
    with _operator() as container:
        cmd = RegisterProduct(SYSTEM_ACTOR, gtin, name, _parse_attributes(attr or []), brand)
        view = container.factory.register_product(cmd)
    console.print(f"product {view['id']}: {view['gtin']} {view['name']}")


@batch_app.command("create")
def batch_create(
    factory_id: Annotated[int, typer.Option("--factory", help="The factory's organisation id.")],
    gtin: Annotated[str, typer.Option()],
    lot: Annotated[str, typer.Option(help="Lot number (GS1 AI 10, up to 20 characters).")],
    quantity: Annotated[int, typer.Option(help="Planned number of items.")],
    line: Annotated[str, typer.Option(help="Production line.")] = "L1",
    production_date: Annotated[
        str | None, typer.Option("--date", help="YYYY-MM-DD (default today).")
    ] = None,
    case_size: Annotated[int, typer.Option(help="Items per case.")] = 6,
    cases_per_pallet: Annotated[int, typer.Option(help="Cases per pallet.")] = 100,
) -> None:
    """Plan a production batch (a draft) for a factory."""
    with _operator() as container:
        when = (
            date.fromisoformat(production_date) if production_date else container.clock.now().date()
        )
        cmd = CreateBatch(
            _factory_actor(container, factory_id),
            gtin,
            lot,
            when,
            line,
            quantity,
            case_size,
            cases_per_pallet,
        )
        view = container.factory.create_batch(cmd)
    _print_batch(view)


@batch_app.command("generate")
def batch_generate(batch_id: Annotated[str, typer.Argument()]) -> None:
    """Generate a batch's item codes, cases, pallets and Merkle tree, with progress."""
    with _operator() as container, _progress() as progress:
        tasks: dict[str, Any] = {}

        def report(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(stage, total=total)
            progress.update(tasks[stage], completed=done)

        view = container.factory.generate_codes(GenerateCodes(SYSTEM_ACTOR, batch_id), report)
    _print_batch(view)


@batch_app.command("activate")
def batch_activate(
    batch_id: Annotated[str, typer.Argument()],
    code: Annotated[
        str | None, typer.Option(help="Activate only this case or pallet (SSCC or its URI).")
    ] = None,
) -> None:
    """Activate a batch's codes, or those of one case or pallet."""
    with _operator() as container:
        cmd = ActivateCodes(SYSTEM_ACTOR, code=code, batch_id=None if code else batch_id)
        result = container.factory.activate_codes(cmd)
    console.print(
        f"activated {result['activated_cases']} case(s), {result['activated_items']} item(s); "
        f"batch {result['batch_id']} is {result['batch_status']}"
    )


@batch_app.command("anchor")
def batch_anchor(batch_id: Annotated[str, typer.Argument()]) -> None:
    """Queue the batch root for anchoring (the running service's sender sends it)."""
    with _operator() as container:
        view = container.factory.anchor_batch(AnchorBatch(SYSTEM_ACTOR, batch_id))
    _print_batch(view)


@batch_app.command("show")
def batch_show(batch_id: Annotated[str, typer.Argument()]) -> None:
    """Show a batch."""
    with _operator() as container:
        view = container.factory.get_batch(SYSTEM_ACTOR, batch_id)
    _print_batch(view)


@batch_app.command("recall")
def batch_recall(
    batch_id: Annotated[str, typer.Argument()],
    reason: Annotated[str, typer.Option(help="Why the batch is recalled.")],
) -> None:
    """Recall a batch (scans show it at once; the chain learns it once anchored)."""
    with _operator() as container:
        view = container.factory.recall_batch(RecallBatch(SYSTEM_ACTOR, batch_id, reason))
    _print_batch(view)


@batch_app.command("approve-reprint")
def batch_approve_reprint(
    batch_id: Annotated[str, typer.Argument()],
    reason: Annotated[str, typer.Option(help="Why another copy of the code file is needed.")],
) -> None:
    """Allow one more download of a batch's code file (with PINs)."""
    with _operator() as container:
        result = container.factory.approve_reprint(ApproveReprint(SYSTEM_ACTOR, batch_id, reason))
    console.print(f"approval {result['approval_id']} for batch {result['batch_id']}")


@batch_app.command("export")
def batch_export(
    batch_id: Annotated[str, typer.Argument()],
    out: Annotated[Path, typer.Option(help="Where to write the CSV (with PINs: keep it safe).")],
) -> None:
    """Write the code file (serial, URI, PIN, case, pallet): audited, allowed once."""
    if out.exists():
        err.print(f"[red]{out} exists[/red]: choose a new file (a code file is never overwritten)")
        raise typer.Exit(2)
    with _operator() as container:
        view = container.factory.get_batch(SYSTEM_ACTOR, batch_id)
        _, chunks = container.factory.download_code_file(DownloadCodeFile(SYSTEM_ACTOR, batch_id))
        rows = 0
        with _progress() as progress, out.open("xb") as fh:
            out.chmod(0o600)
            task = progress.add_task("writing code file", total=view["item_count"])
            for chunk in chunks:
                fh.write(chunk)
                rows += chunk.count(b"\n")
                progress.update(task, completed=max(rows - 1, 0))
    console.print(f"wrote {rows - 1} codes to {out} (mode 600)")


@batch_app.command("labels")
def batch_labels(
    batch_id: Annotated[str, typer.Argument()],
    out: Annotated[Path, typer.Option(help="Where to write the PDF.")],
    kind: Annotated[str, typer.Option(help="item, case or pallet")] = "item",
    offset: Annotated[int, typer.Option(help="First label (0-based).")] = 0,
    count: Annotated[int, typer.Option(help="Labels in this file.")] = 10_000,
    label_width_mm: Annotated[float, typer.Option()] = 30.0,
    label_height_mm: Annotated[float, typer.Option()] = 36.0,
) -> None:
    """Write A4 label sheets (QR + human-readable code) as PDF, with progress."""
    if kind not in ("item", "case", "pallet"):
        raise typer.BadParameter("kind is item, case or pallet")
    with _operator() as container:
        layout = validate_layout(
            LabelLayout(label_width_mm=label_width_mm, label_height_mm=label_height_mm)
        )
        batch, labels = container.factory.label_stream(
            SYSTEM_ACTOR,
            batch_id,
            None if kind == "item" else UnitKind(kind),
            offset,
            count,
        )
        total = batch.item_count if kind == "item" else count
        with _progress() as progress, out.open("wb") as fh:
            task = progress.add_task("drawing labels", total=min(count, max(total - offset, 0)))
            written = container.factory.write_labels(
                batch, kind, labels, layout, fh, lambda n: progress.update(task, completed=n)
            )
            progress.update(task, completed=written)
    console.print(f"wrote {written} labels to {out}")


# ----------------------------------------------------------------------------- channel
@regions_app.command("load")
def regions_load(
    file: Annotated[Path, typer.Argument(help="JSON list or CSV of code,name,parent")],
    source: Annotated[str, typer.Option(help="A name for this custom tree.")],
) -> None:
    """Load a custom region tree next to the built-in GB/T 2260 regions."""
    import csv

    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        err.print(f"[red]cannot read {file}[/red]: {exc}")
        raise typer.Exit(2) from exc
    if file.suffix.lower() == ".csv":
        rows: list[dict[str, object]] = [
            {"code": r.get("code"), "name": r.get("name"), "parent": r.get("parent") or None}
            for r in csv.DictReader(text.splitlines())
        ]
    else:
        try:
            loaded = json.loads(text)
        except json.JSONDecodeError as exc:
            err.print(f"[red]{file} is not JSON[/red]: {exc}")
            raise typer.Exit(2) from exc
        rows = loaded if isinstance(loaded, list) else []
    with _operator() as container:
        count = container.channel.load_regions(SYSTEM_ACTOR, rows, source)
    console.print(f"loaded {count} regions as {source!r}")


@org_app.command("territories")
def org_territories(
    org: Annotated[int, typer.Option(help="The distributor or store.")],
    region: Annotated[list[str], typer.Option(help="A region code; repeat for several.")],
) -> None:
    """Set where a distributor or store may sell."""
    with _operator() as container:
        view = container.channel.set_territories(SYSTEM_ACTOR, org, region)
    console.print(
        f"organisation {org}: " + ", ".join(f"{t['code']} {t['path']}" for t in view["territories"])
    )


@org_app.command("parent")
def org_parent(
    org: Annotated[int, typer.Option(help="The distributor or store.")],
    parent: Annotated[int | None, typer.Option(help="Its distributor (omit to clear).")] = None,
) -> None:
    """Place a distributor or store under a distributor in the brand's channel."""
    with _operator() as container:
        container.channel.set_channel_parent(SYSTEM_ACTOR, org, parent)
    console.print(f"organisation {org}: channel parent {parent}")


@org_app.command("site")
def org_site(
    org: Annotated[int, typer.Option(help="The organisation.")],
    name: Annotated[str, typer.Option()],
    kind: Annotated[str, typer.Option(help="warehouse, shop or plant")],
    region: Annotated[str, typer.Option(help="Region code, e.g. 330106")],
) -> None:
    """Register a site of an organisation."""
    with _operator() as container:
        view = container.channel.add_site(SYSTEM_ACTOR, org, name, kind, region)
    console.print(f"site {view['id']}: {view['name']} ({view['kind']}) in {view['region_path']}")


def main() -> None:  # pragma: no cover - console entry
    app(prog_name="tracecert")


if __name__ == "__main__":  # pragma: no cover
    main()
