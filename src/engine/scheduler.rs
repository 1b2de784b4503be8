//! Turns a patch's patterns into voices at exact frames (control side).
//!
//! `schedule(from, to)` queries every track for the cycles between two frames, keeps the
//! events that start there, and builds one voice for each, in order of start frame.
//! Problems (an unknown sound, an unknown control, a sample that cannot be read, a
//! window with too many events) become warnings, each reported once.

use std::collections::BTreeSet;
use std::hash::{Hash, Hasher};

use super::clock::Clock;
use crate::dsp::params::Params;
use crate::dsp::samples::SampleLibrary;
use crate::dsp::{BuildError, Voice, VoiceBuilder};
use crate::patch::{Patch, Track};
use crate::pattern::Rational;

/// Most events one track may start in one scheduling window.
pub const MAX_EVENTS_PER_WINDOW: usize = 4096;

/// The control side of playback: clock, tracks and the voice builder.
pub struct Scheduler {
    clock: Clock,
    tracks: Vec<Track>,
    builder: VoiceBuilder,
    warned: BTreeSet<String>,
    warnings: Vec<String>,
}

fn seed(track: &str, onset: Rational, index: usize) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (track, onset.numer(), onset.denom(), index).hash(&mut h);
    h.finish()
}

impl Scheduler {
    /// A scheduler for a patch at a sample rate, with sample banks.
    pub fn new(patch: &Patch, sample_rate: u32, samples: SampleLibrary) -> Scheduler {
        let mut builder = VoiceBuilder::new(sample_rate as f64, samples);
        builder.instruments = patch.instruments.clone();
        Scheduler {
            clock: Clock::new(sample_rate, patch.cps_or_default()),
            tracks: patch.tracks.clone(),
            builder,
            warned: BTreeSet::new(),
            warnings: Vec::new(),
        }
    }

    /// Swaps in a new version of the patch from `frame` on (tempo, tracks, instruments).
    pub fn replace(&mut self, patch: &Patch, frame: u64) {
        self.clock.set_cps(frame, patch.cps_or_default());
        self.tracks = patch.tracks.clone();
        self.builder.instruments = patch.instruments.clone();
    }

    /// The clock.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Names of the tracks.
    pub fn track_names(&self) -> Vec<String> {
        self.tracks.iter().map(|t| t.name.clone()).collect()
    }

    /// New warnings since the last call.
    pub fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }

    fn warn(&mut self, key: String, message: String) {
        if self.warned.insert(key) {
            self.warnings.push(message);
        }
    }

    /// Builds the voices of every event starting in frames `[from, to)`, in start order.
    pub fn schedule(&mut self, from: u64, to: u64) -> Vec<Box<Voice>> {
        let (begin, end) = (self.clock.cycle_at(from), self.clock.cycle_at(to));
        if end <= begin {
            return Vec::new();
        }
        let cps = self.clock.cps();
        let mut voices = Vec::new();
        let tracks = std::mem::take(&mut self.tracks);
        for track in &tracks {
            let haps = track.pattern.query_span(begin, end);
            let mut count = 0;
            for (index, hap) in haps.iter().enumerate() {
                let Some(whole) = hap.whole else { continue };
                if !hap.has_onset() || whole.begin < begin || whole.begin >= end {
                    continue;
                }
                count += 1;
                if count > MAX_EVENTS_PER_WINDOW {
                    self.warn(
                        format!("too-many:{}", track.name),
                        format!(
                            "track {}: more than {MAX_EVENTS_PER_WINDOW} events at once; the rest are skipped",
                            track.name
                        ),
                    );
                    break;
                }
                let mut unknown = Vec::new();
                let mut params = Params::from_value(&hap.value, |k| unknown.push(k.to_string()));
                for key in unknown {
                    self.warn(format!("control:{key}"), format!("control \"{key}\" is not supported and is ignored"));
                }
                params.duration = (whole.end - whole.begin).to_f64() / cps;
                let start = self.clock.frame_at(whole.begin);
                match self.builder.build(&params, start, seed(&track.name, whole.begin, index)) {
                    Ok(v) => voices.push(v),
                    Err(BuildError::UnknownSound(name)) => self.warn(
                        format!("sound:{name}"),
                        format!(
                            "track {}: no sound called \"{name}\" (not an instrument, sample bank, drum or synth)",
                            track.name
                        ),
                    ),
                    Err(e @ BuildError::Sample(_)) => self.warn(format!("sample:{e}"), e.to_string()),
                }
            }
        }
        self.tracks = tracks;
        voices.sort_by_key(|v| v.start());
        voices
    }
}
