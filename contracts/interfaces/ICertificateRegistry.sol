// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC4906} from "@openzeppelin/contracts/interfaces/IERC4906.sol";

/**
 * @title ICertificateRegistry
 * @notice Digital certificates for traceable goods (one ERC-721 token per coded bottle).
 *
 * A factory anchors the Merkle root of each production batch. A certificate for an item of an anchored batch
 * is minted lazily when the item is claimed, by a relayer or by anyone holding a relayer-signed EIP-712
 * voucher bound to the recipient. Certificates can then be pledged, deposited with a custodian, redeemed,
 * or gifted through an escrow unlocked by a one-time key.
 *
 * Lock rules live in one place, the ERC-721 `_update` hook: a token moves only while its state is
 * `Active` and its batch is not recalled (moves out of gift escrow excepted), and nothing mints or moves
 * while the contract is paused. A recalled bottle is never handed out: {redeem}, {requestRedemption},
 * {fulfilRedemption} and {releaseCustody} refuse a recalled batch (returns are the brand's, off chain).
 *
 * Token ids are bound to their batch: `tokenId == uint256(keccak256(abi.encode(batchId, itemHash)))`
 * ({tokenIdOf}), checked at every claim. A serial reused in another batch, or re-anchored after a recall,
 * is another token and can never take or revive the genuine bottle's certificate.
 *
 * ERC-4906: `MetadataUpdate(tokenId)` follows every change of what {certificate} or {gift} returns for a
 * token after its mint, and a recall emits `BatchMetadataUpdate(0, type(uint256).max)` (token ids are
 * hashes, so a batch is no range). `supportsInterface(0x49064906)` is true.
 *
 * The registry is an ERC-2771 recipient: a call made through its trusted forwarder (a `TracecertForwarder`,
 * fixed at deployment, readable as `trustedForwarder()`) acts as the signer of the forwarded request. Every
 * "only the owner / pledgee / custodian / giver / role holder" below means that sender, so a relayer can
 * submit the owner's signed request while the owner's consent is checked on chain.
 *
 * Item leaf (double-hashed, sorted-pair tree of OpenZeppelin `MerkleProof`):
 * `keccak256(bytes.concat(keccak256(abi.encode(batchId, tokenId, itemHash))))`.
 */
interface ICertificateRegistry is IERC4906 {
    // ------------------------------------------------------------------------------------------------
    // Types
    // ------------------------------------------------------------------------------------------------

    /// @notice Lifecycle state of a certificate. `None` means never claimed; `Redeemed` is terminal.
    enum CertificateState {
        None,
        Active,
        Pledged,
        InCustody,
        Redeemed
    }

    /**
     * @notice An anchored production batch.
     * @param root Merkle root of the batch's item leaves (zero when not anchored).
     * @param itemCount Number of items in the batch, as declared by the factory.
     * @param anchoredAt Block timestamp of anchoring.
     * @param recalled Whether the batch has been recalled (claims, moves, new locks and hand-outs are blocked).
     * @param metadataHash Hash of the off-chain batch metadata.
     */
    struct BatchRecord {
        bytes32 root;
        uint64 itemCount;
        uint64 anchoredAt;
        bool recalled;
        bytes32 metadataHash;
    }

    /**
     * @notice The lifecycle record of one certificate.
     * @param batchId Batch the item belongs to (zero when not claimed).
     * @param state Current lifecycle state.
     * @param counterparty Pledgee while `Pledged`, custodian while `InCustody` and after a custodial
     * redemption, zero otherwise.
     * @param since Block timestamp at which the current lock (`Pledged`, `InCustody`, `Redeemed`) began;
     * zero while `Active`.
     * @param redemptionRequested Whether the owner asked the custodian to hand the item out.
     */
    struct Certificate {
        bytes32 batchId;
        CertificateState state;
        address counterparty;
        uint64 since;
        bool redemptionRequested;
    }

    /**
     * @notice One claim: mint `tokenId` of batch `batchId` to `to`.
     * @param batchId Batch whose anchored root must contain the item leaf.
     * @param tokenId Certificate token id: `tokenIdOf(batchId, itemHash)`, nothing else is accepted.
     * @param itemHash Hash of the item's off-chain data, part of the leaf.
     * @param to Recipient of the certificate.
     */
    struct ClaimRequest {
        bytes32 batchId;
        uint256 tokenId;
        bytes32 itemHash;
        address to;
    }

    /**
     * @notice A pending gift; the token is held by the registry until claimed or cancelled.
     * @param giver Owner who created the gift and may cancel it; an expired gift goes back to them.
     * @param claimKey Address of the one-time key whose EIP-712 `GiftClaim` signature releases the gift.
     * @param expiry Last block timestamp at which the gift can be claimed: the expiry it was created with,
     * pushed back by every second the registry has been paused since (see {createGift}).
     * @param nonce Global gift counter value assigned at creation; part of the signed message.
     */
    struct Gift {
        address giver;
        address claimKey;
        uint64 expiry;
        uint64 nonce;
    }

