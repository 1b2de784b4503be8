//! Real-time scheduling: keeps the mixer's queue filled a short window ahead of the
//! audio thread, applies reloads at the frame they are due, and frees what the audio
//! thread hands back. Runs on the control thread, ticked every millisecond or so.

use std::sync::Arc;

use super::scheduler::{Batch, CATCH_UP_COST, LayerId, MidiCommand, MidiOut, Scheduler, Swap};
use crate::dsp::MixerHandle;
use crate::dsp::mixer::{Command, MASTER_FADE};
use crate::midi::{Message, ToMidi};
use crate::patch::{Patch, Quantize};
use crate::pattern::Rational;

/// A gap longer than this (the control thread stalled, the stream was reopened) is
/// skipped rather than played late.
const MAX_STALL_SECONDS: f64 = 0.25;

/// Counters the control side keeps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LiveCounters {
    /// Voices that could not be queued (queue full) and were dropped.
    pub unsent_voices: u64,
    /// Fades that could not be queued.
    pub unsent_commands: u64,
    /// Frames skipped without scheduling after a stall.
    pub skipped_frames: u64,
}

/// The control side of live playback.
pub struct Live {
    scheduler: Scheduler,
    handle: MixerHandle,
    scheduled_to: u64,
    lookahead: u64,
    /// How far past the audio thread's position a reload can take effect.
    min_ahead: u64,
    /// The audio thread's position at the last tick.
    now: u64,
    /// Voices sent that had not started at the last tick: (id, layer, start).
    queued: Vec<(u64, LayerId, u64)>,
    batch: Batch,
    counters: LiveCounters,
    /// While paused, the cycle held.
    paused: Option<Rational>,
    /// Voices sent: (track id, start frame), until taken (for the UI's lights).
    onsets: Vec<(usize, u64)>,
    /// MIDI events sent that had not started at the last tick: (id, layer, start).
    midi_queued: Vec<(u64, LayerId, u64)>,
    /// What the MIDI side is to be told, until taken.
    midi: Vec<ToMidi>,
    /// Ports that get the MIDI clock, and the frame its ticks are queued to.
    clock_ports: Vec<Arc<str>>,
    clock_to: u64,
    /// The clock's start message was sent.
    clock_started: bool,
}

/// MIDI clock ticks per cycle (24 per quarter note, 4 quarter notes per cycle).
pub const CLOCKS_PER_CYCLE: i64 = 96;
/// MIDI beats (sixteenth notes, song position's unit) per cycle.
const SIXTEENTHS_PER_CYCLE: f64 = 16.0;

/// Most onsets kept for [`Live::take_onsets`] when nobody takes them.
const MAX_ONSETS: usize = 4096;

impl Live {
    /// Drives `handle`'s mixer from `scheduler`, keeping `lookahead` frames queued past
    /// the audio thread's position.
    pub fn new(scheduler: Scheduler, handle: MixerHandle, lookahead: u64) -> Live {
        Live {
            scheduler,
            handle,
            scheduled_to: 0,
            lookahead,
            min_ahead: lookahead,
            now: 0,
            queued: Vec::new(),
            batch: Batch::default(),
            counters: LiveCounters::default(),
            paused: None,
            onsets: Vec::new(),
            midi_queued: Vec::new(),
            midi: Vec::new(),
            clock_ports: Vec::new(),
            clock_to: 0,
            clock_started: false,
        }
    }

    /// Sends the MIDI clock (and start, stop, continue, song position) to these ports.
    pub fn set_clock_ports(&mut self, ports: Vec<Arc<str>>) {
        self.clock_ports = ports;
    }

    /// What the MIDI side is to be told since the last call.
    pub fn take_midi(&mut self) -> Vec<ToMidi> {
        std::mem::take(&mut self.midi)
    }

    /// Sends a transport message to the clock ports at a frame.
    fn transport(&mut self, at: u64, message: Message) {
        if self.clock_ports.is_empty() {
            return;
        }
        let sends = self
            .clock_ports
            .iter()
            .map(|port| {
                MidiCommand::Send(MidiOut {
                    id: 0,
                    layer: 0,
                    track: usize::MAX,
                    port: port.clone(),
                    at,
                    message,
                    off: None,
                })
            })
            .collect();
        self.midi.push(ToMidi::Batch(sends));
    }

