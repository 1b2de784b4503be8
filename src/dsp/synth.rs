//! Built-in synths as fundsp graphs: sine, saw, square, triangle, pulse, supersaw, fm and
//! the noises. Each is a generator with no inputs and one output, at full scale; the voice
//! applies the envelope, gain and pan.

use fundsp::prelude32::*;

use super::osc::{BlepWave, blep_hz};
use super::params::Params;

/// Names of the built-in synths (aliases included).
pub const SYNTHS: &[&str] = &[
    "sine", "sin", "sawtooth", "saw", "square", "sqr", "triangle", "tri", "pulse", "supersaw", "fm", "white", "pink",
    "brown",
];

/// Builds a synth for one note, or `None` if the name is not a synth.
pub fn synth(name: &str, freq: f32, p: &Params, seed: u64) -> Option<Box<dyn AudioUnit>> {
    let freq = freq.clamp(1.0, 20_000.0);
    let unit: Box<dyn AudioUnit> = match name {
        "sine" | "sin" => Box::new(sine_hz(freq).phase(0.0)),
        "sawtooth" | "saw" => Box::new(blep_hz(BlepWave::Saw, freq, 0.0)),
        "square" | "sqr" => Box::new(blep_hz(BlepWave::Square, freq, 0.0)),
        "triangle" | "tri" => Box::new(triangle_hz(freq)),
        "pulse" => {
            // A quarter-width pulse: hollower than `square`.
            Box::new((dc(freq) | dc(0.25)) >> pulse())
        }
        "supersaw" => Box::new(supersaw(freq, p.detune.unwrap_or(0.2) as f32, seed)),
        "fm" => {
            let ratio = p.fmh.unwrap_or(1.0) as f32;
            let index = p.fmi.unwrap_or(2.0) as f32;
            let modulator = sine_hz(freq * ratio).phase(0.0) * (freq * ratio * index);
            Box::new((modulator + freq) >> sine().phase(0.0))
        }
        "white" => Box::new(noise().seed(seed)),
        "pink" => Box::new(noise().seed(seed) >> pinkpass()),
        "brown" => Box::new(brown().seed(seed) * 3.0),
        _ => return None,
    };
    Some(unit)
}

/// Seven saws spread over `detune` semitones, with seeded phases.
fn supersaw(freq: f32, detune: f32, seed: u64) -> An<impl AudioNode<Inputs = U0, Outputs = U1>> {
    let voice = move |i: u64| {
        let spread = (i as f32 - 3.0) / 3.0; // -1..1
        let f = freq * (detune * spread / 12.0).exp2();
        let phase = ((seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(i * 0x632B_E59B)) >> 40) as f32
            / (1u64 << 24) as f32;
        blep_hz(BlepWave::Saw, f, phase)
    };
    busi::<U7, _, _>(move |i| voice(i) * 0.38)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_synth_builds_and_sounds() {
        for name in SYNTHS {
            let mut unit = synth(name, 220.0, &Params::default(), 1).unwrap();
            unit.set_sample_rate(48000.0);
            assert_eq!((unit.inputs(), unit.outputs()), (0, 1), "{name}");
            let peak = (0..4800).map(|_| unit.get_mono().abs()).fold(0.0f32, f32::max);
            assert!(peak > 0.05 && peak < 3.0, "{name}: peak {peak}");
        }
        assert!(synth("nope", 220.0, &Params::default(), 1).is_none());
    }
}
