//! The control thread of a live session: compiles the first versions, opens the output,
//! then every millisecond schedules voices a few milliseconds ahead, applies reloads
//! and commands, reopens a failed stream, reports events and publishes a snapshot.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Result, bail};

use super::{
    Command, Event, FileView, Health, Meters, MidiView, NO_DEVICE_HINT, NULL_BUFFER, NULL_SAMPLE_RATE, OutputKind,
    PlayOptions, Problem, ProblemKind, Shared, Snapshot, Step, TrackKey, TrackView, Transport, ms, unused_path,
};
use crate::audio::callback::Loan;
use crate::audio::device::{self, Chosen, DeviceOutput};
use crate::audio::{AudioCallback, AudioStatus, CallbackSlot, DeviceOptions, NullOutput, Recorder};
use crate::dsp::mixer;
use crate::dsp::samples::SampleLibrary;
use crate::engine::scheduler::{Scheduler, Swap};
use crate::engine::{Clock, Live};
use crate::limits::{MAX_CPS, MIN_CPS};
use crate::patch::{Patch, Quantize};
use crate::pattern::Rational;
use crate::script::ScriptError;

/// How far past one buffer ahead of the audio thread a reload takes effect: time for
/// its commands to reach the audio side before the callback gets there.
const REACT: Duration = Duration::from_millis(2);
/// How often the control thread wakes.
const TICK: Duration = Duration::from_millis(1);
/// How often a status event is sent.
const STATUS_EVERY: Duration = Duration::from_millis(100);
/// How often a snapshot is published.
const SNAPSHOT_EVERY: Duration = Duration::from_millis(15);
/// A device that has not asked for audio for this long has failed.
const STALL: Duration = Duration::from_millis(500);
/// Longest wait between attempts to reopen a failed stream.
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// Output samples in a snapshot's oscilloscope.
const SCOPE_SAMPLES: usize = 2048;
/// Most steps of one track shown per cycle.
const MAX_STEPS: usize = 256;
/// Time the step grids of one snapshot may take to query.
const GRID_TIME: Duration = Duration::from_millis(2);
/// How much a phase nudge bends the tempo while it moves the beat.
const NUDGE_BEND: f64 = 0.04;
/// Longest phase nudge at once, in seconds.
const MAX_NUDGE: f64 = 0.25;
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
                let text = Some(Arc::from(saved.text.as_str()));
                if tx.send(Compiled { file: saved.file, result, text, saved_at: saved.at, compile }).is_err() {
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
    /// The source compiled (none when the file could not be read).
    text: Option<Arc<str>>,
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

/// A good version of a file.
struct Version {
    text: Arc<str>,
    patch: Patch,
}

/// What the session keeps of each patch file.
struct FileState {
    path: PathBuf,
    /// Every good version since the start, oldest first.
    history: Vec<Version>,
    /// The version playing (index into `history`; meaningless while it is empty).
    playing: usize,
    /// The version sent to the scheduler last (its playing errors are read from it).
    current: Patch,
    problem: Option<Problem>,
    /// The error the version playing raised, and how often since it was reported.
    repeats: Option<(ScriptError, u64)>,
    /// A reload staged and waiting for its swap: compile time, when it was saved.
    staged: Option<(Duration, Instant)>,
    /// Counts the versions that took over (for the step grid's cache).
    swaps: u64,
}

/// A track's light: onsets sent and not heard yet, and the last one heard.
#[derive(Default)]
struct Light {
    upcoming: VecDeque<u64>,
    heard: Option<u64>,
}

/// The first line of `text` numbered `line` (1-based).
fn source_line(text: &str, line: usize) -> Option<String> {
    let l = text.lines().nth(line.checked_sub(1)?)?;
    Some(l.chars().take(4000).collect())
}

/// The file name of a path, for messages.
fn name(path: &Path) -> String {
    path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned())
}

/// Writes each good version of each file to a folder (off the control thread).
struct HistoryWriter {
    tx: mpsc::Sender<(PathBuf, usize, Arc<str>, f64)>,
}

impl HistoryWriter {
    fn start(dir: &Path) -> Result<HistoryWriter> {
        std::fs::create_dir_all(dir)
            .map_err(|e| anyhow::anyhow!("cannot create the history folder {}: {e}", dir.display()))?;
        let (tx, rx) = mpsc::channel::<(PathBuf, usize, Arc<str>, f64)>();
        let dir = dir.to_path_buf();
        std::thread::Builder::new().name("rhaithm-history".into()).spawn(move || {
            for (path, version, text, cycle) in rx {
                let stem = path.file_stem().map_or_else(|| "patch".into(), |s| s.to_string_lossy().into_owned());
                let ext = path.extension().map_or_else(|| "rhai".into(), |s| s.to_string_lossy().into_owned());
                let secs = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs());
                let (h, m, s) = (secs / 3600 % 24, secs / 60 % 60, secs % 60);
                let file = format!("{stem}.v{version:03}.{h:02}{m:02}{s:02}.cycle{:.0}.{ext}", cycle.max(0.0));
                // Never overwrite (a history folder reused across sessions keeps both).
                let _ = std::fs::write(unused_path(&dir.join(file)), text.as_bytes());
            }
        })?;
        Ok(HistoryWriter { tx })
    }

    fn write(&self, path: &Path, version: usize, text: &Arc<str>, cycle: f64) {
        let _ = self.tx.send((path.to_path_buf(), version, text.clone(), cycle));
    }
}

