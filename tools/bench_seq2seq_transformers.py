#!/usr/bin/env python3
"""transformers' side of the encoder–decoder benchmark (issue 12), for the same table as

    target/release/attnscope bench --model DIR --n 64 --generate 20

Per N: the forward over a source and a target of N seeded random ids each with every
attention returned (encoder, decoder and cross; eager attention, float32), and greedy
translation of exactly K tokens keeping every step's attentions
(generate(do_sample=False, num_beams=1, min_new_tokens=K, max_new_tokens=K,
output_attentions=True, return_dict_in_generate=True)). Median of repeated runs lasting at
least --seconds (and at least 3), after one warm-up, on --threads threads.

    python3 tools/bench_seq2seq_transformers.py --model sample_models/tiny-translator --n 32 --k 20
"""
import argparse
import resource
import statistics
import time

import torch
import transformers
from transformers import AutoModelForSeq2SeqLM


def median_secs(fn, seconds):
    fn()
    times, start = [], time.perf_counter()
    while len(times) < 3 or time.perf_counter() - start < seconds:
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--n", default="64")
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=2.0)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    model = AutoModelForSeq2SeqLM.from_pretrained(a.model, attn_implementation="eager",
                                                  dtype=torch.float32).eval()
    vocab = model.config.vocab_size
    print(f"transformers {transformers.__version__}, torch {torch.__version__}, "
          f"{a.threads} threads, {cpu_model()}, model {a.model}")
    print(f"| N source = N target | forward, all attentions, ms | greedy {a.k} tokens, ms "
          f"| tokens/s |\n|---:|---:|---:|---:|")
    for n in [int(x) for x in a.n.split(",")]:
        g = torch.Generator().manual_seed(n)
        src = torch.randint(4, vocab, (1, n), generator=g)
        tgt = torch.randint(4, vocab, (1, n), generator=g)
        with torch.inference_mode():
            fwd = median_secs(lambda: model(input_ids=src, decoder_input_ids=tgt,
                                            output_attentions=True), a.seconds)
            gen = median_secs(lambda: model.generate(
                src, do_sample=False, num_beams=1, max_new_tokens=a.k, min_new_tokens=a.k,
                output_attentions=True, return_dict_in_generate=True), a.seconds)
        print(f"| {n} | {fwd * 1e3:.2f} | {gen * 1e3:.2f} | {a.k / gen:.0f} |")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {rss:.0f} MiB")


if __name__ == "__main__":
    main()
