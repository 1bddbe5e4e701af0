// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IERC165} from "@openzeppelin/contracts/interfaces/IERC165.sol";
import {ERC2771Context} from "@openzeppelin/contracts/metatx/ERC2771Context.sol";
import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";
import {Context} from "@openzeppelin/contracts/utils/Context.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";

import {ICertificateRegistry} from "./interfaces/ICertificateRegistry.sol";

/**
 * @title CertificateRegistry
 * @notice ERC-721 certificates for coded goods, minted lazily from anchored batch roots. See
 * {ICertificateRegistry} for the behaviour of every function.
 *
 * @dev Design notes:
 * - All lock rules are enforced in {_update}, the single choke point of OpenZeppelin 5 ERC-721 through which
 *   every mint and move passes. Lifecycle functions only change the recorded state.
 * - `Active` is stored as `CertificateState.None` (zero) for a claimed certificate: a claim then writes one
 *   new certificate slot (the batch id) instead of two, saving a 20k-gas zero-to-nonzero SSTORE per bottle.
 *   {_stateOf} translates; "claimed" means a non-zero batch id (batch ids are non-zero, tokens never burn).
 * - Claims use `_mint`, not `_safeMint`, and gifts use `_transfer`: no receiver callback, no reentrancy.
 * - A claim is checked by {_tryClaim}, which answers the reason an item cannot be minted instead of reverting:
 *   {claim} and {claimWithVoucher} revert with it, {claimBatch} skips the item and mints the others.
 * - Paused time is kept as a running total ({_pausedSeconds}); a gift stores its expiry less the total at its
 *   creation, so every paused second during its life pushes its expiry back, with no third storage slot.
 * - ERC-2771: every caller check (roles, ownership, approvals, pledgee, custodian, giver) reads {_msgSender},
 *   so the one trusted forwarder can relay a call signed by the owner, pledgee or custodian, and the call acts
 *   as that signer. Calls from anyone else are judged by `msg.sender` as before. The registry never calls
 *   itself (no multicall, no delegatecall), which ERC-2771 contexts must avoid.
 */
