//! The UI's state as plain data: the latest snapshot, the selected track, the mode
//! (help, quit confirmation), tap tempo, the log, the meters' peak hold. Keys become
//! [`Command`]s here, without a terminal; time is always passed in, never read, so
//! every state is reproducible in tests. Never touches the terminal or the session.

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::meter::{ClipLight, PeakHold, db};
use super::tap::Taps;
use crate::session::{Command, Event, Snapshot, TrackKey, TrackView};

/// Log lines kept (the panel shows the newest that fit).
pub const LOG_LINES: usize = 200;
/// A track's light is lit this long after each of its events, in seconds.
pub const ONSET_LIGHT: f64 = 0.1;
/// The beat dot pulses this long at the start of each beat, in seconds.
pub const PULSE: f64 = 0.1;
/// How long a note in the footer ("tap again", "no track 7") stays.
pub const NOTE_FOR: Duration = Duration::from_secs(2);
/// Tempo change of `+`/`-`, and of `]`/`[`, in beats per minute.
pub const BPM_STEP: (f64, f64) = (1.0, 10.0);
/// Beat move of `<`/`>`, in seconds.
pub const PHASE_STEP: f64 = 0.01;

/// What the keys do now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Playing keys.
    Normal,
    /// The help overlay is up; any key closes it.
    Help,
    /// "quit? y/n": `y` quits, anything else goes back.
    ConfirmQuit,
}

/// A wall-clock time of day, for the log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WallTime {
    /// 0..24.
    pub hour: u8,
    /// 0..60.
    pub minute: u8,
    /// 0..61.
    pub second: u8,
}

impl fmt::Display for WallTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}:{:02}", self.hour, self.minute, self.second)
    }
}

/// How a log line is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// Started, stopped.
    Info,
    /// A version went live, the stream came back.
    Good,
    /// A warning or trouble counter.
    Warning,
    /// An error in a file, a lost stream.
    Error,
}

/// One line of the log: `HH:MM:SS message`.
#[derive(Clone, Debug, PartialEq)]
pub struct LogLine {
    text: String,
    level: Level,
}

impl LogLine {
    /// When it happened (`HH:MM:SS`).
    pub fn stamp(&self) -> &str {
        self.text.get(..8).unwrap_or("")
    }

    /// What happened (one line: newlines and control characters become spaces).
    pub fn message(&self) -> &str {
        self.text.get(9..).unwrap_or("")
    }

    /// How it is shown.
    pub fn level(&self) -> Level {
        self.level
    }
}

/// The terminal UI's state. Rendering is `impl Widget for &App` (see `draw`).
#[derive(Clone, Debug)]
pub struct App {
    snapshot: Snapshot,
    selected: usize,
    mode: Mode,
    taps: Taps,
    log: VecDeque<LogLine>,
    peaks: [PeakHold; 2],
    clip: ClipLight,
    note: Option<(String, Instant)>,
    dirty: bool,
}

impl Default for App {
    fn default() -> App {
        App::new()
    }
}

impl App {
    /// Nothing shown yet.
    pub fn new() -> App {
        App {
            snapshot: Snapshot::default(),
            selected: 0,
            mode: Mode::Normal,
            taps: Taps::default(),
            log: VecDeque::with_capacity(LOG_LINES),
            peaks: [PeakHold::default(); 2],
            clip: ClipLight::default(),
            note: None,
            dirty: true,
        }
    }

    /// The snapshot shown.
    pub fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    /// The selected track (an index into the snapshot's tracks).
    pub fn selected(&self) -> usize {
        self.selected
    }

    /// What the keys do now.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The log, oldest first.
    pub fn log_lines(&self) -> &VecDeque<LogLine> {
        &self.log
    }

    /// The held peak of channel 0 (left) or 1 (right), in dBFS.
    pub fn peak_hold(&self, channel: usize) -> f32 {
        self.peaks.get(channel).map_or(f32::NEG_INFINITY, PeakHold::shown)
    }

    /// True while the clip light is lit.
    pub fn clip_lit(&self) -> bool {
        self.clip.lit()
    }

