//! The transport clock: frames (u64) on one side, exact cycles on the other, joined at
//! an anchor so that a tempo change never makes the cycle position jump.

use crate::pattern::Rational;

/// Maps frames to cycles and back at a tempo.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Clock {
    sample_rate: u32,
    anchor_frame: u64,
    anchor_cycle: Rational,
    cps: Rational,
}

/// A tempo as an exact fraction (Farey-approximated, as Strudel reads numbers).
fn cps_rational(cps: f64) -> Rational {
    let cps = if cps.is_finite() && cps > 0.0 { cps } else { crate::patch::DEFAULT_CPS };
    Rational::from_f64(cps).filter(|r| r.numer() > 0).unwrap_or(Rational::new(1, 2))
}

impl Clock {
    /// A clock at cycle 0 on frame 0.
    pub fn new(sample_rate: u32, cps: f64) -> Clock {
        Clock { sample_rate, anchor_frame: 0, anchor_cycle: Rational::ZERO, cps: cps_rational(cps) }
    }

    /// The frame of the last tempo change (or of the start).
    pub fn anchor_frame(&self) -> u64 {
        self.anchor_frame
    }

    /// The sample rate.
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// Cycles per second.
    pub fn cps(&self) -> f64 {
        self.cps.to_f64()
    }

    /// The cycle position at a frame.
    pub fn cycle_at(&self, frame: u64) -> Rational {
        let df = frame as i128 - self.anchor_frame as i128;
        let num = df * self.cps.numer() as i128;
        let den = self.sample_rate as i128 * self.cps.denom() as i128;
        // Reduce through i128 first; the result is well inside i64 for any real session.
        let g = gcd(num.unsigned_abs(), den as u128).max(1) as i128;
        self.anchor_cycle + Rational::new((num / g) as i64, (den / g) as i64)
    }

    /// The frame nearest a cycle position (clamped at frame 0).
    pub fn frame_at(&self, cycle: Rational) -> u64 {
        let d = cycle - self.anchor_cycle;
        let num = d.numer() as i128 * self.cps.denom() as i128 * self.sample_rate as i128;
        let den = d.denom() as i128 * self.cps.numer() as i128;
        let rounded = (2 * num + den).div_euclid(2 * den);
        (self.anchor_frame as i128 + rounded).max(0) as u64
    }

    /// True if `cps` is the tempo already playing.
    pub fn is_tempo(&self, cps: f64) -> bool {
        cps_rational(cps) == self.cps
    }

    /// Puts `cycle` at `frame`, keeping the tempo (resuming after a pause).
    pub fn reanchor(&mut self, frame: u64, cycle: Rational) {
        self.anchor_frame = frame;
        self.anchor_cycle = cycle;
    }

    /// Changes the tempo from `frame` on; the cycle position at `frame` stays where it was.
    pub fn set_cps(&mut self, frame: u64, cps: f64) {
        let cps = cps_rational(cps);
        if cps == self.cps {
            return;
        }
        self.anchor_cycle = self.cycle_at(frame);
        self.anchor_frame = frame;
        self.cps = cps;
    }
}

fn gcd(mut a: u128, mut b: u128) -> u128 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_and_cycles_round_trip() {
        let c = Clock::new(48000, 124.0 / 240.0);
        assert_eq!(c.cycle_at(0), Rational::ZERO);
        let one = c.frame_at(Rational::ONE);
        assert_eq!(one, (48000.0f64 * 240.0 / 124.0).round() as u64);
        for f in [0u64, 1, 999, 48000, 10_000_000] {
            assert_eq!(c.frame_at(c.cycle_at(f)), f);
        }
    }

    #[test]
    fn tempo_changes_keep_the_phase() {
        let mut c = Clock::new(48000, 0.5);
        let before = c.cycle_at(96_000);
        assert_eq!(before, Rational::ONE);
        c.set_cps(96_000, 1.0);
        assert_eq!(c.cycle_at(96_000), before);
        assert_eq!(c.cycle_at(144_000), Rational::int(2));
    }
}
