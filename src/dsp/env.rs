//! Envelopes: the per-voice ADSR that shapes every note, and a fundsp node wrapping it so
//! scripts and drum synths can use the same shapes inside their graphs.
//!
//! Decay and release follow SuperCollider's `curve: -4` shape (fast at first, then easing
//! out), computed by one multiplication per sample. Attack is linear.

use fundsp::prelude32::*;

/// How sharply decay and release bend (SuperCollider's `Env.perc` default).
const CURVE: f64 = -4.0;

/// One curved segment from `from` to `to` lasting `frames`, stepped one frame at a time:
/// `level(t) = from + (to - from) * (1 - e^(c t / T)) / (1 - e^c)`.
#[derive(Clone, Copy, Debug, Default)]
struct Segment {
    from: f32,
    to: f32,
    /// `e^(c t / T)`, multiplied by `ratio` every frame.
    g: f64,
    ratio: f64,
    scale: f64,
    left: u64,
}

impl Segment {
    fn new(from: f32, to: f32, frames: u64, linear: bool) -> Segment {
        let frames = Ord::max(frames, 1);
        if linear {
            // g runs from 1 down to 0 linearly: level = from + (to - from) * (1 - g).
            return Segment { from, to, g: 1.0, ratio: -1.0 / frames as f64, scale: 1.0, left: frames };
        }
        Segment {
            from,
            to,
            g: 1.0,
            ratio: (CURVE / frames as f64).exp(),
            scale: 1.0 / (1.0 - CURVE.exp()),
            left: frames,
        }
    }

    #[inline]
    fn step(&mut self) -> f32 {
        if self.ratio < 0.0 {
            self.g = (self.g + self.ratio).max(0.0);
        } else {
            self.g *= self.ratio;
        }
        self.left = self.left.saturating_sub(1);
        let shape = if self.ratio < 0.0 { 1.0 - self.g } else { (1.0 - self.g) * self.scale };
        if self.left == 0 { self.to } else { self.from + (self.to - self.from) * shape as f32 }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    Attack,
    Decay,
    Sustain,
    Release,
    Done,
}

/// Attack, decay, sustain and release, with the note's length known up front (`gate`
/// frames; `None` holds until [`Adsr::release`] is called or forever).
#[derive(Clone, Debug)]
pub struct Adsr {
    attack: u64,
    decay: u64,
    sustain: f32,
    release: u64,
    gate: Option<u64>,
    t: u64,
    level: f32,
    stage: Stage,
    segment: Segment,
}

impl Adsr {
    /// Times in seconds, sustain as a level (0..1), the gate in frames.
    pub fn new(sample_rate: f64, attack: f64, decay: f64, sustain: f64, release: f64, gate: Option<u64>) -> Adsr {
        let frames = |s: f64| (s.max(0.0) * sample_rate).round() as u64;
        let mut env = Adsr {
            attack: frames(attack),
            decay: frames(decay),
            sustain: sustain.clamp(0.0, 1.0) as f32,
            release: frames(release),
            gate,
            t: 0,
            level: 0.0,
            stage: Stage::Attack,
            segment: Segment::default(),
        };
        env.enter(Stage::Attack);
        env
    }

    /// A percussive envelope: attack then decay to silence.
    pub fn perc(sample_rate: f64, attack: f64, decay: f64) -> Adsr {
        Adsr::new(sample_rate, attack, decay, 0.0, 0.0, None)
    }

    fn enter(&mut self, stage: Stage) {
        self.stage = stage;
        match stage {
            Stage::Attack if self.attack == 0 => {
                self.level = 1.0;
                self.enter(Stage::Decay);
            }
            Stage::Attack => self.segment = Segment::new(self.level, 1.0, self.attack, true),
            Stage::Decay if self.decay == 0 => {
                self.level = self.sustain;
                self.enter(Stage::Sustain);
            }
            Stage::Decay => self.segment = Segment::new(self.level, self.sustain, self.decay, false),
            Stage::Sustain if self.sustain <= 0.0 => self.stage = Stage::Done,
            Stage::Sustain => self.level = self.sustain,
            Stage::Release if self.release == 0 || self.level <= 0.0 => {
                self.level = 0.0;
                self.stage = Stage::Done;
            }
            Stage::Release => self.segment = Segment::new(self.level, 0.0, self.release, false),
            Stage::Done => self.level = 0.0,
        }
    }

