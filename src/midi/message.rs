//! MIDI 1.0 messages as rhaithm sends them, and their bytes.

/// One message. Channels are 0..=15 here (1..=16 in scripts and docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Message {
    /// Note on (a velocity of 0 is sent as 1: 0 would mean note off).
    NoteOn {
        /// Channel, 0..=15.
        channel: u8,
        /// Key, 0..=127.
        key: u8,
        /// Velocity, 1..=127.
        velocity: u8,
    },
    /// Note off.
    NoteOff {
        /// Channel.
        channel: u8,
        /// Key.
        key: u8,
    },
    /// Control change.
    Control {
        /// Channel.
        channel: u8,
        /// Controller, 0..=127.
        controller: u8,
        /// Value, 0..=127.
        value: u8,
    },
    /// Program change.
    Program {
        /// Channel.
        channel: u8,
        /// Program, 0..=127.
        program: u8,
    },
    /// Pitch bend, 0..=16383 (8192 = centre).
    PitchBend {
        /// Channel.
        channel: u8,
        /// The 14-bit value.
        value: u16,
    },
    /// Channel pressure (aftertouch).
    Pressure {
        /// Channel.
        channel: u8,
        /// Pressure, 0..=127.
        value: u8,
    },
    /// Timing clock (24 per quarter note).
    Clock,
    /// Start (from song position 0).
    Start,
    /// Continue (from the song position).
    Continue,
    /// Stop.
    Stop,
    /// Song position, in sixteenth notes (MIDI beats) since the start.
    SongPosition(u16),
}

impl Message {
    /// The message's bytes (up to three) and how many there are.
    pub fn bytes(&self) -> ([u8; 3], usize) {
        let ch = |status: u8, channel: u8| status | (channel & 0x0f);
        match *self {
            Message::NoteOn { channel, key, velocity } => ([ch(0x90, channel), key & 0x7f, velocity.clamp(1, 127)], 3),
            Message::NoteOff { channel, key } => ([ch(0x80, channel), key & 0x7f, 0], 3),
            Message::Control { channel, controller, value } => {
                ([ch(0xb0, channel), controller & 0x7f, value & 0x7f], 3)
            }
            Message::Program { channel, program } => ([ch(0xc0, channel), program & 0x7f, 0], 2),
            Message::PitchBend { channel, value } => {
                let v = value.min(16383);
                ([ch(0xe0, channel), (v & 0x7f) as u8, (v >> 7) as u8], 3)
            }
            Message::Pressure { channel, value } => ([ch(0xd0, channel), value & 0x7f, 0], 2),
            Message::Clock => ([0xf8, 0, 0], 1),
            Message::Start => ([0xfa, 0, 0], 1),
            Message::Continue => ([0xfb, 0, 0], 1),
            Message::Stop => ([0xfc, 0, 0], 1),
            Message::SongPosition(p) => {
                let p = p.min(16383);
                ([0xf2, (p & 0x7f) as u8, (p >> 7) as u8], 3)
            }
        }
    }

    /// Reads a message from bytes (what an input port delivers); `None` for anything
    /// rhaithm does not use.
    pub fn parse(bytes: &[u8]) -> Option<Message> {
        let status = *bytes.first()?;
        let (channel, data) = (status & 0x0f, |i: usize| bytes.get(i).map(|b| b & 0x7f));
        Some(match status {
            0xf8 => Message::Clock,
            0xfa => Message::Start,
            0xfb => Message::Continue,
            0xfc => Message::Stop,
            0xf2 => Message::SongPosition(data(1)? as u16 | (data(2)? as u16) << 7),
            s if s & 0xf0 == 0x90 && data(2)? > 0 => Message::NoteOn { channel, key: data(1)?, velocity: data(2)? },
            s if s & 0xf0 == 0x90 || s & 0xf0 == 0x80 => Message::NoteOff { channel, key: data(1)? },
            s if s & 0xf0 == 0xb0 => Message::Control { channel, controller: data(1)?, value: data(2)? },
            s if s & 0xf0 == 0xc0 => Message::Program { channel, program: data(1)? },
            s if s & 0xf0 == 0xe0 => Message::PitchBend { channel, value: data(1)? as u16 | (data(2)? as u16) << 7 },
            s if s & 0xf0 == 0xd0 => Message::Pressure { channel, value: data(1)? },
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_through_their_bytes() {
        let all = [
            Message::NoteOn { channel: 3, key: 60, velocity: 100 },
            Message::NoteOff { channel: 15, key: 127 },
            Message::Control { channel: 0, controller: 74, value: 64 },
            Message::Program { channel: 9, program: 5 },
            Message::PitchBend { channel: 1, value: 8192 },
            Message::Pressure { channel: 2, value: 90 },
            Message::Clock,
            Message::Start,
            Message::Continue,
            Message::Stop,
            Message::SongPosition(1000),
        ];
        for m in all {
            let (b, n) = m.bytes();
            assert_eq!(Message::parse(&b[..n]), Some(m), "{m:?} -> {:x?}", &b[..n]);
        }
        // A note on with velocity 0 is a note off.
        assert_eq!(Message::parse(&[0x91, 60, 0]), Some(Message::NoteOff { channel: 1, key: 60 }));
        assert_eq!(Message::NoteOn { channel: 0, key: 1, velocity: 0 }.bytes().0[2], 1);
    }
}
