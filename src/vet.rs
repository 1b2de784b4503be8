//! Vetting an untrusted version of a patch before it may go live.
//!
//! A saved text is first compiled and test-played in a *separate process* (the same
//! binary, `rhaithm __vet`), under an address-space limit, a CPU limit and a wall-time
//! watchdog. Whatever the text does there (exhausts memory, overflows a stack, loops,
//! hits a bug that aborts), only that process dies: the player learns that the version
//! is bad, and why, and keeps playing the last good one. Only a version the checker
//! passed is compiled in the player's own process, where the same budgets apply again
//! by construction (see [`crate::pattern::budget`]) and any panic is caught.
//!
//! The checker answers on one line of its standard output: `ok`, or
//! `error<TAB>line<TAB>column<TAB>message`.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::engine::check::vet;
use crate::limits::Limits;
use crate::patch::Patch;
use crate::pattern::Rational;
use crate::pattern::budget::catch_quiet;
use crate::script::ScriptError;

/// Cycles of a new version played in test before it goes live.
pub const VET_CYCLES: i64 = 8;

/// Stack of threads that compile scripts and query patterns: deep enough for every
/// nesting the budgets allow, with a wide margin (only touched pages cost memory).
pub const BIG_STACK: usize = 256 << 20;

/// Name of the hidden subcommand the checker process runs.
pub const SUBCOMMAND: &str = "__vet";

fn error(path: &Path, message: String) -> ScriptError {
    ScriptError { path: Some(path.to_path_buf()), line: 0, column: 0, message }
}

/// Compiles and test-plays `source` in this process: budgets by construction, panics
/// caught. Returns the compiled patch if it passes.
pub fn compile_vetted(source: &str, path: &Path, from: Rational, limits: &Limits) -> Result<Patch, ScriptError> {
    let outcome = catch_quiet(|| {
        let patch = Patch::compile(source, Some(path))?;
        vet(&patch, from, VET_CYCLES, limits)?;
        crate::engine::check::vet_instruments(&patch, Some(path))?;
        Ok(patch)
    });
    outcome.unwrap_or_else(|why| Err(error(path, format!("{why} (while checking this version)"))))
}

/// What the checker process prints for a verdict.
fn answer(verdict: &Result<Patch, ScriptError>) -> String {
    match verdict {
        Ok(_) => "ok\n".to_string(),
        Err(e) => {
            let message: String = e.message.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
            format!("error\t{}\t{}\t{message}\n", e.line, e.column)
        }
    }
}

/// Limits the calling process (the checker, first thing): address space, CPU seconds, no
/// core dumps, and death with its parent.
pub fn confine(memory: u64, cpu_seconds: u64) {
    let limit = |resource, value: u64| {
        let r = libc::rlimit { rlim_cur: value as libc::rlim_t, rlim_max: value as libc::rlim_t };
        // SAFETY: setrlimit reads a valid rlimit struct.
        unsafe { libc::setrlimit(resource, &r) };
    };
    limit(libc::RLIMIT_AS, memory);
    limit(libc::RLIMIT_CPU, cpu_seconds);
    limit(libc::RLIMIT_CORE, 0);
    // SAFETY: plain prctl/getppid/_exit calls.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        // The parent may have gone before the line above.
        if libc::getppid() == 1 {
            libc::_exit(1);
        }
    }
}

/// The checker process's side: reads the source on standard input, vets it, answers on
/// standard output. Always exits 0 when it could answer.
pub fn child_main(path: &Path, from: Rational, limits: &Limits) -> std::io::Result<()> {
    let mut bytes = Vec::new();
    std::io::stdin().take(crate::limits::MAX_SOURCE_BYTES as u64 + 1).read_to_end(&mut bytes)?;
    let verdict = match String::from_utf8(bytes) {
        Ok(source) => compile_vetted(&source, path, from, limits),
        Err(_) => Err(error(path, "not UTF-8 text".into())),
    };
    let mut out = std::io::stdout().lock();
    out.write_all(answer(&verdict).as_bytes())?;
    out.flush()
}

fn parse_answer(path: &Path, line: &str) -> Option<Result<(), ScriptError>> {
    let line = line.trim_end_matches('\n');
    if line == "ok" {
        return Some(Ok(()));
    }
    let mut parts = line.splitn(4, '\t');
    if parts.next()? != "error" {
        return None;
    }
    let l = parts.next()?.parse().ok()?;
    let c = parts.next()?.parse().ok()?;
    let message = parts.next()?.to_string();
    Some(Err(ScriptError { path: Some(path.to_path_buf()), line: l, column: c, message }))
}

