//! A live session: the `play` command. Compiles the patch files, opens the output (a
//! cpal device or the null output), watches the files and swaps each good save in, and
//! reports what happens as [`Event`]s.
//!
//! Threads: the audio thread runs the [`AudioCallback`]; the watcher thread reads and
//! compiles each save; the control thread (the caller of [`play`]) schedules voices a
//! few milliseconds ahead, applies reloads, reopens a failed stream and reports.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::audio::callback::Loan;
use crate::audio::device::{self, Chosen, DeviceOutput};
use crate::audio::{AudioCallback, AudioStatus, CallbackSlot, DeviceOptions, NullOutput, Recorder};
use crate::dsp::mixer;
use crate::dsp::samples::SampleLibrary;
use crate::engine::scheduler::{DEFAULT_FADE, Scheduler, Swap};
use crate::engine::{Clock, Live};
use crate::limits::Limits;
use crate::patch::{Patch, Quantize};
use crate::pattern::Rational;
use crate::script::ScriptError;
use crate::vet::Isolation;

mod view;

pub use view::{
    BEATS_PER_CYCLE, Command, FileView, Health, Meters, Problem, ProblemKind, Snapshot, Step, TrackKey, TrackView,
    Transport,
};

/// Where the sound goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputKind {
    /// A cpal device.
    Device,
    /// Nowhere, at the same pace.
    Null,
}

/// Everything `play` needs to know.
#[derive(Clone, Debug)]
pub struct PlayOptions {
    /// The patch files, one layer each.
    pub files: Vec<PathBuf>,
    /// Device or null output.
    pub output: OutputKind,
    /// Device, buffer and sample rate requests.
    pub device: DeviceOptions,
    /// Crossfade between versions, in seconds.
    pub fade: f64,
    /// Reload quantisation (a script's own `quantize` wins).
    pub quantize: Option<Quantize>,
    /// Record what is played to this WAV file.
    pub record: Option<PathBuf>,
    /// Stop after this many seconds.
    pub duration: Option<f64>,
    /// Sample folders.
    pub samples: SampleLibrary,
    /// Extra scheduling headroom past one buffer, in seconds.
    pub lookahead: f64,
    /// The budgets of checking and playing.
    pub limits: Limits,
    /// Where new versions are checked before they go live.
    pub isolation: Isolation,
}

impl PlayOptions {
    /// Defaults for some files: the default device, 50 ms crossfade, no quantisation.
    pub fn new(files: Vec<PathBuf>) -> PlayOptions {
        PlayOptions {
            files,
            output: OutputKind::Device,
            device: DeviceOptions::default(),
            fade: DEFAULT_FADE,
            quantize: None,
            record: None,
            duration: None,
            samples: SampleLibrary::default(),
            lookahead: DEFAULT_LOOKAHEAD,
            limits: Limits::default(),
            isolation: Isolation::InProcess,
        }
    }
}

