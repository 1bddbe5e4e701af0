"""Spill files of the consumer-scan log: scans the database could not take, kept on disk.

While the database is away, :class:`~service.consumer.storage.scan_log.ConsumerScanRecorder`
appends the scans it could not write to a segment file of its own under the spill directory
(``<TRACECERT_DATA_DIR>/scan-spill``), one JSON line per scan, and replays the segments, oldest
first, once the database answers again; a segment is removed only after every scan in it is
committed. Each scan carries its unique ``scan_id``: a replay skips the ids already written, so a
crash between a replay's commit and the segment's removal (or a commit whose answer was lost)
writes nothing twice.

**Durability.** One ``write`` and one ``fsync`` per append, and the directory is fsynced when a
segment is created. Appends come at most once per writer pass (100 ms) while the database is
away, plus whenever the in-memory buffer is full, so the cost is one fsync per pass: what a
crash (even of the machine) can lose is what it loses in normal operation, the scans of the
last pass still in memory. A line torn by a crash in the middle of an append is skipped.
Nothing bounds the files but the disk.

**Processes.** A process holds an exclusive ``flock`` on the segment it appends to; a replay
takes each segment it can lock, so several processes sharing a data directory each replay
their own segments and those a dead process left behind, never one another's live segment.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from service.consumer.ports import ConsumerScan

SUFFIX = ".jsonl"
#: Rows the database refused for good (a foreign key gone): kept here, never dropped.
REJECTED = "rejected.jsonl"


@dataclass(frozen=True)
class SpilledScan:
    """A scan with the id that makes its write idempotent."""

    scan_id: bytes
    scan: ConsumerScan


def encode(record: SpilledScan) -> bytes:
    scan = record.scan
    return (
        json.dumps(
            {
                "id": record.scan_id.hex(),
                "at": scan.at.isoformat(),
                "item": scan.item_id,
                "batch": scan.batch_id,
                "region": scan.region_code,
                "device": scan.device_hash.hex(),
                "verdict": scan.verdict,
                "org": scan.organisation_id,
                "alert": scan.alert_id,
                **({"divert": scan.diversion_serial} if scan.diversion_serial else {}),
                "net": scan.network_hash.hex() if scan.network_hash is not None else None,
                "witness": scan.witness,
            },
            separators=(",", ":"),
        ).encode()
        + b"\n"
    )


def decode(line: bytes) -> SpilledScan | None:
    """A line back into its scan; None for a line torn by a crash."""
    try:
        value: dict[str, Any] = json.loads(line)
        return SpilledScan(
            bytes.fromhex(value["id"]),
            ConsumerScan(
                at=datetime.fromisoformat(value["at"]),
                item_id=value["item"],
                batch_id=value["batch"],
                region_code=value["region"],
                device_hash=bytes.fromhex(value["device"]),
                verdict=value["verdict"],
                organisation_id=value["org"],
                alert_id=value["alert"],
                diversion_serial=value.get("divert"),
                # Lines spilled before migration 0014 have neither.
                network_hash=bytes.fromhex(value["net"]) if value.get("net") else None,
                witness=value.get("witness") or "anonymous",
            ),
        )
    except (ValueError, KeyError, TypeError):
        return None


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _try_lock(file: IO[bytes]) -> bool:
    try:
        fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


class Segment:
    """A spill file to replay: one no live process appends to (locked by this process), or
    this process's own, read up to ``size`` (what it held when claimed)."""

    def __init__(self, path: Path, file: IO[bytes], owner: ScanSpill | None = None) -> None:
        self.path = path
        self._file = file
        self._owner = owner
        self.size = os.fstat(file.fileno()).st_size

    def chunks(self, size: int) -> Iterator[list[SpilledScan]]:
        """Its scans in the order they were spilled, ``size`` at a time."""
        self._file.seek(0)
        chunk: list[SpilledScan] = []
        left = self.size
        for line in self._file:
            left -= len(line)
            if left < 0:
                break  # appended after the claim: the next replay's
            record = decode(line)
            if record is None:
                continue
            chunk.append(record)
            if len(chunk) >= size:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    def remove(self) -> None:
        """Every scan in it is written: the file goes (this process's own only if nothing
        was appended since the claim; else it is replayed again, its written ids skipped)."""
        if self._owner is not None:
            self._owner.retire_own(self)
        else:
            self.path.unlink(missing_ok=True)
            _fsync_dir(self.path.parent)
        self.close()

    def close(self) -> None:
        self._file.close()


