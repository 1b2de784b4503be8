//! The proof by attack (issue 9): "no save, however wrong, stops the music, kills the
//! process or stops later saves".
//!
//! Every input of [`attacks`] is a save a tired performer could type. Each goes:
//!
//! - through `rhaithm play` (null output, recording), as a bad save of one file between
//!   two good saves, while a second, never changed CONTROL file plays a steady tone hard
//!   right. Checked: (a) the process is alive, (b) the control kept sounding (no 250 ms
//!   of the recording without it), (c) the bad save was reported with its place
//!   (`path:line:col: message`, or `path: message` for a file-level problem), (d) the next
//!   good save was reloaded. The inputs run in groups, one `play` per group, so the whole
//!   suite stays within a few minutes; a process that dies or stops reloading is started
//!   again for the rest of its group, so that every input gets its own verdict;
//! - through `rhaithm query` (when it is a pattern expression), `rhaithm check` and
//!   `rhaithm render --cycles 2`, each under a 4 GB address-space limit and a timeout:
//!   each must exit with 0 or 1, with a message, without panicking, aborting or hanging.
//!
//! Failures are listed by input name. `RHAITHM_ATTACK_TIMEOUT` (seconds, default 20)
//! bounds each command; `RHAITHM_ATTACK_ONLY` (a substring) runs only the inputs whose
//! name contains it.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The file under attack and the control file, as `play` is given them.
const ATTACKED: &str = "attacked.rhai";
const CONTROL: &str = "control.rhai";

/// The control: a steady sine hard right, eight notes a cycle at the default tempo
/// (a note every 250 ms), never changed.
const CONTROL_SRC: &str = "d1(note(\"e6*8\").s(\"sine\").pan(1));\n";
/// E6, the control's pitch.
const CONTROL_HZ: f64 = 1318.51;
const SR: f64 = 48000.0;

/// A good version of the attacked file: hats hard left, the tempo the control expects.
/// `k` makes each text different (an identical save does nothing).
fn good(k: usize) -> String {
    format!("setcps(0.5);\nd1(s(\"hh*4\").pan(0).gain(0.5)); // good save {k}\n")
}

/// What a save must lead to, besides the process living on, the control sounding and
/// the next good save being taken.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Expect {
    /// An error with its place: `path:line:col: message` (and `check`/`render` exit 1).
    Located,
    /// A file-level message naming the file (`path: message`), or a located one.
    FileMessage,
    /// Either a located error, or the version is taken and the limit it hits is
    /// reported (a warning or a trouble line: voices dropped, late...).
    Reported,
    /// Nothing in particular: taken or rejected with a located error, both are fine.
    Survive,
}

/// How the bad save reaches the disk.
#[derive(Clone, Debug)]
enum Body {
    Text(String),
    Bytes(Vec<u8>),
    /// The file is replaced by a directory.
    Dir,
    /// Written, then made unreadable.
    Chmod000(String),
    /// Truncated to nothing, then (1 s later) written in full.
    HalfWritten(String),
}

#[derive(Clone, Debug)]
struct Attack {
    name: &'static str,
    body: Body,
    /// Also run through `rhaithm query` (a pattern expression).
    query: bool,
    expect: Expect,
    /// The line the error must name, where it matters.
    line: Option<usize>,
    /// What `query`/`check`/`render` must do, where it differs from `play`.
    cli: Option<Expect>,
}

fn text(name: &'static str, src: impl Into<String>, query: bool, expect: Expect) -> Attack {
    Attack { name, body: Body::Text(src.into()), query, expect, line: None, cli: None }
}

/// A pattern expression: played as the file's only pattern, and queried.
fn expr(name: &'static str, src: impl Into<String>, expect: Expect) -> Attack {
    text(name, src, true, expect)
}

/// A whole script (statements): played and checked, not queried.
fn script(name: &'static str, src: impl Into<String>, expect: Expect) -> Attack {
    text(name, src, false, expect)
}