    /// Starts the release now (used when a note is cut short).
    pub fn release(&mut self) {
        if !matches!(self.stage, Stage::Release | Stage::Done) {
            self.gate = Some(self.t);
            self.enter(Stage::Release);
        }
    }

    /// True once the envelope has fallen silent for good.
    pub fn done(&self) -> bool {
        self.stage == Stage::Done
    }

    /// The next level.
    #[inline]
    pub fn tick(&mut self) -> f32 {
        if self.gate == Some(self.t) && !matches!(self.stage, Stage::Release | Stage::Done) {
            self.enter(Stage::Release);
        }
        self.t += 1;
        match self.stage {
            Stage::Attack | Stage::Decay | Stage::Release => {
                self.level = self.segment.step();
                if self.segment.left == 0 {
                    let next = match self.stage {
                        Stage::Attack => Stage::Decay,
                        Stage::Decay => Stage::Sustain,
                        _ => Stage::Done,
                    };
                    self.enter(next);
                }
                self.level
            }
            Stage::Sustain => self.level,
            Stage::Done => 0.0,
        }
    }

    /// Moves `frames` ahead without producing output, as if those levels had been used.
    /// Attack and decay are stepped (they are short); a sustain is jumped over.
    pub fn skip(&mut self, frames: u64) {
        let end = self.t + frames;
        while self.t < end {
            let until_gate = match self.gate {
                Some(g) if !matches!(self.stage, Stage::Release | Stage::Done) => g.saturating_sub(self.t),
                _ => u64::MAX,
            };
            match self.stage {
                Stage::Sustain if until_gate > 0 => self.t += Ord::min(end - self.t, until_gate),
                Stage::Done => self.t = end,
                _ => {
                    self.tick();
                }
            }
        }
    }

    /// Fills `out` with the next levels. Runs of a single stage are computed in tight
    /// loops; stage changes go through [`Adsr::tick`].
    pub fn fill(&mut self, out: &mut [f32]) {
        let mut i = 0;
        while i < out.len() {
            let left = out.len() - i;
            let until_gate = match self.gate {
                Some(g) if !matches!(self.stage, Stage::Release | Stage::Done) => g.saturating_sub(self.t) as usize,
                _ => usize::MAX,
            };
            let run = match self.stage {
                Stage::Done => left,
                Stage::Sustain => Ord::min(left, until_gate),
                _ => Ord::min(Ord::min(left, until_gate), self.segment.left.saturating_sub(1) as usize),
            };
            if run == 0 {
                out[i] = self.tick();
                i += 1;
                continue;
            }
            let chunk = &mut out[i..i + run];
            match self.stage {
                Stage::Done => chunk.fill(0.0),
                Stage::Sustain => chunk.fill(self.level),
                _ => {
                    let seg = &mut self.segment;
                    let (from, span) = (seg.from, seg.to - seg.from);
                    if seg.ratio < 0.0 {
                        let mut g = seg.g;
                        for x in chunk.iter_mut() {
                            g = (g + seg.ratio).max(0.0);
                            *x = from + span * (1.0 - g) as f32;
                        }
                        seg.g = g;
                    } else {
                        let (mut g, ratio, scale) = (seg.g, seg.ratio, seg.scale);
                        for x in chunk.iter_mut() {
                            g *= ratio;
                            *x = from + span * ((1.0 - g) * scale) as f32;
                        }
                        seg.g = g;
                    }
                    seg.left -= run as u64;
                    self.level = chunk[run - 1];
                }
            }
            self.t += run as u64;
            i += run;
        }
    }
}

/// The envelope as a fundsp generator (no inputs, one output), for graphs.
#[derive(Clone)]
pub struct EnvNode {
    template: Adsr,
    env: Adsr,
    delay: u64,
    t: u64,
}

impl EnvNode {
    /// Wraps an envelope.
    pub fn new(env: Adsr) -> An<EnvNode> {
        EnvNode::delayed(env, 0)
    }

