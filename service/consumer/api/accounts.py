"""Consumers: sign-up/sign-in with one-time codes, claims with the PIN, "my certificates"."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from service.api.clients import network_key
from service.api.deps import (
    ConsumerSession,
    ContainerDep,
    CurrentConsumer,
    IdempotencyKeyDep,
    idempotency_of,
    use_cases,
)
from service.consumer.api.scan import cookie_device
from service.consumer.api.schemas import (
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
from service.consumer.app import commands
from service.consumer.app.consumers import ConsumerUseCases
from service.kernel.gs1 import is_valid_serial_text

ConsumersDep = Annotated[ConsumerUseCases, Depends(use_cases("consumers"))]

#: How far back a scan by the claimer counts as verifying the bottle before its claim.
FIRST_SCAN_WINDOW = timedelta(days=30)

router = APIRouter(tags=["consumers"])


@router.post("/accounts/codes", status_code=202, response_model=CodeSentPublic)
def request_code(
    body: CodeRequest, request: Request, consumers: ConsumersDep, container: ContainerDep
) -> dict[str, Any]:
    """Send a one-time sign-in code to a phone number or email address (sign-up and sign-in
    are the same). Codes for one address are at least 30 s apart, at most 5 an hour; from one
    client network at most ``TRACECERT_OTP_MAX_PER_NETWORK_PER_HOUR``; overall at most the
    hourly and daily budgets. Beyond: 429 with ``Retry-After``."""
    return consumers.request_code(
        commands.RequestCode(body.destination, network_key(request, container.settings.proxies))
    )


@router.post("/accounts/sessions", status_code=201, response_model=SessionPublic)
def sign_in(body: SessionCreate, consumers: ConsumersDep) -> dict[str, Any]:
    """Trade the code for a session token; the first sign-in creates the account and its
    custodial wallet. A code takes 5 wrong tries, then ask for a new one."""
    return consumers.sign_in(commands.SignIn(body.challenge_id, body.code))


@router.post("/accounts/sessions/refresh", response_model=SessionTokensPublic)
def refresh_session(body: SessionRefresh, consumers: ConsumersDep) -> dict[str, Any]:
    """Trade the refresh token for a new access token and a new refresh token (the old one is
    spent: sent again, it ends the session, so a copied token is found out)."""
    return consumers.refresh(body.refresh_token)


@router.delete("/accounts/sessions/current", status_code=204)
async def sign_out(session: ConsumerSession, consumers: ConsumersDep) -> Response:
    """Sign out: the token stops working at once."""
    consumers.forget_session(session[1])
    await run_in_threadpool(consumers.sign_out, session[1])
    return Response(status_code=204)


@router.get("/account", response_model=AccountPublic)
def me(actor: CurrentConsumer, consumers: ConsumersDep) -> dict[str, Any]:
    """The signed-in consumer's account (the sign-in address masked) and wallet."""
    return consumers.me(actor)


@router.delete("/account", status_code=204)
def erase_account(
    actor: CurrentConsumer,
    consumers: ConsumersDep,
    confirm: Annotated[
        Literal["erase"],
        Query(description="Say 'erase': the account cannot be restored."),
    ],
) -> Response:
    """Erase your account (PIPL): your phone number or e-mail address, sign-in codes and
    sessions go; the account, its wallet and its history name nobody from now on (your
    certificates stay on chain, keyed to the wallet's address, which nobody can sign in to
    again), and every consent you gave is withdrawn. Download your data first (GET /me/data).
    Refused (409) while a certificate is on its way somewhere: a gift, pledge, storage,
    redemption or claim."""
    consumers.erase_account(actor)
    return Response(status_code=204)


@router.post("/account/wallet/challenge")
def wallet_challenge(
    body: WalletChallenge, actor: CurrentConsumer, consumers: ConsumersDep
) -> dict[str, Any]:
    """Self-custody, step 1: the EIP-712 message your wallet signs to prove the address is
    yours (eth_signTypedData_v4)."""
    return consumers.wallet_challenge(actor, body.address)


@router.put("/account/wallet", response_model=AccountPublic)
def bind_wallet(
    body: WalletBind, actor: CurrentConsumer, consumers: ConsumersDep
) -> dict[str, Any]:
    """Self-custody, step 2: bind the address with its signature. Certificates then mint to it
    and every step you take is a request you sign. Only before your first claim."""
    return consumers.bind_wallet(
        actor,
        body.address,
        body.deadline,
        bytes.fromhex(body.signature[2:]),
    )


@router.get("/me/certificates", response_model=list[CertificatePublic])
def my_certificates(actor: CurrentConsumer, consumers: ConsumersDep) -> list[dict[str, Any]]:
    """The signed-in consumer's certificates, newest first, each with its history."""
    return consumers.my_certificates(actor)


@router.get("/me/certificates/{certificate_id}", response_model=CertificatePublic)
def my_certificate(
    certificate_id: str, actor: CurrentConsumer, consumers: ConsumersDep
) -> dict[str, Any]:
    """One of the signed-in consumer's certificates; anyone else's is 404."""
    return consumers.get_certificate(actor, certificate_id)


@router.post("/claims", status_code=202, response_model=CertificatePublic)
def claim(
    body: ClaimCreate,
    request: Request,
    actor: CurrentConsumer,
    consumers: ConsumersDep,
    container: ContainerDep,
    idempotency_key: IdempotencyKeyDep,
) -> dict[str, Any]:
    """Claim a bottle's certificate with the PIN under its cap. Accepted at once
    (``claim_pending``); minted on chain shortly, in a transaction shared with other claims.
    Wrong PINs lock the bottle and the account for a while. Honours ``Idempotency-Key``."""
    idempotency = idempotency_of(idempotency_key, body)
    # The claiming phone, as its scans count it (the keyed hash of its device cookie): the
    # anti-farming screening counts the accounts each device claims for.
    device = cookie_device(request, container)
    # Did the claimer verify the bottle first (a scan by this phone, or signed in as them)?
    # The claim's log entry says so, and the first-scan points follow it.
    keys = container.device_keys
    sources = {keys.member_hash(actor.account_id)} if actor.account_id is not None else set()
    if device is not None:
        sources.add(device)
    since = container.clock.now() - FIRST_SCAN_WINDOW
    scanned = is_valid_serial_text(body.serial) and container.verifier.seen_by(
        body.serial, sources, since
    )
    return consumers.claim(
        commands.ClaimCertificate(
            actor=actor,
            serial=body.serial,
            pin=body.pin,
            region=body.region,
            idempotency=idempotency,
            device=device,
            scanned_first=scanned,
        )
    )
