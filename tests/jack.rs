//! End to end at real-time pace: the real binary plays through cpal into ALSA's default
//! device, which is routed through a JACK dummy server (so it runs at 1.00x real time)
//! with a file tap that keeps exactly what the callback wrote (see DESIGN.md).
//!
//! `.ci/run` installs `jackd2` and `libasound2-plugins` and starts the server; if no
//! server is running, the test starts one itself. Without JACK installed the test
//! fails, unless `RHAITHM_SKIP_JACK=1` says to skip it.

mod audio;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use audio::{SR, channel, check_crossfade, onsets, peak_hz, secs, tone};

fn jack_running() -> bool {
    Command::new("jack_lsp").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

/// Kills the JACK server this test started, if it started one.
struct Server(Option<Child>);

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(c) = &mut self.0 {
            // SIGTERM lets jackd remove itself from JACK's shared registry (a killed
            // server stays there, and the registry only holds a few).
            let _ = Command::new("kill").args(["-s", "TERM", &c.id().to_string()]).status();
            let until = Instant::now() + Duration::from_secs(5);
            while c.try_wait().ok().flatten().is_none() && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn jack_server() -> Option<Server> {
    if jack_running() {
        return Some(Server(None));
    }
    let child = Command::new("jackd")
        .args(["-d", "dummy", "-r", "48000", "-p", "256"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let child = match child {
        Ok(c) => c,
        Err(e) if std::env::var("RHAITHM_SKIP_JACK").is_ok_and(|v| v == "1") => {
            eprintln!("skipping the JACK end-to-end test (RHAITHM_SKIP_JACK=1): {e}");
            return None;
        }
        Err(e) => panic!("cannot start jackd ({e}): install jackd2 and libasound2-plugins (see .ci/run)"),
    };
    let server = Server(Some(child));
    let until = Instant::now() + Duration::from_secs(10);
    while !jack_running() {
        assert!(Instant::now() < until, "jackd did not come up");
        std::thread::sleep(Duration::from_millis(100));
    }
    Some(server)
}

/// An ALSA configuration that sends the default device through JACK, tapping it.
fn alsa_config(dir: &Path, tap: &Path) -> PathBuf {
    let xdg = dir.join("xdg");
    std::fs::create_dir_all(xdg.join("alsa")).unwrap();
    let conf = format!(
        r#"pcm.!default {{ type file; slave.pcm "plugjack"; file "{}"; format "raw" }}
pcm.plugjack {{ type plug; slave.pcm "jackpcm" }}
pcm.jackpcm {{ type jack; playback_ports {{ 0 system:playback_1 1 system:playback_2 }} }}
"#,
        tap.display()
    );
    std::fs::write(xdg.join("alsa").join("asoundrc"), conf).unwrap();
    xdg
}

/// The frame in a "reloaded ... (frame N)" line.
fn frame_of(line: &str) -> usize {
    let tail = line.split("(frame ").nth(1).unwrap_or_else(|| panic!("no frame in {line:?}"));
    tail.split(')').next().unwrap().parse().unwrap()
}

struct Lines(mpsc::Receiver<String>, Vec<String>);

impl Lines {
    fn wait_for(&mut self, what: &str, timeout: Duration) -> String {
        let until = Instant::now() + timeout;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match self.0.recv_timeout(left) {
                Ok(line) => {
                    self.1.push(line.clone());
                    if line.contains(what) {
                        return line;
                    }
                }
                Err(_) => panic!("no line with {what:?}; output so far: {:#?}", self.1),
            }
        }
    }
}

/// Starts `rhaithm play p.rhai` for `seconds` in `dir` through the tapped ALSA device
/// (and `env`), recording to take.wav; its stdout comes back line by line.
fn play(dir: &Path, xdg: &Path, seconds: &str, env: &[(&str, &str)]) -> (Child, Lines) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rhaithm"))
        .args(["play", "p.rhai", "--headless", "--duration", seconds, "--buffer", "256", "--record", "take.wav"])
        .current_dir(dir)
        .env("XDG_CONFIG_HOME", xdg)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    (child, Lines(rx, Vec::new()))
}

fn sleep_until(t: Instant) {
    std::thread::sleep(t.saturating_duration_since(Instant::now()));
}

#[test]
fn plays_through_cpal_and_swaps_saves_in_without_a_glitch() {
    let Some(_server) = jack_server() else { return };
    let dir = tempfile::tempdir().unwrap();
    let tap = dir.path().join("tap.raw");
    let xdg = alsa_config(dir.path(), &tap);
    let patch = dir.path().join("p.rhai");
    std::fs::write(&patch, tone("a4")).unwrap();
    let take = dir.path().join("take.wav");

    let (mut child, mut lines) = play(dir.path(), &xdg, "7.5", &[]);
    lines.wait_for("playing p.rhai", Duration::from_secs(20));
    let t0 = Instant::now();

    // Save 1: by rename, as vim and VS Code do.
    sleep_until(t0 + Duration::from_millis(1300));
    let tmp = dir.path().join(".p.rhai.tmp");
    std::fs::write(&tmp, tone("e5")).unwrap();
    std::fs::rename(&tmp, &patch).unwrap();
    let f1 = frame_of(&lines.wait_for("reloaded", Duration::from_secs(3)));

    // Save 2: broken, in place. Nothing may change.
    sleep_until(t0 + Duration::from_millis(3400));
    let broken_at = t0.elapsed().as_secs_f64();
    std::fs::write(&patch, "setcps(1);\nd2(note(\"c5\").s(\"sine\"\n").unwrap();
    let error = lines.wait_for("p.rhai:", Duration::from_secs(3));
    assert!(error.contains("p.rhai:3:1:"), "{error}");
    assert!(error.contains("last good version keeps playing"), "{error}");

    // Save 3: in place.
    sleep_until(t0 + Duration::from_millis(5400));
    std::fs::write(&patch, tone("c5")).unwrap();
    let f2 = frame_of(&lines.wait_for("reloaded", Duration::from_secs(3)));
    lines.wait_for("stopped after", Duration::from_secs(10));
    assert!(child.wait().unwrap().success());
    assert!(
        !lines.1.iter().any(|l| l.contains("late") || l.contains("underrun") || l.contains("dropped")),
        "{:#?}",
        lines.1
    );

    // The tap: f32 stereo, exactly what the callback wrote.
    let raw = std::fs::read(&tap).unwrap();
    let played: Vec<f32> = raw.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    let seconds = played.len() as f64 / 2.0 / SR as f64;
    assert!((7.0..8.5).contains(&seconds), "{seconds} s tapped");

    // The recording equals what went to the device.
    let recorded: Vec<f32> = hound::WavReader::open(&take).unwrap().samples::<f32>().map(Result::unwrap).collect();
    let common = recorded.len().min(played.len());
    assert!(
        common + 2 * 2 * 1024 >= played.len().max(recorded.len()),
        "{} recorded, {} played",
        recorded.len(),
        played.len()
    );
    assert!(recorded[..common] == played[..common], "the recording differs from what was played");

    let left = channel(&played, 0);
    let right = channel(&played, 1);
    check_crossfade(&right, f1, 440.0, 659.26);
    check_crossfade(&right, f2, 659.26, 523.25);

    // The beat grid: a hat every quarter cycle (0.25 s), none missing or moved.
    let found = onsets(&left, 0.02, 0.05);
    let expected = (seconds / 0.25).floor() as usize;
    assert!(found.len() >= expected - 1, "{} hats for {seconds} s: {found:?}", found.len());
    for (k, t) in found.iter().enumerate() {
        assert!((t - k as f64 * 0.25).abs() < 0.002, "hat {k} at {t} s: {found:?}");
    }

    // The broken save changed nothing: every whole cycle between the two good saves
    // repeats the one before it (from the second whole cycle on, once the note started
    // mid-cycle by the crossfade has released).
    let cycle = secs(1.0);
    let first = f1.div_ceil(cycle) + 2;
    let last = f2 / cycle;
    let estimate = broken_at * SR as f64;
    assert!(
        ((first - 1) * cycle) as f64 <= estimate && estimate < (last * cycle) as f64,
        "the broken save ({broken_at:.2} s) fell outside cycles {first}..{last}"
    );
    for k in first..last {
        let (a, b) = (&right[(k - 1) * cycle..k * cycle], &right[k * cycle..(k + 1) * cycle]);
        let diff = a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max);
        assert!(diff < 1e-3, "cycle {k} differs from cycle {} by {diff}", k - 1);
    }
}

fn named_jackd(name: &str) -> Child {
    let child = Command::new("jackd")
        .args(["-n", name, "-d", "dummy", "-r", "48000", "-p", "256"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("cannot start jackd: install jackd2 and libasound2-plugins (see .ci/run)");
    let until = Instant::now() + Duration::from_secs(10);
    while !Command::new("jack_lsp")
        .env("JACK_DEFAULT_SERVER", name)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
    {
        assert!(Instant::now() < until, "jackd {name} did not come up");
        std::thread::sleep(Duration::from_millis(100));
    }
    child
}

/// The device goes away mid-set (its JACK server is killed) and comes back: rhaithm
/// says so, keeps trying, reopens the stream, plays on, and the recording is valid.
#[test]
fn a_lost_device_is_reopened_and_the_recording_survives() {
    if Command::new("jackd").arg("--version").output().is_err()
        && std::env::var("RHAITHM_SKIP_JACK").is_ok_and(|v| v == "1")
    {
        return;
    }
    // A server of its own, so that killing it disturbs no other test.
    let name = "rhaithm-reopen-test".to_string();
    let mut server = Server(Some(named_jackd(&name)));
    let dir = tempfile::tempdir().unwrap();
    let tap = dir.path().join("tap.raw");
    let xdg = alsa_config(dir.path(), &tap);
    std::fs::write(dir.path().join("p.rhai"), tone("a4")).unwrap();
    let env = [("JACK_DEFAULT_SERVER", name.as_str()), ("JACK_NO_START_SERVER", "1")];
    let (mut child, mut lines) = play(dir.path(), &xdg, "6", &env);
    lines.wait_for("playing p.rhai", Duration::from_secs(20));
    std::thread::sleep(Duration::from_millis(1500));
    drop(server);
    lines.wait_for("audio stream lost", Duration::from_secs(3));
    std::thread::sleep(Duration::from_millis(500));
    server = Server(Some(named_jackd(&name)));
    lines.wait_for("audio stream reopened", Duration::from_secs(5));
    let stopped = lines.wait_for("stopped after", Duration::from_secs(10));
    assert!(child.wait().unwrap().success());
    drop(server);

    // It played on after the reopen: the tap (reopened with the stream) holds the tone.
    let raw = std::fs::read(&tap).unwrap();
    let played: Vec<f32> = raw.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    let right = channel(&played, 1);
    assert!(right.len() > secs(1.0), "only {} frames after the reopen", right.len());
    let hz = peak_hz(&right[right.len() - secs(0.5)..]);
    assert!((hz - 440.0).abs() < 2.0, "{hz} Hz after the reopen");
    // The recording holds everything played, before and after, and is a valid file.
    let reader = hound::WavReader::open(dir.path().join("take.wav")).unwrap();
    let recorded = reader.duration() as f64 / SR as f64;
    assert!(recorded > 3.0 && stopped.contains(&format!("recorded {recorded:.1} s")), "{recorded} s; {stopped}");
}
