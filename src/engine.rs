//! The control side of playback: the clock, the scheduler that turns patterns into
//! voices at exact frames, and the offline renderer. Live playback (cpal) drives the
//! same scheduler and mixer in real time.

pub mod check;
pub mod clock;
pub mod live;
pub mod render;
pub mod scheduler;

pub use clock::Clock;
pub use live::Live;
pub use render::{Length, Rendered, SampleFormat, render, write_wav};
pub use scheduler::Scheduler;
