//! The audio-side processor and its control-side handle, made as a pair by [`mixer`].
//!
//! The handle sends voices (each with its start frame) through a fixed-capacity
//! lock-free queue, in any order; the mixer keeps them in a fixed-capacity heap by start
//! frame (so a reload can add voices earlier than some already queued), starts each at
//! its exact frame, renders it, limits each track's sum on its own ([`super::track`]),
//! mixes the voices into their orbits, runs the orbits' effects and the master bus, and
//! sends finished voices back through a second queue so that they are freed on the
//! control side. Counters for everything it had to drop or fix are shared through
//! atomics. `Mixer::process` never allocates, frees, locks or blocks.
//!
//! Voices are capped overall ([`MixerConfig::max_voices`]) and per track
//! ([`MixerConfig::max_voices_per_track`]). A voice that finds its cap reached is not
//! refused: it *steals* a slot. The victim is taken from the voice's own track when that
//! track is at its cap, else from the track holding the most voices (so a track that
//! floods the engine gives up its own voices before a modest track loses any). Within
//! that track the victim is the oldest voice that is practically silent (its last block
//! under -60 dBFS: a long release tail, a stalled sample), or, if none is, the oldest.
//! The stolen voice fades out over [`STEAL_FADE`] seconds (no click) and is counted in
//! [`MixerStats::stolen`].

use std::sync::Arc;
use std::sync::atomic::Ordering;

use rtrb::{Consumer, Producer, RingBuffer};

mod config;

pub use config::{MixerConfig, MixerStats, TRACK_CEILING};

use super::master::Master;
use super::orbit::Orbit;
use super::track::Tracks;
use super::voice::{BLOCK, Voice};

/// A message from the control side, applied at the start of the next block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    /// Fade the voice numbered `id` out over `frames`, from the absolute frame `at`.
    Fade {
        /// The voice.
        id: u64,
        /// First frame of the fade.
        at: u64,
        /// Length of the fade.
        frames: u32,
    },
    /// Never start the voice numbered `id` (sent but not started yet; it starts before
    /// frame `until`).
    Cancel {
        /// The voice.
        id: u64,
        /// A frame after its start, when the order can be forgotten.
        until: u64,
    },
    /// Fade out every voice numbered below `below` (every voice sent before this
    /// command) over `frames` from the absolute frame `at`, and never start those of them
    /// that start at or after `at` (pause, panic).
    Silence {
        /// First frame of the fade.
        at: u64,
        /// Length of the fade.
        frames: u32,
        /// Voices numbered below this are silenced.
        below: u64,
    },
    /// Mute or unmute a track stage: its gain (dry and sends) ramps to 0 or 1 over
    /// [`MUTE_FADE`] seconds, so that its sounding notes fade and its new notes are
    /// silent until it is unmuted.
    Mute {
        /// The track id (its stage is the id modulo the number of stages).
        track: u32,
        /// Muted or not.
        muted: bool,
    },
    /// Fade the whole output out (`audible: false`) or back in over [`MASTER_FADE`]
    /// seconds. With `reset`, the fade first goes all the way down and clears every
    /// effect tail (reverb, delay) at the bottom, then goes where `audible` says.
    Master {
        /// Where the output fades to.
        audible: bool,
        /// Clear effect tails once silent.
        reset: bool,
    },
}

/// Seconds a track takes to fade when muted or unmuted.
pub const MUTE_FADE: f64 = 0.010;
/// Seconds the whole output takes to fade out or in (pause, resume, panic).
pub const MASTER_FADE: f64 = 0.010;
/// Silences kept at once (a newer one replaces the oldest past this).
const SILENCES: usize = 8;
/// Seconds a silence is kept: no voice sent before it can start later than this after
/// its frame (voices are scheduled at most a lookahead ahead).
const SILENCE_HORIZON: f64 = 10.0;

/// A voice waiting for its start frame, ordered earliest first (then first sent).
struct Waiting {
    start: u64,
    seq: u64,
    voice: Box<Voice>,
}

impl PartialEq for Waiting {
    fn eq(&self, other: &Waiting) -> bool {
        (self.start, self.seq) == (other.start, other.seq)
    }
}

impl Eq for Waiting {}

