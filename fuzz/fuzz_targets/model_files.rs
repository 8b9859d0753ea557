//! A model folder's parsers: `config.json` and the safetensors header (and data), then the
//! architecture built from both and one tiny forward pass. The input is the config text, a
//! NUL byte, then the safetensors bytes. Must never panic or abort on an allocation.
#![no_main]

use attnscope::core::kernels::Backend;
use attnscope::model::arch::Transformer;
use attnscope::model::config::ModelConfig;
use attnscope::model::weights::Weights;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    let (config, weights) = data.split_at(split);
    let weights = weights.get(1..).unwrap_or_default();
    let config = std::str::from_utf8(config).ok().map(ModelConfig::from_json);
    let Ok(mut w) = Weights::from_bytes(weights, &|_| {}) else {
        return;
    };
    let Some(Ok(config)) = config else {
        return;
    };
    // Model::run_tokens keeps ids within the positions; do the same here.
    let n = config.max_positions().min(3);
    let ids: Vec<u32> = (0..n as u32).collect();
    if let Ok(m) = Transformer::load(&config.network, &mut w) {
        let _ = m.forward(
            Backend::best(),
            &ids,
            &attnscope::model::network::ForwardOpts {
                full: true,
                ..Default::default()
            },
        );
    }
});
