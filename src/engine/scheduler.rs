//! Turns patches' patterns into voices at exact frames (control side), and swaps new
//! versions of a patch in at a chosen frame.
//!
//! The scheduler plays one or more *layers* (one per patch file), all on one clock.
//! `schedule(from, to)` queries every track of every layer for the cycles between two
//! frames, keeps the events that start there, and builds one voice for each, numbered
//! and in order of start frame.
//!
//! A new version of a layer is *staged* for a frame and applied when scheduling reaches
//! it. At that frame:
//! - one-shots (drums, samples) already sounding ring out untouched;
//! - held notes (synths, instruments) whose event is still open are compared with the
//!   new version: a note the new version also plays, identically, keeps sounding (a
//!   save that changes something else restarts nothing); any other is faded out over
//!   the crossfade time, and the new version's held notes that are open at that frame
//!   start there, fading in, with their envelopes already as far along as the note is;
//! - the clock takes the new tempo without moving the cycle position.
//!
//! Problems (an unknown sound, an unknown control, a sample that cannot be read, a
//! window with too many events) become warnings, each reported once.
//!
//! Live safety: each track (a layer's named track) gets an id the mixer uses for its
//! per-track voice cap and safety stage; a track may start at most
//! [`VoiceLimits::max_starts`] voices within any [`VoiceLimits::start_window`] (the rest
//! of its events are skipped, counted in [`Scheduler::skipped_events`] and reported once
//! per track), and notes end at [`VoiceLimits::max_note`].

use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash, Hasher};

use super::clock::Clock;
use crate::dsp::build::{DEFAULT_SOUND, is_held};
use crate::dsp::limits::{StartLimiter, VoiceLimits};
use crate::dsp::mixer::Command;
use crate::dsp::params::Params;
use crate::dsp::samples::SampleLibrary;
use crate::dsp::{BuildError, Graph, Voice, VoiceBuilder};
use crate::limits::Limits;
use crate::midi::Message;
use crate::patch::{Patch, Quantize, Track};
use crate::pattern::budget::Budget;
use crate::pattern::{Hap, Rational, Value};
use std::sync::Arc;

/// Most events one track may start in one scheduling window.
pub const MAX_EVENTS_PER_WINDOW: usize = 4096;

/// Cycles in a bar, for `quantize("bar")`.
pub const CYCLES_PER_BAR: i64 = 4;

/// Index of a layer (one patch file).
pub type LayerId = usize;

struct Layer {
    name: String,
    /// The version playing (its tracks are queried through it, under the budgets).
    patch: Patch,
    tracks: Vec<Track>,
    instruments: BTreeMap<String, Graph>,
    pending: Option<(When, Patch)>,
}

/// When a staged version takes over.
#[derive(Clone, Copy, Debug)]
enum When {
    /// At this frame.
    Frame(u64),
    /// At the start of this cycle, wherever tempo changes before it put it.
    Cycle(Rational),
}

/// A MIDI note whose note-off has not been sent yet (its event may still be open).
struct MidiHeld {
    id: u64,
    layer: LayerId,
    track: String,
    whole: (Rational, Rational),
    value: Value,
    off: u64,
}

/// A held note whose event may still be open.
struct Sounding {
    id: u64,
    layer: LayerId,
    track: String,
    whole: (Rational, Rational),
    value: Value,
    instrument: Option<Graph>,
    gate_end: u64,
}

/// A version swap that has been applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Swap {
    /// The layer.
    pub layer: LayerId,
    /// The frame it took effect at (the first crossfaded frame).
    pub frame: u64,
    /// Held notes faded out.
    pub faded: usize,
    /// Held notes kept because the new version plays them identically.
    pub kept: usize,
    /// Held notes of the new version started mid-note, fading in.
    pub started: usize,
}

