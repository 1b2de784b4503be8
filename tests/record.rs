//! `play --record`: the WAV file is valid at every moment, even when the process is
//! killed, and exact when it finishes.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const RATE: u32 = 48_000;
/// 100 ms of audio.
const TOLERANCE: u64 = RATE as u64 / 10;
/// Bytes before the first sample in rhaithm's recordings.
const HEADER: u64 = 58;

const PATCH: &str = "setbpm(120);\nd1(s(\"bd*4\"));\nd2(note(\"c3 e3 g3 b3\").s(\"saw\").lpf(800).gain(0.3));\n";

fn play(dir: &Path, extra: &[&str]) -> (Child, PathBuf) {
    let patch = dir.join("p.rhai");
    std::fs::write(&patch, PATCH).unwrap();
    let take = dir.join("take.wav");
    let child = Command::new(env!("CARGO_BIN_EXE_rhaithm"))
        .args(["play", "p.rhai", "--output", "null", "--headless", "--record", "take.wav"])
        .args(["--sample-rate", &RATE.to_string()])
        .args(extra)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    (child, take)
}

/// The frames the header counts and the frames the file holds.
fn frames(take: &Path) -> (u64, u64) {
    let mut reader = hound::WavReader::open(take).unwrap();
    let spec = reader.spec();
    assert_eq!((spec.channels, spec.sample_rate, spec.bits_per_sample), (2, RATE, 32));
    assert_eq!(spec.sample_format, hound::SampleFormat::Float);
    let counted = reader.duration() as u64;
    // What the header counts is there and is sound.
    let samples: Vec<f32> = reader.samples::<f32>().map(|s| s.unwrap()).collect();
    assert_eq!(samples.len() as u64, counted * 2);
    assert!(samples.iter().all(|x| x.is_finite() && x.abs() <= 1.0));
    assert!(samples.iter().any(|&x| x != 0.0), "the recording is silent");
    let held = (std::fs::metadata(take).unwrap().len() - HEADER) / 8;
    (counted, held)
}

fn killed_after(wait: Duration) {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, take) = play(dir.path(), &[]);
    let began = Instant::now();
    while !take.exists() {
        assert!(began.elapsed() < Duration::from_secs(20), "no recording started");
        assert!(child.try_wait().unwrap().is_none(), "rhaithm stopped");
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(wait);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let (counted, held) = frames(&take);
    assert!(counted > 0, "the header counts no audio after {wait:?}");
    assert!(counted <= held, "the header counts {counted} frames, the file holds {held}");
    assert!(held - counted <= TOLERANCE, "the header counts {counted} frames, the file holds {held}");
}

#[test]
fn killed_early_the_recording_is_valid() {
    killed_after(Duration::from_millis(500));
}

#[test]
fn killed_later_the_recording_is_valid() {
    killed_after(Duration::from_millis(1700));
}

#[test]
fn a_finished_recording_has_exact_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let (child, take) = play(dir.path(), &["--duration", "1"]);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (counted, held) = frames(&take);
    assert_eq!(counted, held);
    assert!(counted >= RATE as u64 / 2, "{counted} frames in a 1 s recording");
    // sox, where it is installed, reads it without a warning.
    if let Ok(out) = Command::new("sox").arg("--i").arg(&take).output() {
        let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "{said}");
        assert!(!said.to_lowercase().contains("warn"), "{said}");
        assert!(said.contains("32-bit Floating Point PCM"), "{said}");
    }
}
