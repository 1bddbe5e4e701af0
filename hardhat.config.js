// Hardhat 3 config. Compiles offline: the compiler is the npm `solc` package's soljson.js,
// so no compiler download is ever attempted. evmVersion is pinned to cancun because py-evm
// (used for the fast in-process Python tests) does not support osaka, solc's default.
import { createRequire } from "node:module";
import { defineConfig } from "hardhat/config";
import hardhatNodeTestRunner from "@nomicfoundation/hardhat-node-test-runner";
import hardhatViem from "@nomicfoundation/hardhat-viem";
import hardhatViemAssertions from "@nomicfoundation/hardhat-viem-assertions";
import hardhatNetworkHelpers from "@nomicfoundation/hardhat-network-helpers";

const require = createRequire(import.meta.url);

export default defineConfig({
  plugins: [hardhatNodeTestRunner, hardhatViem, hardhatViemAssertions, hardhatNetworkHelpers],
  solidity: {
    version: require("solc/package.json").version,
    path: require.resolve("solc/soljson.js"),
    settings: {
      optimizer: { enabled: true, runs: 200 },
      evmVersion: "cancun",
    },
  },
  paths: {
    sources: "./contracts",
    tests: { solidity: "./tests/contracts", nodejs: "./tests/contracts" },
  },
});
