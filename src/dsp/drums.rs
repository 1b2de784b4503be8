//! Drum synths built from fundsp nodes, in the spirit of the classic analogue machines:
//! a pitch-swept sine kick, a tone-plus-noise snare, metallic hats and cymbals from
//! detuned square banks, a multi-burst clap, rimshot, three toms and a cowbell.
//!
//! `n` picks one of four variants of each (tuning and decay change), wrapping around.

use fundsp::prelude32::*;

use super::env::{Adsr, EnvNode};

/// Names of the drum synths.
pub const DRUMS: &[&str] = &["bd", "sn", "hh", "oh", "cp", "rim", "lt", "mt", "ht", "cb", "cr"];

/// Tuning and decay multipliers of the four variants.
const VARIANTS: [(f32, f32); 4] = [(1.0, 1.0), (1.12, 0.7), (0.89, 1.4), (1.26, 0.55)];

/// Frequencies of the six square waves of the TR-808's cymbal and hats.
const METAL: [f32; 6] = [205.3, 304.4, 369.6, 522.7, 540.0, 800.0];

/// A drum: its graph (no inputs, one output) and how long it rings in seconds.
pub struct Drum {
    /// The graph.
    pub unit: Box<dyn AudioUnit>,
    /// Its length in seconds; it is silent afterwards.
    pub seconds: f64,
}

/// Builds a drum sound, or `None` if the name is not a drum.
pub fn drum(name: &str, n: i64, sample_rate: f64, seed: u64) -> Option<Drum> {
    let (t, d) = VARIANTS[n.rem_euclid(4) as usize];
    let sr = sample_rate;
    let env = |attack: f32, decay: f32| EnvNode::new(Adsr::perc(sr, attack as f64, decay as f64));
    let env_at = |start: f32, decay: f32| {
        EnvNode::delayed(Adsr::perc(sr, 0.0, decay as f64), (start as f64 * sr).round() as u64)
    };
    let noise = move || noise().seed(seed);
    let metal = move |t: f32| busi::<U6, _, _>(move |i| square_hz(METAL[i as usize] * t * 1.7) * 0.16);
    let (mut unit, seconds): (Box<dyn AudioUnit>, f32) = match name {
        "bd" => {
            let pitch = env(0.0, 0.11 * d) * (150.0 * t) + 47.0 * t;
            let body = (pitch >> sine().phase(0.25)) * env(0.0005, 0.5 * d);
            let click = (noise() >> lowpass_hz(5000.0, 0.7)) * env(0.0, 0.005) * 0.4;
            (Box::new((body + click) >> (shape(Tanh(1.6)) * 0.95)), 0.5 * d)
        }
        "sn" => {
            let tone =
                (sine_hz(185.0 * t).phase(0.0) * 0.55 + sine_hz(330.0 * t).phase(0.0) * 0.3) * env(0.0005, 0.11 * d);
            let rattle = (noise() >> highpass_hz(1400.0, 0.7) >> lowpass_hz(9500.0, 0.7)) * env(0.0005, 0.2 * d);
            (Box::new((tone + rattle * 0.75) >> (shape(Tanh(1.3)) * 0.9)), 0.2 * d)
        }
        "hh" | "oh" | "cr" => {
            let (decay, cut, noise_mix, gain) = match name {
                "hh" => (0.05 * d, 7500.0, 0.35, 0.9),
                "oh" => (0.38 * d, 7000.0, 0.35, 0.8),
                _ => (1.6 * d, 4500.0, 0.6, 0.5),
            };
            let source = metal(t) + noise() * noise_mix;
            let filtered = source >> highpass_hz(cut * t, 0.9) >> peak_hz(10_000.0, 1.0);
            (Box::new(filtered * env(0.0005, decay) * gain), decay)
        }
        "cp" => {
            let bursts = env_at(0.0, 0.010) + env_at(0.011, 0.010) + env_at(0.021, 0.011) + env_at(0.030, 0.2 * d);
            let body = noise() >> bandpass_hz(1150.0 * t, 2.2) >> highpass_hz(600.0, 0.7);
            (Box::new((body * bursts * 2.2) >> shape(Tanh(1.0))), 0.23 + 0.2 * d)
        }
        "rim" => {
            let tone = (sine_hz(1750.0 * t).phase(0.0) * 0.5 + triangle_hz(480.0 * t) * 0.5) * env(0.0, 0.028 * d);
            let snap = (noise() >> bandpass_hz(2600.0 * t, 3.0)) * env(0.0, 0.01) * 0.6;
            (Box::new((tone + snap) * 0.9), 0.03 * d)
        }
        "lt" | "mt" | "ht" => {
            let (base, decay) = match name {
                "lt" => (85.0, 0.45),
                "mt" => (125.0, 0.38),
                _ => (175.0, 0.3),
            };
            let pitch = env(0.0, 0.16 * d) * (base * t * 0.55) + base * t;
            let body = (pitch >> sine().phase(0.25)) * env(0.001, decay * d);
            let hit = (noise() >> bandpass_hz(base * 12.0, 1.0)) * env(0.0, 0.012) * 0.3;
            (Box::new((body + hit) >> (shape(Tanh(1.2)) * 0.9)), decay * d)
        }
        "cb" => {
            let tone = ((square_hz(540.0 * t) + square_hz(800.0 * t)) * 0.3) >> bandpass_hz(850.0 * t, 1.6);
            let amp = env(0.0, 0.05) * 0.45 + env(0.0, 0.32 * d) * 0.55;
            (Box::new((tone * amp * 1.6) >> shape(Tanh(1.0))), 0.32 * d)
        }
        _ => return None,
    };
    unit.set_sample_rate(sample_rate);
    unit.reset();
    Some(Drum { unit, seconds: seconds as f64 + 0.005 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_drum_is_loud_short_and_ends() {
        let sr = 48000.0;
        for name in DRUMS {
            for n in 0..4 {
                let mut d = drum(name, n, sr, 7).unwrap();
                let len = (d.seconds * sr) as usize;
                let out: Vec<f32> = (0..len + 4800).map(|_| d.unit.get_mono()).collect();
                let peak = out.iter().fold(0.0f32, |m, x| m.max(x.abs()));
                assert!(peak > 0.2 && peak <= 1.0, "{name}:{n} peak {peak}");
                let tail = out[len..].iter().fold(0.0f32, |m, x| m.max(x.abs()));
                assert!(tail < 1e-3, "{name}:{n} rings after its length: {tail}");
                // The attack is immediate: loud within the first 2 ms.
                let early = out[..96].iter().fold(0.0f32, |m, x| m.max(x.abs()));
                assert!(early > 0.1 * peak, "{name}:{n} starts late");
            }
        }
    }
}
