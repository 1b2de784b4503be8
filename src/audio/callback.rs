//! The real-time callback: renders the mixer into whatever buffer and format the output
//! asks for, tees the mix to the recorder, and publishes timing and counters.

use std::sync::Arc;
use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, Ordering};
use std::time::Instant;

use rtrb::Producer;

use crate::dsp::Mixer;

/// Counters and timing the callback publishes (read by anyone).
#[derive(Debug)]
pub struct AudioStatus {
    base: Instant,
    /// Callbacks run.
    pub callbacks: AtomicU64,
    /// Frames in the largest buffer seen.
    pub buffer_frames: AtomicU32,
    /// Output underruns (reported by the device, or a late null-output tick).
    pub underruns: AtomicU64,
    /// Recorded samples dropped because the writer thread fell behind.
    pub record_dropped: AtomicU64,
    /// A frame to time (`u64::MAX` = none): the callback that renders it stores the time
    /// into `watch_ns`.
    pub watch_frame: AtomicU64,
    /// Nanoseconds since `base` at the start of the callback that rendered `watch_frame`.
    pub watch_ns: AtomicU64,
    /// Time the last callback took, in thousandths of its buffer's duration.
    pub load_permille: AtomicU32,
    /// The highest load since a reader last took it (see [`AudioStatus::take_load_max`]).
    pub load_max_permille: AtomicU32,
    /// Output latency reported by the device: from the callback to the speaker, in ns.
    pub latency_ns: AtomicU64,
    /// The first frame of the last callback, and when it started (ns since `base`):
    /// with the latency, where the listener is now (see [`AudioStatus::heard_frame`]).
    pub callback_frame: AtomicU64,
    /// See `callback_frame`.
    pub callback_ns: AtomicU64,
    /// Output levels and the oscilloscope's tap.
    pub meter: Meter,
}

/// Samples the oscilloscope tap keeps (about 85 ms at 48 kHz).
pub const SCOPE_LEN: usize = 4096;
/// Frames over which the RMS level is measured (about 43 ms at 48 kHz).
const RMS_WINDOW: u32 = 2048;

/// Output levels and the last output samples, written by the audio thread with plain
/// atomic stores (never a lock or an allocation) and read by anyone. A slow reader
/// misses samples; the audio thread never waits for it.
#[derive(Debug)]
pub struct Meter {
    /// Highest |sample| per channel since a reader last took it (f32 bits).
    pub peak: [AtomicU32; 2],
    /// RMS per channel over the last complete window (f32 bits).
    pub rms: [AtomicU32; 2],
    /// The output as mono, a ring of [`SCOPE_LEN`] samples (f32 bits).
    scope: [AtomicU32; SCOPE_LEN],
    /// Samples written into the ring so far.
    written: AtomicU64,
}

impl Default for Meter {
    fn default() -> Meter {
        Meter {
            peak: [AtomicU32::new(0), AtomicU32::new(0)],
            rms: [AtomicU32::new(0), AtomicU32::new(0)],
            scope: std::array::from_fn(|_| AtomicU32::new(0)),
            written: AtomicU64::new(0),
        }
    }
}

impl Meter {
    /// Reads and resets the peak of each channel.
    pub fn take_peak(&self) -> [f32; 2] {
        [0, 1].map(|c| f32::from_bits(self.peak[c].swap(0, Ordering::Relaxed)))
    }

    /// The RMS level of each channel over the last window.
    pub fn rms(&self) -> [f32; 2] {
        [0, 1].map(|c| f32::from_bits(self.rms[c].load(Ordering::Relaxed)))
    }

    /// Copies the latest `out.len()` output samples (at most [`SCOPE_LEN`]), oldest first.
    pub fn scope(&self, out: &mut Vec<f32>, len: usize) {
        let len = len.min(SCOPE_LEN);
        let end = self.written.load(Ordering::Acquire);
        let start = end.saturating_sub(len as u64);
        out.clear();
        out.extend(
            (start..end).map(|i| f32::from_bits(self.scope[(i % SCOPE_LEN as u64) as usize].load(Ordering::Relaxed))),
        );
    }
}

