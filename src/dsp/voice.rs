//! One sounding note: a source (a fundsp graph or a sample player), its filters, shaping,
//! envelope, gain and pan, and what it sends to its orbit's effects.
//!
//! A voice is built on the control side ([`super::build`]) and only rendered on the
//! audio side: `render` never allocates, locks or frees.

use fundsp::prelude32::*;
use fundsp::{F32x, SIMD_LEN};

use super::env::Adsr;
use super::samples::SamplePlayer;

/// Frames per processing block (fundsp's maximum buffer size).
pub const BLOCK: usize = MAX_BUFFER_SIZE;

/// Where a voice's sound comes from.
pub enum Source {
    /// A fundsp graph with no inputs and one or two outputs.
    Unit(Box<dyn AudioUnit>),
    /// A sample.
    Sample(SamplePlayer),
}

/// Effect settings a voice applies to its orbit when it starts (SuperDirt semantics:
/// the latest event sets the orbit's reverb and delay).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct OrbitSettings {
    /// Reverb size 0..1.
    pub size: Option<f32>,
    /// Delay time in seconds.
    pub delaytime: Option<f32>,
    /// Delay feedback 0..1.
    pub delayfeedback: Option<f32>,
}

/// Per-sample shaping after the filters.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Shaping {
    /// Quantisation steps for `crush` (0 = off).
    pub crush: f32,
    /// Hold every n-th sample for `coarse` (0 or 1 = off).
    pub coarse: u32,
    /// Wave shaper factor k for `shape` (0 = off).
    pub shape: f32,
    /// Drive for `distort` (0 = off).
    pub distort: f32,
}

/// Everything a voice is made of.
pub struct VoiceSpec {
    /// The first frame it sounds at.
    pub start: u64,
    /// Its source.
    pub source: Source,
    /// Filters applied in order, each with as many inputs and outputs as the source.
    pub filters: Vec<Box<dyn AudioUnit>>,
    /// Its envelope.
    pub env: Adsr,
    /// Frames before the source is exhausted (`u64::MAX` if endless).
    pub length: u64,
    /// Linear gain.
    pub amp: f32,
    /// Pan, 0 = left .. 1 = right.
    pub pan: f32,
    /// Shaping.
    pub shaping: Shaping,
    /// Reverb send.
    pub room: f32,
    /// Delay send.
    pub delay: f32,
    /// The orbit (effect bus).
    pub orbit: usize,
    /// Cut group.
    pub cut: Option<i64>,
    /// Orbit settings it brings.
    pub orbit_settings: OrbitSettings,
    /// True for a held note (a synth or an instrument, which sounds for as long as its
    /// event lasts); false for a one-shot (a drum or a sample), which plays to its end.
    pub held: bool,
}

/// A voice ready to render.
pub struct Voice {
    spec: VoiceSpec,
    channels: usize,
    gains: [f32; 2],
    buf: [F32x; 2 * SIMD_LEN],
    tmp: [F32x; 2 * SIMD_LEN],
    hold: [f32; 2],
    hold_count: u32,
    id: u64,
    fade: f32,
    fade_step: f32,
    /// Age (frames) at which the fade-out begins; `u64::MAX` = not fading.
    fade_from: u64,
    fade_in: f32,
    fade_in_step: f32,
    age: u64,
    blew_up: bool,
    done: bool,
    track: usize,
    stolen: bool,
    /// Peak of the last block rendered (`f32::MAX` before the first).
    loudness: f32,
}

impl Voice {
    /// Makes a voice from its parts (control side).
    pub fn new(spec: VoiceSpec) -> Box<Voice> {
        let channels = match &spec.source {
            Source::Unit(u) => u.outputs(),
            Source::Sample(p) => p.channels(),
        };
        debug_assert!(channels == 1 || channels == 2);
        let pan = spec.pan.clamp(0.0, 1.0);
        let gains = if channels == 1 {
            let angle = pan * std::f32::consts::FRAC_PI_2;
            [angle.cos(), angle.sin()]
        } else {
            [(2.0 * (1.0 - pan)).min(1.0), (2.0 * pan).min(1.0)]
        };
        Box::new(Voice {
            spec,
            channels,
            gains,
            buf: [F32x::ZERO; 2 * SIMD_LEN],
            tmp: [F32x::ZERO; 2 * SIMD_LEN],
            hold: [0.0; 2],
            hold_count: 0,
            id: 0,
            fade: 1.0,
            fade_step: 0.0,
            fade_from: u64::MAX,
            fade_in: 1.0,
            fade_in_step: 0.0,
            age: 0,
            blew_up: false,
            done: false,
            track: 0,
            stolen: false,
            loudness: f32::MAX,
        })
    }