    // ------------------------------------------------------------------------------------------------
    // Events
    // ------------------------------------------------------------------------------------------------

    /**
     * @notice Emitted when a factory anchors a batch root.
     * @param batchId The batch.
     * @param root Merkle root of its item leaves.
     * @param itemCount Declared number of items.
     * @param metadataHash Hash of the off-chain batch metadata.
     */
    event BatchAnchored(bytes32 indexed batchId, bytes32 root, uint64 itemCount, bytes32 metadataHash);

    /**
     * @notice Emitted when a factory recalls a batch.
     * @param batchId The batch.
     * @param reasonHash Hash of the off-chain recall notice.
     */
    event BatchRecalled(bytes32 indexed batchId, bytes32 reasonHash);

    /**
     * @notice Emitted when an attestor publishes a report on a batch.
     * @param batchId The batch.
     * @param attestor The attestor account.
     * @param reportHash Hash of the report.
     * @param uri Where the report can be fetched.
     */
    event BatchAttested(bytes32 indexed batchId, address indexed attestor, bytes32 reportHash, string uri);

    /**
     * @notice Emitted when the root of the off-chain RFC 6962 event log is anchored.
     * @param size Number of log entries covered by `root`.
     * @param root RFC 6962 tree head for the first `size` entries.
     */
    event LogAnchored(uint64 indexed size, bytes32 root);

    /**
     * @notice Emitted when the admin takes back the latest log anchor (see {rewindLog}).
     * @param size The size whose anchor was taken back; `logRoot(size)` is zero again.
     * @param latest The latest anchored size from now on (the one anchored before `size`).
     */
    event LogRewound(uint64 indexed size, uint64 latest);

    /**
     * @notice Emitted when a certificate is minted by a claim.
     * @param tokenId The certificate.
     * @param batchId Its batch.
     * @param to The recipient.
     */
    event CertificateClaimed(uint256 indexed tokenId, bytes32 indexed batchId, address indexed to);

    /**
     * @notice Emitted by {claimBatch} for each item it skips, instead of reverting every other claim.
     * @param tokenId The certificate that was not minted.
     * @param batchId Its batch, as requested.
     * @param to The recipient it was requested for.
     * @param reason Selector of the error {claim} would have reverted with for this item alone:
     * {CertificateRegistryAlreadyClaimed}, {CertificateRegistryBatchIsRecalled},
     * {CertificateRegistryBatchNotAnchored}, {CertificateRegistryInvalidTokenId} or
     * {CertificateRegistryInvalidProof}.
     */
    event CertificateClaimSkipped(uint256 indexed tokenId, bytes32 indexed batchId, address indexed to, bytes4 reason);

    /**
     * @notice Emitted when an owner pledges a certificate.
     * @param tokenId The certificate.
     * @param owner Its owner.
     * @param pledgee The pledgee, who alone can release or foreclose.
     */
    event CertificatePledged(uint256 indexed tokenId, address indexed owner, address indexed pledgee);

    /**
     * @notice Emitted when a pledgee releases a pledge; the certificate is `Active` again.
     * @param tokenId The certificate.
     * @param pledgee The pledgee.
     */
    event CertificatePledgeReleased(uint256 indexed tokenId, address indexed pledgee);

    /**
     * @notice Emitted when a pledgee forecloses; the certificate moved to the pledgee and is `Active`.
     * @param tokenId The certificate.
     * @param pledgee The pledgee, now the owner.
     * @param formerOwner The owner who pledged it.
     */
    event CertificatePledgeForeclosed(uint256 indexed tokenId, address indexed pledgee, address indexed formerOwner);

    /**
     * @notice Emitted when an owner deposits a certificate (and the bottle) with a custodian.
     * @param tokenId The certificate.
     * @param custodian The custodian.
     * @param since Block timestamp at which custody began.
     */
    event CertificateCustodyStarted(uint256 indexed tokenId, address indexed custodian, uint64 since);

    /**
     * @notice Emitted when a custodian ends custody; the certificate is `Active` again.
     * @param tokenId The certificate.
     * @param custodian The custodian.
     * @param since Block timestamp at which custody began.
     * @param until Block timestamp at which custody ended.
     */
    event CertificateCustodyReleased(uint256 indexed tokenId, address indexed custodian, uint64 since, uint64 until);

    /**
     * @notice Emitted when the owner of a certificate in custody asks for the bottle to be handed out.
     * @param tokenId The certificate.
     * @param owner Its owner.
     */
    event CertificateRedemptionRequested(uint256 indexed tokenId, address indexed owner);

