//! MIDI: what patterns send ([`route`]), the messages ([`message`]), the thread that
//! sends them in time through midir ([`out`]), knobs and clock in ([`input`]), and
//! Standard MIDI Files ([`smf`]).

pub mod clock_in;
pub mod input;
pub mod message;
pub mod out;
pub mod route;
pub mod smf;

pub use message::Message;
pub use out::{MidiOptions, MidiSender, MidiStatus, ToMidi};
pub use route::{Routed, route};
pub use smf::{RenderedSmf, SmfError, render_smf};
