//! The live session steered by commands, measured on what it recorded: a real session
//! (the null output, at real-time pace, recording what it plays) driven the way the
//! terminal UI drives it.

mod audio;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use audio::{SR, channel, max_step, onsets, peak_hz, rms, secs};
use rhaithm::session::{Command, Event, OutputKind, PlayOptions, Session, Snapshot, TrackKey};

/// A tone per side: d1 on the left, d2 on the right, each held through every cycle.
const TWO_TONES: &str = r#"setcps(1);
d1(note("a3").s("sine").attack(0.005).sustain(1).release(0.02).pan(0));
d2(note("e5").s("sine").attack(0.005).sustain(1).release(0.02).pan(1));
"#;

/// Short blips, four per cycle, on both sides.
const CLICKS: &str = r#"setcps(1);
d1(note("a5*4").s("sine").attack(0.001).decay(0.03).sustain(0).release(0.01));
"#;

struct Run {
    session: Session,
    wav: PathBuf,
    patch: PathBuf,
    _dir: tempfile::TempDir,
}

fn start(src: &str) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let patch = dir.path().join("set.rhai");
    std::fs::write(&patch, src).unwrap();
    let wav = dir.path().join("take.wav");
    let mut opts = PlayOptions::new(vec![patch.clone()]);
    opts.output = OutputKind::Null;
    opts.device.sample_rate = Some(SR);
    opts.record = Some(wav.clone());
    let session = Session::start(opts).unwrap_or_else(|e| panic!("{e:#}"));
    Run { session, wav, patch, _dir: dir }
}

impl Run {
    /// Seconds rendered so far.
    fn seconds(&self) -> f64 {
        self.session.snapshot().transport.seconds
    }

    /// Waits until `t` seconds have been rendered.
    fn wait_until(&self, t: f64) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.seconds() < t {
            assert!(Instant::now() < deadline, "the session stopped advancing at {} s", self.seconds());
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Sends a command and returns about when (seconds rendered) it took effect.
    fn at(&self, t: f64, command: Command) -> f64 {
        self.wait_until(t);
        self.session.send(command);
        self.seconds()
    }

    fn key(&self, name: &str) -> TrackKey {
        TrackKey { file: 0, name: name.into() }
    }

    /// Waits for an event that `pick` accepts.
    fn wait_for(&self, what: &str, pick: impl Fn(&Event) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(e) = self.session.events().recv_timeout(Duration::from_millis(50))
                && pick(&e)
            {
                return;
            }
        }
        panic!("no {what} event");
    }

    /// Stops and returns the recording (interleaved stereo).
    fn finish(self) -> Vec<f32> {
        self.session.finish().unwrap();
        let mut reader = hound::WavReader::open(&self.wav).unwrap();
        assert_eq!(reader.spec().sample_rate, SR);
        reader.samples::<f32>().map(Result::unwrap).collect()
    }
}

/// The window `[from, to)` seconds of a channel.
fn span(x: &[f32], from: f64, to: f64) -> &[f32] {
    &x[secs(from)..secs(to).min(x.len())]
}

/// No step across `[from, to)` beyond what the steady waveform around it makes.
fn click_free(x: &[f32], from: f64, to: f64, steady: &[(f64, f64)]) {
    let reference = steady.iter().map(|&(a, b)| max_step(span(x, a, b))).fold(0.0, f32::max);
    let across = max_step(span(x, from, to));
    assert!(across <= reference * 1.05, "a step of {across} in {from}..{to} s; the steady waveform makes {reference}");
}

#[test]
fn mute_silences_exactly_that_track_and_unmute_brings_it_back_without_a_click() {
    let run = start(TWO_TONES);
    run.wait_until(0.5);
    let snap = run.session.snapshot();
    check_snapshot(&snap);
    let muted = run.at(1.0, Command::ToggleMute(run.key("d2")));
    run.wait_until(muted + 0.3);
    let snap = run.session.snapshot();
    let d2 = snap.tracks.iter().find(|t| t.key.name == "d2").unwrap();
    assert!(d2.muted && !d2.audible, "{d2:?}");
    let unmuted = run.at(2.0, Command::ToggleMute(run.key("d2")));
    run.wait_until(3.0);
    let out = run.finish();
    let (left, right) = (channel(&out, 0), channel(&out, 1));
    let loud = rms(span(&right, 0.3, 0.95));
    assert!(loud > 0.05, "d2 plays before the mute: {loud}");
    let silent = rms(span(&right, muted + 0.05, unmuted - 0.02));
    assert!(silent < 1e-4 * loud.max(1.0), "d2 muted: rms {silent}");
    let back = rms(span(&right, unmuted + 0.1, 2.9));
    assert!((back / loud - 1.0).abs() < 0.1, "d2 back at its level: {back} vs {loud}");
    assert!((peak_hz(span(&right, unmuted + 0.1, 2.9)) - 659.26).abs() < 3.0, "d2 back in tune");
    // The other track did not notice.
    let l0 = rms(span(&left, 0.3, 0.95));
    let l1 = rms(span(&left, muted + 0.05, unmuted - 0.02));
    assert!((l1 / l0 - 1.0).abs() < 0.02, "d1 unchanged while d2 is muted: {l0} -> {l1}");
    // Both fades are click-free (the track fades over 10 ms).
    click_free(&right, muted - 0.03, muted + 0.05, &[(0.3, 0.95)]);
    click_free(&right, unmuted - 0.03, unmuted + 0.08, &[(0.3, 0.95), (2.2, 2.9)]);
}

