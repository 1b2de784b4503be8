//! `rhaithm check`: everything that can be found out about a patch without playing it.
//! Queries each track for its first cycles so that errors inside closures surface, and
//! names the sounds and controls that would be missing.

use std::collections::BTreeSet;

use crate::dsp::build::{DEFAULT_SOUND, is_known};
use crate::dsp::params::Params;
use crate::dsp::samples::SampleLibrary;
use crate::patch::Patch;
use crate::pattern::Rational;
use crate::script::ScriptError;

/// Cycles looked at per track.
pub const CHECK_CYCLES: i64 = 16;

/// What `check` found.
#[derive(Debug, Default)]
pub struct Report {
    /// One line per track: name, events per cycle, sounds.
    pub tracks: Vec<String>,
    /// Problems that do not stop the patch from playing.
    pub warnings: Vec<String>,
    /// An error raised while querying (inside a closure), with its place.
    pub error: Option<ScriptError>,
}

/// The sounds a patch's tracks name over `cycles` cycles from `from`.
pub fn sounds_used(patch: &Patch, from: Rational, cycles: i64) -> BTreeSet<String> {
    let mut sounds = BTreeSet::new();
    for track in &patch.tracks {
        for hap in track.pattern.query_span(from, from + Rational::int(cycles)).iter().filter(|h| h.has_onset()) {
            let p = Params::from_value(&hap.value, |_| {});
            sounds.insert(p.sound().unwrap_or(DEFAULT_SOUND).to_string());
        }
    }
    sounds
}

/// Checks a compiled patch.
pub fn check(patch: &Patch, samples: &SampleLibrary) -> Report {
    let mut report = Report::default();
    let mut unknown_controls = BTreeSet::new();
    let mut unknown_sounds = BTreeSet::new();
    for track in &patch.tracks {
        let haps = track.pattern.query_span(Rational::ZERO, Rational::int(CHECK_CYCLES));
        let mut sounds = BTreeSet::new();
        let mut events = 0;
        for hap in haps.iter().filter(|h| h.has_onset()) {
            events += 1;
            let p = Params::from_value(&hap.value, |k| {
                unknown_controls.insert(k.to_string());
            });
            let name = p.sound().unwrap_or(DEFAULT_SOUND).to_string();
            if !is_known(&name, &patch.instruments, samples) {
                unknown_sounds.insert(name.clone());
            }
            sounds.insert(name);
        }
        let sounds: Vec<String> = sounds.into_iter().collect();
        report.tracks.push(format!(
            "{}: {:.1} events/cycle, sounds: {}",
            track.name,
            events as f64 / CHECK_CYCLES as f64,
            if sounds.is_empty() { "-".to_string() } else { sounds.join(" ") }
        ));
    }
    for s in unknown_sounds {
        report.warnings.push(format!("no sound called \"{s}\" (not an instrument, sample bank, drum or synth)"));
    }
    for c in unknown_controls {
        report.warnings.push(format!("control \"{c}\" is not supported and is ignored"));
    }
    report.error = patch.take_query_error();
    report
}