/// Why a checker process ended without answering.
fn describe_exit(status: std::process::ExitStatus, stderr: &str, limits: &Limits) -> String {
    use std::os::unix::process::ExitStatusExt;
    let overflow = stderr.contains("overflowed its stack");
    let memory = stderr.contains("memory allocation") || stderr.contains("capacity overflow");
    if overflow {
        return "this version overflowed the checker's stack (a recursion without end?)".to_string();
    }
    if memory {
        return format!(
            "this version used more than {} MiB of memory when checked (a pattern far too big?)",
            limits.vet_memory >> 20
        );
    }
    match status.signal() {
        Some(libc::SIGXCPU) => format!("checking this version took more than {} s of CPU", limits.vet_time.as_secs()),
        Some(sig) => format!("the checker crashed on this version (signal {sig}; out of memory or stack?)"),
        None => format!("the checker stopped without an answer ({status})"),
    }
}

/// Vets `source` in a checker process (`exe __vet`). `Ok` means it may be compiled here.
pub fn vet_in_process_of(
    exe: &Path,
    source: &str,
    path: &Path,
    from: Rational,
    limits: &Limits,
    abort: &AtomicBool,
) -> Result<(), ScriptError> {
    let mut cmd = Command::new(exe);
    cmd.arg(SUBCOMMAND)
        .arg(path)
        .arg("--from")
        .arg(from.to_string())
        .arg("--max-events")
        .arg(limits.max_events_per_cycle.to_string())
        .arg("--check-ms")
        .arg(limits.check_time.as_millis().to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // The child confines itself (see `confine`): no code runs between fork and exec
    // here, so the standard library spawns it without copying this process's memory
    // map, and the audio thread never takes copy-on-write faults for it.
    cmd.arg("--memory")
        .arg(limits.vet_memory.to_string())
        .arg("--cpu")
        .arg((limits.vet_time.as_secs() + 1).to_string());
    let mut child =
        cmd.spawn().map_err(|e| error(path, format!("cannot start the checker ({}): {e}", exe.display())))?;
    // Pipes are drained on their own threads so that a chatty child never blocks.
    let mut stdin = child.stdin.take();
    let text = source.to_string();
    let writer = std::thread::spawn(move || {
        if let Some(s) = stdin.as_mut() {
            let _ = s.write_all(text.as_bytes());
        }
    });
    let read_all = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(mut p) = pipe {
                let _ = p.by_ref().take(64 * 1024).read_to_string(&mut s);
            }
            s
        })
    };
    let out = read_all(child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let err = read_all(child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let deadline = Instant::now() + limits.vet_time;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() >= deadline || abort.load(Ordering::Relaxed) => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(2)),
            Err(e) => return Err(error(path, format!("waiting for the checker: {e}"))),
        }
    };
    let _ = writer.join();
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    let Some(status) = status else {
        return Err(error(
            path,
            format!("checking this version took longer than {} s (a loop without end?)", limits.vet_time.as_secs()),
        ));
    };
    match stdout.lines().next().and_then(|l| parse_answer(path, l)) {
        Some(verdict) => verdict,
        None => Err(error(path, describe_exit(status, &stderr, limits))),
    }
}

/// Where untrusted versions are checked first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Isolation {
    /// In a checker process started from this executable.
    Process(PathBuf),
    /// Only in this process (budgets and caught panics; an abort would end it). For
    /// library users that have no `rhaithm` executable at hand.
    #[default]
    InProcess,
}

impl Isolation {
    /// A checker process from the running executable.
    pub fn current_exe() -> Isolation {
        std::env::current_exe().map(Isolation::Process).unwrap_or(Isolation::InProcess)
    }
}

/// Vets `source` (in a checker process if asked) and compiles it here.
/// `abort` stops a check under way (the session is quitting).
pub fn compile_untrusted(
    isolation: &Isolation,
    source: &str,
    path: &Path,
    from: Rational,
    limits: &Limits,
    abort: &AtomicBool,
) -> Result<Patch, ScriptError> {
    if let Isolation::Process(exe) = isolation {
        vet_in_process_of(exe, source, path, from, limits, abort)?;
    }
    if abort.load(Ordering::Relaxed) {
        return Err(error(path, "not checked: rhaithm is stopping".into()));
    }
    compile_vetted(source, path, from, limits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_round_trip() {
        let p = Path::new("x.rhai");
        let e = ScriptError { path: Some(p.into()), line: 3, column: 7, message: "bad\tthing\nhere".into() };
        let line = answer(&Err(e));
        let back = parse_answer(p, &line).and_then(Result::err).map(|e| (e.line, e.column, e.message));
        assert_eq!(back, Some((3, 7, "bad thing here".to_string())));
        assert_eq!(parse_answer(p, "ok\n"), Some(Ok(())));
        assert_eq!(parse_answer(p, "garbage"), None);
    }
}
