"""The ChainError tree."""

from __future__ import annotations

import pickle

from chain.client import ChainIdentity
from chain.errors import (
    ArtifactNotFoundError,
    ChainError,
    ChainUnavailableError,
    ContractRevertError,
    GenesisMismatchError,
    NonceTooLowError,
    TransactionRejectedError,
    TransactionTimeoutError,
)


def test_every_chain_error_is_a_chain_error() -> None:
    for cls in (
        ChainUnavailableError,
        TransactionTimeoutError,
        ContractRevertError,
        GenesisMismatchError,
        NonceTooLowError,
        TransactionRejectedError,
        ArtifactNotFoundError,
    ):
        assert issubclass(cls, ChainError)


def test_contract_revert_error_carries_name_and_decoded_args() -> None:
    error = ContractRevertError("CertificateRegistryAlreadyClaimed", (7,))
    assert error.name == "CertificateRegistryAlreadyClaimed"
    assert error.args == (7,)
    assert str(error) == "CertificateRegistryAlreadyClaimed(7)"


def test_contract_revert_error_survives_pickling() -> None:
    error = ContractRevertError("X", (1, b"\x01"))
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.name, copy.args) == ("X", (1, b"\x01"))


def test_genesis_mismatch_names_both_identities() -> None:
    expected = ChainIdentity(1, b"\x01" * 32)
    actual = ChainIdentity(1, b"\x02" * 32)
    error = GenesisMismatchError(expected, actual)
    assert (error.expected, error.actual) == (expected, actual)
    assert "0101" in str(error) and "0202" in str(error)
