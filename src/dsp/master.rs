//! The master bus: DC blocking, a guard against NaN and infinity, and a safety limiter
//! with a hard ceiling. Whatever a patch does, what leaves here is finite and never
//! exceeds [`CEILING`] (just under 0 dBFS).

use super::voice::BLOCK;

/// The largest magnitude the master lets through.
pub const CEILING: f32 = 0.98;
/// Limiter recovery time in seconds.
const RELEASE: f64 = 0.12;
/// DC blocker corner in Hz.
const DC_CORNER: f64 = 8.0;

/// Counts of what the master had to fix.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MasterCounts {
    /// Frames in which a non-finite value was replaced by silence.
    pub non_finite: u64,
    /// Frames in which the limiter reduced gain.
    pub limited: u64,
}

/// The master bus processor.
pub struct Master {
    x1: [f32; 2],
    y1: [f32; 2],
    dc_r: f32,
    gain: f32,
    recover: f32,
    /// What had to be fixed so far.
    pub counts: MasterCounts,
    /// Highest absolute output sample so far.
    pub peak: f32,
}

impl Master {
    /// A master bus for a sample rate.
    pub fn new(sample_rate: f64) -> Master {
        Master {
            x1: [0.0; 2],
            y1: [0.0; 2],
            dc_r: (1.0 - 2.0 * std::f64::consts::PI * DC_CORNER / sample_rate) as f32,
            gain: 1.0,
            recover: (1.0 - (-1.0 / (RELEASE * sample_rate)).exp()) as f32,
            counts: MasterCounts::default(),
            peak: 0.0,
        }
    }

    /// Forgets the filter and limiter state (when the output is silent: a panic).
    pub fn reset(&mut self) {
        self.x1 = [0.0; 2];
        self.y1 = [0.0; 2];
        self.gain = 1.0;
    }

    #[allow(clippy::needless_range_loop)]
    /// Processes `n` frames of the bus and writes them interleaved (stereo) into `out`.
    pub fn process(&mut self, bus: &[[f32; BLOCK]; 2], n: usize, out: &mut [f32]) {
        debug_assert!(out.len() >= 2 * n);
        for i in 0..n {
            let mut frame = [bus[0][i], bus[1][i]];
            if !(frame[0].is_finite() && frame[1].is_finite()) {
                self.counts.non_finite += 1;
                frame = [0.0; 2];
                // The filter state may hold the bad value: start it over.
                self.x1 = [0.0; 2];
                self.y1 = [0.0; 2];
            }
            for c in 0..2 {
                let y = frame[c] - self.x1[c] + self.dc_r * self.y1[c];
                self.x1[c] = frame[c];
                self.y1[c] = y;
                frame[c] = y;
            }
            let peak = frame[0].abs().max(frame[1].abs());
            let wanted = if peak * self.gain > CEILING { CEILING / peak } else { 1.0 };
            if wanted < self.gain {
                self.gain = wanted;
            } else {
                self.gain += (wanted - self.gain) * self.recover;
            }
            if self.gain < 0.9999 {
                self.counts.limited += 1;
            }
            for c in 0..2 {
                let y = (frame[c] * self.gain).clamp(-CEILING, CEILING);
                self.peak = self.peak.max(y.abs());
                out[2 * i + c] = y;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::needless_range_loop)]
    fn limits_blocks_dc_and_nan() {
        let mut m = Master::new(48000.0);
        let mut out = vec![0.0; 2 * BLOCK];
        let mut worst = 0.0f32;
        let mut last_mean = 0.0;
        for block in 0..200 {
            let mut bus = [[0.0; BLOCK]; 2];
            for i in 0..BLOCK {
                let t = (block * BLOCK + i) as f32 / 48000.0;
                bus[0][i] = 50.0 * (t * 440.0 * std::f32::consts::TAU).sin();
                bus[1][i] = if i == 7 && block == 3 { f32::NAN } else { 0.5 };
            }
            m.process(&bus, BLOCK, &mut out);
            worst = out.iter().fold(worst, |w, x| w.max(x.abs()));
            assert!(out.iter().all(|x| x.is_finite()));
            last_mean = out.iter().skip(1).step_by(2).sum::<f32>() / BLOCK as f32;
        }
        assert!(worst <= CEILING, "{worst}");
        assert!(worst > 0.9, "the limiter does not squash to nothing");
        assert!(last_mean.abs() < 0.05, "DC is removed: {last_mean}");
        assert_eq!(m.counts.non_finite, 1);
        assert!(m.counts.limited > 0);
    }

    #[test]
    fn quiet_signals_pass_untouched() {
        let mut m = Master::new(48000.0);
        let mut bus = [[0.0; BLOCK]; 2];
        bus[0][10] = 0.5;
        let mut out = vec![0.0; 2 * BLOCK];
        m.process(&bus, BLOCK, &mut out);
        assert_eq!(out[20], 0.5);
        assert_eq!(m.counts.limited, 0);
    }
}
