//! Sound: turns events and instrument descriptions into fundsp units and mixes them.
//!
//! The control side builds voices ([`build::VoiceBuilder`]); the audio side renders them
//! ([`mixer::Mixer`]), through per-orbit effects and the master bus. Nothing here runs
//! Rhai, and nothing on the audio side allocates, frees or locks.

pub mod biquad;
pub mod build;
pub mod drums;
pub mod env;
pub mod graph;
pub mod limits;
pub mod master;
pub mod mixer;
pub mod orbit;
pub mod osc;
pub mod params;
pub mod samples;
pub mod synth;
pub mod track;
pub mod voice;

pub use build::{BuildError, VoiceBuilder};
pub use graph::Graph;
pub use limits::VoiceLimits;
pub use mixer::{Mixer, MixerConfig, MixerHandle, MixerStats, mixer};
pub use params::Params;
pub use voice::{BLOCK, Voice};
