"""State replay: derive from the log what the state rows must say, and name each row that
says otherwise (a change made without its event).

Derived:
* a batch's status on chain: anchored after ``BatchAnchored``, recalled after ``BatchRecalled``;
  its attestation rows: one per ``BatchAttestationRequested``;
* a logistic unit's holder: the factory that made its batch, then the receiver of each
  ``GoodsReceived`` of the unit or of the pallet it is on;
* a certificate's state: ``CertificateClaimRequested`` (claim_pending), ``CertificateClaimed``
  (active), ``CertificateClaimFailed`` (claim_failed), each ``CertificateActionRequested``
  (its ``to_state``) and ``CertificateActionFailed`` (back to that request's ``from_state``).
"""

from __future__ import annotations

from typing import Any

from tracecert_verify.export import Export, Report


class Replay:
    """The state the log derives, folded one entry at a time (O(state), not O(log))."""

    def __init__(self, batch_ids: set[str]) -> None:
        #: Only the exported batches' factories are kept (a log may name millions).
        self.batch_ids = batch_ids
        self.anchored: dict[str, int] = {}
        self.recalled: dict[str, int] = {}
        self.factory: dict[str, int] = {}
        self.received: list[tuple[int, str, int]] = []  # (index, code, receiver)
        self.certs: dict[str, tuple[str, int]] = {}  # id -> (state, index)
        self.pending_from: dict[str, str] = {}
        #: Certificates whose last step is requested and neither confirmed nor failed yet:
        #: the state each left (the chain may still show it).
        self.in_flight: dict[str, str] = {}
        #: Per batch: attestations requested, and confirmed on chain (``BatchAttested``).
        self.attestations_requested: dict[str, int] = {}
        self.attested: dict[str, int] = {}

    def feed(self, index: int, body: dict[str, Any]) -> None:
        kind = body.get("type")
        try:
            if kind == "BatchCreated" and body["batch_id"] in self.batch_ids:
                self.factory[body["batch_id"]] = body["organisation_id"]
            elif kind == "BatchAnchored":
                self.anchored[body["batch_id"]] = index
            elif kind == "BatchRecalled":
                self.recalled[body["batch_id"]] = index
            elif kind == "BatchAttestationRequested":
                batch = body["batch_id"]
                self.attestations_requested[batch] = self.attestations_requested.get(batch, 0) + 1
            elif kind == "BatchAttested":
                self.attested[body["batch_id"]] = self.attested.get(body["batch_id"], 0) + 1
            elif kind == "GoodsReceived":
                self.received.append((index, body["code"], body["receiver_id"]))
            elif kind == "CertificateClaimRequested":
                self.certs[body["certificate_id"]] = ("claim_pending", index)
            elif kind == "CertificateClaimed":
                self.certs[body["certificate_id"]] = ("active", index)
            elif kind == "CertificateClaimFailed":
                self.certs[body["certificate_id"]] = ("claim_failed", index)
            elif kind == "CertificateActionRequested":
                self.certs[body["certificate_id"]] = (body["to_state"], index)
                self.pending_from[body["certificate_id"]] = body["from_state"]
                self.in_flight[body["certificate_id"]] = body["from_state"]
            elif kind == "CertificateActionConfirmed":
                self.in_flight.pop(body["certificate_id"], None)
            elif kind == "CertificateActionFailed" and body["certificate_id"] in self.pending_from:
                cert = body["certificate_id"]
                self.certs[cert] = (self.pending_from[cert], index)
                self.in_flight.pop(cert, None)
        except KeyError:
            pass  # an edited entry missing its fields: the log check names it


def replay(
    export: Export,
    derived: Replay,
    batches: dict[str, dict[str, Any]],
    report: Report,
) -> None:
    anchored, recalled, factory = derived.anchored, derived.recalled, derived.factory
    received, certs = derived.received, derived.certs
    since = int(export.manifest.get("since_index", 0))
    if since:
        report.facts["replay"] = "not run: an incremental export starts mid-history"
        return
    rows = 0
    # Batches.
    for public_id, batch in batches.items():
        rows += 1
        subject = f"batch {public_id}"
        if bool(batch["recalled"]) != (public_id in recalled):
            said = f"at entry {recalled[public_id]}" if public_id in recalled else "never"
            report.add(
                "replay",
                subject,
                f"the row says recalled={bool(batch['recalled'])}; the log recalled it {said}",
            )
        on_chain = batch["status"] in ("anchored", "recalled")
        if on_chain != (public_id in anchored):
            report.add(
                "replay",
                subject,
                f"the row's status is {batch['status']}; the log "
                + (
                    f"anchored it at entry {anchored[public_id]}"
                    if public_id in anchored
                    else "never anchored it"
                ),
            )
        rows_attestations = batch.get("attestations")
        logged = derived.attestations_requested.get(public_id, 0)
        if rows_attestations is not None and int(rows_attestations) != logged:
            report.add(
                "replay",
                subject,
                f"{rows_attestations} attestation rows; the log requested {logged}",
            )
    # Units: the pallet a case is on, then each receipt in log order.
    units = {u["sscc"]: u for u in export.records("units.ndjson")}
    holder: dict[str, Any] = {s: factory.get(u["batch_id"]) for s, u in units.items()}
    children: dict[str, list[str]] = {}
    for sscc, unit in units.items():
        if unit.get("parent"):
            children.setdefault(unit["parent"], []).append(sscc)
    for _, code, receiver in received:
        stack = [code]
        while stack:
            sscc = stack.pop()
            if sscc in holder:
                holder[sscc] = receiver
                stack.extend(children.get(sscc, []))
    for sscc, unit in units.items():
        rows += 1
        if unit.get("holder_id") != holder[sscc]:
            report.add(
                "replay",
                f"unit {sscc}",
                f"the row's holder is {unit.get('holder_id')}; the log gives {holder[sscc]}",
            )
    # Certificates.
    for cert in export.records("certificates.ndjson"):
        rows += 1
        derived = certs.get(cert["id"])
        if derived is None:
            report.add("replay", f"certificate {cert['id']}", "no event of the log created it")
        elif derived[0] != cert["state"]:
            report.add(
                "replay",
                f"certificate {cert['id']}",
                f"the row's state is {cert['state']}; the log gives {derived[0]} "
                f"(entry {derived[1]})",
            )
    report.facts["rows_replayed"] = rows
