//! Tap tempo: the performer taps a key on the beat; the tempo is the average interval
//! of the last taps. Pure arithmetic over the instants it is given (no clock of its own).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::session::BEATS_PER_CYCLE;

/// A pause longer than this starts a new series of taps.
pub const TAP_GAP: Duration = Duration::from_secs(2);
/// Taps averaged at most (the last ones).
pub const TAPS_KEPT: usize = 8;

/// The taps of the current series, oldest first.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Taps {
    times: VecDeque<Instant>,
}

impl Taps {
    /// Records a tap at `now`. From the second tap of a series (taps less than
    /// [`TAP_GAP`] apart) on, returns the tempo in cycles per second: one tap per beat,
    /// the average interval over the last [`TAPS_KEPT`] taps.
    pub fn tap(&mut self, now: Instant) -> Option<f64> {
        if self.times.back().is_some_and(|&last| now.saturating_duration_since(last) > TAP_GAP || now < last) {
            self.times.clear();
        }
        if self.times.len() == TAPS_KEPT {
            self.times.pop_front();
        }
        self.times.push_back(now);
        let (first, last) = (*self.times.front()?, *self.times.back()?);
        let intervals = self.times.len().checked_sub(1).filter(|&n| n > 0)? as f64;
        let beat = last.saturating_duration_since(first).as_secs_f64() / intervals;
        (beat > 0.0).then(|| 1.0 / (beat * BEATS_PER_CYCLE))
    }

    /// Taps in the current series.
    pub fn count(&self) -> usize {
        self.times.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(t0: Instant, ms: u64) -> Instant {
        t0 + Duration::from_millis(ms)
    }

    #[test]
    fn two_taps_half_a_second_apart_are_120_bpm() {
        let t0 = Instant::now();
        let mut taps = Taps::default();
        assert_eq!(taps.tap(t0), None);
        let cps = taps.tap(ms(t0, 500)).unwrap();
        assert!((cps * 240.0 - 120.0).abs() < 1e-9, "{cps}");
    }

    #[test]
    fn the_interval_is_averaged_over_the_series() {
        let t0 = Instant::now();
        let mut taps = Taps::default();
        let mut cps = None;
        // 600, 400, 500 ms: 500 ms on average.
        for t in [0, 600, 1000, 1500] {
            cps = taps.tap(ms(t0, t));
        }
        assert!((cps.unwrap() * 240.0 - 120.0).abs() < 1e-9);
        assert_eq!(taps.count(), 4);
    }

    #[test]
    fn a_long_pause_starts_a_new_series() {
        let t0 = Instant::now();
        let mut taps = Taps::default();
        taps.tap(t0);
        taps.tap(ms(t0, 1000));
        assert_eq!(taps.tap(ms(t0, 3001)), None, "2.001 s later: a new first tap");
        let cps = taps.tap(ms(t0, 3301)).unwrap();
        assert!((cps * 240.0 - 200.0).abs() < 1e-9, "{}", cps * 240.0);
    }

    #[test]
    fn only_the_last_taps_count() {
        let t0 = Instant::now();
        let mut taps = Taps::default();
        let mut t = 0;
        for _ in 0..10 {
            taps.tap(ms(t0, t));
            t += 1000;
        }
        // Then faster: the old slow taps age out of the average.
        let mut cps = None;
        for _ in 0..TAPS_KEPT {
            cps = taps.tap(ms(t0, t));
            t += 250;
        }
        assert_eq!(taps.count(), TAPS_KEPT);
        assert!((cps.unwrap() * 240.0 - 240.0).abs() < 1e-9);
    }
}
