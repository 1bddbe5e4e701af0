"""Points applied a log page at a time: what the page's entries earn, spend, expire and reverse,
kept in memory and written in bulk at the end (a few statements a page).

Only members earn: a subject that is an account (``account:<public id>``). A wallet nobody's
account is known to hold earns nothing until One-ID links it.

Every award starts *pending*: the screening (``service.touchpoints.app.risk``) releases it
(spendable), holds it for the brand's review, or forfeits it (a reverse entry takes what is left
of it), by a log entry that names its reasons. A blacklisted member earns nothing: their award
is recorded with all of it withheld.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from service.touchpoints.domain.journey import Cause
from service.touchpoints.domain.points import (
    DEFAULT_PROGRAMME,
    Award,
    Draw,
    Entry,
    EntryKind,
    Programme,
    Rule,
    capped,
    programme_from_settings,
    take_rest,
)
from service.touchpoints.domain.risk import Level
from service.touchpoints.ports import AwardStatus, CertificateFacts, TouchpointsUnitOfWork

#: Where the expiry job's last run stands (seconds since the epoch), beside the feed's sources.
EXPIRY_SOURCE = "points_expiry"
#: A storage anniversary: a year of 365 days.
YEAR = timedelta(days=365)
#: Rules earned once per bottle, whose keys a page checks in one read.
_ONCE_PER_BOTTLE = (Rule.CLAIM, Rule.REFERRAL, Rule.REDEMPTION, Rule.FIRST_SCAN)


def is_member(subject: str | None) -> bool:
    return subject is not None and subject.startswith("account:")


def award_key(rule: Rule, certificate_id: str, year: int | None = None) -> str:
    return f"{rule.value}:{certificate_id}" + (f":{year}" if year is not None else "")


class PointsPage:
    """The points side of one log page."""

    def __init__(
        self,
        uow: TouchpointsUnitOfWork,
        holders: Collection[str],
        certificate_ids: Collection[str],
        since: datetime | None,
    ) -> None:
        self.uow = uow
        self.repo = uow.points
        self.since = since
        self._holders = {h for h in holders if is_member(h)}
        self._certificates = set(certificate_ids)
        self._programmes: dict[int, Programme] = {}
        self._keys: set[str] = set()
        self._checked: set[str] = set()
        self._preloaded = False
        self._earned: dict[str, list[tuple[int, datetime, int]]] | None = None
        #: Accounts that signed up in this page, and bottles first claimed in it: nothing
        #: earned before it, nothing to read.
        self.fresh: set[str] = set()
        self.fresh_certificates: set[str] = set()
        #: Awards read or made in this page, with what is left of each now.
        self.awards: dict[str, Award] = {}
        self.entries: list[Entry] = []
        self.draws: list[Draw] = []
        self.programme_sets: dict[int, tuple[dict[str, Any], datetime, str]] = {}
        #: Members' risk levels as read, and as decided in this page.
        self.levels: dict[tuple[int, str], Level] = {}
        self.statuses: dict[str, AwardStatus] = {}
        self._levels_read: set[str] | None = None

    # ------------------------------------------------------------------ what the page reads
    def programme(self, brand_id: int) -> Programme:
        found = self._programmes.get(brand_id)
        if found is None:
            settings = self.repo.programmes([brand_id]).get(brand_id)
            found = programme_from_settings(settings) if settings else DEFAULT_PROGRAMME
            self._programmes[brand_id] = found
        return found

    def has(self, key: str) -> bool:
        """Whether the ledger already holds an entry ``key`` (read, or made in this page)."""
        if not self._preloaded:
            self._preloaded = True
            wanted = {award_key(r, c) for c in self._certificates for r in _ONCE_PER_BOTTLE}
            self._keys |= self.repo.existing(wanted)
            self._checked |= wanted
        if key not in self._checked:
            self._keys |= self.repo.existing([key])
            self._checked.add(key)
        return key in self._keys

    def earned(self, holder: str) -> list[tuple[int, datetime, int]]:
        """The holder's awards from the page's earliest cap window on: ``(brand, at, points)``."""
        if self._earned is None:
            self._earned = {h: [] for h in self._holders}
            if self._holders and self.since is not None:
                for h, brand, at, n in self.repo.earned_since(self._holders, self.since):
                    self._earned[h].append((brand, at, n))
        if holder not in self._earned:
            self._earned[holder] = []
            if self.since is not None and holder not in self.fresh:
                for h, brand, at, n in self.repo.earned_since([holder], self.since):
                    self._earned[h].append((brand, at, n))
        return self._earned[holder]

    def read_awards(self, keys: Iterable[str]) -> None:
        """Read these awards at once (a screening settles hundreds in one entry)."""
        wanted = [k for k in keys if k not in self.awards]
        if wanted:
            self.awards.update(self.repo.awards(wanted))

    def award(self, key: str) -> Award | None:
        if key not in self.awards:
            found = self.repo.awards([key]).get(key)
            if found is None:
                return None
            self.awards[key] = found
        return self.awards[key]

    def _merge(self, read: Iterable[Award], keep: Callable[[Award], bool]) -> list[Award]:
        """Awards read from the ledger, with this page's own (newer) view of each, and the
        page's own awards that ``keep`` picks; by key."""
        for award in read:
            self.awards.setdefault(award.key, award)
        return [self.awards[k] for k in sorted(self.awards) if keep(self.awards[k])]

    def level(self, brand_id: int, holder: str) -> Level:
        """The member's risk level with the brand as of this point of the page (read for
        every holder the page names at once; an account new in the page has none)."""
        if self._levels_read is None:
            self._levels_read = set(self._holders - self.fresh)
            for key, level in self.uow.risk.levels(self._levels_read).items():
                self.levels.setdefault(key, level)
        if (brand_id, holder) not in self.levels and holder not in self._levels_read:
            self._levels_read.add(holder)
            if holder not in self.fresh:
                for key, level in self.uow.risk.levels([holder]).items():
                    self.levels.setdefault(key, level)
        return self.levels.get((brand_id, holder), Level.CLEAR)

    # ------------------------------------------------------------------ what the page writes
    def add(self, entry: Entry, draw: Draw | None = None) -> None:
        self.entries.append(entry)
        self._keys.add(entry.key)
        self._checked.add(entry.key)
        if draw is not None:
            self.draws.append(draw)

    def earn(
        self,
        rule: Rule,
        facts: CertificateFacts,
        holder: str | None,
        cause: Cause,
        year: int | None = None,
    ) -> None:
        """``holder`` earns ``rule``'s points for a bottle of ``facts``, once per bottle (and
        year), within the programme's caps."""
        if not is_member(holder):
            return
        assert holder is not None
        programme = self.programme(facts.brand_id)
        amount = programme.earn.get(rule, 0)
        key = award_key(rule, facts.certificate_id, year)
        if not programme.enabled or amount <= 0:
            return
        if key in self._keys or (
            facts.certificate_id not in self.fresh_certificates and self.has(key)
        ):
            return
        earned = self.earned(holder)
        mine = [(at, n) for brand, at, n in earned if brand == facts.brand_id]
        allowed = capped(programme, mine, cause.at, amount)
        if self.level(facts.brand_id, holder) is Level.BLACK:
            allowed = 0
        expires_at = cause.at + timedelta(days=programme.expires_after_days)
        self.add(
            Entry(
                key,
                facts.brand_id,
                holder,
                EntryKind.EARN,
                allowed,
                cause.at,
                cause.ref(),
                rule.value,
                facts.certificate_id,
                facts.batch_id,
                expires_at,
                withheld=amount - allowed,
            )
        )
        earned.append((facts.brand_id, cause.at, allowed))
        if allowed > 0:  # waits for the screening (found by its status's index)
            self.statuses[key] = AwardStatus(key, "pending", cause.at, cause.ref())
        self.awards[key] = Award(
            key,
            holder,
            facts.brand_id,
            expires_at,
            allowed,
            facts.certificate_id,
            facts.batch_id,
            allowed,
            "pending",
        )

    def settle(self, level: Level, award_keys: Iterable[str], cause: Cause) -> None:
        """A screening's or review's decision on these awards: released when the member is
        clear, held when greylisted, forfeited (what is left taken back) when blacklisted."""
        status = {Level.CLEAR: "released", Level.GREY: "held", Level.BLACK: "forfeited"}[level]
        for key in award_keys:
            award = self.award(key)
            if award is None:
                continue
            if level is Level.BLACK and award.remaining > 0:
                self._close(award, f"forfeit:{award.key}", EntryKind.REVERSE, cause)
            self.statuses[key] = AwardStatus(key, status, cause.at, cause.ref())
            self.awards[key] = replace(self.awards[key], status=status)

    def set_programme(self, brand_id: int, settings: dict[str, Any], cause: Cause) -> None:
        self._programmes[brand_id] = programme_from_settings(settings)
        self.programme_sets[brand_id] = (settings, cause.at, cause.ref())

    def spend(self, body: dict[str, Any], cause: Cause) -> None:
        """A spend as the log holds it: its draws are taken from the awards it names. One that
        no longer fits them (it cannot happen: the spend was decided on this same state) is
        left out whole rather than half applied."""
        key = f"spend:{cause.position}"
        if self.has(key):
            return
        draws = [(str(k), int(n)) for k, n in body["draws"]]
        awards = [self.award(k) for k, _ in draws]
        if any(
            a is None or a.remaining < n or n <= 0 for a, (_, n) in zip(awards, draws, strict=True)
        ):
            return
        self.add(
            Entry(
                key,
                int(body["brand_id"]),
                str(body["holder"]),
                EntryKind.SPEND,
                -int(body["points"]),
                cause.at,
                cause.ref(),
                str(body["reward"]),
            )
        )
        for award, (award_key_, n) in zip(awards, draws, strict=True):
            assert award is not None
            self.draws.append(Draw(key, award_key_, n))
            self.awards[award_key_] = replace(award, remaining=award.remaining - n)

    def reverse_batch(self, batch_id: str, cause: Cause) -> None:
        """A recall undoes what the batch's bottles earned: what is left of each award is taken
        back; what was spent already is named (withheld), never taken from other awards."""
        for award in self._merge(
            self.repo.awards_of_batch(batch_id), lambda a: a.batch_id == batch_id
        ):
            self._close(award, f"reverse:{award.key}", EntryKind.REVERSE, cause)

    def _close(self, award: Award, key: str, kind: EntryKind, cause: Cause) -> None:
        if self.has(key):
            return
        entry, draw, after = take_rest(award, key, kind, cause.at, cause.ref())
        self.add(entry, draw)
        self.awards[award.key] = after

    def expire(
        self, as_of: datetime, cause: Cause, stored: Iterable[CertificateFacts], since: datetime
    ) -> None:
        """The expiry job's run: awards that expired in ``(since, as_of]`` lose what is left of
        them, and bottles a full year more in storage by ``as_of`` earn their anniversary."""
        read = self.repo.expiring(since, as_of)
        for award in self._merge(read, lambda a: a.remaining > 0 and since < a.expires_at <= as_of):
            self._close(award, f"expire:{award.key}", EntryKind.EXPIRE, cause)
        for facts in stored:
            if facts.stored_since is None:
                continue
            year = 1
            while facts.stored_since + year * YEAR <= as_of:
                if facts.stored_since + year * YEAR > since:
                    self.earn(Rule.STORAGE_ANNIVERSARY, facts, facts.holder, cause, year)
                year += 1

    def flush(self) -> None:
        for brand_id, (settings, at, ref) in sorted(self.programme_sets.items()):
            self.repo.put_programme(brand_id, settings, at, ref)
        if self.entries or self.draws:
            self.repo.add(self.entries, self.draws)
        if self.statuses:
            self.uow.risk.put_statuses([self.statuses[k] for k in sorted(self.statuses)])
