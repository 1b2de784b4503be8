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

    /// Gain times velocity.
    pub fn amplitude(&self) -> f64 {
        self.gain.unwrap_or(1.0).max(0.0) * self.velocity.unwrap_or(1.0).max(0.0)
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