/// Everything the control thread holds while playing.
struct Control {
    opts: PlayOptions,
    sample_rate: u32,
    live: Live,
    status: Arc<AudioStatus>,
    stats: Arc<crate::dsp::MixerStats>,
    files: Vec<FileState>,
    mutes: BTreeSet<TrackKey>,
    solos: BTreeSet<TrackKey>,
    /// What the mixer was told, per track id: muted or not.
    told: BTreeMap<usize, bool>,
    lights: HashMap<usize, Light>,
    /// The step grid of each track for a cycle: (cycle, the file's swap count, steps).
    grid: HashMap<TrackKey, (i64, u64, Vec<Step>)>,
    /// A phase nudge in progress: the frame it ends, the tempo to go back to.
    bend: Option<(u64, f64)>,
    history: Option<HistoryWriter>,
    /// Saves waiting for the compiler (a forced reload sends files here).
    to_compiler: mpsc::Sender<crate::watch::Saved>,
    timing: Vec<(Swap, Duration, Instant, f64)>,
    device: String,
    recording: Option<PathBuf>,
    generation: u64,
    last_limited: u64,
    load_max: (f64, Instant),
    scope: Vec<f32>,
    midi: crate::midi::MidiSender,
    midi_in: crate::midi::input::Inputs,
    /// Recent peaks and clips, so that a front end reading less often than snapshots are
    /// published misses no transient.
    recent: VecDeque<(Instant, [f32; 2], bool)>,
    /// The external clock followed, and its tempo once known.
    clock_in: Option<crate::midi::clock_in::ClockIn>,
    follow_cps: Option<f64>,
}

/// Past this phase error (in cycles) the follower jumps to the master's position;
/// below it, it bends the tempo to close the gap within a beat.
const FOLLOW_JUMP: f64 = 0.05;
/// Largest tempo bend the follower uses to catch up.
const FOLLOW_BEND: f64 = 0.03;

/// How long a peak or a clip stays in the snapshots.
const PEAK_HOLD: Duration = Duration::from_millis(60);

impl Control {
    fn now(&self) -> u64 {
        self.stats.frames.load(Ordering::Relaxed)
    }

    fn file_name(&self, file: usize) -> String {
        self.files.get(file).map_or_else(|| format!("file {file}"), |f| name(&f.path))
    }

    fn steered(&self, on_event: &mut impl FnMut(&Event), line: String) {
        on_event(&Event::Steered(line));
    }

    /// Tells the mixer which tracks are heard: muted ones are not, and while any track is
    /// soloed, only soloed ones are.
    fn apply_mutes(&mut self) {
        let mut ids = Vec::new();
        for (layer, f) in self.files.iter().enumerate() {
            for t in &f.current.tracks {
                ids.push((layer, t.name.clone()));
            }
        }
        for (layer, track) in ids {
            self.live.scheduler_mut().track_id(layer, &track);
        }
        let mut id = 0;
        while let Some((layer, track)) = self.live.scheduler().track_key(id) {
            let key = TrackKey { file: layer, name: track.to_string() };
            let muted = !self.audible(&key);
            if self.told.get(&id).copied().unwrap_or(false) != muted && self.live.mute(id, muted) {
                self.told.insert(id, muted);
            }
            id += 1;
        }
    }

    fn audible(&self, key: &TrackKey) -> bool {
        !self.mutes.contains(key) && (self.solos.is_empty() || self.solos.contains(key))
    }

    fn known(&self, key: &TrackKey) -> bool {
        self.files.get(key.file).is_some_and(|f| f.current.tracks.iter().any(|t| t.name == key.name))
    }

    fn track_label(&self, key: &TrackKey) -> String {
        format!("{} of {}", key.name, self.file_name(key.file))
    }

    /// Sets the tempo by hand from as soon as the audio side can take it.
    fn set_cps(&mut self, cps: f64) -> f64 {
        let cps = if cps.is_finite() { cps.clamp(MIN_CPS, MAX_CPS) } else { self.live.scheduler().clock().cps() };
        let now = self.now();
        self.live.steer(now, |clock: &mut Clock, at| clock.set_cps(at, cps));
        self.live.scheduler().clock().cps()
    }

