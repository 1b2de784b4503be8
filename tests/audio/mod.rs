//! Measuring rendered audio: spectra, onsets, levels. Shared by the sound tests.
#![allow(dead_code)]

use rhaithm::dsp::samples::SampleLibrary;
use rhaithm::engine::{Length, Rendered, render};
use rhaithm::patch::Patch;

pub const SR: u32 = 48000;

/// Renders a patch source for some seconds with no sample banks.
pub fn render_src(src: &str, seconds: f64) -> Rendered {
    render_with(src, seconds, SampleLibrary::default())
}

pub fn render_with(src: &str, seconds: f64, samples: SampleLibrary) -> Rendered {
    let patch = Patch::compile(src, None).unwrap_or_else(|e| panic!("{e}"));
    render(&patch, samples, SR, Length::Seconds(seconds), |_| {})
}

pub fn rms(x: &[f32]) -> f64 {
    (x.iter().map(|&v| (v as f64) * (v as f64)).sum::<f64>() / x.len().max(1) as f64).sqrt()
}

pub fn peak(x: &[f32]) -> f32 {
    x.iter().fold(0.0, |m, v| m.max(v.abs()))
}

/// Magnitude spectrum of a Hann-windowed frame (length rounded down to a power of two).
pub fn spectrum(x: &[f32]) -> Vec<f64> {
    let n = 1usize << (usize::BITS - 1 - x.len().leading_zeros());
    let mut re: Vec<f64> = (0..n)
        .map(|i| {
            let w = 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / n as f64).cos();
            x[i] as f64 * w
        })
        .collect();
    let mut im = vec![0.0; n];
    // Iterative radix-2 FFT.
    let mut j = 0;
    for i in 1..n {
        let mut bit = n >> 1;
        while j & bit != 0 {
            j ^= bit;
            bit >>= 1;
        }
        j |= bit;
        if i < j {
            re.swap(i, j);
            im.swap(i, j);
        }
    }
    let mut len = 2;
    while len <= n {
        let ang = -2.0 * std::f64::consts::PI / len as f64;
        for start in (0..n).step_by(len) {
            for k in 0..len / 2 {
                let (wr, wi) = ((ang * k as f64).cos(), (ang * k as f64).sin());
                let (a, b) = (start + k, start + k + len / 2);
                let (tr, ti) = (re[b] * wr - im[b] * wi, re[b] * wi + im[b] * wr);
                re[b] = re[a] - tr;
                im[b] = im[a] - ti;
                re[a] += tr;
                im[a] += ti;
            }
        }
        len <<= 1;
    }
    (0..n / 2).map(|k| (re[k] * re[k] + im[k] * im[k]).sqrt()).collect()
}

/// Frequency of the strongest spectral peak, interpolated between bins.
pub fn peak_hz(x: &[f32]) -> f64 {
    let s = spectrum(x);
    let n = s.len() * 2;
    let k = (1..s.len() - 1).max_by(|&a, &b| s[a].total_cmp(&s[b])).unwrap();
    let (a, b, c) = (s[k - 1].ln(), s[k].ln(), s[k + 1].ln());
    let offset = 0.5 * (a - c) / (a - 2.0 * b + c);
    (k as f64 + offset) * SR as f64 / n as f64
}

/// Spectral centroid in Hz.
pub fn centroid(x: &[f32]) -> f64 {
    let s = spectrum(x);
    let n = s.len() * 2;
    let total: f64 = s.iter().sum();
    s.iter().enumerate().map(|(k, m)| k as f64 * SR as f64 / n as f64 * m).sum::<f64>() / total
}

/// Onset times in seconds: where the signal rises above `threshold` after at least
/// `quiet` seconds below a quarter of it.
pub fn onsets(x: &[f32], threshold: f32, quiet: f64) -> Vec<f64> {
    let quiet = (quiet * SR as f64) as usize;
    let mut out = Vec::new();
    let mut armed = true;
    let mut last_loud = 0;
    for (i, v) in x.iter().enumerate() {
        let a = v.abs();
        if a >= threshold / 4.0 {
            last_loud = i;
        } else if i - last_loud > quiet {
            armed = true;
        }
        if armed && a >= threshold {
            out.push(i as f64 / SR as f64);
            armed = false;
        }
    }
    out
}

/// Writes a mono 16-bit WAV of a sine.
pub fn write_sine_wav(path: &std::path::Path, hz: f64, seconds: f64, rate: u32) {
    let spec =
        hound::WavSpec { channels: 1, sample_rate: rate, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for i in 0..(seconds * rate as f64) as usize {
        let t = i as f64 / rate as f64;
        w.write_sample(((2.0 * std::f64::consts::PI * hz * t).sin() * 0.8 * 32767.0) as i16).unwrap();
    }
    w.finalize().unwrap();
}

/// One channel of interleaved stereo.
pub fn channel(x: &[f32], c: usize) -> Vec<f32> {
    x.iter().skip(c).step_by(2).copied().collect()
}

/// The largest step between neighbouring samples.
pub fn max_step(x: &[f32]) -> f32 {
    x.windows(2).map(|w| (w[1] - w[0]).abs()).fold(0.0, f32::max)
}

/// Seconds as frames.
pub fn secs(s: f64) -> usize {
    (s * SR as f64) as usize
}

/// A held tone (right channel) over a steady hi-hat grid every quarter cycle (left).
pub fn tone(note: &str) -> String {
    format!(
        r#"// A hi-hat grid on the left, a held tone on the right.
setcps(1);
d1(s("hh*4").pan(0));
d2(note("{note}").s("sine").attack(0.005).sustain(1).release(0.02).pan(1));
"#
    )
}

/// Checks a 50 ms crossfade at frame `at` of one channel: the old tone before, the new
/// one after, no step beyond the waveforms' own, no hole in the level.
pub fn check_crossfade(x: &[f32], at: usize, old_hz: f64, new_hz: f64) {
    let fade = secs(0.05);
    let before = peak_hz(&x[at - secs(0.3)..at]);
    let after = peak_hz(&x[at + fade..at + fade + secs(0.3)]);
    assert!((before - old_hz).abs() < 2.0, "before the swap at {at}: {before} Hz, expected {old_hz}");
    assert!((after - new_hz).abs() < 2.0, "after the swap at {at}: {after} Hz, expected {new_hz}");
    let reference =
        max_step(&x[at - secs(0.3)..at - secs(0.01)]).max(max_step(&x[at + fade + secs(0.01)..at + fade + secs(0.3)]));
    let across = max_step(&x[at - secs(0.01)..at + fade + secs(0.01)]);
    assert!(across <= reference * 1.05, "a step of {across} across the swap at {at}; the waveforms make {reference}");
    let steady = rms(&x[at - secs(0.3)..at]);
    // Two different tones overlapping beat (their sum swells and dips at the difference
    // frequency), so a 5 ms window may dip well below the steady level; a gap would
    // bring it near zero.
    for w in x[at - secs(0.05)..at + fade + secs(0.05)].chunks(secs(0.005)) {
        assert!(rms(w) > 0.3 * steady, "the level fell to {} (steady {steady}) at the swap at {at}", rms(w));
    }
}
