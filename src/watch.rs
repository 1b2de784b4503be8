//! Watching patch files: notify on each file's folder (editors save by rename or by
//! delete and re-create, which a watch on the file itself would lose), taking only
//! complete saves, and handing on each saved text whole, or a [`Problem`] when what is
//! on disk is not a script.
//!
//! When a save is complete:
//! - a file renamed onto the watched one (vim, VS Code, `sed -i`) is complete at once;
//! - a file written in place (nano, Emacs, `echo ... > file`) is complete when its writer
//!   closes it, never while it is being written: the shell's `> file` truncates first and
//!   may write much later;
//! - where no close is seen (a writer that keeps the file open, a platform without close
//!   events), the file is read after [`SETTLE`] of quiet;
//! - a deleted file is a problem only if it is still missing [`SETTLE`] later (editors
//!   delete and re-create).
//!
//! An empty file, a binary or non-UTF-8 one, one over [`MAX_BYTES`], a folder or an
//! unreadable file is reported once as a [`Problem`] (again only after a good read in
//! between) and is never handed on as a text: the last good version keeps playing. A text
//! identical to the last one handed on is not handed on again.
//!
//! The watcher's thread never panics and never stops before the [`FileWatcher`] is
//! dropped: a panic in the callback (which compiles the script) is caught and reported as
//! a problem.

use std::fmt;
use std::io::Read;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use notify::event::{AccessKind, AccessMode, CreateKind, ModifyKind, RenameMode};
use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};

/// How long a file written without a close being seen, or deleted, must stay quiet
/// before it is read (or reported missing).
pub const SETTLE: Duration = Duration::from_secs(2);

/// How long a problem seen right after a completed save is given to go away (a writer
/// that truncates, closes and reopens) before it is reported.
pub const CONFIRM: Duration = Duration::from_millis(100);

/// The largest script read, in bytes (1 MiB).
pub const MAX_BYTES: u64 = 1 << 20;

/// One saved version of a watched file.
#[derive(Clone, Debug)]
pub struct Saved {
    /// Index of the file in the list given to [`watch`].
    pub file: usize,
    /// Its whole text.
    pub text: String,
    /// When the first change of this save was seen.
    pub at: Instant,
}

/// What is wrong with a watched file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProblemKind {
    /// Empty or only whitespace.
    Empty,
    /// Reading it failed (permission denied, ...): the reason.
    Unreadable(String),
    /// Not UTF-8 text.
    NotUtf8,
    /// NUL bytes or mostly control characters.
    Binary,
    /// A folder is where the file was.
    Directory,
    /// Something else that is not a regular file (a pipe, a device).
    NotAFile,
    /// Deleted and not re-created within [`SETTLE`].
    Vanished,
    /// Larger than [`MAX_BYTES`]: its size in bytes.
    TooLarge(u64),
    /// Loading a save panicked (a bug in rhaithm): the panic's message.
    Panicked(String),
}

impl fmt::Display for ProblemKind {
    /// What is wrong, as the predicate of a sentence whose subject is the file.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProblemKind::Empty => write!(f, "is empty"),
            ProblemKind::Unreadable(why) => write!(f, "cannot be read ({why})"),
            ProblemKind::NotUtf8 => write!(f, "is not UTF-8 text"),
            ProblemKind::Binary => write!(f, "is binary (NUL bytes or control characters), not a script"),
            ProblemKind::Directory => write!(f, "is a folder, not a file"),
            ProblemKind::NotAFile => write!(f, "is not a regular file"),
            ProblemKind::Vanished => write!(f, "was deleted"),
            ProblemKind::TooLarge(n) => write!(f, "is too large ({n} bytes; a script may have at most 1 MiB)"),
            ProblemKind::Panicked(msg) => write!(f, "crashed rhaithm while loading ({msg}; please report this bug)"),
        }
    }
}

impl ProblemKind {
    /// Advice shown after the problem, if any.
    pub fn hint(&self) -> &'static str {
        match self {
            ProblemKind::Empty => " (to silence a file on purpose, save `hush()`)",
            _ => "",
        }
    }
}

/// A watched file that holds no script: reported once, never handed on as a text.
#[derive(Clone, Debug)]
pub struct Problem {
    /// Index of the file in the list given to [`watch`].
    pub file: usize,
    /// The file.
    pub path: PathBuf,
    /// What is wrong.
    pub kind: ProblemKind,
    /// When the first change that led to it was seen.
    pub at: Instant,
}