    fn command(&mut self, command: Command, on_event: &mut impl FnMut(&Event)) {
        let now = self.now();
        match command {
            Command::TogglePause => {
                let paused = self.live.paused().is_none();
                self.command(Command::SetPaused(paused), on_event);
            }
            Command::SetPaused(true) if self.live.paused().is_none() => {
                self.end_bend();
                let cycle = self.live.pause(now);
                self.forget_onsets();
                self.steered(on_event, format!("paused at cycle {:.2}", cycle.to_f64()));
            }
            Command::SetPaused(false) if self.live.paused().is_some() => {
                let cycle = self.live.paused().map_or(0.0, |c| c.to_f64());
                self.live.resume(now);
                self.steered(on_event, format!("playing from cycle {cycle:.2}"));
            }
            Command::SetPaused(_) => {}
            Command::SetMute(key, on) => self.mark(key, on, false, on_event),
            Command::ToggleMute(key) => {
                let on = !self.mutes.contains(&key);
                self.command(Command::SetMute(key, on), on_event);
            }
            Command::SetSolo(key, on) => self.mark(key, on, true, on_event),
            Command::ToggleSolo(key) => {
                let on = !self.solos.contains(&key);
                self.command(Command::SetSolo(key, on), on_event);
            }
            Command::UnmuteAll => {
                self.mutes.clear();
                self.solos.clear();
                self.apply_mutes();
                self.steered(on_event, "every track unmuted and unsoloed".into());
            }
            Command::SetCps(cps) if !(cps.is_finite() && cps > 0.0) => {
                self.steered(on_event, format!("no tempo set: {cps} cps is not a tempo (from {MIN_CPS} to {MAX_CPS})"));
            }
            Command::SetCps(cps) => {
                self.bend = None;
                let cps = self.set_cps(cps);
                self.forget_onsets();
                self.steered(on_event, format!("tempo {:.1} bpm ({cps:.4} cps)", cps * 240.0));
            }
            Command::NudgeBpm(bpm) => {
                let cps = self.bend.map_or_else(|| self.live.scheduler().clock().cps(), |b| b.1);
                self.command(Command::SetCps(cps + bpm / 240.0), on_event);
            }
            Command::NudgePhase(seconds) => {
                if !seconds.is_finite() || seconds == 0.0 {
                    return;
                }
                let seconds = seconds.clamp(-MAX_NUDGE, MAX_NUDGE);
                let base = self.bend.map_or_else(|| self.live.scheduler().clock().cps(), |b| b.1);
                // The beat moves by bending the tempo for a moment (as a DJ nudges a
                // record), so that no event is skipped or played twice.
                let lasts = seconds.abs() / NUDGE_BEND;
                let bent = base * (1.0 - NUDGE_BEND * seconds.signum());
                let at = self.live.steer(now, |clock: &mut Clock, at| clock.set_cps(at, bent));
                let until = at + (lasts * self.sample_rate as f64).round() as u64;
                self.bend = Some((until, base));
                self.forget_onsets();
                let way = if seconds > 0.0 { "later" } else { "earlier" };
                self.steered(on_event, format!("beat moved {:.0} ms {way}", seconds.abs() * 1000.0));
            }
            Command::Revert(file) | Command::Newest(file) => {
                let Some(f) = self.files.get(file) else { return };
                let len = f.history.len();
                if len == 0 {
                    self.steered(on_event, format!("{}: no good version yet", name(&f.path)));
                    return;
                }
                let to = match command {
                    Command::Revert(_) if f.playing == 0 => {
                        self.steered(on_event, format!("{}: v1 is the oldest version", name(&f.path)));
                        return;
                    }
                    Command::Revert(_) => f.playing - 1,
                    _ => len - 1,
                };
                if to == f.playing {
                    self.steered(on_event, format!("{}: already playing the newest version (v{len})", name(&f.path)));
                    return;
                }
                let patch = f.history[to].patch.clone();
                self.files[file].playing = to;
                self.go_live(file, patch, Duration::ZERO, Instant::now(), on_event);
                let f = &self.files[file];
                let note = if to + 1 < len { " (the file on disk is unchanged; U plays the newest)" } else { "" };
                self.steered(on_event, format!("{}: playing v{} of {len}{note}", name(&f.path), to + 1));
            }
            Command::Panic => {
                self.end_bend();
                self.live.panic(now);
                self.forget_onsets();
                self.steered(on_event, "panic: every voice and effect tail silenced".into());
            }
            Command::Reload => {
                for (file, path) in self.opts.files.iter().enumerate() {
                    match read_source(path) {
                        Ok(text) => {
                            let _ = self.to_compiler.send(crate::watch::Saved { file, text, at: Instant::now() });
                        }
                        Err(e) => on_event(&Event::ScriptError(e)),
                    }
                }
                self.steered(on_event, "reloading every file from disk".into());
            }
            Command::Quit => {}
        }
    }

