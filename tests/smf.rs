//! `rhaithm render --midi`: the MIDI-routed tracks of a patch as a Standard MIDI File,
//! through the binary and the library, read back with midly.

use std::path::Path;
use std::process::Command;

use midly::{Format, MetaMessage, MidiMessage, Smf, Timing, TrackEventKind};
use rhaithm::engine::Length;
use rhaithm::limits::Limits;
use rhaithm::midi::render_smf;
use rhaithm::patch::Patch;

const PATCH: &str = r#"setcps(0.5);
d1(note("c4 e4 g4 ~").midi("synth").midichan(2).velocity(0.5));
d2(s("bd*2"));
d3(note("<c2 g1>").midi("bass").legato(0.5).ccn(74).ccv(0.25));
"#;

/// One track read back: its name, instrument name, channel events at their absolute
/// ticks, and the tick of its end.
#[derive(Debug)]
struct Read {
    name: String,
    instrument: String,
    events: Vec<(u64, u8, MidiMessage)>,
    end: u64,
}

fn read(bytes: &[u8]) -> (Smf<'_>, Vec<Read>) {
    let smf = Smf::parse(bytes).expect("a valid MIDI file");
    let mut tracks = Vec::new();
    for track in &smf.tracks {
        let mut r = Read { name: String::new(), instrument: String::new(), events: Vec::new(), end: 0 };
        let mut at = 0;
        for e in track {
            at += e.delta.as_int() as u64;
            match e.kind {
                TrackEventKind::Meta(MetaMessage::TrackName(n)) => r.name = String::from_utf8_lossy(n).into(),
                TrackEventKind::Meta(MetaMessage::InstrumentName(n)) => {
                    r.instrument = String::from_utf8_lossy(n).into()
                }
                TrackEventKind::Meta(MetaMessage::EndOfTrack) => r.end = at,
                TrackEventKind::Midi { channel, message } => r.events.push((at, channel.as_int(), message)),
                _ => {}
            }
        }
        tracks.push(r);
    }
    (smf, tracks)
}

fn on(key: u8, vel: u8) -> MidiMessage {
    MidiMessage::NoteOn { key: key.into(), vel: vel.into() }
}

fn off(key: u8) -> MidiMessage {
    MidiMessage::NoteOff { key: key.into(), vel: 0.into() }
}

/// Everything the file of [`PATCH`] over 2 cycles must hold.
fn assert_the_patchs_file(bytes: &[u8]) {
    let (smf, tracks) = read(bytes);
    assert_eq!(smf.header.format, Format::Parallel);
    assert_eq!(smf.header.timing, Timing::Metrical(480.into()));
    let conductor = &smf.tracks[0];
    // 0.5 cps = 120 bpm = 500,000 µs per quarter note; 4/4.
    assert!(conductor.iter().any(|e| e.kind == TrackEventKind::Meta(MetaMessage::Tempo(500_000.into()))));
    assert!(conductor.iter().any(|e| e.kind == TrackEventKind::Meta(MetaMessage::TimeSignature(4, 2, 24, 8))));
    // No track for d2: it sends nothing to MIDI.
    let names: Vec<&str> = tracks.iter().skip(1).map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["d1", "d3"]);
    assert_eq!((tracks[1].instrument.as_str(), tracks[2].instrument.as_str()), ("synth", "bass"));
    // d1: a quarter cycle (480 ticks) per note, channel 2 (index 1), velocity 0.5 -> 64.
    let mut d1 = Vec::new();
    for cycle in 0..2 {
        for (step, key) in [60, 64, 67].into_iter().enumerate() {
            let start = cycle * 1920 + step as u64 * 480;
            d1.push((start, 1, on(key, 64)));
            d1.push((start + 480, 1, off(key)));
        }
    }
    d1.sort_by_key(|e| (e.0, matches!(e.2, MidiMessage::NoteOn { .. })));
    assert_eq!(tracks[1].events, d1);
    // d3: CC 74 = round(0.25 * 127) = 32 before each note; legato 0.5 halves the note
    // (960 ticks of the cycle's 1920); default velocity 0.9 -> 114; channel 1 (index 0).
    let cc = MidiMessage::Controller { controller: 74.into(), value: 32.into() };
    assert_eq!(
        tracks[2].events,
        [(0, 0, cc), (0, 0, on(36, 114)), (960, 0, off(36)), (1920, 0, cc), (1920, 0, on(31, 114)), (2880, 0, off(31))]
    );
    for t in &tracks {
        assert_eq!(t.end, 3840, "{}: every track lasts the render (2 cycles)", t.name);
        let ons = t.events.iter().filter(|e| matches!(e.2, MidiMessage::NoteOn { .. })).count();
        let offs = t.events.iter().filter(|e| matches!(e.2, MidiMessage::NoteOff { .. })).count();
        assert_eq!(ons, offs, "{}: notes on and off balance", t.name);
    }
}

