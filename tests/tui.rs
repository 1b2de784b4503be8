//! The terminal UI's frames, drawn from hand-made snapshots into ratatui's `TestBackend`
//! and compared with the reviewed frames in `tests/snapshots/` (insta). Time is passed
//! in, so every frame is reproducible.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::{Color, Modifier};
use rhaithm::engine::scheduler::Swap;
use rhaithm::patch::Quantize;
use rhaithm::script::ScriptError;
use rhaithm::session::{
    Event, FileView, Health, Meters, Problem, ProblemKind, Snapshot, Step, TrackKey, TrackView, Transport,
};
use rhaithm::tui::{App, WallTime};

fn steps(at: &[(f64, f64)]) -> Vec<Step> {
    at.iter().map(|&(begin, end)| Step { begin, end }).collect()
}

fn track(file: usize, name: &str, voices: u32, at: &[(f64, f64)], since_onset: Option<f64>) -> TrackView {
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

fn file(path: &str, version: usize, versions: usize) -> FileView {
    FileView { path: PathBuf::from(path), version, versions, problem: None }
}

/// A mix of a bass note and a higher partial, 2048 samples at 48 kHz.
fn scope() -> Vec<f32> {
    (0..2048)
        .map(|i| {
            let t = i as f32 / 48000.0;
            0.45 * (std::f32::consts::TAU * 110.0 * t).sin() + 0.2 * (std::f32::consts::TAU * 440.0 * t + 0.3).sin()
        })
        .collect()
}

/// Three tracks in two files at 130 bpm, 1.2 beats into cycle 37, recording.
fn playing() -> Snapshot {
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
    }
}

fn at(h: u8, m: u8, s: u8) -> WallTime {
    WallTime { hour: h, minute: m, second: s }
}

/// An app that has shown `snapshot` for a while (louder peaks half a second ago, a
/// few log lines).
fn app_with(snapshot: Snapshot) -> (App, Instant) {
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

fn draw(app: &App, width: u16, height: u16) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|f| f.render_widget(app, f.area())).unwrap();
    terminal
}

