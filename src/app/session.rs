//! Session files (File ▸ Save / Open session): `{"format": "attnscope-session", "version": 1,
//! "state": {…}}`. Parsing needs no GUI, so the fuzzer and the CLI reach it too. A file that
//! is not a session is refused whole; a session's numbers are brought into range
//! ([`State::sanitize`]) before anything uses them.

use serde::{Deserialize, Serialize};

use super::state::State;

/// The `format` value of a session file.
pub const FORMAT: &str = "attnscope-session";
/// The newest session format version.
pub const VERSION: u32 = 1;
/// Largest session file read (a session is a few kB; the cap keeps a wrong pick harmless).
pub const MAX_BYTES: u64 = 16 << 20;

/// A saved session, as written to disk.
#[derive(Debug, Serialize, Deserialize)]
pub struct SessionFile {
    /// Always [`FORMAT`].
    pub format: String,
    /// Format version ([`VERSION`]).
    pub version: u32,
    /// The app state.
    pub state: State,
}

/// Why a file is not a usable session.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// Not JSON, or not shaped like a session.
    #[error("not an attnscope session: {0}")]
    NotSession(String),
    /// JSON with another `format`.
    #[error("not an attnscope session (format {0:?})")]
    WrongFormat(String),
    /// Written by a newer attnscope.
    #[error("session version {0} is newer than this attnscope reads ({VERSION})")]
    TooNew(u32),
    /// Larger than [`MAX_BYTES`].
    #[error("{0} bytes is too large for a session file (at most {MAX_BYTES})")]
    TooLarge(u64),
}

/// Parses a session file's text into a state with every number in range.
pub fn parse(text: &str) -> Result<State, SessionError> {
    if text.len() as u64 > MAX_BYTES {
        return Err(SessionError::TooLarge(text.len() as u64));
    }
    let file: SessionFile =
        serde_json::from_str(text).map_err(|e| SessionError::NotSession(e.to_string()))?;
    if file.format != FORMAT {
        return Err(SessionError::WrongFormat(file.format));
    }
    if file.version > VERSION {
        return Err(SessionError::TooNew(file.version));
    }
    let mut state = file.state;
    state.sanitize();
    Ok(state)
}

/// Whether JSON text names its format at the top, as a session does (a spec has no such
/// field): a dropped file with one is read as a session, so a wrong or newer session is
/// reported as that rather than as a broken spec.
pub fn has_format_field(text: &str) -> bool {
    #[derive(Deserialize)]
    struct Peek {
        format: Option<serde::de::IgnoredAny>,
    }
    serde_json::from_str::<Peek>(text).is_ok_and(|p| p.format.is_some())
}

/// A state as session-file JSON.
pub fn to_json(state: &State) -> String {
    let file = SessionFile {
        format: FORMAT.into(),
        version: VERSION,
        state: state.clone(),
    };
    // A State holds only strings, numbers, paths and enums: serialising cannot fail.
    serde_json::to_string_pretty(&file).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        let s = State {
            text_q: "会话".into(),
            ..State::default()
        };
        assert_eq!(parse(&to_json(&s)).unwrap(), s);
        assert!(matches!(parse("{"), Err(SessionError::NotSession(_))));
        let other = r#"{"format":"x","version":1,"state":{}}"#;
        assert!(matches!(parse(other), Err(SessionError::WrongFormat(_))));
        let newer = r#"{"format":"attnscope-session","version":99,"state":{}}"#;
        assert!(matches!(parse(newer), Err(SessionError::TooNew(99))));
    }

    #[test]
    fn absurd_numbers_are_brought_into_range() {
        let text = r#"{"format":"attnscope-session","version":1,"state":{
            "heads": 18446744073709551615, "d_model": 18446744073709551615,
            "max_tokens": 0, "temperature": -3.0, "zoom": 1e30,
            "matrix": {"labels": [], "values": [[1e30, 2.0]]}}}"#;
        let s = parse(text).unwrap();
        assert!(s.heads >= 1 && s.heads <= super::super::state::MAX_HEADS);
        assert_eq!(s.d_model % s.heads, 0);
        assert!(s.max_tokens >= 1 && s.temperature > 0.0 && s.zoom <= 3.0);
        assert_eq!(s.matrix.labels.len(), s.matrix.values.len());
        crate::core::compute(&s.to_spec()).unwrap();
    }
}
