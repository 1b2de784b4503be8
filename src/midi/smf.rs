//! Standard MIDI Files: what a patch sends to MIDI over a rendered length, written as a
//! format 1 file: a conductor track (name, tempo, 4/4), then one track per rhaithm track
//! that sent anything.
//!
//! Offline and deterministic like [`crate::engine::render()`]: the same patch gives the same
//! bytes. Times come from exact cycle positions (480 ticks per quarter note, 4 quarters
//! per cycle). Queries run under the checker's budgets; events per cycle and in the whole
//! file are capped, and out-of-range values skip their event with a warning. Never opens a
//! MIDI port.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use midly::num::{u15, u24, u28};
use midly::{Format, Header, MetaMessage, Timing, TrackEvent, TrackEventKind};

use super::message::Message;
use super::route::{Routed, route};
use crate::engine::Length;
use crate::limits::Limits;
use crate::patch::{Patch, Track};
use crate::pattern::Rational;

/// Resolution: ticks per quarter note.
pub const TICKS_PER_QUARTER: u16 = 480;
/// Ticks per cycle (4 quarter notes).
pub const TICKS_PER_CYCLE: u64 = 4 * TICKS_PER_QUARTER as u64;
/// Most MIDI events (notes on and off, controls, ...) in one file; past it the file
/// stops with a warning.
pub const MAX_SMF_EVENTS: usize = 1_000_000;
/// Longest file, in cycles: its last tick must fit a 28-bit delta time.
pub const MAX_SMF_CYCLES: u64 = 0x0fff_ffff / TICKS_PER_CYCLE;

/// Why a MIDI file could not be made or written.
#[derive(Debug, thiserror::Error)]
pub enum SmfError {
    /// The length asked for is not a length a MIDI file can hold.
    #[error("a MIDI file must last more than 0 and at most {MAX_SMF_CYCLES} cycles (this one would last {0} cycles)")]
    Length(f64),
    /// Encoding or writing failed.
    #[error("writing {}: {source}", path.display())]
    Write {
        /// The file (empty when encoding into memory).
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
}

/// One track of a MIDI file, as summed up for the performer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmfTrack {
    /// The rhaithm track it comes from (`d1`, ...).
    pub name: String,
    /// The ports its events asked for, in order of first use (empty = the first port).
    pub ports: Vec<String>,
    /// Notes in it.
    pub notes: usize,
    /// MIDI events in it (notes on and off, controls, programs, bends, pressure).
    pub events: usize,
}

/// A rendered MIDI file: its bytes and what it holds.
#[derive(Clone, Debug, Default)]
pub struct RenderedSmf {
    /// The whole file, ready to write.
    pub bytes: Vec<u8>,
    /// The tracks after the conductor, one per rhaithm track that sent anything.
    pub tracks: Vec<SmfTrack>,
    /// Warnings raised while rendering (each once).
    pub warnings: Vec<String>,
    /// The file's length in ticks.
    pub end_tick: u64,
}

impl RenderedSmf {
    /// Notes in all tracks.
    pub fn notes(&self) -> usize {
        self.tracks.iter().map(|t| t.notes).sum()
    }

    /// Whether the patch sent nothing to MIDI (the file would hold only its conductor).
    pub fn is_empty(&self) -> bool {
        self.tracks.is_empty()
    }

    /// Writes the file, replacing one already there (as `render -o` does for audio).
    pub fn write(&self, path: &Path) -> Result<(), SmfError> {
        std::fs::write(path, &self.bytes).map_err(|source| SmfError::Write { path: path.to_path_buf(), source })
    }
}

/// Which of the events at one tick goes first: note-offs (so a repeated note
/// retriggers), then an event's controls, then its note-on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Rank {
    Off,
    Before,
    On,
}

/// A message at its tick.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Timed {
    tick: u64,
    rank: Rank,
    message: Message,
}

/// What one rhaithm track sent, while rendering.
#[derive(Default)]
struct Sent {
    events: Vec<Timed>,
    ports: Vec<String>,
    notes: usize,
    /// Events skipped for values MIDI cannot carry, and the first one's reason.
    skipped: usize,
    first_error: Option<String>,
}

/// The nearest tick to a time in cycles (halves round up; negative times are tick 0).
fn tick(at: Rational) -> u64 {
    let (n, d) = (at.numer() as i128, at.denom() as i128);
    let t = (2 * n * TICKS_PER_CYCLE as i128 + d).div_euclid(2 * d);
    t.clamp(0, u28::max_value().as_int() as i128) as u64
}

/// Microseconds per quarter note at a tempo (4 quarters per cycle), within what the
/// tempo meta event holds, and whether it had to be clamped.
fn micros_per_quarter(cps: f64) -> (u32, bool) {
    let max = u24::max_value().as_int();
    let micros = 60e6 / (cps * 240.0);
    if micros.is_finite() && (1.0..=max as f64).contains(&micros.round()) {
        (micros.round() as u32, false)
    } else {
        (if micros < 1.0 { 1 } else { max }, true)
    }
}