/// Default scheduling headroom past one buffer.
pub const DEFAULT_LOOKAHEAD: f64 = 0.020;
/// How far past one buffer ahead of the audio thread a reload takes effect: time for
/// its commands to reach the audio side before the callback gets there.
const REACT: Duration = Duration::from_millis(2);
/// Buffer of the null output when none is asked for.
pub const NULL_BUFFER: u32 = 256;
/// Sample rate of the null output when none is asked for.
pub const NULL_SAMPLE_RATE: u32 = 48000;
/// How often the control thread wakes.
const TICK: Duration = Duration::from_millis(1);
/// How often a status event is sent.
const STATUS_EVERY: Duration = Duration::from_millis(100);
/// A device that has not asked for audio for this long has failed.
const STALL: Duration = Duration::from_millis(500);
/// Longest wait between attempts to reopen a failed stream.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// What happened, in order. `Display` gives the log line.
#[derive(Clone, Debug)]
pub enum Event {
    /// Playback started.
    Started {
        /// Output description.
        output: String,
        /// Sample rate.
        sample_rate: u32,
        /// Files playing.
        files: Vec<PathBuf>,
        /// Where the recording goes.
        recording: Option<PathBuf>,
    },
    /// A save was swapped in.
    Reloaded {
        /// The file.
        file: PathBuf,
        /// Time to compile it and check its next cycles.
        compile: Duration,
        /// When the save was seen.
        saved_at: Instant,
        /// When its first crossfaded frame was rendered (if known).
        live_at: Option<Instant>,
        /// The cycle it took over at.
        cycle: f64,
        /// What the swap did.
        swap: Swap,
    },
    /// A save did not compile or failed its check; nothing changed.
    ScriptError(ScriptError),
    /// The version playing raised an error (its track was silent for that moment);
    /// reported once per version, repeats counted.
    PlayError(ScriptError),
    /// A file did not compile when playback started; it is silent until a good save.
    NotStarted(ScriptError),
    /// A warning (an unknown sound, a skipped event...).
    Warning(String),
    /// Something was dropped or late on the way to the speakers.
    Trouble {
        /// What.
        what: &'static str,
        /// How many more since the last report.
        new: u64,
        /// How many in all.
        total: u64,
    },
    /// The stream failed; reopening.
    StreamLost(String),
    /// The stream is back.
    StreamReopened(String),
    /// Periodic transport status.
    Status {
        /// Cycle position.
        cycle: f64,
        /// Tempo.
        cps: f64,
        /// Voices sounding.
        voices: u32,
        /// Peak level since the last status.
        peak: f32,
    },
    /// Playback stopped.
    Stopped {
        /// Seconds played.
        seconds: f64,
        /// The recording, its seconds.
        recorded: Option<(PathBuf, f64)>,
    },
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Started { output, sample_rate, files, recording } => {
                let names: Vec<_> = files.iter().map(|p| p.display().to_string()).collect();
                write!(f, "playing {} on {output} at {sample_rate} Hz", names.join(", "))?;
                match recording {
                    Some(path) => write!(f, ", recording to {}", path.display()),
                    None => Ok(()),
                }
            }
            Event::Reloaded { file, compile, saved_at, live_at, cycle, swap } => {
                write!(f, "reloaded {}: compiled and checked in {:.1} ms", file.display(), ms(*compile))?;
                if let Some(t) = live_at {
                    write!(f, ", live {:.1} ms after the save", ms(t.saturating_duration_since(*saved_at)))?;
                }
                write!(f, ", at cycle {cycle:.3} (frame {})", swap.frame)?;
                let Swap { faded, kept, started, .. } = swap;
                write!(f, " ({faded} held notes crossfaded, {kept} kept, {started} started)")
            }
            Event::ScriptError(e) => write!(f, "{e} (the last good version keeps playing)"),
            Event::PlayError(e) => write!(f, "{e} (while playing: that track is silent where it fails)"),
            Event::NotStarted(e) => write!(f, "{e} (this file stays silent until a save compiles)"),
            Event::Warning(w) => write!(f, "warning: {w}"),
            Event::Trouble { what, new, total } => write!(f, "{what}: {new} (total {total})"),
            Event::StreamLost(why) => write!(f, "audio stream lost: {why}; reopening"),
            Event::StreamReopened(out) => write!(f, "audio stream reopened on {out}"),
            Event::Status { cycle, cps, voices, peak } => {
                let db = 20.0 * peak.max(1e-9).log10();
                write!(f, "cycle {cycle:8.2}  {:5.1} bpm  {voices:3} voices  peak {db:6.1} dB", cps * 240.0)
            }
            Event::Stopped { seconds, recorded } => {
                write!(f, "stopped after {seconds:.1} s")?;
                if let Some((path, s)) = recorded {
                    write!(f, "; recorded {s:.1} s to {}", path.display())?;
                }
                Ok(())
            }
        }
    }
}

