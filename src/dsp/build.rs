//! Turns one event's controls into a voice (control side): picks the sound (a user's
//! instrument, a sample bank, a drum synth or a built-in synth, in that order), builds
//! its fundsp units, filters, envelope and sends.

use std::collections::BTreeMap;

use fundsp::prelude32::*;

use super::biquad::{Response, biquad_hz};
use super::drums::drum;
use super::env::Adsr;
use super::graph::{Graph, NoteContext, compile};
use super::limits::{MAX_NOTE_FADE, VoiceLimits};
use super::params::{Params, midi_to_hz};
use super::samples::{SampleLibrary, SamplePlayer};
use super::synth::synth;
use super::voice::{OrbitSettings, Shaping, Source, Voice, VoiceSpec};

/// Level of the built-in synths at gain 1 (leaves room for chords and stacks).
pub const SYNTH_LEVEL: f32 = 0.3;
/// Default synth envelope (Strudel's): attack, decay, sustain, release.
const SYNTH_ADSR: [f64; 4] = [0.001, 0.05, 0.6, 0.01];
/// Default envelope of samples and drums: no shaping, a short release if gated.
const ONE_SHOT_ADSR: [f64; 4] = [0.0, 0.0, 1.0, 0.01];
/// The note that plays a sample at its own speed (Strudel's).
const SAMPLE_BASE_NOTE: f64 = 36.0;
/// The sound used when an event names none.
pub const DEFAULT_SOUND: &str = "triangle";

/// Why an event could not become a voice.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum BuildError {
    /// No instrument, sample bank, drum or synth has this name.
    #[error("unknown sound \"{0}\"")]
    UnknownSound(String),
    /// A sample file could not be read.
    #[error("cannot read sample: {0}")]
    Sample(String),
    /// A sample asked to play so slowly that it would never end (`speed(0)`): the event
    /// is skipped, as superdough does for `speed(0)`.
    #[error("sample \"{sound}\" at speed {speed} does not play (|speed| below {MIN_SPEED})")]
    TooSlow {
        /// The sample bank.
        sound: String,
        /// The playback rate relative to the file (speed times the note's pitch).
        speed: f64,
    },
}

/// Slowest relative playback rate a sample plays at (|speed × pitch|); slower events are
/// skipped ([`BuildError::TooSlow`]). Anything slow but above it ends at the max note length.
pub const MIN_SPEED: f64 = 1e-3;

/// Builds voices for a sample rate from instruments and sample banks.
pub struct VoiceBuilder {
    sample_rate: f64,
    /// Longest a note sounds, in seconds (see [`VoiceLimits::max_note`]).
    pub max_note: f64,
    /// Sample banks.
    pub samples: SampleLibrary,
    /// The patch's own instruments.
    pub instruments: BTreeMap<String, Graph>,
}

fn filter<F: FnMut() -> Box<dyn AudioUnit>>(channels: usize, mut make: F) -> Box<dyn AudioUnit> {
    if channels == 1 { make() } else { Box::new(Net::wrap(make()) | Net::wrap(make())) }
}

impl VoiceBuilder {
    /// A builder with no instruments.
    pub fn new(sample_rate: f64, samples: SampleLibrary) -> VoiceBuilder {
        VoiceBuilder { sample_rate, max_note: VoiceLimits::default().max_note, samples, instruments: BTreeMap::new() }
    }

    /// The output sample rate.
    pub fn sample_rate(&self) -> f64 {
        self.sample_rate
    }