/// Renders what a patch sends to MIDI over `length` (at the patch's tempo, as
/// [`crate::engine::render()`] decides its length) into a format 1 Standard MIDI File.
///
/// Each track is queried one cycle at a time under `limits.check()`, with at most
/// `limits.max_events_per_cycle` events per track and cycle; a query that fails leaves
/// that cycle of that track empty and keeps its error for [`Patch::take_query_error`].
pub fn render_smf(patch: &Patch, length: Length, limits: &Limits) -> Result<RenderedSmf, SmfError> {
    render_capped(patch, length, limits, MAX_SMF_EVENTS)
}

struct Warnings {
    seen: BTreeSet<String>,
    list: Vec<String>,
}

impl Warnings {
    fn add(&mut self, message: String) {
        if self.seen.insert(message.clone()) {
            self.list.push(message);
        }
    }
}

fn render_capped(patch: &Patch, length: Length, limits: &Limits, cap: usize) -> Result<RenderedSmf, SmfError> {
    let cps = patch.cps_or_default();
    let cycles = match length {
        Length::Cycles(c) => c,
        Length::Seconds(s) => s * cps,
    };
    let end = Some(cycles)
        .filter(|c| *c > 0.0 && *c <= MAX_SMF_CYCLES as f64)
        .and_then(Rational::from_f64)
        .ok_or(SmfError::Length(cycles))?;
    let end_tick = tick(end);
    let mut warnings = Warnings { seen: BTreeSet::new(), list: Vec::new() };
    let mut sent: Vec<Sent> = patch.tracks.iter().map(|_| Sent::default()).collect();
    let mut total = 0;
    let budget = limits.check();
    let mut cycle = Rational::ZERO;
    // Cycle by cycle over all tracks, so that the event cap cuts every track at the
    // same cycle.
    while cycle < end {
        let next = (cycle.floor() + Rational::ONE).min(end);
        let mut pending = Vec::new();
        let mut needed = 0;
        for (index, (track, sent)) in patch.tracks.iter().zip(&mut sent).enumerate() {
            let mut onsets = 0;
            for hap in patch.query_track(track, cycle, next, budget) {
                let Some(whole) = hap.whole else { continue };
                if !hap.has_onset() || whole.begin < cycle || whole.begin >= next {
                    continue;
                }
                onsets += 1;
                if onsets > limits.max_events_per_cycle {
                    let message = format!(
                        "more than {} events in one cycle; the rest are not in the MIDI file",
                        limits.max_events_per_cycle
                    );
                    warnings.add(patch.track_error(track, message).to_string());
                    break;
                }
                match route(&hap.value) {
                    None => {}
                    Some(Ok(routed)) => {
                        needed += routed.before.len() + if routed.note.is_some() { 2 } else { 0 };
                        pending.push((index, routed, (whole.begin, whole.end)));
                    }
                    Some(Err(e)) => {
                        sent.skipped += 1;
                        sent.first_error.get_or_insert(e);
                    }
                }
            }
        }
        if total + needed > cap {
            warnings.add(format!("more than {cap} MIDI events: the MIDI file stops at cycle {cycle}"));
            break;
        }
        total += needed;
        for (index, routed, whole) in pending {
            add(&mut sent[index], &routed, whole, end);
        }
        cycle = next;
    }
    for (track, sent) in patch.tracks.iter().zip(&sent) {
        if let Some(e) = &sent.first_error {
            let others = match sent.skipped {
                1 => String::new(),
                n => format!(" (and {} more events with values MIDI cannot carry)", n - 1),
            };
            let message = format!("{e}{others}; those events are not in the MIDI file");
            warnings.add(patch.track_error(track, message).to_string());
        }
    }
    let (micros, clamped) = micros_per_quarter(cps);
    if clamped {
        warnings.add(format!(
            "{cps} cycles per second cannot be written as a MIDI tempo; the file says {:.3} bpm",
            60e6 / micros as f64
        ));
    }
    let title = patch.path().and_then(Path::file_stem).map_or("rhaithm".into(), |s| s.to_string_lossy().into_owned());
    let tracks: Vec<(&Track, Sent)> =
        patch.tracks.iter().zip(sent).filter(|(_, s)| !s.events.is_empty()).map(|(t, s)| (t, ordered(s))).collect();
    let bytes = encode(&title, micros, &tracks, end_tick)?;
    let tracks = tracks
        .into_iter()
        .map(|(t, s)| SmfTrack { name: t.name.clone(), ports: s.ports, notes: s.notes, events: s.events.len() })
        .collect();
    Ok(RenderedSmf { bytes, tracks, warnings: warnings.list, end_tick })
}

