#!/usr/bin/env bash
# Builds the game in release mode and puts the binaries in bin/ next to
# config.json, so that this folder is ready for `gamestore-dev publish .`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
cargo build --release
target="${CARGO_TARGET_DIR:-target}"
mkdir -p bin
for program in game-server game-client; do
    cp "$target/release/$program" "bin/$program"
    chmod 755 "bin/$program"
done
echo "ready: $(pwd) (config.json + bin/). Publish with: gamestore-dev publish ."
