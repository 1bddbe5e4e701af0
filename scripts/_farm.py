"""The anti-farming simulation of ``bench_touchpoints``: honest members and a farm, written to the
event log and the consumer-scan stream the way each really behaves, with the projector and the
screening job running as the worker runs them (after every ten minutes of activity).

* **1,000 honest members**: one phone each, a second device for three in ten, a household
  tablet shared by two for one in twenty; a home region; one to four claims on different days
  over six months (one in ten on a trip elsewhere, of a bottle bought at home; one in twenty of
  a bottle from the brand's online shop, which never passed a store); one in fifty buys a
  banquet's five bottles in an hour; one in ten later scans a bottle of theirs that was
  redeemed; 150 of them joined through a gift from another member (a referral), and claim on
  their own phones.
* **A farm**: 200 accounts on 5 phones (40 each). Each phone first scans 30 redeemed caps in
  twenty minutes (testing a bag of collected caps); the accounts then claim three bottles each
  from a leaked code file (bottles still in the factory's warehouse), a few minutes apart,
  reporting regions all over the country; 50 of them gift a bottle to a new farm account that
  accepts it on the same phone (a referral ring).

Besides the ratios: ``honest_signals`` and ``farm_signals`` count the members each signal was
raised for (a signal alone may leave a member clear), the margin the ratios do not show.

The brand's programme has no caps here, so all the farm's points that are withheld are withheld
by the screening. ``farm_points_withheld_ratio`` is the share of the points the farm's claims and
referrals earn by the rules that the screening did not release to it; ``honest_flagged_ratio``
the share of honest members greylisted or blacklisted.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, text

from service.adapters.regions import gb2260_rows
from service.adapters.regions.places import region_centre
from service.consumer.domain.events import (
    AccountCreated,
    CertificateActionConfirmed,
    CertificateActionRequested,
    CertificateClaimed,
    CertificateClaimRequested,
)
from service.consumer.storage.rows import ConsumerScanRow
from service.factory.storage.rows import ItemRow
from service.kernel.events import Event
from service.touchpoints.app.projector import Projector
from service.touchpoints.app.risk import RiskUseCases
from service.touchpoints.app.writes import AppliedWrites
from service.touchpoints.domain.events import PointsProgrammeSet
from service.unit_of_work import SqlAlchemyUnitOfWorkFactory

START = datetime(2026, 1, 1, tzinfo=UTC)
HONEST, FARM_ACCOUNTS, FARM_PHONES = 1_000, 200, 5
WINDOW = timedelta(minutes=10)

Activity = tuple[datetime, str, Any]  # (when, "log" | "scan", event or scan row)


class Clock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class Population:
    """Who is who: each simulated person's account id, and the simulation's activity."""

    def __init__(self, batches: list[str], batch_ids: list[int], seed: int = 15) -> None:
        self.rng = random.Random(seed)
        self.batches, self.batch_ids = batches, batch_ids
        self.activity: list[Activity] = []
        self.honest: list[str] = []
        self.farm: list[str] = []
        self._n = 0
        self._item = 0
        self.items: list[dict[str, Any]] = []
        counties = [c for c, _, level, _ in gb2260_rows() if level == 3 and region_centre(c)]
        self.regions = self.rng.sample(counties, 80)

    # ------------------------------------------------------------------ the parts of a life
    def account(self, at: datetime) -> str:
        self._n += 1
        account = f"acc_sim_{self._n:012d}"
        self.log(at, AccountCreated(account, f"0x{self._n:040x}", "custodial"))
        return account

    def log(self, at: datetime, event: Event) -> None:
        self.activity.append((at, "log", event))

    def claim(
        self, at: datetime, account: str, region: str, device: bytes, channel: str = "inside"
    ) -> str:
        self._n += 1
        cid = f"crt_sim_{self._n:012d}"
        batch = self.batches[self._n % len(self.batches)]
        wallet = f"0x{int(account.removeprefix('acc_sim_')):040x}"
        requested = CertificateClaimRequested(
            cid, batch, str(self._n), wallet, region, device, channel
        )
        self.log(at, requested)
        self.log(
            at + timedelta(seconds=40), CertificateClaimed(cid, str(self._n), wallet, bytes(32), 1)
        )
        return cid

    def gift(self, at: datetime, cid: str, giver: str, recipient_at: datetime) -> str:
        """``giver`` offers a bottle; a new account signs up for it and accepts it."""
        self.log(
            at,
            CertificateActionRequested(cid, "gift", "active", "gifted", f"account:{giver}", None),
        )
        self.log(at + timedelta(seconds=30), CertificateActionConfirmed(cid, "gift", bytes(32), 1))
        recipient = self.account(recipient_at)
        accept = recipient_at + timedelta(minutes=2)
        self.log(
            accept,
            CertificateActionRequested(
                cid, "accept_gift", "gifted", "active", f"account:{recipient}", None
            ),
        )
        self.log(
            accept + timedelta(seconds=30),
            CertificateActionConfirmed(cid, "accept_gift", bytes(32), 1),
        )
        return recipient

    def scan(self, at: datetime, device: bytes, region: str, verdict: str) -> None:
        self._item += 1
        batch_id = self.batch_ids[self._item % len(self.batch_ids)]
        item_id = 1_000_000 + self._item
        self.items.append(
            {
                "id": item_id,
                "batch_id": batch_id,
                "serial": f"SIM{self._item:012d}",
                "item_hash": self._item.to_bytes(32, "big"),
                "leaf": self._item.to_bytes(32, "big"),
                "leaf_index": self._item,
            }
        )
        row = {
            "item_id": item_id,
            "batch_id": batch_id,
            "scanned_at": at,
            "region_code": region,
            "device_hash": device,
            "verdict": verdict,
        }
        self.activity.append((at, "scan", row))

    def device(self) -> bytes:
        return self.rng.randbytes(16)

    # ------------------------------------------------------------------ the honest
    def honest_members(self) -> None:
        rng = self.rng
        households: list[bytes] = []
        referred = 150
        givers = rng.sample(range(HONEST - referred), referred)
        gifts: dict[int, int] = {g: HONEST - referred + k for k, g in enumerate(givers)}
        plans: dict[int, tuple[str, bytes, list[bytes]]] = {}
        for person in range(HONEST):
            home = rng.choice(self.regions)
            phone = self.device()
            devices = [phone] + ([self.device()] if rng.random() < 0.3 else [])
            if rng.random() < 0.05:  # a household's tablet, shared by two
                if households and rng.random() < 0.5:
                    devices.append(households.pop())
                else:
                    tablet = self.device()
                    households.append(tablet)
                    devices.append(tablet)
            plans[person] = (home, phone, devices)
        referred_joins: dict[int, datetime] = {}
        for person in range(HONEST - referred):
            home, phone, devices = plans[person]
            joined = START + timedelta(days=rng.uniform(0, 30), hours=rng.uniform(8, 20))
            account = self.account(joined)
            self.honest.append(account)
            claims = self.claims_of(account, home, devices, joined)
            if person in gifts and claims:
                offer_at, cid = claims[-1][0] + timedelta(days=rng.uniform(1, 20)), claims[-1][1]
                recipient_at = offer_at + timedelta(hours=rng.uniform(1, 48))
                friend = gifts[person]
                recipient = self.gift(offer_at, cid, account, recipient_at)
                self.honest.append(recipient)
                referred_joins[friend] = recipient_at
                f_home, _, f_devices = plans[friend]
                self.claims_of(
                    recipient, f_home, f_devices, recipient_at + timedelta(days=3), most=2
                )

    def claims_of(
        self, account: str, home: str, devices: list[bytes], joined: datetime, most: int = 4
    ) -> list[tuple[datetime, str]]:
        rng = self.rng
        made: list[tuple[datetime, str]] = []
        if rng.random() < 0.02:  # a banquet: five bottles within an hour
            day = joined + timedelta(days=rng.uniform(0, 60))
            for k in range(5):
                at = day + timedelta(minutes=k * rng.uniform(3, 12))
                made.append((at, self.claim(at, account, home, devices[0])))
        else:
            days = sorted(rng.sample(range(180), rng.randint(1, most)))
            for day in days:
                at = joined + timedelta(days=day, hours=rng.uniform(0, 10))
                trip = rng.random() < 0.1
                region = rng.choice(self.regions) if trip else home
                # Bought at a store of the region; on a trip, at home; one in twenty from the
                # brand's own online shop (shipped from its warehouse).
                channel = "factory" if rng.random() < 0.05 else "outside" if trip else "inside"
                device = rng.choice(devices)
                made.append((at, self.claim(at, account, region, device, channel)))
        if rng.random() < 0.1:  # later scans one of their bottles that was redeemed
            at = made[-1][0] + timedelta(days=rng.uniform(30, 90))
            self.scan(at, devices[0], home, "redeemed")
        return made

    # ------------------------------------------------------------------ the farm
    def the_farm(self) -> None:
        rng = self.rng
        phones = [self.device() for _ in range(FARM_PHONES)]
        day = START + timedelta(days=60, hours=1)  # at night
        for p, phone in enumerate(phones):
            base = day + timedelta(minutes=p * 3)
            for k in range(30):  # a bag of collected caps, each scanned once
                self.scan(
                    base + timedelta(seconds=k * 40), phone, rng.choice(self.regions), "redeemed"
                )
        per_phone = FARM_ACCOUNTS // FARM_PHONES
        rings = set(rng.sample(range(FARM_ACCOUNTS - 50), 50))
        ringed = 0
        for n in range(FARM_ACCOUNTS - 50):
            phone = phones[n % FARM_PHONES]
            at = day + timedelta(minutes=25 + (n // FARM_PHONES) * 6, seconds=rng.uniform(0, 50))
            account = self.account(at)
            self.farm.append(account)
            cids = [
                self.claim(
                    at + timedelta(minutes=1 + k),
                    account,
                    rng.choice(self.regions),
                    phone,
                    "factory",
                )
                for k in range(3)
            ]
            if n in rings and ringed < 50:
                ringed += 1
                offer = at + timedelta(minutes=5)
                recipient = self.gift(offer, cids[0], account, offer + timedelta(minutes=1))
                self.farm.append(recipient)
                self.claim(
                    offer + timedelta(minutes=4),
                    recipient,
                    rng.choice(self.regions),
                    phone,
                    "factory",
                )
        assert len(self.farm) == FARM_ACCOUNTS and per_phone * FARM_PHONES == FARM_ACCOUNTS


def simulate(
    engine: Any,
    uows: SqlAlchemyUnitOfWorkFactory,
    batches: list[str],
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Run the simulation on a migrated, seeded database; the figures."""
    with engine.connect() as conn:
        batch_ids = [
            int(i) for i in conn.execute(text("SELECT id FROM batches ORDER BY id")).scalars()
        ]
    # Brand A's batches (the seed alternates the two brands).
    people = Population(batches[::2], batch_ids[::2])
    people.honest_members()
    people.the_farm()
    with engine.begin() as conn:
        conn.execute(insert(ItemRow), people.items)
    # Brand A's programme without caps: what the farm is kept from, the screening kept.
    with uows() as uow:
        uow.events.append_many(
            [PointsProgrammeSet(1, {"caps": {"day": 0, "week": 0, "month": 0}}, "sim")], START
        )
        uow.commit()
    activity = sorted(people.activity, key=lambda a: (a[0], a[1] == "scan"))
    projector = Projector(uows, Clock())
    risk = RiskUseCases(AppliedWrites(uows, Clock()), region_centre)
    started = time.perf_counter()
    screenings = 0
    first = 0
    while first < len(activity):
        end_at = activity[first][0] + WINDOW
        last = first
        while last < len(activity) and activity[last][0] < end_at:
            last += 1
        with uows() as uow:
            for at, kind, what in activity[first:last]:
                if kind == "log":
                    uow.events.append_many([what], at)
            uow.commit()
        scans = [what for _, kind, what in activity[first:last] if kind == "scan"]
        if scans:
            with engine.begin() as conn:
                conn.execute(insert(ConsumerScanRow), scans)
        projector.catch_up()
        risk.screen()
        screenings += 1
        first = last
        if progress is not None:
            progress(first, len(activity))
    elapsed = time.perf_counter() - started
    return {**measure(engine, people), "sim_windows": screenings, "sim_s": round(elapsed, 1)}