    /**
     * @notice Emitted when a certificate becomes `Redeemed` (terminal).
     * @param tokenId The certificate.
     * @param by The custodian who fulfilled the request, or the owner who redeemed directly.
     */
    event CertificateRedeemed(uint256 indexed tokenId, address indexed by);

    /**
     * @notice Emitted when an owner moves a certificate into gift escrow.
     * @param tokenId The certificate.
     * @param giver The owner.
     * @param claimKey Address of the one-time key that must sign the claim.
     * @param expiry Last block timestamp at which the gift can be claimed.
     * @param nonce Nonce to include in the `GiftClaim` signature.
     */
    event GiftCreated(uint256 indexed tokenId, address indexed giver, address claimKey, uint64 expiry, uint64 nonce);

    /**
     * @notice Emitted when a gift is claimed and the certificate leaves escrow.
     * @param tokenId The certificate.
     * @param to The recipient bound by the signature.
     */
    event GiftClaimed(uint256 indexed tokenId, address indexed to);

    /**
     * @notice Emitted when a giver cancels a gift and gets the certificate back.
     * @param tokenId The certificate.
     * @param giver The giver.
     */
    event GiftCancelled(uint256 indexed tokenId, address indexed giver);

    /**
     * @notice Emitted when the admin changes the token metadata base URI.
     * @param baseURI The new base URI.
     */
    event BaseURIUpdated(string baseURI);

    // ------------------------------------------------------------------------------------------------
    // Errors
    // ------------------------------------------------------------------------------------------------

    /// @notice Raised when anchoring a batch with a zero `batchId` or a zero root.
    /// @param batchId The batch id given.
    error CertificateRegistryInvalidBatch(bytes32 batchId);

    /// @notice Raised when anchoring a batch that is already anchored.
    /// @param batchId The batch.
    error CertificateRegistryBatchAlreadyAnchored(bytes32 batchId);

    /// @notice Raised when a batch must be anchored (claim, recall, attestation) and is not.
    /// @param batchId The batch.
    error CertificateRegistryBatchNotAnchored(bytes32 batchId);

    /// @notice Raised when claiming, moving or newly locking a certificate of a recalled batch, or recalling twice.
    /// @param batchId The batch.
    error CertificateRegistryBatchIsRecalled(bytes32 batchId);

    /// @notice Raised when a Merkle proof does not link the item leaf to the batch root.
    /// @param batchId The batch.
    /// @param tokenId The certificate.
    error CertificateRegistryInvalidProof(bytes32 batchId, uint256 tokenId);

    /// @notice Raised when a claim's `tokenId` is not `tokenIdOf(batchId, itemHash)`: a token id belongs to
    /// exactly one batch, so no other batch (one reusing the serial, or re-anchoring a recalled one) can mint it.
    /// @param batchId The batch named by the claim.
    /// @param tokenId The token id named by the claim.
    error CertificateRegistryInvalidTokenId(bytes32 batchId, uint256 tokenId);

    /// @notice Raised when `claimBatch` gets more than `MAX_CLAIM_BATCH` requests.
    /// @param count Number of requests.
    /// @param max The cap, `MAX_CLAIM_BATCH`.
    error CertificateRegistryTooManyClaims(uint256 count, uint256 max);

    /// @notice Raised when claiming a token id that was already claimed.
    /// @param tokenId The certificate.
    error CertificateRegistryAlreadyClaimed(uint256 tokenId);

    /// @notice Raised when a claim or gift recipient is the zero address or the registry itself, and when a
    /// token is transferred to the registry other than by {createGift} (it could never leave).
    /// @param to The rejected recipient.
    error CertificateRegistryInvalidRecipient(address to);

    /// @notice Raised when a claim voucher is used after its deadline.
    /// @param deadline The voucher's deadline.
    error CertificateRegistryVoucherExpired(uint256 deadline);

    /// @notice Raised when a voucher signature is malformed or its signer does not hold `RELAYER_ROLE`.
    /// @param signer The recovered signer (zero for a malformed signature).
    error CertificateRegistryInvalidVoucherSigner(address signer);

    /// @notice Raised when `claimBatch` gets a different number of requests and proofs.
    /// @param requests Number of requests.
    /// @param proofs Number of proofs.
    error CertificateRegistryLengthMismatch(uint256 requests, uint256 proofs);

    /// @notice Raised when anything tries to move a certificate whose state is not `Active`.
    /// @param tokenId The certificate.
    /// @param state Its state, as `uint8(CertificateState)`.
    error CertificateRegistryTokenLocked(uint256 tokenId, uint8 state);