/// A MIDI message an event sends, at an exact frame.
#[derive(Clone, Debug, PartialEq)]
pub struct MidiOut {
    /// The event's number (shared by its note-on, note-off and controls), in the same
    /// numbering as voices.
    pub id: u64,
    /// The layer.
    pub layer: LayerId,
    /// The track id (as voices carry it).
    pub track: usize,
    /// The port asked for (see [`crate::midi::Routed::port`]).
    pub port: Arc<str>,
    /// The frame it is due at.
    pub at: u64,
    /// The message.
    pub message: Message,
    /// For a note-on: the frame its note-off is due at.
    pub off: Option<u64>,
}

/// What the MIDI side is told.
#[derive(Clone, Debug, PartialEq)]
pub enum MidiCommand {
    /// Send a message at its frame.
    Send(MidiOut),
    /// A note the new version does not play: its note-off moves to this frame.
    Cut {
        /// The note's event number.
        id: u64,
        /// The frame.
        at: u64,
    },
}

/// What one call to [`Scheduler::schedule_into`] produced.
#[derive(Default)]
pub struct Batch {
    /// MIDI messages and note-off changes, in order of start frame within each window.
    pub midi: Vec<MidiCommand>,
    /// New voices, each with its layer, in order of start frame within each window.
    pub voices: Vec<(LayerId, Box<Voice>)>,
    /// Fades for voices already sent.
    pub commands: Vec<Command>,
    /// Swaps applied.
    pub swaps: Vec<Swap>,
}

/// The control side of playback: clock, layers of tracks and the voice builder.
pub struct Scheduler {
    clock: Clock,
    layers: Vec<Layer>,
    builder: VoiceBuilder,
    fade: u32,
    next_id: u64,
    sounding: Vec<Sounding>,
    warned: BTreeSet<String>,
    warnings: Vec<String>,
    limits: Limits,
    voice_limits: VoiceLimits,
    starts: StartLimiter,
    /// Track ids: the index of each (layer, track name) seen.
    track_ids: Vec<(LayerId, String)>,
    /// The tempo was set by hand (a save keeps it unless it changes its own tempo).
    steered: bool,
    /// MIDI notes sent whose note-off is still to come.
    midi_held: Vec<MidiHeld>,
}

/// An event of a new version that is open at a swap's cycle `c` but began before it.
struct Open {
    track: String,
    index: usize,
    hap: Hap<Value>,
    whole: (Rational, Rational),
    /// Matched by a note already sounding (which keeps playing).
    taken: bool,
    /// Matched by a MIDI note already sent (which keeps playing).
    taken_midi: bool,
}

fn open_events(patch: &Patch, c: Rational, c_next: Rational, budget: Budget) -> Vec<Open> {
    let mut open = Vec::new();
    for track in &patch.tracks {
        for (index, hap) in patch.query_track(track, c, c_next, budget).into_iter().enumerate() {
            if let Some(w) = hap.whole.filter(|w| w.begin < c && w.end > c) {
                open.push(Open {
                    track: track.name.clone(),
                    index,
                    whole: (w.begin, w.end),
                    hap,
                    taken: false,
                    taken_midi: false,
                });
            }
        }
    }
    open
}

fn seed(track: &str, onset: Rational, index: usize) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (track, onset.numer(), onset.denom(), index).hash(&mut h);
    h.finish()
}

/// Most note time (seconds, over all notes of one swap) run ahead so that notes started
/// mid-way are in phase (at most about 2.5 ms of work).
pub const MAX_CATCH_UP_SECONDS: f64 = 4.0;
/// Upper bound of the time running one second of note ahead takes (a supersaw through a
/// filter measures 0.6 ms on the reference machine).
pub const CATCH_UP_COST: f64 = 0.001;

/// Default crossfade between versions, in seconds.
pub const DEFAULT_FADE: f64 = 0.05;