impl Problem {
    /// The problem without the file's name, for a message that names it already:
    /// "the file is empty (to silence ...)".
    pub fn detail(&self) -> String {
        format!("the file {}{}", self.kind, self.kind.hint())
    }
}

impl fmt::Display for Problem {
    /// "FILE is empty; the last good version keeps playing (to silence ...)".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}; the last good version keeps playing{}", self.path.display(), self.kind, self.kind.hint())
    }
}

/// What the watcher hands on.
#[derive(Clone, Debug)]
pub enum WatchEvent {
    /// A new complete text.
    Saved(Saved),
    /// A file that holds no script.
    Problem(Problem),
}

/// Watches files until dropped.
pub struct FileWatcher {
    watcher: Option<RecommendedWatcher>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for FileWatcher {
    fn drop(&mut self) {
        // Dropping the watcher closes the event channel, which ends the thread.
        self.watcher.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn absolute(path: &Path) -> Result<PathBuf> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let dir = dir.canonicalize().with_context(|| format!("finding the folder of {}", path.display()))?;
    let name = path.file_name().with_context(|| format!("{} is not a file", path.display()))?;
    Ok(dir.join(name))
}

/// What one event means for one path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Change {
    /// A save is complete (closed after writing, renamed onto): read now.
    Complete,
    /// Being written: wait for the close, or [`SETTLE`] of quiet.
    Writing,
    /// Deleted or renamed away: missing for good after [`SETTLE`].
    Gone,
    /// Its attributes changed (permissions): read now unless being written.
    Check,
}

/// The paths an event touches, each with what it means.
fn classify(event: &notify::Event) -> Vec<(&Path, Change)> {
    let all = |c: Change| event.paths.iter().map(|p| (p.as_path(), c)).collect();
    match &event.kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => all(Change::Complete),
        EventKind::Access(_) => Vec::new(),
        EventKind::Modify(ModifyKind::Name(RenameMode::To)) => all(Change::Complete),
        EventKind::Modify(ModifyKind::Name(RenameMode::From)) => all(Change::Gone),
        EventKind::Modify(ModifyKind::Name(RenameMode::Both)) => {
            // [from, to]
            let mut v: Vec<(&Path, Change)> = Vec::new();
            if let Some(from) = event.paths.first() {
                v.push((from, Change::Gone));
            }
            if let Some(to) = event.paths.get(1) {
                v.push((to, Change::Complete));
            }
            v
        }
        // A rename we cannot place: look at the file now.
        EventKind::Modify(ModifyKind::Name(_)) => all(Change::Complete),
        EventKind::Modify(ModifyKind::Metadata(_)) => all(Change::Check),
        EventKind::Remove(_) => all(Change::Gone),
        // A folder cannot be written to: report it at once.
        EventKind::Create(CreateKind::Folder) => all(Change::Complete),
        EventKind::Modify(_) | EventKind::Create(_) | EventKind::Any | EventKind::Other => all(Change::Writing),
    }
}

/// What reading a file found.
enum Found {
    Text(String),
    Missing,
    Trouble(ProblemKind),
}

fn unreadable(e: &std::io::Error) -> ProblemKind {
    match e.kind() {
        std::io::ErrorKind::PermissionDenied => ProblemKind::Unreadable("permission denied".into()),
        std::io::ErrorKind::IsADirectory => ProblemKind::Directory,
        _ => ProblemKind::Unreadable(e.to_string()),
    }
}

/// Reads a script, or says why it holds none.
fn read(path: &Path) -> Found {
    // Look before opening: opening a pipe would wait for a writer.
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Found::Missing,
        Err(e) => return Found::Trouble(unreadable(&e)),
    };
    if meta.is_dir() {
        return Found::Trouble(ProblemKind::Directory);
    }
    if !meta.is_file() {
        return Found::Trouble(ProblemKind::NotAFile);
    }
    if meta.len() > MAX_BYTES {
        return Found::Trouble(ProblemKind::TooLarge(meta.len()));
    }
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Found::Missing,
        Err(e) => return Found::Trouble(unreadable(&e)),
    };
    let mut bytes = Vec::new();
    // Bounded even if the file grows while it is read.
    if let Err(e) = file.take(MAX_BYTES + 1).read_to_end(&mut bytes) {
        return Found::Trouble(unreadable(&e));
    }
    if bytes.len() as u64 > MAX_BYTES {
        return Found::Trouble(ProblemKind::TooLarge(bytes.len() as u64));
    }
    match script_text(bytes) {
        Ok(text) => Found::Text(text),
        Err(kind) => Found::Trouble(kind),
    }
}

