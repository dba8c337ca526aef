// Compiles contracts/*.sol with the pinned solcjs (package.json, package-lock.json beside this file) and writes
// one artifact per contract to contracts/build/<Contract>.json: ABI, creation and runtime bytecode, compiler
// and settings. The Rust EVM tests (crates/rtm2m-proof/tests/evm.rs) load those committed artifacts.
//
//   node tools/solc/compile.js           write contracts/build/
//   node tools/solc/compile.js --check   exit 1 unless contracts/build/ is exactly what the sources compile to
//
// Install first: npm ci --prefix tools/solc
'use strict';
const fs = require('fs');
const path = require('path');
const solc = require('solc');

const root = path.resolve(__dirname, '..', '..');
const sourceDir = path.join(root, 'contracts');
const buildDir = path.join(sourceDir, 'build');
const check = process.argv.includes('--check');

// Fixed settings: the bytecode must not depend on the machine. No metadata hash (it would change the bytecode
// with every comment edit); EVM version pinned rather than the compiler's default.
const settings = {
  optimizer: { enabled: true, runs: 200 },
  evmVersion: 'cancun',
  metadata: { bytecodeHash: 'none', appendCBOR: false },
  outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'] } },
};

const sources = {};
for (const file of fs.readdirSync(sourceDir).filter((f) => f.endsWith('.sol')).sort()) {
  sources[file] = { content: fs.readFileSync(path.join(sourceDir, file), 'utf8') };
}
const output = JSON.parse(solc.compile(JSON.stringify({ language: 'Solidity', sources, settings })));
let failed = false;
for (const e of output.errors || []) {
  console.error(e.formattedMessage || e.message);
  if (e.severity === 'error') failed = true;
}
if (failed) process.exit(1);

const artifacts = {};
for (const file of Object.keys(output.contracts || {}).sort()) {
  for (const name of Object.keys(output.contracts[file]).sort()) {
    const c = output.contracts[file][name];
    const artifact = {
      contractName: name,
      sourceName: `contracts/${file}`,
      compiler: `solc ${solc.version()}`,
      settings: { optimizer: settings.optimizer, evmVersion: settings.evmVersion, metadata: settings.metadata },
      abi: c.abi,
      bytecode: `0x${c.evm.bytecode.object}`,
      deployedBytecode: `0x${c.evm.deployedBytecode.object}`,
    };
    artifacts[`${name}.json`] = `${JSON.stringify(artifact, null, 2)}\n`;
  }
}

if (check) {
  const stale = [];
  const present = fs.existsSync(buildDir) ? fs.readdirSync(buildDir).filter((f) => f.endsWith('.json')) : [];
  for (const [file, text] of Object.entries(artifacts)) {
    const target = path.join(buildDir, file);
    if (!fs.existsSync(target) || fs.readFileSync(target, 'utf8') !== text) stale.push(file);
  }
  for (const file of present) if (!(file in artifacts)) stale.push(`${file} (no such contract)`);
  if (stale.length > 0) {
    console.error(`contracts/build is not what contracts/*.sol compile to: ${stale.join(', ')}`);
    console.error('run `npm ci --prefix tools/solc && node tools/solc/compile.js` and commit contracts/build/');
    process.exit(1);
  }
  console.log(`contracts/build matches ${Object.keys(artifacts).length} contracts compiled by solc ${solc.version()}`);
} else {
  fs.mkdirSync(buildDir, { recursive: true });
  for (const [file, text] of Object.entries(artifacts)) fs.writeFileSync(path.join(buildDir, file), text);
  console.log(`wrote ${Object.keys(artifacts).length} artifacts to contracts/build with solc ${solc.version()}`);
}
