//! Cheap band-limited oscillators for dense voice counts: PolyBLEP sawtooth and square
//! as fundsp nodes. fundsp's wavetable oscillators sound a little cleaner but cost about
//! four times as much per sample; these are what `saw` and `square` use.

use fundsp::prelude32::*;

/// The PolyBLEP residual for phase `t` (0..1) and phase step `dt`.
#[inline(always)]
fn blep(t: f32, dt: f32) -> f32 {
    if t < dt {
        let x = t / dt;
        2.0 * x - x * x - 1.0
    } else if t > 1.0 - dt {
        let x = (t - 1.0) / dt;
        x * x + 2.0 * x + 1.0
    } else {
        0.0
    }
}

/// Waveform of a [`Blep`] oscillator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlepWave {
    /// Falling-edge sawtooth, -1..1.
    Saw,
    /// Square, -1..1.
    Square,
}

/// 0, 1, 2, ... as floats: sample offsets within a block.
const RAMP: [f32; MAX_BUFFER_SIZE] = {
    let mut r = [0.0; MAX_BUFFER_SIZE];
    let mut i = 0;
    while i < MAX_BUFFER_SIZE {
        r[i] = i as f32;
        i += 1;
    }
    r
};

/// Shared state of the two node types.
#[derive(Clone, Debug)]
struct Core {
    wave: BlepWave,
    phase: f32,
    initial: f32,
    inv_sr: f32,
}

impl Core {
    fn new(wave: BlepWave, phase: f32) -> Core {
        Core { wave, phase, initial: phase, inv_sr: 1.0 / DEFAULT_SR as f32 }
    }

    #[inline(always)]
    fn next(&mut self, hz: f32) -> f32 {
        let dt = (hz * self.inv_sr).clamp(0.0, 0.5);
        let t = self.phase;
        let y = match self.wave {
            BlepWave::Saw => 2.0 * t - 1.0 - blep(t, dt),
            BlepWave::Square => {
                let s = if t < 0.5 { 1.0 } else { -1.0 };
                let t2 = if t + 0.5 >= 1.0 { t - 0.5 } else { t + 0.5 };
                s + blep(t, dt) - blep(t2, dt)
            }
        };
        let next = t + dt;
        self.phase = if next >= 1.0 { next - 1.0 } else { next };
        y
    }

    /// Fills a block at a constant frequency. Each sample's phase is computed from the
    /// block's start (no loop-carried state), so the loop vectorises.
    fn fill(&mut self, hz: f32, out: &mut [f32]) {
        debug_assert!(out.len() <= MAX_BUFFER_SIZE);
        let dt = (hz * self.inv_sr).clamp(1e-9, 0.5);
        let inv_dt = 1.0 / dt;
        let p0 = self.phase;
        // Phases stay in 0..40 here, so truncation towards zero is a plain conversion
        // (and vectorises, unlike the saturating `as`).
        let frac = |x: f32| {
            debug_assert!((0.0..1e6).contains(&x));
            // SAFETY: x is finite and well inside i32's range (see above).
            x - unsafe { x.to_int_unchecked::<i32>() } as f32
        };
        #[inline(always)]
        fn residual(t: f32, dt: f32, inv_dt: f32) -> f32 {
            let a = t * inv_dt;
            let b = (t - 1.0) * inv_dt;
            let lo = if t < dt { 2.0 * a - a * a - 1.0 } else { 0.0 };
            let hi = if t > 1.0 - dt { b * b + 2.0 * b + 1.0 } else { 0.0 };
            lo + hi
        }
        match self.wave {
            BlepWave::Saw => {
                for (y, r) in out.iter_mut().zip(RAMP) {
                    let t = frac(p0 + r * dt);
                    *y = 2.0 * t - 1.0 - residual(t, dt, inv_dt);
                }
            }
            BlepWave::Square => {
                for (y, r) in out.iter_mut().zip(RAMP) {
                    let t = frac(p0 + r * dt);
                    let s = if t < 0.5 { 1.0 } else { -1.0 };
                    *y = s + residual(t, dt, inv_dt) - residual(frac(t + 0.5), dt, inv_dt);
                }
            }
        }
        self.phase = frac(p0 + out.len() as f32 * dt);
    }
}