    /// @notice Raised when an owner-only action is called by someone else (or for a token held in escrow).
    /// @param tokenId The certificate.
    /// @param caller The caller.
    error CertificateRegistryNotTokenOwner(uint256 tokenId, address caller);

    /// @notice Raised when pledging to an account without `PLEDGEE_ROLE`, or to oneself.
    /// @param pledgee The rejected pledgee.
    error CertificateRegistryInvalidPledgee(address pledgee);

    /// @notice Raised when depositing with an account without `CUSTODIAN_ROLE`, or with oneself.
    /// @param custodian The rejected custodian.
    error CertificateRegistryInvalidCustodian(address custodian);

    /// @notice Raised when a pledgee-only action is called by someone other than the recorded pledgee.
    /// @param tokenId The certificate.
    /// @param caller The caller.
    error CertificateRegistryNotPledgee(uint256 tokenId, address caller);

    /// @notice Raised when a custodian-only action is called by someone other than the recorded custodian.
    /// @param tokenId The certificate.
    /// @param caller The caller.
    error CertificateRegistryNotCustodian(uint256 tokenId, address caller);

    /// @notice Raised when a lifecycle action needs another state.
    /// @param tokenId The certificate.
    /// @param actual Its state, as `uint8(CertificateState)`.
    /// @param expected The state the action needs, as `uint8(CertificateState)`.
    error CertificateRegistryUnexpectedState(uint256 tokenId, uint8 actual, uint8 expected);

    /// @notice Raised when a custodian fulfils a redemption the owner has not requested.
    /// @param tokenId The certificate.
    error CertificateRegistryRedemptionNotRequested(uint256 tokenId);

    /// @notice Raised when claiming or cancelling a gift that does not exist (never created, claimed or cancelled).
    /// @param tokenId The certificate.
    error CertificateRegistryGiftNotFound(uint256 tokenId);

    /// @notice Raised when claiming a gift after its expiry.
    /// @param tokenId The certificate.
    /// @param expiry The gift's expiry.
    error CertificateRegistryGiftExpired(uint256 tokenId, uint64 expiry);

    /// @notice Raised when a gift claim is not signed by the gift's claim key (for this `to` and nonce),
    /// and when creating a gift with a zero claim key, which no signature could ever match.
    /// @param tokenId The certificate.
    error CertificateRegistryInvalidGiftSignature(uint256 tokenId);

    /// @notice Raised when a giver-only action is called by someone else.
    /// @param tokenId The certificate.
    /// @param caller The caller.
    error CertificateRegistryNotGiver(uint256 tokenId, address caller);

    /// @notice Raised when creating a gift whose expiry is not in the future.
    /// @param expiry The rejected expiry.
    error CertificateRegistryInvalidExpiry(uint64 expiry);

    /// @notice Raised when anchoring a log size that is not strictly greater than the latest one.
    /// @param size The rejected size.
    /// @param latest The latest anchored size.
    error CertificateRegistryLogSizeNotIncreasing(uint64 size, uint64 latest);

    /// @notice Raised when anchoring a batch of zero items, or calling `claimBatch` with no requests.
    error CertificateRegistryEmptyBatch();

    /// @notice Raised when anchoring a zero log root: no RFC 6962 tree head is zero (the empty log's is
    /// SHA-256 of nothing), and `logRoot` answers zero for "never anchored".
    error CertificateRegistryInvalidLogRoot();

    /// @notice Raised when {rewindLog} names another size than the latest anchored one, or there is no
    /// anchor to go back to (nothing anchored, or already rewound since the last anchor).
    /// @param size The size given.
    /// @param latest The latest anchored size.
    error CertificateRegistryLogNotRewindable(uint64 size, uint64 latest);

    // ------------------------------------------------------------------------------------------------
    // Roles
    // ------------------------------------------------------------------------------------------------

    /// @notice Role that anchors and recalls batches: `keccak256("FACTORY_ROLE")`.
    function FACTORY_ROLE() external view returns (bytes32);

    /// @notice Role that claims for users and signs claim vouchers: `keccak256("RELAYER_ROLE")`.
    function RELAYER_ROLE() external view returns (bytes32);

    /// @notice Role required of a custodian: `keccak256("CUSTODIAN_ROLE")`.
    function CUSTODIAN_ROLE() external view returns (bytes32);

    /// @notice Role required of a pledgee: `keccak256("PLEDGEE_ROLE")`.
    function PLEDGEE_ROLE() external view returns (bytes32);

    /// @notice Role that attests batches: `keccak256("ATTESTOR_ROLE")`.
    function ATTESTOR_ROLE() external view returns (bytes32);

    /// @notice Role that anchors the event-log root: `keccak256("ANCHOR_ROLE")`.
    function ANCHOR_ROLE() external view returns (bytes32);

    /// @notice Role that pauses and unpauses: `keccak256("PAUSER_ROLE")`.
    function PAUSER_ROLE() external view returns (bytes32);

