#!/usr/bin/env bash
# Honest miners on the devnet (issue 11's acceptance figure): a fresh node with the built-in devnet genesis and two
# real ailo-miner processes (CPU) for SECONDS (default 540), then the coordinator's verdicts and each version's
# held-out loss. Usage: bench/honest-devnet.sh [SECONDS] [PORT]
set -u
cd "$(dirname "$0")/.."
SECONDS_TO_RUN="${1:-540}"
PORT="${2:-18700}"
D="$(mktemp -d -t ailo-honest-XXXXXX)"
node -e "const {Wallet}=require('ethers');for(const n of ['a','b']){const w=Wallet.createRandom();require('fs').writeFileSync('$D/'+n+'.key',w.privateKey,{mode:0o600})}"
node --import tsx node/cli.ts --data "$D/data" --port "$PORT" > "$D/node.log" 2>&1 &
NODE=$!
for _ in $(seq 120); do curl -sf "http://127.0.0.1:$PORT/api/status" >/dev/null && break; sleep 1; done
for n in a b; do
  node --import tsx node/ailo-miner/cli.ts --key-file "$D/$n.key" --node "http://127.0.0.1:$PORT" --cpu --no-gui --power 90 --cache "$D/cache-$n" > "$D/miner-$n.log" 2>&1 &
done
sleep "$SECONDS_TO_RUN"
pkill -INT -f "node/ailo-miner/cli.ts --key-file $D" ; sleep 20
kill "$NODE"; wait "$NODE" 2>/dev/null
echo "accepted: $(grep -c 'federation: accepted' "$D/node.log")  refused: $(grep -c 'federation: refused' "$D/node.log")"
grep -o 'refused task [^:]*: [A-Z_]*' "$D/node.log" | awk '{print $NF}' | sort | uniq -c
grep -o 'version [0-9]* held-out loss [0-9.]*' "$D/node.log"
grep -o 'accepted task.*quality [0-9.]*x, work [0-9.]*' "$D/node.log" | sed 's/.*(v\([0-9]*\), quality \([0-9.]*\)x, work \([0-9.]*\)/v\1 q\2 w\3/' | tr '\n' ' '; echo
echo "logs: $D"