/// Cycles ahead whose sample banks are loaded before a version goes live.
const PRELOAD_CYCLES: i64 = 8;

/// Decodes every sample bank a patch plays in the next cycles, so that no note waits on
/// the disk.
fn preload(patch: &Patch, samples: &SampleLibrary, from: Rational) {
    for sound in crate::engine::check::sounds_used(patch, from, PRELOAD_CYCLES) {
        samples.preload(&sound);
    }
}

/// Reads a patch file as text, with one clear message for each way that can fail.
fn read_source(path: &Path) -> std::result::Result<String, ScriptError> {
    let fail = |message: String| ScriptError { path: Some(path.to_path_buf()), line: 0, column: 0, message };
    let meta = std::fs::metadata(path).map_err(|e| fail(format!("cannot read: {e}")))?;
    if meta.is_dir() {
        return Err(fail("is a folder, not a patch file".into()));
    }
    if meta.len() > crate::limits::MAX_SOURCE_BYTES as u64 {
        return Err(fail(format!("is {} bytes, too large for a patch", meta.len())));
    }
    let bytes = std::fs::read(path).map_err(|e| fail(format!("cannot read: {e}")))?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(fail("is empty (to silence a file on purpose, save hush())".into()));
    }
    String::from_utf8(bytes)
        .map_err(|e| fail(format!("is not UTF-8 text (invalid byte at offset {})", e.utf8_error().valid_up_to())))
}

/// Starts the thread that checks and compiles saves, newest first: of several saves
/// of one file waiting, only the last is compiled.
fn spawn_compiler(
    saves: mpsc::Receiver<crate::watch::Saved>,
    tx: mpsc::Sender<Compiled>,
    opts: &PlayOptions,
    position: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
) -> Result<()> {
    let paths = opts.files.clone();
    let samples = opts.samples.clone();
    let limits = opts.limits;
    let isolation = opts.isolation.clone();
    std::thread::Builder::new().name("rhaithm-compile".into()).stack_size(crate::vet::BIG_STACK).spawn(move || {
        while let Ok(first) = saves.recv() {
            let mut waiting = vec![first];
            waiting.extend(saves.try_iter());
            let newest: Vec<_> = waiting
                .iter()
                .enumerate()
                .filter(|(i, s)| !waiting[i + 1..].iter().any(|later| later.file == s.file))
                .map(|(_, s)| s)
                .collect();
            for saved in newest {
                let started = Instant::now();
                let path = &paths[saved.file];
                let cycle = f64::from_bits(position.load(Ordering::Relaxed));
                let from = Rational::from_f64(cycle.floor()).unwrap_or(Rational::ZERO);
                let result = crate::vet::compile_untrusted(&isolation, &saved.text, path, from, &limits, &stop);
                if let Ok(p) = &result {
                    // Decoding the samples of the next cycles here keeps the disk off the
                    // control thread.
                    let _ = crate::pattern::budget::catch_quiet(|| preload(p, &samples, from));
                }
                let compile = started.elapsed();
                if tx.send(Compiled { file: saved.file, result, saved_at: saved.at, compile }).is_err() {
                    return;
                }
            }
        }
    })?;
    Ok(())
}

/// An empty patch (plays nothing), for a file whose first version does not compile.
fn silent() -> Patch {
    Patch::compile("", None).expect("an empty script compiles")
}

/// A compiled save, from the watcher thread.
struct Compiled {
    file: usize,
    result: std::result::Result<Patch, ScriptError>,
    saved_at: Instant,
    compile: Duration,
}

enum Output {
    Device(DeviceOutput),
    Null(NullOutput),
}

impl Output {
    fn failure(&self) -> Option<&'static str> {
        match self {
            Output::Device(d) => d.errors.failure(),
            Output::Null(_) => None,
        }
    }
}

