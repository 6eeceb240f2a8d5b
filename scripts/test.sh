#!/usr/bin/env bash
# The whole test suite: install what is missing, then every crate's unit tests and the
# end-to-end tests (which build and run the shipped examples with the real nfcc binary).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
cargo test --workspace --locked "$@"
