//! The controls of one event, read from a hap's value into plain numbers.
//!
//! Names follow Strudel and SuperDirt (`s`, `n`, `note`, `gain`, `cutoff`, `room`, ...).
//! Keys rhaithm does not honour are handed to a callback so the caller can warn once.

use std::sync::Arc;

use crate::pattern::Value;
use crate::pattern::value::note_to_midi;

/// Every control a voice honours. `None` means "not set": the sound's default applies.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Params {
    /// Sound name (`s`).
    pub s: Option<Arc<str>>,
    /// Sample or variant number; a note number for synths without `note`.
    pub n: Option<f64>,
    /// MIDI note number (names are converted: `a4` = 69).
    pub note: Option<f64>,
    /// Frequency in Hz (overrides note).
    pub freq: Option<f64>,
    /// Linear gain (default 1).
    pub gain: Option<f64>,
    /// Velocity, multiplied into gain (default 1).
    pub velocity: Option<f64>,
    /// Stereo position, 0 = left, 0.5 = centre, 1 = right.
    pub pan: Option<f64>,
    /// Sample playback rate; negative plays backwards.
    pub speed: Option<f64>,
    /// Sample start, as a fraction of its length.
    pub begin: Option<f64>,
    /// Sample end, as a fraction of its length.
    pub end: Option<f64>,
    /// Cut group: a new voice in the group stops the one before (per orbit).
    pub cut: Option<i64>,
    /// Note length as a multiple of the event's length (`legato`/`clip`).
    pub clip: Option<f64>,
    /// Envelope attack in seconds.
    pub attack: Option<f64>,
    /// Envelope decay in seconds.
    pub decay: Option<f64>,
    /// Envelope sustain level.
    pub sustain: Option<f64>,
    /// Envelope release in seconds.
    pub release: Option<f64>,
    /// Low-pass cutoff in Hz (`lpf`).
    pub cutoff: Option<f64>,
    /// Low-pass resonance as Q (`lpq`).
    pub resonance: Option<f64>,
    /// High-pass cutoff in Hz (`hpf`).
    pub hcutoff: Option<f64>,
    /// High-pass resonance as Q (`hpq`).
    pub hresonance: Option<f64>,
    /// Band-pass centre in Hz (`bpf`).
    pub bandf: Option<f64>,
    /// Band-pass Q (`bpq`).
    pub bandq: Option<f64>,
    /// Reverb send level of the orbit.
    pub room: Option<f64>,
    /// Reverb size of the orbit, 0..1.
    pub size: Option<f64>,
    /// Delay send level of the orbit.
    pub delay: Option<f64>,
    /// Delay time in seconds.
    pub delaytime: Option<f64>,
    /// Delay feedback, 0..1.
    pub delayfeedback: Option<f64>,
    /// Bit crusher depth in bits (1 = harshest, 16 = almost clean).
    pub crush: Option<f64>,
    /// Sample-rate reduction: hold every n-th sample.
    pub coarse: Option<f64>,
    /// Wave shaping amount, 0..1.
    pub shape: Option<f64>,
    /// Distortion amount (0 = clean; grows without limit).
    pub distort: Option<f64>,
    /// Effect bus the voice goes through (default 0).
    pub orbit: Option<i64>,
    /// Supersaw spread / detune in semitones.
    pub detune: Option<f64>,
    /// FM modulation index.
    pub fmi: Option<f64>,
    /// FM harmonicity (modulator frequency / carrier frequency).
    pub fmh: Option<f64>,
    /// Event length in seconds (set by the scheduler from the hap's whole).
    pub duration: f64,
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Str(s) => note_to_midi(s).or_else(|| s.parse().ok()),
        other => other.as_number(),
    }
}

impl Params {
    /// Reads a hap value. A bare string is a sound name; a bare number a note.
    /// `unknown` is called with every key that is not honoured.
    pub fn from_value(value: &Value, mut unknown: impl FnMut(&str)) -> Params {
        let mut p = Params::default();
        match value {
            Value::Map(map) => {
                for (key, v) in map.iter() {
                    if !p.set(key, v) {
                        unknown(key);
                    }
                }
            }
            Value::Str(s) => p.s = Some(s.clone()),
            other => p.note = number(other),
        }
        p
    }

