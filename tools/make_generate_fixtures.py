#!/usr/bin/env python3
"""Greedy-generation fixtures from transformers, for attnscope's KV-cache decoding.

For each model and prompt this records what `generate(do_sample=False)` does in float32
with eager attention: the prompt ids (the model's tokenizer.json through the `tokenizers`
library, as attnscope tokenizes), the 20 new ids, per step the log-probability of the chosen
token (log_softmax of `output_scores`, which are the raw logits for greedy decoding), and per
step the attention row of the token that produced that step's logits, in every layer and
head (`output_attentions`: the last query row of each layer).

Writes tests/fixtures/generate/<model>.json:
  {"model": dir, "cases": [{"prompt": text, "prompt_ids": [...], "generated_ids": [...],
    "logprobs": [...], "attention": [step][layer][head][key]}]}

SmolLM2-135M-Instruct (when tools/fetch_models.sh has run): ids and log-probs only, to
tests/fixtures/generate/SmolLM2.json (the model itself is not committed).

    python3 tools/make_generate_fixtures.py
"""
import json
import os

import torch
from tokenizers import Tokenizer
from transformers import AutoModelForCausalLM, AutoTokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROMPTS = [
    "The cat sat on the mat because",
    "Attention heads copy: Xq7#Lp2 Zu9! then again Xq7#",
    "我爱北京天安门，",
    "def add(a, b):\n    return",
    "for (int i = 0; i < n; i++) {",
]
NEW = 20


def run(model, prompt_ids, attentions=True):
    ids = torch.tensor([prompt_ids])
    with torch.no_grad():
        out = model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False,
                             max_new_tokens=NEW, output_scores=True,
                             output_attentions=attentions, return_dict_in_generate=True,
                             pad_token_id=model.config.eos_token_id)
    gen = out.sequences[0, len(prompt_ids):].tolist()
    logprobs = [torch.log_softmax(s[0].double(), -1)[t].item() for s, t in zip(out.scores, gen)]
    case = {"prompt_ids": prompt_ids, "generated_ids": gen, "logprobs": logprobs}
    if attentions:
        case["attention"] = [[layer[0, :, -1, :].tolist() for layer in step]
                             for step in out.attentions]
    return case


def main():
    torch.manual_seed(0)
    out_dir = os.path.join(ROOT, "tests/fixtures/generate")
    os.makedirs(out_dir, exist_ok=True)
    for name in ["tiny-gpt2-induction", "tiny-llama-induction"]:
        d = os.path.join(ROOT, "sample_models", name)
        tok = Tokenizer.from_file(os.path.join(d, "tokenizer.json"))
        model = AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32,
                                                     attn_implementation="eager").eval()
        cases = []
        for p in PROMPTS:
            case = run(model, tok.encode(p).ids)
            case["prompt"] = p
            cases.append(case)
        path = os.path.join(out_dir, f"{name}.json")
        with open(path, "w") as f:
            json.dump({"model": f"sample_models/{name}", "cases": cases}, f)
        print("wrote", path)
    gguf = os.path.join(ROOT, "sample_models/SmolLM2-135M-Instruct-Q4_1.gguf")
    if os.path.exists(gguf):
        folder, file = os.path.split(gguf)
        model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=file, dtype=torch.float32,
                                                     attn_implementation="eager").eval()
        tok = AutoTokenizer.from_pretrained(folder, gguf_file=file)
        cases = []
        for p in PROMPTS:
            case = run(model, tok(p).input_ids, attentions=False)
            case["prompt"] = p
            cases.append(case)
        path = os.path.join(out_dir, "SmolLM2.json")
        with open(path, "w") as f:
            json.dump({"model": "sample_models/SmolLM2-135M-Instruct-Q4_1.gguf",
                       "cases": cases}, f)
        print("wrote", path)


if __name__ == "__main__":
    main()
