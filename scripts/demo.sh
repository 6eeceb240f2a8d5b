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
  "$nfcc" build "$nf$name.c" -o "$out/$name.so"
  echo "== nfcc run $out/$name.so"
  "$nfcc" run "$out/$name.so" --pcap "$out/traffic.pcap" --out "$out/$name-out.pcap"
done

echo "== a chain: policer (10 MB/s per destination) then macswap"
"$nfcc" run "$out/policer.so" rate=10M burst=30k "$out/macswap.so" \
  --pcap "$out/traffic.pcap" --out "$out/chain-out.pcap"
echo "== outputs are in $out/"