/// The text of a script file's bytes, or why they are not one.
fn script_text(bytes: Vec<u8>) -> std::result::Result<String, ProblemKind> {
    if bytes.contains(&0) {
        return Err(ProblemKind::Binary);
    }
    let text = String::from_utf8(bytes).map_err(|_| ProblemKind::NotUtf8)?;
    if text.trim().is_empty() {
        return Err(ProblemKind::Empty);
    }
    let chars = text.chars().count();
    let control = text.chars().filter(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t' | '\x0c')).count();
    // More than one character in eight: not something anyone typed.
    if control * 8 > chars {
        return Err(ProblemKind::Binary);
    }
    Ok(text)
}

/// How a pending read came about, which decides what a missing file or a problem means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// Right after a completed save: a problem is looked at again after [`CONFIRM`].
    Quick,
    /// Looked at again: a problem is reported.
    Confirm,
    /// After [`SETTLE`] of quiet: a problem, or a file still missing, is reported.
    Settled,
}

#[derive(Clone, Copy, Debug)]
struct Pending {
    /// When the first change of this save was seen.
    began: Instant,
    /// When to read.
    due: Instant,
    stage: Stage,
}

/// One watched file.
struct File {
    path: PathBuf,
    /// The last text handed on (`None` after a problem, so that the next good text is
    /// handed on even if it is the same).
    last: Option<String>,
    /// The problem last reported, until a good read.
    reported: Option<ProblemKind>,
    pending: Option<Pending>,
}

struct State<F> {
    files: Vec<File>,
    on_event: F,
}

/// Calls the callback; a panic in it is caught and returned as its message.
fn call<F: FnMut(WatchEvent)>(on_event: &mut F, event: WatchEvent) -> Option<String> {
    catch_unwind(AssertUnwindSafe(|| on_event(event)))
        .err()
        .map(|payload| crate::pattern::budget::panic_message(&*payload))
}

impl<F: FnMut(WatchEvent)> State<F> {
    fn change(&mut self, file: usize, change: Change, at: Instant) {
        let Some(f) = self.files.get_mut(file) else { return };
        let began = f.pending.map_or(at, |p| p.began);
        match change {
            Change::Complete => self.look(file, began, Stage::Quick, at),
            Change::Check => {
                // Being written (or gone): the close (or the quiet) decides.
                if f.pending.is_none_or(|p| p.stage != Stage::Settled) {
                    self.look(file, began, Stage::Quick, at);
                }
            }
            Change::Writing | Change::Gone => {
                f.pending = Some(Pending { began, due: at.checked_add(SETTLE).unwrap_or(at), stage: Stage::Settled });
            }
        }
    }

    /// Reads the file and hands on what it holds, or decides to look again later.
    fn look(&mut self, file: usize, began: Instant, stage: Stage, now: Instant) {
        let Some(f) = self.files.get_mut(file) else { return };
        f.pending = None;
        let kind = match read(&f.path) {
            Found::Text(text) => {
                f.reported = None;
                if f.last.as_deref() == Some(text.as_str()) {
                    return;
                }
                f.last = Some(text.clone());
                if let Some(msg) = call(&mut self.on_event, WatchEvent::Saved(Saved { file, text, at: began })) {
                    self.report(file, ProblemKind::Panicked(msg), began);
                }
                return;
            }
            Found::Missing if stage == Stage::Settled => ProblemKind::Vanished,
            Found::Missing => {
                // Being replaced, or deleted: give it time to come back.
                let due = now.checked_add(SETTLE).unwrap_or(now);
                f.pending = Some(Pending { began, due, stage: Stage::Settled });
                return;
            }
            Found::Trouble(_) if stage == Stage::Quick => {
                let due = now.checked_add(CONFIRM).unwrap_or(now);
                f.pending = Some(Pending { began, due, stage: Stage::Confirm });
                return;
            }
            Found::Trouble(kind) => kind,
        };
        self.report(file, kind, began);
    }