contract CertificateRegistry is ICertificateRegistry, ERC721, AccessControl, EIP712, Pausable, ERC2771Context {
    bytes32 public constant FACTORY_ROLE = keccak256("FACTORY_ROLE");
    bytes32 public constant RELAYER_ROLE = keccak256("RELAYER_ROLE");
    bytes32 public constant CUSTODIAN_ROLE = keccak256("CUSTODIAN_ROLE");
    bytes32 public constant PLEDGEE_ROLE = keccak256("PLEDGEE_ROLE");
    bytes32 public constant ATTESTOR_ROLE = keccak256("ATTESTOR_ROLE");
    bytes32 public constant ANCHOR_ROLE = keccak256("ANCHOR_ROLE");
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");

    /// @inheritdoc ICertificateRegistry
    uint256 public constant MAX_CLAIM_BATCH = 128;

    /// @dev ERC-4906 (metadata update events).
    bytes4 private constant _ERC4906_INTERFACE_ID = 0x49064906;

    bytes32 private constant _CLAIM_VOUCHER_TYPEHASH =
        keccak256("ClaimVoucher(bytes32 batchId,uint256 tokenId,bytes32 itemHash,address to,uint256 deadline)");
    bytes32 private constant _GIFT_CLAIM_TYPEHASH = keccak256("GiftClaim(uint256 tokenId,address to,uint64 nonce)");

    /// @dev Storage layout of a gift, packed into two slots (the ABI struct {Gift} would take three).
    /// `unpausedExpiry` is the expiry less {_pausedSeconds} at creation: the expiry is that plus
    /// {_pausedSeconds} now, so the time paused during the gift's life does not count against it.
    struct StoredGift {
        address giver;
        uint64 unpausedExpiry;
        address claimKey;
        uint64 nonce;
    }

    mapping(bytes32 batchId => BatchRecord) private _batches;
    mapping(uint256 tokenId => Certificate) private _certificates;
    mapping(uint256 tokenId => StoredGift) private _gifts;
    mapping(bytes32 batchId => uint256) private _attestationCounts;
    mapping(uint64 size => bytes32) private _logRoots;
    // The log anchor slot: the latest anchored size and the one before it (for {rewindLog}).
    uint64 private _latestLogSize;
    uint64 private _previousLogSize;
    // The gift slot: the gift counter and the pause clock that gift expiries read.
    uint64 private _giftNonce;
    /// @dev When the current pause began (meaningful only while paused).
    uint64 private _pausedSince;
    /// @dev Seconds paused before the current pause.
    uint64 private _pausedBefore;
    string private _baseTokenURI;

    /**
     * @param admin Receives `DEFAULT_ADMIN_ROLE` and `PAUSER_ROLE`.
     * @param trustedForwarder_ The ERC-2771 forwarder whose calls act as the request signer (a
     * `TracecertForwarder`); fixed for the life of the registry. The zero address disables relaying.
     */
    constructor(
        address admin,
        address trustedForwarder_
    )
        ERC721("tracecert Certificate", "TCERT")
        EIP712("TracecertCertificateRegistry", "1")
        ERC2771Context(trustedForwarder_)
    {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(PAUSER_ROLE, admin);
    }

    // ------------------------------------------------------------------------------------------------
    // Batches, attestations and the event log (never paused: audits go on during an incident)
    // ------------------------------------------------------------------------------------------------

    /// @inheritdoc ICertificateRegistry
    function anchorBatch(
        bytes32 batchId,
        bytes32 root,
        uint64 itemCount,
        bytes32 metadataHash
    ) external onlyRole(FACTORY_ROLE) {
        if (batchId == bytes32(0) || root == bytes32(0)) revert CertificateRegistryInvalidBatch(batchId);
        if (itemCount == 0) revert CertificateRegistryEmptyBatch();
        BatchRecord storage record = _batches[batchId];
        if (record.root != bytes32(0)) revert CertificateRegistryBatchAlreadyAnchored(batchId);
        record.root = root;
        record.itemCount = itemCount;
        record.anchoredAt = uint64(block.timestamp);
        record.metadataHash = metadataHash;
        emit BatchAnchored(batchId, root, itemCount, metadataHash);
    }

    /// @inheritdoc ICertificateRegistry
    function recallBatch(bytes32 batchId, bytes32 reasonHash) external onlyRole(FACTORY_ROLE) {
        BatchRecord storage record = _batches[batchId];
        if (record.root == bytes32(0)) revert CertificateRegistryBatchNotAnchored(batchId);
        if (record.recalled) revert CertificateRegistryBatchIsRecalled(batchId);
        record.recalled = true;
        emit BatchRecalled(batchId, reasonHash);
        // Token ids are hashes, not a range per batch: every token may have changed.
        emit BatchMetadataUpdate(0, type(uint256).max);
    }

    /// @inheritdoc ICertificateRegistry
    function attestBatch(
        bytes32 batchId,
        bytes32 reportHash,
        string calldata uri
    ) external onlyRole(ATTESTOR_ROLE) {
        if (_batches[batchId].root == bytes32(0)) revert CertificateRegistryBatchNotAnchored(batchId);
        // Cannot overflow: one increment per transaction.
        unchecked {
            ++_attestationCounts[batchId];
        }
        emit BatchAttested(batchId, _msgSender(), reportHash, uri);
    }

    /// @inheritdoc ICertificateRegistry
    function anchorLog(uint64 size, bytes32 root) external onlyRole(ANCHOR_ROLE) {
        if (root == bytes32(0)) revert CertificateRegistryInvalidLogRoot();
        uint64 latest = _latestLogSize;
        if (size <= latest) revert CertificateRegistryLogSizeNotIncreasing(size, latest);
        _previousLogSize = latest;
        _latestLogSize = size;
        _logRoots[size] = root;
        emit LogAnchored(size, root);
    }

    /// @inheritdoc ICertificateRegistry
    function rewindLog(uint64 size) external onlyRole(DEFAULT_ADMIN_ROLE) {
        uint64 latest = _latestLogSize;
        uint64 previous = _previousLogSize;
        // previous == latest: nothing anchored yet, or rewound already (the anchor before is not kept).
        if (size != latest || previous == latest) revert CertificateRegistryLogNotRewindable(size, latest);
        delete _logRoots[latest];
        _latestLogSize = previous;
        emit LogRewound(latest, previous);
    }

    // ------------------------------------------------------------------------------------------------
    // Claims (the pause is enforced by {_update} on mint)
    // ------------------------------------------------------------------------------------------------

    /// @inheritdoc ICertificateRegistry
    function claim(
        ClaimRequest calldata req,
        bytes32[] calldata proof
    ) external onlyRole(RELAYER_ROLE) whenNotPaused {
        _claim(req, proof);
    }

    /// @inheritdoc ICertificateRegistry
    function claimBatch(
        ClaimRequest[] calldata reqs,
        bytes32[][] calldata proofs
    ) external onlyRole(RELAYER_ROLE) whenNotPaused {
        uint256 n = reqs.length;
        if (n == 0) revert CertificateRegistryEmptyBatch();
        if (n != proofs.length) revert CertificateRegistryLengthMismatch(n, proofs.length);
        if (n > MAX_CLAIM_BATCH) revert CertificateRegistryTooManyClaims(n, MAX_CLAIM_BATCH);
        for (uint256 i; i < n; ) {
            ClaimRequest calldata req = reqs[i];
            bytes4 reason = _tryClaim(req, proofs[i]);
            if (reason != bytes4(0)) emit CertificateClaimSkipped(req.tokenId, req.batchId, req.to, reason);
            // Cannot overflow: i < n, and n is a calldata array length.
            unchecked {
                ++i;
            }
        }
    }

    /// @inheritdoc ICertificateRegistry
    function claimWithVoucher(
        ClaimRequest calldata req,
        uint256 deadline,
        bytes32[] calldata proof,
        bytes calldata signature
    ) external whenNotPaused {
        if (block.timestamp > deadline) revert CertificateRegistryVoucherExpired(deadline);
        bytes32 digest = _hashTypedDataV4(
            keccak256(abi.encode(_CLAIM_VOUCHER_TYPEHASH, req.batchId, req.tokenId, req.itemHash, req.to, deadline))
        );
        // The third value only details the recovery error; any error maps to our own revert below.
        // slither-disable-next-line unused-return
        (address signer, ECDSA.RecoverError err, ) = ECDSA.tryRecoverCalldata(digest, signature);
        if (err != ECDSA.RecoverError.NoError || !hasRole(RELAYER_ROLE, signer)) {
            revert CertificateRegistryInvalidVoucherSigner(signer);
        }
        _claim(req, proof);
    }

    // ------------------------------------------------------------------------------------------------
    // Pledge
    // ------------------------------------------------------------------------------------------------

    /// @inheritdoc ICertificateRegistry
    function pledge(uint256 tokenId, address pledgee) external whenNotPaused {
        address owner = _msgSender();
        Certificate storage cert = _lockableByOwner(tokenId, owner);
        if (pledgee == owner || !hasRole(PLEDGEE_ROLE, pledgee)) revert CertificateRegistryInvalidPledgee(pledgee);
        cert.state = CertificateState.Pledged;
        cert.counterparty = pledgee;
        cert.since = uint64(block.timestamp);
        emit CertificatePledged(tokenId, owner, pledgee);
        emit MetadataUpdate(tokenId);
    }

    /// @inheritdoc ICertificateRegistry
    function releasePledge(uint256 tokenId) external whenNotPaused {
        address pledgee = _msgSender();
        Certificate storage cert = _byPledgee(tokenId, pledgee);
        _unlock(cert);
        emit CertificatePledgeReleased(tokenId, pledgee);
        emit MetadataUpdate(tokenId);
    }

    /// @inheritdoc ICertificateRegistry
    function foreclosePledge(uint256 tokenId) external whenNotPaused {
        address pledgee = _msgSender();
        Certificate storage cert = _byPledgee(tokenId, pledgee);
        // Unlock first, then move through {_update} like any other transfer (it re-checks recall and pause).
        _unlock(cert);
        address formerOwner = _ownerOf(tokenId);
        _transfer(formerOwner, pledgee, tokenId);
        emit CertificatePledgeForeclosed(tokenId, pledgee, formerOwner);
        emit MetadataUpdate(tokenId);
    }

    // ------------------------------------------------------------------------------------------------
    // Custody and redemption
    // ------------------------------------------------------------------------------------------------

    /// @inheritdoc ICertificateRegistry
    function depositToCustody(uint256 tokenId, address custodian) external whenNotPaused {
        address owner = _msgSender();
        Certificate storage cert = _lockableByOwner(tokenId, owner);
        if (custodian == owner || !hasRole(CUSTODIAN_ROLE, custodian)) {
            revert CertificateRegistryInvalidCustodian(custodian);
        }
        uint64 since = uint64(block.timestamp);
        cert.state = CertificateState.InCustody;
        cert.counterparty = custodian;
        cert.since = since;
        emit CertificateCustodyStarted(tokenId, custodian, since);
        emit MetadataUpdate(tokenId);
    }

    /// @inheritdoc ICertificateRegistry
    function releaseCustody(uint256 tokenId) external whenNotPaused {
        address custodian = _msgSender();
        Certificate storage cert = _byCustodian(tokenId, custodian);
        // The bottle would leave the warehouse: a recalled one goes back to the brand instead.
        _requireNotRecalled(cert.batchId);
        uint64 since = cert.since;
        _unlock(cert);
        emit CertificateCustodyReleased(tokenId, custodian, since, uint64(block.timestamp));
        emit MetadataUpdate(tokenId);
    }

    /// @inheritdoc ICertificateRegistry
    function requestRedemption(uint256 tokenId) external whenNotPaused {
        address owner = _msgSender();
        Certificate storage cert = _byOwner(tokenId, owner);
        _expectState(tokenId, cert, CertificateState.InCustody);
        _requireNotRecalled(cert.batchId);
        cert.redemptionRequested = true;
        emit CertificateRedemptionRequested(tokenId, owner);
        emit MetadataUpdate(tokenId);
    }

    /// @inheritdoc ICertificateRegistry
    function fulfilRedemption(uint256 tokenId) external whenNotPaused {
        address custodian = _msgSender();
        Certificate storage cert = _byCustodian(tokenId, custodian);
        if (!cert.redemptionRequested) revert CertificateRegistryRedemptionNotRequested(tokenId);
        _requireNotRecalled(cert.batchId);
        // The custodian stays recorded as counterparty: it is who handed the bottle out.
        cert.state = CertificateState.Redeemed;
        cert.since = uint64(block.timestamp);
        cert.redemptionRequested = false;
        emit CertificateRedeemed(tokenId, custodian);
        emit MetadataUpdate(tokenId);
    }

    /// @inheritdoc ICertificateRegistry
    function redeem(uint256 tokenId) external whenNotPaused {
        address owner = _msgSender();
        Certificate storage cert = _byOwner(tokenId, owner);
        _expectState(tokenId, cert, CertificateState.Active);
        _requireNotRecalled(cert.batchId);
        cert.state = CertificateState.Redeemed;
        cert.since = uint64(block.timestamp);
        emit CertificateRedeemed(tokenId, owner);
        emit MetadataUpdate(tokenId);
    }

    // ------------------------------------------------------------------------------------------------
    // Gifts
    // ------------------------------------------------------------------------------------------------

    /// @inheritdoc ICertificateRegistry
    function createGift(uint256 tokenId, address claimKey, uint64 expiry) external whenNotPaused {
        address giver = _msgSender();
        Certificate storage cert = _byOwner(tokenId, giver);
        _expectState(tokenId, cert, CertificateState.Active);
        if (claimKey == address(0)) revert CertificateRegistryInvalidGiftSignature(tokenId);
        if (expiry <= block.timestamp) revert CertificateRegistryInvalidExpiry(expiry);
        // A fresh global nonce: a signature made for an earlier (cancelled) gift of this token never matches.
        uint64 nonce = ++_giftNonce;
        // Cannot underflow: expiry > block.timestamp >= deployment time + every second paused since.
        uint64 unpausedExpiry = expiry - _pausedSeconds();
        _gifts[tokenId] = StoredGift({
            giver: giver,
            unpausedExpiry: unpausedExpiry,
            claimKey: claimKey,
            nonce: nonce
        });
        // Into escrow through {_update}, which refuses recalled batches.
        _transfer(giver, address(this), tokenId);
        emit GiftCreated(tokenId, giver, claimKey, expiry, nonce);
        emit MetadataUpdate(tokenId);
    }

    /// @inheritdoc ICertificateRegistry
    function claimGift(uint256 tokenId, address to, bytes calldata signature) external whenNotPaused {
        StoredGift storage stored = _gifts[tokenId];
        address claimKey = stored.claimKey;
        if (claimKey == address(0)) revert CertificateRegistryGiftNotFound(tokenId);
        uint64 expiry = _expiryOf(stored);
        if (block.timestamp > expiry) revert CertificateRegistryGiftExpired(tokenId, expiry);
        if (to == address(0) || to == address(this)) revert CertificateRegistryInvalidRecipient(to);
        bytes32 digest = _hashTypedDataV4(keccak256(abi.encode(_GIFT_CLAIM_TYPEHASH, tokenId, to, stored.nonce)));
        // As in {claimWithVoucher}: any recovery error is an invalid signature.
        // slither-disable-next-line unused-return
        (address signer, ECDSA.RecoverError err, ) = ECDSA.tryRecoverCalldata(digest, signature);
        if (err != ECDSA.RecoverError.NoError || signer != claimKey) {
            revert CertificateRegistryInvalidGiftSignature(tokenId);
        }
        delete _gifts[tokenId];
        _transfer(address(this), to, tokenId);
        emit GiftClaimed(tokenId, to);
        emit MetadataUpdate(tokenId);
    }

    /// @inheritdoc ICertificateRegistry
    function cancelGift(uint256 tokenId) external whenNotPaused {
        StoredGift storage stored = _gifts[tokenId];
        address giver = stored.giver;
        if (giver == address(0)) revert CertificateRegistryGiftNotFound(tokenId);
        // Once it can no longer be claimed, anyone (the service's sender, a keeper) may return an expired
        // gift: it can only ever go back to its giver, so there is nothing to protect from strangers.
        if (block.timestamp <= _expiryOf(stored)) {
            address caller = _msgSender();
            if (caller != giver) revert CertificateRegistryNotGiver(tokenId, caller);
        }
        delete _gifts[tokenId];
        _transfer(address(this), giver, tokenId);
        emit GiftCancelled(tokenId, giver);
        emit MetadataUpdate(tokenId);
    }

    // ------------------------------------------------------------------------------------------------
    // Administration
    // ------------------------------------------------------------------------------------------------

    /// @inheritdoc ICertificateRegistry
    function setBaseURI(string calldata baseURI) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _baseTokenURI = baseURI;
        emit BaseURIUpdated(baseURI);
    }

    /// @inheritdoc ICertificateRegistry
    function pause() external onlyRole(PAUSER_ROLE) {
        _requireNotPaused();
        _pausedSince = uint64(block.timestamp);
        _pause();
    }

    /// @inheritdoc ICertificateRegistry
    function unpause() external onlyRole(PAUSER_ROLE) {
        _requirePaused();
        // Cannot overflow: seconds paused never exceed the seconds elapsed since deployment.
        unchecked {
            _pausedBefore += uint64(block.timestamp) - _pausedSince;
        }
        _unpause();
    }

    // ------------------------------------------------------------------------------------------------
    // Views
    // ------------------------------------------------------------------------------------------------

    /// @inheritdoc ICertificateRegistry
    function batch(bytes32 batchId) external view returns (BatchRecord memory) {
        return _batches[batchId];
    }

    /// @inheritdoc ICertificateRegistry
    function verifyItem(
        bytes32 batchId,
        uint256 tokenId,
        bytes32 itemHash,
        bytes32[] calldata proof
    ) external view returns (bool) {
        bytes32 root = _batches[batchId].root;
        return root != bytes32(0) && MerkleProof.verifyCalldata(proof, root, itemLeaf(batchId, tokenId, itemHash));
    }

    /// @inheritdoc ICertificateRegistry
    function certificate(uint256 tokenId) external view returns (Certificate memory cert) {
        cert = _certificates[tokenId];
        cert.state = _stateOf(cert.batchId, cert.state);
    }

    /// @inheritdoc ICertificateRegistry
    function isClaimed(uint256 tokenId) external view returns (bool) {
        return _certificates[tokenId].batchId != bytes32(0);
    }

    /// @inheritdoc ICertificateRegistry
    function gift(uint256 tokenId) external view returns (Gift memory) {
        StoredGift storage stored = _gifts[tokenId];
        if (stored.giver == address(0)) return Gift(address(0), address(0), 0, 0);
        return Gift({giver: stored.giver, claimKey: stored.claimKey, expiry: _expiryOf(stored), nonce: stored.nonce});
    }

    /// @inheritdoc ICertificateRegistry
    function latestLogSize() external view returns (uint64) {
        return _latestLogSize;
    }

    /// @inheritdoc ICertificateRegistry
    function logRoot(uint64 size) external view returns (bytes32) {
        return _logRoots[size];
    }

    /// @inheritdoc ICertificateRegistry
    function attestationCount(bytes32 batchId) external view returns (uint256) {
        return _attestationCounts[batchId];
    }

    /// @inheritdoc ICertificateRegistry
    function tokenIdOf(bytes32 batchId, bytes32 itemHash) public pure returns (uint256) {
        return uint256(keccak256(abi.encode(batchId, itemHash)));
    }

    /// @inheritdoc ICertificateRegistry
    function itemLeaf(bytes32 batchId, uint256 tokenId, bytes32 itemHash) public pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(batchId, tokenId, itemHash))));
    }

    /// @inheritdoc ERC721
    function supportsInterface(
        bytes4 interfaceId
    ) public view override(ERC721, AccessControl, IERC165) returns (bool) {
        return
            interfaceId == type(ICertificateRegistry).interfaceId ||
            interfaceId == _ERC4906_INTERFACE_ID ||
            super.supportsInterface(interfaceId);
    }

    // ------------------------------------------------------------------------------------------------
    // Internals
    // ------------------------------------------------------------------------------------------------

    /**
     * @dev The one place where lock rules are enforced; every mint and move passes here.
     * - Nothing mints or moves while paused.
     * - A move of an existing token needs state `Active` ({CertificateRegistryTokenLocked} otherwise).
     * - A move needs a non-recalled batch ({CertificateRegistryBatchIsRecalled}), except a move out of gift
     *   escrow (the registry itself holds the token), so gifts can still be claimed or returned.
     * - Only {createGift} may move a token into the registry: anything else sent here could never leave
     *   ({CertificateRegistryInvalidRecipient}).
     * Tokens are never burned, so `to` is never zero here.
     */
    function _update(address to, uint256 tokenId, address auth) internal override returns (address) {
        _requireNotPaused();
        if (to == address(this) && _gifts[tokenId].claimKey == address(0)) {
            revert CertificateRegistryInvalidRecipient(to);
        }
        address from = _ownerOf(tokenId);
        if (from != address(0)) {
            Certificate storage cert = _certificates[tokenId];
            CertificateState stored = cert.state;
            if (stored != CertificateState.None) revert CertificateRegistryTokenLocked(tokenId, uint8(stored));
            if (from != address(this)) {
                bytes32 batchId = cert.batchId;
                if (_batches[batchId].recalled) revert CertificateRegistryBatchIsRecalled(batchId);
            }
        }
        return super._update(to, tokenId, auth);
    }

    /// @dev The ERC-2771 sender: the request signer when the trusted forwarder calls, else `msg.sender`.
    /// ERC721 (approvals, transfers), AccessControl (roles) and Pausable read it through {Context} too.
    function _msgSender() internal view override(Context, ERC2771Context) returns (address) {
        return ERC2771Context._msgSender();
    }

    /// @dev The calldata without the ERC-2771 sender suffix when the trusted forwarder calls.
    function _msgData() internal view override(Context, ERC2771Context) returns (bytes calldata) {
        return ERC2771Context._msgData();
    }

    /// @dev 20 bytes: the sender address the forwarder appends to the calldata.
    function _contextSuffixLength() internal view override(Context, ERC2771Context) returns (uint256) {
        return ERC2771Context._contextSuffixLength();
    }

    /// @dev Base of {tokenURI}, settable by the admin.
    function _baseURI() internal view override returns (string memory) {
        return _baseTokenURI;
    }

    /// @dev Mints one claim, or reverts with the reason it cannot be minted.
    function _claim(ClaimRequest calldata req, bytes32[] calldata proof) private {
        bytes4 reason = _tryClaim(req, proof);
        if (reason == bytes4(0)) return;
        bytes32 batchId = req.batchId;
        uint256 tokenId = req.tokenId;
        if (reason == CertificateRegistryBatchNotAnchored.selector) revert CertificateRegistryBatchNotAnchored(batchId);
        if (reason == CertificateRegistryBatchIsRecalled.selector) revert CertificateRegistryBatchIsRecalled(batchId);
        if (reason == CertificateRegistryInvalidTokenId.selector) revert CertificateRegistryInvalidTokenId(batchId, tokenId);
        if (reason == CertificateRegistryAlreadyClaimed.selector) revert CertificateRegistryAlreadyClaimed(tokenId);
        revert CertificateRegistryInvalidProof(batchId, tokenId);
    }

    /**
     * @dev Mints one claim and answers zero, or answers the selector of the error that stops this item alone
     * (see {CertificateClaimSkipped}); nothing is written then. A recipient that no claim may have (zero, the
     * registry) is the caller's error and reverts. The pause is checked by the callers (and by {_update}).
     */
    function _tryClaim(ClaimRequest calldata req, bytes32[] calldata proof) private returns (bytes4) {
        address to = req.to;
        if (to == address(0) || to == address(this)) revert CertificateRegistryInvalidRecipient(to);
        bytes32 batchId = req.batchId;
        BatchRecord storage record = _batches[batchId];
        bytes32 root = record.root;
        if (root == bytes32(0)) return CertificateRegistryBatchNotAnchored.selector;
        if (record.recalled) return CertificateRegistryBatchIsRecalled.selector;
        uint256 tokenId = req.tokenId;
        bytes32 itemHash = req.itemHash;
        // Before the claimed check: a token id of another batch is refused as such, not as "claimed".
        if (tokenId != tokenIdOf(batchId, itemHash)) return CertificateRegistryInvalidTokenId.selector;
        Certificate storage cert = _certificates[tokenId];
        if (cert.batchId != bytes32(0)) return CertificateRegistryAlreadyClaimed.selector;
        if (!MerkleProof.verifyCalldata(proof, root, itemLeaf(batchId, tokenId, itemHash))) {
            return CertificateRegistryInvalidProof.selector;
        }
        // State stays zero, which reads as Active (see the contract notes).
        cert.batchId = batchId;
        _mint(to, tokenId);
        emit CertificateClaimed(tokenId, batchId, to);
        return bytes4(0);
    }

    /// @dev Reverts with {CertificateRegistryBatchIsRecalled} if `batchId` is recalled.
    function _requireNotRecalled(bytes32 batchId) private view {
        if (_batches[batchId].recalled) revert CertificateRegistryBatchIsRecalled(batchId);
    }

    /// @dev Seconds the registry has been paused, the current pause included.
    function _pausedSeconds() private view returns (uint64) {
        if (!paused()) return _pausedBefore;
        // Cannot overflow or underflow: both terms count seconds since deployment, and the pause began at or
        // before this block.
        unchecked {
            return _pausedBefore + (uint64(block.timestamp) - _pausedSince);
        }
    }

    /// @dev A gift's expiry: the one it was created with, pushed back by the seconds paused since. Saturates
    /// at the largest uint64 (an expiry that far away never comes), so no gift ever becomes unreadable.
    function _expiryOf(StoredGift storage stored) private view returns (uint64) {
        uint256 expiry = uint256(stored.unpausedExpiry) + _pausedSeconds();
        return expiry > type(uint64).max ? type(uint64).max : uint64(expiry);
    }

    /// @dev The certificate of a token `caller` owns; {CertificateRegistryNotTokenOwner} otherwise (also for
    /// unclaimed tokens and tokens in escrow).
    function _byOwner(uint256 tokenId, address caller) private view returns (Certificate storage cert) {
        if (_ownerOf(tokenId) != caller) revert CertificateRegistryNotTokenOwner(tokenId, caller);
        cert = _certificates[tokenId];
    }

    /// @dev The certificate of an `Active` token `caller` owns, whose batch is not recalled: one that may
    /// take a new lock.
    function _lockableByOwner(uint256 tokenId, address caller) private view returns (Certificate storage cert) {
        cert = _byOwner(tokenId, caller);
        _expectState(tokenId, cert, CertificateState.Active);
        _requireNotRecalled(cert.batchId);
    }

    /// @dev The certificate of a `Pledged` token whose recorded pledgee is `caller`.
    function _byPledgee(uint256 tokenId, address caller) private view returns (Certificate storage cert) {
        cert = _certificates[tokenId];
        _expectState(tokenId, cert, CertificateState.Pledged);
        if (cert.counterparty != caller) revert CertificateRegistryNotPledgee(tokenId, caller);
    }

    /// @dev The certificate of an `InCustody` token whose recorded custodian is `caller`.
    function _byCustodian(uint256 tokenId, address caller) private view returns (Certificate storage cert) {
        cert = _certificates[tokenId];
        _expectState(tokenId, cert, CertificateState.InCustody);
        if (cert.counterparty != caller) revert CertificateRegistryNotCustodian(tokenId, caller);
    }

    /// @dev Reverts with {CertificateRegistryUnexpectedState} unless the certificate is in `expected`.
    function _expectState(uint256 tokenId, Certificate storage cert, CertificateState expected) private view {
        CertificateState actual = _stateOf(cert.batchId, cert.state);
        if (actual != expected) revert CertificateRegistryUnexpectedState(tokenId, uint8(actual), uint8(expected));
    }

    /// @dev Back to `Active` (stored as zero): clears the lock slot, refunding most of its cost.
    function _unlock(Certificate storage cert) private {
        cert.state = CertificateState.None;
        cert.counterparty = address(0);
        cert.since = 0;
        cert.redemptionRequested = false;
    }

    /// @dev Public state from stored state: a claimed certificate with no lock recorded is `Active`.
    function _stateOf(bytes32 batchId, CertificateState stored) private pure returns (CertificateState) {
        if (stored == CertificateState.None && batchId != bytes32(0)) return CertificateState.Active;
        return stored;
    }
}
