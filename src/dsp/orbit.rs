//! Orbits: effect buses shared by every voice that names them, as in SuperDirt. Each has a
//! dry bus, a Freeverb-style stereo reverb and a stereo feedback delay fed by sends. The
//! latest event's `size`, `delaytime` and `delayfeedback` set the orbit's effects.
//!
//! All memory is allocated when the orbit is made; `process` never allocates.

use super::voice::{BLOCK, OrbitSettings};

/// Comb lengths of the left channel at 44.1 kHz (the right adds [`SPREAD`]).
const COMBS: [usize; 8] = [1116, 1188, 1277, 1356, 1422, 1491, 1557, 1617];
/// All-pass lengths of the left channel at 44.1 kHz.
const ALLPASSES: [usize; 4] = [556, 441, 341, 225];
const SPREAD: usize = 23;
/// Freeverb's input gain and wet scale.
const INPUT_GAIN: f32 = 0.015;
const WET_SCALE: f32 = 3.0;
/// Longest delay time in seconds.
pub const MAX_DELAY: f32 = 4.0;

#[derive(Clone, Debug)]
struct Comb {
    buf: Vec<f32>,
    i: usize,
    store: f32,
}

impl Comb {
    #[inline]
    fn tick(&mut self, x: f32, feedback: f32, damp: f32) -> f32 {
        let out = self.buf[self.i];
        self.store = out * (1.0 - damp) + self.store * damp;
        self.buf[self.i] = x + self.store * feedback;
        self.i += 1;
        if self.i == self.buf.len() {
            self.i = 0;
        }
        out
    }
}

#[derive(Clone, Debug)]
struct Allpass {
    buf: Vec<f32>,
    i: usize,
}

impl Allpass {
    #[inline]
    fn tick(&mut self, x: f32) -> f32 {
        let b = self.buf[self.i];
        self.buf[self.i] = x + b * 0.5;
        self.i += 1;
        if self.i == self.buf.len() {
            self.i = 0;
        }
        b - x
    }
}

/// A stereo Freeverb: 8 low-passed feedback combs and 4 all-passes per side.
#[derive(Clone, Debug)]
pub struct Freeverb {
    combs: [Vec<Comb>; 2],
    allpasses: [Vec<Allpass>; 2],
    feedback: f32,
    damp: f32,
}

impl Freeverb {
    /// A reverb for a sample rate, with room size 0..1 and damping 0..1.
    pub fn new(sample_rate: f64, size: f32, damping: f32) -> Freeverb {
        let scale = sample_rate / 44100.0;
        let len = |n: usize| ((n as f64 * scale).round() as usize).max(1);
        let combs =
            [0, SPREAD].map(|s| COMBS.iter().map(|&n| Comb { buf: vec![0.0; len(n + s)], i: 0, store: 0.0 }).collect());
        let allpasses =
            [0, SPREAD].map(|s| ALLPASSES.iter().map(|&n| Allpass { buf: vec![0.0; len(n + s)], i: 0 }).collect());
        let mut r = Freeverb { combs, allpasses, feedback: 0.0, damp: 0.0 };
        r.set(size, damping);
        r
    }

    /// Sets room size and damping (0..1 each).
    pub fn set(&mut self, size: f32, damping: f32) {
        self.feedback = 0.7 + 0.28 * size.clamp(0.0, 1.0);
        self.damp = 0.4 * damping.clamp(0.0, 1.0);
    }

    /// Clears the tail.
    pub fn reset(&mut self) {
        for side in self.combs.iter_mut() {
            for c in side {
                c.buf.fill(0.0);
                c.store = 0.0;
            }
        }
        for side in self.allpasses.iter_mut() {
            for a in side {
                a.buf.fill(0.0);
            }
        }
    }

    /// Adds the wet signal for the inputs to the outputs.
    pub fn process(&mut self, in_l: &[f32], in_r: &[f32], out_l: &mut [f32], out_r: &mut [f32]) {
        let (feedback, damp) = (self.feedback, self.damp);
        for (side, (input_other, out)) in [(in_r, &mut *out_l), (in_l, &mut *out_r)].into_iter().enumerate() {
            let input_self = if side == 0 { in_l } else { in_r };
            for i in 0..out.len() {
                let x = (input_self[i] + input_other[i]) * INPUT_GAIN;
                let mut y = 0.0;
                for c in self.combs[side].iter_mut() {
                    y += c.tick(x, feedback, damp);
                }
                for a in self.allpasses[side].iter_mut() {
                    y = a.tick(y);
                }
                out[i] += y * WET_SCALE;
            }
        }
    }
}

/// A stereo feedback delay with a smoothed time.
#[derive(Clone, Debug)]
pub struct Delay {
    buf: [Vec<f32>; 2],
    w: usize,
    sample_rate: f32,
    time: f32,
    target: f32,
    feedback: f32,
}

impl Delay {
    /// A delay holding up to [`MAX_DELAY`] seconds.
    pub fn new(sample_rate: f64) -> Delay {
        let len = (sample_rate * MAX_DELAY as f64) as usize + 2;
        let time = 0.25 * sample_rate as f32;
        Delay {
            buf: [vec![0.0; len], vec![0.0; len]],
            w: 0,
            sample_rate: sample_rate as f32,
            time,
            target: time,
            feedback: 0.5,
        }
    }