    /// The first frame it sounds at.
    pub fn start(&self) -> u64 {
        self.spec.start
    }

    /// Its orbit.
    pub fn orbit(&self) -> usize {
        self.spec.orbit
    }

    /// Its cut group.
    pub fn cut(&self) -> Option<i64> {
        self.spec.cut
    }

    /// Reverb and delay sends.
    pub fn sends(&self) -> (f32, f32) {
        (self.spec.room, self.spec.delay)
    }

    /// Orbit settings it brings.
    pub fn orbit_settings(&self) -> OrbitSettings {
        self.spec.orbit_settings
    }

    /// True once it has finished.
    pub fn done(&self) -> bool {
        self.done
    }

    /// True if it produced a non-finite value and was silenced.
    pub fn blew_up(&self) -> bool {
        self.blew_up
    }

    /// Its identity, as the scheduler numbered it (0 if it did not).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Numbers it (control side), so that it can be faded out later by id.
    pub fn set_id(&mut self, id: u64) {
        self.id = id;
    }

    /// The track it belongs to, as the scheduler numbered it (0 if it did not).
    pub fn track(&self) -> usize {
        self.track
    }

    /// Assigns it to a track (control side): the mixer limits each track's level and
    /// voices on their own.
    pub fn set_track(&mut self, track: usize) {
        self.track = track;
    }

    /// True once the mixer took its slot for a new voice (it is fading out).
    pub fn stolen(&self) -> bool {
        self.stolen
    }

    /// Gives its slot away: fades it out over `frames`, from now.
    pub fn steal(&mut self, frames: u32) {
        self.stolen = true;
        self.stop(frames);
    }

    /// The largest magnitude of the last block it rendered (`f32::MAX` before the
    /// first): how loud it is now, to pick which voice to steal.
    pub fn loudness(&self) -> f32 {
        self.loudness
    }

    /// Silences it for good and counts it as blown up (its track's sum was not finite).
    pub fn silence(&mut self) {
        self.blew_up = true;
        self.done = true;
    }

    /// True for a held note (synth or instrument), false for a one-shot.
    pub fn held(&self) -> bool {
        self.spec.held
    }

    /// Fades it out over `frames`, starting now (a cut group).
    pub fn stop(&mut self, frames: u32) {
        self.stop_at(self.spec.start + self.age, frames);
    }

    /// Fades it out over `frames`, starting at the absolute frame `at` (a crossfade to a
    /// new version of the patch). An earlier fade that is already running wins.
    pub fn stop_at(&mut self, at: u64, frames: u32) {
        let from = at.saturating_sub(self.spec.start);
        if self.fade_step == 0.0 || from < self.fade_from {
            self.fade_step = 1.0 / Ord::max(frames, 1) as f32;
            self.fade_from = from;
        }
    }

    /// Starts it silent and fades it in over `frames` (control side, before sending).
    pub fn fade_in(&mut self, frames: u32) {
        if frames > 0 {
            self.fade_in = 0.0;
            self.fade_in_step = 1.0 / frames as f32;
        }
    }

    /// Starts it `frames` into its note (control side, before sending): the envelope
    /// and the note's length continue from there, as if it had started that much earlier.
    /// If `run_source` is set, the source and filters are run through those frames too
    /// (so oscillators are in the phase they would have had: a crossfade between two
    /// versions of the same note then neither cancels nor beats).
    pub fn skip(&mut self, frames: u64, run_source: bool) {
        self.spec.env.skip(frames);
        self.spec.length = self.spec.length.saturating_sub(frames);
        if !run_source {
            return;
        }
        let lanes = self.channels * SIMD_LEN;
        let mut left = frames;
        while left > 0 {
            let n = Ord::min(left, BLOCK as u64) as usize;
            match &mut self.spec.source {
                Source::Unit(unit) => {
                    unit.process(n, &BufferRef::empty(), &mut BufferMut::new(&mut self.buf[..lanes]));
                }
                Source::Sample(player) => {
                    let (mut l, mut r) = ([0.0f32; BLOCK], [0.0f32; BLOCK]);
                    player.render(&mut l[..n], &mut r[..n]);
                }
            }
            for filter in &mut self.spec.filters {
                filter.process(n, &BufferRef::new(&self.buf[..lanes]), &mut BufferMut::new(&mut self.tmp[..lanes]));
                std::mem::swap(&mut self.buf, &mut self.tmp);
            }
            left -= n as u64;
        }
    }