    /// @notice Most requests one {claimBatch} takes (128). The worst case at the cap (every recipient a new
    /// owner, 20-deep proofs as in a batch of a million items) takes about 11.6M gas, under the 12M margin the
    /// contract tests assert: 40% of a 30M block, and under the 2^24 (16.8M) per-transaction gas cap of
    /// EIP-7825. `scripts/bench_chain.py` measures it too.
    function MAX_CLAIM_BATCH() external view returns (uint256);

    // ------------------------------------------------------------------------------------------------
    // Batches, attestations and the event log (never paused)
    // ------------------------------------------------------------------------------------------------

    /**
     * @notice Anchors the Merkle root of a batch. Only `FACTORY_ROLE`. Each batch is anchored once.
     * @dev Reverts with {CertificateRegistryInvalidBatch} for a zero id or root,
     * {CertificateRegistryEmptyBatch} for zero items and {CertificateRegistryBatchAlreadyAnchored}.
     * Emits {BatchAnchored}.
     * @param batchId The batch.
     * @param root Merkle root of its item leaves.
     * @param itemCount Number of items (non-zero).
     * @param metadataHash Hash of the off-chain batch metadata.
     */
    function anchorBatch(bytes32 batchId, bytes32 root, uint64 itemCount, bytes32 metadataHash) external;

    /**
     * @notice Recalls an anchored batch: its items can no longer be claimed, its certificates no longer move
     * or take new locks, and its bottles are never handed out (no redemption, no release from custody).
     * A pledge can still be released. Only `FACTORY_ROLE`; works while paused.
     * @dev Reverts with {CertificateRegistryBatchNotAnchored} or {CertificateRegistryBatchIsRecalled}.
     * Emits {BatchRecalled} and `BatchMetadataUpdate(0, type(uint256).max)`.
     * @param batchId The batch.
     * @param reasonHash Hash of the off-chain recall notice.
     */
    function recallBatch(bytes32 batchId, bytes32 reasonHash) external;

    /**
     * @notice Publishes an attestation (for example a lab report) on an anchored batch. Only `ATTESTOR_ROLE`.
     * @dev Reverts with {CertificateRegistryBatchNotAnchored}. Emits {BatchAttested}.
     * @param batchId The batch.
     * @param reportHash Hash of the report.
     * @param uri Where the report can be fetched.
     */
    function attestBatch(bytes32 batchId, bytes32 reportHash, string calldata uri) external;

    /**
     * @notice Anchors the RFC 6962 tree head of the off-chain event log. Only `ANCHOR_ROLE`. Sizes only grow,
     * so a size once anchored cannot be anchored again with another root; a wrong anchor (a zero root is
     * refused outright) is undone with {rewindLog}.
     * @dev Reverts with {CertificateRegistryInvalidLogRoot} for a zero root and
     * {CertificateRegistryLogSizeNotIncreasing} unless `size` > {latestLogSize}. Emits {LogAnchored}.
     * @param size Number of entries covered.
     * @param root Tree head for the first `size` entries (non-zero).
     */
    function anchorLog(uint64 size, bytes32 root) external;

    /**
     * @notice Takes back the latest log anchor: its root is deleted and {latestLogSize} is the size anchored
     * before it again, so anchoring resumes from there. Only `DEFAULT_ADMIN_ROLE` (keep it a key apart from
     * `ANCHOR_ROLE`). One step: a second rewind needs an anchor in between.
     *
     * Why a recovery path and not a bound on the jump: a single anchor of a size the log will never reach
     * (2^64-1, or any size far ahead) stops anchoring, because sizes must grow. A bound large enough never
     * to split a real anchor (the log can grow by millions between two anchors after an outage) still lets
     * one call jump to a size the log reaches only in years; a bound small enough to be caught up soon would
     * make the anchorer split its anchors and still stall until the log catches up. Taking back the one bad
     * anchor ends the stall at once, and the rewind is on chain ({LogRewound}) for every auditor to see.
     * @dev Reverts with {CertificateRegistryLogNotRewindable} unless `size` == {latestLogSize} and an anchor
     * before it is known. Emits {LogRewound}.
     * @param size The latest anchored size (guards against taking back an anchor made meanwhile).
     */
    function rewindLog(uint64 size) external;

    // ------------------------------------------------------------------------------------------------
    // Claims
    // ------------------------------------------------------------------------------------------------

