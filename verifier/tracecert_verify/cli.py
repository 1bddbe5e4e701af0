"""``tracecert-verify EXPORT_DIR --rpc URL [--json]``; exit codes:

* 0  everything verified;
* 10 verified, with an unanchored tail (entries after the last anchored size);
* 20 a mismatch: tampering, each named in the report;
* 30 could not check: the chain unreachable, or the export incomplete or corrupt.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from tracecert_verify import EXIT_CANNOT_CHECK, EXIT_MISMATCH, EXIT_OK, EXIT_UNANCHORED_TAIL
from tracecert_verify.batches import check_attestations, check_batches, check_certificates
from tracecert_verify.export import Export, ExportError, Report
from tracecert_verify.log import check_log
from tracecert_verify.replay import Replay, replay
from tracecert_verify.rpc import ChainUnreachableError, Registry


class _Bar:
    """A progress bar on stderr, shown only to a person (a terminal) on long runs."""

    def __init__(self, enabled: bool) -> None:
        self.enabled, self._last = enabled, 0.0

    def __call__(self, stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        if not self.enabled or (now - self._last < 0.2 and done < total):
            return
        self._last = now
        width = 30
        filled = width * done // total if total else width
        sys.stderr.write(f"\r{stage:<6} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def verify(directory: Path, rpc: str, bar: _Bar) -> tuple[int, Report, str | None]:
    report = Report()
    try:
        export = Export(directory)
        registry = Registry(rpc, str(export.manifest.get("registry")))
        chain_id = registry.chain_id()
        if export.manifest.get("chain_id") not in (None, chain_id):
            return EXIT_CANNOT_CHECK, report, f"the RPC serves chain {chain_id}, not the export's"
        genesis = export.manifest.get("genesis_hash")
        if genesis and registry.genesis_hash() != genesis:
            return EXIT_CANNOT_CHECK, report, "the RPC serves another chain (genesis differs)"
        derived = Replay({b["id"] for b in export.records("batches.ndjson")})
        check_log(export, registry, report, bar, derived.feed)
        batches = check_batches(export, registry, report, bar)
        full = int(export.manifest.get("since_index", 0)) == 0
        check_attestations(batches, derived.attested if full else None, registry, report)
        check_certificates(export, registry, report, derived.in_flight)
        replay(export, derived, batches, report)
    except ExportError as exc:
        return EXIT_CANNOT_CHECK, report, f"the export is incomplete or corrupt: {exc}"
    except ChainUnreachableError as exc:
        return EXIT_CANNOT_CHECK, report, f"the chain is unreachable: {exc}"
    if report.findings:
        return EXIT_MISMATCH, report, None
    return (EXIT_UNANCHORED_TAIL if report.unanchored_tail else EXIT_OK), report, None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="tracecert-verify",
        description="Verify a tracecert audit export against the chain (docs/audit.md).",
        epilog="exit codes: 0 verified; 10 verified with an unanchored tail; "
        "20 mismatch (tampering); 30 could not check",
    )
    parser.add_argument("export_dir", type=Path)
    parser.add_argument("--rpc", required=True, help="JSON-RPC URL of the chain")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = parser.parse_args(argv)
    code, report, problem = verify(args.export_dir, args.rpc, _Bar(sys.stderr.isatty()))
    verdict = {
        EXIT_OK: "verified",
        EXIT_UNANCHORED_TAIL: "verified, with an unanchored tail",
        EXIT_MISMATCH: "MISMATCH",
        EXIT_CANNOT_CHECK: "could not check",
    }[code]
    if args.json:
        out = {
            "exit": code,
            "verdict": verdict,
            "problem": problem,
            "findings": [f.as_dict() for f in report.findings],
            "facts": report.facts,
        }
        print(json.dumps(out, sort_keys=True))
        return code
    for finding in report.findings:
        print(f"{finding.check.upper():<12} {finding.subject}: {finding.detail}")
    for name, value in report.facts.items():
        print(f"{name}: {value}")
    print(f"{verdict}" + (f": {problem}" if problem else ""))
    return code


if __name__ == "__main__":
    sys.exit(main())
