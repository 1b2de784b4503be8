//! What a front end sees of a running session ([`Snapshot`]) and what it can ask of it
//! ([`Command`]). A snapshot is a plain value, cloned out of the session a few dozen
//! times a second; nothing in it refers back to the audio side.

use std::path::PathBuf;

use crate::patch::Quantize;
use crate::script::ScriptError;

/// A track, by the file (layer) it comes from and its name (`d1`, `drums`, `main`...).
/// Keys stay valid across versions: a track keeps its mute and solo when its file is
/// saved again, as long as it keeps its name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TrackKey {
    /// Index of the file in [`Snapshot::files`].
    pub file: usize,
    /// The track's name.
    pub name: String,
}

/// What a front end asks a session to do. Commands are applied by the session's
/// control thread within a millisecond or two; each change reaches the audio thread
/// through its lock-free queues and is faded (no click).
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// Pause (silent, clock held) or resume (from the same cycle).
    SetPaused(bool),
    /// Pause if playing, resume if paused.
    TogglePause,
    /// Mute or unmute a track: its sounding notes fade, its new notes are silent.
    SetMute(TrackKey, bool),
    /// Toggle a track's mute.
    ToggleMute(TrackKey),
    /// Solo or unsolo a track (while any track is soloed, only soloed tracks sound).
    SetSolo(TrackKey, bool),
    /// Toggle a track's solo.
    ToggleSolo(TrackKey),
    /// Unmute and unsolo every track.
    UnmuteAll,
    /// Set the tempo, in cycles per second (held until a save changes the tempo its
    /// file sets).
    SetCps(f64),
    /// Change the tempo by this many beats per minute (4 beats per cycle).
    NudgeBpm(f64),
    /// Move the beat by this many seconds (positive: later, to line up with a band or
    /// a record), without changing the tempo.
    NudgePhase(f64),
    /// Play the version of a file before the one playing (the file on disk is not
    /// touched).
    Revert(usize),
    /// Play the newest good version of a file again.
    Newest(usize),
    /// Silence every voice and effect tail now; the music goes on from the next notes.
    Panic,
    /// Read every file from disk again, as if each had been saved.
    Reload,
    /// Stop the session.
    Quit,
}

/// Where the music is.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Transport {
    /// Tempo in cycles per second (bpm = cps · 240, 4 beats per cycle).
    pub cps: f64,
    /// The cycle being heard now (output latency compensated).
    pub cycle: f64,
    /// Paused: silent, the clock held.
    pub paused: bool,
    /// How reloads are quantized by default (a script's own `quantize` wins).
    pub quantize: Option<Quantize>,
    /// The recording, if any: its file and the seconds written so far.
    pub recording: Option<(PathBuf, f64)>,
    /// Seconds played since the start.
    pub seconds: f64,
}

/// Beats per cycle, as the UI and tempo commands count them.
pub const BEATS_PER_CYCLE: f64 = 4.0;

impl Transport {
    /// Tempo in beats per minute.
    pub fn bpm(&self) -> f64 {
        self.cps * 60.0 * BEATS_PER_CYCLE
    }

    /// The beat within the cycle (0..4) and how far into it (0..1).
    pub fn beat(&self) -> (u32, f64) {
        let b = self.cycle.rem_euclid(1.0) * BEATS_PER_CYCLE;
        (b.floor() as u32, b.fract())
    }
}

/// Which problem a file has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProblemKind {
    /// Its last save did not compile or failed its check: the previous version plays.
    Save,
    /// The version playing raised an error while playing (its track is silent there).
    Playing,
    /// It never compiled: it is silent until a good save.
    NotStarted,
}

/// A file's problem, as shown until its next good save.
#[derive(Clone, Debug, PartialEq)]
pub struct Problem {
    /// What kind.
    pub kind: ProblemKind,
    /// The error (file, line, column, message).
    pub error: ScriptError,
    /// The source line the error points at, if it has a line.
    pub source_line: Option<String>,
}

/// One patch file.
#[derive(Clone, Debug, PartialEq)]
pub struct FileView {
    /// Its path, as given.
    pub path: PathBuf,
    /// The version playing, counted from 1 (0: none compiled yet).
    pub version: usize,
    /// Good versions seen so far.
    pub versions: usize,
    /// Its current problem, if any.
    pub problem: Option<Problem>,
}

impl FileView {
    /// True while an older version than the newest plays (after a revert).
    pub fn reverted(&self) -> bool {
        self.version < self.versions
    }
}

/// One step of a track's step grid: an event of the current cycle.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Step {
    /// Where it begins in the cycle (0..1).
    pub begin: f64,
    /// Where it ends (may pass 1 for a note held into the next cycle).
    pub end: f64,
}

/// One track.
#[derive(Clone, Debug, PartialEq)]
pub struct TrackView {
    /// Its key.
    pub key: TrackKey,
    /// Muted by the performer.
    pub muted: bool,
    /// Soloed by the performer.
    pub soloed: bool,
    /// Heard (not muted, and not silenced by another track's solo).
    pub audible: bool,
    /// Voices it is sounding now.
    pub voices: u32,
    /// The events that start in the cycle being heard.
    pub steps: Vec<Step>,
    /// Seconds since its last event was heard (None: none yet): a light flashes on it.
    pub since_onset: Option<f64>,
}

/// Output levels, linear (1.0 = full scale), left then right.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Meters {
    /// Highest sample since the previous snapshot.
    pub peak: [f32; 2],
    /// RMS over the last 40 ms or so.
    pub rms: [f32; 2],
    /// The master limiter had to act since the previous snapshot (the mix clipped).
    pub clip: bool,
}

/// How the engine is doing.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Health {
    /// The last audio callback's time, as a share of its buffer's duration.
    pub load: f64,
    /// The highest load in the last second.
    pub load_max: f64,
    /// Output underruns.
    pub underruns: u64,
    /// Voices started late.
    pub late: u64,
    /// Voices dropped (no slot, or queue full).
    pub dropped: u64,
    /// Voices stolen (a voice cap was reached) or shed (the audio thread ran out of time).
    pub stolen: u64,
    /// Voices sounding.
    pub voices: u32,
    /// Output latency (from the callback to the speaker) in seconds.
    pub latency: f64,
    /// The output.
    pub device: String,
    /// Sample rate.
    pub sample_rate: u32,
    /// Frames per buffer.
    pub buffer: u32,
}

/// MIDI, as the session sees it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MidiView {
    /// Output ports open (a virtual port included).
    pub outputs: Vec<String>,
    /// Input ports open (knobs, clock).
    pub inputs: Vec<String>,
    /// Ports the MIDI clock goes to (as asked for).
    pub clock_out: Vec<String>,
    /// The input whose clock rhaithm follows, if any.
    pub clock_in: Option<String>,
    /// Messages sent.
    pub sent: u64,
    /// Messages sent more than a millisecond late.
    pub late: u64,
}

/// Everything a front end shows, at one moment.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    /// Counts up each time the session publishes a snapshot.
    pub generation: u64,
    /// Where the music is.
    pub transport: Transport,
    /// The patch files.
    pub files: Vec<FileView>,
    /// Every track of every file, in file order then the order the file declares them.
    pub tracks: Vec<TrackView>,
    /// Output levels.
    pub meters: Meters,
    /// The latest master output (mono, oldest first), for an oscilloscope.
    pub scope: Vec<f32>,
    /// Engine health.
    pub health: Health,
    /// MIDI ports and counters.
    pub midi: MidiView,
}
