// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ERC2771Forwarder} from "@openzeppelin/contracts/metatx/ERC2771Forwarder.sol";

/**
 * @title TracecertForwarder
 * @notice The ERC-2771 forwarder the {CertificateRegistry} trusts: the service's one sending account submits
 * requests signed by certificate owners, pledgees and custodians, and the registry acts as the signer.
 *
 * @dev OpenZeppelin's {ERC2771Forwarder} unchanged. EIP-712 domain: name "TracecertForwarder", version "1",
 * the chain id and this contract's address. A request is the typed message
 * `ForwardRequest(address from,address to,uint256 value,uint256 gas,uint256 nonce,uint48 deadline,bytes data)`;
 * `from` must be the signer, `nonce` is the signer's current {nonces} value (used once, in order), and a
 * target that does not trust this forwarder is refused. {execute} reverts with `FailedCall()` when the relayed
 * call reverts (its reason is not passed on) and then consumes no nonce.
 */
contract TracecertForwarder is ERC2771Forwarder {
    constructor() ERC2771Forwarder("TracecertForwarder") {}
}
