// node:test + hardhat-viem tests for CertificateRegistry: the EIP-712 flows signed the way off-chain
// code signs them (viem signTypedData, one-time gift keys, ERC-2771 forward requests), a Merkle tree built
// in JS, and gas figures against the plain ERC-721 baseline measured in the same run.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { before, describe, it } from "node:test";

import { network } from "hardhat";
import {
  concat,
  encodeAbiParameters,
  encodeFunctionData,
  getAddress,
  keccak256,
  parseAbiParameters,
  toHex,
  zeroAddress,
} from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";

const { viem, networkHelpers } = await network.create();
const { loadFixture, time } = networkHelpers;

const role = (name) => keccak256(toHex(name));
const DEFAULT_ADMIN_ROLE = `0x${"00".repeat(32)}`;
const itemHash = (n) => keccak256(toHex(`item-${n}`));
const batchIdOf = (name) => keccak256(toHex(name));

/** The token id of docs/interfaces.md: uint256(keccak256(abi.encode(batchId, itemHash))). */
const tokenIdOf = (batchId, hash) =>
  BigInt(keccak256(encodeAbiParameters(parseAbiParameters("bytes32, bytes32"), [batchId, hash])));

/** The item leaf of docs/interfaces.md: keccak256(bytes.concat(keccak256(abi.encode(batchId, tokenId, itemHash)))). */
function itemLeaf(batchId, tokenId, hash) {
  return keccak256(keccak256(encodeAbiParameters(parseAbiParameters("bytes32, uint256, bytes32"), [batchId, tokenId, hash])));
}

const hashPair = (a, b) => (BigInt(a) < BigInt(b) ? keccak256(concat([a, b])) : keccak256(concat([b, a])));

/** A sorted-pair Merkle tree (OpenZeppelin MerkleProof compatible); an odd last node is carried up. */
function buildTree(leaves) {
  const levels = [leaves];
  while (levels.at(-1).length > 1) {
    const level = levels.at(-1);
    const next = [];
    for (let i = 0; i < level.length; i += 2) next.push(i + 1 < level.length ? hashPair(level[i], level[i + 1]) : level[i]);
    levels.push(next);
  }
  return {
    root: levels.at(-1)[0],
    proof(index) {
      const out = [];
      for (const level of levels.slice(0, -1)) {
        const sibling = index ^ 1;
        if (sibling < level.length) out.push(level[sibling]);
        index >>= 1;
      }
      return out;
    },
  };
}

/** A batch of `count` items numbered base+1 .. base+count, each with its bound token id. */
function makeBatch(name, base, count) {
  const batchId = batchIdOf(name);
  const items = Array.from({ length: count }, (_, i) => {
    const hash = itemHash(base + 1 + i);
    return { batchId, tokenId: tokenIdOf(batchId, hash), itemHash: hash };
  });
  const tree = buildTree(items.map((it) => itemLeaf(it.batchId, it.tokenId, it.itemHash)));
  return { batchId, items, root: tree.root, proof: (i) => tree.proof(i) };
}

const voucherTypes = {
  ClaimVoucher: [
    { name: "batchId", type: "bytes32" },
    { name: "tokenId", type: "uint256" },
    { name: "itemHash", type: "bytes32" },
    { name: "to", type: "address" },
    { name: "deadline", type: "uint256" },
  ],
};
const forwardRequestTypes = {
  ForwardRequest: [
    { name: "from", type: "address" },
    { name: "to", type: "address" },
    { name: "value", type: "uint256" },
    { name: "gas", type: "uint256" },
    { name: "nonce", type: "uint256" },
    { name: "deadline", type: "uint48" },
    { name: "data", type: "bytes" },
  ],
};
const giftTypes = {
  GiftClaim: [
    { name: "tokenId", type: "uint256" },
    { name: "to", type: "address" },
    { name: "nonce", type: "uint64" },
  ],
};

