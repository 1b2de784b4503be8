//! What an event sends to MIDI: Strudel's controls (`midi`/`midiport`, `midichan`,
//! `note`/`n`, `velocity`, `gain`, `ccn`/`ccv`, `progNum`, `midibend`, `miditouch`),
//! read from the event's value.

use std::sync::Arc;

use super::message::Message;
use crate::pattern::Value;
use crate::pattern::value::note_to_midi;

/// Velocity when an event sets none (Strudel's default).
pub const DEFAULT_VELOCITY: f64 = 0.9;

/// What one event sends.
#[derive(Clone, Debug, PartialEq)]
pub struct Routed {
    /// The port asked for: part of a port's name, or a number (its index), or empty for
    /// the first port.
    pub port: Arc<str>,
    /// Channel, 0..=15.
    pub channel: u8,
    /// The note, if the event has one: key and velocity.
    pub note: Option<(u8, u8)>,
    /// Share of the event's length the note lasts (`clip`/`legato`, 1 by default).
    pub clip: f64,
    /// Messages sent at the event's start, before its note (control and program
    /// changes, pitch bend, pressure).
    pub before: Vec<Message>,
    /// The event also sounds in rhaithm (it names a sound with `s`).
    pub sounds: bool,
}

fn number(v: Option<&Value>) -> Option<f64> {
    v.and_then(Value::as_number).filter(|x| x.is_finite())
}

fn unit(name: &str, v: Option<&Value>, low: f64, high: f64) -> Result<Option<f64>, String> {
    match v {
        None => Ok(None),
        Some(v) => match v.as_number().filter(|x| x.is_finite() && *x >= low && *x <= high) {
            Some(x) => Ok(Some(x)),
            None => Err(format!("{name} must be a number from {low} to {high}, not {}", v.to_json())),
        },
    }
}

fn seven_bit(name: &str, v: Option<&Value>) -> Result<Option<u8>, String> {
    Ok(unit(name, v, 0.0, 127.0)?.map(|x| x.round() as u8))
}

/// What an event's value sends to MIDI: `None` when it is not routed to MIDI (it sets
/// no `midiport`), an error for values out of range (the event is not sent).
pub fn route(value: &Value) -> Option<Result<Routed, String>> {
    let map = value.as_map()?;
    let port = map.get("midiport")?;
    Some(read(map, port))
}

fn read(map: &crate::pattern::value::ValueMap, port: &Value) -> Result<Routed, String> {
    let port: Arc<str> = match port {
        Value::Str(s) => s.clone(),
        Value::Int(i) => Arc::from(i.to_string().as_str()),
        Value::Bool(_) => Arc::from(""),
        other => return Err(format!("midi port must be a name or a number, not {}", other.to_json())),
    };
    let channel = match unit("midichan", map.get("midichan"), 1.0, 16.0)? {
        Some(c) => c.round() as u8 - 1,
        None => 0,
    };
    let key = match map.get("note").or_else(|| map.get("n")) {
        None => None,
        Some(Value::Str(name)) => {
            let k = note_to_midi(name).ok_or_else(|| format!("\"{name}\" is not a note name"))?;
            Some(k)
        }
        Some(v) => Some(v.as_number().filter(|x| x.is_finite()).ok_or_else(|| format!("not a note: {}", v.to_json()))?),
    };
    let key = match key {
        Some(k) if (0.0..=127.0).contains(&k.round()) => Some(k.round() as u8),
        Some(k) => return Err(format!("note {k} is outside MIDI's 0..127")),
        None => None,
    };
    let velocity = unit("velocity", map.get("velocity"), 0.0, 1.0)?.unwrap_or(DEFAULT_VELOCITY);
    let gain = number(map.get("gain")).unwrap_or(1.0).max(0.0);
    let velocity = ((velocity * gain).min(1.0) * 127.0).round().clamp(1.0, 127.0) as u8;
    let clip = number(map.get("clip")).filter(|c| *c > 0.0).unwrap_or(1.0);
    let mut before = Vec::new();
    if let Some(program) = seven_bit("progNum", map.get("progNum"))? {
        before.push(Message::Program { channel, program });
    }
    match (seven_bit("ccn", map.get("ccn"))?, unit("ccv", map.get("ccv"), 0.0, 1.0)?) {
        (Some(controller), Some(v)) => {
            before.push(Message::Control { channel, controller, value: (v * 127.0).round() as u8 })
        }
        (None, None) => {}
        _ => return Err("a control change needs both ccn (0..127) and ccv (0..1)".into()),
    }
    if let Some(b) = unit("midibend", map.get("midibend"), -1.0, 1.0)? {
        before.push(Message::PitchBend { channel, value: (8192.0 + b * 8191.0).round().clamp(0.0, 16383.0) as u16 });
    }
    if let Some(t) = unit("miditouch", map.get("miditouch"), 0.0, 1.0)? {
        before.push(Message::Pressure { channel, value: (t * 127.0).round() as u8 });
    }
    Ok(Routed { port, channel, note: key.map(|k| (k, velocity)), clip, before, sounds: map.contains_key("s") })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(expr: &str) -> Value {
        let p = crate::script::eval_pattern(expr).unwrap();
        let haps = p.query_span(crate::pattern::Rational::ZERO, crate::pattern::Rational::ONE);
        haps[0].value.clone()
    }

    #[test]
    fn strudels_controls_become_messages() {
        let r = route(&eval(r#"note("c4").midi("synth").midichan(3).velocity(0.5).gain(0.5)"#)).unwrap().unwrap();
        assert_eq!((&*r.port, r.channel, r.note, r.sounds), ("synth", 2, Some((60, 32)), false));
        let r = route(&eval(r#"note(60).ccn(74).ccv(0.5).progNum(4).midibend(-1).miditouch(1).midi("x")"#))
            .unwrap()
            .unwrap();
        assert_eq!(
            r.before,
            vec![
                Message::Program { channel: 0, program: 4 },
                Message::Control { channel: 0, controller: 74, value: 64 },
                Message::PitchBend { channel: 0, value: 1 },
                Message::Pressure { channel: 0, value: 127 },
            ]
        );
        // Default velocity 0.9: 114.
        assert_eq!(route(&eval(r#"n(48).midi("x")"#)).unwrap().unwrap().note, Some((48, 114)));
        assert!(route(&eval(r#"note(60).s("sine")"#)).is_none(), "not routed");
        assert!(route(&eval(r#"note(60).midi("x").s("sine")"#)).unwrap().unwrap().sounds);
    }

    #[test]
    fn values_out_of_range_are_errors() {
        for bad in [
            r#"note(60).midi("x").midichan(17)"#,
            r#"note(60).midi("x").velocity(2)"#,
            r#"note(200).midi("x")"#,
            r#"ccn(74).midi("x")"#,
            r#"ccn(74).ccv(3).midi("x")"#,
            r#"note("h9").midi("x")"#,
        ] {
            assert!(route(&eval(bad)).unwrap().is_err(), "{bad}");
        }
    }
}
