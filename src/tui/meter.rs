//! Level meters: decibels, the peak hold and the clip light the UI keeps between
//! snapshots (the session only reports the levels of the moment). Pure: time is passed in.

use std::time::{Duration, Instant};

/// The lowest level a meter shows, in dBFS (its left end).
pub const FLOOR_DB: f32 = -60.0;
/// How long a peak is held before it falls.
pub const HOLD: Duration = Duration::from_millis(1500);
/// How fast a held peak falls afterwards, in dB per second.
pub const FALL_DB_PER_SECOND: f32 = 20.0;
/// How long the clip light stays lit after the master limiter acted.
pub const CLIP_HOLD: Duration = Duration::from_secs(1);

/// A linear level (1.0 = full scale) in dBFS; silence is -inf.
pub fn db(level: f32) -> f32 {
    if level.is_finite() && level > 0.0 { 20.0 * level.log10() } else { f32::NEG_INFINITY }
}

/// Where a level in dBFS falls on a meter `width` cells wide: 0 at [`FLOOR_DB`] and
/// below, `width` at 0 dBFS and above.
pub fn cells(db: f32, width: usize) -> usize {
    if db.is_nan() {
        return 0;
    }
    let share = ((db - FLOOR_DB) / -FLOOR_DB).clamp(0.0, 1.0);
    (share * width as f32).round() as usize
}

/// The highest peak of the last [`HOLD`], then falling at [`FALL_DB_PER_SECOND`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PeakHold {
    /// The peak held, in dBFS.
    peak: f32,
    /// When it was reached.
    since: Option<Instant>,
    /// What the meter shows now.
    shown: f32,
}

impl Default for PeakHold {
    fn default() -> PeakHold {
        PeakHold { peak: f32::NEG_INFINITY, since: None, shown: f32::NEG_INFINITY }
    }
}

impl PeakHold {
    /// Takes the peak of a new snapshot (in dBFS) at `now`; true if what the meter shows
    /// changed.
    pub fn update(&mut self, peak_db: f32, now: Instant) -> bool {
        let held = self.held_at(now);
        if peak_db.is_nan() || peak_db < held {
            self.set_shown(held)
        } else {
            self.peak = peak_db;
            self.since = Some(now);
            self.set_shown(peak_db)
        }
    }

    /// The level shown, in dBFS, as of the last update.
    pub fn shown(&self) -> f32 {
        self.shown
    }

    fn held_at(&self, now: Instant) -> f32 {
        let Some(since) = self.since else { return f32::NEG_INFINITY };
        let falling = now.saturating_duration_since(since).saturating_sub(HOLD).as_secs_f32();
        let level = self.peak - FALL_DB_PER_SECOND * falling;
        // Below the meter's floor it is gone.
        if level < FLOOR_DB { f32::NEG_INFINITY } else { level }
    }

    fn set_shown(&mut self, level: f32) -> bool {
        let changed = level != self.shown;
        self.shown = level;
        changed
    }
}

/// The clip light: lit for [`CLIP_HOLD`] after each clip.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ClipLight {
    until: Option<Instant>,
    lit: bool,
}

impl ClipLight {
    /// Takes a snapshot's clip flag at `now`; true if the light changed.
    pub fn update(&mut self, clipped: bool, now: Instant) -> bool {
        if clipped {
            self.until = Some(now + CLIP_HOLD);
        }
        let lit = self.until.is_some_and(|t| now < t);
        let changed = lit != self.lit;
        self.lit = lit;
        changed
    }

    /// Lit now.
    pub fn lit(&self) -> bool {
        self.lit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t0: Instant, ms: u64) -> Instant {
        t0 + Duration::from_millis(ms)
    }

    #[test]
    fn decibels_and_cells() {
        assert_eq!(db(1.0), 0.0);
        assert!((db(0.5) + 6.0206).abs() < 1e-3);
        assert_eq!(db(0.0), f32::NEG_INFINITY);
        assert_eq!(db(f32::NAN), f32::NEG_INFINITY);
        assert_eq!(cells(0.0, 40), 40);
        assert_eq!(cells(3.0, 40), 40);
        assert_eq!(cells(-30.0, 40), 20);
        assert_eq!(cells(-60.0, 40), 0);
        assert_eq!(cells(f32::NEG_INFINITY, 40), 0);
        assert_eq!(cells(f32::NAN, 40), 0);
    }

    #[test]
    fn a_peak_is_held_then_falls() {
        let t0 = Instant::now();
        let mut hold = PeakHold::default();
        assert!(hold.update(-6.0, t0));
        // Quieter peaks do not lower it for 1.5 s.
        assert!(!hold.update(-20.0, at(t0, 500)));
        assert!(!hold.update(-20.0, at(t0, 1500)));
        assert_eq!(hold.shown(), -6.0);
        // Then it falls at 20 dB/s, down to the current peak.
        assert!(hold.update(-20.0, at(t0, 2000)));
        assert!((hold.shown() + 16.0).abs() < 1e-3, "{}", hold.shown());
        hold.update(-20.0, at(t0, 3000));
        assert_eq!(hold.shown(), -20.0);
    }

    #[test]
    fn a_louder_peak_restarts_the_hold() {
        let t0 = Instant::now();
        let mut hold = PeakHold::default();
        hold.update(-12.0, t0);
        hold.update(-3.0, at(t0, 1000));
        hold.update(-40.0, at(t0, 2400));
        assert_eq!(hold.shown(), -3.0, "held 1.5 s from the louder peak");
        hold.update(-40.0, at(t0, 2600));
        assert!(hold.shown() < -3.0);
    }

    #[test]
    fn silence_falls_away_below_the_floor() {
        let t0 = Instant::now();
        let mut hold = PeakHold::default();
        hold.update(-50.0, t0);
        hold.update(f32::NEG_INFINITY, at(t0, 2100));
        assert_eq!(hold.shown(), f32::NEG_INFINITY);
    }

    #[test]
    fn the_clip_light_stays_lit_a_second() {
        let t0 = Instant::now();
        let mut clip = ClipLight::default();
        assert!(!clip.update(false, t0));
        assert!(clip.update(true, at(t0, 100)));
        assert!(!clip.update(false, at(t0, 1000)));
        assert!(clip.lit());
        assert!(clip.update(false, at(t0, 1100)));
        assert!(!clip.lit());
    }
}