    /// Follows the external clock: start, stop, and where it is (see `midi::clock_in`).
    fn follow(&mut self, f: crate::midi::clock_in::Follow, on_event: &mut impl FnMut(&Event)) {
        use crate::midi::clock_in::Follow;
        let now = self.now();
        match f {
            Follow::Run { cycle } => {
                self.end_bend();
                if self.live.paused().is_none() {
                    self.live.pause(now);
                }
                let c = Rational::from_f64(cycle.max(0.0)).unwrap_or(Rational::ZERO);
                self.live.steer(now, |clock: &mut Clock, at| clock.reanchor(at, c));
                self.live.resume(now);
                self.forget_onsets();
                self.steered(on_event, format!("external clock: playing from cycle {cycle:.2}"));
            }
            Follow::Stop => {
                if self.live.paused().is_none() {
                    let cycle = self.live.pause(now);
                    self.forget_onsets();
                    self.steered(on_event, format!("external clock: stopped at cycle {:.2}", cycle.to_f64()));
                }
            }
            Follow::Position { at, cycle, cps } => {
                let Some(cps) = cps.filter(|c| c.is_finite() && *c >= MIN_CPS && *c <= MAX_CPS) else { return };
                if self.live.paused().is_some() {
                    return;
                }
                self.bend = None;
                self.follow_cps = Some(cps);
                let Some(heard) = self.status.heard_frame(at, self.sample_rate) else { return };
                let clock = *self.live.scheduler().clock();
                let error = cycle - clock.cycle_at(heard).to_f64();
                let sr = self.sample_rate as f64;
                if error.abs() > FOLLOW_JUMP {
                    // Far off (a start, a jump): take the master's position at once.
                    self.live.steer(now, |clock: &mut Clock, f| {
                        let there = cycle + (f as f64 - heard as f64) / sr * cps;
                        clock.set_cps(f, cps);
                        clock.reanchor(f, Rational::from_f64(there.max(0.0)).unwrap_or(Rational::ZERO));
                    });
                    self.forget_onsets();
                } else {
                    // Close: bend the tempo so the gap closes over the next beat.
                    let bent = cps * (1.0 + (error * 4.0).clamp(-FOLLOW_BEND, FOLLOW_BEND));
                    if (bent - clock.cps()).abs() > 1e-6 * cps {
                        self.live.steer(now, |clock: &mut Clock, f| clock.set_cps(f, bent));
                    }
                }
            }
        }
    }

    /// Mutes (or solos) a track of a file playing, or undoes it.
    fn mark(&mut self, key: TrackKey, on: bool, solo: bool, on_event: &mut impl FnMut(&Event)) {
        if !self.known(&key) {
            return;
        }
        let label = self.track_label(&key);
        let (set, word) = if solo { (&mut self.solos, "soloed") } else { (&mut self.mutes, "muted") };
        if on {
            set.insert(key);
        } else {
            set.remove(&key);
        }
        self.apply_mutes();
        self.steered(on_event, format!("{}{word} {label}", if on { "" } else { "un" }));
    }

    /// Ends a phase nudge in progress: back to the tempo it bent.
    fn end_bend(&mut self) {
        if let Some((_, base)) = self.bend.take() {
            self.set_cps(base);
        }
    }

    /// Forgets the onsets waiting to flash (their voices were cancelled).
    fn forget_onsets(&mut self) {
        for light in self.lights.values_mut() {
            light.upcoming.clear();
        }
    }

    /// Sends a version of a file to the scheduler.
    fn go_live(
        &mut self,
        file: usize,
        patch: Patch,
        compile: Duration,
        saved_at: Instant,
        on_event: &mut impl FnMut(&Event),
    ) {
        let q = patch.quantize.or(self.opts.quantize).unwrap_or(Quantize::None);
        self.files[file].current = patch.clone();
        self.files[file].repeats = None;
        let frame = self.now();
        let live = &mut self.live;
        if let Err(why) = crate::pattern::budget::catch_quiet(|| live.reload(file, patch, q, frame)) {
            on_event(&Event::Warning(format!("{why} (while swapping in a new version; playing on)")));
        }
        self.files[file].staged = Some((compile, saved_at));
        self.apply_mutes();
    }

