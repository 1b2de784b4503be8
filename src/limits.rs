//! The budgets that keep a performer's mistake from stopping the music: how much work a
//! version may do when it is checked, and how much each track may do while it plays.
//! Set up front (`--max-events`, `--query-ms`, ...), checked as the work is done.

use std::time::Duration;

use crate::dsp::MixerConfig;
use crate::dsp::limits::VoiceLimits;
use crate::pattern::budget::Budget;

/// Every budget in one place.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limits {
    /// Events (onsets) one track may have in one cycle; a version with more is refused.
    pub max_events_per_cycle: usize,
    /// Wall time one track's query may take while playing (per scheduling tick).
    pub query_time: Duration,
    /// Fuel of one track's query while playing (haps counted through every level).
    pub query_fuel: u64,
    /// Wall time checking one cycle of one track may take.
    pub check_time: Duration,
    /// Fuel of one cycle of one track when checked.
    pub check_fuel: u64,
    /// Wall time the checker process may take for a whole version.
    pub vet_time: Duration,
    /// Address space the checker process may use, in bytes.
    pub vet_memory: u64,
    /// The longest note, and how many notes a track may start in a short window.
    pub voices: VoiceLimits,
    /// Voices sounding at once, over all tracks (past it, the oldest are stolen).
    pub max_voices: usize,
    /// Voices sounding at once in one track.
    pub max_voices_per_track: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_events_per_cycle: 1024,
            query_time: Duration::from_millis(8),
            query_fuel: 200_000,
            check_time: Duration::from_millis(500),
            check_fuel: 250_000,
            vet_time: Duration::from_secs(5),
            vet_memory: 4 << 30,
            voices: VoiceLimits::default(),
            max_voices: 256,
            max_voices_per_track: 64,
        }
    }
}

impl Limits {
    /// The budget of one track's query while playing.
    pub fn live(&self) -> Budget {
        Budget::new(self.query_fuel, self.query_time)
    }

    /// The mixer's configuration at a sample rate, with these voice caps.
    pub fn mixer(&self, sample_rate: f64) -> MixerConfig {
        MixerConfig {
            max_voices: self.max_voices,
            max_voices_per_track: self.max_voices_per_track.min(self.max_voices),
            ..MixerConfig::new(sample_rate)
        }
    }

    /// The budget of one cycle of one track when a version is checked.
    pub fn check(&self) -> Budget {
        Budget::new(self.check_fuel, self.check_time)
    }
}

/// Longest patch file read, in bytes.
pub const MAX_SOURCE_BYTES: usize = 1 << 20;
/// Most lines in a patch file (Rhai numbers lines with 16 bits).
pub const MAX_SOURCE_LINES: usize = 65_000;
/// Fastest tempo a patch may set, in cycles per second (12,000 bpm).
pub const MAX_CPS: f64 = 50.0;
/// Slowest tempo a patch may set, in cycles per second.
pub const MIN_CPS: f64 = 0.001;