/// Adds one routed event (whole from `whole.0` to `whole.1`), its note cut at `end`.
fn add(sent: &mut Sent, routed: &Routed, whole: (Rational, Rational), end: Rational) {
    if !sent.ports.iter().any(|p| **p == *routed.port) {
        sent.ports.push(routed.port.to_string());
    }
    let on = tick(whole.0);
    for &message in &routed.before {
        sent.events.push(Timed { tick: on, rank: Rank::Before, message });
    }
    if let Some((key, velocity)) = routed.note {
        let off = Rational::from_f64(routed.clip)
            .map_or(end, |clip| whole.0 + (whole.1 - whole.0) * clip)
            .min(end)
            .max(whole.0);
        // At least one tick long, so that its note-off cannot come before its note-on.
        let off = tick(off).max(on + 1);
        let channel = routed.channel;
        sent.events.push(Timed { tick: on, rank: Rank::On, message: Message::NoteOn { channel, key, velocity } });
        sent.events.push(Timed { tick: off, rank: Rank::Off, message: Message::NoteOff { channel, key } });
        sent.notes += 1;
    }
}

/// Puts a track's messages in time order (at one tick: note-offs, controls, note-ons)
/// and keeps every key's notes on and off balanced: a note-on for a key that is still
/// sounding first ends it there (and the earlier note's own note-off is dropped).
fn ordered(mut sent: Sent) -> Sent {
    sent.events.sort_by_key(|e| (e.tick, e.rank));
    let mut sounding = vec![0u32; 16 * 128];
    let mut skip = vec![0u32; 16 * 128];
    let mut out = Vec::with_capacity(sent.events.len());
    for e in sent.events {
        match e.message {
            Message::NoteOn { channel, key, .. } => {
                let i = (channel as usize & 15) * 128 + (key as usize & 127);
                if sounding[i] > 0 {
                    out.push(Timed { rank: Rank::Off, message: Message::NoteOff { channel, key }, ..e });
                    sounding[i] -= 1;
                    skip[i] += 1;
                }
                sounding[i] += 1;
                out.push(e);
            }
            Message::NoteOff { channel, key } => {
                let i = (channel as usize & 15) * 128 + (key as usize & 127);
                if skip[i] > 0 {
                    skip[i] -= 1;
                } else if sounding[i] > 0 {
                    sounding[i] -= 1;
                    out.push(e);
                }
            }
            _ => out.push(e),
        }
    }
    Sent { events: out, ..sent }
}

/// A channel message as a track event, read back from the bytes [`Message::bytes`]
/// gives (so the file holds exactly what a port would be sent).
fn channel_event(message: &Message) -> Option<TrackEventKind<'static>> {
    let (bytes, n) = message.bytes();
    match midly::live::LiveEvent::parse(&bytes[..n]).ok()? {
        midly::live::LiveEvent::Midi { channel, message } => Some(TrackEventKind::Midi { channel, message }),
        _ => None,
    }
}

fn encode(title: &str, micros: u32, tracks: &[(&Track, Sent)], end_tick: u64) -> Result<Vec<u8>, SmfError> {
    let meta =
        |delta: u32, m: MetaMessage<'static>| TrackEvent { delta: u28::new(delta), kind: TrackEventKind::Meta(m) };
    let names: Vec<(String, String)> = tracks
        .iter()
        .map(|(t, s)| {
            let ports: Vec<&str> = s.ports.iter().map(|p| if p.is_empty() { "(first port)" } else { p }).collect();
            (t.name.clone(), ports.join(", "))
        })
        .collect();
    let end_tick = end_tick.min(u28::max_value().as_int() as u64);
    let mut out_tracks: Vec<Vec<TrackEvent>> = vec![vec![
        TrackEvent { delta: u28::new(0), kind: TrackEventKind::Meta(MetaMessage::TrackName(title.as_bytes())) },
        meta(0, MetaMessage::Tempo(u24::new(micros))),
        meta(0, MetaMessage::TimeSignature(4, 2, 24, 8)),
        meta(end_tick as u32, MetaMessage::EndOfTrack),
    ]];
    for ((_, sent), (name, ports)) in tracks.iter().zip(&names) {
        let mut events = Vec::with_capacity(sent.events.len() + 3);
        events.push(TrackEvent {
            delta: u28::new(0),
            kind: TrackEventKind::Meta(MetaMessage::TrackName(name.as_bytes())),
        });
        events.push(TrackEvent {
            delta: u28::new(0),
            kind: TrackEventKind::Meta(MetaMessage::InstrumentName(ports.as_bytes())),
        });
        let mut at = 0;
        for e in &sent.events {
            let Some(kind) = channel_event(&e.message) else { continue };
            let tick = e.tick.min(u28::max_value().as_int() as u64);
            events.push(TrackEvent { delta: u28::new((tick - at) as u32), kind });
            at = tick;
        }
        events.push(meta(end_tick.saturating_sub(at) as u32, MetaMessage::EndOfTrack));
        out_tracks.push(events);
    }
    let header = Header::new(Format::Parallel, Timing::Metrical(u15::new(TICKS_PER_QUARTER)));
    let mut bytes = Vec::new();
    midly::write_std(&header, &out_tracks, &mut bytes)
        .map_err(|source| SmfError::Write { path: PathBuf::new(), source })?;
    Ok(bytes)
}

#[cfg(test)]
mod tests;