    /// A version came back from the compiler.
    fn compiled(&mut self, c: Compiled, on_event: &mut impl FnMut(&Event)) {
        let file = c.file;
        match c.result {
            Ok(patch) => {
                if let Some((e, n)) = self.files[file].repeats.take()
                    && n > 0
                {
                    on_event(&Event::Warning(format!("{e}: happened {n} more times before this save")));
                }
                let text = c.text.unwrap_or_else(|| Arc::from(""));
                let f = &mut self.files[file];
                f.history.push(Version { text: text.clone(), patch: patch.clone() });
                f.playing = f.history.len() - 1;
                f.problem = None;
                let version = f.history.len();
                if let Some(h) = &self.history {
                    let cycle = self.live.scheduler().clock().cycle_at(self.now()).to_f64();
                    h.write(&self.files[file].path, version, &text, cycle);
                }
                self.go_live(file, patch, c.compile, c.saved_at, on_event);
            }
            Err(e) => {
                let source_line = c.text.as_deref().and_then(|t| source_line(t, e.line));
                self.files[file].problem = Some(Problem { kind: ProblemKind::Save, error: e.clone(), source_line });
                on_event(&Event::ScriptError(e));
            }
        }
    }

    /// Errors the versions playing raised: reported once per version, repeats counted.
    fn play_errors(&mut self, on_event: &mut impl FnMut(&Event)) {
        for f in self.files.iter_mut() {
            let Some(e) = f.current.take_query_error() else { continue };
            match &mut f.repeats {
                Some((seen, n)) if *seen == e => *n += 1,
                slot => {
                    on_event(&Event::PlayError(e.clone()));
                    let text = f.history.get(f.playing).map(|v| v.text.clone());
                    let source_line = text.as_deref().and_then(|t| source_line(t, e.line));
                    if f.problem.as_ref().is_none_or(|p| p.kind != ProblemKind::Save) {
                        f.problem = Some(Problem { kind: ProblemKind::Playing, error: e.clone(), source_line });
                    }
                    *slot = Some((e, 0));
                }
            }
        }
    }

    /// Swaps applied: timed once their first frame is rendered, then reported.
    fn swaps(&mut self, swaps: Vec<Swap>, on_event: &mut impl FnMut(&Event)) {
        for swap in swaps {
            let f = &mut self.files[swap.layer];
            f.swaps += 1;
            let (compile, saved_at) = f.staged.take().unwrap_or((Duration::ZERO, Instant::now()));
            let cycle = self.live.scheduler().clock().cycle_at(swap.frame).to_f64();
            if self.timing.is_empty() {
                self.status.watch(swap.frame);
            }
            self.timing.push((swap, compile, saved_at, cycle));
        }
        if let Some(first) = self.timing.first().map(|t| t.0.frame)
            && let Some(at) = self.status.watched()
        {
            for (swap, compile, saved_at, cycle) in self.timing.drain(..) {
                let offset = Duration::from_secs_f64(swap.frame.saturating_sub(first) as f64 / self.sample_rate as f64);
                let file = self.opts.files[swap.layer].clone();
                let version = self.files[swap.layer].playing + 1;
                on_event(&Event::Reloaded {
                    file,
                    version,
                    compile,
                    saved_at,
                    live_at: Some(at + offset),
                    cycle,
                    swap,
                });
            }
            self.status.watch(u64::MAX);
        }
    }

    /// The frame heard now (output latency compensated).
    fn heard(&self) -> u64 {
        let rendered = self.now();
        self.status.heard_frame(Instant::now(), self.sample_rate).unwrap_or(0).min(rendered)
    }