    /// Renders the next `left.len()` (at most [`BLOCK`]) frames into `left` and `right`,
    /// overwriting them. Never allocates.
    pub fn render(&mut self, left: &mut [f32], right: &mut [f32]) {
        let n = left.len();
        debug_assert!(n <= BLOCK && right.len() == n);
        if self.done {
            left.fill(0.0);
            right.fill(0.0);
            return;
        }
        let ch = self.channels;
        let lanes = ch * SIMD_LEN;
        match &mut self.spec.source {
            Source::Unit(unit) => {
                unit.process(n, &BufferRef::empty(), &mut BufferMut::new(&mut self.buf[..lanes]));
            }
            Source::Sample(player) => {
                player.render(left, right);
                let mut out = BufferMut::new(&mut self.buf[..lanes]);
                out.channel_f32_mut(0)[..n].copy_from_slice(left);
                if ch == 2 {
                    out.channel_f32_mut(1)[..n].copy_from_slice(right);
                }
            }
        }
        for filter in &mut self.spec.filters {
            filter.process(n, &BufferRef::new(&self.buf[..lanes]), &mut BufferMut::new(&mut self.tmp[..lanes]));
            std::mem::swap(&mut self.buf, &mut self.tmp);
        }
        let input = BufferRef::new(&self.buf[..lanes]);
        let (x0, x1) = (input.channel_f32(0), input.channel_f32(ch - 1));
        let mut env = [0.0f32; BLOCK];
        let env = &mut env[..n];
        self.spec.env.fill(env);
        if self.fade_in_step > 0.0 {
            for e in env.iter_mut() {
                self.fade_in = (self.fade_in + self.fade_in_step).min(1.0);
                *e *= self.fade_in;
            }
            if self.fade_in >= 1.0 {
                self.fade_in_step = 0.0;
            }
        }
        if self.fade_step > 0.0 {
            let skip = Ord::min(self.fade_from.saturating_sub(self.age), n as u64) as usize;
            for e in env[skip..].iter_mut() {
                self.fade = (self.fade - self.fade_step).max(0.0);
                *e *= self.fade;
            }
        }
        let amp = self.spec.amp;
        let [g0, g1] = self.gains;
        let shaping = self.spec.shaping;
        if shaping == Shaping::default() {
            for i in 0..n {
                let e = env[i] * amp;
                left[i] = x0[i] * e * g0;
                right[i] = x1[i] * e * g1;
            }
        } else {
            let Shaping { crush, coarse, shape, distort } = shaping;
            for i in 0..n {
                let mut s = [x0[i], x1[i]];
                if coarse > 1 {
                    if self.hold_count == 0 {
                        self.hold = s;
                    }
                    self.hold_count = (self.hold_count + 1) % coarse;
                    s = self.hold;
                }
                for x in &mut s {
                    if crush > 0.0 {
                        *x = (*x * crush).round() / crush;
                    }
                    if shape > 0.0 {
                        *x = (1.0 + shape) * *x / (1.0 + shape * x.abs());
                    }
                    if distort > 0.0 {
                        *x = (*x * (1.0 + distort)).tanh() / (1.0 + distort).tanh();
                    }
                }
                let e = env[i] * amp;
                left[i] = s[0] * e * g0;
                right[i] = s[1] * e * g1;
            }
        }
        let check: f32 = left.iter().chain(right.iter()).sum();
        self.loudness = left.iter().chain(right.iter()).fold(0.0, |m, x| m.max(x.abs()));
        self.age += n as u64;
        if !check.is_finite() || !self.loudness.is_finite() {
            self.blew_up = true;
            self.done = true;
            left.fill(0.0);
            right.fill(0.0);
            return;
        }
        if self.spec.env.done() || self.age >= self.spec.length || (self.fade_step > 0.0 && self.fade == 0.0) {
            self.done = true;
        }
    }
}

// The audio thread receives voices; they must be sendable.
const _: () = {
    const fn sendable<T: Send>() {}
    sendable::<Box<Voice>>();
};
