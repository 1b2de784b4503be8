//! A live session: the `play` command. Compiles the patch files, opens the output (a
//! cpal device or the null output), watches the files and swaps each good save in, and
//! reports what happens as [`Event`]s.
//!
//! Threads: the audio thread runs the [`AudioCallback`]; the watcher thread reads and
//! compiles each save; the control thread (the caller of [`play`]) schedules voices a
//! few milliseconds ahead, applies reloads, reopens a failed stream and reports.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::audio::DeviceOptions;
use crate::dsp::samples::SampleLibrary;
use crate::engine::scheduler::{DEFAULT_FADE, Swap};
use crate::limits::Limits;
use crate::patch::Quantize;
use crate::script::ScriptError;
use crate::vet::Isolation;

mod control;
mod view;

pub use view::{
    BEATS_PER_CYCLE, Command, FileView, Health, Meters, MidiView, Problem, ProblemKind, Snapshot, Step, TrackKey,
    TrackView, Transport,
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
    /// Also write every good version of every file to this folder.
    pub history: Option<PathBuf>,
    /// MIDI out: a virtual port, clock ports, the offset against the audio.
    pub midi: crate::midi::MidiOptions,
    /// MIDI inputs whose knobs scripts read with `cc()`.
    pub midi_in: Vec<String>,
    /// Follow the MIDI clock of this input (tempo, start, stop, position).
    pub clock_in: Option<String>,
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
            history: None,
            midi: crate::midi::MidiOptions::default(),
            midi_in: Vec::new(),
            clock_in: None,
        }
    }
}

/// Default scheduling headroom past one buffer.
pub const DEFAULT_LOOKAHEAD: f64 = 0.020;
/// Buffer of the null output when none is asked for.
pub const NULL_BUFFER: u32 = 256;
/// Sample rate of the null output when none is asked for.
pub const NULL_SAMPLE_RATE: u32 = 48000;

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
        /// The version now playing, counted from 1 (every good version is kept).
        version: usize,
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
    /// A command was applied (paused, muted, tempo...): what it did.
    Steered(String),
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
            Event::Reloaded { file, version, compile, saved_at, live_at, cycle, swap } => {
                write!(f, "reloaded {} (v{version}): compiled and checked in {:.1} ms", file.display(), ms(*compile))?;
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
            Event::Steered(what) => f.write_str(what),
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
                control::run(opts, flag, command_rx, s, |event| {
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