/// What a snapshot of `TWO_TONES` shows while it plays.
fn check_snapshot(s: &Snapshot) {
    assert!(s.generation > 0);
    assert!((s.transport.cps - 1.0).abs() < 1e-9);
    assert!(s.transport.cycle > 0.2 && !s.transport.paused, "{:?}", s.transport);
    assert!(s.transport.recording.is_some());
    let names: Vec<&str> = s.tracks.iter().map(|t| t.key.name.as_str()).collect();
    assert_eq!(names, ["d1", "d2"]);
    for t in &s.tracks {
        assert_eq!(t.steps.len(), 1, "one note per cycle: {t:?}");
        assert!(t.steps[0].begin == 0.0 && t.steps[0].end == 1.0, "{t:?}");
        assert!(t.voices >= 1, "a voice sounding: {t:?}");
        assert!(t.since_onset.is_some_and(|s| s < 1.0), "{t:?}");
        assert!(t.audible && !t.muted && !t.soloed);
    }
    assert!(s.meters.peak[0] > 0.05 && s.meters.peak[1] > 0.05, "{:?}", s.meters);
    assert!(s.meters.rms[0] > 0.02 && s.meters.rms[1] > 0.02, "{:?}", s.meters);
    assert!(s.scope.len() >= 1024 && s.scope.iter().any(|x| x.abs() > 0.01), "the scope sees the output");
    assert_eq!(s.files.len(), 1);
    assert_eq!((s.files[0].version, s.files[0].versions), (1, 1));
    assert!(s.health.device.contains("null"), "{:?}", s.health);
    assert_eq!(s.health.sample_rate, SR);
    assert!(s.health.buffer > 0 && s.health.load >= 0.0);
}

#[test]
fn solo_leaves_only_the_soloed_track() {
    let run = start(TWO_TONES);
    let soloed = run.at(0.8, Command::ToggleSolo(run.key("d1")));
    let back = run.at(1.6, Command::ToggleSolo(run.key("d1")));
    run.wait_until(2.4);
    let out = run.finish();
    let (left, right) = (channel(&out, 0), channel(&out, 1));
    let loud = rms(span(&right, 0.3, 0.75));
    assert!(rms(span(&right, soloed + 0.05, back - 0.02)) < 1e-4, "d2 silent while d1 is soloed");
    assert!(rms(span(&left, soloed + 0.05, back - 0.02)) > 0.05, "d1 plays on");
    assert!((rms(span(&right, back + 0.1, 2.3)) / loud - 1.0).abs() < 0.1, "d2 back after the solo");
    click_free(&right, soloed - 0.03, soloed + 0.05, &[(0.3, 0.75)]);
}

#[test]
fn pause_holds_the_clock_and_resume_continues_at_the_same_cycle() {
    let run = start(CLICKS);
    // Pause between two clicks, for 0.6 s.
    let paused = run.at(1.1, Command::SetPaused(true));
    run.wait_until(paused + 0.2);
    let snap = run.session.snapshot();
    assert!(snap.transport.paused);
    let held = snap.transport.cycle;
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(run.session.snapshot().transport.cycle, held, "the clock is held while paused");
    let resumed = run.at(paused + 0.6, Command::SetPaused(false));
    run.wait_until(resumed + 1.4);
    let out = run.finish();
    let left = channel(&out, 0);
    assert!(rms(span(&left, paused + 0.03, resumed - 0.01)) < 1e-5, "silent while paused");
    let found = onsets(&left, 0.05, 0.05);
    let before: Vec<f64> = found.iter().copied().filter(|&t| t < paused).collect();
    let after: Vec<f64> = found.iter().copied().filter(|&t| t > resumed).collect();
    assert!(before.len() >= 4 && after.len() >= 4, "{found:?}");
    for pair in before.windows(2).chain(after.windows(2)) {
        assert!((pair[1] - pair[0] - 0.25).abs() < 0.002, "the grid holds: {found:?}");
    }
    // Across the pause the clock stood still for as long as it was paused: the gap is a
    // beat plus the pause (a running clock would land on the grid, 1.0 or 1.25 s apart).
    let gap = after[0] - before[before.len() - 1];
    let pause = resumed - paused;
    assert!((gap - 0.25 - pause).abs() < 0.03, "gap {gap} s across a pause of {pause} s: {found:?}");
}

