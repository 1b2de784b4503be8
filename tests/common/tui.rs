//! Hand-made snapshots of a session for the UI's tests and benchmark (included with
//! `#[path]`): three tracks in two files at 130 bpm, realistic levels and health.
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use rhaithm::engine::scheduler::Swap;
use rhaithm::patch::Quantize;
use rhaithm::script::ScriptError;
use rhaithm::session::{
    Event, FileView, Health, Meters, MidiView, Problem, ProblemKind, Snapshot, Step, TrackKey, TrackView, Transport,
};
use rhaithm::tui::{App, WallTime};

pub fn steps(at: &[(f64, f64)]) -> Vec<Step> {
    at.iter().map(|&(begin, end)| Step { begin, end }).collect()
}

pub fn track(file: usize, name: &str, voices: u32, at: &[(f64, f64)], since_onset: Option<f64>) -> TrackView {
    TrackView {
        key: TrackKey { file, name: name.into() },
        muted: false,
        soloed: false,
        audible: true,
        voices,
        steps: steps(at),
        since_onset,
    }
}

pub fn file(path: &str, version: usize, versions: usize) -> FileView {
    FileView { path: PathBuf::from(path), version, versions, problem: None }
}

/// A mix of a bass note and a higher partial, 2048 samples at 48 kHz.
pub fn scope() -> Vec<f32> {
    (0..2048)
        .map(|i| {
            let t = i as f32 / 48000.0;
            0.45 * (std::f32::consts::TAU * 110.0 * t).sin() + 0.2 * (std::f32::consts::TAU * 440.0 * t + 0.3).sin()
        })
        .collect()
}

/// Three tracks in two files at 130 bpm, 1.2 beats into cycle 37, recording.
pub fn playing() -> Snapshot {
    let kick = [(0.0, 0.0625), (0.25, 0.3125), (0.5, 0.5625), (0.75, 0.8125)];
    let hats: Vec<(f64, f64)> = (0..8).map(|i| (i as f64 / 8.0 + 0.0625, i as f64 / 8.0 + 0.125)).collect();
    let bass = [(0.0, 0.375), (0.5, 0.625), (0.6875, 1.25)];
    Snapshot {
        generation: 4242,
        transport: Transport {
            cps: 130.0 / 240.0,
            cycle: 37.30,
            paused: false,
            quantize: Some(Quantize::Bar),
            recording: Some((PathBuf::from("takes/take.wav"), 83.4)),
            seconds: 68.3,
        },
        files: vec![file("drums.rhai", 7, 7), file("bass.rhai", 3, 3)],
        tracks: vec![
            track(0, "d1", 2, &kick, Some(0.03)),
            track(0, "hats", 1, &hats, Some(0.21)),
            track(1, "bass", 3, &bass, Some(0.4)),
        ],
        meters: Meters { peak: [0.71, 0.66], rms: [0.25, 0.22], clip: false },
        scope: scope(),
        health: Health {
            load: 0.23,
            load_max: 0.31,
            underruns: 0,
            late: 2,
            dropped: 0,
            stolen: 0,
            voices: 6,
            latency: 0.0107,
            device: "\"default\" (2 ch, f32)".into(),
            sample_rate: 48000,
            buffer: 256,
        },
        midi: MidiView::default(),
    }
}

pub fn at(h: u8, m: u8, s: u8) -> WallTime {
    WallTime { hour: h, minute: m, second: s }
}

/// An app that has shown `snapshot` for a while (louder peaks half a second ago, a
/// few log lines).
pub fn app_with(snapshot: Snapshot) -> (App, Instant) {
    let t0 = Instant::now();
    let mut app = App::new();
    let mut loud = snapshot.clone();
    loud.meters.peak = [0.89, 0.84];
    app.update(loud, t0);
    let now = t0 + Duration::from_millis(500);
    app.update(snapshot, now);
    app.log(
        &Event::Started {
            output: "\"default\" (2 ch, f32)".into(),
            sample_rate: 48000,
            files: vec!["drums.rhai".into(), "bass.rhai".into()],
            recording: Some("takes/take.wav".into()),
        },
        at(21, 14, 3),
    );
    let saved_at = Instant::now();
    app.log(
        &Event::Reloaded {
            file: "drums.rhai".into(),
            version: 4,
            compile: Duration::from_micros(3400),
            saved_at,
            live_at: Some(saved_at + Duration::from_micros(9100)),
            cycle: 36.004,
            swap: Swap { layer: 0, frame: 3_189_504, faded: 1, kept: 2, started: 1 },
        },
        at(21, 15, 10),
    );
    app.log(&Event::Trouble { what: "voices started late", new: 2, total: 2 }, at(21, 15, 12));
    (app, now)
}

/// A save that does not compile: the message with its place, the source line, and the
/// caret under column 23 (the `fsat` call, after a tab).
pub fn broken() -> Snapshot {
    let mut s = playing();
    s.files[0].problem = Some(Problem {
        kind: ProblemKind::Save,
        error: ScriptError {
            path: Some("drums.rhai".into()),
            line: 3,
            column: 23,
            message: "Function not found: fsat (Pattern, i64)".into(),
        },
        source_line: Some("\td1(s(\"bd*4\").gain(1).fsat(2))".into()),
    });
    s.files[1].problem = Some(Problem {
        kind: ProblemKind::Playing,
        error: ScriptError {
            path: Some("bass.rhai".into()),
            line: 0,
            column: 0,
            message: "track bass: too much work in one query".into(),
        },
        source_line: None,
    });
    s
}
