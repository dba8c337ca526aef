// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title LiquidationGate
/// @notice Lets a liquidation through only on a keeper's EIP-712 attestation that the account is below its
/// maintenance margin. The margin engine runs off-chain (crates/rtm2m-*); a keeper signs its verdict with
/// secp256k1 and this contract checks, in this order: the keeper is registered (UnknownKeeper), the signature
/// is well formed (MalformedSignature) and recovers to that keeper (ForgedSignature), the attestation is not
/// from the future (FutureAttestation) nor older than maxAgeSeconds (StaleAttestation), its sequence is above
/// the last one accepted for the account (Replay), and it says the account is liquidatable with equity below
/// maintenance margin (NotLiquidatable). The typed data and its hashing are documented in docs/proofs.md and
/// mirrored by crates/rtm2m-proof/src/eip712.rs.
contract LiquidationGate {
    /// @notice A keeper's verdict on one account at one margin cycle. Amounts are USD with 18 decimals.
    struct MarginAttestation {
        bytes32 account; // keccak256 of the account id's UTF-8 bytes
        int256 equity;
        int256 maintenanceMargin;
        bytes32 oraclePriceSetHash; // keccak256 of the oracle price set the verdict used
        uint64 timestamp; // seconds since the Unix epoch
        bool liquidatable;
        uint64 sequence; // strictly increasing per account
    }

    /// @notice EIP-712: keccak256 of the domain's type string.
    bytes32 public constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    /// @notice EIP-712: keccak256 of the attestation's type string.
    bytes32 public constant ATTESTATION_TYPEHASH = keccak256(
        "MarginAttestation(bytes32 account,int256 equity,int256 maintenanceMargin,bytes32 oraclePriceSetHash,uint64 timestamp,bool liquidatable,uint64 sequence)"
    );
    // secp256k1 group order / 2: a larger s is the malleable twin of a valid signature (EIP-2).
    uint256 private constant S_MAX = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0;

    /// @notice Who may change the keeper set and the maximum age.
    address public owner;
    /// @notice Oldest attestation accepted, seconds before block.timestamp.
    uint64 public maxAgeSeconds;
    /// @notice The keepers whose attestations are accepted.
    mapping(address => bool) public isKeeper;
    /// @notice The sequence of the last attestation accepted per account (0: none yet).
    mapping(bytes32 => uint64) public lastSequence;
    /// @notice Liquidations let through per account.
    mapping(bytes32 => uint256) public liquidations;

    event KeeperSet(address indexed keeper, bool allowed);
    event MaxAgeSet(uint64 maxAgeSeconds);
    event Liquidated(
        bytes32 indexed account,
        address indexed keeper,
        uint64 sequence,
        int256 equity,
        int256 maintenanceMargin,
        bytes32 oraclePriceSetHash
    );

    error NotOwner(address caller);
    error UnknownKeeper(address keeper);
    error MalformedSignature();
    error ForgedSignature(address recovered, address keeper);
    error FutureAttestation(uint64 timestamp, uint256 blockTimestamp);
    error StaleAttestation(uint64 timestamp, uint256 blockTimestamp, uint64 maxAgeSeconds);
    error Replay(bytes32 account, uint64 sequence, uint64 lastSequence);
    error NotLiquidatable(bytes32 account);

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        _;
    }

    constructor(uint64 maxAgeSeconds_) {
        owner = msg.sender;
        maxAgeSeconds = maxAgeSeconds_;
        emit MaxAgeSet(maxAgeSeconds_);
    }

    /// @notice Adds (allowed = true) or removes a keeper.
    function setKeeper(address keeper, bool allowed) external onlyOwner {
        isKeeper[keeper] = allowed;
        emit KeeperSet(keeper, allowed);
    }

    /// @notice Sets the oldest attestation accepted, seconds.
    function setMaxAge(uint64 maxAgeSeconds_) external onlyOwner {
        maxAgeSeconds = maxAgeSeconds_;
        emit MaxAgeSet(maxAgeSeconds_);
    }

    /// @notice EIP-712 domain separator: name "rtm2m", version "1", this chain and this contract.
    function domainSeparator() public view returns (bytes32) {
        return keccak256(abi.encode(DOMAIN_TYPEHASH, keccak256("rtm2m"), keccak256("1"), block.chainid, address(this)));
    }

    /// @notice EIP-712 hashStruct of an attestation.
    function hashAttestation(MarginAttestation calldata a) public pure returns (bytes32) {
        return keccak256(
            abi.encode(
                ATTESTATION_TYPEHASH,
                a.account,
                a.equity,
                a.maintenanceMargin,
                a.oraclePriceSetHash,
                a.timestamp,
                a.liquidatable,
                a.sequence
            )
        );
    }

    /// @notice The digest a keeper signs: keccak256(0x19 0x01 || domainSeparator || hashStruct).
    function attestationDigest(MarginAttestation calldata a) public view returns (bytes32) {
        return keccak256(abi.encodePacked(hex"1901", domainSeparator(), hashAttestation(a)));
    }

    /// @notice The signer of `digest` from a 65-byte r || s || v signature (v = 27 or 28, s in the lower half).
    function recoverSigner(bytes32 digest, bytes calldata signature) public pure returns (address) {
        if (signature.length != 65) revert MalformedSignature();
        bytes32 r = bytes32(signature[0:32]);
        bytes32 s = bytes32(signature[32:64]);
        uint8 v = uint8(signature[64]);
        if (uint256(s) > S_MAX || (v != 27 && v != 28)) revert MalformedSignature();
        address signer = ecrecover(digest, v, r, s);
        if (signer == address(0)) revert MalformedSignature();
        return signer;
    }

    /// @notice Checks `keeper`'s attestation and, if every check passes, lets the liquidation of
    /// `a.account` through: records the sequence, counts the liquidation and emits Liquidated.
    function liquidate(MarginAttestation calldata a, address keeper, bytes calldata signature) external {
        if (!isKeeper[keeper]) revert UnknownKeeper(keeper);
        address signer = recoverSigner(attestationDigest(a), signature);
        if (signer != keeper) revert ForgedSignature(signer, keeper);
        if (a.timestamp > block.timestamp) revert FutureAttestation(a.timestamp, block.timestamp);
        if (block.timestamp - a.timestamp > maxAgeSeconds) {
            revert StaleAttestation(a.timestamp, block.timestamp, maxAgeSeconds);
        }
        uint64 last = lastSequence[a.account];
        if (a.sequence <= last) revert Replay(a.account, a.sequence, last);
        if (!a.liquidatable || a.equity >= a.maintenanceMargin) revert NotLiquidatable(a.account);
        lastSequence[a.account] = a.sequence;
        liquidations[a.account] += 1;
        emit Liquidated(a.account, keeper, a.sequence, a.equity, a.maintenanceMargin, a.oraclePriceSetHash);
    }
}
