//! Audio outputs: the real-time callback every output drives, the cpal device output,
//! a timer-paced null output with the same timing, and the recorder that writes what
//! was played to a WAV file from its own thread.
//!
//! The callback ([`AudioCallback`]) owns the audio side of the engine (the
//! [`crate::dsp::Mixer`]) and nothing else that could block: it never allocates, frees,
//! locks or logs. It reports through atomics ([`AudioStatus`]).

pub mod callback;
pub mod device;
pub mod null;
pub mod record;

pub use callback::{AudioCallback, AudioStatus, CallbackSlot};
pub use device::{DeviceOptions, list_devices};
pub use null::NullOutput;
pub use record::Recorder;
