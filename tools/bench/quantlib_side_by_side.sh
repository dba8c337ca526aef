#!/usr/bin/env bash
# Side-by-side throughput of rtm2m and the QuantLib C++ peer, one thread, same machine, same input
# distribution (the peer's own), run interleaved three times so that machine noise shows in the spread.
# Usage: tools/bench/quantlib_side_by_side.sh [N_PRICE] [N_IV]
set -euo pipefail
cd "$(dirname "$0")/../.."
peer_dir=../shared/peers/quantlib
n_price=${1:-2000000}
n_iv=${2:-300000}
bash "$peer_dir/build.sh"
cargo build --release -q -p rtm2m
rtm2m=target/release/rtm2m
for round in 1 2 3; do
    ql_price=$("$peer_dir/ql_peer" bench-price "$n_price" | sed -E 's/.*per_second=([0-9.]+).*/\1/')
    ours_price=$("$rtm2m" bench price --n "$n_price" --threads 1 --inputs quantlib-peer --json | tail -n 1 |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["per_second"])')
    ql_iv=$("$peer_dir/ql_peer" bench-iv "$n_iv" | sed -E 's/.*per_second=([0-9.]+).*/\1/')
    ours_iv=$("$rtm2m" bench iv --n "$n_iv" --threads 1 --inputs quantlib-peer --json | tail -n 1 |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["per_second"])')
    python3 - "$round" "$ql_price" "$ours_price" "$ql_iv" "$ours_iv" <<'PY'
import sys
r, qp, op, qi, oi = sys.argv[1], *map(float, sys.argv[2:])
print(f"round {r}: price+5 Greeks  QuantLib {qp/1e6:6.2f} M/s  rtm2m {op/1e6:6.2f} M/s  ratio {op/qp:5.1f}x | "
      f"implied vol  QuantLib {qi/1e6:5.2f} M/s  rtm2m {oi/1e6:5.2f} M/s  ratio {oi/qi:4.1f}x")
PY
done