    /// Queues the clock's ticks in `[self.clock_to, to)`.
    fn clock_ticks(&mut self, to: u64) {
        if self.clock_ports.is_empty() || self.paused.is_some() {
            self.clock_to = to;
            return;
        }
        if !self.clock_started {
            self.clock_started = true;
            let at = self.clock_to;
            self.transport(at, Message::SongPosition(0));
            self.transport(at, Message::Start);
        }
        let clock = *self.scheduler.clock();
        self.clock_ticks_with(clock, to);
    }

    /// Queues the ticks in `[self.clock_to, to)` as `clock` places them.
    fn clock_ticks_with(&mut self, clock: crate::engine::Clock, to: u64) {
        if to <= self.clock_to {
            return;
        }
        let per = Rational::int(CLOCKS_PER_CYCLE);
        // Ticks are chosen in cycles (a tick that rounds onto the window's end frame
        // belongs to this window, not to none).
        let (first, end) = (clock.cycle_at(self.clock_to), clock.cycle_at(to));
        let mut k = (first * per).ceil().floor_i64();
        let mut sends = Vec::new();
        loop {
            let tick = Rational::new(k, CLOCKS_PER_CYCLE);
            if tick >= end || sends.len() > 100_000 {
                break;
            }
            let at = clock.frame_at(tick);
            {
                for port in &self.clock_ports {
                    sends.push(MidiCommand::Send(MidiOut {
                        id: 0,
                        layer: 0,
                        track: usize::MAX,
                        port: port.clone(),
                        at,
                        message: Message::Clock,
                        off: None,
                    }));
                }
            }
            k += 1;
        }
        if !sends.is_empty() {
            self.midi.push(ToMidi::Batch(sends));
        }
        self.clock_to = to;
    }

    /// The cycle held while paused.
    pub fn paused(&self) -> Option<Rational> {
        self.paused
    }

    fn fade_frames(&self) -> u32 {
        (MASTER_FADE * self.scheduler.clock().sample_rate() as f64).round().max(1.0) as u32
    }

    /// Silences every voice sent so far from the audio thread's position `now` (a short
    /// fade, and the effect tails are cleared once silent); with `audible`, the output
    /// fades back in right after.
    fn silence(&mut self, now: u64, audible: bool) {
        let at = now.max(self.now);
        let below = self.scheduler.next_id();
        let frames = self.fade_frames();
        if !audible {
            // Paused: the clock's queued ticks go too (resume sends them again).
            self.midi.push(ToMidi::DropClock(at));
        }
        let ok = self.handle.command(Command::Silence { at, frames, below })
            & self.handle.command(Command::Master { audible: false, reset: true })
            & self.handle.command(Command::Master { audible, reset: false });
        if !ok {
            self.counters.unsent_commands += 1;
        }
        self.queued.clear();
        self.midi_queued.clear();
        self.midi.push(ToMidi::Silence { at, below });
        self.scheduler.forget_held();
    }

    /// Pauses at the audio thread's position `now`: every voice fades out, nothing more
    /// is scheduled, and the cycle there is held. Returns it.
    pub fn pause(&mut self, now: u64) -> Rational {
        if let Some(c) = self.paused {
            return c;
        }
        let cycle = self.scheduler.clock().cycle_at(now.max(self.now));
        self.silence(now, false);
        self.transport(now.max(self.now), Message::Stop);
        self.paused = Some(cycle);
        cycle
    }

    /// Resumes after a pause: the held cycle plays from as soon as the audio side can
    /// take it. Returns that frame.
    pub fn resume(&mut self, now: u64) -> u64 {
        let Some(cycle) = self.paused.take() else { return self.scheduled_to };
        let at = now.max(self.now) + self.min_ahead;
        self.scheduler.steer_clock(|clock| clock.reanchor(at, cycle));
        self.scheduled_to = at;
        self.clock_to = at;
        let position = (cycle.to_f64() * SIXTEENTHS_PER_CYCLE).round().clamp(0.0, 16383.0) as u16;
        self.transport(at, Message::SongPosition(position));
        self.transport(at, Message::Continue);
        if !self.handle.command(Command::Master { audible: true, reset: false }) {
            self.counters.unsent_commands += 1;
        }
        at
    }

