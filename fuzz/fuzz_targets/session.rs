//! Session files: arbitrary bytes → `app::session::parse` (which sanitises every number),
//! then the state's spec → `compute` under a small memory budget. A session that parses must
//! always compute or fail with a typed error: its numbers were brought into range, so no
//! panic, overflow or huge allocation may follow, and it must survive a save/parse round trip.
#![no_main]

use attnscope::app::session;
use attnscope::core::kernels::Backend;
use attnscope::core::pipeline::compute_with_budget;
use libfuzzer_sys::fuzz_target;

/// 16 MiB per trace keeps one execution in the milliseconds.
const BUDGET_BYTES: u64 = 16 << 20;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(state) = session::parse(text) else {
        return;
    };
    let again = session::parse(&session::to_json(&state)).expect("a saved session parses");
    assert_eq!(again, state, "save → open changes nothing");
    let spec = state.to_spec();
    let _ = compute_with_budget(&spec, Backend::best(), BUDGET_BYTES);
});
