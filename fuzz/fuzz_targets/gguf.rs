//! GGUF files: arbitrary bytes → `GgufFile::from_bytes`, then every getter on every key and
//! every tensor dequantised (up to 1 Mi values each, so one execution stays fast). A file
//! that parses must keep its promises: every tensor's bytes lie inside the file, and a
//! tensor of a readable type dequantises, row by row the same as whole. Anything else must
//! be a typed error, never a panic, hang or huge allocation. Then the model layer reads the
//! same metadata: the HuggingFace config and the tokenizer it describes (errors, not panics).
#![no_main]

use attnscope::gguf::GgufFile;
use libfuzzer_sys::fuzz_target;

/// Largest tensor converted (4 MiB of f32).
const MAX_VALUES: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let Ok(f) = GgufFile::from_bytes(data.to_vec()) else {
        return;
    };
    for (key, _) in f.metadata() {
        let _ = f.get(key).expect("every listed key is found");
        let _ = (f.get_u64(key), f.get_f32(key), f.get_str(key), f.get_bool(key));
        let _ = (f.get_str_array(key), f.get_f32_array(key), f.get_i64_array(key));
    }
    for t in f.tensors() {
        assert!(t.offset + t.n_bytes <= f.file_bytes(), "{} out of the file", t.name);
        assert_eq!(f.tensor_bytes(t).len() as u64, t.n_bytes);
        assert_eq!(f.tensor(&t.name).map(|x| x.offset), Some(t.offset));
        if t.n_elements() > MAX_VALUES {
            continue;
        }
        match f.dequantize(t) {
            Ok(all) => {
                assert_eq!(all.len(), t.n_elements());
                let (row_len, last) = (t.row_len(), t.n_rows() - 1);
                let mut row = vec![0f32; row_len];
                f.dequantize_rows(t, last, &mut row).expect("the last row");
                let want = &all[last * row_len..];
                assert!(row.iter().zip(want).all(|(a, b)| a.to_bits() == b.to_bits()));
                assert!(f.dequantize_rows(t, last + 1, &mut row).is_err());
            }
            Err(_) => assert!(!t.ggml_type.can_dequantize(), "{} failed", t.name),
        }
    }
    // The model layer's reading of the same metadata: a config and a tokenizer, or errors.
    if let Ok(cfg) = attnscope::model::from_gguf::hf_config(&f) {
        let _ = attnscope::model::config::ModelConfig::from_json(&cfg.to_string());
    }
    if let Ok(tok) = attnscope::model::from_gguf::tokenizer(&f) {
        let _ = tok.encode("The cat 我爱北京 2021 <bos>", true);
    }
});