class ScanSpill:
    """This process's spill segment, and the segments it may replay (see the module)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        self._file: IO[bytes] | None = None
        self._path: Path | None = None
        #: Scans in segments waiting for their replay (this process's, and those it found).
        self.spilled = 0
        #: Scans the database refused for good, kept in ``rejected.jsonl``.
        self.rejected = 0
        self.directory.mkdir(parents=True, exist_ok=True)
        self.spilled = self._count_left_behind()

    def _count_left_behind(self) -> int:
        """Scans in segments no live process holds (a previous run's): replayed at start."""
        found = 0
        for path in sorted(self.directory.glob("*" + SUFFIX)):
            if path.name == REJECTED:
                continue
            with path.open("rb") as file:
                if _try_lock(file):
                    found += sum(1 for line in file if decode(line) is not None)
        return found

    @property
    def pending(self) -> bool:
        """Whether segments wait for a replay (every new scan then goes behind them)."""
        return self.spilled > 0 or self._file is not None

    def append(self, records: Sequence[SpilledScan]) -> None:
        """Append scans to this process's segment, durably (one write, one fsync)."""
        if not records:
            return
        data = b"".join(encode(r) for r in records)
        with self._lock:
            if self._file is None:
                self._open()
            assert self._file is not None
            self._file.write(data)
            self._file.flush()
            os.fsync(self._file.fileno())
            self.spilled += len(records)

    def _open(self) -> None:
        name = f"{time.time_ns():020d}-{os.getpid()}-{secrets.token_hex(4)}{SUFFIX}"
        path = self.directory / name
        file = path.open("ab")
        if not _try_lock(file):  # a fresh random name: nobody else can hold it
            file.close()
            raise OSError(f"could not lock the new spill file {path}")
        _fsync_dir(self.directory)
        self._file, self._path = file, path

    def claim(self) -> list[Segment]:
        """Every segment this process may replay, oldest first: those no live process holds
        (locked now) and its own (which it keeps appending to until it is replayed)."""
        with self._lock:
            own = self._path
        segments = []
        for path in sorted(self.directory.glob("*" + SUFFIX)):
            if path.name == REJECTED:
                continue
            try:
                file = path.open("rb")
            except FileNotFoundError:  # replayed by another process meanwhile
                continue
            if path == own:
                segments.append(Segment(path, file, owner=self))
                continue
            if not _try_lock(file) or os.fstat(file.fileno()).st_nlink == 0:
                file.close()
                continue
            segments.append(Segment(path, file))
        return segments

    def retire_own(self, segment: Segment) -> None:
        """This process's segment was replayed up to ``segment.size``: remove it unless
        scans were appended since."""
        with self._lock:
            if self._file is None or self._path != segment.path:
                return
            if os.fstat(self._file.fileno()).st_size != segment.size:
                return
            segment.path.unlink()
            self._file.close()
            self._file = self._path = None
        _fsync_dir(self.directory)

    def replayed(self, count: int) -> None:
        with self._lock:
            self.spilled = max(0, self.spilled - count)

    def settle(self) -> None:
        """Every claimed segment was replayed: nothing waits unless appended since."""
        with self._lock:
            if self._file is None:
                self.spilled = 0

    def close(self) -> None:
        """Close this process's segment (at shutdown); it is replayed by the next start."""
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = self._path = None

    def reject(self, records: Sequence[SpilledScan]) -> None:
        """Keep scans the database refuses for good apart, on disk."""
        with self._lock, (self.directory / REJECTED).open("ab") as file:
            file.write(b"".join(encode(r) for r in records))
            file.flush()
            os.fsync(file.fileno())
            self.rejected += len(records)
