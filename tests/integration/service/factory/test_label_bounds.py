"""Printing labels is bounded: a file holds at most TRACECERT_LABEL_MAX_COUNT labels, and at
most TRACECERT_LABEL_MAX_PARALLEL files are made at once."""

from __future__ import annotations

import threading

from tests.integration.service.conftest import auth, make_batch


def test_more_labels_than_the_maximum_is_refused_with_a_range_to_ask_for(api, keys):
    batch = make_batch(api, keys.factory, "LOT-L", 12)
    path = f"/batches/{batch['id']}/labels.pdf"
    refused = api.get(path, params={"count": 10_001}, headers=auth(keys.factory))
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"] == "too_many_labels"
    assert "10,000" in refused.json()["detail"] and "offset" in refused.json()["detail"]
    served = api.get(path, params={"count": 10_000}, headers=auth(keys.factory))
    assert served.status_code == 200 and served.content.startswith(b"%PDF")


def test_a_third_label_file_while_two_are_being_made_is_refused_as_busy(
    api, container, keys, monkeypatch
):
    batch = make_batch(api, keys.factory, "LOT-P", 12)
    path = f"/batches/{batch['id']}/labels.pdf"
    printer = container.printer
    render = printer.write_label_sheets
    inside, release = threading.Semaphore(0), threading.Event()

    def slow_render(*args, **kwargs):
        inside.release()
        assert release.wait(30)
        return render(*args, **kwargs)

    monkeypatch.setattr(printer, "write_label_sheets", slow_render)
    answers: list = []
    threads = [
        threading.Thread(target=lambda: answers.append(api.get(path, headers=auth(keys.factory))))
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    try:
        assert inside.acquire(timeout=30) and inside.acquire(timeout=30)  # two renders running
        busy = api.get(path, headers=auth(keys.factory))
        assert busy.status_code == 503, busy.text
        assert busy.json()["error"] == "printer_busy" and busy.json()["detail"]
        assert int(busy.headers["Retry-After"]) > 0
    finally:
        release.set()
        for thread in threads:
            thread.join(30)
    assert [a.status_code for a in answers] == [200, 200]
    # The slots are free again.
    monkeypatch.setattr(printer, "write_label_sheets", render)
    assert api.get(path, headers=auth(keys.factory)).status_code == 200