    /**
     * @notice Mints `req.tokenId` to `req.to` if the item is in the anchored, non-recalled batch and the token
     * id is `tokenIdOf(req.batchId, req.itemHash)`. Only `RELAYER_ROLE`.
     * @dev Reverts with `EnforcedPause()`, {CertificateRegistryInvalidRecipient},
     * {CertificateRegistryBatchNotAnchored}, {CertificateRegistryBatchIsRecalled},
     * {CertificateRegistryInvalidTokenId}, {CertificateRegistryAlreadyClaimed} or
     * {CertificateRegistryInvalidProof}, checked in that order. Emits `Transfer` and {CertificateClaimed}.
     * @param req The claim.
     * @param proof Merkle proof of the item leaf against the batch root.
     */
    function claim(ClaimRequest calldata req, bytes32[] calldata proof) external;

    /**
     * @notice Claims several items in one transaction. Only `RELAYER_ROLE`. An item that cannot be claimed for
     * a reason of its own (already claimed, for instance by a voucher submitted first; its batch recalled or
     * not anchored; a token id or proof that does not fit) is skipped with {CertificateClaimSkipped} naming
     * the reason, and the others are minted. The caller's own errors revert the whole call.
     * @dev Reverts with `EnforcedPause()`, {CertificateRegistryEmptyBatch}, {CertificateRegistryLengthMismatch},
     * {CertificateRegistryTooManyClaims} (more than `MAX_CLAIM_BATCH`) or {CertificateRegistryInvalidRecipient}
     * (a zero or registry recipient: the request was built wrong). Emits `Transfer` and {CertificateClaimed}
     * per minted item, {CertificateClaimSkipped} per skipped one, in request order.
     * @param reqs The claims (at most `MAX_CLAIM_BATCH`).
     * @param proofs One Merkle proof per claim, in the same order.
     */
    function claimBatch(ClaimRequest[] calldata reqs, bytes32[][] calldata proofs) external;

    /**
     * @notice Claims with a voucher signed by a `RELAYER_ROLE` holder; anyone may submit it. The voucher
     * is the EIP-712 message
     * `ClaimVoucher(bytes32 batchId,uint256 tokenId,bytes32 itemHash,address to,uint256 deadline)`, so it
     * binds the recipient; replay is impossible because a token id is claimed once.
     * @dev Reverts with `EnforcedPause()`, {CertificateRegistryVoucherExpired} when
     * `block.timestamp > deadline`, {CertificateRegistryInvalidVoucherSigner}, or any other error of {claim}.
     * @param req The claim.
     * @param deadline Last block timestamp at which the voucher is valid.
     * @param proof Merkle proof of the item leaf against the batch root.
     * @param signature 65-byte ECDSA signature of the voucher.
     */
    function claimWithVoucher(
        ClaimRequest calldata req,
        uint256 deadline,
        bytes32[] calldata proof,
        bytes calldata signature
    ) external;

    // ------------------------------------------------------------------------------------------------
    // Pledge
    // ------------------------------------------------------------------------------------------------

    /**
     * @notice Pledges an `Active` certificate to a `PLEDGEE_ROLE` holder; it cannot move until released
     * or foreclosed. Only the owner.
     * @dev Reverts with {CertificateRegistryNotTokenOwner}, {CertificateRegistryUnexpectedState},
     * {CertificateRegistryInvalidPledgee}, {CertificateRegistryBatchIsRecalled} or `EnforcedPause()`.
     * Emits {CertificatePledged} and `MetadataUpdate`.
     * @param tokenId The certificate.
     * @param pledgee The pledgee.
     */
    function pledge(uint256 tokenId, address pledgee) external;

    /**
     * @notice Releases a pledge; the certificate is `Active` again. Only the recorded pledgee; works on
     * recalled batches.
     * @dev Reverts with {CertificateRegistryUnexpectedState}, {CertificateRegistryNotPledgee} or
     * `EnforcedPause()`. Emits {CertificatePledgeReleased} and `MetadataUpdate`.
     * @param tokenId The certificate.
     */
    function releasePledge(uint256 tokenId) external;

    /**
     * @notice Forecloses a pledge: the certificate becomes `Active` and moves to the pledgee. Only the
     * recorded pledgee. As a move, it is refused for a recalled batch (release the pledge instead).
     * @dev Reverts with {CertificateRegistryUnexpectedState}, {CertificateRegistryNotPledgee},
     * {CertificateRegistryBatchIsRecalled} or `EnforcedPause()`. Emits `Transfer`,
     * {CertificatePledgeForeclosed} and `MetadataUpdate`.
     * @param tokenId The certificate.
     */
    function foreclosePledge(uint256 tokenId) external;

    // ------------------------------------------------------------------------------------------------
    // Custody and redemption
    // ------------------------------------------------------------------------------------------------