impl AudioStatus {
    /// Fresh counters, timed from now.
    pub fn new() -> Arc<AudioStatus> {
        Arc::new(AudioStatus {
            base: Instant::now(),
            callbacks: AtomicU64::new(0),
            buffer_frames: AtomicU32::new(0),
            underruns: AtomicU64::new(0),
            record_dropped: AtomicU64::new(0),
            watch_frame: AtomicU64::new(u64::MAX),
            watch_ns: AtomicU64::new(0),
            load_permille: AtomicU32::new(0),
            load_max_permille: AtomicU32::new(0),
            latency_ns: AtomicU64::new(0),
            callback_frame: AtomicU64::new(0),
            callback_ns: AtomicU64::new(0),
            meter: Meter::default(),
        })
    }

    /// The last callback's start (ns since `base`) and first frame, read as a pair (a
    /// callback between the two reads is noticed and the pair read again).
    fn last_callback(&self) -> Option<(u64, u64)> {
        for _ in 0..4 {
            let ns = self.callback_ns.load(Ordering::Acquire);
            let frame = self.callback_frame.load(Ordering::Acquire);
            if ns == 0 {
                return None;
            }
            if self.callback_ns.load(Ordering::Acquire) == ns {
                return Some((ns, frame));
            }
        }
        None
    }

    /// Reads and resets the highest callback load (a share of the buffer's duration).
    pub fn take_load_max(&self) -> f64 {
        self.load_max_permille.swap(0, Ordering::Relaxed) as f64 / 1000.0
    }

    /// When `frame` is heard: the inverse of [`AudioStatus::heard_frame`] (`None` before
    /// the first callback).
    pub fn instant_of(&self, frame: u64, sample_rate: u32) -> Option<Instant> {
        let (ns, from) = self.last_callback()?;
        let from = from as f64;
        let latency = self.latency_ns.load(Ordering::Relaxed) as f64;
        let at = ns as f64 + latency + (frame as f64 - from) / sample_rate as f64 * 1e9;
        Some(self.base + std::time::Duration::from_nanos(at.max(0.0) as u64))
    }

    /// The frame the listener hears at `now`: the last callback's first frame, plus the
    /// time since it started, minus the output latency (`None` before the first callback).
    pub fn heard_frame(&self, now: Instant, sample_rate: u32) -> Option<u64> {
        let (ns, frame) = self.last_callback()?;
        let frame = frame as f64;
        let since = now.saturating_duration_since(self.base).as_nanos() as f64 - ns as f64;
        let latency = self.latency_ns.load(Ordering::Relaxed) as f64;
        Some((frame + (since - latency) * 1e-9 * sample_rate as f64).max(0.0) as u64)
    }

    /// Asks for the time at which `frame` is rendered (`u64::MAX`: nothing to watch).
    pub fn watch(&self, frame: u64) {
        self.watch_frame.store(u64::MAX, Ordering::Release);
        self.watch_ns.store(0, Ordering::Release);
        self.watch_frame.store(frame, Ordering::Release);
    }

    /// When the watched frame was rendered, once it has been.
    pub fn watched(&self) -> Option<Instant> {
        match self.watch_ns.load(Ordering::Acquire) {
            0 => None,
            ns => Some(self.base + std::time::Duration::from_nanos(ns)),
        }
    }

    fn now_ns(&self) -> u64 {
        (self.base.elapsed().as_nanos() as u64).max(1)
    }
}

/// Frames rendered per step inside a callback (any buffer size is split into these).
const CHUNK: usize = 1024;

