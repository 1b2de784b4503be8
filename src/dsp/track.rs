//! Per-track safety stages (audio side): each track's voices are summed on a bus of
//! their own, and a peak limiter computes, sample by sample, the gain that keeps that
//! sum under the track ceiling. The mixer applies that gain to every voice of the track
//! (dry signal and effect sends alike) before anything reaches the orbits and the
//! master, so one track's level cannot push the master limiter down on the others, nor
//! flood the reverb.
//!
//! A fixed number of stages is made up front; track ids beyond it share stages (id
//! modulo the count). `run` never allocates.

use super::voice::BLOCK;

/// Limiter recovery time in seconds.
const RELEASE: f64 = 0.1;

/// One track's bus and limiter.
struct Stage {
    bus: [[f32; BLOCK]; 2],
    gain: [f32; BLOCK],
    /// The limiter's gain now.
    g: f32,
    /// Something was added to the bus this block.
    used: bool,
    /// The bus held a non-finite value this block.
    blown: bool,
    /// The mute fade: the gain now and where it goes (0 muted, 1 not).
    level: f32,
    target: f32,
}

/// The fixed set of per-track stages.
pub struct Tracks {
    stages: Vec<Stage>,
    ceiling: f32,
    recover: f32,
    /// Mute fade step per frame.
    mute_step: f32,
    /// Frames (summed over tracks) in which a track limiter reduced gain.
    pub limited: u64,
}

impl Tracks {
    /// `count` stages (at least one) limiting each track to `ceiling`.
    pub fn new(count: usize, ceiling: f32, sample_rate: f64) -> Tracks {
        let stage = || Stage {
            bus: [[0.0; BLOCK]; 2],
            gain: [1.0; BLOCK],
            g: 1.0,
            used: false,
            blown: false,
            level: 1.0,
            target: 1.0,
        };
        Tracks {
            stages: (0..count.max(1)).map(|_| stage()).collect(),
            ceiling: if ceiling.is_finite() { ceiling.clamp(0.01, 1.0) } else { 1.0 },
            recover: (1.0 - (-1.0 / (RELEASE * sample_rate)).exp()) as f32,
            mute_step: (1.0 / (super::mixer::MUTE_FADE * sample_rate).max(1.0)) as f32,
            limited: 0,
        }
    }

    /// How many stages there are.
    pub fn count(&self) -> usize {
        self.stages.len()
    }

    /// The stage of a track id.
    pub fn slot(&self, track: usize) -> usize {
        track % self.stages.len()
    }

    /// Adds a voice's frames `from..to` to its stage's bus.
    pub fn add(&mut self, slot: usize, rendered: &[[f32; BLOCK]; 2], from: usize, to: usize) {
        let stage = &mut self.stages[slot];
        stage.used = true;
        for (bus, src) in stage.bus.iter_mut().zip(rendered) {
            for (b, s) in bus[from..to].iter_mut().zip(&src[from..to]) {
                *b += s;
            }
        }
    }

    /// Mutes or unmutes a stage: its gain ramps there over the mute fade.
    pub fn set_muted(&mut self, slot: usize, muted: bool) {
        if let Some(stage) = self.stages.get_mut(slot) {
            stage.target = if muted { 0.0 } else { 1.0 };
        }
    }

    /// Computes every used stage's gains for the `n` frames of this block and clears the
    /// buses; stages nobody used recover as if they had run on silence.
    pub fn run(&mut self, n: usize) {
        let (ceiling, recover, step) = (self.ceiling, self.recover, self.mute_step);
        for stage in self.stages.iter_mut() {
            stage.blown = false;
            if !stage.used {
                if stage.g < 1.0 {
                    stage.g = 1.0 - (1.0 - stage.g) * (1.0 - recover).powi(n as i32);
                }
                stage.level = ramp(stage.level, stage.target, step * n as f32);
                continue;
            }
            stage.used = false;
            let mut g = stage.g;
            for i in 0..n {
                let peak = stage.bus[0][i].abs().max(stage.bus[1][i].abs());
                if !(stage.bus[0][i].is_finite() && stage.bus[1][i].is_finite()) {
                    stage.blown = true;
                }
                // Recover towards 1, but never so far that this frame exceeds the ceiling.
                let rising = g + (1.0 - g) * recover;
                g = if peak * rising > ceiling { ceiling / peak } else { rising };
                if g < 0.9999 {
                    self.limited += 1;
                }
                stage.gain[i] = g;
            }
            if stage.blown || !g.is_finite() {
                // Start over: nothing of the bad block survives in the limiter.
                g = 1.0;
                stage.blown = true;
            }
            stage.g = g;
            if stage.level != 1.0 || stage.target != 1.0 {
                for gain in &mut stage.gain[..n] {
                    stage.level = ramp(stage.level, stage.target, step);
                    *gain *= stage.level;
                }
            }
            stage.bus[0][..n].fill(0.0);
            stage.bus[1][..n].fill(0.0);
        }
    }

    /// The gains of a stage for this block (valid after [`Tracks::run`]).
    pub fn gain(&self, slot: usize) -> &[f32; BLOCK] {
        &self.stages[slot].gain
    }

    /// True if the stage's sum was not finite in this block: its voices must be silenced.
    pub fn blown(&self, slot: usize) -> bool {
        self.stages[slot].blown
    }
}

/// One step of a linear ramp from `x` towards `target`.
fn ramp(x: f32, target: f32, step: f32) -> f32 {
    if x < target { (x + step).min(target) } else { (x - step).max(target) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hot_track_is_held_at_the_ceiling_and_a_quiet_one_passes() {
        let mut t = Tracks::new(2, 0.5, 48000.0);
        let mut hot = [[0.0; BLOCK]; 2];
        let mut quiet = [[0.0; BLOCK]; 2];
        for i in 0..BLOCK {
            let x = (i as f32 * 0.3).sin();
            hot[0][i] = 1e6 * x;
            hot[1][i] = 1e6 * x;
            quiet[0][i] = 0.3 * x;
        }
        for _ in 0..10 {
            t.add(0, &hot, 0, BLOCK);
            t.add(1, &quiet, 0, BLOCK);
            t.run(BLOCK);
            for (x, g) in hot[0].iter().zip(t.gain(0)) {
                assert!((x * g).abs() <= 0.5 + 1e-6);
            }
            assert!(t.gain(1).iter().all(|g| *g == 1.0));
        }
        assert!(t.limited > 0);
        assert!(!t.blown(0));
    }

    #[test]
    fn a_non_finite_sum_is_reported_and_forgotten() {
        let mut t = Tracks::new(1, 0.9, 48000.0);
        let mut x = [[0.1; BLOCK]; 2];
        x[1][5] = f32::INFINITY;
        t.add(0, &x, 0, BLOCK);
        t.run(BLOCK);
        assert!(t.blown(0));
        t.add(0, &[[0.1; BLOCK]; 2], 0, BLOCK);
        t.run(BLOCK);
        assert!(!t.blown(0));
        assert!(t.gain(0).iter().all(|g| *g == 1.0));
    }
}