#[test]
fn a_tempo_command_changes_the_beat_interval() {
    let run = start(CLICKS);
    let changed = run.at(1.0, Command::SetCps(0.5));
    run.wait_until(changed + 0.4);
    assert!((run.session.snapshot().transport.cps - 0.5).abs() < 1e-9);
    let nudged = run.at(changed + 2.1, Command::NudgeBpm(-20.0));
    run.wait_until(nudged + 2.4);
    assert!((run.session.snapshot().transport.bpm() - 100.0).abs() < 1e-6);
    let out = run.finish();
    let found = onsets(&channel(&out, 0), 0.05, 0.05);
    let intervals = |from: f64, to: f64| -> Vec<f64> {
        let t: Vec<f64> = found.iter().copied().filter(|&t| t > from && t < to).collect();
        t.windows(2).map(|w| w[1] - w[0]).collect()
    };
    for d in intervals(0.0, changed) {
        assert!((d - 0.25).abs() < 0.002, "at 1 cps, a beat every 0.25 s: {found:?}");
    }
    let slow = intervals(changed + 0.1, nudged);
    assert!(slow.len() >= 3, "{found:?}");
    for d in slow {
        assert!((d - 0.5).abs() < 0.002, "at 0.5 cps, a beat every 0.5 s: {found:?}");
    }
    let slower = intervals(nudged + 0.1, nudged + 2.4);
    assert!(slower.len() >= 3, "{found:?}");
    for d in slower {
        assert!((d - 0.6).abs() < 0.002, "at 100 bpm, a beat every 0.6 s: {found:?}");
    }
}