    /**
     * @notice Deposits an `Active` certificate with a `CUSTODIAN_ROLE` holder (the bottle is in their
     * vault); it cannot move until released. Only the owner.
     * @dev Reverts with {CertificateRegistryNotTokenOwner}, {CertificateRegistryUnexpectedState},
     * {CertificateRegistryInvalidCustodian}, {CertificateRegistryBatchIsRecalled} or `EnforcedPause()`.
     * Emits {CertificateCustodyStarted} and `MetadataUpdate`.
     * @param tokenId The certificate.
     * @param custodian The custodian.
     */
    function depositToCustody(uint256 tokenId, address custodian) external;

    /**
     * @notice Ends custody; the certificate is `Active` again and any redemption request is dropped. Only
     * the recorded custodian. Refused for a recalled batch: the bottle would leave the warehouse, and a
     * recalled bottle is never handed out (the brand takes it back off chain).
     * @dev Reverts with {CertificateRegistryUnexpectedState}, {CertificateRegistryNotCustodian},
     * {CertificateRegistryBatchIsRecalled} or `EnforcedPause()`. Emits {CertificateCustodyReleased} and
     * `MetadataUpdate`.
     * @param tokenId The certificate.
     */
    function releaseCustody(uint256 tokenId) external;

    /**
     * @notice Asks the custodian to hand the bottle out. Only the owner, certificate `InCustody`, batch not
     * recalled. Asking again re-emits the events and changes nothing else.
     * @dev Reverts with {CertificateRegistryNotTokenOwner}, {CertificateRegistryUnexpectedState},
     * {CertificateRegistryBatchIsRecalled} or `EnforcedPause()`. Emits {CertificateRedemptionRequested} and
     * `MetadataUpdate`.
     * @param tokenId The certificate.
     */
    function requestRedemption(uint256 tokenId) external;

    /**
     * @notice Records that the custodian handed the bottle out: the certificate becomes `Redeemed`
     * (terminal). Only the recorded custodian, after the owner's request; never for a recalled batch.
     * @dev Reverts with {CertificateRegistryUnexpectedState}, {CertificateRegistryNotCustodian},
     * {CertificateRegistryRedemptionNotRequested}, {CertificateRegistryBatchIsRecalled} or `EnforcedPause()`.
     * Emits {CertificateRedeemed} and `MetadataUpdate`.
     * @param tokenId The certificate.
     */
    function fulfilRedemption(uint256 tokenId) external;

    /**
     * @notice Redeems an `Active` certificate whose bottle the owner is handed (by a store) or holds: `Redeemed`
     * (terminal). Only the owner; never for a recalled batch (the bottle goes back to the brand instead).
     * @dev Reverts with {CertificateRegistryNotTokenOwner}, {CertificateRegistryUnexpectedState},
     * {CertificateRegistryBatchIsRecalled} or `EnforcedPause()`. Emits {CertificateRedeemed} and
     * `MetadataUpdate`.
     * @param tokenId The certificate.
     */
    function redeem(uint256 tokenId) external;

    // ------------------------------------------------------------------------------------------------
    // Gifts
    // ------------------------------------------------------------------------------------------------

    /**
     * @notice Moves an `Active` certificate into escrow (this contract) until the holder of the one-time
     * key `claimKey` signs a claim or the gift is cancelled (see {cancelGift}). Only the owner. The key's
     * secret never goes on chain. Time the registry spends paused while the gift waits does not count
     * against it: every paused second pushes its expiry back by a second (nobody can claim or cancel
     * while paused), and {gift} reports the expiry so pushed back.
     * @dev Reverts with {CertificateRegistryNotTokenOwner}, {CertificateRegistryUnexpectedState},
     * {CertificateRegistryInvalidGiftSignature} (zero `claimKey`), {CertificateRegistryInvalidExpiry}
     * (expiry not in the future), {CertificateRegistryBatchIsRecalled} or `EnforcedPause()`.
     * Emits `Transfer`, {GiftCreated} and `MetadataUpdate`.
     * @param tokenId The certificate.
     * @param claimKey Address of the one-time key.
     * @param expiry Last block timestamp at which the gift can be claimed, if the registry is never paused.
     */
    function createGift(uint256 tokenId, address claimKey, uint64 expiry) external;

    /**
     * @notice Releases a gift to `to`. Anyone may submit; the EIP-712 message
     * `GiftClaim(uint256 tokenId,address to,uint64 nonce)` signed by the claim key binds the recipient, so a
     * front-runner cannot redirect it. Works on recalled batches (a move out of escrow).
     * @dev Reverts with {CertificateRegistryGiftNotFound}, {CertificateRegistryGiftExpired} when
     * `block.timestamp` is past the gift's expiry as {gift} reports it, {CertificateRegistryInvalidRecipient},
     * {CertificateRegistryInvalidGiftSignature} or `EnforcedPause()`. Emits `Transfer`, {GiftClaimed} and
     * `MetadataUpdate`.
     * @param tokenId The certificate.
     * @param to The recipient.
     * @param signature 65-byte ECDSA signature by the claim key.
     */
    function claimGift(uint256 tokenId, address to, bytes calldata signature) external;

