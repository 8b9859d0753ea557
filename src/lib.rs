//! attnscope: see attention compute, one step at a time.
//!
//! Data flows one way: [`core`] (maths, kernels) ← `model` (real transformers) ← `app`
//! (eframe/egui). [`export`] writes files; [`cli`] runs the headless subcommands. Nothing
//! below `app` knows egui, and `cargo build --no-default-features` builds everything but the
//! window (the app's state, sessions, lessons and strings build without it).

pub mod cli;
pub mod core;
pub mod export;
/// GGUF files (llama.cpp's format): a reader safe on hostile files, and dequantisers from
/// ggml's quantised types to f32.
pub mod gguf;
pub mod model;

pub mod app;