#[test]
fn revert_plays_the_earlier_version_and_newest_comes_back() {
    let tone =
        |note: &str| format!(r#"setcps(1); d1(note("{note}").s("sine").sustain(1).attack(0.005).release(0.02));"#);
    let run = start(&tone("a4"));
    run.wait_until(0.5);
    std::fs::write(&run.patch, tone("e5")).unwrap();
    run.wait_for("reload", |e| matches!(e, Event::Reloaded { version: 2, .. }));
    let saved = run.seconds();
    let reverted = run.at(saved + 0.8, Command::Revert(0));
    run.wait_until(reverted + 0.3);
    let f = run.session.snapshot().files[0].clone();
    assert_eq!((f.version, f.versions, f.reverted()), (1, 2, true));
    let newest = run.at(reverted + 0.8, Command::Newest(0));
    run.wait_until(newest + 0.6);
    // The file on disk was never touched.
    assert_eq!(std::fs::read_to_string(&run.patch).unwrap(), tone("e5"));
    let out = run.finish();
    let x = channel(&out, 0);
    assert!((peak_hz(span(&x, 0.1, 0.45)) - 440.0).abs() < 3.0, "v1");
    assert!((peak_hz(span(&x, saved + 0.2, reverted - 0.05)) - 659.26).abs() < 3.0, "v2");
    assert!((peak_hz(span(&x, reverted + 0.15, newest - 0.05)) - 440.0).abs() < 3.0, "reverted to v1");
    assert!((peak_hz(span(&x, newest + 0.15, newest + 0.55)) - 659.26).abs() < 3.0, "v2 again");
}

#[test]
fn panic_silences_every_voice_and_tail_at_once_without_a_click() {
    let src = r#"setcps(0.25); d1(note("a3").s("sine").sustain(1).attack(0.005).release(0.02).room(0.8));"#;
    let run = start(src);
    let panicked = run.at(1.0, Command::Panic);
    run.wait_until(panicked + 1.0);
    let out = run.finish();
    let x = channel(&out, 0);
    assert!(rms(span(&x, 0.3, 0.95)) > 0.05);
    let after = rms(span(&x, panicked + 0.04, panicked + 0.95));
    assert!(after < 1e-5, "silent after the panic (the reverb tail too): {after}");
    click_free(&x, panicked - 0.03, panicked + 0.04, &[(0.3, 0.95)]);
}

#[test]
fn a_tempo_set_by_hand_survives_saves_until_the_file_changes_its_own() {
    let v =
        |cps: &str, note: &str| format!("setcps({cps}); d1(note(\"{note}*4\").s(\"sine\").decay(0.03).sustain(0));");
    let run = start(&v("1", "a5"));
    run.at(0.3, Command::SetCps(0.5));
    std::fs::write(&run.patch, v("1", "e5")).unwrap();
    run.wait_for("reload", |e| matches!(e, Event::Reloaded { version: 2, .. }));
    std::thread::sleep(Duration::from_millis(100));
    let cps = run.session.snapshot().transport.cps;
    assert!((cps - 0.5).abs() < 1e-9, "the hand-set tempo holds: {cps}");
    std::fs::write(&run.patch, v("0.75", "e5")).unwrap();
    run.wait_for("reload", |e| matches!(e, Event::Reloaded { version: 3, .. }));
    std::thread::sleep(Duration::from_millis(100));
    let cps = run.session.snapshot().transport.cps;
    assert!((cps - 0.75).abs() < 1e-9, "the file's new tempo wins: {cps}");
    run.finish();
}

#[test]
fn a_save_while_paused_takes_over_where_the_music_resumes() {
    let tone =
        |note: &str| format!(r#"setcps(1); d1(note("{note}").s("sine").sustain(1).attack(0.005).release(0.02));"#);
    let run = start(&tone("a4"));
    let paused = run.at(0.5, Command::TogglePause);
    std::fs::write(&run.patch, tone("e5")).unwrap();
    // The compiled save lands in the history at once; its swap waits for the resume.
    let deadline = Instant::now() + Duration::from_secs(20);
    while run.session.snapshot().files[0].versions < 2 {
        assert!(Instant::now() < deadline, "the save was never compiled");
        std::thread::sleep(Duration::from_millis(10));
    }
    let resumed = run.at(paused + 0.5, Command::TogglePause);
    run.wait_until(resumed + 0.6);
    let out = run.finish();
    let x = channel(&out, 0);
    assert!(rms(span(&x, paused + 0.05, resumed - 0.01)) < 1e-5, "silent while paused");
    assert!((peak_hz(span(&x, resumed + 0.1, resumed + 0.55)) - 659.26).abs() < 3.0, "the saved version plays");
}

#[test]
fn nonsense_commands_change_nothing_and_the_music_plays_on() {
    let run = start(TWO_TONES);
    run.wait_until(0.3);
    for c in [
        Command::SetCps(f64::NAN),
        Command::SetCps(f64::INFINITY),
        Command::SetCps(-3.0),
        Command::NudgeBpm(f64::NAN),
        Command::NudgePhase(f64::INFINITY),
        Command::NudgePhase(f64::NAN),
        Command::Revert(99),
        Command::Newest(99),
        Command::Revert(0),
        Command::SetMute(TrackKey { file: 7, name: "d1".into() }, true),
        Command::ToggleSolo(TrackKey { file: 0, name: "nope".into() }),
        Command::SetPaused(false),
    ] {
        run.session.send(c);
    }
    run.wait_until(1.2);
    let snap = run.session.snapshot();
    assert!(snap.transport.cps >= 0.001 && snap.transport.cps <= 50.0, "{:?}", snap.transport);
    assert!(snap.tracks.iter().all(|t| t.audible && !t.muted && !t.soloed));
    assert!(!snap.transport.paused);
    run.at(1.3, Command::SetCps(1.0));
    run.wait_until(1.8);
    let out = run.finish();
    for c in 0..2 {
        assert!(rms(span(&channel(&out, c), 1.4, 1.75)) > 0.05, "channel {c} plays on");
    }
}

#[test]
fn history_writes_every_good_version_and_never_a_broken_one() {
    let dir = tempfile::tempdir().unwrap();
    let patch = dir.path().join("drums.rhai");
    std::fs::write(&patch, "d1(s(\"bd*2\"));").unwrap();
    let history = dir.path().join("takes");
    let mut opts = PlayOptions::new(vec![patch.clone()]);
    opts.output = OutputKind::Null;
    opts.history = Some(history.clone());
    let session = Session::start(opts).unwrap();
    let wait = |version: usize| {
        let deadline = Instant::now() + Duration::from_secs(20);
        while session.snapshot().files[0].versions < version {
            assert!(Instant::now() < deadline, "version {version} never arrived");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    std::fs::write(&patch, "d1(s(\"bd*4\"));").unwrap();
    wait(2);
    std::fs::write(&patch, "d1(s(\"bd*4\"").unwrap();
    std::thread::sleep(Duration::from_millis(800));
    std::fs::write(&patch, "d1(s(\"bd*8\"));").unwrap();
    wait(3);
    session.finish().unwrap();
    let mut names: Vec<String> =
        std::fs::read_dir(&history).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    assert_eq!(names.len(), 3, "{names:?}");
    for (i, (name, text)) in names.iter().zip(["bd*2", "bd*4", "bd*8"]).enumerate() {
        assert!(name.starts_with(&format!("drums.v{:03}.", i + 1)) && name.ends_with(".rhai"), "{name}");
        assert!(name.contains(".cycle"), "{name}");
        assert!(std::fs::read_to_string(history.join(name)).unwrap().contains(text), "{name}");
    }
}
