#!/usr/bin/env bash
# attnscope vs PyTorch on this machine, same thread count, one run after another:
#   1. materialised attention, h=12, d=64, N = 128/512/2048 (ours: `attnscope bench`;
#      PyTorch: q@kᵀ/√d → softmax → @v keeping P, and scaled_dot_product_attention),
#   2. all-MiniLM-L6-v2 forward with every attention captured at 128 and 512 tokens
#      (ours: `attnscope bench --model`; transformers: output_attentions=True), with memory,
#   3. long inputs (when tools/fetch_models.sh has run): SmolLM2-135M at 2,048 / 4,096 /
#      8,192 tokens, each in a fresh process (ours: every attention digested, a head opened;
#      transformers: eager with attentions, and SDPA without), about 10 minutes.
# Prints the tables BENCHMARKS.md records. Needs: pip install -r tools/requirements.txt
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
THREADS="${THREADS:-2}"
out="${OUT:-target/bench}"; mkdir -p "$out"
cargo build --release --locked
export RAYON_NUM_THREADS="$THREADS" OMP_NUM_THREADS="$THREADS" MKL_NUM_THREADS="$THREADS" OPENBLAS_NUM_THREADS="$THREADS"
target/release/attnscope bench --n 128,512,2048 --seconds 2 --json "$out/ours_attention.json"
python3 tools/bench_torch.py --threads "$THREADS" --json "$out/torch_attention.json"
target/release/attnscope bench --model sample_models/all-MiniLM-L6-v2 --n 128,512 --seconds 2 --json "$out/ours_minilm.json"
python3 tools/bench_transformers.py --threads "$THREADS" --json "$out/transformers_minilm.json"
python3 tools/bench_table.py "$out"
smol=sample_models/SmolLM2-135M-Instruct-Q4_1.gguf
if [[ -f $smol && "${LONG:-1}" == 1 ]]; then
  for n in 2048 4096 8192; do
    target/release/attnscope bench --model "$smol" --n "$n" --seconds 0 --json "$out/ours_long_$n.json"
  done
  python3 tools/bench_long_transformers.py 2048 4096 8192
fi