    fn report(&mut self, file: usize, kind: ProblemKind, at: Instant) {
        let Some(f) = self.files.get_mut(file) else { return };
        f.last = None;
        if f.reported.as_ref() == Some(&kind) {
            return;
        }
        f.reported = Some(kind.clone());
        let problem = Problem { file, path: f.path.clone(), kind, at };
        // A callback that panics on a problem too has nothing left to tell.
        let _ = call(&mut self.on_event, WatchEvent::Problem(problem));
    }

    /// Reads the files whose time has come.
    fn due(&mut self, now: Instant) {
        let due: Vec<(usize, Pending)> = (self.files.iter().enumerate())
            .filter_map(|(i, f)| f.pending.filter(|p| p.due <= now).map(|p| (i, p)))
            .collect();
        for (file, p) in due {
            self.look(file, p.began, p.stage, now);
        }
    }

    fn next_due(&self) -> Option<Instant> {
        self.files.iter().filter_map(|f| f.pending.map(|p| p.due)).min()
    }
}

/// Watches `files`, calling `on_event` (on the watcher's own thread) with each new
/// complete text and each problem.
pub fn watch(files: &[PathBuf], on_event: impl FnMut(WatchEvent) + Send + 'static) -> Result<FileWatcher> {
    let targets: Vec<PathBuf> = files.iter().map(|f| absolute(f)).collect::<Result<_>>()?;
    let (tx, rx) = mpsc::channel::<(notify::Event, Instant)>();
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        if let Ok(event) = res {
            let _ = tx.send((event, Instant::now()));
        }
    })
    .context("starting the file watcher")?;
    let mut dirs: Vec<&Path> = targets.iter().filter_map(|t| t.parent()).collect();
    dirs.sort();
    dirs.dedup();
    for dir in dirs {
        watcher.watch(dir, RecursiveMode::NonRecursive).with_context(|| format!("watching {}", dir.display()))?;
    }
    let files = (targets.iter())
        .map(|t| {
            let last = match read(t) {
                Found::Text(text) => Some(text),
                _ => None,
            };
            File { path: t.clone(), last, reported: None, pending: None }
        })
        .collect();
    let mut state = State { files, on_event };
    let thread = std::thread::Builder::new().name("rhaithm-watch".into()).spawn(move || {
        loop {
            let received = match state.next_due() {
                Some(due) => rx.recv_timeout(due.saturating_duration_since(Instant::now())),
                None => rx.recv().map_err(|_| mpsc::RecvTimeoutError::Disconnected),
            };
            match received {
                Ok((event, at)) => {
                    if event.need_rescan() {
                        // Events were lost: look at every file.
                        for file in 0..state.files.len() {
                            state.change(file, Change::Check, at);
                        }
                    }
                    for (path, change) in classify(&event) {
                        if let Some(file) = targets.iter().position(|t| t == path) {
                            state.change(file, change, at);
                        }
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            }
            state.due(Instant::now());
        }
    })?;
    Ok(FileWatcher { watcher: Some(watcher), thread: Some(thread) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_scripts_from_other_bytes() {
        assert_eq!(script_text(b"d1(s(\"bd\"))\n".to_vec()), Ok("d1(s(\"bd\"))\n".to_string()));
        assert_eq!(script_text(b"".to_vec()), Err(ProblemKind::Empty));
        assert_eq!(script_text(b" \n\t\r\n".to_vec()), Err(ProblemKind::Empty));
        assert_eq!(script_text("\u{a0}\u{2003}\n".into()), Err(ProblemKind::Empty));
        assert_eq!(script_text(b"caf\xe9".to_vec()), Err(ProblemKind::NotUtf8));
        assert_eq!(script_text(b"d1(\0)".to_vec()), Err(ProblemKind::Binary));
        assert_eq!(script_text(b"\x01\x02\x03\x04x".to_vec()), Err(ProblemKind::Binary));
        // A stray escape in a long script is still a script.
        let mut s = "// \x1b[1mbold\x1b[0m\n".to_string();
        s.push_str(&"d1(s(\"bd*4\"));\n".repeat(4));
        assert!(script_text(s.into_bytes()).is_ok());
    }

    #[test]
    fn problems_name_the_file_and_say_what_plays() {
        let p = Problem { file: 0, path: "p.rhai".into(), kind: ProblemKind::Empty, at: Instant::now() };
        assert_eq!(
            p.to_string(),
            "p.rhai is empty; the last good version keeps playing (to silence a file on purpose, save `hush()`)"
        );
        assert_eq!(p.detail(), "the file is empty (to silence a file on purpose, save `hush()`)");
    }
}
