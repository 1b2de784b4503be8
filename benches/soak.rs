//! The soak benchmark (not a test): the real binary plays for a long time through cpal
//! into a JACK dummy server (real-time pace, as in tests/jack.rs), while one file is saved
//! every 2 s, cycling through good, broken (syntax error) and dangerous versions, and a
//! control file plays a steady tone hard right. The take is recorded.
//!
//! At the end it prints: resident memory (VmRSS, sampled every second: at the start, at
//! the end, and the maximum), the trouble counters the binary reported (underruns, late
//! and dropped voices...), the saves made and the reloads and errors seen, and the
//! 250 ms windows of the recording where the control was silent.
//!
//! Needs `jackd2` and `libasound2-plugins` (see `.ci/run`); starts its own JACK server
//! (named, so that it disturbs no other) and stops it at the end.
//!
//! ```sh
//! RHAITHM_SOAK_SECS=30 cargo bench --bench soak      # default: 600 s
//! ```
//!
//! The binary runs under an address-space limit of `RHAITHM_SOAK_VMEM` kB (default
//! 8,000,000).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const SR: f64 = 48000.0;
const CONTROL_HZ: f64 = 1318.51;
const CONTROL: &str = "d1(note(\"e6*8\").s(\"sine\").pan(1));\n";
const LIVE: &str = "live.rhai";

/// The versions of the live file, in the order they are saved (then again from the
/// top). `{k}` is replaced by the save's number, so that no two saves are identical.
const VERSIONS: &[(&str, &str)] = &[
    ("good", "setcps(0.5);\nd1(s(\"hh*4\").pan(0).gain(0.5)); // {k}\n"),
    ("broken", "setcps(0.5);\nd1(s(\"hh*4\").pan(0) // {k}\n"),
    ("good", "setcps(0.5);\nd1(s(\"bd*2 hh\").pan(0)); // {k}\n"),
    ("dangerous", "s(\"hh*10000\") // {k}\n"),
    ("good", "setcps(0.5);\nd1(note(\"c3 eb3\").s(\"saw\").pan(0).lpf(800)); // {k}\n"),
    ("dangerous", "s(\"bd\").fast(1e12) // {k}\n"),
    ("broken", "d1(s(\"bd [sn\")); // {k}\n"),
    ("dangerous", "s(\"hh\").every(2, |x| { let i = 0; while i < 10000000 { i += 1; } x }) // {k}\n"),
    ("good", "setcps(0.5);\nd1(s(\"hh*8\").pan(0).gain(0.4)); // {k}\n"),
    ("dangerous", "note(\"c4*8\").s(\"sine\").release(1e9).pan(0) // {k}\n"),
    ("dangerous", "s(\"hh*4\").gain(1e9) // {k}\n"),
    ("broken", "let x = ; // {k}\n"),
    ("dangerous", "let p = s(\"hh\"); for i in 0..20000 { p = p.fast(1); } p // {k}\n"),
    ("dangerous", "s(\"bd\").ply(1e9) // {k}\n"),
    ("dangerous", "fn g(x) { x.every(2, Fn(\"g\")) } g(s(\"hh\")) // {k}\n"),
    ("dangerous", "setcps(0); // {k}\n"),
    ("dangerous", "s(\"hh\").chop(1e300) // {k}\n"),
];