    /// Builds the voice for an event starting at frame `start`. `seed` makes noise and
    /// phases reproducible. Controls are first brought into safe ranges
    /// ([`Params::clamped`]); a note longer than [`VoiceBuilder::max_note`] fades out there.
    pub fn build(&mut self, p: &Params, start: u64, seed: u64) -> Result<Box<Voice>, BuildError> {
        let p = &p.clamped();
        let sr = self.sample_rate;
        let name = p.sound().unwrap_or(DEFAULT_SOUND);
        let n = p.n.unwrap_or(0.0).floor() as i64;
        let duration = p.duration.max(0.0);
        let held = |clip: Option<f64>| clip.map(|c| (duration * c.max(0.0) * sr).round() as u64);
        let (source, adsr, gate, length, level) = if let Some(graph) = self.instruments.get(name) {
            let gate = held(Some(p.clip.unwrap_or(1.0)));
            let cx = NoteContext { sample_rate: sr, freq: p.frequency() as f32, gate, seed };
            (Source::Unit(Box::new(compile(graph, &cx))), p.adsr(SYNTH_ADSR), gate, u64::MAX, 1.0)
        } else if self.samples.has(name) {
            let sample = self.samples.get(name, n).map_err(BuildError::Sample)?.expect("bank exists");
            let pitch = match (p.freq, p.note) {
                (Some(f), _) => f / midi_to_hz(SAMPLE_BASE_NOTE),
                (None, Some(note)) => ((note - SAMPLE_BASE_NOTE) / 12.0).exp2(),
                _ => 1.0,
            };
            let relative = p.speed.unwrap_or(1.0) * pitch;
            if relative.abs() < MIN_SPEED {
                return Err(BuildError::TooSlow { sound: name.to_string(), speed: relative });
            }
            let rate = relative * sample.rate / sr;
            let player = SamplePlayer::new(sample, rate, p.begin.unwrap_or(0.0), p.end.unwrap_or(1.0));
            let length = player.remaining();
            (Source::Sample(player), p.adsr(ONE_SHOT_ADSR), held(p.clip), length, 1.0)
        } else if let Some(d) = drum(name, n, sr, seed) {
            let length = (d.seconds * sr).ceil() as u64;
            (Source::Unit(d.unit), p.adsr(ONE_SHOT_ADSR), held(p.clip), length, 1.0)
        } else if let Some(mut unit) = synth(name, p.frequency() as f32, p, seed) {
            unit.set_sample_rate(sr);
            let gate = held(Some(p.clip.unwrap_or(1.0)));
            (Source::Unit(unit), p.adsr(SYNTH_ADSR), gate, u64::MAX, SYNTH_LEVEL)
        } else {
            return Err(BuildError::UnknownSound(name.to_string()));
        };
        let held = length == u64::MAX;
        let channels = match &source {
            Source::Unit(u) => u.outputs(),
            Source::Sample(s) => s.channels(),
        };
        let nyquist = sr * 0.45;
        let mut filters: Vec<Box<dyn AudioUnit>> = Vec::new();
        if let Some(c) = p.cutoff {
            let (c, q) = (c.clamp(10.0, nyquist) as f32, p.resonance.unwrap_or(0.707).clamp(0.1, 50.0) as f32);
            filters.push(filter(channels, || Box::new(biquad_hz(Response::Lowpass, c, q))));
        }
        if let Some(c) = p.hcutoff {
            let (c, q) = (c.clamp(10.0, nyquist) as f32, p.hresonance.unwrap_or(0.707).clamp(0.1, 50.0) as f32);
            filters.push(filter(channels, || Box::new(biquad_hz(Response::Highpass, c, q))));
        }
        if let Some(c) = p.bandf {
            let (c, q) = (c.clamp(10.0, nyquist) as f32, p.bandq.unwrap_or(1.0).clamp(0.1, 50.0) as f32);
            filters.push(filter(channels, || Box::new(biquad_hz(Response::Bandpass, c, q))));
        }
        for f in &mut filters {
            f.set_sample_rate(sr);
        }
        let [a, d, s, r] = adsr;
        let env = Adsr::new(sr, a, d, s, r, gate);
        // Without a release the note ends with its gate; with one it rings that long after.
        let release_frames = (r.max(0.0) * sr).ceil() as u64;
        let length = match gate {
            Some(g) => Ord::min(length, g.saturating_add(release_frames)),
            None => length,
        };
        let shaping = Shaping {
            crush: p.crush.filter(|b| *b > 0.0).map_or(0.0, |b| (b.clamp(1.0, 16.0) - 1.0).exp2() as f32),
            coarse: p.coarse.map_or(0, |c| c.clamp(0.0, 64.0) as u32),
            shape: p.shape.filter(|s| *s > 0.0).map_or(0.0, |s| {
                let s = s.min(0.99);
                (2.0 * s / (1.0 - s)) as f32
            }),
            distort: p.distort.filter(|d| *d > 0.0).map_or(0.0, |d| (d.min(100.0) * 4.0) as f32),
        };
        let orbit_settings = OrbitSettings {
            size: p.size.map(|x| x as f32),
            delaytime: p.delaytime.map(|x| x as f32),
            delayfeedback: p.delayfeedback.map(|x| x as f32),
        };
        let mut voice = Voice::new(VoiceSpec {
            start,
            source,
            filters,
            env,
            length,
            amp: (p.amplitude() as f32) * level,
            pan: p.pan.unwrap_or(0.5) as f32,
            shaping,
            room: p.room.unwrap_or(0.0) as f32,
            delay: p.delay.unwrap_or(0.0) as f32,
            orbit: Ord::max(p.orbit.unwrap_or(0), 0) as usize,
            cut: p.cut,
            orbit_settings,
            held,
        });
        // A note that would outlast the longest note fades out, ending there.
        let max_frames = (self.max_note.max(0.0) * sr).round() as u64;
        if length > max_frames {
            let fade = Ord::min((MAX_NOTE_FADE * sr).round() as u64, max_frames);
            voice.stop_at(start + max_frames - fade, Ord::max(fade, 1) as u32);
        }
        Ok(voice)
    }

    /// Adds or replaces an instrument (one or two outputs, no inputs).
    pub fn set_instrument(&mut self, name: &str, graph: Graph) {
        self.instruments.insert(name.to_string(), graph);
    }
}

/// True if `name` plays as a held note (an instrument, or a built-in synth not shadowed
/// by a sample bank): it sounds for as long as its event lasts, so a swap may start it
/// mid-way. Drums and samples are one-shots.
pub fn is_held(name: &str, instruments: &BTreeMap<String, Graph>, samples: &SampleLibrary) -> bool {
    instruments.contains_key(name) || (!samples.has(name) && super::synth::SYNTHS.contains(&name))
}

/// True if `name` is a sound that can be played: one of the instruments, a sample bank,
/// a drum synth or a built-in synth (the order [`VoiceBuilder::build`] looks in).
pub fn is_known(name: &str, instruments: &BTreeMap<String, Graph>, samples: &SampleLibrary) -> bool {
    instruments.contains_key(name)
        || samples.has(name)
        || super::drums::DRUMS.contains(&name)
        || super::synth::SYNTHS.contains(&name)
}