impl PartialOrd for Waiting {
    fn partial_cmp(&self, other: &Waiting) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Waiting {
    fn cmp(&self, other: &Waiting) -> std::cmp::Ordering {
        // Reversed: `BinaryHeap` is a max-heap and the earliest start must come first.
        (other.start, other.seq).cmp(&(self.start, self.seq))
    }
}

/// Fades waiting for their voice to arrive from the queue.
const PENDING_FADES: usize = 256;

/// Seconds a stolen voice takes to fade out.
pub const STEAL_FADE: f64 = 0.005;
/// Below this level (-60 dBFS) a voice counts as silent when choosing one to steal.
const QUIET: f32 = 1e-3;

/// The control side.
pub struct MixerHandle {
    voices: Producer<Box<Voice>>,
    commands: Producer<Command>,
    finished: Consumer<Box<Voice>>,
    stats: Arc<MixerStats>,
    /// Voices that could not be queued because the queue was full.
    pub queue_full: u64,
    /// Commands that could not be queued because the queue was full.
    pub commands_full: u64,
}

impl MixerHandle {
    /// Queues a voice (in any order of start frame). On a full queue
    /// the voice is returned (and counted).
    pub fn send(&mut self, voice: Box<Voice>) -> Result<(), Box<Voice>> {
        self.voices.push(voice).map_err(|rtrb::PushError::Full(v)| {
            self.queue_full += 1;
            v
        })
    }

    /// Queues a command; false (and counted) if the queue is full.
    pub fn command(&mut self, command: Command) -> bool {
        let ok = self.commands.push(command).is_ok();
        if !ok {
            self.commands_full += 1;
        }
        ok
    }

    /// Room left in the queue.
    pub fn room(&self) -> usize {
        self.voices.slots()
    }

    /// Frees the voices the audio side has finished with. Call it regularly.
    pub fn collect(&mut self) -> usize {
        let mut n = 0;
        while let Ok(v) = self.finished.pop() {
            drop(v);
            n += 1;
        }
        n
    }

    /// The shared counters.
    pub fn stats(&self) -> &Arc<MixerStats> {
        &self.stats
    }
}

/// The audio side.
pub struct Mixer {
    incoming: Consumer<Box<Voice>>,
    waiting: std::collections::BinaryHeap<Waiting>,
    waiting_capacity: usize,
    seq: u64,
    commands: Consumer<Command>,
    pending_fades: Vec<(u64, u64, u32)>,
    pending_cancels: Vec<(u64, u64)>,
    finished: Producer<Box<Voice>>,
    // Boxed so that taking a voice in or out moves a pointer, not the voice.
    #[allow(clippy::vec_box)]
    voices: Vec<Box<Voice>>,
    /// Room in `voices` (and `rendered`): `max_voices` plus as many for stolen voices
    /// that are fading out.
    slots: usize,
    /// Each voice's output this block, by index in `voices`.
    rendered: Vec<[[f32; BLOCK]; 2]>,
    max_voices: usize,
    max_per_track: usize,
    /// Voices not stolen, overall and per track stage.
    sounding: usize,
    per_track: Vec<usize>,
    tracks: Tracks,
    steal_fade: u32,
    sample_rate: f64,
    orbits: Vec<Orbit>,
    master: Master,
    bus: [[f32; BLOCK]; 2],
    frame: u64,
    stats: Arc<MixerStats>,
    /// Silences in force: (first frame, fade frames, voices numbered below).
    silences: Vec<(u64, u32, u64)>,
    /// The output's fade: gain now, where it goes, the step per frame, and whether it
    /// must reach silence (and clear the effects) first.
    master_gain: f32,
    master_target: f32,
    master_step: f32,
    reset_pending: bool,
}

/// Makes a connected handle and mixer.
pub fn mixer(config: MixerConfig) -> (MixerHandle, Mixer) {
    let (vp, vc) = RingBuffer::new(config.queue);
    // Every voice can come back even if the control side is slow to collect.
    let max_voices = config.max_voices.max(1);
    let slots = 2 * max_voices;
    let (fp, fc) = RingBuffer::new(2 * config.queue + slots);
    let (cp, cc) = RingBuffer::new(config.queue);
    let stats = Arc::new(MixerStats::default());
    let handle =
        MixerHandle { voices: vp, commands: cp, finished: fc, stats: stats.clone(), queue_full: 0, commands_full: 0 };
    let mixer = Mixer {
        incoming: vc,
        waiting: std::collections::BinaryHeap::with_capacity(config.queue),
        waiting_capacity: config.queue,
        seq: 0,
        commands: cc,
        pending_fades: Vec::with_capacity(PENDING_FADES),
        pending_cancels: Vec::with_capacity(PENDING_FADES),
        finished: fp,
        voices: Vec::with_capacity(slots),
        slots,
        rendered: vec![[[0.0; BLOCK]; 2]; slots],
        max_voices,
        max_per_track: config.max_voices_per_track.max(1),
        sounding: 0,
        per_track: vec![0; config.tracks.max(1)],
        tracks: Tracks::new(config.tracks, config.track_ceiling, config.sample_rate),
        steal_fade: (STEAL_FADE * config.sample_rate).round().max(1.0) as u32,
        sample_rate: config.sample_rate,
        orbits: (0..config.orbits.max(1)).map(|_| Orbit::new(config.sample_rate)).collect(),
        master: Master::new(config.sample_rate),
        bus: [[0.0; BLOCK]; 2],
        frame: 0,
        stats,
        silences: Vec::with_capacity(SILENCES),
        master_gain: 1.0,
        master_target: 1.0,
        master_step: (1.0 / (MASTER_FADE * config.sample_rate).max(1.0)) as f32,
        reset_pending: false,
    };
    (handle, mixer)
}

/// Frames a cut voice takes to fade out.
const CUT_FADE: u32 = 240;

impl Mixer {
    /// The output sample rate.
    pub fn sample_rate(&self) -> f64 {
        self.sample_rate
    }

