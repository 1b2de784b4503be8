//! Unit tests of the MIDI file writer: ticks, ordering, caps and warnings.

use super::*;
use midly::MidiMessage;

/// Each track after the conductor: (tick, channel, message).
fn events(bytes: &[u8]) -> Vec<Vec<(u64, u8, MidiMessage)>> {
    let smf = midly::Smf::parse(bytes).unwrap();
    let mut tracks = Vec::new();
    for track in &smf.tracks[1..] {
        let mut at = 0;
        let mut out = Vec::new();
        for e in track {
            at += e.delta.as_int() as u64;
            if let TrackEventKind::Midi { channel, message } = e.kind {
                out.push((at, channel.as_int(), message));
            }
        }
        tracks.push(out);
    }
    tracks
}

fn smf(source: &str, cycles: f64) -> RenderedSmf {
    render_smf(&Patch::compile(source, None).unwrap(), Length::Cycles(cycles), &Limits::default()).unwrap()
}

fn on(key: u8, vel: u8) -> MidiMessage {
    MidiMessage::NoteOn { key: key.into(), vel: vel.into() }
}

fn off(key: u8) -> MidiMessage {
    MidiMessage::NoteOff { key: key.into(), vel: 0.into() }
}

#[test]
fn ticks_round_to_nearest() {
    assert_eq!(tick(Rational::new(1, 4)), 480);
    assert_eq!(tick(Rational::new(1, 3)), 640);
    assert_eq!(tick(Rational::new(1, 3840)), 1, "half a tick rounds up");
    assert_eq!(tick(Rational::new(1, 7)), 274, "274.28");
    assert_eq!(tick(Rational::new(-1, 2)), 0);
    assert_eq!(micros_per_quarter(0.5), (500_000, false));
    assert_eq!(micros_per_quarter(0.001), (u24::max_value().as_int(), true));
}

#[test]
fn at_one_tick_note_offs_come_first_then_controls_then_note_ons() {
    let at = |tick, rank, message| Timed { tick, rank, message };
    let note_on = Message::NoteOn { channel: 0, key: 60, velocity: 100 };
    let note_off = Message::NoteOff { channel: 0, key: 60 };
    let control = Message::Control { channel: 0, controller: 74, value: 1 };
    // As events are added: the second note's before the first one's note-off.
    let sent = Sent {
        events: vec![
            at(0, Rank::On, note_on),
            at(960, Rank::On, note_on),
            at(960, Rank::Before, control),
            at(1920, Rank::Off, note_off),
            at(960, Rank::Off, note_off),
        ],
        ..Sent::default()
    };
    let out: Vec<(u64, Message)> = ordered(sent).events.iter().map(|e| (e.tick, e.message)).collect();
    assert_eq!(out, [(0, note_on), (960, note_off), (960, control), (960, note_on), (1920, note_off)]);
}

#[test]
fn note_offs_come_before_note_ons_at_the_same_tick() {
    let r = smf(r#"d1(note("c4 c4").midi("x").velocity(1))"#, 1.0);
    assert_eq!(
        events(&r.bytes),
        vec![vec![(0, 0, on(60, 127)), (960, 0, off(60)), (960, 0, on(60, 127)), (1920, 0, off(60))]]
    );
}

#[test]
fn overlapping_notes_of_one_key_retrigger_and_stay_balanced() {
    // Each note lasts two steps: the second starts while the first still sounds.
    let r = smf(r#"d1(note("c4 c4 ~ ~").midi("x").velocity(1).legato(2))"#, 1.0);
    assert_eq!(
        events(&r.bytes),
        vec![vec![(0, 0, on(60, 127)), (480, 0, off(60)), (480, 0, on(60, 127)), (1440, 0, off(60))]]
    );
}

#[test]
fn notes_sounding_at_the_end_end_there() {
    let r = smf(r#"d1(note("c4").midi("x").velocity(1))"#, 1.5);
    assert_eq!(r.end_tick, 2880);
    assert_eq!(
        events(&r.bytes),
        vec![vec![(0, 0, on(60, 127)), (1920, 0, off(60)), (1920, 0, on(60, 127)), (2880, 0, off(60))]]
    );
}

#[test]
fn values_midi_cannot_carry_skip_their_event_with_one_warning() {
    let r = smf("setcps(1);\nd1(note(\"c4 200 201 e4\").midi(\"x\"));", 2.0);
    assert_eq!(r.notes(), 4);
    assert_eq!(r.warnings.len(), 1, "{:?}", r.warnings);
    assert!(r.warnings[0].contains("<expr>:2:1: track d1: note 200 is outside MIDI's 0..127"), "{}", r.warnings[0]);
    assert!(r.warnings[0].contains("and 3 more"), "{}", r.warnings[0]);
}

#[test]
fn the_event_cap_stops_the_file_with_a_warning() {
    let patch = Patch::compile(r#"d1(note("c4*4").midi("x")); d2(note("e4*4").midi("x"))"#, None).unwrap();
    let r = render_capped(&patch, Length::Cycles(4.0), &Limits::default(), 40).unwrap();
    // 8 notes (16 events) per cycle: two whole cycles, then the third would pass 40.
    assert_eq!(r.tracks.iter().map(|t| t.events).collect::<Vec<_>>(), [16, 16]);
    assert_eq!(r.warnings, vec!["more than 40 MIDI events: the MIDI file stops at cycle 2".to_string()]);
    let per_cycle = Limits { max_events_per_cycle: 2, ..Limits::default() };
    let r = render_smf(&patch, Length::Cycles(1.0), &per_cycle).unwrap();
    assert_eq!(r.notes(), 4);
    assert_eq!(r.warnings.len(), 2, "{:?}", r.warnings);
}

#[test]
fn lengths_a_file_cannot_hold_are_errors() {
    let patch = Patch::compile(r#"d1(note("c4").midi("x"))"#, None).unwrap();
    for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e12, (MAX_SMF_CYCLES + 1) as f64] {
        assert!(render_smf(&patch, Length::Cycles(bad), &Limits::default()).is_err(), "{bad}");
    }
    // Seconds at the patch's tempo (0.5 cps by default): 3 s = 1.5 cycles.
    let r = render_smf(&patch, Length::Seconds(3.0), &Limits::default()).unwrap();
    assert_eq!(r.end_tick, 2880);
}

#[test]
fn a_tempo_too_slow_for_the_file_is_clamped_with_a_warning() {
    let r = smf(r#"setcps(0.001); d1(note("c4").midi("x"))"#, 1.0);
    assert_eq!(r.warnings.len(), 1, "{:?}", r.warnings);
    assert!(r.warnings[0].contains("cannot be written as a MIDI tempo"));
}
