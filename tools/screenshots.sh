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
  xvfb-run -a -s "-screen 0 2400x1600x24 -nolisten tcp" "$bin" --fresh --size "${SIZE:-1600x1000}" --screenshot "screenshots/$out" "$@"
  echo "screenshots/$out"
}
mkdir -p screenshots
shot default.png
shot step-softmax.png --step 6 --row 7
shot multi-head-grid.png --heads 8 --view grid --step 6
shot chinese.png --lang zh --text "我爱北京天安门。小猫坐在垫子上，因为它很累。" --step 6 --row 1
shot lines.png --view lines --step 6
shot plots.png --view plots --step 6 --row 7
minilm=sample_models/all-MiniLM-L6-v2
tiny=sample_models/tiny-gpt2-induction
shot model-grid.png --model "$minilm" --text "The animal didn't cross the street because it was too tired." --view model --layer 2 --head 2
shot model-lab.png --model "$minilm" --text "The animal didn't cross the street because it was too tired." --view lab --layer 2 --head 2 --step 6 --row 10
shot induction.png --model "$tiny" --text "Attention heads copy: Xq7#Lp2 Zu9! then again Xq7#Lp2 Zu9!" --view heatmap --layer 1 --head 0 --step 6 --row 50
shot head-stats.png --model "$tiny" --text "Attention heads copy: Xq7#Lp2 Zu9! then again Xq7#Lp2 Zu9!" --view stats
shot gpt2-step.png --model "$tiny" --text "The cat sat on the mat because it was tired" --view heatmap --layer 0 --head 0 --step 5 --row 4
gemma=tests/fixtures/models/gemma3-tiny   # random weights, made by transformers (a test fixture)
shot gemma-local.png --model "$gemma" --text "Local layers see a window of 8 tokens; global layers see all of them." --view model
llama=sample_models/tiny-llama-induction
shot llama-gqa-grid.png --model "$llama" --text "Rotary heads copy: Xq7#Lp2 Zu9! then again Xq7#Lp2 Zu9!" --view model --layer 1 --head 3
shot generate.png --model "$llama" --text "Rotary heads copy: Xq7#Lp2 Zu9! then again Xq7#" --generate --layer 1
# What if: the tiny GPT-2 copies a random segment; its induction head (1.0) knocked out.
SIZE=1600x1300 shot whatif.png --model "$tiny" --text "orzxqsgfvpubhecwiatdymklorzxqsgfvpubhec" --generate --gen-step 0 --ablate 1:0 --whatif --layer 1 --head 0
shot guess-zh.png --lang zh --model "$llama" --text "复制：北京 Xq7#Lp2 上海 北京 Xq7#" --generate --guess --gen-step 2 --layer 1 --head 3
shot llama-rope.png --model "$llama" --text "Rotary heads copy: Xq7#Lp2 Zu9! then again Xq7#Lp2 Zu9!" --view heatmap --layer 1 --head 3 --step rotate --row 5
# The tiny translator (BART): the date's year moves to the front; row 5 reads 年, writes 3.
shot translate.png --source "March 5, 2021" --tr-step 5
shot translate-zh.png --lang zh --source "three hundred and twelve" --tr-step 1
# The two real GGUF models (tools/fetch_models.sh installs them; skipped when absent).
smol=sample_models/SmolLM2-135M-Instruct-Q4_1.gguf
gemma270=sample_models/gemma-3-270m-Q4_K_M.gguf
if [[ -f $smol && -f $gemma270 ]]; then
  shot smollm2-gguf-grid.png --model "$smol" --text "Mary went to the market. John went to the park. Then Mary gave the apple to" --view model --layer 3 --head 1
  shot gemma3-gguf-zh.png --lang zh --model "$gemma270" --text "小猫坐在垫子上，因为它很累。注意力机制让模型看见上下文。" --view heatmap --layer 5 --head 0 --step 6 --row 10
  # A long document (two licence texts, 9,854 tokens, cut to the model's 8,192): about a
  # minute per shot on 2 cores.
  long=$(mktemp --suffix=.txt)
  cat /usr/share/common-licenses/GPL-3 /usr/share/common-licenses/Apache-2.0 > "$long"
  shot smollm2-8k-grid.png --model "$smol" --text-file "$long" --run-big --view model
  shot smollm2-8k-heatmap.png --model "$smol" --text-file "$long" --run-big --view heatmap --layer 7 --head 7
  rm -f "$long"
else
  echo "skipping the GGUF screenshots: run tools/fetch_models.sh first" >&2
fi
