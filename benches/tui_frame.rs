//! The terminal UI's cost per frame: taking a snapshot (a clone, as from the session),
//! updating the app and drawing the whole screen into ratatui's buffer and diffing it
//! (as `Terminal::draw` does, without the terminal's I/O). At 30 frames a second, 1 ms
//! a frame is 3% of a core.

use std::time::Duration;

use ratatui::Terminal;
use ratatui::backend::TestBackend;

#[path = "../tests/common/tui.rs"]
mod fixture;

fn frame(bencher: divan::Bencher, width: u16, height: u16) {
    let snapshot = fixture::playing();
    let (mut app, mut now) = fixture::app_with(snapshot.clone());
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("a test terminal");
    let mut cycle = snapshot.transport.cycle;
    bencher.bench_local(|| {
        // Each frame the music moves on: the playhead, the beat, the hold.
        let mut s = divan::black_box(&snapshot).clone();
        cycle += 0.0166;
        s.transport.cycle = cycle;
        now += Duration::from_millis(33);
        app.update(s, now);
        if app.take_dirty() {
            terminal.draw(|f| f.render_widget(&app, f.area())).expect("drawn");
        }
    });
}

#[divan::bench(sample_count = 200)]
fn frame_80x24(bencher: divan::Bencher) {
    frame(bencher, 80, 24);
}

#[divan::bench(sample_count = 200)]
fn frame_200x60(bencher: divan::Bencher) {
    frame(bencher, 200, 60);
}

/// A frame where nothing changed: compared and skipped.
#[divan::bench(sample_count = 200)]
fn unchanged_frame(bencher: divan::Bencher) {
    let snapshot = fixture::playing();
    let (mut app, now) = fixture::app_with(snapshot.clone());
    app.update(snapshot.clone(), now);
    app.take_dirty();
    bencher.bench_local(|| {
        app.update(divan::black_box(&snapshot).clone(), now);
        assert!(!app.take_dirty());
    });
}

fn main() {
    divan::main();
}