/// The audio side: the mixer, a scratch buffer and the recorder's queue.
pub struct AudioCallback {
    mixer: Mixer,
    scratch: Box<[f32; 2 * CHUNK]>,
    record: Option<Producer<f32>>,
    status: Arc<AudioStatus>,
    /// Callbacks in a row that took more than [`OVERLOAD`] of their buffer's time.
    overloaded: u32,
    /// The RMS window being summed: squares per channel and frames.
    squares: [f32; 2],
    counted: u32,
    /// Whether overloaded callbacks shed voices (in real time only: a test driving the
    /// callback faster or slower than real time measures nothing meaningful).
    guard: bool,
}

/// Share of a buffer's duration past which a callback is overloaded: the next
/// overloaded callback in a row sheds voices (an eighth of them), so that too much DSP
/// at once (a heavy instrument on many long notes) thins the sound instead of breaking it.
pub const OVERLOAD: f64 = 0.85;

impl AudioCallback {
    /// Wraps a mixer; `record` receives every rendered stereo sample.
    pub fn new(mixer: Mixer, record: Option<Producer<f32>>, status: Arc<AudioStatus>) -> AudioCallback {
        AudioCallback {
            mixer,
            scratch: Box::new([0.0; 2 * CHUNK]),
            record,
            status,
            overloaded: 0,
            guard: false,
            squares: [0.0; 2],
            counted: 0,
        }
    }

    /// The frame the next callback starts at.
    pub fn frame(&self) -> u64 {
        self.mixer.frame()
    }

    /// The shared status.
    pub fn status(&self) -> &Arc<AudioStatus> {
        &self.status
    }

    /// Sheds voices when callbacks run out of time (see [`OVERLOAD`]); for outputs that
    /// call back in real time.
    pub fn guard_overload(&mut self, on: bool) {
        self.guard = on;
        self.overloaded = 0;
    }

    /// Fills an interleaved buffer of `channels` channels: left and right go to the
    /// first two, a mono device gets their average, further channels are silent.
    /// Never allocates, frees, locks or blocks.
    pub fn render<T: cpal::SizedSample + cpal::FromSample<f32>>(&mut self, out: &mut [T], channels: usize) {
        let channels = channels.max(1);
        let frames = out.len() / channels;
        let status = &*self.status;
        status.callbacks.fetch_add(1, Ordering::Relaxed);
        status.buffer_frames.fetch_max(frames as u32, Ordering::Relaxed);
        let start = self.mixer.frame();
        status.callback_frame.store(start, Ordering::Relaxed);
        status.callback_ns.store(status.now_ns(), Ordering::Release);
        // The first callback that renders the watched frame (or any later one, if the
        // frame was already late) stamps the time once.
        let watch = status.watch_frame.load(Ordering::Acquire);
        if watch < start + frames as u64 && status.watch_ns.load(Ordering::Relaxed) == 0 {
            status.watch_ns.store(status.now_ns(), Ordering::Release);
        }
        fundsp::denormal::prevent_denormals();
        let began = Instant::now();
        let mut done = 0;
        while done < frames {
            let n = (frames - done).min(CHUNK);
            let mix = &mut self.scratch[..2 * n];
            self.mixer.process(mix);
            if let Some(record) = &mut self.record
                && record.push_entire_slice(mix).is_err()
            {
                status.record_dropped.fetch_add(mix.len() as u64, Ordering::Relaxed);
            }
            let dest = &mut out[done * channels..(done + n) * channels];
            let silent = T::from_sample(0.0f32);
            for (frame, lr) in dest.chunks_exact_mut(channels).zip(mix.chunks_exact(2)) {
                if channels == 1 {
                    frame[0] = T::from_sample(0.5 * (lr[0] + lr[1]));
                } else {
                    frame[0] = T::from_sample(lr[0]);
                    frame[1] = T::from_sample(lr[1]);
                    for x in &mut frame[2..] {
                        *x = silent;
                    }
                }
            }
            measure(&status.meter, &self.scratch[..2 * n], &mut self.squares, &mut self.counted);
            done += n;
        }
        // How much of the buffer's time this took (a vDSO clock read: no system call).
        let period = frames as f64 / self.mixer.sample_rate();
        let load = began.elapsed().as_secs_f64() / period.max(1e-9);
        let permille = (load * 1000.0).min(u32::MAX as f64) as u32;
        status.load_permille.store(permille, Ordering::Relaxed);
        status.load_max_permille.fetch_max(permille, Ordering::Relaxed);
        if self.guard && load > OVERLOAD {
            self.overloaded += 1;
            if self.overloaded >= 2 {
                let n = self.mixer.sounding().div_ceil(8);
                self.mixer.shed(n);
            }
        } else {
            self.overloaded = 0;
        }
    }
}