fn describe(out: &Output) -> String {
    match out {
        Output::Device(d) => format!("\"{}\" ({} ch, {})", d.name, d.channels, d.format),
        Output::Null(n) => format!("the null output (buffer {} frames)", n.buffer),
    }
}

fn open(
    kind: OutputKind,
    chosen: Option<&Chosen>,
    opts: &DeviceOptions,
    cb: Box<AudioCallback>,
    slot: &Arc<CallbackSlot>,
    sample_rate: u32,
) -> Result<Output> {
    let loan = Loan::new(cb, slot.clone());
    Ok(match (kind, chosen) {
        (OutputKind::Device, Some(chosen)) => Output::Device(device::open(chosen, opts, loan)?),
        _ => Output::Null(NullOutput::start(loan, sample_rate, opts.buffer.unwrap_or(NULL_BUFFER))?),
    })
}

/// The advice given when there is no usable audio device.
pub const NO_DEVICE_HINT: &str = "no usable audio device; run with --output null to play without sound \
     (the same timing, for MIDI-only sets and machines without audio), or see `rhaithm devices`";

/// A running live session, steered by [`Command`]s: it plays on its own threads, hands
/// out what happened as [`Event`]s and its state as a [`Snapshot`]. The headless log
/// ([`play`]) and the terminal UI are two front ends of it.
pub struct Session {
    commands: mpsc::Sender<Command>,
    events: mpsc::Receiver<Event>,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<Result<()>>>,
}

/// What the control thread publishes for front ends.
#[derive(Default)]
struct Shared {
    snapshot: std::sync::Mutex<Snapshot>,
}

impl Session {
    /// Starts playing: compiles and checks the files, opens the output and returns once
    /// the music has started (or with the reason it could not start: no such file, no
    /// audio device...). Events from the start on (files that did not compile, then
    /// [`Event::Started`]) are waiting in [`Session::events`].
    pub fn start(opts: PlayOptions) -> Result<Session> {
        Session::start_with_stop(opts, Arc::new(AtomicBool::new(false)))
    }