    /// Sets time (seconds) and feedback (0..0.98).
    pub fn set(&mut self, time: Option<f32>, feedback: Option<f32>) {
        if let Some(t) = time {
            self.target = (t.clamp(0.001, MAX_DELAY) * self.sample_rate).min(self.buf[0].len() as f32 - 2.0);
        }
        if let Some(f) = feedback {
            self.feedback = f.clamp(0.0, 0.98);
        }
    }

    /// Clears the echoes.
    pub fn reset(&mut self) {
        self.buf.iter_mut().for_each(|b| b.fill(0.0));
    }

    /// Adds the echoes of the inputs to the outputs.
    pub fn process(&mut self, in_l: &[f32], in_r: &[f32], out_l: &mut [f32], out_r: &mut [f32]) {
        let len = self.buf[0].len();
        for i in 0..out_l.len() {
            // Glide to a new time over ~50 ms instead of jumping (no click).
            self.time += (self.target - self.time) * 0.0005;
            let pos = self.w as f32 + len as f32 - self.time;
            let i0 = pos as usize % len;
            let i1 = (i0 + 1) % len;
            let frac = pos.fract();
            for (c, (input, out)) in [(in_l, &mut *out_l), (in_r, &mut *out_r)].into_iter().enumerate() {
                let b = &mut self.buf[c];
                let y = b[i0] + (b[i1] - b[i0]) * frac;
                b[self.w] = input[i] + y * self.feedback;
                out[i] += y;
            }
            self.w = (self.w + 1) % len;
        }
    }
}

/// One effect bus.
pub struct Orbit {
    /// Dry signal of this block.
    pub dry: [[f32; BLOCK]; 2],
    /// Reverb send of this block.
    pub reverb_in: [[f32; BLOCK]; 2],
    /// Delay send of this block.
    pub delay_in: [[f32; BLOCK]; 2],
    reverb: Freeverb,
    delay: Delay,
    reverb_on: bool,
    delay_on: bool,
}

impl Orbit {
    /// An orbit for a sample rate.
    pub fn new(sample_rate: f64) -> Orbit {
        Orbit {
            dry: [[0.0; BLOCK]; 2],
            reverb_in: [[0.0; BLOCK]; 2],
            delay_in: [[0.0; BLOCK]; 2],
            reverb: Freeverb::new(sample_rate, 0.5, 0.5),
            delay: Delay::new(sample_rate),
            reverb_on: false,
            delay_on: false,
        }
    }

    /// Applies the settings an event brings.
    pub fn apply(&mut self, s: &OrbitSettings) {
        if let Some(size) = s.size {
            self.reverb.set(size, 0.5);
        }
        self.delay.set(s.delaytime, s.delayfeedback);
    }

    /// Turns the effects on once something is sent to them (they then run for good, so
    /// tails ring out).
    pub fn wake(&mut self, reverb: bool, delay: bool) {
        self.reverb_on |= reverb;
        self.delay_on |= delay;
    }

    /// Mixes this block's dry signal and effect outputs into `out`, then clears the buses.
    pub fn process(&mut self, n: usize, out: &mut [[f32; BLOCK]; 2]) {
        let [out_l, out_r] = out;
        for i in 0..n {
            out_l[i] += self.dry[0][i];
            out_r[i] += self.dry[1][i];
        }
        if self.reverb_on {
            let [l, r] = &self.reverb_in;
            self.reverb.process(&l[..n], &r[..n], &mut out_l[..n], &mut out_r[..n]);
        }
        if self.delay_on {
            let [l, r] = &self.delay_in;
            self.delay.process(&l[..n], &r[..n], &mut out_l[..n], &mut out_r[..n]);
        }
        for bus in [&mut self.dry, &mut self.reverb_in, &mut self.delay_in] {
            bus[0][..n].fill(0.0);
            bus[1][..n].fill(0.0);
        }
    }

    /// Clears the effect tails (after a blow-up).
    pub fn reset(&mut self) {
        self.reverb.reset();
        self.delay.reset();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reverb_tail_decays_and_follows_size() {
        let tail = |size: f32| {
            let mut r = Freeverb::new(48000.0, size, 0.5);
            let mut l = vec![0.0; 64];
            l[0] = 1.0;
            let zero = vec![0.0; 64];
            let mut energy = [0.0f32; 2];
            for block in 0..1500 {
                let (mut ol, mut or) = (vec![0.0; 64], vec![0.0; 64]);
                r.process(if block == 0 { &l } else { &zero }, &zero, &mut ol, &mut or);
                let e: f32 = ol.iter().chain(&or).map(|x| x * x).sum();
                energy[(block >= 750) as usize] += e;
            }
            energy
        };
        let (small, big) = (tail(0.1), tail(0.9));
        assert!(small[0] > 0.0 && small[1] < small[0] * 0.01);
        assert!(big[1] / big[0] > small[1] / small[0], "a bigger room rings longer");
    }

    #[test]
    fn delay_echoes_at_its_time() {
        let mut d = Delay::new(1000.0);
        d.set(Some(0.1), Some(0.5));
        d.time = d.target;
        let mut input = vec![0.0; 400];
        input[0] = 1.0;
        let (mut l, mut r) = (vec![0.0; 400], vec![0.0; 400]);
        d.process(&input, &input, &mut l, &mut r);
        let peaks: Vec<usize> = (0..400).filter(|&i| l[i] > 0.1).collect();
        assert_eq!(peaks, vec![100, 200, 300]);
        assert!((l[200] - 0.5).abs() < 1e-3);
    }
}