fn jack_lsp(server: &str) -> bool {
    Command::new("jack_lsp")
        .env("JACK_DEFAULT_SERVER", server)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A JACK dummy server of our own, stopped with SIGTERM (so it leaves JACK's registry).
struct Jack(Child);

impl Jack {
    fn start(name: &str) -> Jack {
        let child = Command::new("jackd")
            .args(["-n", name, "-d", "dummy", "-r", "48000", "-p", "256"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start jackd: install jackd2 and libasound2-plugins (see .ci/run)");
        let until = Instant::now() + Duration::from_secs(10);
        while !jack_lsp(name) {
            assert!(Instant::now() < until, "jackd {name} did not come up");
            std::thread::sleep(Duration::from_millis(100));
        }
        Jack(child)
    }
}

impl Drop for Jack {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-s", "TERM", &self.0.id().to_string()]).status();
        let until = Instant::now() + Duration::from_secs(5);
        while self.0.try_wait().ok().flatten().is_none() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// ALSA's default device through JACK (no file tap: the take is recorded by rhaithm).
fn alsa_config(dir: &Path) -> PathBuf {
    let xdg = dir.join("xdg");
    std::fs::create_dir_all(xdg.join("alsa")).unwrap();
    let conf = r#"pcm.!default { type plug; slave.pcm "jackpcm" }
pcm.jackpcm { type jack; playback_ports { 0 system:playback_1 1 system:playback_2 } }
"#;
    std::fs::write(xdg.join("alsa").join("asoundrc"), conf).unwrap();
    xdg
}

fn rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The right channel of a recording (tolerant of an unfinished header).
fn read_right(path: &Path) -> Vec<f32> {
    if let Ok(r) = hound::WavReader::open(path)
        && let Ok(all) = r.into_samples::<f32>().collect::<Result<Vec<f32>, _>>()
    {
        return all.chunks_exact(2).map(|f| f[1]).collect();
    }
    let Ok(bytes) = std::fs::read(path) else { return Vec::new() };
    let Some(at) = bytes.windows(4).position(|w| w == b"data") else { return Vec::new() };
    bytes[(at + 8).min(bytes.len())..].chunks_exact(8).map(|b| f32::from_le_bytes([b[4], b[5], b[6], b[7]])).collect()
}

/// Amplitude at `hz` (Goertzel).
fn level_at(x: &[f32], hz: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * hz / SR;
    let c = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0, 0.0);
    for &v in x {
        let s = v as f64 + c * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    2.0 * (s1 * s1 + s2 * s2 - c * s1 * s2).max(0.0).sqrt() / x.len().max(1) as f64
}

/// 250 ms windows (hop 50 ms, merged) where the control is below a tenth of its usual
/// level, past the first second.
fn silent_windows(right: &[f32]) -> Vec<(f64, f64)> {
    let len = (0.25 * SR) as usize;
    let hop = (0.05 * SR) as usize;
    let mut levels = Vec::new();
    let mut at = SR as usize;
    while at + len <= right.len().saturating_sub((0.5 * SR) as usize) {
        levels.push((at, level_at(&right[at..at + len], CONTROL_HZ)));
        at += hop;
    }
    let mut sorted: Vec<f64> = levels.iter().map(|l| l.1).collect();
    sorted.sort_by(f64::total_cmp);
    let typical = sorted.get(sorted.len() * 3 / 4).copied().unwrap_or(0.0).max(0.02);
    let mut out: Vec<(f64, f64)> = Vec::new();
    for (at, l) in levels {
        if l < typical * 0.1 {
            let (s, e) = (at as f64 / SR, (at + len) as f64 / SR);
            match out.last_mut() {
                Some(last) if s <= last.1 => last.1 = e,
                _ => out.push((s, e)),
            }
        }
    }
    out
}

/// "what: new (total N)" → (what, N).
fn trouble(line: &str) -> Option<(String, u64)> {
    let (what, rest) = line.rsplit_once(": ")?;
    let total = rest.split("(total ").nth(1)?.trim_end_matches(')').parse().ok()?;
    Some((what.to_string(), total))
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is understood.
    let secs: f64 = std::env::var("RHAITHM_SOAK_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(600.0);
    let server = format!("rhaithm-soak-{}", std::process::id());
    let _jack = Jack::start(&server);
    let dir = tempfile::tempdir().unwrap();
    let xdg = alsa_config(dir.path());
    std::fs::write(dir.path().join("control.rhai"), CONTROL).unwrap();
    let live = dir.path().join(LIVE);
    std::fs::write(&live, VERSIONS[0].1.replace("{k}", "0")).unwrap();

    // Under an address-space limit (kB), so that a runaway allocation fails in the binary
    // instead of taking the machine's memory.
    let vmem = std::env::var("RHAITHM_SOAK_VMEM").unwrap_or_else(|_| "8000000".into());
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -v {vmem}; exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_rhaithm"))
        .args(["play", "control.rhai", LIVE, "--headless", "--buffer", "256", "--record", "take.wav", "--duration"])
        .arg(format!("{secs}"))
        .current_dir(dir.path())
        .env("XDG_CONFIG_HOME", &xdg)
        .env("JACK_DEFAULT_SERVER", &server)
        .env("JACK_NO_START_SERVER", "1")
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot start rhaithm");
    let pid = child.id();
    let (tx, rx) = mpsc::channel::<String>();
    let (out, err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let tx2 = tx.clone();
    std::thread::spawn(move || BufReader::new(out).lines().map_while(Result::ok).for_each(|l| drop(tx.send(l))));
    std::thread::spawn(move || BufReader::new(err).lines().map_while(Result::ok).for_each(|l| drop(tx2.send(l))));

    let mut lines = Vec::new();
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        match rx.recv_timeout(until.saturating_duration_since(Instant::now())) {
            Ok(l) => {
                let started = l.starts_with("playing");
                eprintln!("{l}");
                lines.push(l);
                if started {
                    break;
                }
            }
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("rhaithm did not start playing: {lines:#?}");
            }
        }
    }
    let t0 = Instant::now();
    let rss_start = rss_kb(pid).unwrap_or(0);
    let mut rss_max = rss_start;
    let mut rss_end = rss_start;
    let mut saves = 0usize;
    let mut saves_by_kind: BTreeMap<&str, usize> = BTreeMap::new();
    let mut next_save = t0 + Duration::from_secs(2);
    let mut next_sample = t0 + Duration::from_secs(1);
    let mut exited = None;
    // Plays until the binary stops by itself (its --duration), or 20 s past it.
    let deadline = t0 + Duration::from_secs_f64(secs + 20.0);
    while Instant::now() < deadline {
        while let Ok(l) = rx.try_recv() {
            if !l.starts_with("reloaded") {
                eprintln!("{:7.1} s  {}", t0.elapsed().as_secs_f64(), l.chars().take(200).collect::<String>());
            }
            lines.push(l);
        }
        if let Some(status) = child.try_wait().unwrap() {
            exited = Some(status);
            break;
        }
        let now = Instant::now();
        if now >= next_sample {
            if let Some(kb) = rss_kb(pid) {
                rss_end = kb;
                rss_max = rss_max.max(kb);
            }
            next_sample += Duration::from_secs(1);
        }
        if now >= next_save && now < t0 + Duration::from_secs_f64(secs - 1.0) {
            saves += 1;
            let (kind, text) = VERSIONS[saves % VERSIONS.len()];
            *saves_by_kind.entry(kind).or_default() += 1;
            if live.is_dir() {
                let _ = std::fs::remove_dir_all(&live);
            }
            std::fs::write(&live, text.replace("{k}", &saves.to_string())).unwrap();
            let first = text.lines().last().unwrap_or("").replace(" // {k}", "");
            eprintln!("{:7.1} s  save {saves} ({kind}): {first}", t0.elapsed().as_secs_f64());
            next_save += Duration::from_secs(2);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut killed = false;
    if exited.is_none() {
        killed = true;
        let _ = Command::new("kill").args(["-s", "TERM", &pid.to_string()]).status();
        std::thread::sleep(Duration::from_secs(3));
        let _ = child.kill();
        exited = child.wait().ok();
    }
    std::thread::sleep(Duration::from_millis(200));
    lines.extend(rx.try_iter());

    let reloads = lines.iter().filter(|l| l.starts_with(&format!("reloaded {LIVE}"))).count();
    let errors = lines.iter().filter(|l| l.contains(&format!("{LIVE}:")) && !l.starts_with("reloaded")).count();
    let panics = lines.iter().filter(|l| l.contains("panicked at") || l.contains("memory allocation of")).count();
    let mut troubles: BTreeMap<String, u64> = BTreeMap::new();
    for (what, total) in lines.iter().filter_map(|l| trouble(l)) {
        troubles.insert(what, total);
    }
    let right = read_right(&dir.path().join("take.wav"));
    let silent = silent_windows(&right);

    println!("soak: {secs:.0} s requested, {:.1} s until the binary ended", t0.elapsed().as_secs_f64());
    println!(
        "exit: {}{}",
        exited.map_or("unknown".to_string(), |s| s.to_string()),
        if killed { " (it did not stop by itself within 20 s of its --duration: killed)" } else { "" }
    );
    println!(
        "RSS: start {:.1} MB, end {:.1} MB, max {:.1} MB",
        rss_start as f64 / 1024.0,
        rss_end as f64 / 1024.0,
        rss_max as f64 / 1024.0
    );
    println!("saves: {saves} ({saves_by_kind:?}); reloads seen: {reloads}; errors seen: {errors}; panics: {panics}");
    for what in [
        "underruns",
        "voices started late",
        "voices dropped (all voice slots busy)",
        "voices dropped (queue full)",
        "voices silenced (NaN or infinity)",
        "recorded samples dropped (disk too slow)",
        "frames skipped after a stall",
        "voices stolen (voice limit reached)",
        "events skipped (too many notes per track)",
    ] {
        println!("{what}: {}", troubles.get(what).copied().unwrap_or(0));
    }
    for (what, n) in troubles.iter().filter(|(w, _)| {
        !w.contains("underruns")
            && !w.contains("voices")
            && !w.contains("recorded")
            && !w.contains("frames")
            && !w.contains("events skipped")
    }) {
        println!("other: {what}: {n}");
    }
    println!("recording: {:.1} s", right.len() as f64 / SR);
    let silent_total = silent.iter().fold(0.0, |t, (a, b)| t + (b - a));
    println!("control silent windows: {} ({silent_total:.2} s in all)", silent.len());
    for (a, b) in silent.iter().take(20) {
        println!("  {a:.2} s .. {b:.2} s");
    }
}