    /// Silences every voice and effect tail now; the music goes on from the next
    /// notes scheduled.
    pub fn panic(&mut self, now: u64) {
        let audible = self.paused.is_none();
        self.silence(now, audible);
    }

    /// Mutes or unmutes a track id (its gain fades on the audio side).
    pub fn mute(&mut self, track: usize, muted: bool) -> bool {
        self.midi.push(ToMidi::Mute { track, muted, at: self.now });
        let ok = self.handle.command(Command::Mute { track: track as u32, muted });
        if !ok {
            self.counters.unsent_commands += 1;
        }
        ok
    }

    /// Changes the clock by hand (the tempo, say) as soon as the audio side can take it:
    /// voices already queued past that frame are cancelled and scheduled again. Returns
    /// the frame it takes effect at.
    pub fn steer(&mut self, now: u64, change: impl FnOnce(&mut crate::engine::Clock, u64)) -> u64 {
        if let Some(cycle) = self.paused {
            // Paused: the clock is anchored again on resume.
            let at = now.max(self.now);
            self.scheduler.steer_clock(|clock| {
                clock.reanchor(at, cycle);
                change(clock, at);
            });
            self.paused = Some(self.scheduler.clock().cycle_at(at));
            return at;
        }
        let at = (now.max(self.now) + self.min_ahead).min(self.scheduled_to);
        let cancel: Vec<u64> = self.queued.iter().filter(|q| q.2 >= at).map(|q| q.0).collect();
        self.queued.retain(|q| q.2 < at);
        self.cancel_midi(|q| q.2 >= at);
        self.midi.push(ToMidi::DropClock(at));
        self.scheduler.retime(at, self.scheduled_to, &cancel, &mut self.batch, |clock| change(clock, at));
        self.flush();
        self.clock_to = at;
        let to = self.scheduled_to;
        self.clock_ticks(to);
        at
    }

    /// Cancels the MIDI events queued that `moved` picks (they are scheduled again).
    fn cancel_midi(&mut self, moved: impl Fn(&(u64, LayerId, u64)) -> bool) {
        let ids: Vec<u64> = self.midi_queued.iter().filter(|q| moved(q)).map(|q| q.0).collect();
        if !ids.is_empty() {
            self.midi_queued.retain(|q| !moved(q));
            self.scheduler.forget_midi(&ids);
            self.midi.push(ToMidi::Cancel(ids));
        }
    }

    /// The voices sent since the last call: (track id, start frame).
    pub fn take_onsets(&mut self) -> Vec<(usize, u64)> {
        std::mem::take(&mut self.onsets)
    }

    /// The scheduler.
    pub fn scheduler(&self) -> &Scheduler {
        &self.scheduler
    }

    /// The scheduler, to change.
    pub fn scheduler_mut(&mut self) -> &mut Scheduler {
        &mut self.scheduler
    }

    /// The mixer handle (for its counters).
    pub fn handle(&self) -> &MixerHandle {
        &self.handle
    }

    /// Frames scheduled so far: the earliest frame a reload can take effect at.
    pub fn scheduled_to(&self) -> u64 {
        self.scheduled_to
    }

    /// Counters.
    pub fn counters(&self) -> LiveCounters {
        self.counters
    }

    /// Sets how far ahead to schedule, and how far past the audio thread's position a
    /// reload can take effect (at most the lookahead): voices already queued beyond that
    /// are cancelled and scheduled again from the new version, so a long lookahead (for
    /// safety) does not delay reloads.
    pub fn set_lookahead(&mut self, frames: u64, min_ahead: u64) {
        self.lookahead = frames;
        self.min_ahead = min_ahead.min(frames);
    }