    /// The frame the next call to `process` starts at.
    pub fn frame(&self) -> u64 {
        self.frame
    }

    /// Renders `out.len() / 2` stereo frames, interleaved.
    pub fn process(&mut self, out: &mut [f32]) {
        let frames = out.len() / 2;
        let mut done = 0;
        while done < frames {
            let n = (frames - done).min(BLOCK);
            self.block(n, &mut out[2 * done..2 * (done + n)]);
            done += n;
        }
        self.stats.frames.store(self.frame, Ordering::Relaxed);
        self.stats.voices.store(self.voices.len() as u32, Ordering::Relaxed);
        for (count, n) in self.stats.track_voices.iter().zip(&self.per_track) {
            count.store(*n as u32, Ordering::Relaxed);
        }
        self.stats.peak.fetch_max(self.master.peak.to_bits(), Ordering::Relaxed);
        self.master.peak = 0.0;
        self.stats.non_finite.store(self.master.counts.non_finite, Ordering::Relaxed);
        self.stats.limited.store(self.master.counts.limited, Ordering::Relaxed);
        self.stats.track_limited.store(self.tracks.limited, Ordering::Relaxed);
    }

    /// The voice to steal for a voice of track stage `slot`: from that stage if it is at
    /// its cap, else from the stage holding the most voices; there, the oldest practically
    /// silent voice, else the oldest.
    fn victim(&self, slot: usize) -> Option<usize> {
        let from = if self.per_track[slot] >= self.max_per_track {
            slot
        } else {
            (0..self.per_track.len()).max_by_key(|&t| (self.per_track[t], t == slot))?
        };
        self.voices
            .iter()
            .enumerate()
            .filter(|(_, v)| !v.stolen() && self.tracks.slot(v.track()) == from)
            .min_by_key(|(i, v)| (v.loudness() >= QUIET, v.start(), *i))
            .map(|(i, _)| i)
    }

    /// Fades out up to `n` voices (from the track holding the most, oldest and quietest
    /// first), when the audio thread runs out of time; returns how many.
    pub fn shed(&mut self, n: usize) -> usize {
        let mut shed = 0;
        while shed < n {
            let Some(slot) = (0..self.per_track.len()).max_by_key(|&t| self.per_track[t]) else { break };
            if self.per_track[slot] == 0 {
                break;
            }
            let Some(i) = self.victim(slot) else { break };
            self.fade_out(i);
            shed += 1;
        }
        self.stats.shed.fetch_add(shed as u64, Ordering::Relaxed);
        shed
    }

    /// Voices sounding (not being stolen).
    pub fn sounding(&self) -> usize {
        self.sounding
    }

    /// Makes room for a voice of track stage `slot` if a cap is reached; false if it
    /// cannot be started (every slot busy, stolen voices included).
    fn make_room(&mut self, slot: usize) -> bool {
        while self.sounding >= self.max_voices || self.per_track[slot] >= self.max_per_track {
            let Some(i) = self.victim(slot) else { return false };
            self.fade_out(i);
            self.stats.stolen.fetch_add(1, Ordering::Relaxed);
        }
        self.voices.len() < self.slots
    }