    /**
     * @notice Cancels a pending gift and returns the certificate to the giver. The giver may cancel at any
     * time; once the gift has expired (`block.timestamp` past its expiry as {gift} reports it, when it can no
     * longer be claimed) anyone may, and the certificate still goes back to the giver. Works on recalled
     * batches (a move out of escrow).
     * @dev Reverts with {CertificateRegistryGiftNotFound}, {CertificateRegistryNotGiver} (a caller other than
     * the giver, up to and including the expiry) or `EnforcedPause()`. Emits `Transfer`, {GiftCancelled} and
     * `MetadataUpdate`.
     * @param tokenId The certificate.
     */
    function cancelGift(uint256 tokenId) external;

    // ------------------------------------------------------------------------------------------------
    // Administration
    // ------------------------------------------------------------------------------------------------

    /**
     * @notice Sets the base of `tokenURI` (`baseURI` + decimal token id). Only `DEFAULT_ADMIN_ROLE`.
     * @dev Emits {BaseURIUpdated}.
     * @param baseURI The new base URI.
     */
    function setBaseURI(string calldata baseURI) external;

    /**
     * @notice Stops all mints, moves and lifecycle changes. Anchoring, recalls, attestations and log
     * anchoring go on. Pending gifts do not age while paused (see {createGift}). Only `PAUSER_ROLE`.
     * @dev Reverts with `EnforcedPause()` when already paused. Emits `Paused`.
     */
    function pause() external;

    /**
     * @notice Lifts a pause. Only `PAUSER_ROLE`.
     * @dev Reverts with `ExpectedPause()` when not paused. Emits `Unpaused`.
     */
    function unpause() external;

    // ------------------------------------------------------------------------------------------------
    // Views
    // ------------------------------------------------------------------------------------------------

    /**
     * @notice The record of a batch (all zero when not anchored).
     * @param batchId The batch.
     * @return The batch record.
     */
    function batch(bytes32 batchId) external view returns (BatchRecord memory);

    /**
     * @notice Whether `proof` links the item leaf to the anchored root of `batchId` (recall not considered).
     * @param batchId The batch.
     * @param tokenId The certificate token id.
     * @param itemHash Hash of the item's data.
     * @param proof Merkle proof.
     * @return True if the batch is anchored and the proof is valid.
     */
    function verifyItem(
        bytes32 batchId,
        uint256 tokenId,
        bytes32 itemHash,
        bytes32[] calldata proof
    ) external view returns (bool);

    /**
     * @notice The lifecycle record of a certificate (all zero, state `None`, when not claimed).
     * @param tokenId The certificate.
     * @return The certificate record.
     */
    function certificate(uint256 tokenId) external view returns (Certificate memory);

    /**
     * @notice Whether `tokenId` has been claimed (certificates are never burned).
     * @param tokenId The certificate.
     * @return True once claimed.
     */
    function isClaimed(uint256 tokenId) external view returns (bool);

    /**
     * @notice The pending gift of a certificate (all zero when none); `expiry` is pushed back by the time the
     * registry has been paused since the gift was created, up to now.
     * @param tokenId The certificate.
     * @return The gift.
     */
    function gift(uint256 tokenId) external view returns (Gift memory);

    /**
     * @notice The largest anchored event-log size (zero before the first anchoring).
     * @return The size.
     */
    function latestLogSize() external view returns (uint64);

    /**
     * @notice The tree head anchored for a log size (zero when that size was never anchored).
     * @param size The log size.
     * @return The root.
     */
    function logRoot(uint64 size) external view returns (bytes32);

    /**
     * @notice Number of attestations published on a batch.
     * @param batchId The batch.
     * @return The count.
     */
    function attestationCount(bytes32 batchId) external view returns (uint256);

    /**
     * @notice The one token id an item of a batch can be claimed as:
     * `uint256(keccak256(abi.encode(batchId, itemHash)))`. The item hash commits to the serial and the batch
     * attributes, so the same serial in another batch is another token.
     * @param batchId The batch.
     * @param itemHash Hash of the item's data.
     * @return The token id.
     */
    function tokenIdOf(bytes32 batchId, bytes32 itemHash) external pure returns (uint256);

    /**
     * @notice The Merkle leaf of an item: `keccak256(bytes.concat(keccak256(abi.encode(batchId, tokenId, itemHash))))`.
     * @param batchId The batch.
     * @param tokenId The certificate token id.
     * @param itemHash Hash of the item's data.
     * @return The leaf.
     */
    function itemLeaf(bytes32 batchId, uint256 tokenId, bytes32 itemHash) external pure returns (bytes32);
}
