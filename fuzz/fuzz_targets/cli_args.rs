//! The command-line layer where it parses numbers: a fuzzed argv (NUL-separated) goes through
//! clap and attnscope's own validation (`cli::parse_args`), never running a subcommand.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let argv = std::iter::once("attnscope").chain(text.split('\0'));
    let _ = attnscope::cli::parse_args(argv);
});
