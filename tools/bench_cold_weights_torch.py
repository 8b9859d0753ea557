#!/usr/bin/env python3
"""The linear layers of a SmolLM2-135M-shaped model in PyTorch, as `examples/cold_weights.rs`
times them in attnscope: 30 layers of 7 matrices (q, k, v, o, gate, up, down), every layer
with its own weights (424 MB of f32, so they stream from memory: "cold") against one
layer's weights reused 30 times ("hot"). `torch.nn.functional.linear` is what transformers'
`nn.Linear` calls, so "cold" is the product time of a transformers forward.

Run: python3 tools/bench_cold_weights_torch.py [ROWS] [THREADS]
     RAYON_NUM_THREADS=THREADS cargo run --release --example cold_weights ROWS
(BENCHMARKS.md records both with the CPU.)
"""
import sys
import time

import torch


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 128
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    torch.set_num_threads(threads)
    # (in, out) of q, k, v, o, gate, up, down.
    shapes = [(576, 576), (576, 192), (576, 192), (576, 576), (576, 1536), (576, 1536), (1536, 576)]
    gen = torch.Generator().manual_seed(0)
    layers = [[torch.randn(m, k, generator=gen) for (k, m) in shapes] for _ in range(30)]
    x = {k: torch.randn(rows, k, generator=gen) for k in (576, 1536)}
    flops = 30 * sum(2 * rows * k * m for k, m in shapes)
    print(f"torch {torch.__version__}, {threads} threads, {rows} rows")
    with torch.inference_mode():
        for rnd in range(6):
            for hot in (False, True):
                start = time.perf_counter()
                for own in layers:
                    for (k, _), w in zip(shapes, layers[0] if hot else own):
                        torch.nn.functional.linear(x[k], w)
                sec = time.perf_counter() - start
                label = "hot" if hot else "cold"
                print(f"round {rnd} {label}: {sec * 1e3:.1f} ms, {flops / sec / 1e9:.0f} GFLOP/s")


if __name__ == "__main__":
    main()
