//! rhaithm: a live-coding music environment.
//!
//! A performer writes Rhai pattern scripts in their own editor; rhaithm compiles every
//! saved version into patterns (Tidal/Strudel semantics) and sound, and swaps it into
//! the running audio without a gap. See `docs/ARCHITECTURE.md` for the data flow.
//!
//! - [`pattern`]: the pattern algebra, mini-notation and seeded randomness.
//! - [`script`]: the sandboxed Rhai engine and the API scripts see.
//! - [`query`]: turning haps into the JSON lines the `query` command prints.
//! - [`session`]: a live session (`play`), steered by commands, seen through snapshots.
//! - [`tui`]: the terminal UI over a session.

#![warn(missing_docs)]

pub mod audio;
pub mod dsp;
pub mod engine;
pub mod limits;
pub mod midi;
pub mod patch;
pub mod pattern;
pub mod query;
pub mod script;
pub mod session;
pub mod tui;
pub mod vet;
pub mod watch;
