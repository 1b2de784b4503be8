//! `rhaithm check`: everything that can be found out about a patch without playing it.
//! Queries each track for its first cycles so that errors inside closures surface, and
//! names the sounds and controls that would be missing.

use std::collections::BTreeSet;

use crate::dsp::build::{DEFAULT_SOUND, is_known};
use crate::dsp::params::Params;
use crate::dsp::samples::SampleLibrary;
use crate::limits::Limits;
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

/// Plays a compiled version in test, cycle by cycle and track by track, under the
/// check budgets: each cycle's query must stay within its time and work, have at most
/// `limits.max_events_per_cycle` events, and raise no error in the script's closures.
/// The first problem is returned, placed where it was raised (or at the track's
/// declaration).
pub fn vet(patch: &Patch, from: Rational, cycles: i64, limits: &Limits) -> Result<(), ScriptError> {
    let deadline = std::time::Instant::now() + limits.vet_time;
    for track in &patch.tracks {
        for c in 0..cycles {
            if std::time::Instant::now() > deadline {
                return Err(patch.track_error(
                    track,
                    format!(
                        "checking took longer than {} s (raise it with --check-seconds)",
                        limits.vet_time.as_secs()
                    ),
                ));
            }
            let begin = from + Rational::int(c);
            let haps = patch.query_track(track, begin, begin + Rational::ONE, limits.check());
            if let Some(e) = patch.take_query_error() {
                return Err(e);
            }
            let events = haps.iter().filter(|h| h.has_onset()).count();
            if events > limits.max_events_per_cycle {
                return Err(patch.track_error(
                    track,
                    format!(
                        "{events} events in cycle {}; at most {} per cycle (raise it with --max-events)",
                        begin, limits.max_events_per_cycle
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Most of one core a single note of an instrument may take (measured when a version is
/// checked). The audio thread sheds voices when it runs out of time, but one note that
/// alone costs more than a buffer's time cannot be saved that way.
pub const MAX_NOTE_COST: f64 = 0.10;

/// Share of one core one note of `graph` takes to render, measured over 0.1 s of a note
/// at 48 kHz.
pub fn note_cost(graph: &crate::dsp::Graph) -> f64 {
    use fundsp::audiounit::AudioUnit;
    let cx = crate::dsp::graph::NoteContext { sample_rate: 48000.0, freq: 220.0, gate: Some(48000), seed: 1 };
    let mut net = crate::dsp::graph::compile(graph, &cx);
    let mut out = vec![0.0f32; net.outputs()];
    let frames = 4800;
    let started = std::time::Instant::now();
    for _ in 0..frames {
        net.tick(&[], &mut out);
    }
    started.elapsed().as_secs_f64() / (frames as f64 / 48000.0)
}

/// Refuses instruments too costly to play: one note over [`MAX_NOTE_COST`] of a core.
pub fn vet_instruments(patch: &Patch, path: Option<&std::path::Path>) -> Result<(), ScriptError> {
    for (name, graph) in &patch.instruments {
        let cost = note_cost(graph);
        if cost > MAX_NOTE_COST {
            return Err(ScriptError {
                path: path.map(std::path::Path::to_path_buf),
                line: 0,
                column: 0,
                message: format!(
                    "instrument \"{name}\": one note takes {:.0}% of a core to play (at most {:.0}%); simplify it",
                    cost * 100.0,
                    MAX_NOTE_COST * 100.0
                ),
            });
        }
    }
    Ok(())
}

/// The sounds a patch's tracks name over `cycles` cycles from `from`.
pub fn sounds_used(patch: &Patch, from: Rational, cycles: i64) -> BTreeSet<String> {
    let mut sounds = BTreeSet::new();
    let budget = Limits::default().check();
    for track in &patch.tracks {
        let haps = patch.query_track(track, from, from + Rational::int(cycles), budget);
        for hap in haps.iter().filter(|h| h.has_onset()) {
            let p = Params::from_value(&hap.value, |_| {});
            sounds.insert(p.sound().unwrap_or(DEFAULT_SOUND).to_string());
        }
    }
    sounds
}

/// Checks a compiled patch: [`vet`]s it under `limits`, then lists its tracks and what
/// they would be missing.
pub fn check(patch: &Patch, samples: &SampleLibrary, limits: &Limits) -> Report {
    let mut report = Report::default();
    if let Err(e) = vet(patch, Rational::ZERO, CHECK_CYCLES, limits).and_then(|()| vet_instruments(patch, patch.path()))
    {
        report.error = Some(e);
        return report;
    }
    let mut unknown_controls = BTreeSet::new();
    let mut unknown_sounds = BTreeSet::new();
    for track in &patch.tracks {
        let haps = patch.query_track(track, Rational::ZERO, Rational::int(CHECK_CYCLES), limits.check());
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
