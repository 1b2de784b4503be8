//! MIDI in: knobs become values scripts read (`cc(74)`), through a table of atomics
//! the input thread writes and pattern queries read, so turning a knob is heard within
//! one scheduling window, without a reload.

use std::sync::atomic::{AtomicU32, Ordering};

use midir::{MidiInput, MidiInputConnection};

use super::message::Message;
use crate::pattern::{Pat, Value, signal};

/// Controllers per channel.
const CONTROLLERS: usize = 128;
/// Rows of the table: one per channel, then "the last value on any channel".
const ROWS: usize = 17;

/// The last value of every controller (f32 bits of 0..1), per channel and on any channel.
static TABLE: [[AtomicU32; CONTROLLERS]; ROWS] = [const { [const { AtomicU32::new(0) }; CONTROLLERS] }; ROWS];

/// Records a control change (channel 0..15, controller and value 0..127).
pub fn set(channel: u8, controller: u8, value: u8) {
    let v = (value.min(127) as f32 / 127.0).to_bits();
    let c = controller as usize % CONTROLLERS;
    TABLE[channel as usize % 16][c].store(v, Ordering::Relaxed);
    TABLE[16][c].store(v, Ordering::Relaxed);
}

/// The last value (0..1) of a controller: on a channel 1..=16, or on any channel.
pub fn get(controller: u8, channel: Option<u8>) -> f64 {
    let row = channel.map_or(16, |c| (c.clamp(1, 16) - 1) as usize);
    f32::from_bits(TABLE[row][controller as usize % CONTROLLERS].load(Ordering::Relaxed)) as f64
}

/// `cc(74)` / `cc(74, 2)`: a signal of a controller's last value (0..1), read when the
/// pattern is queried.
pub fn cc(controller: i64, channel: Option<i64>) -> Result<Pat, String> {
    if !(0..=127).contains(&controller) {
        return Err(format!("cc({controller}): controllers are numbered 0 to 127"));
    }
    let channel = match channel {
        Some(c) if !(1..=16).contains(&c) => return Err(format!("cc(_, {c}): channels are numbered 1 to 16")),
        c => c.map(|c| c as u8),
    };
    let controller = controller as u8;
    Ok(signal(move |_| Value::num(get(controller, channel))))
}

/// Open MIDI inputs; dropping it closes them.
pub struct Inputs {
    _connections: Vec<MidiInputConnection<()>>,
    /// The ports opened.
    pub names: Vec<String>,
}

/// Connects to the input a pattern names (see [`super::out::pick`]); `what` names the
/// connection (and the purpose, in messages). Returns it with the port's name.
pub fn connect<T: Send + 'static>(
    pattern: &str,
    what: &str,
    data: T,
    mut on_message: impl FnMut(&[u8], &mut T) + Send + 'static,
) -> Result<(MidiInputConnection<T>, String), String> {
    // alsa-lib prints its own complaints (no sequencer...) over the UI otherwise.
    crate::audio::device::quiet_alsa();
    let known = super::out::list_inputs()?;
    let name = super::out::pick(&known, pattern).ok_or_else(|| {
        let list = if known.is_empty() { "none".to_string() } else { known.join(", ") };
        format!("no MIDI input matches \"{pattern}\" for --{what} (inputs: {list})")
    })?;
    let input = MidiInput::new(&format!("rhaithm-{what}")).map_err(|e| e.to_string())?;
    let port = input
        .ports()
        .into_iter()
        .find(|p| input.port_name(p).is_ok_and(|n| n == name))
        .ok_or_else(|| format!("MIDI input \"{name}\" went away"))?;
    let conn =
        input.connect(&port, what, move |_, bytes, data| on_message(bytes, data), data).map_err(|e| e.to_string())?;
    Ok((conn, name))
}

/// Opens the inputs that match each pattern (see [`super::out::pick`]); control changes
/// go into the table. Returns the inputs and a warning per pattern that opened nothing.
pub fn open(patterns: &[String]) -> (Inputs, Vec<String>) {
    let mut connections = Vec::new();
    let mut names = Vec::new();
    let mut warnings = Vec::new();
    for pattern in patterns {
        let opened = connect(pattern, "midi-in", (), |bytes, _| {
            if let Some(Message::Control { channel, controller, value }) = Message::parse(bytes) {
                set(channel, controller, value);
            }
        });
        match opened {
            Ok((conn, name)) => {
                connections.push(conn);
                names.push(name);
            }
            Err(e) => warnings.push(e),
        }
    }
    (Inputs { _connections: connections, names }, warnings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pattern::Rational;

    #[test]
    fn a_knob_turned_is_read_at_the_next_query() {
        let p = cc(21, None).unwrap();
        let q = cc(21, Some(3)).unwrap();
        let value = |p: &Pat| p.query_span(Rational::ZERO, Rational::ONE)[0].value.as_number().unwrap();
        set(2, 21, 127);
        assert_eq!((value(&p), value(&q)), (1.0, 1.0));
        set(5, 21, 0);
        assert_eq!((value(&p), value(&q)), (0.0, 1.0), "any channel follows the last; channel 3 keeps its own");
        assert!(cc(128, None).is_err() && cc(1, Some(17)).is_err());
    }
}
