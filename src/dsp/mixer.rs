//! The audio-side processor and its control-side handle, made as a pair by [`mixer`].
//!
//! The handle sends voices (each with its start frame) through a fixed-capacity
//! lock-free queue, in any order; the mixer keeps them in a fixed-capacity heap by start
//! frame (so a reload can add voices earlier than some already queued), starts each at
//! its exact frame, renders it into its orbit,
//! runs the orbits' effects and the master bus, and sends finished voices back through a
//! second queue so that they are freed on the control side. Counters for everything it
//! had to drop or fix are shared through atomics. `Mixer::process` never allocates,
//! frees, locks or blocks.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use rtrb::{Consumer, Producer, RingBuffer};

use super::master::Master;
use super::orbit::Orbit;
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
}

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

/// Capacities, set up front.
#[derive(Clone, Copy, Debug)]
pub struct MixerConfig {
    /// Output sample rate.
    pub sample_rate: f64,
    /// Most voices sounding at once.
    pub max_voices: usize,
    /// Number of orbits (effect buses).
    pub orbits: usize,
    /// Voices that can wait in the queue.
    pub queue: usize,
}

impl MixerConfig {
    /// Defaults for a sample rate: 256 voices, 12 orbits (as SuperDirt), 4096 queued.
    pub fn new(sample_rate: f64) -> MixerConfig {
        MixerConfig { sample_rate, max_voices: 256, orbits: 12, queue: 4096 }
    }
}

/// Counters the audio side updates and anyone may read.
#[derive(Debug, Default)]
pub struct MixerStats {
    /// Frames rendered so far.
    pub frames: AtomicU64,
    /// Voices sounding now.
    pub voices: AtomicU32,
    /// Voices started.
    pub started: AtomicU64,
    /// Voices dropped because all voice slots were busy.
    pub dropped: AtomicU64,
    /// Voices that arrived after their start frame (started late).
    pub late: AtomicU64,
    /// Voices silenced because they produced NaN or infinity.
    pub blown_up: AtomicU64,
    /// Frames the master had to silence because of a non-finite value.
    pub non_finite: AtomicU64,
    /// Frames in which the limiter reduced gain.
    pub limited: AtomicU64,
    /// Finished voices that could not be handed back (leaked rather than freed here).
    pub leaked: AtomicU64,
    /// Peak output level (f32 bits), reset by whoever reads it.
    pub peak: AtomicU32,
    /// Commands that could not be kept (too many fades waiting for their voices).
    pub commands_dropped: AtomicU64,
}

impl MixerStats {
    /// Reads and resets the peak level.
    pub fn take_peak(&self) -> f32 {
        f32::from_bits(self.peak.swap(0, Ordering::Relaxed))
    }
}

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
    max_voices: usize,
    orbits: Vec<Orbit>,
    master: Master,
    bus: [[f32; BLOCK]; 2],
    scratch: [[f32; BLOCK]; 2],
    frame: u64,
    stats: Arc<MixerStats>,
}

/// Makes a connected handle and mixer.
pub fn mixer(config: MixerConfig) -> (MixerHandle, Mixer) {
    let (vp, vc) = RingBuffer::new(config.queue);
    // Every voice can come back even if the control side is slow to collect.
    let (fp, fc) = RingBuffer::new(2 * config.queue + config.max_voices);
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
        voices: Vec::with_capacity(config.max_voices),
        max_voices: config.max_voices,
        orbits: (0..config.orbits.max(1)).map(|_| Orbit::new(config.sample_rate)).collect(),
        master: Master::new(config.sample_rate),
        bus: [[0.0; BLOCK]; 2],
        scratch: [[0.0; BLOCK]; 2],
        frame: 0,
        stats,
    };
    (handle, mixer)
}

/// Frames a cut voice takes to fade out.
const CUT_FADE: u32 = 240;

impl Mixer {
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
        self.stats.peak.fetch_max(self.master.peak.to_bits(), Ordering::Relaxed);
        self.master.peak = 0.0;
        self.stats.non_finite.store(self.master.counts.non_finite, Ordering::Relaxed);
        self.stats.limited.store(self.master.counts.limited, Ordering::Relaxed);
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
            if voice.start() < self.frame {
                self.stats.late.fetch_add(1, Ordering::Relaxed);
            }
            if self.voices.len() >= self.max_voices {
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
            self.voices.push(voice);
        }
    }

    fn block(&mut self, n: usize, out: &mut [f32]) {
        let end = self.frame + n as u64;
        self.run_commands();
        self.admit(end);
        let orbit_count = self.orbits.len();
        let mut i = 0;
        while i < self.voices.len() {
            let voice = &mut self.voices[i];
            let offset = voice.start().saturating_sub(self.frame) as usize;
            let [sl, sr] = &mut self.scratch;
            voice.render(&mut sl[..n - offset], &mut sr[..n - offset]);
            let (room, delay) = voice.sends();
            let orbit = &mut self.orbits[voice.orbit() % orbit_count];
            for c in 0..2 {
                let src = &self.scratch[c][..n - offset];
                let dry = &mut orbit.dry[c][offset..n];
                for (d, s) in dry.iter_mut().zip(src) {
                    *d += s;
                }
                if room > 0.0 {
                    for (d, s) in orbit.reverb_in[c][offset..n].iter_mut().zip(src) {
                        *d += s * room;
                    }
                }
                if delay > 0.0 {
                    for (d, s) in orbit.delay_in[c][offset..n].iter_mut().zip(src) {
                        *d += s * delay;
                    }
                }
            }
            if voice.done() {
                if voice.blew_up() {
                    self.stats.blown_up.fetch_add(1, Ordering::Relaxed);
                }
                let v = self.voices.swap_remove(i);
                self.retire(v);
            } else {
                i += 1;
            }
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
        self.frame = end;
    }
}
