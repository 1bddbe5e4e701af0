"""Consumers: sign-up/sign-in with one-time codes, claims with the PIN, "my certificates"."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool

from service.api.clients import network_key
from service.api.deps import (
    ConsumerSession,
    ContainerDep,
    CurrentConsumer,
    IdempotencyKeyDep,
    ReadUowDep,
    idempotency_of,
)
from service.api.schemas import (
    AccountPublic,
    CertificatePublic,
    ClaimCreate,
    CodeRequest,
    CodeSentPublic,
    SessionCreate,
    SessionPublic,
    SessionRefresh,
    SessionTokensPublic,
    WalletBind,
    WalletChallenge,
)
from service.app import commands, consumers

router = APIRouter(tags=["consumers"])


@router.post("/accounts/codes", status_code=202, response_model=CodeSentPublic)
def request_code(body: CodeRequest, request: Request, container: ContainerDep) -> dict[str, Any]:
    """Send a one-time sign-in code to a phone number or email address (sign-up and sign-in
    are the same). Codes for one address are at least 30 s apart, at most 5 an hour; from one
    client network at most ``TRACECERT_OTP_MAX_PER_NETWORK_PER_HOUR``; overall at most the
    hourly and daily budgets. Beyond: 429 with ``Retry-After``."""
    settings = container.settings
    return consumers.request_code(
        commands.RequestCode(body.destination, network_key(request, settings.proxies)),
        container.uow_factory,
        container.secrets,
        container.otp_sender,
        container.clock,
        consumers.CodeLimits(
            settings.otp_max_per_network_per_hour,
            settings.otp_budget_per_hour,
            settings.otp_budget_per_day,
        ),
    )


@router.post("/accounts/sessions", status_code=201, response_model=SessionPublic)
def sign_in(body: SessionCreate, container: ContainerDep) -> dict[str, Any]:
    """Trade the code for a session token; the first sign-in creates the account and its
    custodial wallet. A code takes 5 wrong tries, then ask for a new one."""
    return consumers.sign_in(
        commands.SignIn(body.challenge_id, body.code),
        container.uow_factory,
        container.secrets,
        container.wallets,
        container.session_tokens,
        container.clock,
        timedelta(seconds=container.settings.consumer_session_ttl_s),
        timedelta(seconds=container.settings.consumer_refresh_ttl_s),
    )


@router.post("/accounts/sessions/refresh", response_model=SessionTokensPublic)
def refresh_session(body: SessionRefresh, container: ContainerDep) -> dict[str, Any]:
    """Trade the refresh token for a new access token and a new refresh token (the old one is
    spent: sent again, it ends the session, so a copied token is found out)."""
    return consumers.refresh(
        body.refresh_token,
        container.uow_factory,
        container.session_tokens,
        container.clock,
        timedelta(seconds=container.settings.consumer_session_ttl_s),
        timedelta(seconds=container.settings.consumer_refresh_ttl_s),
        lambda sid: container.reference_cache.forget(("session", sid)),
    )


@router.delete("/accounts/sessions/current", status_code=204)
async def sign_out(session: ConsumerSession, container: ContainerDep) -> Response:
    """Sign out: the token stops working at once."""
    container.reference_cache.forget(("session", session[1]))
    await run_in_threadpool(consumers.sign_out, session[1], container.uow_factory, container.clock)
    return Response(status_code=204)


@router.get("/account", response_model=AccountPublic)
def me(actor: CurrentConsumer, uow: ReadUowDep) -> dict[str, Any]:
    """The signed-in consumer's account (the sign-in address masked) and wallet."""
    return consumers.me(actor, uow)


@router.post("/account/wallet/challenge")
def wallet_challenge(
    body: WalletChallenge, actor: CurrentConsumer, container: ContainerDep
) -> dict[str, Any]:
    """Self-custody, step 1: the EIP-712 message your wallet signs to prove the address is
    yours (eth_signTypedData_v4)."""
    return consumers.wallet_challenge(
        actor, body.address, container.uow_factory, container.ledger, container.clock
    )


@router.put("/account/wallet", response_model=AccountPublic)
def bind_wallet(
    body: WalletBind, actor: CurrentConsumer, container: ContainerDep
) -> dict[str, Any]:
    """Self-custody, step 2: bind the address with its signature. Certificates then mint to it
    and every step you take is a request you sign. Only before your first claim."""
    return consumers.bind_wallet(
        actor,
        body.address,
        body.deadline,
        bytes.fromhex(body.signature[2:]),
        container.uow_factory,
        container.ledger,
        container.clock,
    )


@router.get("/me/certificates", response_model=list[CertificatePublic])
def my_certificates(
    actor: CurrentConsumer, uow: ReadUowDep, container: ContainerDep
) -> list[dict[str, Any]]:
    """The signed-in consumer's certificates, newest first, each with its history."""
    return consumers.my_certificates(actor, uow, container.clock, container.ledger)


@router.get("/me/certificates/{certificate_id}", response_model=CertificatePublic)
def my_certificate(
    certificate_id: str, actor: CurrentConsumer, uow: ReadUowDep, container: ContainerDep
) -> dict[str, Any]:
    """One of the signed-in consumer's certificates; anyone else's is 404."""
    return consumers.get_certificate(actor, uow, certificate_id, container.clock, container.ledger)


@router.post("/claims", status_code=202, response_model=CertificatePublic)
def claim(
    body: ClaimCreate,
    actor: CurrentConsumer,
    container: ContainerDep,
    idempotency_key: IdempotencyKeyDep,
) -> dict[str, Any]:
    """Claim a bottle's certificate with the PIN under its cap. Accepted at once
    (``claim_pending``); minted on chain shortly, in a transaction shared with other claims.
    Wrong PINs lock the bottle and the account for a while. Honours ``Idempotency-Key``."""
    idempotency = idempotency_of(idempotency_key, body)
    return consumers.claim(
        commands.ClaimCertificate(
            actor=actor,
            serial=body.serial,
            pin=body.pin,
            region=body.region,
            idempotency=idempotency,
        ),
        container.uow_factory,
        container.commitments,
        container.secrets,
        container.regions.tree,
        container.clock,
    )