/// An oscillator at a fixed frequency (no inputs).
#[derive(Clone, Debug)]
pub struct BlepHz {
    core: Core,
    hz: f32,
}

/// An oscillator whose frequency is its input.
#[derive(Clone, Debug)]
pub struct Blep {
    core: Core,
}

/// A fixed-frequency PolyBLEP oscillator.
pub fn blep_hz(wave: BlepWave, hz: f32, phase: f32) -> An<BlepHz> {
    An(BlepHz { core: Core::new(wave, phase.rem_euclid(1.0)), hz })
}

/// A PolyBLEP oscillator following its input frequency.
pub fn blep_osc(wave: BlepWave, phase: f32) -> An<Blep> {
    An(Blep { core: Core::new(wave, phase.rem_euclid(1.0)) })
}

impl AudioNode for BlepHz {
    const ID: u64 = 0x7268_6169_0002;
    type Inputs = U0;
    type Outputs = U1;

    fn reset(&mut self) {
        self.core.phase = self.core.initial;
    }

    fn set_sample_rate(&mut self, sample_rate: f64) {
        self.core.inv_sr = (1.0 / sample_rate) as f32;
    }

    #[inline]
    fn tick(&mut self, _input: &Frame<f32, U0>) -> Frame<f32, U1> {
        [self.core.next(self.hz)].into()
    }

    fn process(&mut self, size: usize, _input: &BufferRef, output: &mut BufferMut) {
        self.core.fill(self.hz, &mut output.channel_f32_mut(0)[..size]);
    }
}

impl AudioNode for Blep {
    const ID: u64 = 0x7268_6169_0003;
    type Inputs = U1;
    type Outputs = U1;

    fn reset(&mut self) {
        self.core.phase = self.core.initial;
    }

    fn set_sample_rate(&mut self, sample_rate: f64) {
        self.core.inv_sr = (1.0 / sample_rate) as f32;
    }

    #[inline]
    fn tick(&mut self, input: &Frame<f32, U1>) -> Frame<f32, U1> {
        [self.core.next(input[0])].into()
    }

    fn process(&mut self, size: usize, input: &BufferRef, output: &mut BufferMut) {
        let hz = input.channel_f32(0);
        for (y, &f) in output.channel_f32_mut(0)[..size].iter_mut().zip(hz) {
            *y = self.core.next(f);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_fill_matches_ticks() {
        for wave in [BlepWave::Saw, BlepWave::Square] {
            let mut a = blep_hz(wave, 1234.5, 0.3);
            let mut b = a.clone();
            a.set_sample_rate(48000.0);
            b.set_sample_rate(48000.0);
            let ticks: Vec<f32> = (0..640).map(|_| a.get_mono()).collect();
            let mut blocks = vec![0.0; 640];
            for chunk in blocks.chunks_mut(64) {
                b.core.fill(1234.5, chunk);
            }
            for (x, y) in ticks.iter().zip(&blocks) {
                assert!((x - y).abs() < 2e-3, "{wave:?}: {x} vs {y}");
            }
        }
    }

    #[test]
    fn saw_and_square_have_the_right_period_and_range() {
        for wave in [BlepWave::Saw, BlepWave::Square] {
            let mut osc = blep_hz(wave, 100.0, 0.0);
            osc.set_sample_rate(48000.0);
            let x: Vec<f32> = (0..4800).map(|_| osc.get_mono()).collect();
            let peak = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            assert!(peak > 0.9 && peak < 1.1, "{wave:?}: {peak}");
            // Ten periods in 4800 frames: the same value one period later.
            assert!((x[1000] - x[1480]).abs() < 1e-3, "{wave:?}");
            let mean = x.iter().sum::<f32>() / x.len() as f32;
            assert!(mean.abs() < 0.01, "{wave:?}: mean {mean}");
        }
        let mut follow = An(Blep { core: Core::new(BlepWave::Saw, 0.0) });
        follow.set_sample_rate(48000.0);
        let a = follow.filter_mono(100.0);
        assert!(a.is_finite());
    }
}