def measure(engine: Any, people: Population) -> dict[str, Any]:
    farm = {f"account:{a}" for a in people.farm}
    honest = {f"account:{a}" for a in people.honest}
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT p.holder, p.amount, p.withheld, COALESCE(s.status, 'pending')"
                " FROM touchpoint_points p LEFT JOIN touchpoint_award_status s"
                " ON s.award_key = p.key WHERE p.kind = 'earn' AND p.brand_id = 1"
            )
        ).all()
        risks = conn.execute(
            text("SELECT subject, level, reasons FROM touchpoint_risk WHERE brand_id = 1")
        ).all()
    levels = {subject: level for subject, level, _ in risks}

    def signals(group: set[str]) -> dict[str, int]:
        counted: dict[str, int] = {}
        for subject, _, reasons in risks:
            if subject in group:
                for reason in json.loads(reasons):
                    counted[reason["signal"]] = counted.get(reason["signal"], 0) + 1
        return dict(sorted(counted.items()))

    by_rules = sum(int(a) + int(w) for h, a, w, _ in rows if h in farm)
    released = sum(int(a) for h, a, _, status in rows if h in farm and status == "released")
    flagged_honest = sum(1 for h in honest if levels.get(h, "clear") != "clear")
    flagged_farm = sum(1 for h in farm if levels.get(h, "clear") != "clear")
    screened_honest = sum(1 for h in honest if h in levels)
    return {
        "honest_members": len(honest),
        "honest_screened": screened_honest,
        "honest_flagged": flagged_honest,
        "honest_flagged_ratio": round(flagged_honest / len(honest), 4),
        "farm_accounts": len(farm),
        "farm_flagged": flagged_farm,
        "farm_points_by_rules": by_rules,
        "farm_points_released": released,
        "farm_points_withheld_ratio": round(1 - released / by_rules, 4) if by_rules else None,
        "farm_blacklisted": sum(1 for h in farm if levels.get(h) == "black"),
        "honest_signals": signals(honest),
        "farm_signals": signals(farm),
    }
