// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";

/**
 * @title BaselineERC721
 * @notice Test-only gas baseline: a plain OpenZeppelin ERC-721 with an open `mint`. Never deploy it for real.
 */
contract BaselineERC721 is ERC721 {
    constructor() ERC721("Baseline", "BASE") {}

    /**
     * @notice Mints `tokenId` to `to`, with no access control.
     * @param to The recipient.
     * @param tokenId The token id.
     */
    function mint(address to, uint256 tokenId) external {
        _mint(to, tokenId);
    }
}