    /// Applies a new version of a layer; returns the frame it takes effect at: as soon
    /// as possible (`now` is the audio thread's position), or at the next cycle or bar.
    /// A swap before the end of what is already scheduled cancels the layer's queued
    /// voices from there and reschedules them (every layer's, if the tempo changes).
    pub fn reload(&mut self, layer: LayerId, patch: Patch, quantize: Quantize, now: u64) -> u64 {
        if self.paused.is_some() {
            // Nothing plays: it takes over where the music resumes.
            self.scheduler.stage(layer, patch, 0);
            return now;
        }
        let mut earliest = now.max(self.now) + self.min_ahead;
        // Notes started mid-way run their oscillators up to the swap first: leave time.
        let sr = self.scheduler.clock().sample_rate() as f64;
        let work = self.scheduler.catch_up_estimate(&patch, earliest) * CATCH_UP_COST;
        earliest += (work * sr).ceil() as u64;
        let earliest = earliest.min(self.scheduled_to);
        let at = self.scheduler.swap_frame(earliest, quantize);
        if at >= self.scheduled_to {
            match self.scheduler.swap_cycle(earliest, quantize) {
                Some(cycle) => self.scheduler.stage_at_cycle(layer, patch, cycle),
                None => self.scheduler.stage(layer, patch, at),
            }
            return at;
        }
        let all = self.scheduler.changes_tempo(layer, &patch);
        let moved = |q: &(u64, LayerId, u64)| (all || q.1 == layer) && q.2 >= at;
        let cancel: Vec<u64> = self.queued.iter().filter(|q| moved(q)).map(|q| q.0).collect();
        self.queued.retain(|q| !moved(q));
        self.cancel_midi(moved);
        self.scheduler.swap_early(layer, patch, at, self.scheduled_to, &cancel, &mut self.batch);
        // Sent at once: the swap is only a few milliseconds ahead of the audio thread.
        self.flush();
        if all && !self.clock_ports.is_empty() {
            // The clock's ticks from the swap on follow the new tempo.
            let (ticked, to) = (self.clock_to, self.scheduled_to);
            self.midi.push(ToMidi::DropClock(at));
            self.clock_to = at.min(ticked);
            self.clock_ticks(to);
        }
        at
    }

    fn flush(&mut self) {
        if !self.batch.midi.is_empty() {
            let midi = std::mem::take(&mut self.batch.midi);
            for c in &midi {
                if let MidiCommand::Send(m) = c
                    && m.id != 0
                {
                    self.midi_queued.push((m.id, m.layer, m.at));
                    if self.onsets.len() < MAX_ONSETS && matches!(m.message, Message::NoteOn { .. }) {
                        self.onsets.push((m.track, m.at));
                    }
                }
            }
            self.midi.push(ToMidi::Batch(midi));
        }
        // Commands first: fades and cancellations must reach the audio side before the
        // voices that replace them could start.
        for c in self.batch.commands.drain(..) {
            if !self.handle.command(c) {
                self.counters.unsent_commands += 1;
            }
        }
        for (layer, v) in self.batch.voices.drain(..) {
            let (id, start) = (v.id(), v.start());
            let track = v.track();
            match self.handle.send(v) {
                Ok(()) => {
                    self.queued.push((id, layer, start));
                    if self.onsets.len() < MAX_ONSETS {
                        self.onsets.push((track, start));
                    }
                }
                Err(_) => self.counters.unsent_voices += 1,
            }
        }
    }

    /// Schedules up to `now + lookahead` (`now` = the first frame the audio thread has
    /// not rendered yet), queues the voices and fades, frees finished voices, and
    /// returns the swaps applied.
    pub fn tick(&mut self, now: u64) -> Vec<Swap> {
        self.handle.collect();
        self.now = now;
        if self.paused.is_some() {
            self.queued.clear();
            return Vec::new();
        }
        self.queued.retain(|q| q.2 >= now);
        self.midi_queued.retain(|q| q.2 >= now);
        let max_gap = (MAX_STALL_SECONDS * self.scheduler.clock().sample_rate() as f64) as u64;
        if now > self.scheduled_to + max_gap {
            self.counters.skipped_frames += now - self.scheduled_to;
            self.scheduled_to = now;
            self.clock_to = self.clock_to.max(now);
        }
        let target = now + self.lookahead;
        if target > self.scheduled_to {
            let before = *self.scheduler.clock();
            self.scheduler.schedule_into(self.scheduled_to, target, &mut self.batch);
            self.scheduled_to = target;
            self.flush();
            let after = *self.scheduler.clock();
            if after != before && after.anchor_frame() > self.clock_to && self.paused.is_none() {
                // A swap changed the tempo inside the window: the ticks before it keep the
                // old tempo (the clock keeps one anchor only).
                let anchor = after.anchor_frame().min(target);
                self.clock_ticks_with(before, anchor);
            }
            self.clock_ticks(target);
        }
        std::mem::take(&mut self.batch.swaps)
    }
}
