"""The cost of one online case receipt (issue 11, case-scan latency): every scan of a case goes
through this path, and its CPU is what eight clients wait behind. SQLAlchemy's statement path
(compile-cache lookup, parameter and result processing) costs more CPU than the database's work,
so the statements of every scan go through the driver or at least without an expanding IN."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event

from tests.integration.service.api.conftest import case_to_s1, scan_ok


def test_a_case_receipt_sends_few_statements_through_sqlalchemy(api, container, channel):
    c = channel
    case_to_s1(api, c, c.cases[0])
    engine = container.uow_factory.engine
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        answer = scan_ok(api, c.s1, action="receive", code=c.cases[0], site_id=c.s1_site)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert answer["shipment_status"] == "received" and answer["authorised"] is True
    # The log head (size and last leaf) and the shipment's counts go through the driver.
    assert not [s for s in statements if s.lstrip().upper().startswith("UPDATE")], statements
    # One case read by its SSCC and one shipment by its id: plain equality, no IN list.
    reads = [s for s in statements if "FROM logistic_units" in s or "FROM shipments" in s]
    assert reads and not [s for s in reads if " IN (" in s.replace("\n", " ")], reads
    assert len(statements) <= 6, statements
