import pytest

from service.domain.batches import (
    is_valid_public_id,
    new_public_id,
    validate_item_ids,
    validate_lot,
    validate_metadata,
)
from service.domain.errors import InvalidBatchError


def test_valid_item_ids_are_accepted_in_order():
    assert validate_item_ids(["A-1", "b.2", "c:3", "d_4"], 10) == ("A-1", "b.2", "c:3", "d_4")


@pytest.mark.parametrize(
    "bad",
    ["", "x" * 65, "has space", "nul\x00byte", "../etc", "ünïcode", "semi;colon", "a/b", "｡"],
)
def test_malformed_item_id_is_refused(bad):
    with pytest.raises(InvalidBatchError):
        validate_item_ids(["ok", bad], 10)


def test_duplicate_item_ids_are_refused():
    with pytest.raises(InvalidBatchError, match="repeats"):
        validate_item_ids(["a", "b", "a"], 10)


def test_empty_batch_is_refused():
    with pytest.raises(InvalidBatchError):
        validate_item_ids([], 10)


def test_batch_above_the_item_limit_is_refused():
    with pytest.raises(InvalidBatchError, match="at most 3"):
        validate_item_ids(["a", "b", "c", "d"], 3)


def test_sixty_four_character_item_id_is_the_longest_accepted():
    assert validate_item_ids(["x" * 64], 1) == ("x" * 64,)


def test_lot_follows_the_item_id_rules():
    assert validate_lot("LOT-2026.01") == "LOT-2026.01"
    with pytest.raises(InvalidBatchError):
        validate_lot("lot with spaces")


def test_metadata_with_nul_characters_is_refused():
    with pytest.raises(InvalidBatchError):
        validate_metadata({"note": "a\x00b"}, 10)
    with pytest.raises(InvalidBatchError):
        validate_metadata({"nested": [{"k\x00": 1}]}, 10)


def test_oversized_metadata_is_refused():
    with pytest.raises(InvalidBatchError):
        validate_metadata({}, 100_000)


def test_public_ids_are_random_and_well_formed():
    ids = {new_public_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(is_valid_public_id(i) for i in ids)
    assert not is_valid_public_id("b_" + "0" * 23)