async function deploy() {
  const [admin, factory, relayer, alice, bob, mallory, bank, vault, submitter] = await viem.getWalletClients();
  const publicClient = await viem.getPublicClient();
  const forwarder = await viem.deployContract("TracecertForwarder", []);
  const registry = await viem.deployContract("CertificateRegistry", [admin.account.address, forwarder.address]);
  const baseline = await viem.deployContract("BaselineERC721", []);
  await registry.write.grantRole([role("FACTORY_ROLE"), factory.account.address]);
  await registry.write.grantRole([role("RELAYER_ROLE"), relayer.account.address]);
  await registry.write.grantRole([role("PLEDGEE_ROLE"), bank.account.address]);
  await registry.write.grantRole([role("CUSTODIAN_ROLE"), vault.account.address]);
  const batchA = makeBatch("batch-A", 1000, 5);
  await registry.write.anchorBatch([batchA.batchId, batchA.root, 5n, keccak256(toHex("meta"))], { account: factory.account });
  const domain = {
    name: "TracecertCertificateRegistry",
    version: "1",
    chainId: await publicClient.getChainId(),
    verifyingContract: registry.address,
  };
  const forwarderDomain = { name: "TracecertForwarder", version: "1", chainId: domain.chainId, verifyingContract: forwarder.address };
  return {
    registry, forwarder, baseline, publicClient, domain, forwarderDomain, batchA,
    admin, factory, relayer, alice, bob, mallory, bank, vault, submitter,
  };
}

/**
 * A forward request from `signer` calling the registry with `data`, signed the way the service signs
 * one (EIP-712 `ForwardRequest` at the signer's current forwarder nonce); `domain` defaults to the
 * forwarder's. Returns the `ForwardRequestData` that `execute` takes.
 */
async function signForward(f, signer, data, { domain = f.forwarderDomain, nonce, deadline } = {}) {
  const from = signer.account.address;
  const request = {
    from,
    to: f.registry.address,
    value: 0n,
    gas: 300000n,
    deadline: deadline ?? Number(await time.latest()) + 3600,
    data,
  };
  const signature = await signer.signTypedData({
    account: signer.account,
    domain,
    types: forwardRequestTypes,
    primaryType: "ForwardRequest",
    message: { ...request, nonce: nonce ?? (await f.forwarder.read.nonces([from])) },
  });
  return { ...request, signature };
}

const call = (f, functionName, args) => encodeFunctionData({ abi: f.registry.abi, functionName, args });

const req = (item, to) => ({ batchId: item.batchId, tokenId: item.tokenId, itemHash: item.itemHash, to });

