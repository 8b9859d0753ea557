//! `tokenizer.json` loading: arbitrary bytes → `ModelTokenizer::from_json`, then encode a
//! short mixed-script text with whatever loaded. Must never panic.
#![no_main]

use attnscope::model::tokenizer::ModelTokenizer;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(tok) = ModelTokenizer::from_json(text) else {
        return;
    };
    let _ = tok.vocab_size();
    let _ = tok.encode("The cat sat. 我爱北京 ok");
});
