//! The terminal UI's cost (a benchmark, not a test): the real binary plays a busy set
//! (every bundled patch at once, on the null output) for a while, once headless and once
//! with the terminal UI open in a tmux pane, and the CPU time the process used is read
//! from `/proc/PID/stat` (user + system) after a warm-up. The UI's cost is the
//! difference, as a share of one core.
//!
//! ```sh
//! cargo bench --bench tui                      # 20 s each
//! RHAITHM_TUI_BENCH_SECS=60 cargo bench --bench tui
//! ```
//!
//! Needs tmux. The goal: under 3 % of one core.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Seconds ignored at the start (compiling and checking the files).
const WARM_UP: f64 = 4.0;

fn clock_ticks() -> f64 {
    let out = Command::new("getconf").arg("CLK_TCK").output().ok();
    out.and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok()).unwrap_or(100.0)
}

/// CPU seconds (user + system) a process has used, its threads included.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / clock_ticks())
}

/// CPU used per second of wall time over `seconds`, after the warm-up.
fn measure(pid: u32, seconds: f64) -> f64 {
    std::thread::sleep(Duration::from_secs_f64(WARM_UP));
    let (c0, t0) = (cpu_seconds(pid).expect("the player is running"), Instant::now());
    std::thread::sleep(Duration::from_secs_f64(seconds));
    let (c1, t1) = (cpu_seconds(pid).expect("the player is still running"), Instant::now());
    (c1 - c0) / (t1 - t0).as_secs_f64()
}

fn busy_set(dir: &Path) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("patches");
    let mut files = Vec::new();
    for name in ["techno", "house", "dnb", "melodic", "instruments"] {
        let to = dir.join(format!("{name}.rhai"));
        std::fs::copy(root.join(format!("{name}.rhai")), &to).expect("copying a bundled patch");
        files.push(to.display().to_string());
    }
    files
}

fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_rhaithm"))
}

fn main() {
    if Command::new("tmux").arg("-V").output().is_err() {
        println!("tui bench: tmux is not installed; skipped");
        return;
    }
    let seconds: f64 = std::env::var("RHAITHM_TUI_BENCH_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(20.0);
    let dir = tempfile::tempdir().expect("a temporary folder");
    let files = busy_set(dir.path());
    let bin = binary();

    // Headless.
    let mut child = Command::new(&bin)
        .args(["play", "--output", "null", "--headless"])
        .args(&files)
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting the player");
    let headless = measure(child.id(), seconds);
    let _ = child.kill();
    let _ = child.wait();

    // With the UI, in a 100x30 tmux pane.
    let socket = format!("rhaithm-bench-{}", std::process::id());
    let tmux = |args: &[&str]| Command::new("tmux").arg("-L").arg(&socket).args(args).output();
    let mut line = format!("exec {} play --output null", bin.display());
    for f in &files {
        line.push(' ');
        line.push_str(f);
    }
    tmux(&["new-session", "-d", "-x", "100", "-y", "30", &line]).expect("starting tmux");
    std::thread::sleep(Duration::from_millis(300));
    let pid: u32 = tmux(&["display-message", "-p", "#{pane_pid}"])
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .expect("the pane's process");
    let with_ui = measure(pid, seconds);
    let screen = tmux(&["capture-pane", "-p"]).map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
    let _ = tmux(&["kill-server"]);

    println!("tui bench: {seconds:.0} s each after {WARM_UP:.0} s of warm-up, 5 patches on the null output");
    println!("  headless:     {:6.2} % of one core", headless * 100.0);
    println!("  with the UI:  {:6.2} % of one core", with_ui * 100.0);
    println!("  the UI costs: {:6.2} % of one core (goal: under 3 %)", (with_ui - headless) * 100.0);
    if let Ok(screen) = screen {
        println!("the screen at the end:\n{screen}");
    }
}