    /// As [`Session::start`], also stopping when `stop` is set (by a signal handler, say).
    pub fn start_with_stop(opts: PlayOptions, stop: Arc<AtomicBool>) -> Result<Session> {
        let (commands, command_rx) = mpsc::channel();
        let (event_tx, events) = mpsc::channel();
        let (ready_tx, ready) = mpsc::channel::<()>();
        let shared = Arc::new(Shared::default());
        let (s, flag) = (shared.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("rhaithm-control".into())
            .stack_size(crate::vet::BIG_STACK)
            .spawn(move || {
                run(opts, flag, command_rx, s, |event| {
                    if matches!(event, Event::Started { .. }) {
                        let _ = ready_tx.send(());
                    }
                    let _ = event_tx.send(event.clone());
                })
            })?;
        let mut session = Session { commands, events, shared, stop, thread: Some(thread) };
        if ready.recv().is_err() {
            // The thread ended before the music started: its error says why.
            return Err(session.join().err().unwrap_or_else(|| anyhow::anyhow!("the session ended before it started")));
        }
        Ok(session)
    }

    /// Asks the session to do something (applied within a few milliseconds).
    pub fn send(&self, command: Command) {
        if command == Command::Quit {
            self.stop.store(true, Ordering::Relaxed);
        }
        let _ = self.commands.send(command);
    }

    /// What happened, in order.
    pub fn events(&self) -> &mpsc::Receiver<Event> {
        &self.events
    }

    /// The state now (a copy; cheap enough to take 60 times a second).
    pub fn snapshot(&self) -> Snapshot {
        self.shared.snapshot.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// True once the session has stopped (quit, the duration ran out, or a failure).
    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(|t| t.is_finished())
    }

    /// Stops the session (if it is still playing) and waits for it: the recording is
    /// finished and [`Event::Stopped`] sent. Returns why it failed, if it did.
    pub fn finish(mut self) -> Result<()> {
        self.stop.store(true, Ordering::Relaxed);
        self.join()
    }

    fn join(&mut self) -> Result<()> {
        match self.thread.take().map(|t| t.join()) {
            Some(Ok(result)) => result,
            Some(Err(panic)) => {
                bail!("the session stopped on an internal error: {}", crate::pattern::budget::panic_message(&*panic))
            }
            None => Ok(()),
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.join();
    }
}

/// Plays until `stop` is set or the duration is over, sending each event to `on_event`
/// (the headless front end).
pub fn play(opts: PlayOptions, stop: Arc<AtomicBool>, mut on_event: impl FnMut(&Event)) -> Result<()> {
    let session = Session::start_with_stop(opts, stop)?;
    loop {
        match session.events().recv_timeout(Duration::from_millis(50)) {
            Ok(event) => on_event(&event),
            Err(mpsc::RecvTimeoutError::Timeout) if !session.is_finished() => {}
            Err(_) => break,
        }
    }
    while let Ok(event) = session.events().try_recv() {
        on_event(&event);
    }
    session.finish()
}

/// The control loop: plays until `stop` is set or the duration is over.
fn run(
    opts: PlayOptions,
    stop: Arc<AtomicBool>,
    _commands: mpsc::Receiver<Command>,
    _shared: Arc<Shared>,
    mut on_event: impl FnMut(&Event),
) -> Result<()> {
    if opts.files.is_empty() {
        bail!("no patch file to play");
    }
    for f in &opts.files {
        if !f.is_file() {
            bail!("{}: no such file", f.display());
        }
    }
    let chosen = match opts.output {
        OutputKind::Device => {
            Some(device::choose(&opts.device).map_err(|e| anyhow::anyhow!("{e:#}\n{NO_DEVICE_HINT}"))?)
        }
        OutputKind::Null => None,
    };
    let sample_rate = chosen.as_ref().map_or(opts.device.sample_rate.unwrap_or(NULL_SAMPLE_RATE), Chosen::sample_rate);

    // Watching starts first, so that no save made while the first versions are checked
    // is missed. Saves are read on the watcher's thread and checked and compiled on a worker of
    // their own (in a checker process first, see `vet`), so that neither the control
    // loop nor the watcher ever waits for a script.
    let (tx, rx) = mpsc::channel::<Compiled>();
    let (to_worker, saves) = mpsc::channel::<crate::watch::Saved>();
    // The cycle playing now (f64 bits), so that a new version's samples are loaded
    // before it goes live.
    let position = Arc::new(AtomicU64::new(0f64.to_bits()));
    spawn_compiler(saves, tx.clone(), &opts, position.clone(), stop.clone())?;
    let paths = opts.files.clone();
    let _watcher = crate::watch::watch(&opts.files, move |event| match event {
        crate::watch::WatchEvent::Saved(saved) => {
            let _ = to_worker.send(saved);
        }
        crate::watch::WatchEvent::Problem(p) => {
            let message = p.detail();
            let path = paths.get(p.file).cloned().unwrap_or(p.path);
            let error = ScriptError { path: Some(path), line: 0, column: 0, message };
            let _ = tx.send(Compiled { file: p.file, result: Err(error), saved_at: p.at, compile: Duration::ZERO });
        }
    })?;

    // The first versions, checked like every later one.
    let mut current: Vec<Patch> = Vec::new();
    for f in &opts.files {
        let loaded = read_source(f).and_then(|text| {
            crate::vet::compile_untrusted(&opts.isolation, &text, f, Rational::ZERO, &opts.limits, &stop)
        });
        match loaded {
            Ok(p) => current.push(p),
            Err(e) => {
                on_event(&Event::NotStarted(e));
                current.push(silent());
            }
        }
    }
    for p in &current {
        preload(p, &opts.samples, Rational::ZERO);
    }
    // The control thread never decodes a file: what the checked cycles did not load
    // is loaded in the background.
    let mut scheduler = Scheduler::empty(sample_rate, opts.samples.background());
    scheduler.set_limits(opts.limits);
    scheduler.set_fade((opts.fade.max(0.0) * sample_rate as f64).round() as u32);
    for (f, p) in opts.files.iter().zip(&current) {
        scheduler.add_layer(&f.display().to_string(), p, 0);
    }

    // The audio side.
    let (handle, mixer) = mixer(opts.limits.mixer(sample_rate as f64));
    let status = AudioStatus::new();
    let (recorder, producer) = match &opts.record {
        Some(path) => {
            let (r, p) = Recorder::start(&unused_path(path), sample_rate)?;
            (Some(r), Some(p))
        }
        None => (None, None),
    };
    let mut callback = Box::new(AudioCallback::new(mixer, producer, status.clone()));
    callback.guard_overload(true);
    let slot = Arc::new(CallbackSlot::default());
    let stats = handle.stats().clone();
    let lookahead_extra = (opts.lookahead.max(0.0) * sample_rate as f64).round() as u64;
    let mut live = Live::new(scheduler, handle, opts.device.buffer.unwrap_or(NULL_BUFFER) as u64 + lookahead_extra);
    // The first window is queued before the output starts pulling.
    live.tick(0);
    let mut output =
        Some(open(opts.output, chosen.as_ref(), &opts.device, callback, &slot, sample_rate).map_err(|e| {
            if opts.output == OutputKind::Device { anyhow::anyhow!("{e:#}\n{NO_DEVICE_HINT}") } else { e }
        })?);
    on_event(&Event::Started {
        output: describe(output.as_ref().expect("just opened")),
        sample_rate,
        files: opts.files.clone(),
        recording: recorder.as_ref().map(|r| r.path().to_path_buf()),
    });

    let began = Instant::now();
    let react = (REACT.as_secs_f64() * sample_rate as f64).round() as u64;
    // Reloads staged and waiting for their swap: (layer, compile time, saved at).
    let mut staged: Vec<Option<(Duration, Instant)>> = vec![None; opts.files.len()];
    // Swaps waiting for the time their first frame was rendered.
    let mut timing: Vec<(Swap, Duration, Instant, f64)> = Vec::new();
    let mut reported = Troubles::default();
    // Per layer: the error its version raised while playing, and how often since.
    let mut repeats: Vec<Option<(ScriptError, u64)>> = vec![None; opts.files.len()];
    let mut last_status = Instant::now();
    let mut backoff = Duration::from_millis(100);
    let mut retry_at: Option<Instant> = None;
    // The last time the output asked for audio, to notice a stream that stopped
    // without saying so.
    let mut heard = (status.callbacks.load(Ordering::Relaxed), Instant::now());
    while !stop.load(Ordering::Relaxed) && opts.duration.is_none_or(|d| began.elapsed().as_secs_f64() < d) {
        // A failed stream is dropped (its callback comes back to the slot) and reopened.
        let callbacks = status.callbacks.load(Ordering::Relaxed);
        if callbacks != heard.0 || output.is_none() {
            heard = (callbacks, Instant::now());
        }
        let silent_for = heard.1.elapsed();
        let failure = output.as_ref().and_then(Output::failure).map(str::to_string).or_else(|| {
            (matches!(output, Some(Output::Device(_))) && silent_for > STALL)
                .then(|| format!("the device stopped asking for audio {:.0} ms ago", ms(silent_for)))
        });
        if let Some(why) = failure {
            output = None;
            on_event(&Event::StreamLost(why));
            retry_at = Some(Instant::now());
        }
        if output.is_none() && retry_at.is_some_and(|t| Instant::now() >= t) {
            // A dropped stream hands its callback back (see `Loan`); without it the
            // session cannot go on, and stops (the recording is finished on the way out).
            let Some(cb) = slot.take() else { bail!("the audio stream did not hand back its state") };
            let reopened = match device::choose(&opts.device) {
                Ok(c) => open(opts.output, Some(&c), &opts.device, cb, &slot, sample_rate),
                Err(e) => {
                    slot.put(cb);
                    Err(e)
                }
            };
            match reopened {
                Ok(o) => {
                    on_event(&Event::StreamReopened(describe(&o)));
                    output = Some(o);
                    retry_at = None;
                    backoff = Duration::from_millis(100);
                }
                Err(_) => {
                    retry_at = Some(Instant::now() + backoff);
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }

        let buffer = status.buffer_frames.load(Ordering::Relaxed) as u64;
        let buffer = if buffer == 0 { opts.device.buffer.unwrap_or(NULL_BUFFER) as u64 } else { buffer };
        live.set_lookahead(buffer + lookahead_extra, buffer + react);
        let now = stats.frames.load(Ordering::Relaxed);
        position.store(live.scheduler().clock().cycle_at(now).to_f64().to_bits(), Ordering::Relaxed);
        if output.is_some() {
            // A bug while scheduling costs a moment of this window, never the session.
            let swaps = match crate::pattern::budget::catch_quiet(|| live.tick(now)) {
                Ok(swaps) => swaps,
                Err(why) => {
                    on_event(&Event::Warning(format!("{why} (while scheduling; playing on)")));
                    Vec::new()
                }
            };
            for swap in swaps {
                let (compile, saved_at) = staged[swap.layer].take().unwrap_or((Duration::ZERO, Instant::now()));
                let cycle = live.scheduler().clock().cycle_at(swap.frame).to_f64();
                if timing.is_empty() {
                    status.watch(swap.frame);
                }
                timing.push((swap, compile, saved_at, cycle));
            }
        }
        if let Some(first) = timing.first().map(|t| t.0.frame)
            && let Some(at) = status.watched()
        {
            for (swap, compile, saved_at, cycle) in timing.drain(..) {
                let offset = Duration::from_secs_f64(swap.frame.saturating_sub(first) as f64 / sample_rate as f64);
                let file = opts.files[swap.layer].clone();
                on_event(&Event::Reloaded { file, compile, saved_at, live_at: Some(at + offset), cycle, swap });
            }
            status.watch(u64::MAX);
        }

        while let Ok(c) = rx.try_recv() {
            match c.result {
                Ok(patch) => {
                    if let Some((e, n)) = repeats[c.file].take()
                        && n > 0
                    {
                        on_event(&Event::Warning(format!("{e}: happened {} more times before this save", n)));
                    }
                    let q = patch.quantize.or(opts.quantize).unwrap_or(Quantize::None);
                    current[c.file] = patch.clone();
                    let frame = stats.frames.load(Ordering::Relaxed);
                    if let Err(why) = crate::pattern::budget::catch_quiet(|| live.reload(c.file, patch, q, frame)) {
                        on_event(&Event::Warning(format!("{why} (while swapping in a new version; playing on)")));
                    }
                    staged[c.file] = Some((c.compile, c.saved_at));
                }
                Err(e) => on_event(&Event::ScriptError(e)),
            }
        }
        for (layer, p) in current.iter().enumerate() {
            if let Some(e) = p.take_query_error() {
                // Reported once per version; repeats are counted.
                match &mut repeats[layer] {
                    Some((seen, n)) if *seen == e => *n += 1,
                    slot => {
                        on_event(&Event::PlayError(e.clone()));
                        *slot = Some((e, 0));
                    }
                }
            }
        }
        for w in live.scheduler_mut().take_warnings() {
            on_event(&Event::Warning(w));
        }
        reported.report(&live, &stats, &status, &mut on_event);

        if last_status.elapsed() >= STATUS_EVERY {
            last_status = Instant::now();
            let clock: &Clock = live.scheduler().clock();
            on_event(&Event::Status {
                cycle: clock.cycle_at(now).to_f64(),
                cps: clock.cps(),
                voices: stats.voices.load(Ordering::Relaxed),
                peak: stats.take_peak(),
            });
        }
        std::thread::sleep(TICK);
    }

    // Stop the audio first, so the recording holds everything that was played.
    drop(output);
    // Whatever the once-a-second limit held back.
    reported.when = [None; 10];
    reported.report(&live, &stats, &status, &mut on_event);
    drop(slot.take());
    let seconds = stats.frames.load(Ordering::Relaxed) as f64 / sample_rate as f64;
    let recorded = match recorder {
        Some(r) => {
            let path = r.path().to_path_buf();
            let frames = r.finish()?;
            Some((path, frames as f64 / sample_rate as f64))
        }
        None => None,
    };
    on_event(&Event::Stopped { seconds, recorded });
    Ok(())
}

/// Counters already reported.
#[derive(Default)]
struct Troubles {
    seen: [u64; 10],
    /// When each counter was last reported: a counter that keeps rising is reported at
    /// most once a second, with what it gained since.
    when: [Option<Instant>; 10],
}

impl Troubles {
    fn report(
        &mut self,
        live: &Live,
        stats: &crate::dsp::MixerStats,
        status: &AudioStatus,
        on_event: &mut impl FnMut(&Event),
    ) {
        let c = live.counters();
        let now = [
            ("underruns", status.underruns.load(Ordering::Relaxed)),
            ("voices started late", stats.late.load(Ordering::Relaxed)),
            ("voices dropped (all voice slots busy)", stats.dropped.load(Ordering::Relaxed)),
            ("voices shed (the audio thread was running out of time)", stats.shed.load(Ordering::Relaxed)),
            ("voices dropped (queue full)", c.unsent_voices + c.unsent_commands),
            ("voices silenced (NaN or infinity)", stats.blown_up.load(Ordering::Relaxed)),
            ("recorded samples dropped (disk too slow)", status.record_dropped.load(Ordering::Relaxed)),
            ("frames skipped after a stall", c.skipped_frames),
            ("voices stolen (voice limit reached)", stats.stolen.load(Ordering::Relaxed)),
            ("events skipped (too many notes per track)", live.scheduler().skipped_events()),
        ];
        for (i, (what, total)) in now.into_iter().enumerate() {
            let due = self.when[i].is_none_or(|t| t.elapsed() >= Duration::from_secs(1));
            if total > self.seen[i] && due {
                on_event(&Event::Trouble { what, new: total - self.seen[i], total });
                self.seen[i] = total;
                self.when[i] = Some(Instant::now());
            }
        }
    }
}

/// `path` if nothing is there, else the first of `name-2.ext`, `name-3.ext`... that is
/// free: a recording never overwrites a file.
pub fn unused_path(path: &Path) -> PathBuf {
    if !path.exists() {
        return path.to_path_buf();
    }
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let ext = path.extension().map(|e| format!(".{}", e.to_string_lossy())).unwrap_or_default();
    (2..).map(|n| path.with_file_name(format!("{stem}-{n}{ext}"))).find(|p| !p.exists()).expect("some name is free")
}

/// The starter patch `new` and a bare `play` write.
pub const STARTER: &str = include_str!("../../patches/start.rhai");

/// The file a bare `play` uses.
pub const STARTER_FILE: &str = "start.rhai";

/// Writes the starter patch to `path` (adding `.rhai` if it has no extension). Never
/// overwrites: an existing file is an error.
pub fn write_starter(path: &Path) -> Result<PathBuf> {
    let path = if path.extension().is_none() { path.with_extension("rhai") } else { path.to_path_buf() };
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).open(&path).with_context(|| {
        if path.exists() {
            format!(
                "{} already exists (rhaithm never overwrites a file; play it with `rhaithm play {}`)",
                path.display(),
                path.display()
            )
        } else {
            format!("creating {}", path.display())
        }
    })?;
    use std::io::Write;
    file.write_all(STARTER.as_bytes()).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}