    /// A short note for the footer (tap tempo, a key that did nothing), if any.
    pub fn note(&self) -> Option<&str> {
        self.note.as_ref().map(|(text, _)| text.as_str())
    }

    /// True (once) if anything shown changed since the last call: the loop draws only
    /// then.
    pub fn take_dirty(&mut self) -> bool {
        std::mem::take(&mut self.dirty)
    }

    /// Asks for a redraw (the terminal was resized, say).
    pub fn touch(&mut self) {
        self.dirty = true;
    }

    /// Takes the session's state at `now`: keeps the selection on a track, runs the peak
    /// hold and the clip light, and notes whether anything visible changed.
    pub fn update(&mut self, snapshot: Snapshot, now: Instant) {
        if !looks_same(&self.snapshot, &snapshot) {
            self.dirty = true;
        }
        self.snapshot = snapshot;
        let last = self.snapshot.tracks.len().saturating_sub(1);
        if self.selected > last {
            self.selected = last;
            self.dirty = true;
        }
        let meters = self.snapshot.meters;
        for (hold, peak) in self.peaks.iter_mut().zip(meters.peak) {
            self.dirty |= hold.update(db(peak), now);
        }
        self.dirty |= self.clip.update(meters.clip, now);
        if self.note.as_ref().is_some_and(|(_, at)| now.saturating_duration_since(*at) >= NOTE_FOR) {
            self.note = None;
            self.dirty = true;
        }
    }

    /// Adds an event to the log (all but [`Event::Status`]), stamped `at`.
    pub fn log(&mut self, event: &Event, at: WallTime) {
        let level = match event {
            Event::Status { .. } => return,
            Event::Started { .. } | Event::Stopped { .. } | Event::Steered(_) => Level::Info,
            Event::Reloaded { .. } | Event::StreamReopened(_) => Level::Good,
            Event::Warning(_) | Event::Trouble { .. } => Level::Warning,
            Event::ScriptError(_) | Event::PlayError(_) | Event::NotStarted(_) | Event::StreamLost(_) => Level::Error,
        };
        let mut text = at.to_string();
        text.push(' ');
        let message = event.to_string();
        text.extend(message.trim_end().chars().map(|c| if c.is_control() { ' ' } else { c }));
        if self.log.len() == LOG_LINES {
            self.log.pop_front();
        }
        self.log.push_back(LogLine { text, level });
        self.dirty = true;
    }

    /// What a key does, at `now` (tap tempo counts time): a command for the session, or
    /// `None` when the key only changes what the UI shows (or nothing). Releases are
    /// ignored. [`Command::Quit`] means: stop.
    pub fn key(&mut self, key: KeyEvent, now: Instant) -> Option<Command> {
        if key.kind == KeyEventKind::Release {
            return None;
        }
        self.dirty = true;
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl && matches!(key.code, KeyCode::Char('c' | 'C')) {
            return Some(Command::Quit);
        }
        match self.mode {
            Mode::Normal => {}
            Mode::Help => {
                self.mode = Mode::Normal;
                return None;
            }
            Mode::ConfirmQuit => {
                self.mode = Mode::Normal;
                return matches!(key.code, KeyCode::Char('y' | 'Y')).then_some(Command::Quit);
            }
        }
        if ctrl || key.modifiers.contains(KeyModifiers::ALT) {
            return None;
        }
        let (small, big) = BPM_STEP;
        match key.code {
            KeyCode::Char(' ') => Some(Command::TogglePause),
            KeyCode::Up | KeyCode::Char('k') => {
                self.selected = self.selected.saturating_sub(1);
                None
            }
            KeyCode::Down | KeyCode::Char('j') => {
                self.selected = (self.selected + 1).min(self.snapshot.tracks.len().saturating_sub(1));
                None
            }
            KeyCode::Char('m') => self.selected_key().map(Command::ToggleMute),
            KeyCode::Char('s') => self.selected_key().map(Command::ToggleSolo),
            KeyCode::Char(c @ '1'..='9') => {
                let n = c as usize - '0' as usize;
                let track = self.snapshot.tracks.get(n - 1).map(|t| Command::ToggleMute(t.key.clone()));
                if track.is_none() {
                    self.say(format!("no track {n}"), now);
                }
                track
            }
            KeyCode::Char('0') => Some(Command::UnmuteAll),
            KeyCode::Char('+' | '=') => Some(Command::NudgeBpm(small)),
            KeyCode::Char('-' | '_') => Some(Command::NudgeBpm(-small)),
            KeyCode::Char(']') => Some(Command::NudgeBpm(big)),
            KeyCode::Char('[') => Some(Command::NudgeBpm(-big)),
            KeyCode::Char('<') => Some(Command::NudgePhase(-PHASE_STEP)),
            KeyCode::Char('>') => Some(Command::NudgePhase(PHASE_STEP)),
            KeyCode::Char('t') => {
                let cps = self.taps.tap(now);
                match cps {
                    Some(cps) => self.say(format!("tap tempo: {:.1} bpm", cps * 240.0), now),
                    None => self.say("tap tempo: tap again on the beat".into(), now),
                }
                cps.map(Command::SetCps)
            }
            KeyCode::Char('r') => Some(Command::Reload),
            KeyCode::Char('u') => self.selected_file().map(Command::Revert),
            KeyCode::Char('U') => self.selected_file().map(Command::Newest),
            KeyCode::Char('p') => Some(Command::Panic),
            KeyCode::Char('q') => {
                self.mode = Mode::ConfirmQuit;
                None
            }
            KeyCode::Char('?') => {
                self.mode = Mode::Help;
                None
            }
            _ => None,
        }
    }

