//! The `play`, `new` and `devices` commands, driven through the real binary with the
//! null output (real time, no device needed).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn rhaithm(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_rhaithm"));
    c.current_dir(dir);
    c
}

type Out = std::io::Lines<BufReader<std::process::ChildStdout>>;

/// Starts rhaithm in `dir`; its stdout comes back line by line.
fn spawn(dir: &Path, args: &[&str]) -> (Child, Out) {
    let mut child = rhaithm(dir).args(args).stdout(Stdio::piped()).spawn().unwrap();
    let out = BufReader::new(child.stdout.take().unwrap()).lines();
    (child, out)
}

/// Waits for a line containing `what` on the child's stdout.
fn wait_for(out: &mut Out, what: &str) -> Vec<String> {
    let mut seen = Vec::new();
    for line in out.map_while(Result::ok) {
        let found = line.contains(what);
        seen.push(line);
        if found {
            return seen;
        }
    }
    panic!("no line with {what:?}: {seen:#?}");
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill").args(["-s", sig, &child.id().to_string()]).status().unwrap().success();
    assert!(ok);
}

fn recording_stops_cleanly_on(sig: &str) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("p.rhai"), r#"d1(note("a4").s("sine"))"#).unwrap();
    let (mut child, mut out) = spawn(dir.path(), &["play", "p.rhai", "--output", "null", "--record", "take.wav"]);
    wait_for(&mut out, "playing p.rhai");
    std::thread::sleep(Duration::from_millis(1200));
    signal(&child, sig);
    let started = Instant::now();
    let lines = wait_for(&mut out, "stopped after");
    assert!(child.wait().unwrap().success(), "{lines:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
    let reader = hound::WavReader::open(dir.path().join("take.wav")).unwrap();
    let spec = reader.spec();
    assert_eq!((spec.channels, spec.sample_rate, spec.bits_per_sample), (2, 48000, 32));
    let seconds = reader.duration() as f64 / 48000.0;
    assert!((1.0..2.5).contains(&seconds), "{seconds} s recorded");
    let samples: Vec<f32> = reader.into_samples::<f32>().map(Result::unwrap).collect();
    assert!(samples.iter().any(|x| x.abs() > 0.05), "the recording is silent");
}

#[test]
fn a_recording_never_overwrites_a_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("p.rhai"), r#"d1(s("bd"))"#).unwrap();
    std::fs::write(dir.path().join("take.wav"), "precious").unwrap();
    let out = rhaithm(dir.path())
        .args(["play", "p.rhai", "--output", "null", "--duration", "0.3", "--record", "take.wav"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && stdout.contains("recording to take-2.wav"), "{stdout}");
    assert_eq!(std::fs::read_to_string(dir.path().join("take.wav")).unwrap(), "precious");
    assert!(hound::WavReader::open(dir.path().join("take-2.wav")).is_ok());
}

#[test]
fn sigterm_finalizes_the_recording() {
    recording_stops_cleanly_on("TERM");
}

#[test]
fn ctrl_c_finalizes_the_recording() {
    recording_stops_cleanly_on("INT");
}