/// Feeds the meters and the oscilloscope tap with interleaved stereo frames (atomic
/// stores only); `squares` and `counted` are the RMS window being summed.
fn measure(meter: &Meter, mix: &[f32], squares: &mut [f32; 2], counted: &mut u32) {
    let mut peak = [0.0f32; 2];
    let mut written = meter.written.load(Ordering::Relaxed);
    for lr in mix.chunks_exact(2) {
        for c in 0..2 {
            peak[c] = peak[c].max(lr[c].abs());
            squares[c] += lr[c] * lr[c];
        }
        let slot = (written % SCOPE_LEN as u64) as usize;
        meter.scope[slot].store((0.5 * (lr[0] + lr[1])).to_bits(), Ordering::Relaxed);
        written += 1;
        *counted += 1;
        if *counted == RMS_WINDOW {
            for (rms, sum) in meter.rms.iter().zip(squares.iter()) {
                rms.store((sum / RMS_WINDOW as f32).sqrt().to_bits(), Ordering::Relaxed);
            }
            *squares = [0.0; 2];
            *counted = 0;
        }
    }
    meter.written.store(written, Ordering::Release);
    for (c, p) in peak.into_iter().enumerate() {
        // Non-negative floats order as their bits do.
        meter.peak[c].fetch_max(p.to_bits(), Ordering::Relaxed);
    }
}

/// Where a callback goes back to when the output that ran it is dropped (so that a
/// reopened stream continues with the same voices, effect tails and clock).
#[derive(Default)]
pub struct CallbackSlot(AtomicPtr<AudioCallback>);

impl CallbackSlot {
    /// Puts a callback into the slot (dropping any that was there).
    pub fn put(&self, cb: Box<AudioCallback>) {
        let old = self.0.swap(Box::into_raw(cb), Ordering::AcqRel);
        if !old.is_null() {
            // SAFETY: every pointer in the slot came from `Box::into_raw` and is taken once.
            drop(unsafe { Box::from_raw(old) });
        }
    }

    /// Takes the callback out, if one is there.
    pub fn take(&self) -> Option<Box<AudioCallback>> {
        let p = self.0.swap(std::ptr::null_mut(), Ordering::AcqRel);
        // SAFETY: as in `put`; the swap makes this the only owner.
        (!p.is_null()).then(|| unsafe { Box::from_raw(p) })
    }
}

impl Drop for CallbackSlot {
    fn drop(&mut self) {
        self.take();
    }
}

/// A callback on loan to an output: when the output drops it, it returns to its slot.
pub struct Loan {
    cb: Option<Box<AudioCallback>>,
    slot: Arc<CallbackSlot>,
}

impl Loan {
    /// Lends a callback out; it goes back into `slot` when the loan is dropped.
    pub fn new(cb: Box<AudioCallback>, slot: Arc<CallbackSlot>) -> Loan {
        Loan { cb: Some(cb), slot }
    }

    /// The callback.
    pub fn get(&mut self) -> &mut AudioCallback {
        self.cb.as_mut().expect("a loan holds its callback until dropped")
    }
}

impl Drop for Loan {
    fn drop(&mut self) {
        if let Some(cb) = self.cb.take() {
            self.slot.put(cb);
        }
    }
}
