//! The terminal UI of a live session: transport, tracks with their step grids, meters,
//! an oscilloscope, engine health, errors with their source line, and the log; keys
//! steer the session (pause, mute, solo, tempo, versions, panic).
//!
//! - [`App`] (`app`): the state as plain data, keys to [`Command`]s; no terminal.
//! - `draw`: `impl Widget for &App`, pure, snapshot-tested.
//! - [`meter`], [`scope`], [`tap`]: peak hold and clip light, the braille scope, tap tempo.
//! - `terminal`: the guard that sets the terminal up and restores it (also on panic).
//! - [`run`]: the loop (input, session events and snapshots, a frame at most every 33 ms,
//!   none when nothing changed).
//!
//! While the UI is up nothing else writes to the terminal: events go to the log panel.
//! The UI never blocks the session: it only sends commands and copies snapshots.

mod app;
mod draw;
pub mod meter;
pub mod scope;
pub mod tap;
mod terminal;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use crossterm::event::{self, Event as Input};

pub use app::{App, LOG_LINES, Level, LogLine, Mode, WallTime, looks_same};
pub use draw::KEYS;
pub use terminal::TerminalGuard;

use crate::session::{Command, Event, Session};

/// Time between frames while something changes (about 30 frames a second).
pub const FRAME: Duration = Duration::from_millis(33);

/// Runs the UI over a started session until the performer quits, `stop` is set (by a
/// signal) or the session ends; then restores the terminal, stops the session (the
/// recording is finished) and hands each event that came after the UI closed to
/// `after` (such as [`Event::Stopped`]), so they can be printed.
pub fn run(session: Session, stop: &AtomicBool, mut after: impl FnMut(&Event)) -> Result<()> {
    let mut app = App::new();
    let mut late = Vec::new();
    let shown = show(&session, stop, &mut app, &mut late);
    // The terminal is back to normal here.
    for event in &late {
        after(event);
    }
    session.send(Command::Quit);
    loop {
        match session.events().recv_timeout(Duration::from_millis(50)) {
            Ok(event) => after(&event),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) if !session.is_finished() => {}
            Err(_) => break,
        }
    }
    while let Ok(event) = session.events().try_recv() {
        after(&event);
    }
    let finished = session.finish();
    shown.and(finished)
}

/// The UI itself, between entering and leaving the alternate screen. Events that come
/// once the session is stopping are put in `late`, for after.
fn show(session: &Session, stop: &AtomicBool, app: &mut App, late: &mut Vec<Event>) -> Result<()> {
    let mut terminal = TerminalGuard::enter().context("setting up the terminal")?;
    let mut next_frame = Instant::now();
    while !stop.load(Ordering::Relaxed) && !session.is_finished() {
        let wait = next_frame.saturating_duration_since(Instant::now());
        if event::poll(wait).context("reading the keyboard")? {
            // Everything waiting, then a frame at once so keys feel immediate.
            loop {
                match event::read().context("reading the keyboard")? {
                    Input::Key(key) => match app.key(key, Instant::now()) {
                        Some(Command::Quit) => return Ok(()),
                        Some(command) => session.send(command),
                        None => {}
                    },
                    Input::Resize(..) => app.touch(),
                    _ => {}
                }
                if !event::poll(Duration::ZERO).context("reading the keyboard")? {
                    break;
                }
            }
            next_frame = Instant::now();
            continue;
        }
        let now = Instant::now();
        while let Ok(event) = session.events().try_recv() {
            if matches!(event, Event::Stopped { .. }) || stop.load(Ordering::Relaxed) {
                late.push(event);
            } else {
                app.log(&event, wall_clock());
            }
        }
        app.update(session.snapshot(), now);
        if app.take_dirty() {
            terminal.draw(app).context("drawing")?;
        }
        next_frame = now + FRAME;
    }
    Ok(())
}

/// The local time of day.
pub fn wall_clock() -> WallTime {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    #[cfg(unix)]
    {
        let t = secs as libc::time_t;
        // SAFETY: `localtime_r` writes only into the `tm` it is given; a zeroed `tm` is
        // a valid value of that plain C struct.
        let mut tm: libc::tm = unsafe { std::mem::zeroed() };
        if !unsafe { libc::localtime_r(&t, &mut tm) }.is_null() {
            return WallTime { hour: tm.tm_hour as u8, minute: tm.tm_min as u8, second: tm.tm_sec as u8 };
        }
    }
    // UTC where the local time is not known.
    let day = secs % 86_400;
    WallTime { hour: (day / 3600) as u8, minute: (day / 60 % 60) as u8, second: (day % 60) as u8 }
}
