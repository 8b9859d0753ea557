//! attnscope's entry point: parse the command line, then run a headless subcommand or start
//! the desktop app. Every failure ends with status 2 and one line on stderr.

use clap::Parser;

use attnscope::cli::{self, Cli};

fn main() {
    keep_freed_memory();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => e.exit(), // --help, --version
        Err(e) => {
            // One clear line, like every other failure: clap's first line names the flag and
            // the problem; its usage and tips follow only with --help.
            let text = e.render().to_string();
            eprintln!("{}", text.lines().next().unwrap_or("error: bad arguments"));
            std::process::exit(2);
        }
    };
    let result = match cli.validate() {
        Err(e) => Err(e),
        Ok(()) => match cli.command {
            Some(command) => cli::run(command),
            None => start_gui(cli.gui),
        },
    };
    if let Err(e) = result {
        // `{:#}` joins the context chain on one line: "bad spec x.json: heads: must be ≥ 1".
        eprintln!("error: {e:#}");
        std::process::exit(2);
    }
}

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
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; it is called before any thread
    // exists, and a value it refuses is left at glibc's default.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

#[cfg(feature = "gui")]
fn start_gui(args: cli::GuiArgs) -> anyhow::Result<()> {
    attnscope::app::run(args)
}

#[cfg(not(feature = "gui"))]
fn start_gui(_args: cli::GuiArgs) -> anyhow::Result<()> {
    anyhow::bail!(
        "this build has no desktop app (built without the `gui` feature); try `attnscope compute --help`"
    )
}