fn render(dir: &Path, source: &str, extra: &[&str]) -> (bool, String) {
    let patch = dir.join("p.rhai");
    std::fs::write(&patch, source).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_rhaithm"))
        .arg("render")
        .arg(&patch)
        .args(["--cycles", "2", "--sample-rate", "8000", "-o"])
        .arg(dir.join("out.wav"))
        .args(extra)
        .output()
        .expect("run rhaithm");
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into())
}

#[test]
fn render_writes_the_midi_routed_tracks_beside_the_audio() {
    let dir = tempfile::tempdir().unwrap();
    let mid = dir.path().join("out.mid");
    // Like the WAV file, a file already there is replaced.
    std::fs::write(&mid, "an older file").unwrap();
    let (ok, err) = render(dir.path(), PATCH, &["--midi", mid.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(dir.path().join("out.wav").exists(), "the audio is still written");
    assert!(err.contains(&format!("wrote 8 notes on 2 MIDI tracks to {}", mid.display())), "{err}");
    let bytes = std::fs::read(&mid).unwrap();
    assert_the_patchs_file(&bytes);
    // The library gives the same bytes.
    let patch = Patch::load(&dir.path().join("p.rhai")).unwrap();
    let r = render_smf(&patch, Length::Cycles(2.0), &Limits::default()).unwrap();
    assert_eq!(r.bytes, bytes);
}

#[test]
fn the_library_renders_the_same_file() {
    let patch = Patch::compile(PATCH, None).unwrap();
    let r = render_smf(&patch, Length::Cycles(2.0), &Limits::default()).unwrap();
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    assert_eq!((r.notes(), r.tracks.len(), r.end_tick), (8, 2, 3840));
    assert_eq!(r.tracks[0].ports, ["synth"]);
    assert_the_patchs_file(&r.bytes);
    // Seconds at the patch's tempo: 4 s at 0.5 cps is the same 2 cycles.
    assert_eq!(render_smf(&patch, Length::Seconds(4.0), &Limits::default()).unwrap().bytes, r.bytes);
}

#[test]
fn a_patch_that_sends_nothing_to_midi_writes_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let mid = dir.path().join("out.mid");
    let (ok, err) = render(dir.path(), r#"d1(s("bd*2"));"#, &["--midi", mid.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(err.contains("warning: the patch sends nothing to MIDI"), "{err}");
    assert!(!mid.exists());
}

#[test]
fn midi_values_out_of_range_are_warnings_with_their_place() {
    let dir = tempfile::tempdir().unwrap();
    let mid = dir.path().join("out.mid");
    let (ok, err) =
        render(dir.path(), "d2(s(\"bd\"));\nd1(note(\"c4 300\").midi(\"x\"));\n", &["--midi", mid.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(err.contains("p.rhai:2:1: track d1: note 300 is outside MIDI's 0..127"), "{err}");
    assert_eq!(err.matches("note 300").count(), 1, "warned once: {err}");
    assert!(err.contains("wrote 2 notes on 1 MIDI track to"), "{err}");
}

#[test]
fn the_midi_file_cannot_be_the_wav_file() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("out.wav");
    let (ok, err) = render(dir.path(), PATCH, &["--midi", wav.to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains("--midi and -o name the same file"), "{err}");
    assert!(!wav.exists(), "nothing rendered");
}

#[test]
fn a_length_the_midi_file_cannot_hold_stops_before_the_audio() {
    let dir = tempfile::tempdir().unwrap();
    let patch = dir.path().join("fast.rhai");
    std::fs::write(&patch, r#"setcps(50); d1(note("c4").midi("x"));"#).unwrap();
    let (wav, mid) = (dir.path().join("out.wav"), dir.path().join("out.mid"));
    // 140,000 cycles at 50 cps is 2800 s: a length render takes, past what a MIDI file holds.
    let out = Command::new(env!("CARGO_BIN_EXE_rhaithm"))
        .arg("render")
        .arg(&patch)
        .args(["--cycles", "140000", "-o"])
        .arg(&wav)
        .arg("--midi")
        .arg(&mid)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("at most 139810 cycles"), "{err}");
    assert!(!wav.exists() && !mid.exists());
}
