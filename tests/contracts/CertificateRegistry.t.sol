// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {ERC2771Forwarder} from "@openzeppelin/contracts/metatx/ERC2771Forwarder.sol";
import {IERC4906} from "@openzeppelin/contracts/interfaces/IERC4906.sol";
import {IERC721} from "@openzeppelin/contracts/token/ERC721/IERC721.sol";
import {IERC721Metadata} from "@openzeppelin/contracts/token/ERC721/extensions/IERC721Metadata.sol";
import {IERC165} from "@openzeppelin/contracts/utils/introspection/IERC165.sol";
import {Errors} from "@openzeppelin/contracts/utils/Errors.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {Strings} from "@openzeppelin/contracts/utils/Strings.sol";

import {CertificateRegistry} from "../../contracts/CertificateRegistry.sol";
import {TracecertForwarder} from "../../contracts/TracecertForwarder.sol";
import {ICertificateRegistry} from "../../contracts/interfaces/ICertificateRegistry.sol";
import {Test, Vm} from "./utils/Test.sol";

/// @dev Shared fixture: a registry (trusting its own forwarder) with every role handed out and three
/// anchored four-item batches.
abstract contract RegistryFixture is Test {
    CertificateRegistry internal reg;
    TracecertForwarder internal fwd;

    address internal constant ADMIN = address(0xAD);
    address internal constant FACTORY = address(0xFAC);
    address internal constant ATTESTOR = address(0xA77);
    address internal constant ANCHORER = address(0xA4C);
    address internal constant BANK = address(0xBA4C);
    address internal constant VAULT = address(0x7A17);
    address internal constant BOB = address(0xB0B);
    address internal constant CAROL = address(0xCA401);
    address internal constant STRANGER = address(0x5742);

    uint256 internal constant RELAYER_KEY = 0xBEEF;
    uint256 internal constant ALICE_KEY = 0xA11CE;
    uint256 internal constant CLAIM_KEY = 0xC1A1;
    address internal RELAYER;
    address internal ALICE;
    address internal CLAIM_KEY_ADDR;

    bytes32 internal constant BATCH_A = keccak256("batch-A");
    bytes32 internal constant BATCH_B = keccak256("batch-B");
    bytes32 internal constant BATCH_C = keccak256("batch-C");
    // Items are numbered base+1..base+4; item n of batch b has the item hash _itemHash(n) and the token id
    // _tid(b, n) = tokenIdOf(b, _itemHash(n)).
    uint256 internal constant BASE_A = 100; // items 101..104
    uint256 internal constant BASE_B = 200; // items 201..204
    uint256 internal constant BASE_C = 300; // items 301..304, unanchored until a test anchors it
    bytes32 internal constant META = keccak256("metadata");
    uint256 internal constant T0 = 1_800_000_000;

    bytes32 internal constant CLAIM_VOUCHER_TYPEHASH =
        keccak256("ClaimVoucher(bytes32 batchId,uint256 tokenId,bytes32 itemHash,address to,uint256 deadline)");
    bytes32 internal constant GIFT_CLAIM_TYPEHASH = keccak256("GiftClaim(uint256 tokenId,address to,uint64 nonce)");

    function setUp() public virtual {
        vm.warp(T0);
        RELAYER = vm.addr(RELAYER_KEY);
        ALICE = vm.addr(ALICE_KEY);
        CLAIM_KEY_ADDR = vm.addr(CLAIM_KEY);
        fwd = new TracecertForwarder();
        reg = new CertificateRegistry(ADMIN, address(fwd));
        vm.startPrank(ADMIN);
        reg.grantRole(reg.FACTORY_ROLE(), FACTORY);
        reg.grantRole(reg.RELAYER_ROLE(), RELAYER);
        reg.grantRole(reg.CUSTODIAN_ROLE(), VAULT);
        reg.grantRole(reg.PLEDGEE_ROLE(), BANK);
        reg.grantRole(reg.ATTESTOR_ROLE(), ATTESTOR);
        reg.grantRole(reg.ANCHOR_ROLE(), ANCHORER);
        vm.stopPrank();
        vm.startPrank(FACTORY);
        reg.anchorBatch(BATCH_A, _root(BATCH_A, BASE_A), 4, META);
        reg.anchorBatch(BATCH_B, _root(BATCH_B, BASE_B), 4, META);
        vm.stopPrank();
    }

    // ---- Merkle helpers, written independently of the contract (sorted pairs, double-hashed leaves) ----

    function _itemHash(uint256 item) internal pure returns (bytes32) {
        return keccak256(abi.encode("item", item));
    }

    /// @dev The token id of item `item` of `batchId`, computed from the spec (not read from the contract).
    function _tid(bytes32 batchId, uint256 item) internal pure returns (uint256) {
        return uint256(keccak256(abi.encode(batchId, _itemHash(item))));
    }

    function _leaf(bytes32 batchId, uint256 tokenId, bytes32 itemHash) internal pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(batchId, tokenId, itemHash))));
    }

    function _hashPair(bytes32 a, bytes32 b) internal pure returns (bytes32) {
        return a < b ? keccak256(abi.encodePacked(a, b)) : keccak256(abi.encodePacked(b, a));
    }

    function _leaves(bytes32 batchId, uint256 base) internal pure returns (bytes32[4] memory l) {
        for (uint256 i; i < 4; ++i) {
            l[i] = _leaf(batchId, _tid(batchId, base + 1 + i), _itemHash(base + 1 + i));
        }
    }

    function _root(bytes32 batchId, uint256 base) internal pure returns (bytes32) {
        bytes32[4] memory l = _leaves(batchId, base);
        return _hashPair(_hashPair(l[0], l[1]), _hashPair(l[2], l[3]));
    }

    /// @dev Proof for item `idx` (0..3) of a four-leaf tree: its sibling leaf, then the other pair's node.
    function _proof(bytes32 batchId, uint256 base, uint256 idx) internal pure returns (bytes32[] memory p) {
        bytes32[4] memory l = _leaves(batchId, base);
        p = new bytes32[](2);
        p[0] = l[idx ^ 1];
        p[1] = idx < 2 ? _hashPair(l[2], l[3]) : _hashPair(l[0], l[1]);
    }

    function _req(bytes32 batchId, uint256 base, uint256 idx, address to)
        internal
        pure
        returns (ICertificateRegistry.ClaimRequest memory)
    {
        return ICertificateRegistry.ClaimRequest(batchId, _tid(batchId, base + 1 + idx), _itemHash(base + 1 + idx), to);
    }

    function _claim(bytes32 batchId, uint256 base, uint256 idx, address to) internal returns (uint256 tokenId) {
        vm.prank(RELAYER);
        reg.claim(_req(batchId, base, idx, to), _proof(batchId, base, idx));
        return _tid(batchId, base + 1 + idx);
    }

    // ---- EIP-712 helpers (domain computed from the spec, not read from the contract) ----

    function _domainSeparator() internal view returns (bytes32) {
        return keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256("TracecertCertificateRegistry"),
                keccak256("1"),
                block.chainid,
                address(reg)
            )
        );
    }

    function _sign(uint256 key, bytes32 structHash) internal view returns (bytes memory) {
        bytes32 digest = keccak256(abi.encodePacked("\x19\x01", _domainSeparator(), structHash));
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        return abi.encodePacked(r, s, v);
    }

    function _voucherSig(uint256 key, ICertificateRegistry.ClaimRequest memory req, uint256 deadline)
        internal
        view
        returns (bytes memory)
    {
        return _sign(
            key, keccak256(abi.encode(CLAIM_VOUCHER_TYPEHASH, req.batchId, req.tokenId, req.itemHash, req.to, deadline))
        );
    }

    function _giftSig(uint256 key, uint256 tokenId, address to, uint64 nonce) internal view returns (bytes memory) {
        return _sign(key, keccak256(abi.encode(GIFT_CLAIM_TYPEHASH, tokenId, to, nonce)));
    }

    function _state(uint256 tokenId) internal view returns (ICertificateRegistry.CertificateState) {
        return reg.certificate(tokenId).state;
    }

    function _stateIs(uint256 tokenId, ICertificateRegistry.CertificateState s) internal view returns (bool) {
        return reg.certificate(tokenId).state == s;
    }

    function _gift(uint256 tokenId, address giver) internal returns (uint64 nonce) {
        vm.prank(giver);
        reg.createGift(tokenId, CLAIM_KEY_ADDR, uint64(block.timestamp + 1 days));
        return reg.gift(tokenId).nonce;
    }

    function _unauthorized(address account, bytes32 role) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, account, role);
    }

    function _locked(uint256 tokenId, ICertificateRegistry.CertificateState s) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(ICertificateRegistry.CertificateRegistryTokenLocked.selector, tokenId, uint8(s));
    }
}

