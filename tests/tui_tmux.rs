//! The terminal UI end to end: the real binary plays (null output, recording) in a tmux
//! pane; the test reads the screen with `capture-pane`, presses keys with `send-keys`,
//! and afterwards measures the recording and checks that the shell got its terminal
//! back. Skipped (with a message) where tmux is not installed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A tmux server of its own, killed when dropped.
struct Tmux {
    socket: String,
    dir: tempfile::TempDir,
}

fn tmux_installed() -> bool {
    let found = Command::new("tmux").arg("-V").output().is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("skipped: tmux is not installed");
    }
    found
}

impl Tmux {
    /// Starts `rhaithm play p.rhai --output null --record out.wav` on `patch` in a
    /// 100x30 pane; when it ends the pane prints `RHAITHM-EXITED <status>` and stays.
    fn play(name: &str, patch: &str) -> Tmux {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("p.rhai"), patch).unwrap();
        let script = dir.path().join("run.sh");
        let run = format!(
            "cd '{}'\n'{}' play p.rhai --output null --record out.wav\necho \"RHAITHM-EXITED $?\"\nsleep 60\n",
            dir.path().display(),
            env!("CARGO_BIN_EXE_rhaithm"),
        );
        std::fs::write(&script, run).unwrap();
        let tmux = Tmux { socket: format!("rhaithm-test-{}-{name}", std::process::id()), dir };
        let command = format!("sh '{}'", script.display());
        let ok = tmux.command(&["-f", "/dev/null", "new-session", "-d", "-x", "100", "-y", "30", &command]);
        assert!(ok.status.success(), "tmux did not start: {}", String::from_utf8_lossy(&ok.stderr));
        tmux
    }

    fn command(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux").arg("-L").arg(&self.socket).args(args).env("TERM", "xterm-256color").output().unwrap()
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.command(&["capture-pane", "-p"]).stdout).into_owned()
    }

    /// Types `text` (each character a key press, 60 ms apart).
    fn type_keys(&self, text: &str) {
        for c in text.chars() {
            self.command(&["send-keys", "-l", &c.to_string()]);
            std::thread::sleep(Duration::from_millis(60));
        }
    }

    /// Presses a key by its tmux name (`C-c`, `Up`...).
    fn press(&self, key: &str) {
        self.command(&["send-keys", key]);
    }

    /// Waits until the screen shows what `check` looks for; the screen then.
    fn wait_for(&self, what: &str, check: impl Fn(&str) -> bool, within: Duration) -> String {
        let started = Instant::now();
        loop {
            let screen = self.screen();
            if check(&screen) {
                return screen;
            }
            assert!(started.elapsed() < within, "waited {within:?} for {what}; the screen:\n{screen}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The process id of rhaithm (the child of the pane's shell).
    fn rhaithm_pid(&self) -> Option<u32> {
        let out = self.command(&["list-panes", "-F", "#{pane_pid}"]);
        let shell: u32 = String::from_utf8_lossy(&out.stdout).trim().parse().ok()?;
        let children = std::fs::read_to_string(format!("/proc/{shell}/task/{shell}/children")).ok()?;
        children.split_whitespace().next()?.parse().ok()
    }

    /// After rhaithm ended: the shell has the terminal back (no UI left on screen), and
    /// the exit status was 0.
    fn assert_restored(&self) -> String {
        let screen = self.wait_for("rhaithm to exit", |s| s.contains("RHAITHM-EXITED"), Duration::from_secs(10));
        assert!(screen.contains("RHAITHM-EXITED 0"), "{screen}");
        for ui in ["PLAYING", "PAUSED", "─ tracks", "─ log", "quit? y/n"] {
            assert!(!screen.contains(ui), "the UI ({ui}) is still on the screen after exit:\n{screen}");
        }
        assert!(screen.contains("stopped after"), "the last event is printed after the UI:\n{screen}");
        screen
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.command(&["kill-server"]);
    }
}

const QUIET: &str = r#"d1(note("a4").s("sine").gain(0.3))"#;
const UP: Duration = Duration::from_secs(10);

/// The left channel of a recording (32-bit float, 48 kHz stereo).
fn left(path: &Path) -> Vec<f32> {
    let reader = hound::WavReader::open(path).expect("a valid WAV file (finalized)");
    let spec = reader.spec();
    assert_eq!((spec.channels, spec.sample_rate), (2, 48000));
    let samples: Vec<f32> = reader.into_samples::<f32>().map(Result::unwrap).collect();
    samples.chunks(2).map(|f| f[0]).collect()
}

#[test]
fn the_ui_opens_asks_before_quitting_and_gives_the_terminal_back() {
    if !tmux_installed() {
        return;
    }
    let tmux = Tmux::play("quit", QUIET);
    tmux.wait_for("the UI", |s| s.contains("PLAYING") && s.contains("? help"), UP);
    std::thread::sleep(Duration::from_secs(1));
    tmux.type_keys("?");
    tmux.wait_for("the help", |s| s.contains("any key closes") && s.contains("tap tempo"), UP);
    tmux.type_keys("x");
    tmux.wait_for("the help to close", |s| !s.contains("any key closes"), UP);
    tmux.type_keys("q");
    tmux.wait_for("the quit question", |s| s.contains("quit? y/n"), UP);
    tmux.type_keys("n");
    let screen = tmux.wait_for("the question to go", |s| !s.contains("quit? y/n"), UP);
    assert!(screen.contains("PLAYING"), "n does not quit:\n{screen}");
    tmux.type_keys("q");
    tmux.wait_for("the quit question", |s| s.contains("quit? y/n"), UP);
    tmux.type_keys("y");
    tmux.assert_restored();
    let seconds = left(&tmux.path("out.wav")).len() as f64 / 48000.0;
    assert!(seconds > 1.0, "{seconds} s recorded");
}

#[test]
fn ctrl_c_quits_at_once() {
    if !tmux_installed() {
        return;
    }
    let tmux = Tmux::play("ctrl-c", QUIET);
    tmux.wait_for("the UI", |s| s.contains("PLAYING"), UP);
    let pressed = Instant::now();
    tmux.press("C-c");
    tmux.assert_restored();
    assert!(pressed.elapsed() < Duration::from_secs(3));
    assert!(hound::WavReader::open(tmux.path("out.wav")).is_ok());
}

#[test]
fn sigterm_restores_the_terminal_and_finishes_the_recording() {
    if !tmux_installed() {
        return;
    }
    let tmux = Tmux::play("term", QUIET);
    tmux.wait_for("the UI", |s| s.contains("PLAYING"), UP);
    std::thread::sleep(Duration::from_secs(1));
    let Some(pid) = tmux.rhaithm_pid() else {
        eprintln!("skipped: cannot find rhaithm's process id (no /proc?)");
        return;
    };
    assert!(Command::new("kill").args(["-s", "TERM", &pid.to_string()]).status().unwrap().success());
    tmux.assert_restored();
    let seconds = left(&tmux.path("out.wav")).len() as f64 / 48000.0;
    assert!(seconds > 0.9, "{seconds} s recorded");
}

/// 10 ms RMS windows.
fn rms_windows(x: &[f32]) -> Vec<f32> {
    x.chunks(480).map(|w| (w.iter().map(|s| s * s).sum::<f32>() / w.len() as f32).sqrt()).collect()
}

/// Kick onsets, in seconds: a 10 ms window far louder than the one 20 ms before it.
fn onsets(rms: &[f32]) -> Vec<f64> {
    let mut out: Vec<f64> = Vec::new();
    for k in 2..rms.len() {
        let t = k as f64 * 0.01;
        if rms[k] > 0.25 && rms[k - 2] < 0.6 * rms[k] && out.last().is_none_or(|&last| t - last > 0.15) {
            out.push(t);
        }
    }
    out
}

/// Mute, tempo and pause keys change what is played: measured in the recording.
///
/// The patch: a quiet sustained sine (d1) and a kick on every beat (d2) at 120 bpm.
/// `]` six times and `+` once: 181 bpm (kicks 0.331 s apart instead of 0.5); `2`:
/// the kicks stop, the sine goes on; space: silence.
#[test]
fn keys_mute_change_the_tempo_and_pause() {
    if !tmux_installed() {
        return;
    }
    let patch = format!("setcps(0.5);\n{QUIET};\nd2(s(\"bd*4\"));\n");
    let tmux = Tmux::play("keys", &patch);
    let track_row =
        |s: &str, name: &str| s.lines().find(|l| l.contains(name) && l.contains("p.rhai")).map(String::from);
    tmux.wait_for("both tracks (from the session's snapshots)", |s| track_row(s, "d2").is_some(), UP);
    tmux.wait_for("120 bpm", |s| s.contains("120.0 bpm"), UP);
    std::thread::sleep(Duration::from_millis(1700));

    tmux.type_keys("]]]]]]+");
    tmux.wait_for("181 bpm after ] ×6 and +", |s| s.contains("181.0 bpm"), UP);
    std::thread::sleep(Duration::from_millis(2000));

    tmux.type_keys("2");
    let screen = tmux.wait_for("track 2 muted (M)", |s| track_row(s, "d2").is_some_and(|r| r.contains('M')), UP);
    assert!(!track_row(&screen, "d1").unwrap().contains('M'), "only track 2 is muted:\n{screen}");
    std::thread::sleep(Duration::from_millis(1700));

    tmux.type_keys(" ");
    tmux.wait_for("PAUSED", |s| s.contains("PAUSED"), UP);
    std::thread::sleep(Duration::from_millis(1200));
    tmux.type_keys("q");
    tmux.wait_for("the quit question", |s| s.contains("quit? y/n"), UP);
    tmux.type_keys("y");
    tmux.assert_restored();

    let rms = rms_windows(&left(&tmux.path("out.wav")));
    let kicks = onsets(&rms);
    let gaps: Vec<f64> = kicks.windows(2).map(|w| w[1] - w[0]).collect();
    let near = |g: f64, want: f64| (g - want).abs() < 0.015;
    // Kicks every 0.5 s, then (after the tempo keys) every 60/181 s, in that order.
    let slow = gaps.iter().position(|&g| near(g, 0.5)).unwrap_or_else(|| panic!("no 120 bpm kicks: {gaps:?}"));
    let fast = gaps.iter().rposition(|&g| near(g, 60.0 / 181.0)).unwrap_or_else(|| panic!("no 181 bpm: {gaps:?}"));
    assert!(slow < fast, "120 bpm before 181 bpm: {gaps:?}");
    assert!(gaps[slow..].iter().take_while(|&&g| near(g, 0.5)).count() >= 2, "{gaps:?}");
    assert!(gaps[..=fast].iter().rev().take_while(|&&g| near(g, 60.0 / 181.0)).count() >= 4, "{gaps:?}");
    // After the last kick: the sine alone for more than a second, then silence (paused)
    // to the end.
    let last = (kicks.last().unwrap() * 100.0) as usize;
    let paused = (last..rms.len()).find(|&k| rms[k..].iter().all(|&r| r < 0.002)).expect("silence at the end");
    let sine_only = &rms[(last + 45).min(paused)..paused];
    assert!(sine_only.len() >= 100, "the sine alone for {} ms (mute then pause)", sine_only.len() * 10);
    assert!(sine_only.iter().all(|&r| (0.005..0.15).contains(&r)), "only the sine after the mute: {sine_only:?}");
    assert!(rms.len() - paused >= 60, "silent for {} ms while paused", (rms.len() - paused) * 10);
}
