use std::path::PathBuf;

use crossterm::event::{KeyEventState, KeyModifiers};

use super::*;
use crate::session::{FileView, Meters, Step};

fn press(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

fn char(c: char) -> KeyEvent {
    // Terminals report shifted characters with SHIFT; it must not matter.
    let modifiers =
        if c.is_ascii_uppercase() || "+_<>?".contains(c) { KeyModifiers::SHIFT } else { KeyModifiers::NONE };
    KeyEvent::new(KeyCode::Char(c), modifiers)
}

fn key(file: usize, name: &str) -> TrackKey {
    TrackKey { file, name: name.into() }
}

fn track(file: usize, name: &str) -> TrackView {
    TrackView {
        key: key(file, name),
        muted: false,
        soloed: false,
        audible: true,
        voices: 0,
        steps: vec![Step { begin: 0.0, end: 0.25 }],
        since_onset: None,
    }
}

fn snapshot() -> Snapshot {
    let file = |p: &str| FileView { path: PathBuf::from(p), version: 2, versions: 2, problem: None };
    Snapshot {
        files: vec![file("drums.rhai"), file("keys.rhai")],
        tracks: vec![track(0, "d1"), track(0, "d2"), track(1, "pad")],
        ..Snapshot::default()
    }
}

fn app() -> (App, Instant) {
    let now = Instant::now();
    let mut app = App::new();
    app.update(snapshot(), now);
    (app, now)
}

#[test]
fn each_key_sends_its_command() {
    let (mut app, now) = app();
    let cases = [
        (char(' '), Some(Command::TogglePause)),
        (char('m'), Some(Command::ToggleMute(key(0, "d1")))),
        (char('s'), Some(Command::ToggleSolo(key(0, "d1")))),
        (char('1'), Some(Command::ToggleMute(key(0, "d1")))),
        (char('3'), Some(Command::ToggleMute(key(1, "pad")))),
        (char('0'), Some(Command::UnmuteAll)),
        (char('+'), Some(Command::NudgeBpm(1.0))),
        (char('='), Some(Command::NudgeBpm(1.0))),
        (char('-'), Some(Command::NudgeBpm(-1.0))),
        (char('_'), Some(Command::NudgeBpm(-1.0))),
        (char(']'), Some(Command::NudgeBpm(10.0))),
        (char('['), Some(Command::NudgeBpm(-10.0))),
        (char('<'), Some(Command::NudgePhase(-0.01))),
        (char('>'), Some(Command::NudgePhase(0.01))),
        (char('r'), Some(Command::Reload)),
        (char('u'), Some(Command::Revert(0))),
        (char('U'), Some(Command::Newest(0))),
        (char('p'), Some(Command::Panic)),
        (char('x'), None),
        (press(KeyCode::F(1)), None),
    ];
    for (k, expected) in cases {
        assert_eq!(app.key(k, now), expected, "{k:?}");
        assert_eq!(app.mode(), Mode::Normal);
    }
}

#[test]
fn selection_moves_and_targets_mute_solo_and_versions() {
    let (mut app, now) = app();
    assert_eq!(app.key(press(KeyCode::Up), now), None, "already at the top");
    assert_eq!(app.selected(), 0);
    app.key(press(KeyCode::Down), now);
    app.key(char('j'), now);
    app.key(char('j'), now);
    assert_eq!(app.selected(), 2, "stops at the last track");
    assert_eq!(app.key(char('m'), now), Some(Command::ToggleMute(key(1, "pad"))));
    assert_eq!(app.key(char('s'), now), Some(Command::ToggleSolo(key(1, "pad"))));
    assert_eq!(app.key(char('u'), now), Some(Command::Revert(1)));
    assert_eq!(app.key(char('U'), now), Some(Command::Newest(1)));
    app.key(char('k'), now);
    assert_eq!(app.selected(), 1);
    // A new version with fewer tracks keeps the selection on one.
    let mut fewer = snapshot();
    fewer.tracks.truncate(1);
    app.update(fewer, now);
    assert_eq!(app.selected(), 0);
}

#[test]
fn number_keys_past_the_tracks_do_nothing_and_say_so() {
    let (mut app, now) = app();
    assert_eq!(app.key(char('7'), now), None);
    assert_eq!(app.note(), Some("no track 7"));
    app.update(snapshot(), now + Duration::from_millis(100));
    assert!(app.note().is_some());
    app.update(snapshot(), now + NOTE_FOR);
    assert_eq!(app.note(), None, "notes go away");
}

#[test]
fn without_tracks_track_keys_do_nothing() {
    let now = Instant::now();
    let mut app = App::new();
    for c in ['m', 's', '1', 'u', 'U', 'j', 'k'] {
        assert_eq!(app.key(char(c), now), None, "{c}");
    }
    assert_eq!(app.selected(), 0);
    // With a single file, u and U still reach it.
    let single = Snapshot { files: snapshot().files[..1].to_vec(), ..Snapshot::default() };
    app.update(single, now);
    assert_eq!(app.key(char('u'), now), Some(Command::Revert(0)));
}

#[test]
fn quitting_asks_first() {
    let (mut app, now) = app();
    assert_eq!(app.key(char('q'), now), None);
    assert_eq!(app.mode(), Mode::ConfirmQuit);
    assert_eq!(app.key(char('n'), now), None, "anything but y cancels");
    assert_eq!(app.mode(), Mode::Normal);
    app.key(char('q'), now);
    assert_eq!(app.key(char(' '), now), None, "the cancelling key does nothing else");
    app.key(char('q'), now);
    assert_eq!(app.key(char('y'), now), Some(Command::Quit));
}

#[test]
fn ctrl_c_quits_at_once_from_any_mode() {
    let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
    for first in [None, Some('?'), Some('q')] {
        let (mut app, now) = app();
        if let Some(c) = first {
            app.key(char(c), now);
        }
        assert_eq!(app.key(ctrl_c, now), Some(Command::Quit));
    }
    // Other control and alt keys do nothing.
    let (mut app, now) = app();
    assert_eq!(app.key(KeyEvent::new(KeyCode::Char('m'), KeyModifiers::CONTROL), now), None);
    assert_eq!(app.key(KeyEvent::new(KeyCode::Char('p'), KeyModifiers::ALT), now), None);
}

#[test]
fn help_opens_on_question_mark_and_any_key_closes_it() {
    let (mut app, now) = app();
    app.key(char('?'), now);
    assert_eq!(app.mode(), Mode::Help);
    assert_eq!(app.key(char('p'), now), None, "the closing key is not acted on");
    assert_eq!(app.mode(), Mode::Normal);
    app.key(char('?'), now);
    app.key(press(KeyCode::Esc), now);
    assert_eq!(app.mode(), Mode::Normal);
}

#[test]
fn releases_are_ignored_and_repeats_count() {
    let (mut app, now) = app();
    let mut release = char(']');
    release.kind = KeyEventKind::Release;
    assert_eq!(app.key(release, now), None);
    let repeat = KeyEvent::new_with_kind_and_state(
        KeyCode::Char(']'),
        KeyModifiers::NONE,
        KeyEventKind::Repeat,
        KeyEventState::NONE,
    );
    assert_eq!(app.key(repeat, now), Some(Command::NudgeBpm(10.0)));
}

#[test]
fn tap_tempo_sends_the_tempo_from_the_second_tap() {
    let (mut app, now) = app();
    assert_eq!(app.key(char('t'), now), None);
    assert_eq!(app.note(), Some("tap tempo: tap again on the beat"));
    let Some(Command::SetCps(cps)) = app.key(char('t'), now + Duration::from_millis(400)) else {
        panic!("no tempo from two taps");
    };
    assert!((cps * 240.0 - 150.0).abs() < 1e-9, "{}", cps * 240.0);
    assert_eq!(app.note(), Some("tap tempo: 150.0 bpm"));
}

#[test]
fn the_log_keeps_the_last_lines_without_status() {
    let now = Instant::now();
    let mut app = App::new();
    let at = WallTime { hour: 9, minute: 5, second: 7 };
    app.log(&Event::Status { cycle: 1.0, cps: 0.5, voices: 1, peak: 0.1 }, at);
    assert!(app.log_lines().is_empty(), "status is not logged");
    for i in 0..LOG_LINES + 5 {
        app.log(&Event::Warning(format!("w{i}\nsecond line")), at);
    }
    assert_eq!(app.log_lines().len(), LOG_LINES);
    let first = &app.log_lines()[0];
    assert_eq!(first.stamp(), "09:05:07");
    assert_eq!(first.message(), "warning: w5 second line");
    assert_eq!(first.level(), Level::Warning);
    app.update(Snapshot::default(), now);
}

#[test]
fn only_visible_changes_ask_for_a_redraw() {
    let (mut app, now) = app();
    app.take_dirty();
    let mut same = snapshot();
    same.generation = 99;
    same.transport.seconds = 12.0;
    same.tracks[0].since_onset = Some(3.0);
    app.update(same.clone(), now);
    assert!(!app.take_dirty(), "a new generation alone is not drawn again");
    same.tracks[0].since_onset = Some(4.0);
    app.update(same.clone(), now);
    assert!(!app.take_dirty(), "the light stays off");
    same.tracks[0].since_onset = Some(0.01);
    app.update(same.clone(), now);
    assert!(app.take_dirty(), "the light goes on");
    same.transport.cycle = 0.5;
    app.update(same.clone(), now);
    assert!(app.take_dirty(), "the playhead moves");
    same.meters = Meters { peak: [0.5, 0.5], rms: [0.2, 0.2], clip: false };
    app.update(same.clone(), now);
    assert!(app.take_dirty());
    assert!((app.peak_hold(0) + 6.02).abs() < 0.01);
    same.meters = Meters::default();
    app.update(same.clone(), now + Duration::from_millis(100));
    assert!(app.take_dirty(), "the meters fell");
    app.update(same.clone(), now + Duration::from_millis(200));
    assert!(!app.take_dirty(), "the peak is held");
    app.update(same.clone(), now + Duration::from_millis(1700));
    assert!(app.take_dirty(), "the held peak falls");
    app.key(char('?'), now);
    assert!(app.take_dirty(), "keys redraw");
}

#[test]
fn the_clip_light_is_held() {
    let (mut app, now) = app();
    let mut s = snapshot();
    s.meters.clip = true;
    app.update(s, now);
    assert!(app.clip_lit());
    app.update(snapshot(), now + Duration::from_millis(900));
    assert!(app.clip_lit());
    app.update(snapshot(), now + Duration::from_millis(1000));
    assert!(!app.clip_lit());
}