contract CertificateRegistryTest is RegistryFixture {
    // =============================================================================================
    // Deployment, metadata, interfaces
    // =============================================================================================

    function test_constructor_sets_names_and_grants_admin_and_pauser() public view {
        assertEq(reg.name(), "tracecert Certificate", "name");
        assertEq(reg.symbol(), "TCERT", "symbol");
        assertTrue(reg.hasRole(reg.DEFAULT_ADMIN_ROLE(), ADMIN), "admin");
        assertTrue(reg.hasRole(reg.PAUSER_ROLE(), ADMIN), "pauser");
        assertFalse(reg.hasRole(reg.FACTORY_ROLE(), ADMIN), "admin is not factory");
        assertFalse(reg.hasRole(reg.DEFAULT_ADMIN_ROLE(), address(this)), "deployer gets nothing");
        assertEq(reg.trustedForwarder(), address(fwd), "trusted forwarder");
        assertTrue(reg.isTrustedForwarder(address(fwd)), "forwarder trusted");
        assertFalse(reg.isTrustedForwarder(address(this)), "deployer not trusted");
    }

    function test_role_constants_are_keccak_of_their_names() public view {
        assertEq(reg.FACTORY_ROLE(), keccak256("FACTORY_ROLE"), "factory");
        assertEq(reg.RELAYER_ROLE(), keccak256("RELAYER_ROLE"), "relayer");
        assertEq(reg.CUSTODIAN_ROLE(), keccak256("CUSTODIAN_ROLE"), "custodian");
        assertEq(reg.PLEDGEE_ROLE(), keccak256("PLEDGEE_ROLE"), "pledgee");
        assertEq(reg.ATTESTOR_ROLE(), keccak256("ATTESTOR_ROLE"), "attestor");
        assertEq(reg.ANCHOR_ROLE(), keccak256("ANCHOR_ROLE"), "anchor");
        assertEq(reg.PAUSER_ROLE(), keccak256("PAUSER_ROLE"), "pauser");
    }

    function test_supportsInterface_combines_erc721_access_control_and_registry() public view {
        assertTrue(reg.supportsInterface(type(IERC165).interfaceId), "erc165");
        assertTrue(reg.supportsInterface(type(IERC721).interfaceId), "erc721");
        assertTrue(reg.supportsInterface(type(IERC721Metadata).interfaceId), "metadata");
        assertTrue(reg.supportsInterface(type(IAccessControl).interfaceId), "access control");
        assertTrue(reg.supportsInterface(type(ICertificateRegistry).interfaceId), "registry");
        assertTrue(reg.supportsInterface(bytes4(0x49064906)), "erc4906");
        assertFalse(reg.supportsInterface(0xffffffff), "ffffffff");
    }

    function test_eip712_domain_matches_the_spec() public view {
        (, string memory name, string memory version, uint256 chainId, address verifying,,) = reg.eip712Domain();
        assertEq(name, "TracecertCertificateRegistry", "name");
        assertEq(version, "1", "version");
        assertEq(chainId, block.chainid, "chain");
        assertEq(verifying, address(reg), "verifying contract");
    }

    function test_setBaseURI_emits_and_tokenURI_uses_it() public {
        uint256 tokenId = _claim(BATCH_A, BASE_A, 0, ALICE);
        assertEq(reg.tokenURI(tokenId), "", "empty base gives empty uri");
        vm.expectEmit(address(reg));
        emit ICertificateRegistry.BaseURIUpdated("https://tracecert.example/c/");
        vm.prank(ADMIN);
        reg.setBaseURI("https://tracecert.example/c/");
        assertEq(reg.tokenURI(tokenId), string.concat("https://tracecert.example/c/", Strings.toString(tokenId)), "uri");
    }

    function test_itemLeaf_matches_the_double_hash_of_the_spec() public view {
        assertEq(reg.itemLeaf(BATCH_A, 7, bytes32(uint256(9))), _leaf(BATCH_A, 7, bytes32(uint256(9))), "leaf");
    }

    function testFuzz_itemLeaf_matches_the_double_hash_of_the_spec(bytes32 b, uint256 t, bytes32 h) public view {
        assertEq(reg.itemLeaf(b, t, h), _leaf(b, t, h), "leaf");
    }

    // =============================================================================================
    // Role matrix: every role-gated function, non-holder then holder
    // =============================================================================================

    function test_role_anchorBatch_needs_factory() public {
        vm.expectRevert(_unauthorized(STRANGER, reg.FACTORY_ROLE()));
        vm.prank(STRANGER);
        reg.anchorBatch(BATCH_C, _root(BATCH_C, BASE_C), 4, META);
        vm.prank(FACTORY);
        reg.anchorBatch(BATCH_C, _root(BATCH_C, BASE_C), 4, META);
        assertEq(reg.batch(BATCH_C).root, _root(BATCH_C, BASE_C), "anchored");
    }

    function test_role_recallBatch_needs_factory() public {
        vm.expectRevert(_unauthorized(RELAYER, reg.FACTORY_ROLE()));
        vm.prank(RELAYER);
        reg.recallBatch(BATCH_A, bytes32(0));
        vm.prank(FACTORY);
        reg.recallBatch(BATCH_A, bytes32(0));
        assertTrue(reg.batch(BATCH_A).recalled, "recalled");
    }

    function test_role_attestBatch_needs_attestor() public {
        vm.expectRevert(_unauthorized(FACTORY, reg.ATTESTOR_ROLE()));
        vm.prank(FACTORY);
        reg.attestBatch(BATCH_A, bytes32(uint256(1)), "ipfs://r");
        vm.prank(ATTESTOR);
        reg.attestBatch(BATCH_A, bytes32(uint256(1)), "ipfs://r");
        assertEq(reg.attestationCount(BATCH_A), 1, "count");
    }

    function test_role_anchorLog_needs_anchor() public {
        vm.expectRevert(_unauthorized(FACTORY, reg.ANCHOR_ROLE()));
        vm.prank(FACTORY);
        reg.anchorLog(1, bytes32(uint256(1)));
        vm.prank(ANCHORER);
        reg.anchorLog(1, bytes32(uint256(1)));
        assertEq(reg.latestLogSize(), 1, "size");
    }

    function test_role_rewindLog_needs_admin() public {
        vm.prank(ANCHORER);
        reg.anchorLog(1, bytes32(uint256(1)));
        vm.expectRevert(_unauthorized(ANCHORER, reg.DEFAULT_ADMIN_ROLE()));
        vm.prank(ANCHORER);
        reg.rewindLog(1);
        vm.prank(ADMIN);
        reg.rewindLog(1);
        assertEq(reg.latestLogSize(), 0, "rewound");
    }

    function test_role_claim_needs_relayer() public {
        ICertificateRegistry.ClaimRequest memory req = _req(BATCH_A, BASE_A, 0, ALICE);
        bytes32[] memory proof = _proof(BATCH_A, BASE_A, 0);
        vm.expectRevert(_unauthorized(ALICE, reg.RELAYER_ROLE()));
        vm.prank(ALICE);
        reg.claim(req, proof);
        vm.prank(RELAYER);
        reg.claim(req, proof);
        assertEq(reg.ownerOf(req.tokenId), ALICE, "owner");
    }

    function test_role_claimBatch_needs_relayer() public {
        ICertificateRegistry.ClaimRequest[] memory reqs = new ICertificateRegistry.ClaimRequest[](1);
        bytes32[][] memory proofs = new bytes32[][](1);
        reqs[0] = _req(BATCH_A, BASE_A, 0, ALICE);
        proofs[0] = _proof(BATCH_A, BASE_A, 0);
        vm.expectRevert(_unauthorized(FACTORY, reg.RELAYER_ROLE()));
        vm.prank(FACTORY);
        reg.claimBatch(reqs, proofs);
        vm.prank(RELAYER);
        reg.claimBatch(reqs, proofs);
        assertEq(reg.ownerOf(_tid(BATCH_A, 101)), ALICE, "owner");
    }

    function test_role_setBaseURI_needs_admin() public {
        vm.expectRevert(_unauthorized(FACTORY, reg.DEFAULT_ADMIN_ROLE()));
        vm.prank(FACTORY);
        reg.setBaseURI("x/");
        vm.prank(ADMIN);
        reg.setBaseURI("x/");
    }

    function test_role_pause_and_unpause_need_pauser() public {
        vm.expectRevert(_unauthorized(FACTORY, reg.PAUSER_ROLE()));
        vm.prank(FACTORY);
        reg.pause();
        vm.prank(ADMIN);
        reg.pause();
        assertTrue(reg.paused(), "paused");
        vm.expectRevert(_unauthorized(FACTORY, reg.PAUSER_ROLE()));
        vm.prank(FACTORY);
        reg.unpause();
        vm.prank(ADMIN);
        reg.unpause();
        assertFalse(reg.paused(), "unpaused");
    }

    function test_role_grantRole_needs_admin() public {
        bytes32 factoryRole = reg.FACTORY_ROLE();
        vm.expectRevert(_unauthorized(FACTORY, reg.DEFAULT_ADMIN_ROLE()));
        vm.prank(FACTORY);
        reg.grantRole(factoryRole, STRANGER);
        vm.prank(ADMIN);
        reg.grantRole(factoryRole, STRANGER);
        assertTrue(reg.hasRole(factoryRole, STRANGER), "granted");
    }

    /// @dev Fuzzed role matrix: any account without the role is refused by every role-gated function.
    function testFuzz_role_gated_functions_refuse_non_holders(address caller) public {
        bytes32[8] memory roles = [
            reg.FACTORY_ROLE(),
            reg.FACTORY_ROLE(),
            reg.ATTESTOR_ROLE(),
            reg.ANCHOR_ROLE(),
            reg.RELAYER_ROLE(),
            reg.DEFAULT_ADMIN_ROLE(),
            reg.PAUSER_ROLE(),
            reg.DEFAULT_ADMIN_ROLE()
        ];
        bytes[8] memory calls = [
            abi.encodeCall(reg.anchorBatch, (BATCH_C, bytes32(uint256(1)), 1, META)),
            abi.encodeCall(reg.recallBatch, (BATCH_A, bytes32(0))),
            abi.encodeCall(reg.attestBatch, (BATCH_A, bytes32(0), "")),
            abi.encodeCall(reg.anchorLog, (1, bytes32(0))),
            abi.encodeCall(reg.claim, (_req(BATCH_A, BASE_A, 0, ALICE), _proof(BATCH_A, BASE_A, 0))),
            abi.encodeCall(reg.setBaseURI, ("x")),
            abi.encodeCall(reg.pause, ()),
            abi.encodeCall(reg.rewindLog, (0))
        ];
        for (uint256 i; i < 8; ++i) {
            if (reg.hasRole(roles[i], caller)) continue;
            vm.prank(caller);
            (bool ok, bytes memory ret) = address(reg).call(calls[i]);
            assertFalse(ok, "non-holder call succeeded");
            assertEq(keccak256(ret), keccak256(_unauthorized(caller, roles[i])), "wrong revert");
        }
    }

    // =============================================================================================
    // Batches
    // =============================================================================================

    function test_anchorBatch_stores_record_and_emits() public {
        bytes32 root = _root(BATCH_C, BASE_C);
        vm.warp(T0 + 123);
        vm.expectEmit(address(reg));
        emit ICertificateRegistry.BatchAnchored(BATCH_C, root, 4, META);
        vm.prank(FACTORY);
        reg.anchorBatch(BATCH_C, root, 4, META);
        ICertificateRegistry.BatchRecord memory b = reg.batch(BATCH_C);
        assertEq(b.root, root, "root");
        assertEq(b.itemCount, 4, "count");
        assertEq(b.anchoredAt, T0 + 123, "anchoredAt");
        assertFalse(b.recalled, "recalled");
        assertEq(b.metadataHash, META, "meta");
    }

    function test_anchorBatch_twice_reverts() public {
        vm.expectRevert(
            abi.encodeWithSelector(ICertificateRegistry.CertificateRegistryBatchAlreadyAnchored.selector, BATCH_A)
        );
        vm.prank(FACTORY);
        reg.anchorBatch(BATCH_A, bytes32(uint256(1)), 1, META);
        assertEq(reg.batch(BATCH_A).root, _root(BATCH_A, BASE_A), "root unchanged");
    }

    function test_anchorBatch_rejects_zero_id_zero_root_and_zero_items() public {
        vm.startPrank(FACTORY);
        vm.expectRevert(abi.encodeWithSelector(ICertificateRegistry.CertificateRegistryInvalidBatch.selector, bytes32(0)));
        reg.anchorBatch(bytes32(0), bytes32(uint256(1)), 1, META);
        vm.expectRevert(abi.encodeWithSelector(ICertificateRegistry.CertificateRegistryInvalidBatch.selector, BATCH_C));
        reg.anchorBatch(BATCH_C, bytes32(0), 1, META);
        vm.expectRevert(ICertificateRegistry.CertificateRegistryEmptyBatch.selector);
        reg.anchorBatch(BATCH_C, bytes32(uint256(1)), 0, META);
        vm.stopPrank();
    }

    function test_recallBatch_emits_and_marks_recalled() public {
        vm.expectEmit(address(reg));
        emit ICertificateRegistry.BatchRecalled(BATCH_A, keccak256("contaminated"));
        vm.prank(FACTORY);
        reg.recallBatch(BATCH_A, keccak256("contaminated"));
        assertTrue(reg.batch(BATCH_A).recalled, "recalled");
    }

    function test_recallBatch_unanchored_or_twice_reverts() public {
        vm.startPrank(FACTORY);
        vm.expectRevert(abi.encodeWithSelector(ICertificateRegistry.CertificateRegistryBatchNotAnchored.selector, BATCH_C));
        reg.recallBatch(BATCH_C, bytes32(0));
        reg.recallBatch(BATCH_A, bytes32(0));
        vm.expectRevert(abi.encodeWithSelector(ICertificateRegistry.CertificateRegistryBatchIsRecalled.selector, BATCH_A));
        reg.recallBatch(BATCH_A, bytes32(0));
        vm.stopPrank();
    }

    function test_attestBatch_counts_and_emits_and_needs_anchored_batch() public {
        vm.expectEmit(address(reg));
        emit ICertificateRegistry.BatchAttested(BATCH_A, ATTESTOR, keccak256("report"), "ipfs://report");
        vm.prank(ATTESTOR);
        reg.attestBatch(BATCH_A, keccak256("report"), "ipfs://report");
        vm.prank(ATTESTOR);
        reg.attestBatch(BATCH_A, keccak256("report2"), "ipfs://report2");
        assertEq(reg.attestationCount(BATCH_A), 2, "count");
        assertEq(reg.attestationCount(BATCH_B), 0, "other batch");
        vm.expectRevert(abi.encodeWithSelector(ICertificateRegistry.CertificateRegistryBatchNotAnchored.selector, BATCH_C));
        vm.prank(ATTESTOR);
        reg.attestBatch(BATCH_C, keccak256("report"), "");
    }

    // =============================================================================================
    // Event log anchoring
    // =============================================================================================

    function test_anchorLog_sizes_must_strictly_grow() public {
        vm.startPrank(ANCHORER);
        vm.expectRevert(abi.encodeWithSelector(ICertificateRegistry.CertificateRegistryLogSizeNotIncreasing.selector, 0, 0));
        reg.anchorLog(0, bytes32(uint256(1)));
        vm.expectEmit(address(reg));
        emit ICertificateRegistry.LogAnchored(5, bytes32(uint256(55)));
        reg.anchorLog(5, bytes32(uint256(55)));
        vm.expectRevert(abi.encodeWithSelector(ICertificateRegistry.CertificateRegistryLogSizeNotIncreasing.selector, 5, 5));
        reg.anchorLog(5, bytes32(uint256(56)));
        vm.expectRevert(abi.encodeWithSelector(ICertificateRegistry.CertificateRegistryLogSizeNotIncreasing.selector, 3, 5));
        reg.anchorLog(3, bytes32(uint256(33)));
        reg.anchorLog(8, bytes32(uint256(88)));
        vm.stopPrank();
        assertEq(reg.latestLogSize(), 8, "latest");
        assertEq(reg.logRoot(5), bytes32(uint256(55)), "root 5 kept");
        assertEq(reg.logRoot(8), bytes32(uint256(88)), "root 8");
        assertEq(reg.logRoot(3), bytes32(0), "never anchored");
    }

    function testFuzz_anchorLog_accepts_only_strictly_greater_sizes(uint64 first, uint64 second) public {
        vm.assume(first > 0);
        vm.startPrank(ANCHORER);
        reg.anchorLog(first, bytes32(uint256(1)));
        (bool ok,) = address(reg).call(abi.encodeCall(reg.anchorLog, (second, bytes32(uint256(2)))));
        vm.stopPrank();
        assertEq(ok, second > first, "accepted iff strictly greater");
        assertEq(reg.latestLogSize(), second > first ? second : first, "latest");
        assertEq(reg.logRoot(first), bytes32(uint256(1)), "first root never overwritten");
    }

    function test_anchorLog_refuses_a_zero_root() public {
        vm.expectRevert(ICertificateRegistry.CertificateRegistryInvalidLogRoot.selector);
        vm.prank(ANCHORER);
        reg.anchorLog(5, bytes32(0));
        assertEq(reg.latestLogSize(), 0, "nothing anchored");
    }

    function test_an_anchor_of_the_largest_size_is_rewound_by_the_admin_and_anchoring_resumes() public {
        uint64 huge = type(uint64).max;
        vm.startPrank(ANCHORER);
        reg.anchorLog(211, bytes32(uint256(211)));
        reg.anchorLog(huge, bytes32(uint256(666)));
        // Every real size is now below the latest: anchoring is stuck until the admin steps in.
        vm.expectRevert(
            abi.encodeWithSelector(ICertificateRegistry.CertificateRegistryLogSizeNotIncreasing.selector, 212, huge)
        );
        reg.anchorLog(212, bytes32(uint256(212)));
        vm.stopPrank();
        vm.expectEmit(address(reg));
        emit ICertificateRegistry.LogRewound(huge, 211);
        vm.prank(ADMIN);
        reg.rewindLog(huge);
        assertEq(reg.latestLogSize(), 211, "back to the last good anchor");
        assertEq(reg.logRoot(huge), bytes32(0), "the bad root is gone");
        assertEq(reg.logRoot(211), bytes32(uint256(211)), "the good root stays");
        vm.prank(ANCHORER);
        reg.anchorLog(212, bytes32(uint256(212)));
        assertEq(reg.latestLogSize(), 212, "anchoring resumed");
    }

    function test_rewindLog_takes_back_only_the_latest_anchor_and_only_once() public {
        vm.expectRevert(
            abi.encodeWithSelector(ICertificateRegistry.CertificateRegistryLogNotRewindable.selector, 0, 0)
        );
        vm.prank(ADMIN);
        reg.rewindLog(0); // nothing anchored
        vm.startPrank(ANCHORER);
        reg.anchorLog(5, bytes32(uint256(5)));
        reg.anchorLog(9, bytes32(uint256(9)));
        vm.stopPrank();
        vm.startPrank(ADMIN);
        vm.expectRevert(
            abi.encodeWithSelector(ICertificateRegistry.CertificateRegistryLogNotRewindable.selector, 5, 9)
        );
        reg.rewindLog(5); // not the latest: an anchor made meanwhile is never taken back by mistake
        reg.rewindLog(9);
        vm.expectRevert(
            abi.encodeWithSelector(ICertificateRegistry.CertificateRegistryLogNotRewindable.selector, 5, 5)
        );
        reg.rewindLog(5); // one step: the anchor before 5 is not kept
        vm.stopPrank();
        assertEq(reg.latestLogSize(), 5, "latest");
        assertEq(reg.logRoot(5), bytes32(uint256(5)), "root 5 kept");
        vm.prank(ANCHORER);
        reg.anchorLog(9, bytes32(uint256(99)));
        assertEq(reg.logRoot(9), bytes32(uint256(99)), "size 9 anchored anew");
    }

    /// @dev Fuzzed: after any bad jump, one rewind brings back the previous anchor and the next size anchors.
    function testFuzz_rewind_after_any_bad_size_lets_anchoring_resume(uint64 good, uint64 bad) public {
        good = uint64(bound(good, 1, type(uint64).max - 2));
        bad = uint64(bound(bad, uint256(good) + 2, type(uint64).max));
        vm.startPrank(ANCHORER);
        reg.anchorLog(good, bytes32(uint256(1)));
        reg.anchorLog(bad, bytes32(uint256(2)));
        vm.stopPrank();
        vm.prank(ADMIN);
        reg.rewindLog(bad);
        vm.prank(ANCHORER);
        reg.anchorLog(good + 1, bytes32(uint256(3)));
        assertEq(reg.latestLogSize(), good + 1, "resumed");
        assertEq(reg.logRoot(bad), bytes32(0), "bad root gone");
    }

    // =============================================================================================
    // Claims and Merkle proofs
    // =============================================================================================

    function test_claim_mints_to_recipient_and_emits() public {
        uint256 a1 = _tid(BATCH_A, 101);
        uint256 a2 = _tid(BATCH_A, 102);
        vm.expectEmit(address(reg));
        emit IERC721.Transfer(address(0), ALICE, a2);
        vm.expectEmit(address(reg));
        emit ICertificateRegistry.CertificateClaimed(a2, BATCH_A, ALICE);
        _claim(BATCH_A, BASE_A, 1, ALICE);
        assertEq(reg.ownerOf(a2), ALICE, "owner");
        assertTrue(reg.isClaimed(a2), "claimed");
        assertFalse(reg.isClaimed(a1), "other not claimed");
        ICertificateRegistry.Certificate memory c = reg.certificate(a2);
        assertEq(c.batchId, BATCH_A, "batch");
        assertTrue(c.state == ICertificateRegistry.CertificateState.Active, "active");
        assertEq(c.counterparty, address(0), "no counterparty");
        assertEq(c.since, 0, "since");
        assertTrue(reg.certificate(a1).state == ICertificateRegistry.CertificateState.None, "unclaimed is None");
    }

    function test_claim_every_leaf_of_a_batch() public {
        for (uint256 i; i < 4; ++i) {
            _claim(BATCH_B, BASE_B, i, BOB);
        }
        assertEq(reg.balanceOf(BOB), 4, "balance");
    }

    function test_claim_twice_reverts() public {
        _claim(BATCH_A, BASE_A, 0, ALICE);
        ICertificateRegistry.ClaimRequest memory req = _req(BATCH_A, BASE_A, 0, BOB);
        bytes32[] memory proof = _proof(BATCH_A, BASE_A, 0);
        vm.expectRevert(abi.encodeWithSelector(ICertificateRegistry.CertificateRegistryAlreadyClaimed.selector, req.tokenId));
        vm.prank(RELAYER);
        reg.claim(req, proof);
        assertEq(reg.ownerOf(req.tokenId), ALICE, "owner unchanged");
    }

    function test_claim_to_zero_or_to_the_registry_reverts() public {
        ICertificateRegistry.ClaimRequest memory req = _req(BATCH_A, BASE_A, 0, address(0));
        bytes32[] memory proof = _proof(BATCH_A, BASE_A, 0);
        vm.expectRevert(
            abi.encodeWithSelector(ICertificateRegistry.CertificateRegistryInvalidRecipient.selector, address(0))
        );
        vm.prank(RELAYER);
        reg.claim(req, proof);
        req.to = address(reg);
        vm.expectRevert(
            abi.encodeWithSelector(ICertificateRegistry.CertificateRegistryInvalidRecipient.selector, address(reg))
        );
        vm.prank(RELAYER);
        reg.claim(req, proof);
    }

    function test_claim_from_unanchored_batch_reverts() public {
        ICertificateRegistry.ClaimRequest memory req = _req(BATCH_C, BASE_C, 0, ALICE);
        bytes32[] memory proof = _proof(BATCH_C, BASE_C, 0);
        vm.expectRevert(abi.encodeWithSelector(ICertificateRegistry.CertificateRegistryBatchNotAnchored.selector, BATCH_C));
        vm.prank(RELAYER);
        reg.claim(req, proof);
    }

    function _expectInvalidProof(ICertificateRegistry.ClaimRequest memory req, bytes32[] memory proof) internal {
        assertFalse(reg.verifyItem(req.batchId, req.tokenId, req.itemHash, proof), "verifyItem accepted a mutant");
        vm.expectRevert(
            abi.encodeWithSelector(ICertificateRegistry.CertificateRegistryInvalidProof.selector, req.batchId, req.tokenId)
        );
        vm.prank(RELAYER);
        reg.claim(req, proof);
    }

    function test_verifyItem_accepts_valid_proofs_and_refuses_unanchored_batches() public view {
        for (uint256 i; i < 4; ++i) {
            uint256 item = BASE_A + 1 + i;
            assertTrue(reg.verifyItem(BATCH_A, _tid(BATCH_A, item), _itemHash(item), _proof(BATCH_A, BASE_A, i)), "A");
        }
        assertFalse(reg.verifyItem(BATCH_C, _tid(BATCH_C, 301), _itemHash(301), _proof(BATCH_C, BASE_C, 0)), "C");
    }

    function test_merkle_mutant_flipped_bit_in_each_proof_element_is_rejected() public {
        ICertificateRegistry.ClaimRequest memory req = _req(BATCH_A, BASE_A, 0, ALICE);
        for (uint256 j; j < 2; ++j) {
            bytes32[] memory proof = _proof(BATCH_A, BASE_A, 0);
            proof[j] ^= bytes32(uint256(1) << 77);
            _expectInvalidProof(req, proof);
        }
    }

    function test_merkle_mutant_dropped_elements_are_rejected() public {
        ICertificateRegistry.ClaimRequest memory req = _req(BATCH_A, BASE_A, 2, ALICE);
        bytes32[] memory full = _proof(BATCH_A, BASE_A, 2);
        bytes32[] memory first = new bytes32[](1);
        first[0] = full[0];
        bytes32[] memory last = new bytes32[](1);
        last[0] = full[1];
        _expectInvalidProof(req, first);
        _expectInvalidProof(req, last);
        _expectInvalidProof(req, new bytes32[](0));
    }

    function test_merkle_mutant_added_elements_are_rejected() public {
        ICertificateRegistry.ClaimRequest memory req = _req(BATCH_A, BASE_A, 1, ALICE);
        bytes32[] memory full = _proof(BATCH_A, BASE_A, 1);
        bytes32[] memory longer = new bytes32[](3);
        longer[0] = full[0];
        longer[1] = full[1];
        longer[2] = keccak256("extra");
        _expectInvalidProof(req, longer);
        bytes32[] memory front = new bytes32[](3);
        front[0] = bytes32(0);
        front[1] = full[0];
        front[2] = full[1];
        _expectInvalidProof(req, front);
    }

    function test_merkle_mutant_reordered_elements_are_rejected() public {
        ICertificateRegistry.ClaimRequest memory req = _req(BATCH_A, BASE_A, 3, ALICE);
        bytes32[] memory proof = _proof(BATCH_A, BASE_A, 3);
        (proof[0], proof[1]) = (proof[1], proof[0]);
        _expectInvalidProof(req, proof);
    }

    /// @dev `req` with its token id made consistent with its batch and item hash, so that the token check
    /// passes and the Merkle proof alone must refuse it.
    function _bound(ICertificateRegistry.ClaimRequest memory req)
        internal
        pure
        returns (ICertificateRegistry.ClaimRequest memory)
    {
        req.tokenId = uint256(keccak256(abi.encode(req.batchId, req.itemHash)));
        return req;
    }

    function _expectInvalidTokenId(ICertificateRegistry.ClaimRequest memory req, bytes32[] memory proof) internal {
        vm.expectRevert(
            abi.encodeWithSelector(ICertificateRegistry.CertificateRegistryInvalidTokenId.selector, req.batchId, req.tokenId)
        );
        vm.prank(RELAYER);
        reg.claim(req, proof);
    }

    function test_merkle_mutant_wrong_itemHash_or_batchId_is_rejected_by_the_proof() public {
        bytes32[] memory proof = _proof(BATCH_A, BASE_A, 0);
        ICertificateRegistry.ClaimRequest memory req = _req(BATCH_A, BASE_A, 0, ALICE);
        req.itemHash = keccak256("counterfeit");
        _expectInvalidProof(_bound(req), proof);
        req = _req(BATCH_A, BASE_A, 0, ALICE);
        req.batchId = BATCH_B; // same item, claimed against another anchored batch
        _expectInvalidProof(_bound(req), proof);
    }

    function test_merkle_mutant_with_an_unbound_token_id_is_rejected_before_the_proof() public {
        bytes32[] memory proof = _proof(BATCH_A, BASE_A, 0);
        ICertificateRegistry.ClaimRequest memory req = _req(BATCH_A, BASE_A, 0, ALICE);
        req.tokenId = _tid(BATCH_A, 102); // a real token of the batch, with another item's data
        _expectInvalidTokenId(req, proof);
        req = _req(BATCH_A, BASE_A, 0, ALICE);
        req.itemHash = keccak256("counterfeit"); // the token id no longer fits the item hash
        _expectInvalidTokenId(req, proof);
        req = _req(BATCH_A, BASE_A, 0, ALICE);
        req.batchId = BATCH_B; // nor another batch
        _expectInvalidTokenId(req, proof);
        assertFalse(reg.isClaimed(_tid(BATCH_A, 101)), "nothing minted");
    }

    function test_merkle_mutant_proof_from_another_batch_is_rejected() public {
        // Item 201 with its valid batch-B proof, presented as an item of batch A.
        ICertificateRegistry.ClaimRequest memory req = _req(BATCH_B, BASE_B, 0, ALICE);
        req.batchId = BATCH_A;
        _expectInvalidProof(_bound(req), _proof(BATCH_B, BASE_B, 0));
        // And a valid proof of A for a token claimed from B.
        _expectInvalidProof(_req(BATCH_B, BASE_B, 0, ALICE), _proof(BATCH_A, BASE_A, 0));
    }

    function test_merkle_inner_node_cannot_be_claimed_as_a_leaf() public {
        // A second-preimage attempt: the inner node of leaves 0 and 1 presented with the upper proof.
        bytes32[4] memory l = _leaves(BATCH_A, BASE_A);
        bytes32[] memory proof = new bytes32[](1);
        proof[0] = _hashPair(l[2], l[3]);
        bytes32 inner = _hashPair(l[0], l[1]);
        ICertificateRegistry.ClaimRequest memory req = ICertificateRegistry.ClaimRequest(BATCH_A, 0, inner, ALICE);
        _expectInvalidProof(_bound(req), proof);
    }

    /// @dev Fuzzed mutant: xor any non-zero mask into any proof element of any item.
    function testFuzz_merkle_mutated_proof_element_is_rejected(uint256 idx, uint256 j, bytes32 mask) public {
        vm.assume(mask != bytes32(0));
        idx = bound(idx, 0, 3);
        j = bound(j, 0, 1);
        bytes32[] memory proof = _proof(BATCH_A, BASE_A, idx);
        proof[j] ^= mask;
        _expectInvalidProof(_req(BATCH_A, BASE_A, idx, ALICE), proof);
    }

    /// @dev Fuzzed mutant: any other item hash, with its token id bound to it and a valid proof of item 101.
    function testFuzz_merkle_wrong_item_data_is_rejected(bytes32 itemHash) public {
        ICertificateRegistry.ClaimRequest memory req = _req(BATCH_A, BASE_A, 0, ALICE);
        vm.assume(itemHash != req.itemHash);
        req.itemHash = itemHash;
        _expectInvalidProof(_bound(req), _proof(BATCH_A, BASE_A, 0));
    }

    // =============================================================================================
    // Token ids bound to their batch
    // =============================================================================================

    function test_tokenIdOf_matches_the_spec() public view {
        assertEq(reg.tokenIdOf(BATCH_A, _itemHash(101)), _tid(BATCH_A, 101), "A101");
        assertEq(reg.tokenIdOf(BATCH_A, bytes32(uint256(9))), uint256(keccak256(abi.encode(BATCH_A, bytes32(uint256(9))))), "9");
        assertTrue(reg.tokenIdOf(BATCH_A, _itemHash(101)) != reg.tokenIdOf(BATCH_B, _itemHash(101)), "per batch");
    }

    function testFuzz_tokenIdOf_matches_the_spec(bytes32 batchId, bytes32 itemHash) public view {
        assertEq(reg.tokenIdOf(batchId, itemHash), uint256(keccak256(abi.encode(batchId, itemHash))), "token id");
    }

    /// @dev Anchors a two-leaf batch `batchId` of leaves (tokenIds[i], itemHashes[i]); returns its proofs.
    function _anchorPair(bytes32 batchId, uint256[2] memory tokenIds, bytes32[2] memory itemHashes)
        internal
        returns (bytes32[][2] memory proofs)
    {
        bytes32 l0 = _leaf(batchId, tokenIds[0], itemHashes[0]);
        bytes32 l1 = _leaf(batchId, tokenIds[1], itemHashes[1]);
        vm.prank(FACTORY);
        reg.anchorBatch(batchId, _hashPair(l0, l1), 2, META);
        proofs[0] = new bytes32[](1);
        proofs[0][0] = l1;
        proofs[1] = new bytes32[](1);
        proofs[1][0] = l0;
    }

    function test_a_second_batch_reusing_a_serial_cannot_take_the_genuine_certificate() public {
        uint256 genuine = _tid(BATCH_A, 101);
        // Batch D reuses serial 101: its honest leaf hashes the serial under D's attributes, so its token id
        // is another; a forged leaf names the genuine token id (with D's item hash, or a copy of A's).
        bytes32 itemD = keccak256(abi.encode("attributes of D", _itemHash(101)));
        bytes32 batchD = keccak256("batch-D");
        bytes32[][2] memory proofs =
            _anchorPair(batchD, [genuine, genuine], [itemD, _itemHash(101)]);
        _expectInvalidTokenId(ICertificateRegistry.ClaimRequest(batchD, genuine, itemD, STRANGER), proofs[0]);
        _expectInvalidTokenId(ICertificateRegistry.ClaimRequest(batchD, genuine, _itemHash(101), STRANGER), proofs[1]);
        assertFalse(reg.isClaimed(genuine), "the genuine certificate is untouched");
        // The genuine bottle's owner still claims it, from its own batch.
        _claim(BATCH_A, BASE_A, 0, ALICE);
        assertEq(reg.ownerOf(genuine), ALICE, "genuine owner");
        assertEq(reg.certificate(genuine).batchId, BATCH_A, "bound to batch A");
    }

    function test_a_recalled_serial_anchored_again_cannot_yield_the_recalled_certificate() public {
        uint256 recalledToken = _tid(BATCH_A, 101);
        vm.prank(FACTORY);
        reg.recallBatch(BATCH_A, keccak256("contaminated"));
        // Batch E re-issues serial 101: a forged leaf with the recalled token id, and an honest one.
        bytes32 batchE = keccak256("batch-E");
        uint256 honest = reg.tokenIdOf(batchE, _itemHash(101));
        bytes32[][2] memory proofs =
            _anchorPair(batchE, [recalledToken, honest], [_itemHash(101), _itemHash(101)]);
        _expectInvalidTokenId(
            ICertificateRegistry.ClaimRequest(batchE, recalledToken, _itemHash(101), STRANGER), proofs[0]
        );
        assertFalse(reg.isClaimed(recalledToken), "the recalled certificate never exists");
        // The honest re-issue is a certificate of batch E, not the recalled one.
        vm.prank(RELAYER);
        reg.claim(ICertificateRegistry.ClaimRequest(batchE, honest, _itemHash(101), STRANGER), proofs[1]);
        assertTrue(honest != recalledToken, "another token");
        assertEq(reg.certificate(honest).batchId, batchE, "of batch E");
        assertFalse(reg.isClaimed(recalledToken), "still not the recalled one");
    }

    /// @dev Fuzzed: whatever token id a batch anchors for an item, only tokenIdOf(batch, itemHash) mints.
    function testFuzz_claim_refuses_any_token_id_but_tokenIdOf(uint256 tokenId, bytes32 itemHash) public {
        bytes32 batchD = keccak256("batch-D");
        uint256 bound_ = reg.tokenIdOf(batchD, itemHash);
        vm.assume(tokenId != bound_);
        bytes32[][2] memory proofs = _anchorPair(batchD, [tokenId, bound_], [itemHash, itemHash]);
        _expectInvalidTokenId(ICertificateRegistry.ClaimRequest(batchD, tokenId, itemHash, ALICE), proofs[0]);
        vm.prank(RELAYER);
        reg.claim(ICertificateRegistry.ClaimRequest(batchD, bound_, itemHash, ALICE), proofs[1]);
        assertEq(reg.ownerOf(bound_), ALICE, "the bound token mints");
    }

    // =============================================================================================
    // claimBatch: skip what cannot be claimed, mint the rest
    // =============================================================================================

    function _batchOf(ICertificateRegistry.ClaimRequest[] memory reqs, bytes32[][] memory proofs) internal {
        vm.prank(RELAYER);
        reg.claimBatch(reqs, proofs);
    }

    /// @dev Requests and proofs for items `idx` of batch A, to ALICE.
    function _batchA(uint256[] memory idx)
        internal
        view
        returns (ICertificateRegistry.ClaimRequest[] memory reqs, bytes32[][] memory proofs)
    {
        reqs = new ICertificateRegistry.ClaimRequest[](idx.length);
        proofs = new bytes32[][](idx.length);
        for (uint256 i; i < idx.length; ++i) {
            reqs[i] = _req(BATCH_A, BASE_A, idx[i], ALICE);
            proofs[i] = _proof(BATCH_A, BASE_A, idx[i]);
        }
    }

    function _three() internal pure returns (uint256[] memory idx) {
        idx = new uint256[](3);
        (idx[0], idx[1], idx[2]) = (0, 1, 2);
    }

    function test_claimBatch_mints_every_claimable_item_in_order() public {
        (ICertificateRegistry.ClaimRequest[] memory reqs, bytes32[][] memory proofs) = _batchA(_three());
        for (uint256 i; i < 3; ++i) {
            vm.expectEmit(address(reg));
            emit ICertificateRegistry.CertificateClaimed(reqs[i].tokenId, BATCH_A, ALICE);
        }
        _batchOf(reqs, proofs);
        assertEq(reg.balanceOf(ALICE), 3, "three minted");
    }

    function test_claimBatch_skips_an_item_a_voucher_claimed_first_and_mints_the_rest() public {
        (ICertificateRegistry.ClaimRequest[] memory reqs, bytes32[][] memory proofs) = _batchA(_three());
        // Someone submits a valid voucher for the middle item (to its holder, BOB) before the batch is mined.
        ICertificateRegistry.ClaimRequest memory front = _req(BATCH_A, BASE_A, 1, BOB);
        uint256 deadline = block.timestamp + 1 hours;
        vm.prank(STRANGER);
        reg.claimWithVoucher(front, deadline, _proof(BATCH_A, BASE_A, 1), _voucherSig(RELAYER_KEY, front, deadline));
        vm.expectEmit(address(reg));
        emit ICertificateRegistry.CertificateClaimed(reqs[0].tokenId, BATCH_A, ALICE);
        vm.expectEmit(address(reg));
        emit ICertificateRegistry.CertificateClaimSkipped(
            reqs[1].tokenId, BATCH_A, ALICE, ICertificateRegistry.CertificateRegistryAlreadyClaimed.selector
        );
        vm.expectEmit(address(reg));
        emit ICertificateRegistry.CertificateClaimed(reqs[2].tokenId, BATCH_A, ALICE);
        _batchOf(reqs, proofs);
        assertEq(reg.ownerOf(reqs[0].tokenId), ALICE, "first minted");
        assertEq(reg.ownerOf(reqs[1].tokenId), BOB, "the voucher's claim stands");
        assertEq(reg.ownerOf(reqs[2].tokenId), ALICE, "third minted");
    }

    function test_claimBatch_skips_the_items_of_a_batch_recalled_meanwhile() public {
        ICertificateRegistry.ClaimRequest[] memory reqs = new ICertificateRegistry.ClaimRequest[](2);
        bytes32[][] memory proofs = new bytes32[][](2);
        reqs[0] = _req(BATCH_B, BASE_B, 0, BOB);
        proofs[0] = _proof(BATCH_B, BASE_B, 0);
        reqs[1] = _req(BATCH_A, BASE_A, 0, ALICE);
        proofs[1] = _proof(BATCH_A, BASE_A, 0);
        vm.prank(FACTORY);
        reg.recallBatch(BATCH_B, keccak256("recall"));
        vm.expectEmit(address(reg));
        emit ICertificateRegistry.CertificateClaimSkipped(
            reqs[0].tokenId, BATCH_B, BOB, ICertificateRegistry.CertificateRegistryBatchIsRecalled.selector
        );
        vm.expectEmit(address(reg));
        emit ICertificateRegistry.CertificateClaimed(reqs[1].tokenId, BATCH_A, ALICE);
        _batchOf(reqs, proofs);
        assertFalse(reg.isClaimed(reqs[0].tokenId), "recalled item not minted");
        assertEq(reg.ownerOf(reqs[1].tokenId), ALICE, "the other batch's item minted");
    }

    function test_claimBatch_skips_unanchored_unbound_and_unproven_items_naming_each_reason() public {
        ICertificateRegistry.ClaimRequest[] memory reqs = new ICertificateRegistry.ClaimRequest[](4);
        bytes32[][] memory proofs = new bytes32[][](4);
        reqs[0] = _req(BATCH_C, BASE_C, 0, ALICE); // batch C is not anchored
        proofs[0] = _proof(BATCH_C, BASE_C, 0);
        reqs[1] = _req(BATCH_A, BASE_A, 0, ALICE);
        reqs[1].tokenId = _tid(BATCH_B, 201); // a token id of another batch
        proofs[1] = _proof(BATCH_A, BASE_A, 0);
        reqs[2] = _req(BATCH_A, BASE_A, 1, ALICE);
        proofs[2] = _proof(BATCH_A, BASE_A, 2); // another item's proof
        reqs[3] = _req(BATCH_A, BASE_A, 3, ALICE);
        proofs[3] = _proof(BATCH_A, BASE_A, 3);
        vm.expectEmit(address(reg));
        emit ICertificateRegistry.CertificateClaimSkipped(
            reqs[0].tokenId, BATCH_C, ALICE, ICertificateRegistry.CertificateRegistryBatchNotAnchored.selector
        );
        vm.expectEmit(address(reg));
        emit ICertificateRegistry.CertificateClaimSkipped(
            reqs[1].tokenId, BATCH_A, ALICE, ICertificateRegistry.CertificateRegistryInvalidTokenId.selector
        );
        vm.expectEmit(address(reg));
        emit ICertificateRegistry.CertificateClaimSkipped(
            reqs[2].tokenId, BATCH_A, ALICE, ICertificateRegistry.CertificateRegistryInvalidProof.selector
        );
        vm.expectEmit(address(reg));
        emit ICertificateRegistry.CertificateClaimed(reqs[3].tokenId, BATCH_A, ALICE);
        _batchOf(reqs, proofs);
        assertEq(reg.balanceOf(ALICE), 1, "only the good item");
        assertFalse(reg.isClaimed(_tid(BATCH_B, 201)), "the foreign token id was not minted");
        assertFalse(reg.isClaimed(reqs[2].tokenId), "the unproven item was not minted");
    }

    function test_claimBatch_with_a_duplicate_item_mints_it_once_and_skips_the_second() public {
        ICertificateRegistry.ClaimRequest[] memory reqs = new ICertificateRegistry.ClaimRequest[](2);
        bytes32[][] memory proofs = new bytes32[][](2);
        reqs[0] = _req(BATCH_A, BASE_A, 0, ALICE);
        reqs[1] = _req(BATCH_A, BASE_A, 0, BOB);
        proofs[0] = _proof(BATCH_A, BASE_A, 0);
        proofs[1] = proofs[0];
        vm.expectEmit(address(reg));
        emit ICertificateRegistry.CertificateClaimSkipped(
            reqs[1].tokenId, BATCH_A, BOB, ICertificateRegistry.CertificateRegistryAlreadyClaimed.selector
        );
        _batchOf(reqs, proofs);
        assertEq(reg.ownerOf(reqs[0].tokenId), ALICE, "first request wins");
    }

    function test_claimBatch_callers_own_errors_revert_the_whole_call() public {
        ICertificateRegistry.ClaimRequest[] memory reqs = new ICertificateRegistry.ClaimRequest[](2);
        bytes32[][] memory proofs = new bytes32[][](1);
        vm.expectRevert(abi.encodeWithSelector(ICertificateRegistry.CertificateRegistryLengthMismatch.selector, 2, 1));
        vm.prank(RELAYER);
        reg.claimBatch(reqs, proofs);
        vm.expectRevert(ICertificateRegistry.CertificateRegistryEmptyBatch.selector);
        vm.prank(RELAYER);
        reg.claimBatch(new ICertificateRegistry.ClaimRequest[](0), new bytes32[][](0));
        // A zero recipient is a request built wrong: nothing of the call stays.
        (reqs, proofs) = _batchA(_three());
        reqs[2].to = address(0);
        vm.expectRevert(
            abi.encodeWithSelector(ICertificateRegistry.CertificateRegistryInvalidRecipient.selector, address(0))
        );
        vm.prank(RELAYER);
        reg.claimBatch(reqs, proofs);
        assertFalse(reg.isClaimed(reqs[0].tokenId), "rolled back");
        // Paused: the whole call, even when every item would be skipped.
        (reqs, proofs) = _batchA(_three());
        vm.prank(ADMIN);
        reg.pause();
        vm.expectRevert(Pausable.EnforcedPause.selector);
        vm.prank(RELAYER);
        reg.claimBatch(reqs, proofs);
    }

    function test_claimBatch_refuses_more_than_the_cap() public {
        uint256 cap = reg.MAX_CLAIM_BATCH();
        assertEq(cap, 128, "cap");
        ICertificateRegistry.ClaimRequest[] memory reqs = new ICertificateRegistry.ClaimRequest[](cap + 1);
        bytes32[][] memory proofs = new bytes32[][](cap + 1);
        vm.expectRevert(
            abi.encodeWithSelector(ICertificateRegistry.CertificateRegistryTooManyClaims.selector, cap + 1, cap)
        );
        vm.prank(RELAYER);
        reg.claimBatch(reqs, proofs);
    }

    /// @dev Every item of a batch at the cap, each to a new owner, is minted in one call.
    function test_claimBatch_at_the_cap_mints_every_item_to_new_owners() public {
        uint256 cap = reg.MAX_CLAIM_BATCH();
        bytes32 batchId = keccak256("batch-cap");
        bytes32[] memory leaves = new bytes32[](256);
        ICertificateRegistry.ClaimRequest[] memory reqs = new ICertificateRegistry.ClaimRequest[](cap);
        for (uint256 i; i < 256; ++i) {
            bytes32 h = _itemHash(10_000 + i);
            uint256 t = uint256(keccak256(abi.encode(batchId, h)));
            leaves[i] = _leaf(batchId, t, h);
            if (i < cap) reqs[i] = ICertificateRegistry.ClaimRequest(batchId, t, h, address(uint160(0x10000 + i)));
        }
        bytes32[][] memory proofs = new bytes32[][](cap);
        for (uint256 i; i < cap; ++i) {
            proofs[i] = _proofOf(leaves, i);
        }
        vm.prank(FACTORY);
        reg.anchorBatch(batchId, _rootOf(leaves), 256, META);
        _batchOf(reqs, proofs);
        for (uint256 i; i < cap; ++i) {
            assertEq(reg.ownerOf(reqs[i].tokenId), reqs[i].to, "minted");
        }
    }

    /// @dev Root of a power-of-two tree of sorted pairs.
    function _rootOf(bytes32[] memory leaves) internal pure returns (bytes32) {
        bytes32[] memory level = leaves;
        while (level.length > 1) {
            bytes32[] memory up = new bytes32[](level.length / 2);
            for (uint256 i; i < up.length; ++i) {
                up[i] = _hashPair(level[2 * i], level[2 * i + 1]);
            }
            level = up;
        }
        return level[0];
    }

    /// @dev Proof of leaf `index` in a power-of-two tree of sorted pairs.
    function _proofOf(bytes32[] memory leaves, uint256 index) internal pure returns (bytes32[] memory proof) {
        uint256 depth;
        for (uint256 n = leaves.length; n > 1; n /= 2) ++depth;
        proof = new bytes32[](depth);
        bytes32[] memory level = leaves;
        for (uint256 d; d < depth; ++d) {
            proof[d] = level[index ^ 1];
            bytes32[] memory up = new bytes32[](level.length / 2);
            for (uint256 i; i < up.length; ++i) {
                up[i] = _hashPair(level[2 * i], level[2 * i + 1]);
            }
            level = up;
            index /= 2;
        }
    }

    /// @dev Fuzzed: whichever items were claimed before, or come with a broken proof, the batch mints exactly
    /// the others and skips those, each with its reason.
    function testFuzz_claimBatch_mints_exactly_the_claimable_items(uint8 claimedMask, uint8 brokenMask) public {
        uint256[] memory idx = new uint256[](4);
        (idx[0], idx[1], idx[2], idx[3]) = (0, 1, 2, 3);
        (ICertificateRegistry.ClaimRequest[] memory reqs, bytes32[][] memory proofs) = _batchA(idx);
        for (uint256 i; i < 4; ++i) {
            if ((claimedMask >> i) & 1 == 1) _claim(BATCH_A, BASE_A, i, BOB);
            if ((brokenMask >> i) & 1 == 1) proofs[i][0] ^= bytes32(uint256(1));
        }
        _batchOf(reqs, proofs);
        for (uint256 i; i < 4; ++i) {
            bool claimedBefore = (claimedMask >> i) & 1 == 1;
            bool broken = (brokenMask >> i) & 1 == 1;
            address expected = claimedBefore ? BOB : (broken ? address(0) : ALICE);
            assertEq(reg.isClaimed(reqs[i].tokenId) ? reg.ownerOf(reqs[i].tokenId) : address(0), expected, "owner");
        }
    }

    // =============================================================================================
    // Vouchers
    // =============================================================================================

    function test_voucher_claim_works_from_any_sender() public {
        ICertificateRegistry.ClaimRequest memory req = _req(BATCH_A, BASE_A, 0, ALICE);
        uint256 deadline = block.timestamp + 1 hours;
        bytes memory sig = _voucherSig(RELAYER_KEY, req, deadline);
        vm.expectEmit(address(reg));
        emit ICertificateRegistry.CertificateClaimed(req.tokenId, BATCH_A, ALICE);
        vm.prank(STRANGER);
        reg.claimWithVoucher(req, deadline, _proof(BATCH_A, BASE_A, 0), sig);
        assertEq(reg.ownerOf(req.tokenId), ALICE, "owner");
    }

    function test_voucher_valid_at_exactly_the_deadline() public {
        ICertificateRegistry.ClaimRequest memory req = _req(BATCH_A, BASE_A, 0, ALICE);
        uint256 deadline = block.timestamp;
        reg.claimWithVoucher(req, deadline, _proof(BATCH_A, BASE_A, 0), _voucherSig(RELAYER_KEY, req, deadline));
        assertEq(reg.ownerOf(req.tokenId), ALICE, "owner");
    }

    function test_voucher_with_changed_to_fails() public {
        ICertificateRegistry.ClaimRequest memory req = _req(BATCH_A, BASE_A, 0, ALICE);
        uint256 deadline = block.timestamp + 1 hours;
        bytes memory sig = _voucherSig(RELAYER_KEY, req, deadline);
        req.to = CAROL;
        // The recovered address is some unrelated account, not a relayer.
        vm.prank(CAROL);
        (bool ok, bytes memory ret) = address(reg).call(
            abi.encodeCall(reg.claimWithVoucher, (req, deadline, _proof(BATCH_A, BASE_A, 0), sig))
        );
        assertFalse(ok, "redirected voucher accepted");
        assertEq(
            bytes4(ret), ICertificateRegistry.CertificateRegistryInvalidVoucherSigner.selector, "InvalidVoucherSigner"
        );
        assertFalse(reg.isClaimed(req.tokenId), "not claimed");
    }

    function test_voucher_expired_fails() public {
        ICertificateRegistry.ClaimRequest memory req = _req(BATCH_A, BASE_A, 0, ALICE);
        uint256 deadline = block.timestamp + 1 hours;
        bytes memory sig = _voucherSig(RELAYER_KEY, req, deadline);
        bytes32[] memory proof = _proof(BATCH_A, BASE_A, 0);
        vm.warp(deadline + 1);
        vm.expectRevert(abi.encodeWithSelector(ICertificateRegistry.CertificateRegistryVoucherExpired.selector, deadline));
        reg.claimWithVoucher(req, deadline, proof, sig);
    }

    function test_voucher_signed_by_non_relayer_fails() public {
        ICertificateRegistry.ClaimRequest memory req = _req(BATCH_A, BASE_A, 0, ALICE);
        uint256 deadline = block.timestamp + 1 hours;
        bytes memory sig = _voucherSig(ALICE_KEY, req, deadline);
        bytes32[] memory proof = _proof(BATCH_A, BASE_A, 0);
        vm.expectRevert(abi.encodeWithSelector(ICertificateRegistry.CertificateRegistryInvalidVoucherSigner.selector, ALICE));
        reg.claimWithVoucher(req, deadline, proof, sig);
    }

    function test_voucher_from_a_revoked_relayer_fails() public {
        ICertificateRegistry.ClaimRequest memory req = _req(BATCH_A, BASE_A, 0, ALICE);
        uint256 deadline = block.timestamp + 1 hours;
        bytes memory sig = _voucherSig(RELAYER_KEY, req, deadline);
        bytes32[] memory proof = _proof(BATCH_A, BASE_A, 0);
        bytes32 relayerRole = reg.RELAYER_ROLE();
        vm.prank(ADMIN);
        reg.revokeRole(relayerRole, RELAYER);
        vm.expectRevert(abi.encodeWithSelector(ICertificateRegistry.CertificateRegistryInvalidVoucherSigner.selector, RELAYER));
        reg.claimWithVoucher(req, deadline, proof, sig);
    }

    function test_voucher_malformed_signature_fails() public {
        ICertificateRegistry.ClaimRequest memory req = _req(BATCH_A, BASE_A, 0, ALICE);
        uint256 deadline = block.timestamp + 1 hours;
        bytes32[] memory proof = _proof(BATCH_A, BASE_A, 0);
        vm.expectRevert(
            abi.encodeWithSelector(ICertificateRegistry.CertificateRegistryInvalidVoucherSigner.selector, address(0))
        );
        reg.claimWithVoucher(req, deadline, proof, hex"1234");
    }

    function test_voucher_replay_after_claim_fails() public {
        ICertificateRegistry.ClaimRequest memory req = _req(BATCH_A, BASE_A, 0, ALICE);
        uint256 deadline = block.timestamp + 1 hours;
        bytes memory sig = _voucherSig(RELAYER_KEY, req, deadline);
        bytes32[] memory proof = _proof(BATCH_A, BASE_A, 0);
        reg.claimWithVoucher(req, deadline, proof, sig);
        vm.expectRevert(abi.encodeWithSelector(ICertificateRegistry.CertificateRegistryAlreadyClaimed.selector, req.tokenId));
        reg.claimWithVoucher(req, deadline, proof, sig);
    }

    function test_voucher_cannot_claim_from_recalled_batch() public {
        ICertificateRegistry.ClaimRequest memory req = _req(BATCH_A, BASE_A, 0, ALICE);
        uint256 deadline = block.timestamp + 1 hours;
        bytes memory sig = _voucherSig(RELAYER_KEY, req, deadline);
        bytes32[] memory proof = _proof(BATCH_A, BASE_A, 0);
        vm.prank(FACTORY);
        reg.recallBatch(BATCH_A, bytes32(0));
        vm.expectRevert(abi.encodeWithSelector(ICertificateRegistry.CertificateRegistryBatchIsRecalled.selector, BATCH_A));
        reg.claimWithVoucher(req, deadline, proof, sig);
    }

    /// @dev Fuzzed: a voucher for one recipient never mints to another.
    function testFuzz_voucher_bound_to_recipient(address other) public {
        vm.assume(other != ALICE && other != address(0) && other != address(reg));
        ICertificateRegistry.ClaimRequest memory req = _req(BATCH_A, BASE_A, 0, ALICE);
        uint256 deadline = block.timestamp + 1 hours;
        bytes memory sig = _voucherSig(RELAYER_KEY, req, deadline);
        req.to = other;
        (bool ok,) =
            address(reg).call(abi.encodeCall(reg.claimWithVoucher, (req, deadline, _proof(BATCH_A, BASE_A, 0), sig)));
        assertFalse(ok, "redirected");
        assertFalse(reg.isClaimed(req.tokenId), "claimed");
    }

    // =============================================================================================
    // Pledge
    // =============================================================================================

    function test_pledge_locks_and_release_unlocks() public {
        uint256 id = _claim(BATCH_A, BASE_A, 0, ALICE);
        vm.warp(T0 + 50);
        vm.expectEmit(address(reg));
        emit ICertificateRegistry.CertificatePledged(id, ALICE, BANK);
        vm.prank(ALICE);
        reg.pledge(id, BANK);
        ICertificateRegistry.Certificate memory c = reg.certificate(id);
        assertTrue(c.state == ICertificateRegistry.CertificateState.Pledged, "pledged");
        assertEq(c.counterparty, BANK, "pledgee");
        assertEq(c.since, T0 + 50, "since");

        vm.expectRevert(_locked(id, ICertificateRegistry.CertificateState.Pledged));
        vm.prank(ALICE);
        reg.transferFrom(ALICE, BOB, id);

        vm.expectEmit(address(reg));
        emit ICertificateRegistry.CertificatePledgeReleased(id, BANK);
        vm.prank(BANK);
        reg.releasePledge(id);
        c = reg.certificate(id);
        assertTrue(c.state == ICertificateRegistry.CertificateState.Active, "active");
        assertEq(c.counterparty, address(0), "cleared");
        assertEq(c.since, 0, "since cleared");
        vm.prank(ALICE);
        reg.transferFrom(ALICE, BOB, id);
        assertEq(reg.ownerOf(id), BOB, "moves again");
    }

    function test_foreclose_moves_token_to_pledgee_active() public {
        uint256 id = _claim(BATCH_A, BASE_A, 0, ALICE);
        vm.prank(ALICE);
        reg.pledge(id, BANK);
        vm.expectEmit(address(reg));
        emit IERC721.Transfer(ALICE, BANK, id);
        vm.expectEmit(address(reg));
        emit ICertificateRegistry.CertificatePledgeForeclosed(id, BANK, ALICE);
        vm.prank(BANK);
        reg.foreclosePledge(id);
        assertEq(reg.ownerOf(id), BANK, "owner");
        assertTrue(_stateIs(id, ICertificateRegistry.CertificateState.Active), "active");
        assertEq(reg.certificate(id).counterparty, address(0), "cleared");
    }

    function test_pledge_rejects_non_owner_wrong_state_and_invalid_pledgee() public {
        uint256 id = _claim(BATCH_A, BASE_A, 0, ALICE);
        vm.expectRevert(abi.encodeWithSelector(ICertificateRegistry.CertificateRegistryNotTokenOwner.selector, id, BOB));
        vm.prank(BOB);
        reg.pledge(id, BANK);
        vm.expectRevert(abi.encodeWithSelector(ICertificateRegistry.CertificateRegistryNotTokenOwner.selector, _tid(BATCH_A, 104), ALICE));
        vm.prank(ALICE);
        reg.pledge(_tid(BATCH_A, 104), BANK); // never claimed
        vm.expectRevert(abi.encodeWithSelector(ICertificateRegistry.CertificateRegistryInvalidPledgee.selector, CAROL));
        vm.prank(ALICE);
        reg.pledge(id, CAROL);
        vm.prank(ALICE);
        reg.pledge(id, BANK);
        vm.expectRevert(
            abi.encodeWithSelector(
                ICertificateRegistry.CertificateRegistryUnexpectedState.selector,
                id,
                uint8(ICertificateRegistry.CertificateState.Pledged),
                uint8(ICertificateRegistry.CertificateState.Active)
            )
        );
        vm.prank(ALICE);
        reg.pledge(id, BANK);
    }

    function test_pledgee_cannot_pledge_to_itself() public {
        uint256 id = _claim(BATCH_A, BASE_A, 0, BANK);
        vm.expectRevert(abi.encodeWithSelector(ICertificateRegistry.CertificateRegistryInvalidPledgee.selector, BANK));
        vm.prank(BANK);
        reg.pledge(id, BANK);
    }

    function test_release_and_foreclose_only_by_the_recorded_pledgee() public {
        uint256 id = _claim(BATCH_A, BASE_A, 0, ALICE);
        address otherBank = address(0xB2);
        bytes32 pledgeeRole = reg.PLEDGEE_ROLE();
        vm.prank(ADMIN);
        reg.grantRole(pledgeeRole, otherBank);
        vm.prank(ALICE);
        reg.pledge(id, BANK);
        vm.expectRevert(abi.encodeWithSelector(ICertificateRegistry.CertificateRegistryNotPledgee.selector, id, otherBank));
        vm.prank(otherBank);
        reg.releasePledge(id);
        vm.expectRevert(abi.encodeWithSelector(ICertificateRegistry.CertificateRegistryNotPledgee.selector, id, ALICE));
        vm.prank(ALICE);
        reg.foreclosePledge(id);
        assertEq(reg.ownerOf(id), ALICE, "owner unchanged");
    }

    function test_release_pledge_of_active_token_reverts_unexpected_state() public {
        uint256 id = _claim(BATCH_A, BASE_A, 0, ALICE);
        vm.expectRevert(
            abi.encodeWithSelector(
                ICertificateRegistry.CertificateRegistryUnexpectedState.selector,
                id,
                uint8(ICertificateRegistry.CertificateState.Active),
                uint8(ICertificateRegistry.CertificateState.Pledged)
            )
        );
        vm.prank(BANK);
        reg.releasePledge(id);
    }

    function test_pledgee_can_release_after_losing_the_role() public {
        uint256 id = _claim(BATCH_A, BASE_A, 0, ALICE);
        vm.prank(ALICE);
        reg.pledge(id, BANK);
        bytes32 pledgeeRole = reg.PLEDGEE_ROLE();
        vm.prank(ADMIN);
        reg.revokeRole(pledgeeRole, BANK);
        vm.prank(BANK);
        reg.releasePledge(id);
        assertTrue(_stateIs(id, ICertificateRegistry.CertificateState.Active), "released");
    }

    // =============================================================================================
    // Custody and redemption
    // =============================================================================================

    function test_custody_cycle_with_release() public {
        uint256 id = _claim(BATCH_A, BASE_A, 0, ALICE);
        vm.warp(T0 + 10);
        vm.expectEmit(address(reg));
        emit ICertificateRegistry.CertificateCustodyStarted(id, VAULT, uint64(T0 + 10));
        vm.prank(ALICE);
        reg.depositToCustody(id, VAULT);
        assertTrue(_stateIs(id, ICertificateRegistry.CertificateState.InCustody), "in custody");
        assertEq(reg.certificate(id).counterparty, VAULT, "custodian");
        assertEq(reg.ownerOf(id), ALICE, "owner keeps the token");

        vm.expectRevert(_locked(id, ICertificateRegistry.CertificateState.InCustody));
        vm.prank(ALICE);
        reg.safeTransferFrom(ALICE, BOB, id);

        vm.prank(ALICE);
        reg.requestRedemption(id);
        vm.warp(T0 + 99);
        vm.expectEmit(address(reg));
        emit ICertificateRegistry.CertificateCustodyReleased(id, VAULT, uint64(T0 + 10), uint64(T0 + 99));
        vm.prank(VAULT);
        reg.releaseCustody(id);
        ICertificateRegistry.Certificate memory c = reg.certificate(id);
        assertTrue(c.state == ICertificateRegistry.CertificateState.Active, "active");
        assertFalse(c.redemptionRequested, "request dropped");
        assertEq(c.counterparty, address(0), "cleared");
    }

    function test_custodial_redemption_is_terminal() public {
        uint256 id = _claim(BATCH_A, BASE_A, 0, ALICE);
        vm.prank(ALICE);
        reg.depositToCustody(id, VAULT);
        vm.expectRevert(abi.encodeWithSelector(ICertificateRegistry.CertificateRegistryRedemptionNotRequested.selector, id));
        vm.prank(VAULT);
        reg.fulfilRedemption(id);

        vm.expectEmit(address(reg));
        emit ICertificateRegistry.CertificateRedemptionRequested(id, ALICE);
        vm.prank(ALICE);
        reg.requestRedemption(id);
        assertTrue(reg.certificate(id).redemptionRequested, "requested");

        vm.warp(T0 + 77);
        vm.expectEmit(address(reg));
        emit ICertificateRegistry.CertificateRedeemed(id, VAULT);
        vm.prank(VAULT);
        reg.fulfilRedemption(id);
        ICertificateRegistry.Certificate memory c = reg.certificate(id);
        assertTrue(c.state == ICertificateRegistry.CertificateState.Redeemed, "redeemed");
        assertEq(c.counterparty, VAULT, "custodian recorded");
        assertEq(c.since, T0 + 77, "since");

        vm.expectRevert(_locked(id, ICertificateRegistry.CertificateState.Redeemed));
        vm.prank(ALICE);
        reg.transferFrom(ALICE, BOB, id);
        vm.expectRevert(
            abi.encodeWithSelector(
                ICertificateRegistry.CertificateRegistryUnexpectedState.selector,
                id,
                uint8(ICertificateRegistry.CertificateState.Redeemed),
                uint8(ICertificateRegistry.CertificateState.InCustody)
            )
        );
        vm.prank(VAULT);
        reg.releaseCustody(id);
    }

    function test_custody_rejects_invalid_custodian_and_other_callers() public {
        uint256 id = _claim(BATCH_A, BASE_A, 0, ALICE);
        vm.expectRevert(abi.encodeWithSelector(ICertificateRegistry.CertificateRegistryInvalidCustodian.selector, BANK));
        vm.prank(ALICE);
        reg.depositToCustody(id, BANK);
        vm.expectRevert(abi.encodeWithSelector(ICertificateRegistry.CertificateRegistryNotTokenOwner.selector, id, BOB));
        vm.prank(BOB);
        reg.depositToCustody(id, VAULT);
        vm.expectRevert(
            abi.encodeWithSelector(
                ICertificateRegistry.CertificateRegistryUnexpectedState.selector,
                id,
                uint8(ICertificateRegistry.CertificateState.Active),
                uint8(ICertificateRegistry.CertificateState.InCustody)
            )
        );
        vm.prank(ALICE);
        reg.requestRedemption(id);
        vm.prank(ALICE);
        reg.depositToCustody(id, VAULT);
        vm.expectRevert(abi.encodeWithSelector(ICertificateRegistry.CertificateRegistryNotCustodian.selector, id, BANK));
        vm.prank(BANK);
        reg.releaseCustody(id);
        vm.expectRevert(abi.encodeWithSelector(ICertificateRegistry.CertificateRegistryNotTokenOwner.selector, id, VAULT));
        vm.prank(VAULT);
        reg.requestRedemption(id);
    }

    function test_custodian_cannot_deposit_with_itself() public {
        uint256 id = _claim(BATCH_A, BASE_A, 0, VAULT);
        vm.expectRevert(abi.encodeWithSelector(ICertificateRegistry.CertificateRegistryInvalidCustodian.selector, VAULT));
        vm.prank(VAULT);
        reg.depositToCustody(id, VAULT);
    }

    function test_direct_redeem_is_terminal() public {
        uint256 id = _claim(BATCH_A, BASE_A, 0, ALICE);
        vm.expectEmit(address(reg));
        emit ICertificateRegistry.CertificateRedeemed(id, ALICE);
        vm.prank(ALICE);
        reg.redeem(id);
        assertTrue(_stateIs(id, ICertificateRegistry.CertificateState.Redeemed), "redeemed");
        vm.expectRevert(
            abi.encodeWithSelector(
                ICertificateRegistry.CertificateRegistryUnexpectedState.selector,
                id,
                uint8(ICertificateRegistry.CertificateState.Redeemed),
                uint8(ICertificateRegistry.CertificateState.Active)
            )
        );
        vm.prank(ALICE);
        reg.redeem(id);
        vm.expectRevert(abi.encodeWithSelector(ICertificateRegistry.CertificateRegistryNotTokenOwner.selector, id, BOB));
        vm.prank(BOB);
        reg.redeem(id);
    }

    // =============================================================================================
    // Gifts
    // =============================================================================================

    function test_gift_create_and_claim_with_signature_bound_to_to() public {
        uint256 id = _claim(BATCH_A, BASE_A, 0, ALICE);
        uint64 expiry = uint64(block.timestamp + 1 days);
        vm.expectEmit(address(reg));
        emit IERC721.Transfer(ALICE, address(reg), id);
        vm.expectEmit(address(reg));
        emit ICertificateRegistry.GiftCreated(id, ALICE, CLAIM_KEY_ADDR, expiry, 1);
        vm.prank(ALICE);
        reg.createGift(id, CLAIM_KEY_ADDR, expiry);
        assertEq(reg.ownerOf(id), address(reg), "escrow holds it");
        ICertificateRegistry.Gift memory g = reg.gift(id);
        assertEq(g.giver, ALICE, "giver");
        assertEq(g.claimKey, CLAIM_KEY_ADDR, "key");
        assertEq(g.expiry, expiry, "expiry");
        assertEq(g.nonce, 1, "nonce");

        bytes memory sig = _giftSig(CLAIM_KEY, id, BOB, 1);
        vm.expectEmit(address(reg));
        emit IERC721.Transfer(address(reg), BOB, id);
        vm.expectEmit(address(reg));
        emit ICertificateRegistry.GiftClaimed(id, BOB);
        vm.prank(RELAYER);
        reg.claimGift(id, BOB, sig);
        assertEq(reg.ownerOf(id), BOB, "recipient");
        assertEq(reg.gift(id).giver, address(0), "gift deleted");
        assertTrue(_stateIs(id, ICertificateRegistry.CertificateState.Active), "active");
    }

    function test_gift_front_runner_cannot_redirect() public {
        uint256 id = _claim(BATCH_A, BASE_A, 0, ALICE);
        uint64 nonce = _gift(id, ALICE);
        bytes memory sig = _giftSig(CLAIM_KEY, id, BOB, nonce);
        // The attacker copies the pending signature and submits it first, naming itself.
        vm.expectRevert(abi.encodeWithSelector(ICertificateRegistry.CertificateRegistryInvalidGiftSignature.selector, id));
        vm.prank(STRANGER);
        reg.claimGift(id, STRANGER, sig);
        assertEq(reg.ownerOf(id), address(reg), "still in escrow");
        vm.prank(STRANGER);
        reg.claimGift(id, BOB, sig); // submitting it unchanged only ever helps BOB
        assertEq(reg.ownerOf(id), BOB, "bob");
    }

    function test_gift_claim_after_expiry_fails_but_giver_can_cancel() public {
        uint256 id = _claim(BATCH_A, BASE_A, 0, ALICE);
        uint64 nonce = _gift(id, ALICE);
        uint64 expiry = reg.gift(id).expiry;
        bytes memory sig = _giftSig(CLAIM_KEY, id, BOB, nonce);
        vm.warp(expiry + 1);
        vm.expectRevert(abi.encodeWithSelector(ICertificateRegistry.CertificateRegistryGiftExpired.selector, id, expiry));
        reg.claimGift(id, BOB, sig);
        vm.prank(ALICE);
        reg.cancelGift(id);
        assertEq(reg.ownerOf(id), ALICE, "returned");
    }

    function test_gift_claimable_at_exactly_expiry() public {
        uint256 id = _claim(BATCH_A, BASE_A, 0, ALICE);
        uint64 nonce = _gift(id, ALICE);
        vm.warp(reg.gift(id).expiry);
        reg.claimGift(id, BOB, _giftSig(CLAIM_KEY, id, BOB, nonce));
        assertEq(reg.ownerOf(id), BOB, "claimed at expiry");
    }

    function test_gift_cancel_by_giver_returns_token() public {
        uint256 id = _claim(BATCH_A, BASE_A, 0, ALICE);
        _gift(id, ALICE);
        vm.expectEmit(address(reg));
        emit IERC721.Transfer(address(reg), ALICE, id);
        vm.expectEmit(address(reg));
        emit ICertificateRegistry.GiftCancelled(id, ALICE);
        vm.prank(ALICE);
        reg.cancelGift(id);
        assertEq(reg.ownerOf(id), ALICE, "returned");
        assertEq(reg.gift(id).claimKey, address(0), "deleted");
    }

    function test_gift_cancel_by_non_giver_before_or_at_expiry_fails() public {
        uint256 id = _claim(BATCH_A, BASE_A, 0, ALICE);
        _gift(id, ALICE);
        vm.expectRevert(abi.encodeWithSelector(ICertificateRegistry.CertificateRegistryNotGiver.selector, id, BOB));
        vm.prank(BOB);
        reg.cancelGift(id);
        // At exactly `expiry` the gift can still be claimed, so it is still only the giver's to cancel.
        vm.warp(reg.gift(id).expiry);
        vm.expectRevert(abi.encodeWithSelector(ICertificateRegistry.CertificateRegistryNotGiver.selector, id, STRANGER));
        vm.prank(STRANGER);
        reg.cancelGift(id);
        assertEq(reg.ownerOf(id), address(reg), "still in escrow");
    }

    function test_gift_expired_is_returned_to_the_giver_by_anyone() public {
        uint256 id = _claim(BATCH_A, BASE_A, 0, ALICE);
        _gift(id, ALICE);
        vm.warp(reg.gift(id).expiry + 1);
        vm.expectEmit(address(reg));
        emit IERC721.Transfer(address(reg), ALICE, id);
        vm.expectEmit(address(reg));
        emit ICertificateRegistry.GiftCancelled(id, ALICE);
        vm.prank(STRANGER);
        reg.cancelGift(id);
        assertEq(reg.ownerOf(id), ALICE, "back with the giver");
        assertEq(reg.gift(id).giver, address(0), "deleted");
    }

    function testFuzz_gift_cancel_by_a_stranger_only_after_expiry_and_always_to_the_giver(
        address caller,
        uint256 delay
    ) public {
        vm.assume(caller != ALICE && caller != address(fwd));
        uint256 id = _claim(BATCH_A, BASE_A, 0, ALICE);
        _gift(id, ALICE);
        uint64 expiry = reg.gift(id).expiry;
        vm.warp(bound(delay, block.timestamp, uint256(expiry) + 3 days));
        vm.prank(caller);
        (bool ok,) = address(reg).call(abi.encodeCall(reg.cancelGift, (id)));
        assertEq(ok, block.timestamp > expiry, "cancellable exactly when expired");
        assertEq(reg.ownerOf(id), ok ? ALICE : address(reg), "only ever back to the giver");
    }

    function test_gift_recreated_refuses_old_signature() public {
        uint256 id = _claim(BATCH_A, BASE_A, 0, ALICE);
        uint64 oldNonce = _gift(id, ALICE);
        bytes memory oldSig = _giftSig(CLAIM_KEY, id, BOB, oldNonce);
        vm.prank(ALICE);
        reg.cancelGift(id);
        uint64 newNonce = _gift(id, ALICE); // same claim key, same token
        assertTrue(newNonce != oldNonce, "fresh nonce");
        vm.expectRevert(abi.encodeWithSelector(ICertificateRegistry.CertificateRegistryInvalidGiftSignature.selector, id));
        reg.claimGift(id, BOB, oldSig);
        reg.claimGift(id, BOB, _giftSig(CLAIM_KEY, id, BOB, newNonce));
        assertEq(reg.ownerOf(id), BOB, "new signature works");
    }

    function test_gift_claimed_cannot_be_claimed_or_cancelled_again() public {
        uint256 id = _claim(BATCH_A, BASE_A, 0, ALICE);
        uint64 nonce = _gift(id, ALICE);
        bytes memory sig = _giftSig(CLAIM_KEY, id, BOB, nonce);
        reg.claimGift(id, BOB, sig);
        vm.expectRevert(abi.encodeWithSelector(ICertificateRegistry.CertificateRegistryGiftNotFound.selector, id));
        reg.claimGift(id, BOB, sig);
        vm.expectRevert(abi.encodeWithSelector(ICertificateRegistry.CertificateRegistryGiftNotFound.selector, id));
        vm.prank(ALICE);
        reg.cancelGift(id);
    }

    function test_gift_signature_by_another_key_fails() public {
        uint256 id = _claim(BATCH_A, BASE_A, 0, ALICE);
        uint64 nonce = _gift(id, ALICE);
        vm.expectRevert(abi.encodeWithSelector(ICertificateRegistry.CertificateRegistryInvalidGiftSignature.selector, id));
        reg.claimGift(id, BOB, _giftSig(ALICE_KEY, id, BOB, nonce));
        vm.expectRevert(abi.encodeWithSelector(ICertificateRegistry.CertificateRegistryInvalidGiftSignature.selector, id));
        reg.claimGift(id, BOB, hex"00");
    }

    function test_gift_claim_to_zero_or_registry_fails() public {
        uint256 id = _claim(BATCH_A, BASE_A, 0, ALICE);
        uint64 nonce = _gift(id, ALICE);
        bytes memory sig = _giftSig(CLAIM_KEY, id, address(0), nonce);
        vm.expectRevert(
            abi.encodeWithSelector(ICertificateRegistry.CertificateRegistryInvalidRecipient.selector, address(0))
        );
        reg.claimGift(id, address(0), sig);
        sig = _giftSig(CLAIM_KEY, id, address(reg), nonce);
        vm.expectRevert(
            abi.encodeWithSelector(ICertificateRegistry.CertificateRegistryInvalidRecipient.selector, address(reg))
        );
        reg.claimGift(id, address(reg), sig);
    }

    function test_transfer_to_the_registry_outside_createGift_reverts() public {
        uint256 id = _claim(BATCH_A, BASE_A, 0, ALICE);
        vm.expectRevert(
            abi.encodeWithSelector(ICertificateRegistry.CertificateRegistryInvalidRecipient.selector, address(reg))
        );
        vm.prank(ALICE);
        reg.transferFrom(ALICE, address(reg), id);
        assertEq(reg.ownerOf(id), ALICE, "not stranded");
    }

    function test_createGift_rejects_bad_expiry_zero_key_non_owner_and_locked() public {
        uint256 id = _claim(BATCH_A, BASE_A, 0, ALICE);
        uint64 now_ = uint64(block.timestamp);
        vm.startPrank(ALICE);
        vm.expectRevert(abi.encodeWithSelector(ICertificateRegistry.CertificateRegistryInvalidExpiry.selector, now_));
        reg.createGift(id, CLAIM_KEY_ADDR, now_);
        vm.expectRevert(abi.encodeWithSelector(ICertificateRegistry.CertificateRegistryInvalidGiftSignature.selector, id));
        reg.createGift(id, address(0), now_ + 1);
        vm.stopPrank();
        vm.expectRevert(abi.encodeWithSelector(ICertificateRegistry.CertificateRegistryNotTokenOwner.selector, id, BOB));
        vm.prank(BOB);
        reg.createGift(id, CLAIM_KEY_ADDR, now_ + 1);
        vm.prank(ALICE);
        reg.pledge(id, BANK);
        vm.expectRevert(
            abi.encodeWithSelector(
                ICertificateRegistry.CertificateRegistryUnexpectedState.selector,
                id,
                uint8(ICertificateRegistry.CertificateState.Pledged),
                uint8(ICertificateRegistry.CertificateState.Active)
            )
        );
        vm.prank(ALICE);
        reg.createGift(id, CLAIM_KEY_ADDR, now_ + 1);
    }

    function test_escrowed_token_cannot_be_pledged_or_regifted_by_the_giver() public {
        uint256 id = _claim(BATCH_A, BASE_A, 0, ALICE);
        _gift(id, ALICE);
        vm.expectRevert(abi.encodeWithSelector(ICertificateRegistry.CertificateRegistryNotTokenOwner.selector, id, ALICE));
        vm.prank(ALICE);
        reg.pledge(id, BANK);
        vm.expectRevert(abi.encodeWithSelector(ICertificateRegistry.CertificateRegistryNotTokenOwner.selector, id, ALICE));
        vm.prank(ALICE);
        reg.createGift(id, CLAIM_KEY_ADDR, uint64(block.timestamp + 5));
    }

    function test_gift_nonce_is_a_global_counter() public {
        uint256 a = _claim(BATCH_A, BASE_A, 0, ALICE);
        uint256 b = _claim(BATCH_A, BASE_A, 1, BOB);
        assertEq(_gift(a, ALICE), 1, "first");
        assertEq(_gift(b, BOB), 2, "second");
    }

    /// @dev Fuzzed: a gift signature for BOB never releases the gift to anyone else.
    function testFuzz_gift_signature_bound_to_recipient(address other) public {
        vm.assume(other != BOB && other != address(0) && other != address(reg));
        uint256 id = _claim(BATCH_A, BASE_A, 0, ALICE);
        uint64 nonce = _gift(id, ALICE);
        (bool ok,) = address(reg).call(abi.encodeCall(reg.claimGift, (id, other, _giftSig(CLAIM_KEY, id, BOB, nonce))));
        assertFalse(ok, "redirected");
        assertEq(reg.ownerOf(id), address(reg), "escrow");
    }

    // =============================================================================================
    // Pause
    // =============================================================================================

    function test_pause_blocks_claims_moves_and_lifecycle_but_not_audits() public {
        uint256 id = _claim(BATCH_A, BASE_A, 0, ALICE);
        uint256 gifted = _claim(BATCH_A, BASE_A, 1, ALICE);
        uint64 nonce = _gift(gifted, ALICE);
        vm.expectEmit(address(reg));
        emit Pausable.Paused(ADMIN);
        vm.prank(ADMIN);
        reg.pause();

        bytes4 paused = Pausable.EnforcedPause.selector;
        ICertificateRegistry.ClaimRequest memory req = _req(BATCH_A, BASE_A, 2, ALICE);
        bytes32[] memory proof = _proof(BATCH_A, BASE_A, 2);
        vm.expectRevert(paused);
        vm.prank(RELAYER);
        reg.claim(req, proof);
        uint256 deadline = block.timestamp + 1 hours;
        bytes memory sig = _voucherSig(RELAYER_KEY, req, deadline);
        vm.expectRevert(paused);
        reg.claimWithVoucher(req, deadline, proof, sig);
        vm.expectRevert(paused);
        vm.prank(ALICE);
        reg.transferFrom(ALICE, BOB, id);
        vm.expectRevert(paused);
        vm.prank(ALICE);
        reg.pledge(id, BANK);
        vm.expectRevert(paused);
        vm.prank(ALICE);
        reg.depositToCustody(id, VAULT);
        vm.expectRevert(paused);
        vm.prank(ALICE);
        reg.redeem(id);
        vm.expectRevert(paused);
        vm.prank(ALICE);
        reg.createGift(id, CLAIM_KEY_ADDR, uint64(block.timestamp + 1 days));
        bytes memory giftSig = _giftSig(CLAIM_KEY, gifted, BOB, nonce);
        vm.expectRevert(paused);
        reg.claimGift(gifted, BOB, giftSig);
        vm.expectRevert(paused);
        vm.prank(ALICE);
        reg.cancelGift(gifted);

        // Audits go on.
        vm.prank(FACTORY);
        reg.anchorBatch(BATCH_C, _root(BATCH_C, BASE_C), 4, META);
        vm.prank(ATTESTOR);
        reg.attestBatch(BATCH_C, bytes32(uint256(1)), "");
        vm.prank(ANCHORER);
        reg.anchorLog(1, bytes32(uint256(1)));
        vm.prank(FACTORY);
        reg.recallBatch(BATCH_B, bytes32(0));

        vm.expectEmit(address(reg));
        emit Pausable.Unpaused(ADMIN);
        vm.prank(ADMIN);
        reg.unpause();
        vm.prank(RELAYER);
        reg.claim(req, proof);
        vm.prank(ALICE);
        reg.transferFrom(ALICE, BOB, id);
        assertEq(reg.ownerOf(id), BOB, "moves after unpause");
    }

    function test_pause_blocks_lock_releases_too() public {
        uint256 id = _claim(BATCH_A, BASE_A, 0, ALICE);
        uint256 kept = _claim(BATCH_A, BASE_A, 1, ALICE);
        vm.prank(ALICE);
        reg.pledge(id, BANK);
        vm.prank(ALICE);
        reg.depositToCustody(kept, VAULT);
        vm.prank(ADMIN);
        reg.pause();
        vm.expectRevert(Pausable.EnforcedPause.selector);
        vm.prank(BANK);
        reg.releasePledge(id);
        vm.expectRevert(Pausable.EnforcedPause.selector);
        vm.prank(BANK);
        reg.foreclosePledge(id);
        vm.expectRevert(Pausable.EnforcedPause.selector);
        vm.prank(VAULT);
        reg.releaseCustody(kept);
        vm.expectRevert(Pausable.EnforcedPause.selector);
        vm.prank(ALICE);
        reg.requestRedemption(kept);
        vm.expectRevert(Pausable.EnforcedPause.selector);
        vm.prank(VAULT);
        reg.fulfilRedemption(kept);
    }

    function test_a_pause_past_a_gifts_expiry_does_not_lose_the_gift() public {
        uint256 id = _claim(BATCH_A, BASE_A, 0, ALICE);
        uint64 expiry = uint64(T0 + 1 days);
        vm.prank(ALICE);
        reg.createGift(id, CLAIM_KEY_ADDR, expiry);
        uint64 nonce = reg.gift(id).nonce;
        vm.warp(T0 + 1 hours);
        vm.prank(ADMIN);
        reg.pause();
        vm.warp(T0 + 3 days); // paused well past the expiry
        uint64 pushed = expiry + uint64(3 days - 1 hours);
        assertEq(reg.gift(id).expiry, pushed, "the pause so far does not count");
        vm.prank(ADMIN);
        reg.unpause();
        assertEq(reg.gift(id).expiry, pushed, "pushed back by the whole pause");
        // Not expired: only the giver may cancel it, and the recipient can still claim it.
        vm.expectRevert(abi.encodeWithSelector(ICertificateRegistry.CertificateRegistryNotGiver.selector, id, STRANGER));
        vm.prank(STRANGER);
        reg.cancelGift(id);
        vm.warp(pushed);
        reg.claimGift(id, BOB, _giftSig(CLAIM_KEY, id, BOB, nonce));
        assertEq(reg.ownerOf(id), BOB, "claimed after the original expiry");
    }

    function test_a_gift_past_its_pushed_back_expiry_expires() public {
        uint256 id = _claim(BATCH_A, BASE_A, 0, ALICE);
        vm.prank(ADMIN);
        reg.pause();
        vm.warp(T0 + 2 hours);
        vm.prank(ADMIN);
        reg.unpause(); // a pause before the gift: it does not extend it
        uint64 expiry = uint64(block.timestamp + 1 days);
        vm.prank(ALICE);
        reg.createGift(id, CLAIM_KEY_ADDR, expiry);
        assertEq(reg.gift(id).expiry, expiry, "created as asked");
        vm.warp(T0 + 3 hours);
        vm.prank(ADMIN);
        reg.pause();
        vm.warp(T0 + 4 hours);
        vm.prank(ADMIN);
        reg.unpause();
        uint64 pushed = expiry + 1 hours;
        assertEq(reg.gift(id).expiry, pushed, "only the pause during its life");
        bytes memory sig = _giftSig(CLAIM_KEY, id, BOB, reg.gift(id).nonce);
        vm.warp(pushed + 1);
        vm.expectRevert(abi.encodeWithSelector(ICertificateRegistry.CertificateRegistryGiftExpired.selector, id, pushed));
        reg.claimGift(id, BOB, sig);
        vm.prank(STRANGER);
        reg.cancelGift(id);
        assertEq(reg.ownerOf(id), ALICE, "returned to the giver");
    }

    function test_a_gift_with_the_largest_expiry_stays_readable_across_a_pause() public {
        uint256 id = _claim(BATCH_A, BASE_A, 0, ALICE);
        vm.prank(ALICE);
        reg.createGift(id, CLAIM_KEY_ADDR, type(uint64).max);
        vm.prank(ADMIN);
        reg.pause();
        vm.warp(T0 + 1 days);
        vm.prank(ADMIN);
        reg.unpause();
        assertEq(reg.gift(id).expiry, type(uint64).max, "saturated, not overflowed");
        vm.prank(ALICE);
        reg.cancelGift(id);
        assertEq(reg.ownerOf(id), ALICE, "the giver can still take it back");
    }

    /// @dev Fuzzed: a gift stays claimable for exactly its lifetime plus the time paused during it.
    function testFuzz_paused_time_never_counts_against_a_gift(uint32 lifetime, uint32 before, uint32 paused) public {
        lifetime = uint32(bound(lifetime, 1, 90 days));
        before = uint32(bound(before, 0, lifetime));
        paused = uint32(bound(paused, 1, 365 days));
        uint256 id = _claim(BATCH_A, BASE_A, 0, ALICE);
        uint64 expiry = uint64(T0 + lifetime);
        vm.prank(ALICE);
        reg.createGift(id, CLAIM_KEY_ADDR, expiry);
        bytes memory sig = _giftSig(CLAIM_KEY, id, BOB, reg.gift(id).nonce);
        vm.warp(T0 + before);
        vm.prank(ADMIN);
        reg.pause();
        vm.warp(T0 + uint256(before) + paused);
        vm.prank(ADMIN);
        reg.unpause();
        uint64 pushed = expiry + paused;
        assertEq(reg.gift(id).expiry, pushed, "expiry");
        vm.warp(pushed + 1);
        (bool late,) = address(reg).call(abi.encodeCall(reg.claimGift, (id, BOB, sig)));
        assertFalse(late, "claimed after the pushed-back expiry");
        vm.warp(pushed);
        reg.claimGift(id, BOB, sig);
        assertEq(reg.ownerOf(id), BOB, "claimable up to the pushed-back expiry");
    }

    // =============================================================================================
    // ERC-4906: a metadata update after every change of a certificate or its gift
    // =============================================================================================

    function _expectMetadataUpdate(uint256 id) internal {
        vm.expectEmit(address(reg));
        emit IERC4906.MetadataUpdate(id);
    }

    function test_every_lifecycle_change_emits_a_metadata_update() public {
        uint256 id = _claim(BATCH_A, BASE_A, 0, ALICE);
        uint256 kept = _claim(BATCH_A, BASE_A, 1, ALICE);
        _expectMetadataUpdate(id);
        vm.prank(ALICE);
        reg.pledge(id, BANK);
        _expectMetadataUpdate(id);
        vm.prank(BANK);
        reg.releasePledge(id);
        vm.prank(ALICE);
        reg.pledge(id, BANK);
        _expectMetadataUpdate(id);
        vm.prank(BANK);
        reg.foreclosePledge(id);
        _expectMetadataUpdate(kept);
        vm.prank(ALICE);
        reg.depositToCustody(kept, VAULT);
        _expectMetadataUpdate(kept);
        vm.prank(VAULT);
        reg.releaseCustody(kept);
        vm.prank(ALICE);
        reg.depositToCustody(kept, VAULT);
        _expectMetadataUpdate(kept);
        vm.prank(ALICE);
        reg.requestRedemption(kept);
        _expectMetadataUpdate(kept);
        vm.prank(VAULT);
        reg.fulfilRedemption(kept);
        _expectMetadataUpdate(id);
        vm.prank(BANK);
        reg.createGift(id, CLAIM_KEY_ADDR, uint64(block.timestamp + 1 days));
        _expectMetadataUpdate(id);
        vm.prank(BANK);
        reg.cancelGift(id);
        uint64 nonce = _gift(id, BANK);
        _expectMetadataUpdate(id);
        reg.claimGift(id, CAROL, _giftSig(CLAIM_KEY, id, CAROL, nonce));
        _expectMetadataUpdate(id);
        vm.prank(CAROL);
        reg.redeem(id);
    }

    // =============================================================================================
    // Recall
    // =============================================================================================

    function test_recall_blocks_claims_moves_and_new_locks_but_a_pledge_release_works() public {
        uint256 free = _claim(BATCH_A, BASE_A, 0, ALICE);
        uint256 pledged = _claim(BATCH_A, BASE_A, 1, ALICE);
        uint256 kept = _claim(BATCH_A, BASE_A, 2, ALICE);
        uint256 other = _claim(BATCH_B, BASE_B, 0, ALICE);
        vm.startPrank(ALICE);
        reg.pledge(pledged, BANK);
        reg.depositToCustody(kept, VAULT);
        vm.stopPrank();

        vm.prank(FACTORY);
        reg.recallBatch(BATCH_A, keccak256("recall"));
        bytes memory recalled =
            abi.encodeWithSelector(ICertificateRegistry.CertificateRegistryBatchIsRecalled.selector, BATCH_A);

        ICertificateRegistry.ClaimRequest memory req = _req(BATCH_A, BASE_A, 3, ALICE);
        bytes32[] memory proof = _proof(BATCH_A, BASE_A, 3);
        vm.expectRevert(recalled);
        vm.prank(RELAYER);
        reg.claim(req, proof);

        vm.startPrank(ALICE);
        vm.expectRevert(recalled);
        reg.transferFrom(ALICE, BOB, free);
        vm.expectRevert(recalled);
        reg.pledge(free, BANK);
        vm.expectRevert(recalled);
        reg.depositToCustody(free, VAULT);
        vm.expectRevert(recalled);
        reg.createGift(free, CLAIM_KEY_ADDR, uint64(block.timestamp + 1 days));
        reg.transferFrom(ALICE, BOB, other); // other batches are unaffected
        vm.stopPrank();
        assertEq(reg.ownerOf(other), BOB, "batch B moves");

        vm.expectRevert(recalled);
        vm.prank(BANK);
        reg.foreclosePledge(pledged);
        vm.prank(BANK);
        reg.releasePledge(pledged);
        assertTrue(_stateIs(pledged, ICertificateRegistry.CertificateState.Active), "pledge released");
        assertEq(reg.ownerOf(pledged), ALICE, "owner unchanged");
        assertTrue(_stateIs(kept, ICertificateRegistry.CertificateState.InCustody), "still in custody");
    }

    function test_a_recalled_bottle_is_never_handed_out() public {
        uint256 held = _claim(BATCH_A, BASE_A, 0, ALICE);
        uint256 stored = _claim(BATCH_A, BASE_A, 1, ALICE);
        uint256 asked = _claim(BATCH_A, BASE_A, 2, ALICE);
        uint256 other = _claim(BATCH_B, BASE_B, 0, ALICE);
        vm.startPrank(ALICE);
        reg.depositToCustody(stored, VAULT);
        reg.depositToCustody(asked, VAULT);
        reg.requestRedemption(asked); // asked before the recall
        vm.stopPrank();
        vm.prank(FACTORY);
        reg.recallBatch(BATCH_A, keccak256("recall"));
        bytes memory recalled =
            abi.encodeWithSelector(ICertificateRegistry.CertificateRegistryBatchIsRecalled.selector, BATCH_A);

        vm.expectRevert(recalled);
        vm.prank(ALICE);
        reg.redeem(held); // a store cannot hand it over
        vm.expectRevert(recalled);
        vm.prank(ALICE);
        reg.requestRedemption(stored);
        vm.expectRevert(recalled);
        vm.prank(VAULT);
        reg.fulfilRedemption(asked); // a request made before the recall is not fulfilled either
        vm.expectRevert(recalled);
        vm.prank(VAULT);
        reg.releaseCustody(stored); // the bottle would leave the warehouse

        assertTrue(_stateIs(held, ICertificateRegistry.CertificateState.Active), "held: active");
        assertTrue(_stateIs(stored, ICertificateRegistry.CertificateState.InCustody), "stored: in custody");
        assertFalse(reg.certificate(stored).redemptionRequested, "no request recorded");
        assertTrue(_stateIs(asked, ICertificateRegistry.CertificateState.InCustody), "asked: still stored");
        // Other batches are handed out as before.
        vm.prank(ALICE);
        reg.redeem(other);
        assertTrue(_stateIs(other, ICertificateRegistry.CertificateState.Redeemed), "batch B redeems");
    }

    function test_recall_emits_a_metadata_update_of_every_token() public {
        vm.expectEmit(address(reg));
        emit ICertificateRegistry.BatchRecalled(BATCH_A, keccak256("r"));
        vm.expectEmit(address(reg));
        emit IERC4906.BatchMetadataUpdate(0, type(uint256).max);
        vm.prank(FACTORY);
        reg.recallBatch(BATCH_A, keccak256("r"));
    }

    function test_recall_lets_gifts_leave_escrow() public {
        uint256 a = _claim(BATCH_A, BASE_A, 0, ALICE);
        uint256 b = _claim(BATCH_A, BASE_A, 1, ALICE);
        uint64 nonceA = _gift(a, ALICE);
        _gift(b, ALICE);
        vm.prank(FACTORY);
        reg.recallBatch(BATCH_A, bytes32(0));
        reg.claimGift(a, BOB, _giftSig(CLAIM_KEY, a, BOB, nonceA));
        vm.prank(ALICE);
        reg.cancelGift(b);
        assertEq(reg.ownerOf(a), BOB, "claimed out of escrow");
        assertEq(reg.ownerOf(b), ALICE, "cancelled out of escrow");
        vm.expectRevert(abi.encodeWithSelector(ICertificateRegistry.CertificateRegistryBatchIsRecalled.selector, BATCH_A));
        vm.prank(BOB);
        reg.transferFrom(BOB, CAROL, a);
    }

    // =============================================================================================
    // Lock invariants: concrete cases, then fuzzed
    // =============================================================================================

    function _lockInto(uint256 id, uint256 kind) internal {
        vm.startPrank(ALICE);
        if (kind == 0) {
            reg.pledge(id, BANK);
        } else if (kind == 1) {
            reg.depositToCustody(id, VAULT);
        } else {
            reg.redeem(id);
        }
        vm.stopPrank();
    }

    /// @dev Every ERC-721 move path, tried by `actor`, toward `to`. Returns whether any succeeded.
    function _tryEveryMove(uint256 id, address actor, address to) internal returns (bool anyMoved) {
        address owner = reg.ownerOf(id);
        bytes[5] memory calls = [
            abi.encodeWithSignature("transferFrom(address,address,uint256)", owner, to, id),
            abi.encodeWithSignature("safeTransferFrom(address,address,uint256)", owner, to, id),
            abi.encodeWithSignature("safeTransferFrom(address,address,uint256,bytes)", owner, to, id, ""),
            abi.encodeCall(reg.createGift, (id, CLAIM_KEY_ADDR, uint64(block.timestamp + 1 days))),
            abi.encodeCall(reg.foreclosePledge, (id))
        ];
        for (uint256 i; i < calls.length; ++i) {
            vm.prank(actor);
            (bool ok,) = address(reg).call(calls[i]);
            if (ok && reg.ownerOf(id) != owner) return true;
        }
        return false;
    }

    function test_locked_tokens_do_not_move_by_owner_or_operator() public {
        for (uint256 kind; kind < 3; ++kind) {
            uint256 id = _claim(BATCH_A, BASE_A, kind, ALICE);
            vm.prank(ALICE);
            reg.setApprovalForAll(CAROL, true);
            _lockInto(id, kind);
            assertFalse(_tryEveryMove(id, ALICE, BOB), "owner moved a locked token");
            assertFalse(_tryEveryMove(id, CAROL, BOB), "operator moved a locked token");
            if (kind != 0) assertFalse(_tryEveryMove(id, BANK, BANK), "pledgee moved a non-pledged token");
            assertEq(reg.ownerOf(id), ALICE, "owner");
        }
    }

    function testFuzz_locked_tokens_never_move(uint256 kind, uint256 actorSeed, address to) public {
        vm.assume(to != address(0));
        kind = bound(kind, 0, 2);
        address[5] memory actors = [ALICE, BOB, CAROL, VAULT, RELAYER];
        address actor = actors[actorSeed % 5];
        uint256 id = _claim(BATCH_A, BASE_A, 0, ALICE);
        vm.prank(ALICE);
        reg.setApprovalForAll(CAROL, true);
        vm.prank(ALICE);
        reg.approve(BOB, id);
        _lockInto(id, kind);
        assertFalse(_tryEveryMove(id, actor, to), "locked token moved");
        assertEq(reg.ownerOf(id), ALICE, "owner");
    }

    // ---- Random lifecycle sequences ----

    uint256 private constant OPS = 16;

    function _actor(uint256 r) internal view returns (address) {
        address[6] memory actors = [ALICE, BOB, CAROL, BANK, VAULT, STRANGER];
        return actors[r % 6];
    }

    function _randomCall(uint256 r, uint256 id) internal view returns (address actor, bytes memory data, uint256 op) {
        op = r % OPS;
        // Biased toward calls that can succeed: half by the owner (or the giver of an escrowed token), and
        // half the lock requests name the role holder.
        address owner = reg.ownerOf(id);
        if (owner == address(reg)) owner = reg.gift(id).giver;
        actor = (r >> 32) % 2 == 0 ? owner : _actor(r >> 8);
        address target = _actor(r >> 16);
        if (op == 3 && (r >> 40) % 2 == 0) target = BANK;
        if (op == 6 && (r >> 40) % 2 == 0) target = VAULT;
        if (op == 0) {
            // Now and then aim at the registry itself, which only createGift may send to.
            if ((r >> 48) % 8 == 0) target = address(reg);
            data = abi.encodeCall(reg.transferFrom, (reg.ownerOf(id), target, id));
        }
        else if (op == 1) data = abi.encodeCall(reg.approve, (target, id));
        else if (op == 2) data = abi.encodeCall(reg.setApprovalForAll, (target, true));
        else if (op == 3) data = abi.encodeCall(reg.pledge, (id, target));
        else if (op == 4) data = abi.encodeCall(reg.releasePledge, (id));
        else if (op == 5) data = abi.encodeCall(reg.foreclosePledge, (id));
        else if (op == 6) data = abi.encodeCall(reg.depositToCustody, (id, target));
        else if (op == 7) data = abi.encodeCall(reg.releaseCustody, (id));
        else if (op == 8) data = abi.encodeCall(reg.requestRedemption, (id));
        else if (op == 9) data = abi.encodeCall(reg.fulfilRedemption, (id));
        else if (op == 10) data = abi.encodeCall(reg.redeem, (id));
        else if (op == 11) data = abi.encodeCall(reg.createGift, (id, CLAIM_KEY_ADDR, uint64(block.timestamp + 1 days)));
        else if (op == 12) data = abi.encodeCall(reg.claimGift, (id, target, _giftSig(CLAIM_KEY, id, target, reg.gift(id).nonce)));
        else if (op == 13) data = abi.encodeCall(reg.cancelGift, (id));
        else if (op == 14) {
            actor = ADMIN;
            data = reg.paused() ? abi.encodeCall(reg.unpause, ()) : abi.encodeCall(reg.pause, ());
        } else {
            // Recalls are rare: they end most movement for the rest of the sequence.
            actor = (r >> 24) % 8 == 0 ? FACTORY : STRANGER;
            data = abi.encodeCall(reg.recallBatch, (BATCH_A, bytes32(0)));
        }
    }

    struct Snapshot {
        address owner;
        ICertificateRegistry.Certificate cert;
        bool recalled;
        bool paused;
    }

    function _snapshot(uint256 id) internal view returns (Snapshot memory) {
        return Snapshot(reg.ownerOf(id), reg.certificate(id), reg.batch(BATCH_A).recalled, reg.paused());
    }

    /// @dev Checks one step against the lock rules; reverts on a violation.
    function _checkStep(uint256 op, address actor, Snapshot memory pre, uint256 id) internal view {
        Snapshot memory post = _snapshot(id);
        if (pre.paused && op < 14) {
            assertEq(post.owner, pre.owner, "moved while paused");
            assertTrue(post.cert.state == pre.cert.state, "state changed while paused");
        }
        if (pre.cert.state == ICertificateRegistry.CertificateState.Redeemed) {
            assertTrue(post.cert.state == pre.cert.state, "left Redeemed");
            assertEq(post.owner, pre.owner, "redeemed token moved");
        }
        if (post.owner != pre.owner) {
            bool fromEscrow = pre.owner == address(reg);
            bool activeMove = pre.cert.state == ICertificateRegistry.CertificateState.Active && !pre.recalled;
            bool foreclosure = op == 5 && pre.cert.state == ICertificateRegistry.CertificateState.Pledged
                && pre.cert.counterparty == actor && !pre.recalled;
            assertTrue(fromEscrow || activeMove || foreclosure, "a locked or recalled token moved");
            assertTrue(post.cert.state == ICertificateRegistry.CertificateState.Active, "moved token not Active");
        }
        if (post.cert.state == ICertificateRegistry.CertificateState.Pledged) {
            assertEq(post.cert.counterparty, BANK, "only the pledgee holds a pledge");
        }
        if (post.owner == address(reg)) {
            assertTrue(reg.gift(id).claimKey != address(0), "escrow without a gift");
        }
        if (pre.recalled && pre.cert.state != ICertificateRegistry.CertificateState.Redeemed) {
            assertTrue(post.cert.state != ICertificateRegistry.CertificateState.Redeemed, "a recalled bottle handed out");
        }
        if (pre.recalled && pre.cert.state == ICertificateRegistry.CertificateState.InCustody) {
            assertTrue(post.cert.state == ICertificateRegistry.CertificateState.InCustody, "a recalled bottle left custody");
        }
    }

    /// @dev Whether the last call logged `MetadataUpdate(id)` (ERC-4906).
    function _metadataUpdated(uint256 id) internal returns (bool) {
        Vm.Log[] memory logs = vm.getRecordedLogs();
        for (uint256 i; i < logs.length; ++i) {
            if (
                logs[i].emitter == address(reg) && logs[i].topics[0] == IERC4906.MetadataUpdate.selector
                    && abi.decode(logs[i].data, (uint256)) == id
            ) return true;
        }
        return false;
    }

    /// @dev Runs `steps` random calls on one certificate, checking every step. Returns how many calls
    /// succeeded, how many moved the token, and a bitmask of the states visited (to show the run explores).
    function _runSequence(uint256 seed, uint256 steps) internal returns (uint256 succeeded, uint256 moves, uint256 visited) {
        uint256 id = _claim(BATCH_A, BASE_A, 0, ALICE);
        for (uint256 i; i < steps; ++i) {
            seed = uint256(keccak256(abi.encode(seed, i)));
            (address actor, bytes memory data, uint256 op) = _randomCall(seed, id);
            Snapshot memory pre = _snapshot(id);
            ICertificateRegistry.Gift memory giftBefore = reg.gift(id);
            vm.recordLogs();
            vm.prank(actor);
            (bool ok,) = address(reg).call(data);
            // Most random steps revert; the checks judge the outcome either way.
            _checkStep(op, actor, pre, id);
            ICertificateRegistry.Gift memory giftAfter = reg.gift(id);
            // Whatever `certificate` or `gift` answers differently afterwards is announced (a plain transfer only
            // changes the owner, which `Transfer` announces); only a repeated redemption request re-announces.
            bool changed = keccak256(abi.encode(pre.cert)) != keccak256(abi.encode(reg.certificate(id)))
                || keccak256(abi.encode(giftBefore)) != keccak256(abi.encode(giftAfter));
            bool announced = _metadataUpdated(id);
            if (changed) assertTrue(announced, "a change without MetadataUpdate");
            else if (op != 8) assertFalse(announced, "MetadataUpdate without a change");
            if (ok) ++succeeded;
            if (reg.ownerOf(id) != pre.owner) ++moves;
            visited |= 1 << uint8(reg.certificate(id).state);
            if (reg.ownerOf(id) == address(reg)) visited |= 1 << 7;
        }
    }

    function test_lifecycle_sequence_concrete_pledge_custody_gift_redeem() public {
        uint256 id = _claim(BATCH_A, BASE_A, 0, ALICE);
        vm.prank(ALICE);
        reg.pledge(id, BANK);
        assertFalse(_tryEveryMove(id, ALICE, BOB), "pledged moved");
        vm.prank(BANK);
        reg.releasePledge(id);
        vm.prank(ALICE);
        reg.depositToCustody(id, VAULT);
        assertFalse(_tryEveryMove(id, ALICE, BOB), "custody moved");
        vm.prank(VAULT);
        reg.releaseCustody(id);
        uint64 nonce = _gift(id, ALICE);
        reg.claimGift(id, BOB, _giftSig(CLAIM_KEY, id, BOB, nonce));
        vm.prank(BOB);
        reg.redeem(id);
        assertFalse(_tryEveryMove(id, BOB, CAROL), "redeemed moved");
        assertEq(reg.ownerOf(id), BOB, "bob keeps the redeemed certificate");
    }

    function test_lifecycle_sequence_fixed_seed_explores_states() public {
        uint256 visitedAll;
        uint256 movesAll;
        for (uint256 seed; seed < 8; ++seed) {
            setUp();
            (uint256 succeeded, uint256 moves, uint256 visited) = _runSequence(seed, 40);
            assertTrue(succeeded > 0, "no step succeeded");
            visitedAll |= visited;
            movesAll += moves;
        }
        // Active, Pledged, InCustody, Redeemed and gift escrow were all reached across the runs.
        assertEq(visitedAll & 0x9e, 0x9e, "states visited");
        assertTrue(movesAll > 0, "nothing ever moved");
    }

    function testFuzz_lifecycle_random_sequences_never_move_locked_tokens(uint256 seed) public {
        _runSequence(seed, 30);
    }
}

