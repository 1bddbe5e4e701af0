"""Benchmark: the touchpoints' projector over the event log (SQLite or PostgreSQL).

A log of ``--events`` entries is written through the service's own bulk append path: consumers
sign up (``AccountCreated``), claim bottles of 50 batches of two brands
(``CertificateClaimRequested``, ``CertificateClaimed``; two batches each) and gift some
of them (``CertificateActionRequested``/``Confirmed``), between the channel's entries (one in
two, which the projector skips in the database's index). Then:

* ``events_per_s``: log entries applied per second by one projector catching up from the start
  (the live path: ranges of 50,000 log indexes, one transaction each);
* ``rebuild_s``: ``tracecert touchpoints rebuild``'s work (everything forgotten, then applied
  again), and ``rebuild_events_per_s``;
* ``identical``: whether the rebuild's state equals the catch-up's (canonical JSON of every row);
* ``points_entries``: the ledger's entries the log made (the claims earn within the caps);
* ``screen_members_per_s``: the anti-farming screening job over every member with pending
  points (each scored from its evidence, one ``MembersScreened`` entry per 200);
* ``spend_p50_ms``/``spend_p99_ms``: ``POST /me/points/spend``'s use case, one member after
  another (each takes the log's lock, applies what the feed has not, appends and applies its
  entry); ``concurrent_spent``: of 16 threads spending one member's balance at once, how many
  succeeded (the balance affords ``concurrent_affordable``), and ``negative_balances`` (must be 0).

* the farm simulation (``scripts/_farm.py``, a database of its own): 1,000 honest members and a
  farm of 200 accounts on 5 phones, written the way each behaves, with the projector and the
  screening run after every ten minutes of activity: ``farm_points_withheld_ratio`` (the share
  of the farm's points by the rules that the screening did not release; the target is at least
  0.95) and ``honest_flagged_ratio`` (honest members greylisted or blacklisted; at most 0.01).

The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _bench_db import database  # noqa: E402
from _farm import simulate  # noqa: E402
from sqlalchemy import insert, text  # noqa: E402

from service.adapters.regions.places import region_centre  # noqa: E402
from service.consumer.domain.events import (  # noqa: E402
    AccountCreated,
    CertificateActionConfirmed,
    CertificateActionRequested,
    CertificateClaimed,
    CertificateClaimRequested,
)
from service.consumer.storage.rows import AccountRow  # noqa: E402
from service.factory.domain.events import BatchCreated  # noqa: E402
from service.factory.storage.rows import BatchRow  # noqa: E402
from service.identity.storage.rows import OrganisationRow  # noqa: E402
from service.kernel.actor import Actor  # noqa: E402
from service.kernel.events import Event  # noqa: E402
from service.kernel.idempotency import Idempotency  # noqa: E402
from service.kernel.roles import Role  # noqa: E402
from service.kernel.storage.db import make_engine, migrate  # noqa: E402
from service.ledger.storage.commitments import leaf_hash  # noqa: E402
from service.touchpoints.app.points import PointsUseCases  # noqa: E402
from service.touchpoints.app.projector import Projector  # noqa: E402
from service.touchpoints.app.risk import RiskUseCases  # noqa: E402
from service.touchpoints.domain.errors import InsufficientPointsError  # noqa: E402
from service.unit_of_work import SqlAlchemyUnitOfWorkFactory  # noqa: E402

console = Console(stderr=True)
START = datetime(2026, 1, 1, tzinfo=UTC)
BATCHES = 50
GTINS = ("09506000134352", "09506000134369")


class Clock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def seed_batches(engine: Any) -> list[str]:
    """Two brands with a factory each, and 50 batches (the claims' brand and product)."""
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(
            insert(OrganisationRow),
            [
                {"id": 1, "name": "Brand A", "kind": "brand", "created_at": now},
                {"id": 2, "name": "Brand B", "kind": "brand", "created_at": now},
            ],
        )
        ids = [f"b_{n:024d}" for n in range(BATCHES)]
        conn.execute(
            insert(BatchRow),
            [
                {
                    "public_id": public_id,
                    "organisation_id": 1 + n % 2,
                    "brand_id": 1 + n % 2,
                    "gtin": GTINS[n % 2],
                    "lot": f"L{n}",
                    "chain_batch_id": n.to_bytes(32, "big"),
                    "item_count": 10_000,
                    "metadata_json": {},
                    "metadata_hash": bytes(32),
                    "status": "anchored",
                    "created_at": now,
                }
                for n, public_id in enumerate(ids)
            ],
        )
    return ids


def consumer_events(n: int, batches: list[str]) -> list[Event]:
    """About ``n`` events: one in two the channel's, the rest a consumer's life (sign-up, two
    claims of different batches, one gift in four)."""
    out: list[Event] = []
    person = 0
    while len(out) < n:
        account, wallet = f"acc_{person:020d}", f"0x{person:040x}"
        life: list[Event] = [AccountCreated(account, wallet, "custodial")]
        for k in range(2):
            cid = f"cert_{person:020d}_{k}"
            batch = batches[(person + k * 7) % len(batches)]
            life += [
                CertificateClaimRequested(cid, batch, str(person * 2 + k), wallet, "330106"),
                CertificateClaimed(cid, str(person * 2 + k), wallet, bytes(32), person),
            ]
            if person % 4 == 0 and k == 0:
                life += [
                    CertificateActionRequested(
                        cid, "gift", "active", "gifted", f"account:{account}", None
                    ),
                    CertificateActionConfirmed(cid, "gift", bytes(32), person),
                ]
        for event in life:
            out += [event, channel_entry(len(out))]
        person += 1
    return out[:n]


def channel_entry(n: int) -> Event:
    return BatchCreated(
        batch_id=f"x_{n:012d}",
        organisation_id=1,
        brand_id=1,
        gtin=GTINS[0],
        lot=f"L{n}",
        chain_batch_id=n.to_bytes(32, "big"),
        metadata_hash=bytes(32),
        planned_quantity=1000,
    )


def write_log(uows: SqlAlchemyUnitOfWorkFactory, events: list[Event]) -> None:
    """Append through the service's bulk path, 5,000 entries a transaction, an hour apart."""
    for chunk, first in enumerate(range(0, len(events), 5_000)):
        with uows() as uow:
            uow.events.append_many(events[first : first + 5_000], START + timedelta(hours=chunk))
            uow.commit()


SPENDERS = 200
STICKER = {"id": "sticker", "name": "A sticker", "points": 30}


def seed_accounts(engine: Any, count: int) -> list[int]:
    """The first ``count`` consumers' account rows (the log names them; a spend reads its
    account's public id)."""
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(
            insert(AccountRow),
            [
                {
                    "public_id": f"acc_{n:020d}",
                    "channel": "email",
                    "destination": f"p{n}@example.com",
                    "wallet_address": f"0x{n:040x}",
                    "custody": "custodial",
                    "created_at": now,
                    "sealed_key": None,
                }
                for n in range(count)
            ],
        )
        ids = conn.execute(text("SELECT id FROM accounts ORDER BY public_id")).scalars().all()
    return [int(i) for i in ids]


def spends(engine: Any, uows: SqlAlchemyUnitOfWorkFactory, accounts: list[int]) -> dict[str, Any]:
    """Each member spends once, one after another; then 16 threads spend one balance at once."""
    points = PointsUseCases(uows, Clock())
    brand = Actor("key:bench", Role.BRAND, organisation_id=1, brand_id=1)
    points.set_programme(brand, {"rewards": [STICKER], "caps": {"day": 0}}, None)
    timings, spent = [], 0
    for n, account_id in enumerate(accounts[:-1]):
        actor = Actor(f"account:{account_id}", Role.CONSUMER, account_id=account_id)
        started = time.perf_counter()
        try:
            points.spend(actor, 1, "sticker", Idempotency(f"b{n}", bytes(32)))
            spent += 1
        except InsufficientPointsError:
            pass  # a consumer whose claims were both of brand 2
        timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    last = accounts[-1]
    actor = Actor(f"account:{last}", Role.CONSUMER, account_id=last)
    with uows.reader() as uow:
        public_id = uow.feed.account_public_id(last)
        balance = uow.points.balances(f"account:{public_id}").get(1, 0)

    def one(n: int) -> bool:
        try:
            points.spend(actor, 1, "sticker", Idempotency(f"c{n}", bytes(32)))
            return True
        except InsufficientPointsError:
            return False

    with ThreadPoolExecutor(16) as pool:
        concurrent = sum(pool.map(one, range(16)))
    with engine.connect() as conn:
        negative = conn.execute(
            text(
                "SELECT count(*) FROM (SELECT holder, brand_id, SUM(amount) AS total"
                " FROM touchpoint_points GROUP BY holder, brand_id) t WHERE total < 0"
            )
        ).scalar_one()
    return {
        "spends": spent,
        "spend_p50_ms": round(timings[len(timings) // 2], 2),
        "spend_p99_ms": round(timings[int(len(timings) * 0.99) - 1], 2),
        "concurrent_spent": concurrent,
        "concurrent_affordable": min(balance // STICKER["points"], 16),
        "negative_balances": negative,
    }


def progress_bar() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def run(count: int, db: str) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="tracecert-bench-touchpoints-"))
    url, drop = database(db, workdir, "tc_bench_tp")
    try:
        migrate(url)
        engine = make_engine(url)
        uows = SqlAlchemyUnitOfWorkFactory(engine, leaf_hash)
        batches = seed_batches(engine)
        accounts = seed_accounts(engine, SPENDERS)
        events = consumer_events(count, batches)
        started = time.perf_counter()
        write_log(uows, events)
        if engine.dialect.name == "postgresql":
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE events"))
        console.print(f"{count:,} log entries written in {time.perf_counter() - started:.1f} s")

        projector = Projector(uows, Clock())
        with progress_bar() as bar:
            task = bar.add_task("projecting", total=count)
            started = time.perf_counter()
            applied = projector.catch_up(lambda done, _: bar.update(task, completed=done))
            catch_up_s = time.perf_counter() - started
        assert applied == count, (applied, count)
        built = projector.snapshot()

        with progress_bar() as bar:
            task = bar.add_task("rebuilding", total=count)
            started = time.perf_counter()
            rebuilt = projector.rebuild(lambda done, _: bar.update(task, completed=done))
            rebuild_s = time.perf_counter() - started
        identical = projector.snapshot() == built
        with progress_bar() as bar:
            task = bar.add_task("screening members with pending points", total=None)
            started = time.perf_counter()
            screened = RiskUseCases(PointsUseCases(uows, Clock()).writes, region_centre).screen(
                progress=lambda done: bar.update(task, completed=done)
            )
            screen_s = time.perf_counter() - started
        console.print(
            f"screened {screened['screened']:,} members in {screen_s:.1f} s: {screened['levels']}"
        )
        spent = spends(engine, uows, accounts)
        console.print(
            f"spends: p50 {spent['spend_p50_ms']} ms, p99 {spent['spend_p99_ms']} ms; "
            f"16 at once on one balance: {spent['concurrent_spent']} spent "
            f"(affordable {spent['concurrent_affordable']})"
        )
        with engine.connect() as conn:
            stages = conn.execute(text("SELECT count(*) FROM touchpoint_stages")).scalar_one()
            points = conn.execute(text("SELECT count(*) FROM touchpoint_points")).scalar_one()
        engine.dispose()
        return {
            "db": db,
            "events": count,
            "events_per_s": round(count / catch_up_s),
            "catch_up_s": round(catch_up_s, 2),
            "rebuild_s": round(rebuild_s, 2),
            "rebuild_events_per_s": round(rebuilt / rebuild_s),
            "identical": identical,
            "stages_reached": stages,
            "points_entries": points,
            "screened_members": screened["screened"],
            "screen_members_per_s": round(screened["screened"] / screen_s) if screen_s else None,
            **spent,
            **farm(db, workdir),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        }
    finally:
        drop()
        shutil.rmtree(workdir, ignore_errors=True)


def farm(db: str, workdir: Path) -> dict[str, Any]:
    """The farm simulation on a database of its own."""
    (workdir / "farm").mkdir(exist_ok=True)
    url, drop = database(db, workdir / "farm", "tc_bench_farm")
    try:
        migrate(url)
        engine = make_engine(url)
        uows = SqlAlchemyUnitOfWorkFactory(engine, leaf_hash)
        batches = seed_batches(engine)
        with progress_bar() as bar:
            task = bar.add_task("farm simulation", total=None)
            found = simulate(
                engine,
                uows,
                batches,
                lambda done, total: bar.update(task, completed=done, total=total),
            )
        engine.dispose()
        console.print(
            f"farm: {found['farm_points_withheld_ratio']:.1%} of its points withheld "
            f"({found['farm_points_released']} of {found['farm_points_by_rules']} released, "
            f"{found['farm_flagged']} of {found['farm_accounts']} accounts flagged); honest: "
            f"{found['honest_flagged']} of {found['honest_members']} flagged"
        )
        return found
    finally:
        drop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=None, help="log entries (default 200,000)")
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--quick", action="store_true", help="a short run (10,000 entries)")
    parser.add_argument("--farm-only", action="store_true", help="only the farm simulation")
    args = parser.parse_args()
    if args.farm_only:
        workdir = Path(tempfile.mkdtemp(prefix="tracecert-bench-farm-"))
        try:
            found = {"db": args.db, **farm(args.db, workdir)}
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        print(json.dumps(found))
        return 0
    count = args.events or (10_000 if args.quick else 200_000)
    result = run(count, args.db)
    console.print(
        f"{result['db']}: {result['events_per_s']:,} entries/s caught up "
        f"({result['catch_up_s']} s), rebuild {result['rebuild_s']} s, "
        f"identical: {result['identical']}"
    )
    print(json.dumps(result))
    return 0 if result["identical"] and not result["negative_balances"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