impl Scheduler {
    /// A scheduler with no layers yet, at the default tempo.
    pub fn empty(sample_rate: u32, samples: SampleLibrary) -> Scheduler {
        Scheduler {
            clock: Clock::new(sample_rate, crate::patch::DEFAULT_CPS),
            layers: Vec::new(),
            builder: VoiceBuilder::new(sample_rate as f64, samples),
            fade: (DEFAULT_FADE * sample_rate as f64).round() as u32,
            next_id: 1,
            sounding: Vec::new(),
            warned: BTreeSet::new(),
            warnings: Vec::new(),
            limits: Limits::default(),
            voice_limits: VoiceLimits::default(),
            starts: StartLimiter::new(&VoiceLimits::default(), sample_rate as f64),
            track_ids: Vec::new(),
            steered: false,
            midi_held: Vec::new(),
        }
    }

    /// Sets the budgets tracks are queried under.
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
        self.set_voice_limits(limits.voices);
    }

    /// Sets the live-safety limits of voices (the longest note, the most notes a track
    /// starts in a short window). Starts counted so far are forgotten.
    pub fn set_voice_limits(&mut self, limits: VoiceLimits) {
        self.voice_limits = limits;
        self.builder.max_note = limits.max_note;
        self.starts = StartLimiter::new(&limits, self.clock.sample_rate() as f64);
    }

    /// Events skipped so far because their track started too many notes at once.
    pub fn skipped_events(&self) -> u64 {
        self.starts.skipped()
    }

    /// The id of a layer's track (numbered as first seen), which its voices carry to the
    /// mixer.
    pub fn track_id(&mut self, layer: LayerId, track: &str) -> usize {
        if let Some(i) = self.track_ids.iter().position(|(l, t)| *l == layer && t == track) {
            return i;
        }
        self.track_ids.push((layer, track.to_string()));
        self.track_ids.len() - 1
    }

    /// A scheduler playing one patch from frame 0.
    pub fn new(patch: &Patch, sample_rate: u32, samples: SampleLibrary) -> Scheduler {
        let mut s = Scheduler::empty(sample_rate, samples);
        s.add_layer("main", patch, 0);
        s
    }

    /// Sets the crossfade between versions, in frames.
    pub fn set_fade(&mut self, frames: u32) {
        self.fade = frames;
    }

    /// Adds a layer that plays from `frame` on; its tempo, if it sets one, becomes the
    /// tempo from there.
    pub fn add_layer(&mut self, name: &str, patch: &Patch, frame: u64) -> LayerId {
        if let Some(cps) = patch.cps {
            self.clock.set_cps(frame, cps);
        }
        self.layers.push(Layer {
            name: name.to_string(),
            patch: patch.clone(),
            tracks: patch.tracks.clone(),
            instruments: patch.instruments.clone(),
            pending: None,
        });
        self.layers.len() - 1
    }

    /// Stages a new version of a layer to take over at `frame` (or as soon as scheduling
    /// gets there, if it already has). A later staging replaces an earlier one.
    pub fn stage(&mut self, layer: LayerId, patch: Patch, frame: u64) {
        self.layers[layer].pending = Some((When::Frame(frame), patch));
    }

    /// Stages a new version of a layer to take over at the start of `cycle`, at whatever
    /// frame that cycle begins once every tempo change before it has happened (so a
    /// quantized swap lands on its bar even when another layer changes the tempo first).
    pub fn stage_at_cycle(&mut self, layer: LayerId, patch: Patch, cycle: Rational) {
        self.layers[layer].pending = Some((When::Cycle(cycle), patch));
    }

    /// The cycle a quantized swap asked for at `from` waits for (`None` when unquantized).
    pub fn swap_cycle(&self, from: u64, quantize: Quantize) -> Option<Rational> {
        let unit = match quantize {
            Quantize::None => return None,
            Quantize::Cycle => 1,
            Quantize::Bar => CYCLES_PER_BAR,
        };
        let k = self.clock.cycle_at(from).ceil().floor_i64();
        Some(Rational::int(k.saturating_add(unit - 1).div_euclid(unit).saturating_mul(unit)))
    }

    fn pending_frame(&self, when: When) -> u64 {
        match when {
            When::Frame(f) => f,
            When::Cycle(c) => self.clock.frame_at(c),
        }
    }

    /// The frame a swap asked for at `from` happens at, for a quantisation: `from`
    /// itself, or the start of the next cycle or bar.
    pub fn swap_frame(&self, from: u64, quantize: Quantize) -> u64 {
        let unit = match quantize {
            Quantize::None => return from,
            Quantize::Cycle => 1,
            Quantize::Bar => CYCLES_PER_BAR,
        };
        let c = self.clock.cycle_at(from);
        let k = c.ceil().floor_i64();
        let k = (k + unit - 1).div_euclid(unit) * unit;
        self.clock.frame_at(Rational::int(k)).max(from)
    }

    /// The clock.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Names of the tracks of every layer.
    pub fn track_names(&self) -> Vec<String> {
        self.layers.iter().flat_map(|l| l.tracks.iter().map(|t| t.name.clone())).collect()
    }

    /// New warnings since the last call.
    pub fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }

    fn warn(&mut self, key: String, message: String) {
        if self.warned.insert(key) {
            self.warnings.push(message);
        }
    }

    /// Builds the voices of every event starting in frames `[from, to)`, in start order
    /// (applying any staged swap on the way; fades for earlier voices are dropped, which
    /// suits offline use).
    pub fn schedule(&mut self, from: u64, to: u64) -> Vec<Box<Voice>> {
        let mut batch = Batch::default();
        self.schedule_into(from, to, &mut batch);
        batch.voices.into_iter().map(|(_, v)| v).collect()
    }

    /// Seconds of note time a swap of `layer` to `patch` at `frame` would run ahead
    /// (the new version's notes open at that frame, up to [`MAX_CATCH_UP_SECONDS`]): a
    /// reload that must happen soon leaves itself that much more time.
    pub fn catch_up_estimate(&self, patch: &Patch, frame: u64) -> f64 {
        let c = self.clock.cycle_at(frame);
        let total: f64 = open_events(patch, c, self.clock.cycle_at(frame + 1), self.limits.live())
            .iter()
            .filter(|o| {
                // Only held notes are started mid-way.
                let p = Params::from_value(&o.hap.value, |_| {});
                is_held(p.sound().unwrap_or(DEFAULT_SOUND), &patch.instruments, &self.builder.samples)
            })
            .map(|o| (c - o.whole.0).to_f64() / self.clock.cps())
            .sum();
        total.min(MAX_CATCH_UP_SECONDS)
    }

    /// The tempo a new version of a layer brings: the one it sets, if it sets a
    /// different one than the version it replaces (so a tempo the performer set by hand
    /// survives saves that do not touch the file's tempo), or if the tempo has drifted
    /// from it in another way than by hand (another file set its own).
    fn new_tempo(&self, layer: LayerId, patch: &Patch) -> Option<f64> {
        let cps = patch.cps?;
        let old = self.layers.get(layer).and_then(|l| l.patch.cps);
        (old != Some(cps) || !self.steered).then_some(cps).filter(|&c| !self.clock.is_tempo(c))
    }

    /// True if a new version of a layer changes the tempo (so every layer's voices after
    /// the swap move, not only its own).
    pub fn changes_tempo(&self, layer: LayerId, patch: &Patch) -> bool {
        self.new_tempo(layer, patch).is_some()
    }

    /// The number the next voice gets (voices are numbered in the order they are built).
    pub fn next_id(&self) -> u64 {
        self.next_id
    }

    /// Forgets the held notes sounding (they were silenced: pause, panic).
    pub fn forget_held(&mut self) {
        self.sounding.clear();
        self.midi_held.clear();
    }

    /// Forgets MIDI notes whose events were cancelled before they were sent.
    pub fn forget_midi(&mut self, cancelled: &[u64]) {
        let cancelled: std::collections::HashSet<u64> = cancelled.iter().copied().collect();
        self.midi_held.retain(|h| !cancelled.contains(&h.id));
    }

    /// The layer and track name of a track id.
    pub fn track_key(&self, id: usize) -> Option<(LayerId, &str)> {
        self.track_ids.get(id).map(|(l, t)| (*l, t.as_str()))
    }

    /// The version of a layer playing now.
    pub fn playing(&self, layer: LayerId) -> Option<&Patch> {
        self.layers.get(layer).map(|l| &l.patch)
    }

    /// Changes the clock from `frame` on by hand (tempo, nudge) and marks the tempo as
    /// set by hand (see [`Scheduler::changes_tempo`]).
    pub fn steer_clock(&mut self, change: impl FnOnce(&mut Clock)) {
        change(&mut self.clock);
        self.steered = true;
        let clock = self.clock;
        for s in self.sounding.iter_mut() {
            s.gate_end = clock.frame_at(s.whole.1);
        }
    }

    /// Changes the clock at `frame`, which is before `until`, the end of what has already
    /// been scheduled: `cancel` lists every voice already sent that starts at or after
    /// `frame` (they are cancelled), and every layer is scheduled again from `frame`.
    pub fn retime(
        &mut self,
        frame: u64,
        until: u64,
        cancel: &[u64],
        batch: &mut Batch,
        change: impl FnOnce(&mut Clock),
    ) {
        for id in 0..self.track_ids.len() {
            self.starts.rewind(id, frame);
        }
        self.sounding.retain(|s| !cancel.contains(&s.id));
        for &id in cancel {
            batch.commands.push(Command::Cancel { id, until });
        }
        self.steer_clock(change);
        if until > frame {
            self.window(frame, until, None, batch);
        }
    }

    /// Swaps a new version of a layer in at `frame`, which is before `until`, the end of
    /// what has already been scheduled: `cancel` lists the voices already sent that start
    /// at or after `frame` (they are cancelled), and the layer (every layer, if the tempo
    /// changes) is scheduled again from `frame` to `until`. `cancel` must hold the voices
    /// of every layer rescheduled.
    pub fn swap_early(
        &mut self,
        layer: LayerId,
        patch: Patch,
        frame: u64,
        until: u64,
        cancel: &[u64],
        batch: &mut Batch,
    ) {
        let only = if self.changes_tempo(layer, &patch) { None } else { Some(layer) };
        self.layers[layer].pending = None;
        // The cancelled voices are scheduled again: their starts must not count twice.
        for (id, (l, _)) in self.track_ids.iter().enumerate() {
            if only.is_none_or(|o| o == *l) {
                self.starts.rewind(id, frame);
            }
        }
        self.sounding.retain(|s| !cancel.contains(&s.id));
        for &id in cancel {
            batch.commands.push(Command::Cancel { id, until });
        }
        self.swap(layer, patch, frame, MAX_CATCH_UP_SECONDS, batch);
        self.window(frame, until, only, batch);
    }

    /// Schedules frames `[from, to)`, applying staged swaps at their frames, into `batch`.
    pub fn schedule_into(&mut self, from: u64, to: u64, batch: &mut Batch) {
        let mut t = from;
        while t < to {
            let next =
                self.layers.iter().filter_map(|l| l.pending.as_ref().map(|p| self.pending_frame(p.0).max(t))).min();
            let until = next.map_or(to, |n| n.min(to));
            if until > t {
                self.window(t, until, None, batch);
            }
            if next == Some(until) {
                for layer in 0..self.layers.len() {
                    if self.layers[layer].pending.as_ref().is_some_and(|p| self.pending_frame(p.0) <= until) {
                        let (_, patch) = self.layers[layer].pending.take().expect("pending");
                        self.swap(layer, patch, until, MAX_CATCH_UP_SECONDS, batch);
                    }
                }
            }
            t = until;
        }
    }

    fn voice_for(
        &mut self,
        layer: LayerId,
        track: &str,
        hap: &Hap<Value>,
        whole: (Rational, Rational),
        index: usize,
        start: u64,
    ) -> Option<Box<Voice>> {
        let cps = self.clock.cps();
        let mut unknown = Vec::new();
        let mut params = Params::from_value(&hap.value, |k| unknown.push(k.to_string()));
        for key in unknown {
            self.warn(format!("control:{key}"), format!("control \"{key}\" is not supported and is ignored"));
        }
        params.duration = (whole.1 - whole.0).to_f64() / cps;
        let track_id = self.track_id(layer, track);
        if !self.starts.admit(track_id, start) {
            return None;
        }
        let layer_name = &self.layers[layer].name;
        match self.builder.build(&params, start, seed(track, whole.0, index)) {
            Ok(mut v) => {
                v.set_id(self.next_id);
                v.set_track(track_id);
                self.next_id += 1;
                Some(v)
            }
            Err(e @ BuildError::TooSlow { .. }) => {
                self.warn(format!("slow:{layer_name}:{track}"), format!("{layer_name}: track {track}: {e}; skipped"));
                None
            }
            Err(BuildError::UnknownSound(name)) => {
                let message = format!(
                    "{layer_name}: track {track}: no sound called \"{name}\" (not an instrument, sample bank, drum or synth)"
                );
                self.warn(format!("sound:{name}"), message);
                None
            }
            Err(e @ BuildError::Sample(_)) => {
                self.warn(format!("sample:{e}"), e.to_string());
                None
            }
        }
    }

    /// Sends what an event routes to MIDI; false if the event does not also sound.
    fn midi_for(
        &mut self,
        layer: LayerId,
        track: &str,
        hap: &Hap<Value>,
        whole: (Rational, Rational),
        start: u64,
        batch: &mut Batch,
    ) -> bool {
        let routed = match crate::midi::route(&hap.value) {
            None => return true,
            Some(Ok(r)) => r,
            Some(Err(e)) => {
                let name = &self.layers[layer].name;
                self.warn(format!("midi:{layer}:{track}:{e}"), format!("{name}: track {track}: MIDI: {e}; not sent"));
                return false;
            }
        };
        let id = self.next_id;
        self.next_id += 1;
        let track_id = self.track_id(layer, track);
        let mut send = |message: Message, off: Option<u64>| {
            batch.midi.push(MidiCommand::Send(MidiOut {
                id,
                layer,
                track: track_id,
                port: routed.port.clone(),
                at: start,
                message,
                off,
            }))
        };
        for m in &routed.before {
            send(*m, None);
        }
        if let Some((key, velocity)) = routed.note {
            let end = whole.0 + (whole.1 - whole.0) * Rational::from_f64(routed.clip).unwrap_or(Rational::ONE);
            // As long as the event says, but no longer than any note may last (a huge
            // `clip` must not hold a key for hours).
            let longest = (self.voice_limits.max_note * self.clock.sample_rate() as f64) as u64;
            let off = self.clock.frame_at(end).clamp(start + 1, start + longest.max(1));
            send(Message::NoteOn { channel: routed.channel, key, velocity }, Some(off));
            self.midi_held.push(MidiHeld { id, layer, track: track.to_string(), whole, value: hap.value.clone(), off });
        }
        routed.sounds
    }

    /// Records a held note (call while the layer's instruments are in the builder).
    fn remember(&mut self, layer: LayerId, track: &str, voice: &Voice, hap: &Hap<Value>, whole: (Rational, Rational)) {
        if !voice.held() {
            return;
        }
        let instrument =
            Params::from_value(&hap.value, |_| {}).sound().and_then(|s| self.builder.instruments.get(s).cloned());
        self.sounding.push(Sounding {
            id: voice.id(),
            layer,
            track: track.to_string(),
            whole,
            value: hap.value.clone(),
            instrument,
            gate_end: self.clock.frame_at(whole.1),
        });
    }

    fn window(&mut self, from: u64, to: u64, only: Option<LayerId>, batch: &mut Batch) {
        let (begin, end) = (self.clock.cycle_at(from), self.clock.cycle_at(to));
        if end <= begin {
            return;
        }
        self.sounding.retain(|s| s.gate_end > from);
        self.midi_held.retain(|h| h.off > from);
        let first = batch.voices.len();
        // All tracks together get twice one track's budget per window: past it, the
        // remaining tracks are silent for this window (and say so), never the audio.
        let window_deadline = std::time::Instant::now() + self.limits.query_time * 2;
        for layer in 0..self.layers.len() {
            if only.is_some_and(|l| l != layer) {
                continue;
            }
            let tracks = std::mem::take(&mut self.layers[layer].tracks);
            std::mem::swap(&mut self.builder.instruments, &mut self.layers[layer].instruments);
            for track in &tracks {
                let left = window_deadline.saturating_duration_since(std::time::Instant::now());
                let patch = &self.layers[layer].patch;
                if left.is_zero() {
                    let e = patch.track_error(track, "skipped for a moment: the tracks together took too long".into());
                    patch.record_error(e);
                    continue;
                }
                let mut budget = self.limits.live();
                budget.time = Some(budget.time.map_or(left, |t| t.min(left)));
                // A panic while building this track's voices (a bug) costs this track
                // this window, never the session.
                let haps = patch.query_track(track, begin, end, budget);
                let built =
                    crate::pattern::budget::catch_quiet(|| self.track_voices(layer, track, &haps, begin, end, batch));
                if let Err(why) = built {
                    let patch = &self.layers[layer].patch;
                    patch.record_error(patch.track_error(track, why.to_string()));
                }
                self.warn_skipped(layer, &track.name);
            }
            std::mem::swap(&mut self.builder.instruments, &mut self.layers[layer].instruments);
            self.layers[layer].tracks = tracks;
        }
        batch.voices[first..].sort_by_key(|v| v.1.start());
    }

    /// Builds the voices of one track's haps that start in `[begin, end)`.
    fn track_voices(
        &mut self,
        layer: LayerId,
        track: &Track,
        haps: &[Hap<Value>],
        begin: Rational,
        end: Rational,
        batch: &mut Batch,
    ) {
        let mut count = 0;
        for (index, hap) in haps.iter().enumerate() {
            let Some(whole) = hap.whole else { continue };
            if !hap.has_onset() || whole.begin < begin || whole.begin >= end {
                continue;
            }
            count += 1;
            if count > MAX_EVENTS_PER_WINDOW {
                self.warn(
                    format!("too-many:{}", track.name),
                    format!(
                        "track {}: more than {MAX_EVENTS_PER_WINDOW} events at once; the rest are skipped",
                        track.name
                    ),
                );
                break;
            }
            let whole = (whole.begin, whole.end);
            let start = self.clock.frame_at(whole.0);
            if !self.midi_for(layer, &track.name, hap, whole, start, batch) {
                continue;
            }
            if let Some(v) = self.voice_for(layer, &track.name, hap, whole, index, start) {
                self.remember(layer, &track.name, &v, hap, whole);
                batch.voices.push((layer, v));
            }
        }
    }

    /// Reports (once per track) the events of a track the start limit skipped.
    fn warn_skipped(&mut self, layer: LayerId, track: &str) {
        let id = self.track_id(layer, track);
        let skipped = self.starts.take_skipped(id);
        if skipped > 0 {
            let VoiceLimits { max_starts, start_window, .. } = self.voice_limits;
            let message = format!(
                "{}: track {track}: {skipped} events skipped: more than {max_starts} notes in {:.0} ms ({:.0} per second); \
                 later ones are counted as skipped events",
                self.layers[layer].name,
                start_window * 1000.0,
                max_starts as f64 / start_window.max(1e-9),
            );
            self.warn(format!("starts:{layer}:{track}"), message);
        }
    }

    fn swap(&mut self, layer: LayerId, patch: Patch, frame: u64, catch_up: f64, batch: &mut Batch) {
        if let Some(cps) = self.new_tempo(layer, &patch) {
            self.clock.set_cps(frame, cps);
            // The file's tempo governs again.
            self.steered = false;
        }
        self.sounding.retain(|s| s.gate_end > frame);
        let c = self.clock.cycle_at(frame);
        let mut open = open_events(&patch, c, self.clock.cycle_at(frame + 1), self.limits.live());
        let mut report = Swap { layer, frame, faded: 0, kept: 0, started: 0 };
        let fade = self.fade;
        let mut i = 0;
        while i < self.sounding.len() {
            let s = &self.sounding[i];
            if s.layer != layer {
                i += 1;
                continue;
            }
            let same = open.iter_mut().find(|o| {
                !o.taken
                    && o.track == s.track
                    && o.whole == s.whole
                    && o.hap.value == s.value
                    && Params::from_value(&o.hap.value, |_| {}).sound().and_then(|n| patch.instruments.get(n))
                        == s.instrument.as_ref()
            });
            if let Some(entry) = same {
                entry.taken = true;
                report.kept += 1;
                i += 1;
            } else {
                batch.commands.push(Command::Fade { id: s.id, at: frame, frames: fade });
                report.faded += 1;
                self.sounding.swap_remove(i);
            }
        }
        // MIDI notes of this layer still held: kept if the new version plays them
        // identically, else their note-off comes at the swap.
        self.midi_held.retain(|h| h.off > frame);
        let mut i = 0;
        while i < self.midi_held.len() {
            let h = &self.midi_held[i];
            if h.layer != layer {
                i += 1;
                continue;
            }
            let same = open
                .iter_mut()
                .find(|o| !o.taken_midi && o.track == h.track && o.whole == h.whole && o.hap.value == h.value);
            if let Some(entry) = same {
                entry.taken_midi = true;
                i += 1;
            } else {
                batch.midi.push(MidiCommand::Cut { id: h.id, at: frame });
                self.midi_held.swap_remove(i);
            }
        }
        // The new version takes over.
        self.layers[layer].patch = patch.clone();
        self.layers[layer].tracks = patch.tracks.clone();
        self.layers[layer].instruments = patch.instruments.clone();
        let cps = self.clock.cps();
        let sr = self.clock.sample_rate() as f64;
        std::mem::swap(&mut self.builder.instruments, &mut self.layers[layer].instruments);
        let mut budget = (catch_up * sr) as u64;
        for o in open.iter().filter(|o| !o.taken) {
            // A note sent to MIDI only is not started mid-way (MIDI has no middle).
            if crate::midi::route(&o.hap.value).is_some_and(|r| !r.is_ok_and(|r| r.sounds)) {
                continue;
            }
            let Some(mut v) = self.voice_for(layer, &o.track, &o.hap, o.whole, o.index, frame) else { continue };
            if !v.held() {
                // A one-shot is never started in its middle.
                continue;
            }
            let offset = ((c - o.whole.0).to_f64() / cps * sr).round() as u64;
            // Running the oscillators up to here costs about 0.5 ms per second of note;
            // past the budget (long drones), the note starts in a fresh phase.
            let run = offset <= budget;
            budget -= if run { offset } else { 0 };
            v.skip(offset, run);
            v.fade_in(fade);
            self.remember(layer, &o.track, &v, &o.hap, o.whole);
            batch.voices.push((layer, v));
            report.started += 1;
        }
        std::mem::swap(&mut self.builder.instruments, &mut self.layers[layer].instruments);
        batch.swaps.push(report);
    }
}