    fn say(&mut self, text: String, now: Instant) {
        self.note = Some((text, now));
    }

    fn selected_track(&self) -> Option<&TrackView> {
        self.snapshot.tracks.get(self.selected)
    }

    fn selected_key(&self) -> Option<TrackKey> {
        self.selected_track().map(|t| t.key.clone())
    }

    /// The selected track's file, or the only file when there is no track.
    fn selected_file(&self) -> Option<usize> {
        match self.selected_track() {
            Some(t) => Some(t.key.file),
            None => (self.snapshot.files.len() == 1).then_some(0),
        }
    }
}

/// True if a track's light is lit.
pub fn lit(since_onset: Option<f64>) -> bool {
    since_onset.is_some_and(|s| (0.0..ONSET_LIGHT).contains(&s))
}

/// True if two snapshots look the same on screen: everything but the generation, and
/// what changes all the time (the time since each track's last event, the load, the
/// recording's length) only as far as the screen shows it.
pub fn looks_same(a: &Snapshot, b: &Snapshot) -> bool {
    let tracks = a.tracks.len() == b.tracks.len()
        && a.tracks.iter().zip(&b.tracks).all(|(x, y)| {
            x.key == y.key
                && (x.muted, x.soloed, x.audible, x.voices) == (y.muted, y.soloed, y.audible, y.voices)
                && x.steps == y.steps
                && lit(x.since_onset) == lit(y.since_onset)
        });
    // Shown as whole percent and tenths of a millisecond.
    let (ha, hb) = (&a.health, &b.health);
    let shown = |h: &crate::session::Health| {
        ((h.load * 100.0).round(), (h.load_max * 100.0).round(), (h.latency * 1e4).round())
    };
    let health = shown(ha) == shown(hb)
        && (ha.underruns, ha.late, ha.dropped, ha.stolen, ha.voices)
            == (hb.underruns, hb.late, hb.dropped, hb.stolen, hb.voices)
        && (&ha.device, ha.sample_rate, ha.buffer) == (&hb.device, hb.sample_rate, hb.buffer);
    // The recording's length is shown in whole seconds; the time played is not shown.
    let (ta, tb) = (&a.transport, &b.transport);
    fn recording(t: &crate::session::Transport) -> Option<(&std::path::PathBuf, f64)> {
        t.recording.as_ref().map(|(p, s)| (p, s.floor()))
    }
    let transport = (ta.cps, ta.cycle, ta.paused, ta.quantize) == (tb.cps, tb.cycle, tb.paused, tb.quantize)
        && recording(ta) == recording(tb);
    tracks
        && health
        && transport
        && a.files == b.files
        && a.meters == b.meters
        && a.scope == b.scope
        && a.midi == b.midi
}

#[cfg(test)]
mod tests;
