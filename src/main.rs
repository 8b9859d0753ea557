//! attnscope's entry point: parse the command line, then run a headless subcommand or start
//! the desktop app. Every failure ends with status 2 and one line on stderr.

use attnscope::cli;

fn main() {
    attnscope::keep_freed_memory();
    let parsed = cli::try_parse_from(std::env::args_os());
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => e.exit(), // --help, --version
        Err(e) => {
            eprintln!("{}", one_line(&e.render().to_string()));
            std::process::exit(2);
        }
    };
    let result = match cli.validate() {
        Err(e) => Err(e),
        Ok(()) => match cli.command {
            Some(mut command) => {
                end_quietly_on_closed_pipe();
                // `attnscope --lang zh render …`: the language given before the subcommand.
                if let cli::Command::Render { lang, .. } = &mut command {
                    *lang = lang.or(cli.gui.lang);
                }
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

/// clap's error as one line, like every other failure: its message with the lines that
/// belong to it ("the following required arguments were not provided: --spec <FILE.json>,
/// --out <FILE>"; "invalid value 'fr' for '--lang <LANG>' [possible values: en, zh]"),
/// without the usage and the pointer to --help.
fn one_line(rendered: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for line in rendered.lines() {
        let line = line.trim();
        if line.starts_with("Usage:") || line.starts_with("For more information") {
            break;
        }
        if !line.is_empty() {
            parts.push(line);
        }
    }
    match parts.split_first() {
        None => "error: bad arguments".to_owned(),
        Some((first, [])) => (*first).to_owned(),
        Some((first, rest)) if first.ends_with(':') => format!("{first} {}", rest.join(", ")),
        Some((first, rest)) => format!("{first} {}", rest.join(" ")),
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
