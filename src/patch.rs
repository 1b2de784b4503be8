//! A patch: what a script declares, as plain data (tempo, tracks, instruments).
//!
//! Compiling a patch runs the script once, off the audio thread. The patterns it holds
//! may call back into the script's closures when queried, still on the control side.

use std::collections::BTreeMap;
use std::path::Path;

use std::sync::Arc;

use crate::dsp::Graph;
use crate::limits::{MAX_SOURCE_BYTES, MAX_SOURCE_LINES};
use crate::pattern::budget::{self, Budget};
use crate::pattern::{Hap, Pat, Rational, Value};

use crate::script::{Runtime, ScriptEngine, ScriptError};

/// Cycles per second when a patch sets none (Strudel's default, 0.5 = 120 bpm at 4/cycle).
pub const DEFAULT_CPS: f64 = 0.5;

/// When a new version of a patch takes over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quantize {
    /// At once.
    None,
    /// At the next cycle.
    Cycle,
    /// At the next bar (4 cycles).
    Bar,
}

/// Refuses sources too large to be a patch (and whose line numbers Rhai could not
/// count).
fn check_size(source: &str, path: Option<&Path>) -> Result<(), ScriptError> {
    let error = |message: String| ScriptError { path: path.map(Path::to_path_buf), line: 0, column: 0, message };
    if source.len() > MAX_SOURCE_BYTES {
        return Err(error(format!("{} bytes is too large for a patch (at most {MAX_SOURCE_BYTES})", source.len())));
    }
    let lines = source.lines().count();
    if lines > MAX_SOURCE_LINES {
        return Err(error(format!("{lines} lines is too long for a patch (at most {MAX_SOURCE_LINES})")));
    }
    Ok(())
}

/// Where the last statement of a script begins (line, column): the place of a pattern
/// the script ends in, which plays as track `main`. Comments are skipped roughly.
fn last_statement(source: &str) -> (usize, usize) {
    let mut at = (0, 0);
    for (i, line) in source.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with("//") {
            continue;
        }
        at = (i + 1, line.chars().count() - trimmed.chars().count() + 1);
    }
    at
}

/// One named track.
#[derive(Clone)]
pub struct Track {
    /// `d1` .. `d16` or a `track("name", ...)` name.
    pub name: String,
    /// What it plays.
    pub pattern: Pat,
    /// Line and column where the script declared it (0 when unknown).
    pub at: (usize, usize),
}

/// A compiled patch.
#[derive(Clone)]
pub struct Patch {
    /// Cycles per second, if the patch sets it.
    pub cps: Option<f64>,
    /// Tracks in order of first declaration.
    pub tracks: Vec<Track>,
    /// The patch's own instruments.
    pub instruments: BTreeMap<String, Graph>,
    /// Reload quantisation, if the patch sets it.
    pub quantize: Option<Quantize>,
    /// What the script printed.
    pub logs: Vec<String>,
    runtime: Arc<Runtime>,
}

impl Patch {
    /// Runs a patch script. A script that declares no track but ends in a pattern (or a
    /// mini-notation string) plays that pattern as track `main`.
    pub fn compile(source: &str, path: Option<&Path>) -> Result<Patch, ScriptError> {
        check_size(source, path)?;
        let engine = ScriptEngine::new(source, path);
        let value = engine.eval()?;
        let rt = engine.runtime();
        let state = rt.take_patch();
        let mut tracks: Vec<Track> =
            state.tracks.into_iter().map(|(name, pattern, at)| Track { name, pattern, at }).collect();
        if tracks.is_empty() && !value.is_unit() {
            let pattern = engine.to_pattern(&value)?;
            tracks.push(Track { name: "main".into(), pattern, at: last_statement(source) });
        }
        let quantize = state.quantize.map(|q| match q.as_str() {
            "cycle" => Quantize::Cycle,
            "bar" => Quantize::Bar,
            _ => Quantize::None,
        });
        Ok(Patch {
            cps: state.cps,
            tracks,
            instruments: state.instruments,
            quantize,
            logs: rt.take_logs(),
            runtime: rt.clone(),
        })
    }

    /// Reads and compiles a patch file.
    pub fn load(path: &Path) -> Result<Patch, ScriptError> {
        let source = std::fs::read_to_string(path).map_err(|e| ScriptError {
            path: Some(path.to_path_buf()),
            line: 0,
            column: 0,
            message: format!("cannot read: {e}"),
        })?;
        if source.trim().is_empty() {
            return Err(ScriptError {
                path: Some(path.to_path_buf()),
                line: 0,
                column: 0,
                message: "is empty (to silence a file on purpose, write hush())".into(),
            });
        }
        Patch::compile(&source, Some(path))
    }

    /// Queries one track for `[begin, end)` under `budget`. A query that blows its
    /// budget (or panics) gives nothing, and its error, placed at the track's
    /// declaration, is kept for [`Patch::take_query_error`].
    pub fn query_track(&self, track: &Track, begin: Rational, end: Rational, budget: Budget) -> Vec<Hap<Value>> {
        match budget::run(budget, || track.pattern.query_span(begin, end)) {
            Ok(haps) => haps,
            Err(why) => {
                self.runtime.record(self.track_error(track, why.to_string()));
                Vec::new()
            }
        }
    }

    /// The file the patch came from, if any.
    pub fn path(&self) -> Option<&Path> {
        self.runtime.path()
    }

    /// Keeps an error found while playing, if none is waiting.
    pub fn record_error(&self, error: ScriptError) {
        self.runtime.record(error);
    }

    /// An error about a track, placed at its declaration.
    pub fn track_error(&self, track: &Track, message: String) -> ScriptError {
        ScriptError {
            path: self.runtime.path().map(Path::to_path_buf),
            line: track.at.0,
            column: track.at.1,
            message: format!("track {}: {message}", track.name),
        }
    }

    /// The first error raised inside one of the script's closures while its patterns
    /// were queried (that part of the pattern was silent), if any.
    pub fn take_query_error(&self) -> Option<ScriptError> {
        self.runtime.take_error()
    }

    /// The tempo to play at.
    pub fn cps_or_default(&self) -> f64 {
        self.cps.unwrap_or(DEFAULT_CPS)
    }
}
