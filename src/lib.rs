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

/// Sets glibc's allocator to keep freed memory for the next run. The app and the CLI call it
/// first thing, and so does `examples/attention_layer`, which times a forward's attention
/// region, so that it measures what the app runs.
///
/// A forward pass allocates and drops many buffers of 1–30 MB (each head's probabilities,
/// the layers' activations). glibc serves those with fresh `mmap`s, or returns them to the
/// system when the heap top is freed, so every run faulted in and zeroed its memory again:
/// at 512 tokens on a SmolLM2-shaped model, 11% of the time was the kernel clearing pages.
/// Heap blocks up to glibc's largest mmap threshold (32 MiB), and up to 1 GiB of freed heap
/// kept for reuse, make a repeated run reuse the last one's pages. That holds for the main
/// arena only: blocks allocated on rayon's workers lived in per-thread arenas, which hand
/// freed pages back to the system whatever the trim threshold, so page faults were still
/// 12% of a 512-token run. One arena for every thread (tcache still serves small blocks
/// without the lock) brought that run from 926–955 to 793–800 ms on the Zen 4.
///
/// Call it before any other thread exists. Elsewhere than glibc on Linux it does nothing.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; the caller calls it before any
    // other thread exists, and a value it refuses is left at glibc's default.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}