    fn steps(&mut self, key: &TrackKey, cycle: i64, deadline: Instant) -> Vec<Step> {
        let swaps = self.files[key.file].swaps;
        if let Some((c, s, steps)) = self.grid.get(key)
            && ((*c == cycle && *s == swaps) || Instant::now() >= deadline)
        {
            // Up to date, or no time left this snapshot: the grid catches up at the next.
            return steps.clone();
        }
        let mut steps = Vec::new();
        if let Some(patch) = self.live.scheduler().playing(key.file)
            && let Some(track) = patch.tracks.iter().find(|t| t.name == key.name)
        {
            let (begin, end) = (Rational::int(cycle), Rational::int(cycle + 1));
            let mut budget = self.opts.limits.live();
            let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_micros(200));
            budget.time = Some(budget.time.map_or(left, |t| t.min(left)));
            let haps = crate::pattern::budget::catch_quiet(|| patch.query_track(track, begin, end, budget))
                .unwrap_or_default();
            for hap in haps.iter().filter(|h| h.has_onset()).take(MAX_STEPS) {
                if let Some(w) = hap.whole {
                    steps.push(Step { begin: (w.begin - begin).to_f64(), end: (w.end - begin).to_f64() });
                }
            }
            // The grid's own queries are not the performer's errors.
            let _ = patch.take_query_error();
        }
        self.grid.insert(key.clone(), (cycle, swaps, steps.clone()));
        steps
    }

    fn snapshot(&mut self) -> Snapshot {
        let heard = self.heard();
        let sr = self.sample_rate as f64;
        let clock = *self.live.scheduler().clock();
        let cycle = self.live.paused().map_or_else(|| clock.cycle_at(heard).to_f64(), |c| c.to_f64());
        let rendered = self.now();
        for (track, start) in self.live.take_onsets() {
            self.lights.entry(track).or_default().upcoming.push_back(start);
        }
        for light in self.lights.values_mut() {
            while light.upcoming.front().is_some_and(|&f| f <= heard) {
                light.heard = light.upcoming.pop_front();
            }
        }
        let mut tracks = Vec::new();
        // The step grids share a small budget per snapshot: the control thread's real work
        // is scheduling.
        let deadline = Instant::now() + GRID_TIME;
        for file in 0..self.files.len() {
            let names: Vec<String> = self.files[file].current.tracks.iter().map(|t| t.name.clone()).collect();
            for track in names {
                let key = TrackKey { file, name: track };
                let id = self.live.scheduler_mut().track_id(file, &key.name);
                let since_onset =
                    self.lights.get(&id).and_then(|l| l.heard).map(|f| heard.saturating_sub(f) as f64 / sr);
                let steps = self.steps(&key, cycle.floor() as i64, deadline);
                tracks.push(TrackView {
                    muted: self.mutes.contains(&key),
                    soloed: self.solos.contains(&key),
                    audible: self.audible(&key),
                    voices: self.stats.track_voices.get(id),
                    steps,
                    since_onset,
                    key,
                });
            }
        }
        let files = self
            .files
            .iter()
            .map(|f| FileView {
                path: f.path.clone(),
                version: if f.history.is_empty() { 0 } else { f.playing + 1 },
                versions: f.history.len(),
                problem: f.problem.clone(),
            })
            .collect();
        let limited = self.stats.limited.load(Ordering::Relaxed);
        let clipped = std::mem::replace(&mut self.last_limited, limited) != limited;
        let now = Instant::now();
        self.recent.push_back((now, self.status.meter.take_peak(), clipped));
        while self.recent.front().is_some_and(|r| now.duration_since(r.0) > PEAK_HOLD) {
            self.recent.pop_front();
        }
        let peak = self.recent.iter().fold([0.0f32; 2], |m, r| [m[0].max(r.1[0]), m[1].max(r.1[1])]);
        let meters = Meters { peak, rms: self.status.meter.rms(), clip: self.recent.iter().any(|r| r.2) };
        self.status.meter.scope(&mut self.scope, SCOPE_SAMPLES);
        let load = self.status.load_permille.load(Ordering::Relaxed) as f64 / 1000.0;
        let recent = self.status.take_load_max();
        if self.load_max.1.elapsed() > Duration::from_secs(1) {
            self.load_max = (recent, Instant::now());
        } else {
            self.load_max.0 = self.load_max.0.max(recent);
        }
        let buffer = self.status.buffer_frames.load(Ordering::Relaxed);
        let c = self.live.counters();
        let health = Health {
            load,
            load_max: self.load_max.0,
            underruns: self.status.underruns.load(Ordering::Relaxed),
            late: self.stats.late.load(Ordering::Relaxed),
            dropped: self.stats.dropped.load(Ordering::Relaxed) + c.unsent_voices,
            stolen: self.stats.stolen.load(Ordering::Relaxed) + self.stats.shed.load(Ordering::Relaxed),
            voices: self.stats.voices.load(Ordering::Relaxed),
            latency: self.status.latency_ns.load(Ordering::Relaxed) as f64 * 1e-9 + buffer as f64 / sr,
            device: self.device.clone(),
            sample_rate: self.sample_rate,
            buffer,
        };
        self.generation += 1;
        Snapshot {
            generation: self.generation,
            transport: Transport {
                cps: self.follow_cps.or(self.bend.map(|b| b.1)).unwrap_or_else(|| clock.cps()),
                cycle,
                paused: self.live.paused().is_some(),
                quantize: self.opts.quantize,
                recording: self.recording.clone().map(|p| (p, rendered as f64 / sr)),
                seconds: rendered as f64 / sr,
            },
            files,
            tracks,
            meters,
            scope: self.scope.clone(),
            health,
            midi: MidiView {
                outputs: self.midi.status.ports.lock().map(|p| p.clone()).unwrap_or_default(),
                inputs: self.midi_in.names.clone(),
                clock_out: self.opts.midi.clock_ports.clone(),
                clock_in: self.clock_in.as_ref().map(|c| c.name.clone()),
                sent: self.midi.status.sent.load(Ordering::Relaxed),
                late: self.midi.status.late.load(Ordering::Relaxed),
            },
        }
    }
}

