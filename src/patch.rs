//! A patch: what a script declares, as plain data (tempo, tracks, instruments).
//!
//! Compiling a patch runs the script once, off the audio thread. The patterns it holds
//! may call back into the script's closures when queried, still on the control side.

use std::collections::BTreeMap;
use std::path::Path;

use crate::dsp::Graph;
use crate::pattern::Pat;
use std::sync::Arc;

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

/// One named track.
#[derive(Clone)]
pub struct Track {
    /// `d1` .. `d16` or a `track("name", ...)` name.
    pub name: String,
    /// What it plays.
    pub pattern: Pat,
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
        let engine = ScriptEngine::new(source, path);
        let value = engine.eval()?;
        let rt = engine.runtime();
        let state = rt.take_patch();
        let mut tracks: Vec<Track> = state.tracks.into_iter().map(|(name, pattern)| Track { name, pattern }).collect();
        if tracks.is_empty() && !value.is_unit() {
            let pattern = engine.to_pattern(&value)?;
            tracks.push(Track { name: "main".into(), pattern });
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
        Patch::compile(&source, Some(path))
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
