"""The CBV 2.0 event hash of EPCIS events, with GS1's reference implementation
(``epcis-event-hash-generator``), kept offline.

The library expands each document as JSON-LD (to turn bare CBV terms such as ``shipping`` into
their web URIs) through pyld, whose default loader fetches every ``@context`` URL from the
network: the EPCIS context and, from it, the CBV sub-contexts. That would make capture depend
on the internet, and let a partner's document make the server fetch any URL it names. So pyld
gets a loader that never goes out: every spelling of the EPCIS 2.0 context is served from the
library's own copy (the one with the CBV vocabularies inlined), and any other context URL reads
as an empty context (a partner's prefixes declared inline still apply). The library keeps its
namespaces in module globals, so calls are serialised and those globals reset each time.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import cache
from importlib import resources
from typing import Any

from epcis_event_hash_generator import hash_generator, json_to_py
from pyld import jsonld

#: The EPCIS 2.0 context with the CBV vocabularies inlined, as the library ships it.
_INLINED_CONTEXT = "e532647e8eb371379b8b0e8602d8981c8566bc60f7351f22c76a5bc865962008.jsonld"
_LOCK = threading.Lock()
_library_time_stamp = hash_generator._fix_time_stamp_format


def _fix_time_stamp_format(timestamp: str) -> str:
    """The library's timestamp to milliseconds in UTC, carrying a rounded-up second.

    GS1's generator rounds the microseconds to milliseconds without carrying: a time of .9995 s
    or later becomes 1,000,000 microseconds, which raises, and the event could not be hashed
    (our own export of an event stamped at such a time was refused when posted back). Every
    other time gives the library's own answer."""
    try:
        fixed: str = _library_time_stamp(timestamp)
    except ValueError:
        at = datetime.fromisoformat(timestamp).astimezone(UTC)
        at = at.replace(microsecond=0) + timedelta(seconds=1)
        return at.isoformat(timespec="milliseconds")[:-6] + "Z"
    return fixed


hash_generator._fix_time_stamp_format = _fix_time_stamp_format


@cache
def _epcis_context() -> dict[str, Any]:
    text = resources.files("epcis_event_hash_generator").joinpath(_INLINED_CONTEXT).read_text()
    value = json.loads(text)
    assert isinstance(value, dict)
    return value


def _offline_loader(url: str, options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    document = _epcis_context() if url.endswith("epcis-context.jsonld") else {"@context": {}}
    return {
        "contentType": "application/ld+json",
        "contextUrl": None,
        "documentUrl": url,
        "document": document,
    }


def event_hashes(context: Any, events: Sequence[Mapping[str, Any]]) -> list[str]:
    """Return the CBV 2.0 event hash (``ni:///sha-256;<hex>?ver=CBV2.0``) of each event.

    ``context`` is the ``@context`` of the document the events came in (their prefixes).
    eventID, recordTime and errorDeclaration do not count (CBV 2.0), so an event and its copy
    without an id hash the same.

    Raises:
        ValueError: an event the algorithm cannot read.
    """
    if not events:
        return []
    document = {
        "@context": context,
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2000-01-01T00:00:00Z",
        "epcisBody": {"eventList": [dict(e) for e in events]},
    }
    with _LOCK:
        jsonld.set_document_loader(_offline_loader)
        json_to_py._namespaces = {}
        parsed = json_to_py.event_list_from_epcis_document_json(json.loads(json.dumps(document)))
        prehashes = hash_generator.derive_prehashes_from_events(parsed)
    if len(prehashes) != len(events):  # the library skips (and logs) events it cannot read
        raise ValueError("an event could not be read by the CBV 2.0 event hash algorithm")
    return list(hash_generator.calculate_hashes_from_pre_hashes(prehashes))