/// The control loop: plays until `stop` is set or the duration is over.
pub(super) fn run(
    opts: PlayOptions,
    stop: Arc<AtomicBool>,
    commands: mpsc::Receiver<Command>,
    shared: Arc<Shared>,
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
    let history = opts.history.as_deref().map(HistoryWriter::start).transpose()?;

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
    let to_compiler = to_worker.clone();
    let _watcher = crate::watch::watch(&opts.files, move |event| match event {
        crate::watch::WatchEvent::Saved(saved) => {
            let _ = to_worker.send(saved);
        }
        crate::watch::WatchEvent::Problem(p) => {
            let message = p.detail();
            let path = paths.get(p.file).cloned().unwrap_or(p.path);
            let error = ScriptError { path: Some(path), line: 0, column: 0, message };
            let _ = tx.send(Compiled {
                file: p.file,
                result: Err(error),
                text: None,
                saved_at: p.at,
                compile: Duration::ZERO,
            });
        }
    })?;

    // The first versions, checked like every later one.
    let mut files = Vec::new();
    for f in &opts.files {
        let text = read_source(f);
        let source = text.as_ref().ok().map(|t| Arc::<str>::from(t.as_str()));
        let loaded = text.and_then(|text| {
            crate::vet::compile_untrusted(&opts.isolation, &text, f, Rational::ZERO, &opts.limits, &stop)
        });
        let mut state = FileState {
            path: f.clone(),
            history: Vec::new(),
            playing: 0,
            current: silent(),
            problem: None,
            repeats: None,
            staged: None,
            swaps: 0,
        };
        match loaded {
            Ok(p) => {
                let text = source.unwrap_or_else(|| Arc::from(""));
                if let Some(h) = &history {
                    h.write(f, 1, &text, 0.0);
                }
                state.history.push(Version { text, patch: p.clone() });
                state.current = p;
            }
            Err(e) => {
                let source_line = source.as_deref().and_then(|t| source_line(t, e.line));
                state.problem = Some(Problem { kind: ProblemKind::NotStarted, error: e.clone(), source_line });
                on_event(&Event::NotStarted(e));
            }
        }
        files.push(state);
    }
    for f in &files {
        preload(&f.current, &opts.samples, Rational::ZERO);
    }
    // The control thread never decodes a file: what the checked cycles did not load
    // is loaded in the background.
    let mut scheduler = Scheduler::empty(sample_rate, opts.samples.background());
    scheduler.set_limits(opts.limits);
    scheduler.set_fade((opts.fade.max(0.0) * sample_rate as f64).round() as u32);
    for (f, state) in opts.files.iter().zip(&files) {
        scheduler.add_layer(&f.display().to_string(), &state.current, 0);
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
    live.set_clock_ports(opts.midi.clock_ports.iter().map(|p| Arc::from(p.as_str())).collect());
    // MIDI goes out on its own thread, each message when its frame is heard.
    let timebase = {
        let status = status.clone();
        Box::new(move |frame| status.instant_of(frame, sample_rate))
    };
    let midi = crate::midi::MidiSender::start(opts.midi.clone(), timebase)?;
    let (midi_in, problems) = crate::midi::input::open(&opts.midi_in);
    for p in problems {
        on_event(&Event::Warning(p));
    }
    let clock_in = match opts.clock_in.as_deref().map(crate::midi::clock_in::open) {
        Some(Ok(c)) => Some(c),
        Some(Err(e)) => {
            on_event(&Event::Warning(format!("{e}; playing on rhaithm's own clock")));
            None
        }
        None => None,
    };
    // The first window is queued before the output starts pulling.
    live.tick(0);
    let mut output =
        Some(open(opts.output, chosen.as_ref(), &opts.device, callback, &slot, sample_rate).map_err(|e| {
            if opts.output == OutputKind::Device { anyhow::anyhow!("{e:#}\n{NO_DEVICE_HINT}") } else { e }
        })?);
    let device = describe(output.as_ref().expect("just opened"));
    let started = Event::Started {
        output: device.clone(),
        sample_rate,
        files: opts.files.clone(),
        recording: recorder.as_ref().map(|r| r.path().to_path_buf()),
    };
    let mut ctl = Control {
        recording: recorder.as_ref().map(|r| r.path().to_path_buf()),
        opts,
        sample_rate,
        live,
        status: status.clone(),
        stats: stats.clone(),
        files,
        mutes: BTreeSet::new(),
        solos: BTreeSet::new(),
        told: BTreeMap::new(),
        lights: HashMap::new(),
        grid: HashMap::new(),
        bend: None,
        history,
        to_compiler,
        timing: Vec::new(),
        device,
        generation: 0,
        last_limited: 0,
        load_max: (0.0, Instant::now()),
        scope: Vec::with_capacity(SCOPE_SAMPLES),
        midi,
        midi_in,
        recent: VecDeque::new(),
        clock_in,
        follow_cps: None,
    };
    ctl.apply_mutes();
    // A front end finds a snapshot from the moment the session has started.
    if let Ok(snapshot) = crate::pattern::budget::catch_quiet(|| ctl.snapshot())
        && let Ok(mut shared) = shared.snapshot.lock()
    {
        *shared = snapshot;
    }
    on_event(&started);

    let began = Instant::now();
    let react = (REACT.as_secs_f64() * sample_rate as f64).round() as u64;
    let mut reported = Troubles::default();
    let mut last_status = Instant::now();
    let mut last_snapshot = Instant::now() - SNAPSHOT_EVERY;
    let mut backoff = Duration::from_millis(100);
    let mut retry_at: Option<Instant> = None;
    // The last time the output asked for audio, to notice a stream that stopped
    // without saying so.
    let mut heard = (status.callbacks.load(Ordering::Relaxed), Instant::now());
    let duration = ctl.opts.duration;
    while !stop.load(Ordering::Relaxed) && duration.is_none_or(|d| began.elapsed().as_secs_f64() < d) {
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
            let opts = &ctl.opts;
            let reopened = match device::choose(&opts.device) {
                Ok(c) => open(opts.output, Some(&c), &opts.device, cb, &slot, sample_rate),
                Err(e) => {
                    slot.put(cb);
                    Err(e)
                }
            };
            match reopened {
                Ok(o) => {
                    ctl.device = describe(&o);
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
        let buffer = if buffer == 0 { ctl.opts.device.buffer.unwrap_or(NULL_BUFFER) as u64 } else { buffer };
        ctl.live.set_lookahead(buffer + lookahead_extra, buffer + react);
        let now = stats.frames.load(Ordering::Relaxed);
        position.store(ctl.live.scheduler().clock().cycle_at(now).to_f64().to_bits(), Ordering::Relaxed);
        // The external clock first, then commands, so that a pause or a tempo change is
        // not scheduled past.
        let follows: Vec<_> = ctl.clock_in.as_ref().map(|c| c.rx.try_iter().collect()).unwrap_or_default();
        for f in follows {
            let ctl = &mut ctl;
            let on_event = &mut on_event;
            if let Err(why) = crate::pattern::budget::catch_quiet(|| ctl.follow(f, on_event)) {
                on_event(&Event::Warning(format!("{why} (while following the clock; playing on)")));
            }
        }
        while let Ok(c) = commands.try_recv() {
            let ctl = &mut ctl;
            let on_event = &mut on_event;
            if let Err(why) = crate::pattern::budget::catch_quiet(|| ctl.command(c, on_event)) {
                on_event(&Event::Warning(format!("{why} (while applying a command; playing on)")));
            }
        }
        if let Some((until, cps)) = ctl.bend
            && now + buffer + react >= until
        {
            // The nudge is over: back to the tempo.
            ctl.bend = None;
            ctl.set_cps(cps);
        }
        if output.is_some() {
            // A bug while scheduling costs a moment of this window, never the session.
            let live = &mut ctl.live;
            let swaps = match crate::pattern::budget::catch_quiet(|| live.tick(now)) {
                Ok(swaps) => swaps,
                Err(why) => {
                    on_event(&Event::Warning(format!("{why} (while scheduling; playing on)")));
                    Vec::new()
                }
            };
            ctl.swaps(swaps, &mut on_event);
        }

        while let Ok(c) = rx.try_recv() {
            ctl.compiled(c, &mut on_event);
        }
        ctl.play_errors(&mut on_event);
        for m in ctl.live.take_midi() {
            ctl.midi.send(m);
        }
        for w in ctl.midi.status.take_warnings() {
            on_event(&Event::Warning(w));
        }
        for w in ctl.live.scheduler_mut().take_warnings() {
            on_event(&Event::Warning(w));
        }
        reported.report(&ctl.live, &stats, &status, &mut on_event);

        if last_status.elapsed() >= STATUS_EVERY {
            last_status = Instant::now();
            let clock: &Clock = ctl.live.scheduler().clock();
            on_event(&Event::Status {
                cycle: ctl.live.paused().unwrap_or_else(|| clock.cycle_at(now)).to_f64(),
                cps: clock.cps(),
                voices: stats.voices.load(Ordering::Relaxed),
                peak: stats.take_peak(),
            });
        }
        if last_snapshot.elapsed() >= SNAPSHOT_EVERY {
            last_snapshot = Instant::now();
            let snapshot = crate::pattern::budget::catch_quiet(|| ctl.snapshot());
            if let Ok(snapshot) = snapshot
                && let Ok(mut shared) = shared.snapshot.try_lock()
            {
                *shared = snapshot;
            }
        }
        std::thread::sleep(TICK);
    }

    // Every MIDI note-off owed goes out, and the MIDI clock stops.
    for m in ctl.live.take_midi() {
        ctl.midi.send(m);
    }
    let Control { midi, .. } = ctl;
    drop(midi);
    // Stop the audio first, so the recording holds everything that was played.
    drop(output);
    // Whatever the once-a-second limit held back.
    reported.when = [None; 10];
    reported.report(&ctl.live, &stats, &status, &mut on_event);
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