    /// Sets one control; false if the key is not one rhaithm honours.
    fn set(&mut self, key: &str, v: &Value) -> bool {
        let slot = match key {
            // MIDI's controls (see `crate::midi::route`): not sound parameters.
            "midiport" | "midichan" | "ccn" | "ccv" | "progNum" | "midibend" | "miditouch" => return true,
            "s" => {
                self.s = v.as_str().map(Arc::from).or_else(|| Some(Arc::from(v.to_json().as_str())));
                return true;
            }
            "cut" => {
                self.cut = v.as_number().map(|x| x as i64);
                return true;
            }
            "orbit" => {
                self.orbit = v.as_number().map(|x| x as i64);
                return true;
            }
            "n" => &mut self.n,
            "note" => &mut self.note,
            "freq" => &mut self.freq,
            "gain" => &mut self.gain,
            "velocity" => &mut self.velocity,
            "pan" => &mut self.pan,
            "speed" => &mut self.speed,
            "begin" => &mut self.begin,
            "end" => &mut self.end,
            "clip" | "legato" => &mut self.clip,
            "attack" => &mut self.attack,
            "decay" => &mut self.decay,
            "sustain" => &mut self.sustain,
            "release" => &mut self.release,
            "cutoff" => &mut self.cutoff,
            "resonance" => &mut self.resonance,
            "hcutoff" => &mut self.hcutoff,
            "hresonance" => &mut self.hresonance,
            "bandf" => &mut self.bandf,
            "bandq" => &mut self.bandq,
            "room" => &mut self.room,
            "size" | "roomsize" => &mut self.size,
            "delay" => &mut self.delay,
            "delaytime" => &mut self.delaytime,
            "delayfeedback" => &mut self.delayfeedback,
            "crush" => &mut self.crush,
            "coarse" => &mut self.coarse,
            "shape" => &mut self.shape,
            "distort" => &mut self.distort,
            "detune" => &mut self.detune,
            "fmi" => &mut self.fmi,
            "fmh" => &mut self.fmh,
            _ => return false,
        };
        *slot = number(v).filter(|x| x.is_finite());
        true
    }

    /// The same controls with every number brought into a range a voice can play
    /// safely (a live performer's typo must not blow up the mix; non-finite values are
    /// already dropped when read, as if not set):
    ///
    /// | controls | range |
    /// |---|---|
    /// | `gain`, `velocity` | 0 ..= [`MAX_GAIN`] (+20 dB) each, their product too |
    /// | `attack`, `decay`, `release` | 0 ..= [`MAX_ENVELOPE`] s (notes end at the max note length anyway) |
    /// | `sustain`, `pan`, `begin`, `end`, `room`, `delay`, `size`, `shape` | 0 ..= 1 (`shape` < 1) |
    /// | `speed` | -[`MAX_SPEED`] ..= [`MAX_SPEED`] |
    /// | `note` | -60 ..= 140; `freq` 0 ..= 20 kHz; `cutoff`, `hcutoff`, `bandf` 10 Hz ..= 20 kHz |
    /// | `resonance`, `hresonance`, `bandq` | 0.1 ..= 50 |
    /// | `delaytime` | 0 ..= 4 s; `delayfeedback` 0 ..= 0.98 |
    /// | `crush` 1 ..= 16, `coarse` 0 ..= 64, `distort` 0 ..= 100, `clip` 0 ..= 1000 | |
    /// | `detune` 0 ..= 12, `fmi` 0 ..= 100, `fmh` 0 ..= 64, `orbit` 0 ..= 1023 | |
    pub fn clamped(&self) -> Params {
        let c = |x: Option<f64>, lo: f64, hi: f64| x.map(|v| v.clamp(lo, hi));
        Params {
            s: self.s.clone(),
            n: self.n,
            note: c(self.note, -60.0, 140.0),
            freq: c(self.freq, 0.0, 20_000.0),
            gain: c(self.gain, 0.0, MAX_GAIN),
            velocity: c(self.velocity, 0.0, MAX_GAIN),
            pan: c(self.pan, 0.0, 1.0),
            speed: c(self.speed, -MAX_SPEED, MAX_SPEED),
            begin: c(self.begin, 0.0, 1.0),
            end: c(self.end, 0.0, 1.0),
            cut: self.cut,
            clip: c(self.clip, 0.0, 1000.0),
            attack: c(self.attack, 0.0, MAX_ENVELOPE),
            decay: c(self.decay, 0.0, MAX_ENVELOPE),
            sustain: c(self.sustain, 0.0, 1.0),
            release: c(self.release, 0.0, MAX_ENVELOPE),
            cutoff: c(self.cutoff, 10.0, 20_000.0),
            resonance: c(self.resonance, 0.1, 50.0),
            hcutoff: c(self.hcutoff, 10.0, 20_000.0),
            hresonance: c(self.hresonance, 0.1, 50.0),
            bandf: c(self.bandf, 10.0, 20_000.0),
            bandq: c(self.bandq, 0.1, 50.0),
            room: c(self.room, 0.0, 1.0),
            size: c(self.size, 0.0, 1.0),
            delay: c(self.delay, 0.0, 1.0),
            delaytime: c(self.delaytime, 0.0, 4.0),
            delayfeedback: c(self.delayfeedback, 0.0, 0.98),
            crush: c(self.crush, 1.0, 16.0),
            coarse: c(self.coarse, 0.0, 64.0),
            shape: c(self.shape, 0.0, 0.99),
            distort: c(self.distort, 0.0, 100.0),
            orbit: self.orbit.map(|o| o.clamp(0, 1023)),
            detune: c(self.detune, 0.0, 12.0),
            fmi: c(self.fmi, 0.0, 100.0),
            fmh: c(self.fmh, 0.0, 64.0),
            duration: if self.duration.is_finite() { self.duration.max(0.0) } else { 0.0 },
        }
    }