    /// Wraps an envelope that starts after `delay` frames of silence.
    pub fn delayed(env: Adsr, delay: u64) -> An<EnvNode> {
        An(EnvNode { template: env.clone(), env, delay, t: 0 })
    }

    #[inline]
    fn advance(&mut self) -> f32 {
        if self.t < self.delay {
            self.t += 1;
            return 0.0;
        }
        self.env.tick()
    }
}

impl AudioNode for EnvNode {
    const ID: u64 = 0x7268_6169_0001;
    type Inputs = U0;
    type Outputs = U1;

    fn reset(&mut self) {
        self.env = self.template.clone();
        self.t = 0;
    }

    #[inline]
    fn tick(&mut self, _input: &Frame<f32, U0>) -> Frame<f32, U1> {
        [self.advance()].into()
    }

    fn process(&mut self, size: usize, _input: &BufferRef, output: &mut BufferMut) {
        if self.t >= self.delay {
            self.env.fill(&mut output.channel_f32_mut(0)[..size]);
        } else {
            for x in &mut output.channel_f32_mut(0)[..size] {
                *x = self.advance();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adsr_reaches_its_levels_and_ends() {
        let mut env = Adsr::new(1000.0, 0.01, 0.02, 0.5, 0.05, Some(100));
        let levels: Vec<f32> = (0..200).map(|_| env.tick()).collect();
        assert!((levels[9] - 1.0).abs() < 1e-6, "attack peaks after 10 frames");
        assert!((levels[29] - 0.5).abs() < 1e-6, "decay lands on sustain");
        assert!((levels[80] - 0.5).abs() < 1e-6, "sustain holds");
        assert!(levels[120] < 0.5 && levels[120] > 0.0, "release falls");
        assert_eq!(levels[149], 0.0);
        assert!(env.done());
        // Decay is curved: faster than linear at the start.
        assert!(levels[14] < 1.0 - 0.5 * 5.0 / 20.0);
    }

    #[test]
    fn perc_matches_the_closed_form() {
        let sr = 48000.0;
        let mut env = Adsr::perc(sr, 0.0, 1.0);
        let levels: Vec<f32> = (0..48000).map(|_| env.tick()).collect();
        for t in [1000usize, 12000, 30000] {
            let x = (t + 1) as f64 / sr;
            let want = 1.0 - (1.0 - (-4.0 * x).exp()) / (1.0 - (-4.0f64).exp());
            assert!((levels[t] as f64 - want).abs() < 1e-4, "t={t}: {} vs {want}", levels[t]);
        }
        assert!(env.done());
    }

    #[test]
    fn skip_matches_ticking() {
        for frames in [0u64, 10, 47, 480, 2000, 5000, 9000] {
            let mut a = Adsr::new(48000.0, 0.002, 0.03, 0.5, 0.05, Some(4800));
            let mut b = a.clone();
            for _ in 0..frames {
                a.tick();
            }
            b.skip(frames);
            for _ in 0..3000 {
                assert!((a.tick() - b.tick()).abs() < 1e-6, "after skipping {frames}");
            }
        }
    }

    #[test]
    fn fill_matches_tick() {
        for gate in [None, Some(37), Some(100), Some(3000)] {
            let mut a = Adsr::new(1000.0, 0.013, 0.05, 0.4, 0.07, gate);
            let mut b = a.clone();
            let by_tick: Vec<f32> = (0..400).map(|_| a.tick()).collect();
            let mut by_fill = vec![0.0; 400];
            for chunk in by_fill.chunks_mut(64) {
                b.fill(chunk);
            }
            for (i, (x, y)) in by_tick.iter().zip(&by_fill).enumerate() {
                assert!((x - y).abs() < 1e-6, "gate {gate:?} frame {i}: {x} vs {y}");
            }
            assert_eq!(a.done(), b.done());
        }
    }

    #[test]
    fn gate_during_attack_releases_from_the_current_level() {
        let mut env = Adsr::new(1000.0, 0.1, 0.0, 1.0, 0.01, Some(50));
        let levels: Vec<f32> = (0..70).map(|_| env.tick()).collect();
        assert!(levels[49] < 0.6);
        assert!(levels[50] <= levels[49]);
        assert!(env.done());
    }
}