    /// Fades voice `i` out over the steal fade; it no longer counts as sounding.
    fn fade_out(&mut self, i: usize) {
        let fade = self.steal_fade;
        let v = &mut self.voices[i];
        v.steal(fade);
        let t = self.tracks.slot(v.track());
        self.per_track[t] -= 1;
        self.sounding -= 1;
    }

    fn retire(&mut self, voice: Box<Voice>) {
        if let Err(rtrb::PushError::Full(v)) = self.finished.push(voice) {
            // Never free here: leak it and say so (the queue is sized so this cannot
            // happen unless the control side stops collecting).
            self.stats.leaked.fetch_add(1, Ordering::Relaxed);
            std::mem::forget(v);
        }
    }

    fn run_commands(&mut self) {
        while let Ok(command) = self.commands.pop() {
            match command {
                Command::Fade { id, at, frames } => {
                    if let Some(v) = self.voices.iter_mut().find(|v| v.id() == id) {
                        v.stop_at(at, frames);
                    } else if self.pending_fades.len() < self.pending_fades.capacity() {
                        self.pending_fades.push((id, at, frames));
                    } else {
                        self.stats.commands_dropped.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Command::Silence { at, frames, below } => {
                    // Never from a frame already played: that would start the fade midway.
                    let at = at.max(self.frame);
                    for v in self.voices.iter_mut().filter(|v| v.id() < below) {
                        v.stop_at(at, frames);
                    }
                    if self.silences.len() == SILENCES {
                        self.silences.remove(0);
                    }
                    self.silences.push((at, frames, below));
                }
                Command::Mute { track, muted } => {
                    let slot = self.tracks.slot(track as usize);
                    self.tracks.set_muted(slot, muted);
                }
                Command::Master { audible, reset } => {
                    self.master_target = if audible { 1.0 } else { 0.0 };
                    self.reset_pending |= reset;
                }
                Command::Cancel { id, until } => {
                    if let Some(v) = self.voices.iter_mut().find(|v| v.id() == id) {
                        // Too late to cancel: it started, so it stops quickly instead.
                        v.stop(CUT_FADE);
                    } else if self.pending_cancels.len() < self.pending_cancels.capacity() {
                        self.pending_cancels.push((id, until));
                    } else {
                        self.stats.commands_dropped.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }
        // A fade whose voice never came (it had already finished) is forgotten.
        let now = self.frame;
        self.pending_fades.retain(|&(_, at, frames)| at + frames as u64 >= now);
        self.pending_cancels.retain(|&(_, until)| until >= now);
        let horizon = (SILENCE_HORIZON * self.sample_rate) as u64;
        self.silences.retain(|&(at, _, _)| at + horizon >= now);
    }

    /// Applies the silences in force to a voice about to start; false if it must not
    /// start at all.
    fn survives_silences(&self, voice: &mut Voice) -> bool {
        for &(at, frames, below) in &self.silences {
            if voice.id() < below {
                if voice.start() >= at {
                    return false;
                }
                voice.stop_at(at, frames);
            }
        }
        true
    }

    /// Moves queued voices into the heap (as far as it has room).
    fn take_incoming(&mut self) {
        while self.waiting.len() < self.waiting_capacity {
            let Ok(voice) = self.incoming.pop() else { break };
            self.seq += 1;
            self.waiting.push(Waiting { start: voice.start(), seq: self.seq, voice });
        }
    }

    fn admit(&mut self, end: u64) {
        self.take_incoming();
        while self.waiting.peek().is_some_and(|w| w.start < end) {
            let Some(Waiting { mut voice, .. }) = self.waiting.pop() else { break };
            if let Some(i) = self.pending_cancels.iter().position(|c| c.0 == voice.id() && voice.id() != 0) {
                self.pending_cancels.swap_remove(i);
                self.retire(voice);
                continue;
            }
            if let Some(i) = self.pending_fades.iter().position(|f| f.0 == voice.id() && voice.id() != 0) {
                let (_, at, frames) = self.pending_fades.swap_remove(i);
                voice.stop_at(at, frames);
            }
            if !self.survives_silences(&mut voice) {
                self.retire(voice);
                continue;
            }
            if voice.start() < self.frame {
                self.stats.late.fetch_add(1, Ordering::Relaxed);
            }
            let slot = self.tracks.slot(voice.track());
            if !self.make_room(slot) {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                self.retire(voice);
                continue;
            }
            let orbit = voice.orbit() % self.orbits.len();
            if let Some(cut) = voice.cut() {
                for v in self.voices.iter_mut() {
                    if v.cut() == Some(cut) && v.orbit() % self.orbits.len() == orbit {
                        v.stop(CUT_FADE);
                    }
                }
            }
            let (room, delay) = voice.sends();
            let o = &mut self.orbits[orbit];
            o.apply(&voice.orbit_settings());
            o.wake(room > 0.0, delay > 0.0);
            self.stats.started.fetch_add(1, Ordering::Relaxed);
            self.sounding += 1;
            self.per_track[slot] += 1;
            self.voices.push(voice);
        }
    }

    /// Applies the output fade to `n` interleaved frames (pause, resume, panic).
    fn fade_output(&mut self, n: usize, out: &mut [f32]) {
        let target = if self.reset_pending { 0.0 } else { self.master_target };
        if self.master_gain == target && target == 1.0 {
            return;
        }
        let step = self.master_step;
        // After the effects are cleared, the rest of this block (rendered with their
        // tails) stays silent: the output comes back from the next block.
        let mut cleared = false;
        for frame in out[..2 * n].chunks_exact_mut(2) {
            let mut target = if self.reset_pending || cleared { 0.0 } else { self.master_target };
            if self.reset_pending && self.master_gain == 0.0 {
                // Silent: the tails can go without a click.
                for orbit in self.orbits.iter_mut() {
                    orbit.reset();
                }
                self.master.reset();
                self.reset_pending = false;
                cleared = true;
                target = 0.0;
            }
            let g = &mut self.master_gain;
            *g = if *g < target { (*g + step).min(target) } else { (*g - step).max(target) };
            frame[0] *= *g;
            frame[1] *= *g;
        }
    }

    fn block(&mut self, n: usize, out: &mut [f32]) {
        let end = self.frame + n as u64;
        self.run_commands();
        self.admit(end);
        // Render every voice and sum each track on its stage.
        for (voice, rendered) in self.voices.iter_mut().zip(self.rendered.iter_mut()) {
            let offset = voice.start().saturating_sub(self.frame) as usize;
            let [l, r] = &mut *rendered;
            voice.render(&mut l[offset..n], &mut r[offset..n]);
            self.tracks.add(self.tracks.slot(voice.track()), rendered, offset, n);
        }
        self.tracks.run(n);
        // Mix them into their orbits through their track's gain.
        let orbit_count = self.orbits.len();
        for (voice, rendered) in self.voices.iter_mut().zip(self.rendered.iter()) {
            let slot = self.tracks.slot(voice.track());
            if self.tracks.blown(slot) {
                voice.silence();
                continue;
            }
            let offset = voice.start().saturating_sub(self.frame) as usize;
            let gain = &self.tracks.gain(slot)[offset..n];
            let (room, delay) = voice.sends();
            let orbit = &mut self.orbits[voice.orbit() % orbit_count];
            for (c, src) in rendered.iter().enumerate() {
                let src = &src[offset..n];
                let dry = &mut orbit.dry[c][offset..n];
                for ((d, s), g) in dry.iter_mut().zip(src).zip(gain) {
                    *d += s * g;
                }
                if room > 0.0 {
                    for ((d, s), g) in orbit.reverb_in[c][offset..n].iter_mut().zip(src).zip(gain) {
                        *d += s * g * room;
                    }
                }
                if delay > 0.0 {
                    for ((d, s), g) in orbit.delay_in[c][offset..n].iter_mut().zip(src).zip(gain) {
                        *d += s * g * delay;
                    }
                }
            }
        }
        // Hand finished voices back.
        let mut i = 0;
        while i < self.voices.len() {
            if !self.voices[i].done() {
                i += 1;
                continue;
            }
            let v = self.voices.swap_remove(i);
            if v.blew_up() {
                self.stats.blown_up.fetch_add(1, Ordering::Relaxed);
            }
            if !v.stolen() {
                self.sounding -= 1;
                self.per_track[self.tracks.slot(v.track())] -= 1;
            }
            self.retire(v);
        }
        for c in 0..2 {
            self.bus[c][..n].fill(0.0);
        }
        for orbit in self.orbits.iter_mut() {
            orbit.process(n, &mut self.bus);
        }
        // A blown-up effect (non-finite bus) is cleared so it does not stay stuck.
        if !self.bus.iter().all(|c| c[..n].iter().sum::<f32>().is_finite()) {
            for orbit in self.orbits.iter_mut() {
                orbit.reset();
            }
        }
        self.master.process(&self.bus, n, out);
        self.fade_output(n, out);
        self.frame = end;
    }
}