describe("CertificateRegistry (viem, EIP-712 signed off chain)", () => {
  describe("claim vouchers", () => {
    async function signVoucher(f, signer, item, to, deadline) {
      return signer.signTypedData({
        account: signer.account,
        domain: f.domain,
        types: voucherTypes,
        primaryType: "ClaimVoucher",
        message: { ...req(item, to), deadline },
      });
    }

    it("a relayer-signed voucher works from any sender and emits CertificateClaimed", async () => {
      const f = await loadFixture(deploy);
      const item = f.batchA.items[0];
      const to = f.alice.account.address;
      const deadline = BigInt(await time.latest()) + 3600n;
      const sig = await signVoucher(f, f.relayer, item, to, deadline);
      await viem.assertions.emitWithArgs(
        f.registry.write.claimWithVoucher([req(item, to), deadline, f.batchA.proof(0), sig], { account: f.submitter.account }),
        f.registry,
        "CertificateClaimed",
        [item.tokenId, item.batchId, getAddress(to)],
      );
      assert.equal(await f.registry.read.ownerOf([item.tokenId]), getAddress(to));
      assert.equal(await f.registry.read.isClaimed([item.tokenId]), true);
    });

    it("a voucher with a changed `to` fails", async () => {
      const f = await loadFixture(deploy);
      const item = f.batchA.items[1];
      const deadline = BigInt(await time.latest()) + 3600n;
      const sig = await signVoucher(f, f.relayer, item, f.alice.account.address, deadline);
      await viem.assertions.revertWithCustomErrorWithArgs(
        f.registry.write.claimWithVoucher([req(item, f.mallory.account.address), deadline, f.batchA.proof(1), sig], {
          account: f.mallory.account,
        }),
        f.registry,
        "CertificateRegistryInvalidVoucherSigner",
        [(signer) => getAddress(signer) !== getAddress(f.relayer.account.address)],
      );
      assert.equal(await f.registry.read.isClaimed([item.tokenId]), false);
    });

    it("an expired voucher fails", async () => {
      const f = await loadFixture(deploy);
      const item = f.batchA.items[2];
      const deadline = BigInt(await time.latest()) + 60n;
      const sig = await signVoucher(f, f.relayer, item, f.alice.account.address, deadline);
      await time.increaseTo(deadline + 1n);
      await viem.assertions.revertWithCustomErrorWithArgs(
        f.registry.write.claimWithVoucher([req(item, f.alice.account.address), deadline, f.batchA.proof(2), sig]),
        f.registry,
        "CertificateRegistryVoucherExpired",
        [deadline],
      );
    });

    it("a voucher signed by a non-relayer fails, naming the signer", async () => {
      const f = await loadFixture(deploy);
      const item = f.batchA.items[3];
      const deadline = BigInt(await time.latest()) + 3600n;
      const sig = await signVoucher(f, f.mallory, item, f.mallory.account.address, deadline);
      await viem.assertions.revertWithCustomErrorWithArgs(
        f.registry.write.claimWithVoucher([req(item, f.mallory.account.address), deadline, f.batchA.proof(3), sig]),
        f.registry,
        "CertificateRegistryInvalidVoucherSigner",
        [getAddress(f.mallory.account.address)],
      );
    });

    it("a voucher cannot be replayed after the claim", async () => {
      const f = await loadFixture(deploy);
      const item = f.batchA.items[4];
      const to = f.alice.account.address;
      const deadline = BigInt(await time.latest()) + 3600n;
      const sig = await signVoucher(f, f.relayer, item, to, deadline);
      const args = [req(item, to), deadline, f.batchA.proof(4), sig];
      await f.registry.write.claimWithVoucher(args);
      await viem.assertions.revertWithCustomErrorWithArgs(
        f.registry.write.claimWithVoucher(args),
        f.registry,
        "CertificateRegistryAlreadyClaimed",
        [item.tokenId],
      );
    });

    it("a voucher for another chain's domain fails", async () => {
      const f = await loadFixture(deploy);
      const item = f.batchA.items[0];
      const deadline = BigInt(await time.latest()) + 3600n;
      const sig = await f.relayer.signTypedData({
        account: f.relayer.account,
        domain: { ...f.domain, chainId: f.domain.chainId + 1 },
        types: voucherTypes,
        primaryType: "ClaimVoucher",
        message: { ...req(item, f.alice.account.address), deadline },
      });
      await viem.assertions.revertWithCustomError(
        f.registry.write.claimWithVoucher([req(item, f.alice.account.address), deadline, f.batchA.proof(0), sig]),
        f.registry,
        "CertificateRegistryInvalidVoucherSigner",
      );
    });
  });

  describe("gift escrow with a one-time key", () => {
    async function giftedFixture() {
      const f = await deploy();
      const item = f.batchA.items[0];
      await f.registry.write.claim([req(item, f.alice.account.address), f.batchA.proof(0)], { account: f.relayer.account });
      const oneTimeKey = privateKeyToAccount(generatePrivateKey());
      const expiry = BigInt(await time.latest()) + 86400n;
      await f.registry.write.createGift([item.tokenId, oneTimeKey.address, expiry], { account: f.alice.account });
      const { nonce } = await f.registry.read.gift([item.tokenId]);
      return { ...f, item, oneTimeKey, expiry, nonce };
    }

    const signGift = (f, key, tokenId, to, nonce) =>
      key.signTypedData({ domain: f.domain, types: giftTypes, primaryType: "GiftClaim", message: { tokenId, to, nonce } });

    it("createGift escrows the token and records the gift", async () => {
      const f = await loadFixture(giftedFixture);
      assert.equal(await f.registry.read.ownerOf([f.item.tokenId]), getAddress(f.registry.address));
      const g = await f.registry.read.gift([f.item.tokenId]);
      assert.equal(g.giver, getAddress(f.alice.account.address));
      assert.equal(g.claimKey, f.oneTimeKey.address);
      assert.equal(g.expiry, f.expiry);
      assert.equal(g.nonce, 1n);
    });

    it("a claim signed for `to` works, and a front-runner with another `to` fails", async () => {
      const f = await loadFixture(giftedFixture);
      const bob = f.bob.account.address;
      const sig = await signGift(f, f.oneTimeKey, f.item.tokenId, bob, f.nonce);
      await viem.assertions.revertWithCustomErrorWithArgs(
        f.registry.write.claimGift([f.item.tokenId, f.mallory.account.address, sig], { account: f.mallory.account }),
        f.registry,
        "CertificateRegistryInvalidGiftSignature",
        [f.item.tokenId],
      );
      await viem.assertions.emitWithArgs(
        f.registry.write.claimGift([f.item.tokenId, bob, sig], { account: f.submitter.account }),
        f.registry,
        "GiftClaimed",
        [f.item.tokenId, getAddress(bob)],
      );
      assert.equal(await f.registry.read.ownerOf([f.item.tokenId]), getAddress(bob));
    });

    it("an expired gift cannot be claimed", async () => {
      const f = await loadFixture(giftedFixture);
      const sig = await signGift(f, f.oneTimeKey, f.item.tokenId, f.bob.account.address, f.nonce);
      await time.increaseTo(f.expiry + 1n);
      await viem.assertions.revertWithCustomErrorWithArgs(
        f.registry.write.claimGift([f.item.tokenId, f.bob.account.address, sig]),
        f.registry,
        "CertificateRegistryGiftExpired",
        [f.item.tokenId, f.expiry],
      );
    });

    it("the giver can cancel and gets the token back; nobody else can", async () => {
      const f = await loadFixture(giftedFixture);
      await viem.assertions.revertWithCustomErrorWithArgs(
        f.registry.write.cancelGift([f.item.tokenId], { account: f.bob.account }),
        f.registry,
        "CertificateRegistryNotGiver",
        [f.item.tokenId, getAddress(f.bob.account.address)],
      );
      await viem.assertions.emitWithArgs(
        f.registry.write.cancelGift([f.item.tokenId], { account: f.alice.account }),
        f.registry,
        "GiftCancelled",
        [f.item.tokenId, getAddress(f.alice.account.address)],
      );
      assert.equal(await f.registry.read.ownerOf([f.item.tokenId]), getAddress(f.alice.account.address));
    });

    it("after expiry anyone may cancel, and the token goes back to the giver", async () => {
      const f = await loadFixture(giftedFixture);
      await time.increaseTo(f.expiry + 1n);
      await viem.assertions.emitWithArgs(
        f.registry.write.cancelGift([f.item.tokenId], { account: f.mallory.account }),
        f.registry,
        "GiftCancelled",
        [f.item.tokenId, getAddress(f.alice.account.address)],
      );
      assert.equal(await f.registry.read.ownerOf([f.item.tokenId]), getAddress(f.alice.account.address));
    });

    it("a recreated gift refuses a signature made for the cancelled one", async () => {
      const f = await loadFixture(giftedFixture);
      const bob = f.bob.account.address;
      const oldSig = await signGift(f, f.oneTimeKey, f.item.tokenId, bob, f.nonce);
      await f.registry.write.cancelGift([f.item.tokenId], { account: f.alice.account });
      await f.registry.write.createGift([f.item.tokenId, f.oneTimeKey.address, f.expiry], { account: f.alice.account });
      const { nonce } = await f.registry.read.gift([f.item.tokenId]);
      assert.notEqual(nonce, f.nonce);
      await viem.assertions.revertWithCustomErrorWithArgs(
        f.registry.write.claimGift([f.item.tokenId, bob, oldSig]),
        f.registry,
        "CertificateRegistryInvalidGiftSignature",
        [f.item.tokenId],
      );
      await f.registry.write.claimGift([f.item.tokenId, bob, await signGift(f, f.oneTimeKey, f.item.tokenId, bob, nonce)]);
      assert.equal(await f.registry.read.ownerOf([f.item.tokenId]), getAddress(bob));
    });
  });

  describe("relayed through the TracecertForwarder (ERC-2771)", () => {
    async function claimedFixture() {
      const f = await deploy();
      const item = f.batchA.items[0];
      await f.registry.write.claim([req(item, f.alice.account.address), f.batchA.proof(0)], { account: f.relayer.account });
      return { ...f, tokenId: item.tokenId };
    }

    it("a pledge signed by the owner and submitted by someone else acts as the owner", async () => {
      const f = await loadFixture(claimedFixture);
      const request = await signForward(f, f.alice, call(f, "pledge", [f.tokenId, f.bank.account.address]));
      assert.equal(await f.forwarder.read.verify([request]), true);
      await viem.assertions.emitWithArgs(
        f.forwarder.write.execute([request], { account: f.submitter.account }),
        f.registry,
        "CertificatePledged",
        [f.tokenId, getAddress(f.alice.account.address), getAddress(f.bank.account.address)],
      );
      assert.equal((await f.registry.read.certificate([f.tokenId])).state, 2);
      assert.equal(await f.forwarder.read.nonces([f.alice.account.address]), 1n);
    });

    it("a replayed request is refused", async () => {
      const f = await loadFixture(claimedFixture);
      const request = await signForward(f, f.alice, call(f, "redeem", [f.tokenId]));
      await f.forwarder.write.execute([request], { account: f.submitter.account });
      await viem.assertions.revertWithCustomError(
        f.forwarder.write.execute([request], { account: f.submitter.account }),
        f.forwarder,
        "ERC2771ForwarderInvalidSigner",
      );
    });

    it("a request signed for another chain id is refused", async () => {
      const f = await loadFixture(claimedFixture);
      const request = await signForward(f, f.alice, call(f, "pledge", [f.tokenId, f.bank.account.address]), {
        domain: { ...f.forwarderDomain, chainId: f.forwarderDomain.chainId + 1 },
      });
      assert.equal(await f.forwarder.read.verify([request]), false);
      await viem.assertions.revertWithCustomError(
        f.forwarder.write.execute([request], { account: f.submitter.account }),
        f.forwarder,
        "ERC2771ForwarderInvalidSigner",
      );
      assert.equal((await f.registry.read.certificate([f.tokenId])).state, 1);
    });

    it("a gift of someone else's token signed by a non-owner is refused", async () => {
      const f = await loadFixture(claimedFixture);
      const expiry = BigInt(await time.latest()) + 86400n;
      const data = call(f, "createGift", [f.tokenId, f.mallory.account.address, expiry]);
      const request = await signForward(f, f.mallory, data);
      await viem.assertions.revertWithCustomError(
        f.forwarder.write.execute([request], { account: f.submitter.account }),
        f.forwarder,
        "FailedCall",
      );
      assert.equal(await f.registry.read.ownerOf([f.tokenId]), getAddress(f.alice.account.address));
    });
  });

  describe("JS Merkle tree interoperability", () => {
    it("verifyItem and claim accept proofs from a JS tree of odd size", async () => {
      const f = await loadFixture(deploy);
      const b = makeBatch("batch-odd", 5000, 7);
      await f.registry.write.anchorBatch([b.batchId, b.root, 7n, keccak256(toHex("m"))], { account: f.factory.account });
      for (let i = 0; i < 7; i++) {
        const it_ = b.items[i];
        assert.equal(await f.registry.read.verifyItem([it_.batchId, it_.tokenId, it_.itemHash, b.proof(i)]), true, `item ${i}`);
        assert.equal(await f.registry.read.itemLeaf([it_.batchId, it_.tokenId, it_.itemHash]), itemLeaf(it_.batchId, it_.tokenId, it_.itemHash));
      }
      await f.registry.write.claim([req(b.items[6], f.bob.account.address), b.proof(6)], { account: f.relayer.account });
      assert.equal(await f.registry.read.ownerOf([b.items[6].tokenId]), getAddress(f.bob.account.address));
      const record = await f.registry.read.batch([b.batchId]);
      assert.equal(record.root, b.root);
      assert.equal(record.itemCount, 7n);
      assert.equal(record.recalled, false);
    });

    it("tokenIdOf agrees with the JS derivation, and a token id of another batch is refused", async () => {
      const f = await loadFixture(deploy);
      const item = f.batchA.items[0];
      assert.equal(await f.registry.read.tokenIdOf([item.batchId, item.itemHash]), item.tokenId);
      // The same item hash under another batch is another token: batch A cannot mint it.
      const foreign = tokenIdOf(batchIdOf("batch-B"), item.itemHash);
      await viem.assertions.revertWithCustomErrorWithArgs(
        f.registry.write.claim([{ ...req(item, f.alice.account.address), tokenId: foreign }, f.batchA.proof(0)], {
          account: f.relayer.account,
        }),
        f.registry,
        "CertificateRegistryInvalidTokenId",
        [item.batchId, foreign],
      );
    });
  });

  describe("claimBatch skips what cannot be claimed", () => {
    it("an item claimed first by a voucher is skipped with CertificateClaimSkipped, the others are minted", async () => {
      const f = await loadFixture(deploy);
      const [first, taken, last] = f.batchA.items;
      const deadline = BigInt(await time.latest()) + 3600n;
      const bob = f.bob.account.address;
      const sig = await f.relayer.signTypedData({
        account: f.relayer.account,
        domain: f.domain,
        types: voucherTypes,
        primaryType: "ClaimVoucher",
        message: { ...req(taken, bob), deadline },
      });
      await f.registry.write.claimWithVoucher([req(taken, bob), deadline, f.batchA.proof(1), sig], {
        account: f.submitter.account,
      });
      const alice = f.alice.account.address;
      const reqs = [first, taken, last].map((it_) => req(it_, alice));
      const proofs = [0, 1, 2].map((i) => f.batchA.proof(i));
      const selector = (name) =>
        keccak256(toHex(`${name}(uint256)`)).slice(0, 10); // AlreadyClaimed takes one uint256
      await viem.assertions.emitWithArgs(
        f.registry.write.claimBatch([reqs, proofs], { account: f.relayer.account }),
        f.registry,
        "CertificateClaimSkipped",
        [taken.tokenId, taken.batchId, getAddress(alice), selector("CertificateRegistryAlreadyClaimed")],
      );
      assert.equal(await f.registry.read.ownerOf([first.tokenId]), getAddress(alice));
      assert.equal(await f.registry.read.ownerOf([taken.tokenId]), getAddress(bob));
      assert.equal(await f.registry.read.ownerOf([last.tokenId]), getAddress(alice));
    });

    it("more than MAX_CLAIM_BATCH requests revert with CertificateRegistryTooManyClaims", async () => {
      const f = await loadFixture(deploy);
      const cap = await f.registry.read.MAX_CLAIM_BATCH();
      const item = f.batchA.items[0];
      const reqs = Array.from({ length: Number(cap) + 1 }, () => req(item, f.alice.account.address));
      const proofs = reqs.map(() => f.batchA.proof(0));
      await viem.assertions.revertWithCustomErrorWithArgs(
        f.registry.write.claimBatch([reqs, proofs], { account: f.relayer.account }),
        f.registry,
        "CertificateRegistryTooManyClaims",
        [cap + 1n, cap],
      );
    });
  });

  describe("claimBatch at the cap, worst case", () => {
    // Every recipient a new owner (a new balance slot each) and 20-deep proofs, as in a batch of a million
    // items (TRACECERT_MAX_BATCH_ITEMS): the most gas a claimBatch can take. The cap keeps it under
    // WORST_CASE_MARGIN: 40% of a 30M block, and under the per-transaction gas cap of EIP-7825 (2^24, which
    // this node enforces too) with more than a quarter to spare.
    const WORST_CASE_MARGIN = 12_000_000n;

    it("MAX_CLAIM_BATCH claims to new owners with 20-deep proofs stay under 12M gas (40% of a 30M block)", async () => {
      const f = await loadFixture(deploy);
      const cap = Number(await f.registry.read.MAX_CLAIM_BATCH());
      const batchId = batchIdOf("batch-worst-case");
      const items = Array.from({ length: 256 }, (_, i) => {
        const hash = itemHash(900000 + i);
        return { batchId, tokenId: tokenIdOf(batchId, hash), itemHash: hash };
      });
      // A 256-leaf subtree under 12 more levels of siblings: the proofs of a 2^20-leaf tree.
      const sub = buildTree(items.map((it_) => itemLeaf(it_.batchId, it_.tokenId, it_.itemHash)));
      const padding = Array.from({ length: 12 }, (_, i) => keccak256(toHex(`sibling-${i}`)));
      const root = padding.reduce((node, sibling) => hashPair(node, sibling), sub.root);
      const reqs = items.slice(0, cap).map((it_) => req(it_, privateKeyToAccount(generatePrivateKey()).address));
      const proofs = reqs.map((_, i) => [...sub.proof(i), ...padding]);
      assert.equal(proofs[0].length, 20);
      await f.registry.write.anchorBatch([batchId, root, 1n << 20n, keccak256(toHex("m"))], { account: f.factory.account });
      const hash = await f.registry.write.claimBatch([reqs, proofs], { account: f.relayer.account });
      const receipt = await f.publicClient.waitForTransactionReceipt({ hash });
      assert.equal(receipt.status, "success");
      for (const r of reqs.slice(0, 3)) assert.equal(await f.registry.read.ownerOf([r.tokenId]), getAddress(r.to));
      console.log(`      claimBatch of ${cap} to new owners, 20-deep proofs: ${receipt.gasUsed} gas (${Number(receipt.gasUsed) / cap} per item)`);
      assert.ok(receipt.gasUsed < WORST_CASE_MARGIN, `${receipt.gasUsed} >= ${WORST_CASE_MARGIN}`);
    });
  });

  describe("gas against the plain ERC-721 baseline", () => {
    const gas = {};
    before(async () => {
      const f = await deploy();
      const used = async (hash) => (await f.publicClient.waitForTransactionReceipt({ hash })).gasUsed;
      const alice = f.alice.account.address;
      const bob = f.bob.account.address;

      gas.baselineMintFirst = await used(await f.baseline.write.mint([alice, 1n]));
      gas.baselineMint = await used(await f.baseline.write.mint([alice, 2n]));

      const big = makeBatch("batch-big", 100000, 1024);
      gas.anchorBatch = await used(
        await f.registry.write.anchorBatch([big.batchId, big.root, 1024n, keccak256(toHex("m"))], { account: f.factory.account }),
      );
      gas.claimFirst = await used(
        await f.registry.write.claim([req(big.items[0], alice), big.proof(0)], { account: f.relayer.account }),
      );
      gas.claim = await used(await f.registry.write.claim([req(big.items[1], alice), big.proof(1)], { account: f.relayer.account }));
      const n = 100;
      const reqs = big.items.slice(2, 2 + n).map((it_) => req(it_, alice));
      const proofs = reqs.map((_, i) => big.proof(2 + i));
      gas.claimBatchPerItem = (await used(await f.registry.write.claimBatch([reqs, proofs], { account: f.relayer.account }))) / BigInt(n);
      gas.transfer = await used(
        await f.registry.write.transferFrom([alice, bob, big.items[1].tokenId], { account: f.alice.account }),
      );
      gas.baselineTransfer = await used(await f.baseline.write.transferFrom([alice, bob, 2n], { account: f.alice.account }));
      gas.pledge = await used(
        await f.registry.write.pledge([big.items[2].tokenId, f.bank.account.address], { account: f.alice.account }),
      );
      gas.releasePledge = await used(await f.registry.write.releasePledge([big.items[2].tokenId], { account: f.bank.account }));
      // The same pledge again, signed by the owner and relayed through the forwarder by another account.
      const relayed = await signForward(f, f.alice, call(f, "pledge", [big.items[2].tokenId, f.bank.account.address]));
      gas.relayedPledge = await used(await f.forwarder.write.execute([relayed], { account: f.submitter.account }));
      await f.registry.write.grantRole([role("ANCHOR_ROLE"), f.admin.account.address]);
      gas.anchorLog = await used(await f.registry.write.anchorLog([1n, keccak256(toHex("root"))]));
      console.log("      gas:", Object.fromEntries(Object.entries(gas).map(([k, v]) => [k, Number(v)])));
    });

    // A claim pays for one more new slot than a bare mint (the certificate's batch id, 22.1k), the proof's
    // calldata and cold reads of the role, the batch record and the pause flag. Anything beyond ~46k over the
    // bare mint means a regression (an extra slot written per bottle, or an extra cold read).
    it("a proof-checked claim (10-deep proof) costs less than 46k gas over a bare mint", () => {
      assert.ok(gas.claim - gas.baselineMint < 46000n, `claim ${gas.claim} vs mint ${gas.baselineMint}`);
    });

    // The forwarder adds the signature check (ecrecover, the EIP-712 hash of the calldata), the signer's nonce
    // (a cold slot written for the first time: 22.1k), the trust check on the registry and the inner call.
    it("a relayed pledge costs less than 45k gas over the direct pledge", () => {
      assert.ok(gas.relayedPledge - gas.pledge < 45000n, `relayed ${gas.relayedPledge} vs direct ${gas.pledge}`);
    });

    it("claimBatch costs less per item than single claims", () => {
      assert.ok(gas.claimBatchPerItem < gas.claim, `${gas.claimBatchPerItem} vs ${gas.claim}`);
    });

    it("a lock-checked transfer costs at most 10k gas over the bare ERC-721 transfer", () => {
      assert.ok(gas.transfer <= gas.baselineTransfer + 10000n, `${gas.transfer} vs ${gas.baselineTransfer}`);
    });
  });
});