fn screen(terminal: &Terminal<TestBackend>) -> Vec<String> {
    let buf = terminal.backend().buffer();
    (0..buf.area.height).map(|y| (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect()).collect()
}

fn key(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
}

#[test]
fn main_view_80x24() {
    let (app, _) = app_with(playing());
    let terminal = draw(&app, 80, 24);
    insta::assert_snapshot!(terminal.backend());
    let lines = screen(&terminal);
    assert!(lines[0].contains("130.0 bpm") && lines[0].contains("PLAYING"), "{}", lines[0]);
    // The playhead: cycle 37.30 is in the fifth of 16 steps.
    let buf = terminal.backend().buffer();
    let heads: Vec<u16> = (0..80).filter(|&x| buf[(x, 3)].bg == Color::Yellow).collect();
    assert!(!heads.is_empty(), "a playhead on the first track");
    // The selected track's name is highlighted; the kick's light is lit.
    assert!(lines[3].starts_with("▶ 1 ●"), "{}", lines[3]);
    assert!(lines[4].starts_with("  2 ○"), "{}", lines[4]);
}

#[test]
fn muted_and_soloed_tracks_and_a_reverted_file() {
    let mut s = playing();
    s.tracks[1].muted = true;
    s.tracks[1].audible = false;
    s.tracks[1].voices = 0;
    s.files[0].version = 5;
    let (mut app, now) = app_with(s);
    app.key(KeyEvent::new(KeyCode::Down, KeyModifiers::NONE), now);
    let terminal = draw(&app, 80, 24);
    insta::assert_snapshot!(terminal.backend());
    let lines = screen(&terminal);
    assert!(lines[1].contains("drums.rhai: playing v5 of 7"), "{}", lines[1]);
    let row = lines.iter().position(|l| l.contains("hats")).unwrap() as u16;
    let buf = terminal.backend().buffer();
    let m = (0..80).find(|&x| buf[(x, row)].symbol() == "M").expect("an M on the muted row");
    assert_eq!(buf[(m, row)].fg, Color::Red);
    let name = (0..80).find(|&x| buf[(x, row)].symbol() == "h").unwrap();
    let style = buf[(name, row)].modifier;
    assert!(style.contains(Modifier::DIM), "the muted row is dimmed: {style:?}");
}

#[test]
fn paused() {
    let mut s = playing();
    s.transport.paused = true;
    s.meters = Meters::default();
    for t in &mut s.tracks {
        t.voices = 0;
        t.since_onset = Some(4.0);
    }
    s.scope = vec![0.0; 2048];
    s.health.load = 0.01;
    let (mut app, now) = app_with(s.clone());
    // The held peaks have fallen away.
    app.update(s, now + Duration::from_secs(6));
    let terminal = draw(&app, 80, 24);
    insta::assert_snapshot!(terminal.backend());
    assert!(screen(&terminal)[0].contains("PAUSED"));
}

/// A save that does not compile: the message with its place, the source line, and the
/// caret under column 23 (the `fsat` call, after a tab).
fn broken() -> Snapshot {
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

#[test]
fn errors_with_a_caret_under_the_column() {
    let (mut app, _) = app_with(broken());
    app.log(&Event::ScriptError(broken().files[0].problem.clone().unwrap().error), at(21, 16, 40));
    let terminal = draw(&app, 80, 24);
    insta::assert_snapshot!(terminal.backend());
    let lines = screen(&terminal);
    let caret_row = lines.iter().position(|l| l.contains('^')).expect("a caret");
    let caret = lines[caret_row].chars().position(|c| c == '^').unwrap();
    let source: Vec<char> = lines[caret_row - 1].chars().collect();
    assert_eq!(source[caret], 'f', "the caret is under column 23: {:?}", lines[caret_row - 1]);
    assert_eq!(source[caret..caret + 4].iter().collect::<String>(), "fsat");
    assert!(lines[caret_row - 2].contains("drums.rhai:3:23: Function not found"));
    assert!(lines.iter().any(|l| l.contains("bass.rhai: track bass: too much work")), "no caret without a column");
}

#[test]
fn a_long_source_line_scrolls_to_its_column() {
    let mut s = broken();
    let line = format!("{}.fsat(2)", "x".repeat(150));
    if let Some(p) = s.files[0].problem.as_mut() {
        p.source_line = Some(line);
        p.error.column = 152;
    }
    let (app, _) = app_with(s);
    let terminal = draw(&app, 80, 24);
    let lines = screen(&terminal);
    let caret_row = lines.iter().position(|l| l.contains('^')).expect("a caret");
    let caret = lines[caret_row].chars().position(|c| c == '^').unwrap();
    let source: Vec<char> = lines[caret_row - 1].chars().collect();
    assert_eq!(source[caret], 'f', "{:?}", lines[caret_row - 1]);
    assert!(lines[caret_row - 1].contains('…'));
}

#[test]
fn help_overlay() {
    let (mut app, now) = app_with(playing());
    app.key(key('?'), now);
    let terminal = draw(&app, 80, 24);
    insta::assert_snapshot!(terminal.backend());
    let text = screen(&terminal).join("\n");
    for (k, _) in rhaithm::tui::KEYS {
        assert!(text.contains(k), "{k} is listed");
    }
}

#[test]
fn quit_prompt() {
    let (mut app, now) = app_with(playing());
    app.key(key('q'), now);
    let terminal = draw(&app, 80, 24);
    assert!(screen(&terminal)[23].contains("quit? y/n"));
}

#[test]
fn small_60x16() {
    let (app, _) = app_with(playing());
    let terminal = draw(&app, 60, 16);
    insta::assert_snapshot!(terminal.backend());
    let lines = screen(&terminal);
    assert!(lines.iter().any(|l| l.contains("bass")), "every track fits");
    assert!(lines[15].contains("help"));
}

#[test]
fn small_60x16_with_help_and_errors() {
    let (mut app, now) = app_with(broken());
    let terminal = draw(&app, 60, 16);
    insta::assert_snapshot!("small_60x16_errors", terminal.backend());
    app.key(key('?'), now);
    let terminal = draw(&app, 60, 16);
    let text = screen(&terminal).join("\n");
    for (k, _) in rhaithm::tui::KEYS {
        assert!(text.contains(k), "{k} is listed at 60x16");
    }
}

#[test]
fn many_tracks_scroll_with_the_selection() {
    let mut s = playing();
    s.tracks = (0..14).map(|i| track(0, &format!("t{i}"), 0, &[(0.0, 0.5)], None)).collect();
    let (mut app, now) = app_with(s);
    for _ in 0..13 {
        app.key(key('j'), now);
    }
    let lines = screen(&draw(&app, 80, 24));
    assert!(lines.iter().any(|l| l.contains("▶   ○ t13")), "the last track is shown selected: {lines:#?}");
    assert!(lines.iter().any(|l| l.contains("of 14")));
}

#[test]
fn any_size_draws_without_panicking() {
    let (mut app, now) = app_with(broken());
    for (w, h) in [(0, 0), (1, 1), (5, 3), (20, 6), (40, 10), (59, 15), (61, 17), (79, 23), (120, 40), (250, 80)] {
        draw(&app, w, h);
    }
    app.key(key('?'), now);
    for (w, h) in [(1, 1), (10, 4), (60, 16), (200, 60)] {
        draw(&app, w, h);
    }
    // An empty snapshot (nothing playing yet) draws too.
    let empty = App::new();
    insta::assert_snapshot!("empty_80x24", draw(&empty, 80, 24).backend());
}