#[test]
fn a_bare_play_writes_the_starter_patch_and_never_overwrites_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = rhaithm(dir.path()).args(["play", "--output", "null", "--duration", "0.5"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("wrote a starter patch to start.rhai"), "{stdout}");
    assert!(stdout.contains("playing start.rhai"), "{stdout}");
    let written = std::fs::read_to_string(dir.path().join("start.rhai")).unwrap();
    assert_eq!(written, rhaithm::session::STARTER);

    // The performer's edits survive the next run.
    std::fs::write(dir.path().join("start.rhai"), "d1(s(\"bd\"))").unwrap();
    let out = rhaithm(dir.path()).args(["play", "--output", "null", "--duration", "0.3"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("playing your start.rhai"));
    assert_eq!(std::fs::read_to_string(dir.path().join("start.rhai")).unwrap(), "d1(s(\"bd\"))");
}

#[test]
fn new_writes_a_patch_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let out = rhaithm(dir.path()).args(["new", "set1", "--no-play"]).output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("set1.rhai"));
    std::fs::write(dir.path().join("set1.rhai"), "mine").unwrap();
    let out = rhaithm(dir.path()).args(["new", "set1", "--no-play"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
    assert_eq!(std::fs::read_to_string(dir.path().join("set1.rhai")).unwrap(), "mine");
}

#[test]
fn without_a_device_it_says_so_and_offers_the_null_output() {
    let dir = tempfile::tempdir().unwrap();
    let alsa = dir.path().join("xdg").join("alsa");
    std::fs::create_dir_all(&alsa).unwrap();
    std::fs::write(alsa.join("asoundrc"), "pcm.!default { type hw; card 99 }\n").unwrap();
    std::fs::write(dir.path().join("p.rhai"), "d1(s(\"bd\"))").unwrap();
    let out = rhaithm(dir.path())
        .args(["play", "p.rhai", "--duration", "1"])
        .env("XDG_CONFIG_HOME", dir.path().join("xdg"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("no usable audio device") && stderr.contains("--output null"), "{stderr}");
    assert!(!stderr.contains("ALSA lib"), "alsa-lib's own noise got through: {stderr}");
}

#[test]
fn headless_logs_each_reload_and_each_error_with_its_position() {
    let dir = tempfile::tempdir().unwrap();
    let patch = dir.path().join("p.rhai");
    std::fs::write(&patch, "setcps(1);\nd1(s(\"bd*4\"));\n").unwrap();
    let (mut child, mut out) = spawn(dir.path(), &["play", "p.rhai", "--output", "null", "--duration", "3"]);
    wait_for(&mut out, "playing p.rhai");
    std::thread::sleep(Duration::from_millis(300));
    std::fs::write(&patch, "setcps(1);\nd1(s(\"bd*4\").gain(0.5));\n").unwrap();
    let reload = wait_for(&mut out, "reloaded p.rhai").pop().unwrap();
    assert!(
        reload.contains("compiled and checked in") && reload.contains("after the save") && reload.contains("at cycle"),
        "{reload}"
    );
    std::fs::write(&patch, "setcps(1);\nd1(s(\"bd*4\").gain(0.5)\n;").unwrap();
    let error = wait_for(&mut out, "p.rhai:").pop().unwrap();
    assert!(error.starts_with("p.rhai:2:") || error.starts_with("p.rhai:3:"), "{error}");
    std::fs::write(&patch, "setcps(1);\nd1(s(\"bd*4\").bogus(1));\n").unwrap();
    let error = wait_for(&mut out, "p.rhai:2:").pop().unwrap();
    assert!(error.contains("bogus"), "{error}");
    // A version whose patterns fail when played is rejected too.
    std::fs::write(&patch, "setcps(1);\nd1(s(\"bd*4\").every(2, |x| x.nonesuch()));\n").unwrap();
    let lines = wait_for(&mut out, "p.rhai:2:");
    assert!(lines.last().unwrap().contains("nonesuch"), "{lines:?}");
    assert!(!lines.iter().any(|l| l.contains("reloaded")), "{lines:?}");
    wait_for(&mut out, "stopped after");
    assert!(child.wait().unwrap().success());
}

#[test]
fn devices_lists_without_failing() {
    let out = Command::new(env!("CARGO_BIN_EXE_rhaithm")).arg("devices").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn an_underrun_is_reported_not_hidden() {
    // Freezing the process (as an overloaded machine would) makes the output miss its
    // deadline; the log says so.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("p.rhai"), r#"d1(s("hh*8"))"#).unwrap();
    let (mut child, mut out) = spawn(dir.path(), &["play", "p.rhai", "--output", "null", "--duration", "2"]);
    wait_for(&mut out, "playing p.rhai");
    std::thread::sleep(Duration::from_millis(500));
    signal(&child, "STOP");
    std::thread::sleep(Duration::from_millis(300));
    signal(&child, "CONT");
    let lines = wait_for(&mut out, "stopped after");
    assert!(lines.iter().any(|l| l.starts_with("underruns: 1")), "{lines:?}");
    assert!(child.wait().unwrap().success());
}

#[test]
fn a_file_broken_at_the_start_plays_from_its_first_good_save() {
    let dir = tempfile::tempdir().unwrap();
    let patch = dir.path().join("p.rhai");
    std::fs::write(&patch, "d1(s(\"bd*4\")\n").unwrap();
    let (mut child, mut out) =
        spawn(dir.path(), &["play", "p.rhai", "--output", "null", "--duration", "2", "--record", "take.wav"]);
    let lines = wait_for(&mut out, "playing p.rhai");
    assert!(lines[0].starts_with("p.rhai:2:1:") && lines[0].contains("silent until"), "{lines:?}");
    std::thread::sleep(Duration::from_millis(500));
    std::fs::write(&patch, "d1(s(\"bd*4\"))\n").unwrap();
    wait_for(&mut out, "reloaded p.rhai");
    wait_for(&mut out, "stopped after");
    assert!(child.wait().unwrap().success());
    let samples: Vec<f32> =
        hound::WavReader::open(dir.path().join("take.wav")).unwrap().into_samples().map(Result::unwrap).collect();
    let (first, last) = samples.split_at(samples.len() / 5);
    assert!(first.iter().all(|x| *x == 0.0), "sound before the first good save");
    assert!(last.iter().any(|x| x.abs() > 0.1), "no sound after it");
}