    /// The sound name and variant: `s` as given, `n` (default 0).
    pub fn sound(&self) -> Option<&str> {
        self.s.as_deref()
    }

    /// Frequency in Hz for pitched sounds: `freq`, else `note`, else `n` as a note
    /// number, else middle C.
    pub fn frequency(&self) -> f64 {
        if let Some(f) = self.freq {
            return f;
        }
        let midi = self.note.or(self.n).unwrap_or(60.0);
        midi_to_hz(midi)
    }

    /// Gain times velocity, at most [`MAX_GAIN`].
    pub fn amplitude(&self) -> f64 {
        (self.gain.unwrap_or(1.0).max(0.0) * self.velocity.unwrap_or(1.0).max(0.0)).min(MAX_GAIN)
    }

    /// The envelope times, Strudel's way: defaults when nothing is set, and a sustain
    /// that is full when only attack is given, else nearly closed.
    pub fn adsr(&self, defaults: [f64; 4]) -> [f64; 4] {
        let (a, d, s, r) = (self.attack, self.decay, self.sustain, self.release);
        if a.is_none() && d.is_none() && s.is_none() && r.is_none() {
            return defaults;
        }
        let sustain = s.unwrap_or(if d.is_none() { 1.0 } else { 0.0 });
        [a.unwrap_or(defaults[0]), d.unwrap_or(defaults[1]), sustain, r.unwrap_or(defaults[3])]
    }
}

/// Largest `gain` (and `velocity`, and their product): +20 dB.
pub const MAX_GAIN: f64 = 10.0;
/// Longest attack, decay or release, in seconds.
pub const MAX_ENVELOPE: f64 = 600.0;
/// Fastest sample playback rate (either way).
pub const MAX_SPEED: f64 = 100.0;

/// Equal-tempered MIDI note to Hz (a4 = 69 = 440 Hz).
pub fn midi_to_hz(midi: f64) -> f64 {
    440.0 * ((midi - 69.0) / 12.0).exp2()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script::eval_pattern;

    fn first(expr: &str) -> (Params, Vec<String>) {
        let pat = eval_pattern(expr).unwrap();
        let haps = pat.query_span(0.into(), 1.into());
        let mut unknown = Vec::new();
        let p = Params::from_value(&haps[0].value, |k| unknown.push(k.to_string()));
        (p, unknown)
    }

    #[test]
    fn reads_controls_and_names() {
        let (p, unknown) = first(r#"note("a4").s("saw").lpf(800).vowel("a").room(0.3)"#);
        assert_eq!(p.note, Some(69.0));
        assert!((p.frequency() - 440.0).abs() < 1e-9);
        assert_eq!(p.s.as_deref(), Some("saw"));
        assert_eq!(p.cutoff, Some(800.0));
        assert_eq!(p.room, Some(0.3));
        assert_eq!(unknown, vec!["vowel"]);
    }

    #[test]
    fn absurd_controls_are_clamped() {
        let (p, _) = first(r#"s("bd").gain(1e9).release(1e9).attack(-5).speed(1e9).room(50).lpf(1e12)"#);
        let p = p.clamped();
        assert_eq!(p.gain, Some(MAX_GAIN));
        assert_eq!((p.attack, p.release), (Some(0.0), Some(MAX_ENVELOPE)));
        assert_eq!((p.speed, p.room, p.cutoff), (Some(MAX_SPEED), Some(1.0), Some(20_000.0)));
        let p = Params { gain: Some(10.0), velocity: Some(10.0), ..Params::default() };
        assert_eq!(p.amplitude(), MAX_GAIN);
        // Non-finite numbers are not set at all.
        let (p, _) = first(r#"s("bd").lpf("nan")"#);
        assert_eq!(p.cutoff, None);
    }

    #[test]
    fn sample_number_from_colon() {
        let (p, _) = first(r#"s("bd:3")"#);
        assert_eq!((p.s.as_deref(), p.n), (Some("bd"), Some(3.0)));
    }

    #[test]
    fn strudel_envelope_defaults() {
        let d = [0.001, 0.05, 0.6, 0.01];
        let p = Params { attack: Some(0.2), ..Params::default() };
        assert_eq!(p.adsr(d), [0.2, 0.05, 1.0, 0.01]);
        let p = Params { decay: Some(0.2), ..Params::default() };
        assert_eq!(p.adsr(d), [0.001, 0.2, 0.0, 0.01]);
        assert_eq!(Params::default().adsr(d), d);
    }
}