/// Deterministic garbage.
fn garbage(n: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Every input, in the order they are played.
fn attacks() -> Vec<Attack> {
    use Expect::*;
    let q = |n: usize, s: &str| s.repeat(n);
    let mut lines70k = "// a long set\n".repeat(69_999);
    lines70k.push_str("d1(s(\"bd\")\n");
    let lowpass_chain = format!(
        "instrument(\"x\", |freq| saw(freq){});\nd1(note(\"c3\").s(\"x\"));\n",
        q(5000, " >> lowpass(900, 0.4)")
    );
    vec![
        // Counts from user numbers.
        expr("hh*1600000", r#"s("hh*1600000")"#, Reported),
        expr("every(1e12)", r#"s("hh").every(1e12, |x| x.fast(2))"#, Survive),
        expr("ply(1e9)", r#"s("bd").ply(1e9)"#, Reported),
        expr("fast(1e12)", r#"s("bd").fast(1e12)"#, Reported),
        expr("chop(1e300)", r#"s("hh").chop(1e300)"#, Reported),
        expr("striate(1e300)", r#"s("hh").striate(1e300)"#, Reported),
        expr("iter(1e300)", r#"s("bd sn").iter(1e300)"#, Survive),
        expr("every(1e300)", r#"s("hh").every(1e300, |x| x.fast(2))"#, Survive),
        expr("euclid(1e300,1e300)", r#"s("bd(1e300,1e300)")"#, Reported),
        expr("chunk(1e20)", r#"s("bd sn").chunk(1e20, |x| x.fast(2))"#, Survive),
        expr("run(1e7)", r#"n(run(1e7)).s("sine")"#, Reported),
        expr("bd!1e9", r#"s("bd!1e9")"#, Reported),
        expr("segment(1e9)", r#"s("bd").segment(1e9)"#, Reported),
        expr("{bd sn}%1e9", r#"s("{bd sn}%1e9")"#, Reported),
        expr("bd*100000", r#"s("bd*100000")"#, Reported),
        expr("hh*10000", r#"s("hh*10000")"#, Reported),
        expr("slow(1e-300)", r#"s("bd").slow(1e-300)"#, Reported),
        expr("n(0 .. 1e8)", r#"n("0 .. 100000000").s("sine")"#, Reported),
        expr("stack of 1e5", "let a = []; for i in 0..100000 { a.push(s(\"bd\")); } stack(a)", Reported),
        // Mini-notation made long or deep.
        expr("hh???x3000", format!("s(\"hh{}\")", q(3000, "?")), Survive),
        expr("bd???x20000", format!("s(\"bd{}\")", q(20000, "?")), Survive),
        expr("bd:1x20000", format!("s(\"bd{}\")", q(20000, ":1")), Survive),
        expr("bd/1x50000", format!("s(\"bd{}\")", q(50000, "/1")), Survive),
        expr("[[[...]]]x5000", format!("s(\"{}bd{}\")", q(5000, "["), q(5000, "]")), Survive),
        expr("<<<...>>>x5000", format!("s(\"{}bd{}\")", q(5000, "<"), q(5000, ">")), Survive),
        expr("bd(-5,8)", r#"s("bd(-5,8) sn(3,0) hh(3,8,-1e9)")"#, Survive),
        // Values that are not counts.
        expr("release(1e9)", r#"note("c4*8").s("sine").release(1e9)"#, Survive),
        expr("speed(0) sample", r#"s("blip*4").speed(0)"#, Survive),
        expr("gain(1e9)", r#"s("hh*4").gain(1e9)"#, Survive),
        expr("note(NaN)", r#"note(0.0/0.0).s("sine")"#, Survive),
        expr("fast(NaN)", r#"s("bd").fast(0.0/0.0)"#, Survive),
        expr("fast(0) fast(-1)", r#"stack(s("bd").fast(0), s("sn").fast(-1))"#, Survive),
        expr("late(1e300)", r#"s("bd").late(1e300)"#, Survive),
        // Found by tests/fuzz.rs: i64::MIN reaches a rational negation.
        expr("off(i64::MIN)", r#"s("bd").off(-9223372036854775808, |x| x)"#, Survive),
        expr("linger(i64::MIN)", r#"n("0 1").linger(-9223372036854775808)"#, Survive),
        expr("off(1e-300)", r#"s("bd").off(1e-300, |x| x)"#, Survive),
        expr(
            "ply(0) ply(-1) segment(0) chunk(0)",
            r#"stack(s("bd").ply(0), s("sn").ply(-1), s("hh").segment(0), s("cp").chunk(0, |x| x))"#,
            Survive,
        ),
        expr(
            "lpf(NaN) room(1e9) delayfeedback(2)",
            r#"s("hh*4").lpf(0.0/0.0).room(1e9).size(1e9).delay(1).delayfeedback(2)"#,
            Survive,
        ),
        // Closures at query time.
        expr("20000 x fast(1)", "let p = s(\"hh\"); for i in 0..20000 { p = p.fast(1); } p", Survive),
        expr("Fn(g) recursion", r#"fn g(x) { x.every(2, Fn("g")) } g(s("hh"))"#, Located),
        expr("slow closure", r#"s("hh").every(2, |x| { let i = 0; while i < 10000000 { i += 1; } x })"#, Reported),
        expr("print in closure", r#"s("hh").every(2, |x| { print("hello from the closure"); x })"#, Survive),
        // Closures run when the version is built (and are checked before it goes live).
        expr("throws in a closure", r#"s("hh*8").every(2, |x| { if true { throw "boom"; } x })"#, Located),
        expr("missing Fn", r#"s("hh").every(2, Fn("nonexistent"))"#, Located),
        // The script itself.
        expr("(((...)))x10000", format!("{}s(\"bd\"){}", q(10000, "("), q(10000, ")")), Located),
        script("[[[...]]]x10000 rhai", format!("let a = {}1{};\ns(\"bd\")", q(10000, "["), q(10000, "]")), Located),
        script("#{{...}}x5000", format!("let m = {}1{};\ns(\"bd\")", q(5000, "#{a: "), q(5000, "}")), Located),
        script("2 MB string literal", format!("let x = \"{}\";\ns(\"bd\")", q(2 << 20, "a")), Survive),
        script("string doubling", "let x = \"ab\"; for i in 0..40 { x += x; }\ns(\"bd\")", Located),
        script("array doubling", "let a = [1]; for i in 0..40 { a += a; }\ns(\"bd\")", Located),
        script("endless loop", "loop { }", Located),
        script("endless recursion", "fn f(x) { f(x + 1) }\nf(1)", Located),
        script("lowpass x5000 literal", lowpass_chain, Survive),
        script(
            "lowpass x5000 loop",
            "instrument(\"x\", |freq| { let g = saw(freq); for i in 0..5000 { g = g >> lowpass(900, 0.4); } g });\nd1(note(\"c3\").s(\"x\"));",
            Survive,
        ),
        script(
            "graph doubled x40",
            "instrument(\"x\", |freq| { let g = sine(freq); for i in 0..40 { g = g + g; } g });\nd1(note(\"c3\").s(\"x\"));",
            Located,
        ),
        script(
            "instrument NaN",
            "instrument(\"x\", |freq| sine(freq * (0.0/0.0)));\nd1(note(\"c4*4\").s(\"x\"));",
            Survive,
        ),
        // Tempo.
        script("setcps(1e9)", "setcps(1e9);\nd1(s(\"hh*4\").pan(0))", Located),
        script("setcps(0)", "setcps(0);\nd1(s(\"hh*4\").pan(0))", Located),
        script("setcps(-1)", "setcps(-1);\nd1(s(\"hh*4\").pan(0))", Located),
        script("setcps(NaN)", "setcps(0.0/0.0);\nd1(s(\"hh*4\").pan(0))", Located),
        script("setbpm(inf)", "setbpm(1e308 * 10.0);\nd1(s(\"hh*4\").pan(0))", Located),
        // The file.
        // Refused whole, by name: Rhai numbers lines with 16 bits, so rhaithm reads at
        // most 65,000 and says so rather than name a wrong line.
        script("70000 lines", lines70k, FileMessage),
        script("empty file", "", FileMessage),
        script("whitespace only", " \n\t\n   \n", FileMessage),
        Attack {
            body: Body::Bytes(b"d1(s(\"bd\xff\xfe sn\"));\n".to_vec()),
            ..script("invalid UTF-8", "", FileMessage)
        },
        Attack { body: Body::Bytes(garbage(4096)), ..script("binary garbage", "", FileMessage) },
        Attack { body: Body::Dir, ..script("directory", "", FileMessage) },
        Attack { body: Body::Chmod000(good(9999)), ..script("chmod 000", "", FileMessage) },
        Attack {
            body: Body::HalfWritten("setcps(0.5);\nd1(s(\"hh*2\").pan(0)); // completed\n".into()),
            ..script("half-written save", "", Survive)
        },
    ]
}

fn selected() -> Vec<Attack> {
    let only = std::env::var("RHAITHM_ATTACK_ONLY").unwrap_or_default();
    attacks().into_iter().filter(|a| a.name.contains(only.as_str())).collect()
}

fn timeout() -> Duration {
    Duration::from_secs_f64(std::env::var("RHAITHM_ATTACK_TIMEOUT").ok().and_then(|s| s.parse().ok()).unwrap_or(20.0))
}

/// A folder with a sample bank `blip` (one short sine), for the sampler attacks.
fn sample_folder(dir: &Path) -> PathBuf {
    let folder = dir.join("samples");
    std::fs::create_dir_all(folder.join("blip")).unwrap();
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 48000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(folder.join("blip").join("blip.wav"), spec).unwrap();
    for i in 0..4800 {
        w.write_sample(((i as f64 * 0.06).sin() * 20000.0) as i16).unwrap();
    }
    w.finalize().unwrap();
    folder
}

/// Writes the bad save to `path` (the simple cases; `HalfWritten` is done by the caller).
fn write_body(path: &Path, body: &Body) {
    if path.is_dir() {
        let _ = std::fs::remove_dir_all(path);
    }
    match body {
        Body::Text(s) => std::fs::write(path, s).unwrap(),
        Body::Bytes(b) => std::fs::write(path, b).unwrap(),
        Body::Dir => {
            let _ = std::fs::remove_file(path);
            std::fs::create_dir(path).unwrap();
        }
        Body::Chmod000(s) => {
            std::fs::write(path, s).unwrap();
            Command::new("chmod").arg("000").arg(path).status().unwrap();
        }
        Body::HalfWritten(s) => std::fs::write(path, s).unwrap(),
    }
}

/// Puts a good version in place, whatever the bad save left there.
fn write_good(path: &Path, k: usize) {
    if path.is_dir() {
        std::fs::remove_dir_all(path).unwrap();
    }
    if path.exists() {
        Command::new("chmod").arg("644").arg(path).status().unwrap();
    }
    std::fs::write(path, good(k)).unwrap();
}

/// Root reads a chmod-000 file anyway: then that attack means nothing.
fn unreadable_files_are_unreadable(dir: &Path) -> bool {
    let p = dir.join("probe");
    std::fs::write(&p, "x").unwrap();
    Command::new("chmod").arg("000").arg(&p).status().unwrap();
    let unreadable = std::fs::read(&p).is_err();
    let _ = std::fs::remove_file(&p);
    unreadable
}

// ---------------------------------------------------------------------------------------
// Messages.

/// The line number in a located message about `file` (`...file:LINE:COL: ...`).
fn located_line(line: &str, file: &str) -> Option<usize> {
    let mut rest = line;
    while let Some(i) = rest.find(file) {
        let after = &rest[i + file.len()..];
        let mut parts = after.splitn(4, ':');
        if let (Some(""), Some(l), Some(c), Some(_)) = (parts.next(), parts.next(), parts.next(), parts.next())
            && !l.is_empty()
            && l.bytes().all(|b| b.is_ascii_digit())
            && !c.is_empty()
            && c.bytes().all(|b| b.is_ascii_digit())
        {
            return l.parse().ok();
        }
        rest = after;
    }
    None
}

/// A message about `file` that is not a reload.
fn file_message(line: &str, file: &str) -> bool {
    !line.starts_with("reloaded") && !line.starts_with("playing") && line.contains(&format!("{file}:"))
}

/// A trouble or warning line (a limit was hit and said so).
fn trouble(line: &str) -> bool {
    line.contains("warning")
        || line.contains("underruns:")
        || line.contains("late:")
        || line.contains("dropped")
        || line.contains("silenced")
        || line.contains("skipped")
        || line.contains("limit")
}

fn panic_text(s: &str) -> bool {
    s.contains("panicked at") || s.contains("memory allocation of") || s.contains("stack overflow")
}

// ---------------------------------------------------------------------------------------
// `play`.

/// One `rhaithm play` with the control and the attacked file.
struct Session {
    child: Child,
    lines: mpsc::Receiver<(Instant, String)>,
    seen: Vec<(Instant, String)>,
    started: Instant,
    take: PathBuf,
}

impl Session {
    fn start(dir: &Path, samples: &Path, n: usize) -> Session {
        let mut s = Session::start_unsettled(dir, samples, n);
        // A save in the first instants is the subject of its own test
        // (`a_save_right_after_start_is_taken`); here every attack gets a settled session.
        s.wait_for(|_| false, Instant::now() + Duration::from_millis(500));
        s
    }

    /// Starts `play` and returns as soon as it says it is playing.
    fn start_unsettled(dir: &Path, samples: &Path, n: usize) -> Session {
        write_good(&dir.join(ATTACKED), 0);
        let take = dir.join(format!("take{n}.wav"));
        // Under an 8 GB address-space limit, so that a runaway allocation fails in the
        // binary rather than taking the machine's memory.
        let mut child = Command::new("sh")
            .arg("-c")
            .arg("ulimit -v 8000000; exec \"$0\" \"$@\"")
            .arg(env!("CARGO_BIN_EXE_rhaithm"))
            .args(["play", CONTROL, ATTACKED, "--output", "null", "--headless", "--record"])
            .arg(&take)
            .arg("--samples")
            .arg(samples)
            .current_dir(dir)
            .env("RUST_BACKTRACE", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, rx) = mpsc::channel();
        let out = child.stdout.take().unwrap();
        let err = child.stderr.take().unwrap();
        let tx2 = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send((Instant::now(), line));
            }
        });
        std::thread::spawn(move || {
            // Bytes, not lines: a panic message may not be UTF-8-clean.
            let mut buf = Vec::new();
            let mut r = BufReader::new(err);
            while r.read_until(b'\n', &mut buf).is_ok_and(|n| n > 0) {
                let _ = tx2.send((Instant::now(), String::from_utf8_lossy(&buf).trim_end().to_string()));
                buf.clear();
            }
        });
        let mut s = Session { child, lines: rx, seen: Vec::new(), started: Instant::now(), take };
        let playing = s.wait_for(|l| l.starts_with("playing"), Instant::now() + Duration::from_secs(20));
        assert!(playing.is_some(), "play did not start: {:#?}", s.seen);
        s.started = playing.unwrap();
        s
    }

    /// Collects lines until one matches (its time) or `until`.
    fn wait_for(&mut self, f: impl Fn(&str) -> bool, until: Instant) -> Option<Instant> {
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok((t, line)) => {
                    let hit = f(&line);
                    self.seen.push((t, line));
                    if hit {
                        return Some(t);
                    }
                }
                Err(_) => return None,
            }
        }
    }

    /// Lines seen since `t`.
    fn since(&self, t: Instant) -> impl Iterator<Item = &str> {
        self.seen.iter().filter(move |(at, _)| *at >= t).map(|(_, l)| l.as_str())
    }

    fn alive(&mut self) -> Result<(), String> {
        match self.child.try_wait().unwrap() {
            None => Ok(()),
            Some(status) => {
                // Drain what it said on the way out.
                self.wait_for(|_| false, Instant::now() + Duration::from_millis(300));
                let tail: Vec<&str> = self.seen.iter().rev().take(6).map(|(_, l)| l.as_str()).collect();
                let how = if self.seen.iter().any(|(_, l)| panic_text(l)) { "panicked" } else { "died" };
                Err(format!("the process {how} ({status}); last lines: {tail:?}"))
            }
        }
    }

    /// Stops the process (SIGTERM, then SIGKILL) and returns the recording.
    fn finish(mut self) -> (Vec<f32>, Instant) {
        if std::env::var("RHAITHM_ATTACK_DEBUG").is_ok_and(|v| v == "1") {
            for (t, l) in &self.seen {
                eprintln!(
                    "{:8.3} {}",
                    t.duration_since(self.started).as_secs_f64(),
                    l.chars().take(200).collect::<String>()
                );
            }
        }
        let _ = Command::new("kill").args(["-s", "TERM", &self.child.id().to_string()]).status();
        let until = Instant::now() + Duration::from_secs(5);
        while self.child.try_wait().unwrap().is_none() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        (read_recording(&self.take), self.started)
    }
}

/// The recording's right channel. Tolerant of a header that was never finished (a dead
/// process): everything after the `data` chunk id is taken as f32 stereo.
fn read_recording(path: &Path) -> Vec<f32> {
    if let Ok(r) = hound::WavReader::open(path)
        && let Ok(all) = r.into_samples::<f32>().collect::<Result<Vec<f32>, _>>()
        && !all.is_empty()
    {
        return all.chunks_exact(2).map(|f| f[1]).collect();
    }
    let Ok(bytes) = std::fs::read(path) else { return Vec::new() };
    let Some(at) = bytes.windows(4).position(|w| w == b"data") else { return Vec::new() };
    let data = &bytes[(at + 8).min(bytes.len())..];
    data.chunks_exact(8).map(|b| f32::from_le_bytes([b[4], b[5], b[6], b[7]])).collect()
}

/// The control's amplitude at its pitch in `x` (Goertzel).
fn level_at(x: &[f32], hz: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * hz / SR;
    let c = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0, 0.0);
    for &v in x {
        let s = v as f64 + c * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    let power = s1 * s1 + s2 * s2 - c * s1 * s2;
    2.0 * power.max(0.0).sqrt() / x.len().max(1) as f64
}

/// Windows (start, end in seconds) of the recording where the control is missing:
/// 250 ms windows (hopping by 50 ms) whose level at the control's pitch is below a tenth
/// of the typical one. The first second and the last half second are left out.
fn silent_windows(right: &[f32]) -> Vec<(f64, f64)> {
    let len = (0.25 * SR) as usize;
    let hop = (0.05 * SR) as usize;
    let first = SR as usize;
    let last = right.len().saturating_sub((0.5 * SR) as usize);
    let mut levels = Vec::new();
    let mut at = first;
    while at + len <= last {
        levels.push((at, level_at(&right[at..at + len], CONTROL_HZ)));
        at += hop;
    }
    if levels.is_empty() {
        return Vec::new();
    }
    let mut sorted: Vec<f64> = levels.iter().map(|l| l.1).collect();
    sorted.sort_by(f64::total_cmp);
    // The typical level: a high quantile, so that long silences do not lower it.
    let typical = sorted[sorted.len() * 3 / 4].max(0.02);
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

/// Seconds between a bad save and the good one after it, and between that and the next
/// bad save.
const BAD_FOR: Duration = Duration::from_millis(1500);
const GOOD_FOR: Duration = Duration::from_millis(1500);
/// How long a rejection may take to be reported.
const MESSAGE_WITHIN: Duration = Duration::from_secs(3);

/// Plays one group of attacks; returns one line per failure, naming the input.
fn play_group(group: &[Attack]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let samples = sample_folder(dir.path());
    std::fs::write(dir.path().join(CONTROL), CONTROL_SRC).unwrap();
    let path = dir.path().join(ATTACKED);
    let chmod_means_something = unreadable_files_are_unreadable(dir.path());
    let mut failures = Vec::new();
    let mut sessions = 0;
    let mut session = Some(Session::start(dir.path(), &samples, sessions));
    // (input name, seconds from the session start when its bad save was written) per session
    let mut spans: Vec<(&'static str, f64)> = Vec::new();
    let mut k = 1;
    let analyse = |s: Session, spans: &mut Vec<(&'static str, f64)>, failures: &mut Vec<String>| {
        let (right, _) = s.finish();
        for (a, b) in silent_windows(&right) {
            let during = spans.iter().rev().find(|(_, t)| *t <= a).map_or("the first good version", |(n, _)| n);
            failures.push(format!("{during}: the control track was silent from {a:.2} s to {b:.2} s"));
        }
        if right.len() < SR as usize {
            let first = spans.first().map_or("the first good version", |s| s.0);
            failures.push(format!("{first}: the recording of its session holds only {} frames", right.len()));
        }
        spans.clear();
    };
    for attack in group {
        if matches!(attack.body, Body::Chmod000(_)) && !chmod_means_something {
            eprintln!("skipping {:?}: this user reads unreadable files (root)", attack.name);
            continue;
        }
        let s = match session.as_mut() {
            Some(s) => s,
            None => {
                sessions += 1;
                session.insert(Session::start(dir.path(), &samples, sessions))
            }
        };
        let name = attack.name;
        let t_bad = Instant::now();
        spans.push((name, t_bad.duration_since(s.started).as_secs_f64()));
        if let Body::HalfWritten(full) = &attack.body {
            std::fs::write(&path, "").unwrap();
            std::thread::sleep(Duration::from_secs(1));
            std::fs::write(&path, full).unwrap();
        } else {
            write_body(&path, &attack.body);
        }
        // The bad save's message (or, for an accepted version, the reload and anything it
        // reports) within BAD_FOR.
        let message = |l: &str| file_message(l, ATTACKED);
        let until = Instant::now() + BAD_FOR;
        match attack.expect {
            Expect::Located | Expect::FileMessage => {
                // A slow rejection (an operation limit) is given up to MESSAGE_WITHIN.
                s.wait_for(message, t_bad + MESSAGE_WITHIN);
            }
            _ => {}
        }
        s.wait_for(|_| false, until);
        let mut broken = false;
        if let Err(e) = s.alive() {
            failures.push(format!("{name}: {e}"));
            broken = true;
        }
        let said: Vec<String> = s.since(t_bad).map(str::to_string).collect();
        let located: Vec<usize> = said.iter().filter_map(|l| located_line(l, ATTACKED)).collect();
        let reloaded = said.iter().any(|l| l.starts_with(&format!("reloaded {ATTACKED}")));
        let unlocated: Vec<&String> = said.iter().filter(|l| message(l)).collect();
        let verdict = match attack.expect {
            Expect::Located if located.is_empty() && !unlocated.is_empty() => Some("the message has no line:col"),
            Expect::Located if located.is_empty() => Some("no located message (path:line:col) for the bad save"),
            Expect::FileMessage if !said.iter().any(|l| message(l)) => Some("no message naming the file"),
            Expect::Reported if located.is_empty() && !unlocated.is_empty() && !reloaded => {
                Some("rejected, but the message has no line:col (the place of the call that hit the limit)")
            }
            Expect::Reported if located.is_empty() && !(reloaded && said.iter().any(|l| trouble(l))) => {
                Some("neither a located error nor a reported limit (warning, dropped or late voices)")
            }
            Expect::Survive if located.is_empty() && !reloaded && !said.iter().any(|l| message(l)) => {
                Some("neither taken (no reload) nor rejected with a message within 1.5 s")
            }
            _ => None,
        };
        if let Some(v) = verdict {
            failures.push(format!("{name}: {v}; it said: {said:?}"));
        }
        if let (Some(want), Some(&got)) = (attack.line, located.first())
            && want != got
        {
            failures.push(format!("{name}: the error names line {got}, not {want}"));
        }
        if !broken {
            // The next good save must be taken.
            let t_good = Instant::now();
            write_good(&path, k);
            k += 1;
            let took = s.wait_for(|l| l.starts_with(&format!("reloaded {ATTACKED}")), t_good + Duration::from_secs(5));
            if took.is_none() {
                let said: Vec<&str> = s.since(t_good).collect();
                failures.push(format!("{name}: the good save after it was not reloaded within 5 s; it said: {said:?}"));
                broken = true;
            } else if let Err(e) = s.alive() {
                failures.push(format!("{name}: after the good save: {e}"));
                broken = true;
            }
            s.wait_for(|_| false, t_good + GOOD_FOR);
        }
        if broken {
            let s = session.take().unwrap();
            analyse(s, &mut spans, &mut failures);
        }
    }
    if let Some(s) = session.take() {
        analyse(s, &mut spans, &mut failures);
    }
    failures
}

/// The inputs in groups of this many, one `play` per group.
const GROUP: usize = 8;

fn play_nth_group(n: usize) {
    let all = selected();
    let Some(group) = all.chunks(GROUP).nth(n) else { return };
    let names: Vec<&str> = group.iter().map(|a| a.name).collect();
    eprintln!("group {n}: {names:?}");
    let failures = play_group(group);
    assert!(failures.is_empty(), "{} failures in group {n}:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn play_group_0() {
    play_nth_group(0);
}
#[test]
fn play_group_1() {
    play_nth_group(1);
}
#[test]
fn play_group_2() {
    play_nth_group(2);
}
#[test]
fn play_group_3() {
    play_nth_group(3);
}
#[test]
fn play_group_4() {
    play_nth_group(4);
}
#[test]
fn play_group_5() {
    play_nth_group(5);
}
#[test]
fn play_group_6() {
    play_nth_group(6);
}
#[test]
fn play_group_7() {
    play_nth_group(7);
}
#[test]
fn play_group_8() {
    play_nth_group(8);
}

/// A save made just after `playing` is printed is taken, like any other.
#[test]
fn a_save_right_after_start_is_taken() {
    let dir = tempfile::tempdir().unwrap();
    let samples = sample_folder(dir.path());
    std::fs::write(dir.path().join(CONTROL), CONTROL_SRC).unwrap();
    let mut s = Session::start_unsettled(dir.path(), &samples, 0);
    let t = Instant::now();
    std::fs::write(dir.path().join(ATTACKED), good(1)).unwrap();
    let took = s.wait_for(|l| l.starts_with(&format!("reloaded {ATTACKED}")), t + Duration::from_secs(3));
    let said: Vec<String> = s.since(t).map(str::to_string).collect();
    s.finish();
    assert!(took.is_some(), "a save right after the start was not taken; it said: {said:?}");
}

#[test]
fn every_input_has_a_play_group() {
    assert!(attacks().len() <= 9 * GROUP, "add play_group_N tests: {} inputs", attacks().len());
}

// ---------------------------------------------------------------------------------------
// `query`, `check`, `render`.

/// How one command ended.
fn run_limited(dir: &Path, args: &[&str]) -> Result<(i32, String), String> {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 4000000; exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_rhaithm"))
        .args(args)
        .current_dir(dir)
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (out, err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    // Only the first 64 kB of each is kept (a flood of events is not the point).
    let reader = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut kept = Vec::new();
            let mut buf = [0u8; 8192];
            while let Ok(n) = r.read(&mut buf) {
                if n == 0 {
                    break;
                }
                if kept.len() < 65536 {
                    kept.extend_from_slice(&buf[..n]);
                }
            }
            String::from_utf8_lossy(&kept).into_owned()
        })
    };
    let (o, e) = (reader(Box::new(out)), reader(Box::new(err)));
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if started.elapsed() > timeout() {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("hung: killed after {:.0} s", timeout().as_secs_f64()));
        }
        std::thread::sleep(Duration::from_millis(25));
    };
    let text = format!("{}{}", o.join().unwrap_or_default(), e.join().unwrap_or_default());
    let short: String = text.chars().take(300).collect();
    if panic_text(&text) {
        return Err(format!("panicked ({status}): {short:?}"));
    }
    match status.code() {
        Some(c @ (0 | 1)) => {
            // `query` of a pattern with no events prints nothing, rightly.
            if c == 1 && text.trim().is_empty() {
                return Err(format!("exit {c} without a message"));
            }
            Ok((c, text))
        }
        Some(c) => Err(format!("exit code {c}: {short:?}")),
        None => {
            use std::os::unix::process::ExitStatusExt;
            Err(format!("killed by signal {:?} (abort or crash): {short:?}", status.signal()))
        }
    }
}

/// Writes an attack's file into `dir` (a fresh folder per input).
fn materialise(dir: &Path, attack: &Attack) -> Option<PathBuf> {
    let path = dir.join(ATTACKED);
    match &attack.body {
        Body::HalfWritten(_) => return None,
        Body::Chmod000(_) if !unreadable_files_are_unreadable(dir) => return None,
        b => write_body(&path, b),
    }
    Some(path)
}

/// Runs `cmd` for every selected input on a few threads; returns the failures.
fn for_every_input(cmd: &'static str) -> Vec<String> {
    let inputs: Vec<Attack> = selected();
    let queue = Arc::new(Mutex::new(inputs.into_iter()));
    let failures = Arc::new(Mutex::new(Vec::new()));
    let workers: Vec<_> = (0..3)
        .map(|_| {
            let (queue, failures) = (queue.clone(), failures.clone());
            std::thread::spawn(move || {
                loop {
                    let Some(attack) = queue.lock().unwrap().next() else { return };
                    let dir = tempfile::tempdir().unwrap();
                    let samples = sample_folder(dir.path());
                    let samples = samples.to_str().unwrap();
                    let result = match cmd {
                        "query" => {
                            let Body::Text(src) = &attack.body else { continue };
                            if !attack.query {
                                continue;
                            }
                            run_limited(dir.path(), &["query", "--to", "4", src])
                        }
                        "check" => {
                            if materialise(dir.path(), &attack).is_none() {
                                continue;
                            }
                            run_limited(dir.path(), &["check", ATTACKED, "--samples", samples])
                        }
                        _ => {
                            if materialise(dir.path(), &attack).is_none() {
                                continue;
                            }
                            run_limited(
                                dir.path(),
                                &["render", ATTACKED, "--cycles", "2", "-o", "out.wav", "--samples", samples],
                            )
                        }
                    };
                    let file = if cmd == "query" { "<expr>" } else { ATTACKED };
                    let verdict = match result {
                        Err(e) => Some(e),
                        Ok((code, text)) => {
                            let line = text.lines().find_map(|l| located_line(l, file));
                            match attack.cli.unwrap_or(attack.expect) {
                                Expect::Located if code != 1 || line.is_none() => {
                                    Some(format!("exit {code} without a located error: {:?}", trunc(&text)))
                                }
                                Expect::FileMessage if !text.contains(file) => {
                                    Some(format!("exit {code} without a message naming the file: {:?}", trunc(&text)))
                                }
                                _ => match (attack.line, line) {
                                    (Some(want), Some(got)) if want != got => {
                                        Some(format!("the error names line {got}, not {want}"))
                                    }
                                    _ => None,
                                },
                            }
                        }
                    };
                    if let Some(v) = verdict {
                        failures.lock().unwrap().push(format!("{}: {cmd}: {v}", attack.name));
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let mut f = failures.lock().unwrap().clone();
    f.sort();
    f
}

fn trunc(s: &str) -> String {
    s.chars().take(200).collect()
}

fn assert_none(cmd: &str, failures: Vec<String>) {
    assert!(failures.is_empty(), "{} inputs fail `{cmd}`:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn query_survives_every_input() {
    assert_none("query", for_every_input("query"));
}

#[test]
fn check_survives_every_input() {
    assert_none("check", for_every_input("check"));
}

#[test]
fn render_survives_every_input() {
    assert_none("render", for_every_input("render"));
}

#[test]
fn located_lines_are_recognised() {
    assert_eq!(located_line("attacked.rhai:70000:12: Syntax error", ATTACKED), Some(70000));
    assert_eq!(located_line("/tmp/x/attacked.rhai:3:1: boom (the last good version keeps playing)", ATTACKED), Some(3));
    assert_eq!(located_line("attacked.rhai: cannot read", ATTACKED), None);
    assert_eq!(located_line("reloaded attacked.rhai: compiled", ATTACKED), None);
    assert!(file_message("attacked.rhai: cannot read: Is a directory", ATTACKED));
    assert!(!file_message("reloaded attacked.rhai: compiled and checked in 1 ms", ATTACKED));
}
