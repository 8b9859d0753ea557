//! An encoder–decoder folder's parsers: `config.json` (bart, marian) and the safetensors
//! header and data, then both stacks built from them, one forward over source and target
//! with cross-attention, and two greedy steps on the KV cache. The input is the config text,
//! a NUL byte, then the safetensors bytes. Must never panic or abort on an allocation.
#![no_main]

use attnscope::model::seq2seq::{Seq2Seq, Seq2SeqConfig};
use attnscope::model::tokenizer::ModelTokenizer;
use attnscope::model::weights::Weights;
use libfuzzer_sys::fuzz_target;

/// A four-token word-level tokenizer: the model's ids are what is fuzzed, not the text.
const TOKENIZER: &str = r#"{"version":"1.0","added_tokens":[],"normalizer":null,
"pre_tokenizer":{"type":"WhitespaceSplit"},"post_processor":null,"decoder":null,
"model":{"type":"WordLevel","vocab":{"<s>":0,"<pad>":1,"</s>":2,"a":3},"unk_token":"<pad>"}}"#;

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    let (config, weights) = data.split_at(split);
    let weights = weights.get(1..).unwrap_or_default();
    let Some(Ok(config)) = std::str::from_utf8(config).ok().map(Seq2SeqConfig::from_json) else {
        return;
    };
    let Ok(w) = Weights::from_bytes(weights, &|_| {}) else {
        return;
    };
    let Ok(tok) = ModelTokenizer::from_json(TOKENIZER) else {
        return;
    };
    let Ok(m) = Seq2Seq::assemble("fuzz".into(), "fuzz".into(), config, tok, w) else {
        return;
    };
    let n = m.config.max_position_embeddings.min(3) as u32;
    let ids: Vec<u32> = (0..n).collect();
    let _ = m.run_tokens(m.infos(&ids), m.infos(&ids));
    let _ = m.translate(&ids, 2, None, &mut |_| {});
});
