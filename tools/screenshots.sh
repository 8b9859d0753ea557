#!/usr/bin/env bash
# Regenerates screenshots/*.png from the app itself, in a real window under Xvfb.
# Usage: tools/screenshots.sh   (needs xvfb-run; .ci/run shows how to install it)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo build --release --locked
bin=target/release/attnscope
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"; chmod 700 "$XDG_RUNTIME_DIR"
shot() {
  local out=$1; shift
  # A large virtual screen keeps xvfb-run's centred pointer off the window (no hover effects).
  xvfb-run -a -s "-screen 0 2400x1600x24 -nolisten tcp" "$bin" --fresh --size 1600x1000 --screenshot "screenshots/$out" "$@"
  echo "screenshots/$out"
}
mkdir -p screenshots
shot default.png
shot step-softmax.png --step 6 --row 7
shot multi-head-grid.png --heads 8 --view grid --step 6
shot chinese.png --lang zh --text "我爱北京天安门。小猫坐在垫子上，因为它很累。" --step 6 --row 1
shot lines.png --view lines --step 6
shot plots.png --view plots --step 6 --row 7
