//! Real-time scheduling: keeps the mixer's queue filled a short window ahead of the
//! audio thread, applies reloads at the frame they are due, and frees what the audio
//! thread hands back. Runs on the control thread, ticked every millisecond or so.

use super::scheduler::{Batch, LayerId, Scheduler, Swap};
use crate::dsp::MixerHandle;
use crate::patch::{Patch, Quantize};

/// A gap longer than this (the control thread stalled, the stream was reopened) is
/// skipped rather than played late.
const MAX_CATCH_UP_SECONDS: f64 = 0.25;

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
    batch: Batch,
    counters: LiveCounters,
}

impl Live {
    /// Drives `handle`'s mixer from `scheduler`, keeping `lookahead` frames queued past
    /// the audio thread's position.
    pub fn new(scheduler: Scheduler, handle: MixerHandle, lookahead: u64) -> Live {
        Live {
            scheduler,
            handle,
            scheduled_to: 0,
            lookahead,
            batch: Batch::default(),
            counters: LiveCounters::default(),
        }
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

    /// The mixer handle, to replace (when a failed stream comes back with a new mixer).
    pub fn handle_mut(&mut self) -> &mut MixerHandle {
        &mut self.handle
    }

    /// Frames scheduled so far: the earliest frame a reload can take effect at.
    pub fn scheduled_to(&self) -> u64 {
        self.scheduled_to
    }

    /// Counters.
    pub fn counters(&self) -> LiveCounters {
        self.counters
    }

    /// Sets how far ahead to schedule.
    pub fn set_lookahead(&mut self, frames: u64) {
        self.lookahead = frames;
    }

    /// Stages a new version of a layer; returns the frame it will take effect at (as
    /// soon as possible, or at the next cycle or bar).
    pub fn reload(&mut self, layer: LayerId, patch: Patch, quantize: Quantize) -> u64 {
        let at = self.scheduler.swap_frame(self.scheduled_to, quantize);
        self.scheduler.stage(layer, patch, at);
        at
    }

    /// Schedules up to `now + lookahead` (`now` = the first frame the audio thread has
    /// not rendered yet), queues the voices and fades, frees finished voices, and
    /// returns the swaps applied.
    pub fn tick(&mut self, now: u64) -> Vec<Swap> {
        self.handle.collect();
        let max_gap = (MAX_CATCH_UP_SECONDS * self.scheduler.clock().sample_rate() as f64) as u64;
        if now > self.scheduled_to + max_gap {
            self.counters.skipped_frames += now - self.scheduled_to;
            self.scheduled_to = now;
        }
        let target = now + self.lookahead;
        if target <= self.scheduled_to {
            return Vec::new();
        }
        self.scheduler.schedule_into(self.scheduled_to, target, &mut self.batch);
        self.scheduled_to = target;
        // Fades first: a crossfade's outgoing voices must hear about it before the
        // voices fading in could start.
        for c in self.batch.commands.drain(..) {
            if !self.handle.command(c) {
                self.counters.unsent_commands += 1;
            }
        }
        for v in self.batch.voices.drain(..) {
            if self.handle.send(v).is_err() {
                self.counters.unsent_voices += 1;
            }
        }
        std::mem::take(&mut self.batch.swaps)
    }
}
