//! The terminal UI's frames, drawn from hand-made snapshots into ratatui's `TestBackend`
//! and compared with the reviewed frames in `tests/snapshots/` (insta). Time is passed
//! in, so every frame is reproducible.

use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::{Color, Modifier};
use rhaithm::session::{Event, Meters};
use rhaithm::tui::App;

#[path = "common/tui.rs"]
mod fixture;
use fixture::{app_with, at, broken, playing, track};

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

/// docs/tui.md lists every key the help lists.
#[test]
fn the_docs_list_every_key() {
    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/tui.md")).unwrap();
    for (keys, _) in rhaithm::tui::KEYS {
        for k in keys.split_whitespace().filter(|k| *k != "…") {
            assert!(docs.contains(&format!("`{k}`")), "docs/tui.md does not list `{k}`");
        }
    }
}
