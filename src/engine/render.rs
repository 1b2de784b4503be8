//! Offline rendering: the same scheduler and mixer as live playback, driven as fast as
//! the CPU allows, into memory or a WAV file. Deterministic: the same patch renders to
//! the same samples every time.

use std::io::IsTerminal;
use std::path::Path;

use super::scheduler::Scheduler;
use crate::dsp::mixer;
use crate::dsp::samples::SampleLibrary;
use crate::limits::Limits;
use crate::patch::Patch;

/// Frames scheduled and mixed per step.
const CHUNK: u64 = 1024;

/// How long to render.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Length {
    /// A number of cycles at the patch's tempo.
    Cycles(f64),
    /// A number of seconds.
    Seconds(f64),
}

/// Sample format of a WAV file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SampleFormat {
    /// 32-bit float.
    F32,
    /// 24-bit integer.
    S24,
    /// 16-bit integer.
    S16,
}

/// Rendered stereo audio.
#[derive(Clone, Debug, Default)]
pub struct Rendered {
    /// Interleaved stereo samples.
    pub samples: Vec<f32>,
    /// Sample rate in Hz.
    pub sample_rate: u32,
    /// Warnings raised while rendering (each once).
    pub warnings: Vec<String>,
    /// Voices started.
    pub voices: u64,
    /// Voices dropped for lack of a slot.
    pub dropped: u64,
    /// Frames the limiter worked on.
    pub limited: u64,
    /// Frames the master had to silence.
    pub non_finite: u64,
    /// Voices silenced for producing NaN or infinity.
    pub blown_up: u64,
}

impl Rendered {
    /// Number of frames.
    pub fn frames(&self) -> usize {
        self.samples.len() / 2
    }

    /// One channel (0 = left, 1 = right).
    pub fn channel(&self, c: usize) -> Vec<f32> {
        self.samples.iter().skip(c).step_by(2).copied().collect()
    }
}

/// Renders a patch. `progress` is called with the fraction done.
pub fn render(
    patch: &Patch,
    samples: SampleLibrary,
    sample_rate: u32,
    length: Length,
    mut progress: impl FnMut(f64),
) -> Rendered {
    let frames = match length {
        Length::Cycles(c) => (c / patch.cps_or_default() * sample_rate as f64).round() as u64,
        Length::Seconds(s) => (s * sample_rate as f64).round() as u64,
    };
    // The same budgets as live playback.
    let limits = Limits::default();
    let mut scheduler = Scheduler::new(patch, sample_rate, samples);
    scheduler.set_limits(limits);
    let config = limits.mixer(sample_rate as f64);
    let (mut handle, mut mixer) = mixer(config);
    let mut out = vec![0.0f32; frames as usize * 2];
    let mut frame = 0;
    fundsp::denormal::prevent_denormals();
    while frame < frames {
        let end = (frame + CHUNK).min(frames);
        // Frames of this chunk already mixed.
        let mut mixed = frame;
        for mut voice in scheduler.schedule(frame, end) {
            // Offline there is no deadline: if the queue is full, mix up to this voice's
            // start (at least one frame), which admits the voices waiting before it.
            while let Err(v) = handle.send(voice) {
                voice = v;
                let upto = voice.start().max(mixed + 1).min(end);
                mixer.process(&mut out[2 * mixed as usize..2 * upto as usize]);
                handle.collect();
                mixed = upto;
            }
        }
        mixer.process(&mut out[2 * mixed as usize..2 * end as usize]);
        handle.collect();
        frame = end;
        progress(frame as f64 / frames.max(1) as f64);
    }
    let stats = handle.stats();
    use std::sync::atomic::Ordering::Relaxed;
    Rendered {
        samples: out,
        sample_rate,
        warnings: scheduler.take_warnings(),
        voices: stats.started.load(Relaxed),
        dropped: stats.dropped.load(Relaxed),
        limited: stats.limited.load(Relaxed),
        non_finite: stats.non_finite.load(Relaxed),
        blown_up: stats.blown_up.load(Relaxed),
    }
}

/// A progress bar on stderr when it is a terminal; nothing otherwise.
pub fn progress_bar() -> impl FnMut(f64) {
    let tty = std::io::stderr().is_terminal();
    let mut shown = -1i64;
    move |f: f64| {
        if !tty {
            return;
        }
        let pct = (f * 100.0).floor() as i64;
        if pct != shown {
            shown = pct;
            let filled = (f * 30.0).round() as usize;
            eprint!("\r[{}{}] {pct:3}%", "#".repeat(filled), " ".repeat(30 - filled.min(30)));
            if pct >= 100 {
                eprintln!();
            }
        }
    }
}

/// Writes stereo audio to a WAV file.
pub fn write_wav(path: &Path, r: &Rendered, format: SampleFormat) -> Result<(), hound::Error> {
    let (bits, float) = match format {
        SampleFormat::F32 => (32, true),
        SampleFormat::S24 => (24, false),
        SampleFormat::S16 => (16, false),
    };
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: r.sample_rate,
        bits_per_sample: bits,
        sample_format: if float { hound::SampleFormat::Float } else { hound::SampleFormat::Int },
    };
    let mut w = hound::WavWriter::create(path, spec)?;
    let scale = ((1i64 << (bits - 1)) - 1) as f32;
    for &x in &r.samples {
        if float {
            w.write_sample(x)?;
        } else {
            w.write_sample((x.clamp(-1.0, 1.0) * scale).round() as i32)?;
        }
    }
    w.finalize()
}
