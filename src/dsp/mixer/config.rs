//! The mixer's capacities ([`MixerConfig`]) and the counters it shares ([`MixerStats`]).

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// Capacities, set up front.
#[derive(Clone, Copy, Debug)]
pub struct MixerConfig {
    /// Output sample rate.
    pub sample_rate: f64,
    /// Most voices sounding at once (stolen voices fading out are not counted).
    pub max_voices: usize,
    /// Most voices one track sounds at once.
    pub max_voices_per_track: usize,
    /// Number of per-track safety stages (track ids beyond it share stages).
    pub tracks: usize,
    /// Largest magnitude of one track's sum (linear; its stage limits it to that).
    pub track_ceiling: f32,
    /// Number of orbits (effect buses).
    pub orbits: usize,
    /// Voices that can wait in the queue.
    pub queue: usize,
}

/// Default [`MixerConfig::track_ceiling`]: -3 dBFS. A single track is never limited
/// below that, and a runaway track leaves the master `CEILING - 0.7` of headroom: the
/// other tracks are untouched while their peaks stay under about -11 dBFS, and louder
/// ones lose at most 20·log10((0.7 + p) / 0.98) dB (p their peak: under 5 dB).
pub const TRACK_CEILING: f32 = 0.7;

impl MixerConfig {
    /// Defaults for a sample rate: 256 voices, 64 per track, 64 track stages at
    /// [`TRACK_CEILING`], 12 orbits (as SuperDirt), 4096 queued.
    pub fn new(sample_rate: f64) -> MixerConfig {
        MixerConfig {
            sample_rate,
            max_voices: 256,
            max_voices_per_track: 64,
            tracks: 64,
            track_ceiling: TRACK_CEILING,
            orbits: 12,
            queue: 4096,
        }
    }
}

/// Track stages whose voice counts are published ([`MixerStats::track_voices`]).
pub const COUNTED_TRACKS: usize = 64;

/// Voices sounding per track stage (stage = track id modulo the number of stages).
#[derive(Debug)]
pub struct TrackVoices(pub [AtomicU32; COUNTED_TRACKS]);

impl Default for TrackVoices {
    fn default() -> TrackVoices {
        TrackVoices(std::array::from_fn(|_| AtomicU32::new(0)))
    }
}

impl TrackVoices {
    /// The counters.
    pub fn iter(&self) -> std::slice::Iter<'_, AtomicU32> {
        self.0.iter()
    }

    /// Voices sounding on a track id's stage.
    pub fn get(&self, track: usize) -> u32 {
        self.0[track % COUNTED_TRACKS].load(Ordering::Relaxed)
    }
}

/// Counters the audio side updates and anyone may read.
#[derive(Debug, Default)]
pub struct MixerStats {
    /// Voices sounding per track stage.
    pub track_voices: TrackVoices,
    /// Frames rendered so far.
    pub frames: AtomicU64,
    /// Voices sounding now.
    pub voices: AtomicU32,
    /// Voices started.
    pub started: AtomicU64,
    /// Voices dropped because all voice slots were busy (even for stealing: more than
    /// `max_voices` steals within a steal fade).
    pub dropped: AtomicU64,
    /// Voices faded out early to make room for new ones (a voice cap was reached).
    pub stolen: AtomicU64,
    /// Voices faded out because the audio thread was running out of time (too much DSP
    /// at once: heavy instruments, many long notes).
    pub shed: AtomicU64,
    /// Frames (summed over tracks) in which a track's safety stage reduced its gain.
    pub track_limited: AtomicU64,
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
