#!/usr/bin/env bash
# The main job on the shipped examples: install what is missing, build nfcc and every
# example NF, generate a trace, run each NF (and a chain) on it, and show what happened.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh

cargo build --release --locked -q -p nfcc-driver
nfcc=target/release/nfcc
out=build/demo
mkdir -p "$out"

echo "== generating traffic"
"$nfcc" traffic -o "$out/traffic.pcap" --packets 100000 --flows 10000 --rate 1000000

for nf in nf-examples/*/; do
  name=$(basename "$nf")
  [ -f "$nf/$name.c" ] || continue
  echo "== nfcc build $nf$name.c"
  # The build fails if the contract does not cover every path.
  "$nfcc" build "$nf$name.c" -o "$out/$name.so"
  "$nfcc" contract show "$out/$name.contract.json"
  echo "== nfcc run $out/$name.so"
  "$nfcc" run "$out/$name.so" --pcap "$out/traffic.pcap" --out "$out/$name-out.pcap"
done

echo "== a chain: policer (10 MB/s per destination) then macswap"
"$nfcc" run "$out/policer.so" rate=10M burst=30k "$out/macswap.so" \
  --pcap "$out/traffic.pcap" --out "$out/chain-out.pcap"
echo "== an attack: a module that writes past the end of packet 5, chained after macswap"
"$nfcc" build nf-examples/attacks/write_past_packet.c -o "$out/write_past_packet.so" --no-contract
"$nfcc" run "$out/macswap.so" "$out/write_past_packet.so" --pcap "$out/traffic.pcap" --out "$out/attack-out.pcap"

echo "== what protection costs (short run; README has the full table)"
"$nfcc" bench --reps 3 --packets 500000 --callgrind-packets 0

echo "== outputs are in $out/"
