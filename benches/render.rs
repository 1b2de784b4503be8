//! Offline rendering speed: seconds of audio per second of CPU for the scsynth reference
//! workload (`scsynth_workload.rhai`, see ../shared/bench/scsynth/README.md), through the
//! whole engine: patterns, scheduling, voice building, mixing, reverb and master bus.
//!
//! `cargo bench --bench render` prints one line per run and the median, in the same
//! form as the scsynth script (`bash ../shared/bench/scsynth/run.sh`) so they can be set
//! side by side. Render is single-threaded, so wall time is CPU time.

use std::time::Instant;

use rhaithm::dsp::samples::SampleLibrary;
use rhaithm::engine::{Length, render};
use rhaithm::patch::Patch;

fn main() {
    let runs: usize = std::env::var("RUNS").ok().and_then(|r| r.parse().ok()).unwrap_or(5);
    let seconds: f64 = std::env::var("SECONDS").ok().and_then(|r| r.parse().ok()).unwrap_or(60.0);
    let source = include_str!("scsynth_workload.rhai");
    let patch = Patch::compile(source, None).expect("the workload compiles");
    let mut times = Vec::new();
    for run in 1..=runs {
        let start = Instant::now();
        let out = render(&patch, SampleLibrary::default(), 48000, Length::Seconds(seconds), |_| {});
        let t = start.elapsed().as_secs_f64();
        let left = out.channel(0);
        let rms = (left.iter().map(|x| (*x as f64).powi(2)).sum::<f64>() / left.len() as f64).sqrt();
        println!(
            "run {run}: {seconds:.1} s audio in {t:.2} s ({:.1}x realtime), {} voices, rms L {rms:.3}",
            seconds / t,
            out.voices
        );
        times.push(t);
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    println!("rhaithm: {seconds:.1} s audio in {median:.2} s CPU ({:.1} x realtime)", seconds / median);
}
