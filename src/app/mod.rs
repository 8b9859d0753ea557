//! The desktop app (eframe/egui). It reads everything it shows from the core's [`Trace`]s and
//! a model's run; its only maths is colour mapping and layout.
//!
//! Shape of a frame ([`AttnApp::show`]): poll the background jobs, draw the panels (which
//! push [`Command`]s), apply the commands, then ask the job slots for whatever the new state
//! needs. Computation never runs on the UI thread.
//!
//! The state, its session files, the lessons and the UI strings need no GUI: they build
//! without the `gui` feature, so the CLI and the fuzzers share them.
//!
//! [`Trace`]: crate::core::Trace

pub mod i18n;
pub mod lessons;
pub mod session;
pub mod state;

#[cfg(feature = "gui")]
mod commands;
#[cfg(feature = "gui")]
mod describe;
#[cfg(feature = "gui")]
mod errors;
#[cfg(feature = "gui")]
pub mod fonts;
#[cfg(feature = "gui")]
mod generation;
#[cfg(feature = "gui")]
pub mod heatmap;
#[cfg(feature = "gui")]
pub mod jobs;
#[cfg(feature = "gui")]
mod launch;
#[cfg(feature = "gui")]
mod panels;
#[cfg(feature = "gui")]
mod screenshot;
#[cfg(feature = "gui")]
mod shell;
#[cfg(feature = "gui")]
mod steps;
#[cfg(feature = "gui")]
mod translate;
#[cfg(feature = "gui")]
mod views;
#[cfg(feature = "gui")]
mod whatif;
#[cfg(feature = "gui")]
mod work;

#[cfg(feature = "gui")]
pub use commands::{Command, ExportKind};
#[cfg(feature = "gui")]
pub use fonts::install_fonts;
#[cfg(feature = "gui")]
pub use generation::GenSession;
#[cfg(feature = "gui")]
pub use launch::run;
#[cfg(feature = "gui")]
pub use lessons::LESSONS;
#[cfg(feature = "gui")]
pub use shell::{AttnApp, Notice};
#[cfg(feature = "gui")]
pub use whatif::{WhatIf, WhatIfJob};
#[cfg(feature = "gui")]
pub use work::{LoadedModel, ModelOutput};
