//! Following an external MIDI clock (`--clock-in`): a drum machine or a DAW is the
//! master. The input callback counts ticks (24 per quarter note, 96 per cycle), estimates
//! the tempo by a least-squares fit over the last cycle of ticks (so the jitter of single
//! ticks does not wobble the beat), and tells the control thread where the master is:
//! which cycle it was at when, and at what tempo. Start, stop, continue and song position
//! start, stop and place rhaithm's transport.

use std::collections::VecDeque;
use std::sync::mpsc;
use std::time::Instant;

use midir::MidiInputConnection;

use super::message::Message;

/// Clock ticks per cycle (24 per quarter note, 4 quarter notes per cycle).
const TICKS_PER_CYCLE: f64 = 96.0;
/// Ticks the tempo is fitted over.
const WINDOW: usize = 96;
/// Ticks between two reports of where the master is.
const REPORT_EVERY: u64 = 24;

/// What the master clock did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Follow {
    /// The master is at `cycle` at `at`, at `cps` (None until enough ticks came).
    Position {
        /// When.
        at: Instant,
        /// The master's cycle then.
        cycle: f64,
        /// Its tempo, once known.
        cps: Option<f64>,
    },
    /// Start (from `cycle`, after a song position) or continue.
    Run {
        /// The cycle it starts from.
        cycle: f64,
    },
    /// Stop.
    Stop,
}

/// The follower's state, owned by the input callback.
struct Counter {
    tx: mpsc::Sender<Follow>,
    /// Ticks since the start (or the song position), when running.
    ticks: u64,
    running: bool,
    /// Recent ticks: (tick number, when).
    recent: VecDeque<(u64, Instant)>,
    /// The first tick after a start or continue has not come yet.
    armed: bool,
}

impl Counter {
    fn tempo(&self) -> Option<f64> {
        if self.recent.len() < 12 {
            return None;
        }
        // Least squares of time against tick number: the slope is the tick period.
        let t0 = self.recent[0].1;
        let n = self.recent.len() as f64;
        let (mut sx, mut sy, mut sxx, mut sxy) = (0.0, 0.0, 0.0, 0.0);
        for &(k, t) in &self.recent {
            let x = k as f64;
            let y = t.duration_since(t0).as_secs_f64();
            sx += x;
            sy += y;
            sxx += x * x;
            sxy += x * y;
        }
        let period = (n * sxy - sx * sy) / (n * sxx - sx * sx);
        (period.is_finite() && period > 0.0).then(|| 1.0 / (period * TICKS_PER_CYCLE))
    }

    fn message(&mut self, m: Message, now: Instant) {
        match m {
            Message::SongPosition(p) => {
                self.ticks = p as u64 * 6;
                self.recent.clear();
            }
            Message::Start | Message::Continue => {
                if m == Message::Start {
                    self.ticks = 0;
                }
                self.running = true;
                self.armed = true;
                self.recent.clear();
                let _ = self.tx.send(Follow::Run { cycle: self.ticks as f64 / TICKS_PER_CYCLE });
            }
            Message::Stop => {
                self.running = false;
                let _ = self.tx.send(Follow::Stop);
            }
            Message::Clock if self.running => {
                // The first tick after a start is the start's downbeat.
                if self.armed {
                    self.armed = false;
                } else {
                    self.ticks += 1;
                }
                self.recent.push_back((self.ticks, now));
                if self.recent.len() > WINDOW {
                    self.recent.pop_front();
                }
                if self.ticks.is_multiple_of(REPORT_EVERY) || self.recent.len() == 12 {
                    let cycle = self.ticks as f64 / TICKS_PER_CYCLE;
                    let _ = self.tx.send(Follow::Position { at: now, cycle, cps: self.tempo() });
                }
            }
            _ => {}
        }
    }
}

/// An open clock input; dropping it closes it.
pub struct ClockIn {
    _connection: MidiInputConnection<Counter>,
    /// The port followed.
    pub name: String,
    /// Where the master is, as it happens.
    pub rx: mpsc::Receiver<Follow>,
}

/// Opens the input a pattern names (see [`super::out::pick`]) and follows its clock.
pub fn open(pattern: &str) -> Result<ClockIn, String> {
    let (tx, rx) = mpsc::channel();
    let counter = Counter { tx, ticks: 0, running: false, recent: VecDeque::with_capacity(WINDOW + 1), armed: false };
    let (connection, name) = super::input::connect(pattern, "clock-in", counter, |bytes, counter: &mut Counter| {
        if let Some(m) = Message::parse(bytes) {
            counter.message(m, Instant::now());
        }
    })?;
    Ok(ClockIn { _connection: connection, name, rx })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_tempo_is_fitted_through_jitter_and_positions_count_from_the_start() {
        let (tx, rx) = mpsc::channel();
        let mut c = Counter { tx, ticks: 0, running: false, recent: VecDeque::new(), armed: false };
        let t0 = Instant::now();
        c.message(Message::Start, t0);
        // 130 bpm: a tick every 60/130/24 s, each off by up to ±3 ms.
        let period = 60.0 / 130.0 / 24.0;
        for k in 0..200u64 {
            let jitter = [0.003, -0.002, 0.0, 0.001, -0.003][k as usize % 5];
            c.message(Message::Clock, t0 + Duration::from_secs_f64(k as f64 * period + 0.01 + jitter));
        }
        let got: Vec<Follow> = rx.try_iter().collect();
        assert_eq!(got[0], Follow::Run { cycle: 0.0 });
        let Some(Follow::Position { cycle, cps: Some(cps), .. }) = got.last().copied() else { panic!("{got:?}") };
        assert!((cps * 240.0 - 130.0).abs() < 0.2, "{} bpm", cps * 240.0);
        assert_eq!(cycle, 192.0 / 96.0);
        c.message(Message::Stop, t0);
        c.message(Message::SongPosition(32), t0);
        c.message(Message::Continue, t0);
        assert_eq!(rx.try_iter().last(), Some(Follow::Run { cycle: 2.0 }));
    }
}
