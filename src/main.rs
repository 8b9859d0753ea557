//! attnscope's entry point: parse the command line, then run a headless subcommand or start
//! the desktop app. Every failure ends with status 2 and one line on stderr.

use clap::Parser;

use attnscope::cli::{self, Cli};

fn main() {
    attnscope::keep_freed_memory();
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
            Some(command) => {
                end_quietly_on_closed_pipe();
                cli::run(command)
            }
            None => start_gui(cli.gui),
        },
    };
    if let Err(e) = result {
        // `{:#}` joins the context chain on one line: "bad spec x.json: heads: must be ≥ 1".
        eprintln!("error: {e:#}");
        std::process::exit(2);
    }
}

/// A subcommand's output piped into a reader that stops early (`attnscope bench | head -3`):
/// Rust ignores SIGPIPE, so the next `println!` after the reader was gone panicked with a
/// backtrace. Headless subcommands take the default back and end quietly, as `cat` does;
/// the desktop app keeps ignoring it, so that a closed terminal cannot end it with unsaved
/// work.
fn end_quietly_on_closed_pipe() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: sets one signal's disposition; no handler of ours is involved, and it runs
    // before the subcommand starts any thread.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
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