describe("deployment", () => {
  it("grants admin and pauser to the constructor argument only", async () => {
    const [admin, other] = await viem.getWalletClients();
    const forwarder = await viem.deployContract("TracecertForwarder", []);
    const registry = await viem.deployContract("CertificateRegistry", [other.account.address, forwarder.address]);
    assert.equal(await registry.read.trustedForwarder(), getAddress(forwarder.address));
    assert.equal(await registry.read.hasRole([role("PAUSER_ROLE"), other.account.address]), true);
    assert.equal(await registry.read.hasRole([DEFAULT_ADMIN_ROLE, other.account.address]), true);
    assert.equal(await registry.read.hasRole([DEFAULT_ADMIN_ROLE, admin.account.address]), false);
    assert.equal(await registry.read.latestLogSize(), 0n);
    assert.equal((await registry.read.certificate([1n])).state, 0);
    assert.equal((await registry.read.gift([1n])).giver, zeroAddress);
  });
});

describe("test coverage of the ABI", () => {
  // A tripwire, not a proof: every custom error and event of the registry must be named by an expectation
  // in one of the two test files, so a newly added error or event cannot go untested unnoticed.
  it("every custom error and event of CertificateRegistry appears in an expectation", async () => {
    const artifact = JSON.parse(
      await readFile(new URL("../../artifacts/contracts/CertificateRegistry.sol/CertificateRegistry.json", import.meta.url)),
    );
    const sol = await readFile(new URL("./CertificateRegistry.t.sol", import.meta.url), "utf8");
    const js = await readFile(new URL("./CertificateRegistry.test.js", import.meta.url), "utf8");
    const ours = (entry) => entry.name.startsWith("CertificateRegistry") || entry.type === "event";
    const checked = artifact.abi
      .filter((entry) => (entry.type === "error" || entry.type === "event") && ours(entry))
      .filter((entry) => entry.type !== "event" || !["Approval", "ApprovalForAll", "RoleAdminChanged", "RoleGranted", "RoleRevoked", "EIP712DomainChanged"].includes(entry.name));
    // 29 registry errors; 18 registry events plus Transfer, Paused, Unpaused and ERC-4906's two.
    assert.equal(checked.filter((e) => e.type === "error").length, 29);
    assert.equal(checked.filter((e) => e.type === "event").length, 23);
    const missing = checked
      .filter((entry) => {
        const solUse = entry.type === "error" ? `.${entry.name}.selector` : `emit ICertificateRegistry.${entry.name}(`;
        const others = ["Pausable", "IERC721", "IERC4906"].map((from) => `emit ${from}.${entry.name}(`);
        const jsUse = `"${entry.name}"`;
        return !sol.includes(solUse) && !others.some((use) => sol.includes(use)) && !js.includes(jsUse);
      })
      .map((entry) => `${entry.type} ${entry.name}`);
    assert.deepEqual(missing, []);
  });
});