/// @dev Lifecycle calls relayed through the trusted {TracecertForwarder} (ERC-2771): a third party submits a
/// request signed by the owner, pledgee or custodian, and the registry acts as the signer.
contract CertificateRegistryForwarderTest is RegistryFixture {
    uint256 internal constant PLEDGEE_KEY = 0xBA4C4;
    uint256 internal constant CUSTODIAN_KEY = 0x7A174;
    uint256 internal constant MALLORY_KEY = 0x3A11;
    address internal PLEDGEE;
    address internal CUSTODIAN;
    address internal MALLORY;

    uint256 internal constant RELAYED_GAS = 300_000;
    bytes32 internal constant FORWARD_REQUEST_TYPEHASH = keccak256(
        "ForwardRequest(address from,address to,uint256 value,uint256 gas,uint256 nonce,uint48 deadline,bytes data)"
    );

    function setUp() public override {
        super.setUp();
        PLEDGEE = vm.addr(PLEDGEE_KEY);
        CUSTODIAN = vm.addr(CUSTODIAN_KEY);
        MALLORY = vm.addr(MALLORY_KEY);
        vm.startPrank(ADMIN);
        reg.grantRole(reg.PLEDGEE_ROLE(), PLEDGEE);
        reg.grantRole(reg.CUSTODIAN_ROLE(), CUSTODIAN);
        vm.stopPrank();
    }

    // ---- helpers (domain and struct hash computed from the spec, not read from the forwarder) ----

    /// @dev An unsigned request from `from` to the registry.
    function _request(address from, bytes memory data) internal view returns (ERC2771Forwarder.ForwardRequestData memory) {
        return ERC2771Forwarder.ForwardRequestData({
            from: from,
            to: address(reg),
            value: 0,
            gas: RELAYED_GAS,
            deadline: uint48(block.timestamp + 1 hours),
            data: data,
            signature: ""
        });
    }

    /// @dev Signs `req` with `key` over `nonce`, for `forwarder` on chain `chainId`.
    function _signRequest(
        ERC2771Forwarder.ForwardRequestData memory req,
        uint256 key,
        address forwarder,
        uint256 chainId,
        uint256 nonce
    ) internal pure returns (ERC2771Forwarder.ForwardRequestData memory) {
        bytes32 domain = keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256("TracecertForwarder"),
                keccak256("1"),
                chainId,
                forwarder
            )
        );
        bytes32 structHash = keccak256(
            abi.encode(
                FORWARD_REQUEST_TYPEHASH, req.from, req.to, req.value, req.gas, nonce, req.deadline, keccak256(req.data)
            )
        );
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, keccak256(abi.encodePacked("\x19\x01", domain, structHash)));
        req.signature = abi.encodePacked(r, s, v);
        return req;
    }

    /// @dev A request in `from`'s name signed by `key` for `forwarder` on chain `chainId`, at `from`'s next nonce.
    function _signedFor(uint256 key, address from, bytes memory data, address forwarder, uint256 chainId)
        internal
        view
        returns (ERC2771Forwarder.ForwardRequestData memory)
    {
        return _signRequest(_request(from, data), key, forwarder, chainId, TracecertForwarder(forwarder).nonces(from));
    }

    /// @dev A request signed by `key` in its own name, for this chain and the registry's forwarder.
    function _signed(uint256 key, bytes memory data) internal view returns (ERC2771Forwarder.ForwardRequestData memory) {
        return _signedFor(key, vm.addr(key), data, address(fwd), block.chainid);
    }

    /// @dev Signs `data` with `key` and has a stranger (the service's sender, in production) relay it.
    function _relay(uint256 key, bytes memory data) internal {
        ERC2771Forwarder.ForwardRequestData memory req = _signed(key, data);
        vm.prank(STRANGER);
        fwd.execute(req);
    }

    /// @dev Executes `req` on `forwarder` and checks the refusal: `ERC2771ForwarderInvalidSigner(signer, from)`
    /// where the recovered signer is not `from` (the signature was made over another domain or nonce).
    function _assertRefusedAsInvalidSigner(TracecertForwarder forwarder, ERC2771Forwarder.ForwardRequestData memory req)
        internal
    {
        vm.prank(STRANGER);
        try forwarder.execute(req) {
            assertTrue(false, "executed");
        } catch (bytes memory ret) {
            assertEq(bytes32(bytes4(ret)), bytes32(ERC2771Forwarder.ERC2771ForwarderInvalidSigner.selector), "error");
            bytes memory args = new bytes(ret.length - 4);
            for (uint256 i; i < args.length; ++i) {
                args[i] = ret[i + 4];
            }
            (address signer, address from) = abi.decode(args, (address, address));
            assertEq(from, req.from, "from");
            assertTrue(signer != req.from, "recovered someone else");
        }
    }

    // ---- relayed lifecycle ----

    function test_forwarder_domain_and_trust() public view {
        (, string memory name, string memory version, uint256 chainId, address verifying,,) = fwd.eip712Domain();
        assertEq(name, "TracecertForwarder", "name");
        assertEq(version, "1", "version");
        assertEq(chainId, block.chainid, "chain");
        assertEq(verifying, address(fwd), "verifying contract");
        assertEq(reg.trustedForwarder(), address(fwd), "registry trusts it");
    }

    function test_relayed_pledge_acts_as_the_signing_owner() public {
        uint256 id = _claim(BATCH_A, BASE_A, 0, ALICE);
        ERC2771Forwarder.ForwardRequestData memory req = _signed(ALICE_KEY, abi.encodeCall(reg.pledge, (id, BANK)));
        assertTrue(fwd.verify(req), "verifies");
        vm.expectEmit(address(reg));
        emit ICertificateRegistry.CertificatePledged(id, ALICE, BANK);
        vm.expectEmit(address(fwd));
        emit ERC2771Forwarder.ExecutedForwardRequest(ALICE, 0, true);
        vm.prank(STRANGER);
        fwd.execute(req);
        assertTrue(_stateIs(id, ICertificateRegistry.CertificateState.Pledged), "pledged");
        assertEq(reg.certificate(id).counterparty, BANK, "pledgee");
        assertEq(reg.ownerOf(id), ALICE, "owner keeps it");
        assertEq(fwd.nonces(ALICE), 1, "nonce used");
    }

    function test_relayed_pledgee_releases_and_forecloses() public {
        uint256 id = _claim(BATCH_A, BASE_A, 0, ALICE);
        _relay(ALICE_KEY, abi.encodeCall(reg.pledge, (id, PLEDGEE)));
        vm.expectEmit(address(reg));
        emit ICertificateRegistry.CertificatePledgeReleased(id, PLEDGEE);
        _relay(PLEDGEE_KEY, abi.encodeCall(reg.releasePledge, (id)));
        assertTrue(_stateIs(id, ICertificateRegistry.CertificateState.Active), "released");
        _relay(ALICE_KEY, abi.encodeCall(reg.pledge, (id, PLEDGEE)));
        vm.expectEmit(address(reg));
        emit ICertificateRegistry.CertificatePledgeForeclosed(id, PLEDGEE, ALICE);
        _relay(PLEDGEE_KEY, abi.encodeCall(reg.foreclosePledge, (id)));
        assertEq(reg.ownerOf(id), PLEDGEE, "foreclosed to the pledgee");
        assertTrue(_stateIs(id, ICertificateRegistry.CertificateState.Active), "active again");
    }

    function test_relayed_custody_release_and_custodial_redemption() public {
        uint256 id = _claim(BATCH_A, BASE_A, 0, ALICE);
        _relay(ALICE_KEY, abi.encodeCall(reg.depositToCustody, (id, CUSTODIAN)));
        assertEq(reg.certificate(id).counterparty, CUSTODIAN, "custodian recorded");
        vm.expectEmit(address(reg));
        emit ICertificateRegistry.CertificateCustodyReleased(id, CUSTODIAN, uint64(block.timestamp), uint64(block.timestamp));
        _relay(CUSTODIAN_KEY, abi.encodeCall(reg.releaseCustody, (id)));
        _relay(ALICE_KEY, abi.encodeCall(reg.depositToCustody, (id, CUSTODIAN)));
        vm.expectEmit(address(reg));
        emit ICertificateRegistry.CertificateRedemptionRequested(id, ALICE);
        _relay(ALICE_KEY, abi.encodeCall(reg.requestRedemption, (id)));
        vm.expectEmit(address(reg));
        emit ICertificateRegistry.CertificateRedeemed(id, CUSTODIAN);
        _relay(CUSTODIAN_KEY, abi.encodeCall(reg.fulfilRedemption, (id)));
        assertTrue(_stateIs(id, ICertificateRegistry.CertificateState.Redeemed), "redeemed");
        assertEq(fwd.nonces(ALICE), 3, "owner signed three requests");
        assertEq(fwd.nonces(CUSTODIAN), 2, "custodian signed two");
    }

    function test_relayed_redeem_of_a_recalled_bottle_is_refused() public {
        uint256 id = _claim(BATCH_A, BASE_A, 0, ALICE);
        vm.prank(FACTORY);
        reg.recallBatch(BATCH_A, bytes32(0));
        ERC2771Forwarder.ForwardRequestData memory req = _signed(ALICE_KEY, abi.encodeCall(reg.redeem, (id)));
        vm.expectRevert(Errors.FailedCall.selector);
        vm.prank(STRANGER);
        fwd.execute(req);
        assertTrue(_stateIs(id, ICertificateRegistry.CertificateState.Active), "not redeemed");
    }

    function test_relayed_redeem_by_owner() public {
        uint256 id = _claim(BATCH_A, BASE_A, 0, ALICE);
        vm.expectEmit(address(reg));
        emit ICertificateRegistry.CertificateRedeemed(id, ALICE);
        _relay(ALICE_KEY, abi.encodeCall(reg.redeem, (id)));
        assertTrue(_stateIs(id, ICertificateRegistry.CertificateState.Redeemed), "redeemed");
    }

    function test_relayed_gift_create_and_cancel_by_the_giver() public {
        uint256 id = _claim(BATCH_A, BASE_A, 0, ALICE);
        uint64 expiry = uint64(block.timestamp + 1 days);
        vm.expectEmit(address(reg));
        emit ICertificateRegistry.GiftCreated(id, ALICE, CLAIM_KEY_ADDR, expiry, 1);
        _relay(ALICE_KEY, abi.encodeCall(reg.createGift, (id, CLAIM_KEY_ADDR, expiry)));
        assertEq(reg.ownerOf(id), address(reg), "in escrow");
        assertEq(reg.gift(id).giver, ALICE, "giver is the signer");
        vm.expectEmit(address(reg));
        emit ICertificateRegistry.GiftCancelled(id, ALICE);
        _relay(ALICE_KEY, abi.encodeCall(reg.cancelGift, (id)));
        assertEq(reg.ownerOf(id), ALICE, "returned");
    }

    function test_relayed_transfer_moves_as_owner_but_locks_still_apply() public {
        uint256 id = _claim(BATCH_A, BASE_A, 0, ALICE);
        uint256 locked = _claim(BATCH_A, BASE_A, 1, ALICE);
        vm.prank(ALICE);
        reg.pledge(locked, BANK);
        _relay(ALICE_KEY, abi.encodeCall(reg.transferFrom, (ALICE, BOB, id)));
        assertEq(reg.ownerOf(id), BOB, "moved by the signer's authority");
        ERC2771Forwarder.ForwardRequestData memory req =
            _signed(ALICE_KEY, abi.encodeCall(reg.transferFrom, (ALICE, BOB, locked)));
        vm.expectRevert(Errors.FailedCall.selector);
        vm.prank(STRANGER);
        fwd.execute(req);
        assertEq(reg.ownerOf(locked), ALICE, "pledged token did not move");
        assertEq(fwd.nonces(ALICE), 1, "a failed call consumes no nonce");
    }

    function test_executeBatch_relays_requests_in_nonce_order() public {
        uint256 id = _claim(BATCH_A, BASE_A, 0, ALICE);
        ERC2771Forwarder.ForwardRequestData[] memory reqs = new ERC2771Forwarder.ForwardRequestData[](2);
        reqs[0] = _signed(ALICE_KEY, abi.encodeCall(reg.depositToCustody, (id, CUSTODIAN)));
        // The second request is signed over the nonce the first one leaves behind.
        reqs[1] = _signRequest(
            _request(ALICE, abi.encodeCall(reg.requestRedemption, (id))), ALICE_KEY, address(fwd), block.chainid, 1
        );
        vm.prank(STRANGER);
        fwd.executeBatch(reqs, payable(address(0)));
        assertTrue(_stateIs(id, ICertificateRegistry.CertificateState.InCustody), "in custody");
        assertTrue(reg.certificate(id).redemptionRequested, "redemption requested");
        assertEq(fwd.nonces(ALICE), 2, "both nonces used");
    }

    // ---- refused requests ----

    function test_replayed_request_is_refused() public {
        uint256 id = _claim(BATCH_A, BASE_A, 0, ALICE);
        ERC2771Forwarder.ForwardRequestData memory req = _signed(ALICE_KEY, abi.encodeCall(reg.pledge, (id, BANK)));
        vm.prank(STRANGER);
        fwd.execute(req);
        vm.prank(BANK);
        reg.releasePledge(id);
        // The nonce moved on: the old signature now recovers to some other address.
        assertFalse(fwd.verify(req), "no longer verifies");
        _assertRefusedAsInvalidSigner(fwd, req);
        assertTrue(_stateIs(id, ICertificateRegistry.CertificateState.Active), "not pledged again");
    }

    function test_request_signed_for_another_chain_is_refused() public {
        uint256 id = _claim(BATCH_A, BASE_A, 0, ALICE);
        ERC2771Forwarder.ForwardRequestData memory req =
            _signedFor(ALICE_KEY, ALICE, abi.encodeCall(reg.pledge, (id, BANK)), address(fwd), block.chainid + 1);
        assertFalse(fwd.verify(req), "does not verify");
        _assertRefusedAsInvalidSigner(fwd, req);
        assertTrue(_stateIs(id, ICertificateRegistry.CertificateState.Active), "not pledged");
        assertEq(fwd.nonces(ALICE), 0, "no nonce used");
    }

    function test_request_signed_for_another_forwarder_is_refused() public {
        uint256 id = _claim(BATCH_A, BASE_A, 0, ALICE);
        TracecertForwarder other = new TracecertForwarder();
        ERC2771Forwarder.ForwardRequestData memory req =
            _signedFor(ALICE_KEY, ALICE, abi.encodeCall(reg.pledge, (id, BANK)), address(other), block.chainid);
        _assertRefusedAsInvalidSigner(fwd, req);
        // Where it was signed for, the registry does not trust that forwarder.
        vm.expectRevert(
            abi.encodeWithSelector(ERC2771Forwarder.ERC2771UntrustfulTarget.selector, address(reg), address(other))
        );
        vm.prank(STRANGER);
        other.execute(req);
        assertTrue(_stateIs(id, ICertificateRegistry.CertificateState.Active), "not pledged");
    }

    function test_request_in_the_owners_name_signed_by_someone_else_is_refused() public {
        uint256 id = _claim(BATCH_A, BASE_A, 0, ALICE);
        ERC2771Forwarder.ForwardRequestData memory req =
            _signedFor(MALLORY_KEY, ALICE, abi.encodeCall(reg.pledge, (id, BANK)), address(fwd), block.chainid);
        vm.expectRevert(
            abi.encodeWithSelector(ERC2771Forwarder.ERC2771ForwarderInvalidSigner.selector, MALLORY, ALICE)
        );
        vm.prank(STRANGER);
        fwd.execute(req);
        assertTrue(_stateIs(id, ICertificateRegistry.CertificateState.Active), "not pledged");
    }

    function test_signer_who_is_not_the_owner_cannot_pledge_or_gift_the_token() public {
        uint256 id = _claim(BATCH_A, BASE_A, 0, ALICE);
        ERC2771Forwarder.ForwardRequestData memory pledgeReq =
            _signed(MALLORY_KEY, abi.encodeCall(reg.pledge, (id, BANK)));
        assertTrue(fwd.verify(pledgeReq), "a valid request in Mallory's own name");
        vm.expectRevert(Errors.FailedCall.selector);
        vm.prank(STRANGER);
        fwd.execute(pledgeReq);
        // In a batch with a refund receiver the failed call is reported instead of reverting.
        ERC2771Forwarder.ForwardRequestData[] memory reqs = new ERC2771Forwarder.ForwardRequestData[](1);
        reqs[0] = _signed(MALLORY_KEY, abi.encodeCall(reg.createGift, (id, CLAIM_KEY_ADDR, uint64(block.timestamp + 1 days))));
        vm.expectEmit(address(fwd));
        emit ERC2771Forwarder.ExecutedForwardRequest(MALLORY, 0, false);
        vm.prank(STRANGER);
        fwd.executeBatch(reqs, payable(STRANGER));
        assertEq(reg.ownerOf(id), ALICE, "still Alice's");
        assertTrue(_stateIs(id, ICertificateRegistry.CertificateState.Active), "still active");
        assertEq(reg.gift(id).giver, address(0), "no gift");
    }

    function test_sender_suffix_from_anyone_but_the_forwarder_is_ignored() public {
        uint256 id = _claim(BATCH_A, BASE_A, 0, ALICE);
        // Calldata ending in Alice's address, as the forwarder would send it, but from a stranger.
        vm.prank(STRANGER);
        (bool ok, bytes memory ret) = address(reg).call(abi.encodePacked(abi.encodeCall(reg.pledge, (id, BANK)), ALICE));
        assertFalse(ok, "refused");
        assertEq(
            keccak256(ret),
            keccak256(abi.encodeWithSelector(ICertificateRegistry.CertificateRegistryNotTokenOwner.selector, id, STRANGER)),
            "judged as the stranger"
        );
        assertTrue(_stateIs(id, ICertificateRegistry.CertificateState.Active), "not pledged");
    }

    function test_expired_request_is_refused() public {
        uint256 id = _claim(BATCH_A, BASE_A, 0, ALICE);
        ERC2771Forwarder.ForwardRequestData memory req = _signed(ALICE_KEY, abi.encodeCall(reg.pledge, (id, BANK)));
        vm.warp(uint256(req.deadline) + 1);
        vm.expectRevert(
            abi.encodeWithSelector(ERC2771Forwarder.ERC2771ForwarderExpiredRequest.selector, req.deadline)
        );
        vm.prank(STRANGER);
        fwd.execute(req);
    }

    function test_relayed_cancel_of_an_expired_gift_by_a_stranger_returns_it_to_the_giver() public {
        uint256 id = _claim(BATCH_A, BASE_A, 0, ALICE);
        _gift(id, ALICE);
        ERC2771Forwarder.ForwardRequestData memory early = _signed(MALLORY_KEY, abi.encodeCall(reg.cancelGift, (id)));
        vm.expectRevert(Errors.FailedCall.selector);
        vm.prank(STRANGER);
        fwd.execute(early);
        vm.warp(reg.gift(id).expiry + 1);
        vm.expectEmit(address(reg));
        emit ICertificateRegistry.GiftCancelled(id, ALICE);
        _relay(MALLORY_KEY, abi.encodeCall(reg.cancelGift, (id)));
        assertEq(reg.ownerOf(id), ALICE, "back with the giver, not the canceller");
    }
}
