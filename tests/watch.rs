//! The file watcher with real files and real notify: only complete saves go live, and
//! whatever is not a script is reported once instead.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use rhaithm::watch::{FileWatcher, ProblemKind, SETTLE, WatchEvent, watch};

const GOOD: &str = "d1(s(\"bd*4\"));\n";

struct Watched {
    dir: tempfile::TempDir,
    path: PathBuf,
    rx: Receiver<WatchEvent>,
    _watcher: FileWatcher,
}

/// A folder with `p.rhai` holding `initial`, watched.
fn start(initial: &str) -> Watched {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.rhai");
    std::fs::write(&path, initial).unwrap();
    let (tx, rx) = channel();
    let watcher = watch(std::slice::from_ref(&path), move |e| {
        let _ = tx.send(e);
    })
    .unwrap();
    Watched { dir, path, rx, _watcher: watcher }
}

impl Watched {
    fn next(&self, within: Duration) -> Option<WatchEvent> {
        self.rx.recv_timeout(within).ok()
    }

    /// The next event, which must be a saved text.
    fn saved(&self, within: Duration) -> String {
        match self.next(within) {
            Some(WatchEvent::Saved(s)) => s.text,
            other => panic!("expected a saved text within {within:?}, got {other:?}"),
        }
    }

    /// The next event, which must be a problem; checks its message too.
    fn problem(&self, within: Duration) -> ProblemKind {
        match self.next(within) {
            Some(WatchEvent::Problem(p)) => {
                let message = p.to_string();
                assert!(message.contains("p.rhai"), "{message}");
                assert!(message.contains("the last good version keeps playing"), "{message}");
                p.kind
            }
            other => panic!("expected a problem within {within:?}, got {other:?}"),
        }
    }

    fn nothing_for(&self, d: Duration) {
        if let Some(e) = self.next(d) {
            panic!("expected nothing for {d:?}, got {e:?}");
        }
    }

    /// Writes by a temporary file renamed onto the watched one (vim, VS Code).
    fn save_by_rename(&self, bytes: impl AsRef<[u8]>) {
        let tmp = self.dir.path().join(".p.rhai.tmp");
        std::fs::write(&tmp, bytes).unwrap();
        std::fs::rename(&tmp, &self.path).unwrap();
    }
}

/// Well under [`SETTLE`]: an event this soon came from the close or the rename, not
/// from the quiet fallback.
const SOON: Duration = Duration::from_millis(1500);
const LATE: Duration = Duration::from_secs(6);

fn sh(script: &str, dir: &Path) -> std::process::Child {
    std::process::Command::new("sh").arg("-c").arg(script).current_dir(dir).spawn().unwrap()
}

#[test]
fn a_save_truncated_then_written_later_waits_for_the_close() {
    let w = start("d1(s(\"hh\"));\n");
    std::fs::write(w.dir.path().join("good.txt"), GOOD).unwrap();
    let began = Instant::now();
    let mut child = sh("{ sleep 1; cat good.txt; } > p.rhai", w.dir.path());
    // The shell truncates at once; the text comes a second later.
    w.nothing_for(Duration::from_millis(800));
    assert_eq!(w.saved(LATE), GOOD);
    assert!(began.elapsed() >= Duration::from_millis(900));
    child.wait().unwrap();
    w.nothing_for(Duration::from_millis(300));
}

#[test]
fn a_save_written_in_two_halves_is_taken_whole() {
    let w = start("d1(s(\"hh\"));\n");
    let mut child = sh("{ printf 'd1(s(\"bd'; sleep 1; printf '*4\"));\\n'; } > p.rhai", w.dir.path());
    w.nothing_for(Duration::from_millis(800));
    assert_eq!(w.saved(LATE), GOOD);
    child.wait().unwrap();
}

#[test]
fn in_place_and_rename_saves_are_immediate() {
    let w = start("d1(s(\"hh\"));\n");
    std::fs::write(&w.path, GOOD).unwrap();
    assert_eq!(w.saved(SOON), GOOD);
    w.save_by_rename("d1(s(\"sd\"));\n");
    assert_eq!(w.saved(SOON), "d1(s(\"sd\"));\n");
    // echo x > file
    let mut child = sh("echo 'd1(s(\"cp\"));' > p.rhai", w.dir.path());
    assert_eq!(w.saved(SOON), "d1(s(\"cp\"));\n");
    child.wait().unwrap();
    // The same text again is not a new version; other files are ignored.
    std::fs::write(&w.path, "d1(s(\"cp\"));\n").unwrap();
    std::fs::write(w.dir.path().join("other.rhai"), "").unwrap();
    w.nothing_for(Duration::from_millis(300));
}

#[test]
fn an_empty_file_is_reported_once_and_never_played() {
    let w = start(GOOD);
    std::fs::write(&w.path, "").unwrap();
    assert_eq!(w.problem(SOON), ProblemKind::Empty);
    // Still empty (only whitespace now): not reported again.
    std::fs::write(&w.path, "  \n\t\n").unwrap();
    w.save_by_rename("\n\n");
    w.nothing_for(Duration::from_millis(500));
    // A good save after it goes live, and the next problem is reported again.
    std::fs::write(&w.path, "d1(s(\"sd\"));\n").unwrap();
    assert_eq!(w.saved(SOON), "d1(s(\"sd\"));\n");
    w.save_by_rename(" \n");
    assert_eq!(w.problem(SOON), ProblemKind::Empty);
    std::fs::write(&w.path, GOOD).unwrap();
    assert_eq!(w.saved(SOON), GOOD);
}

#[test]
fn the_message_for_an_empty_file_tells_how_to_silence_it() {
    let w = start(GOOD);
    std::fs::write(&w.path, "\n").unwrap();
    match w.next(SOON) {
        Some(WatchEvent::Problem(p)) => {
            assert!(p.to_string().ends_with(
                "p.rhai is empty; the last good version keeps playing (to silence a file on purpose, save `hush()`)"
            ));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_file_that_is_not_utf8_is_reported() {
    let w = start(GOOD);
    std::fs::write(&w.path, b"d1(s(\"caf\xe9\"));\n").unwrap();
    assert_eq!(w.problem(SOON), ProblemKind::NotUtf8);
    // A different problem is reported at once.
    w.save_by_rename(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR");
    assert_eq!(w.problem(SOON), ProblemKind::Binary);
}

#[test]
fn a_binary_file_is_reported_and_the_next_good_save_plays() {
    let w = start(GOOD);
    w.save_by_rename(b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x02\0>\0");
    assert_eq!(w.problem(SOON), ProblemKind::Binary);
    std::fs::write(&w.path, b"\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0e\x0f\x10").unwrap();
    w.nothing_for(Duration::from_millis(400));
    // The good text handed on after a problem even though it is the last good one.
    std::fs::write(&w.path, GOOD).unwrap();
    assert_eq!(w.saved(SOON), GOOD);
}

#[test]
fn a_file_too_large_is_reported() {
    let w = start(GOOD);
    w.save_by_rename(format!("// {}\n", "x".repeat(1 << 20)));
    assert!(matches!(w.problem(SOON), ProblemKind::TooLarge(n) if n > 1 << 20));
}

#[cfg(unix)]
#[test]
fn an_unreadable_file_is_reported() {
    use std::os::unix::fs::PermissionsExt;
    let w = start(GOOD);
    std::fs::set_permissions(&w.path, std::fs::Permissions::from_mode(0o000)).unwrap();
    if std::fs::read(&w.path).is_ok() {
        eprintln!("skipped: this user reads files whatever their mode (root)");
        return;
    }
    match w.problem(SOON) {
        ProblemKind::Unreadable(why) => assert_eq!(why, "permission denied"),
        other => panic!("{other:?}"),
    }
    // Readable again: the text is handed on again, so the error can be cleared.
    std::fs::set_permissions(&w.path, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert_eq!(w.saved(SOON), GOOD);
}

#[test]
fn a_folder_in_place_of_the_file_is_reported() {
    let w = start(GOOD);
    std::fs::remove_file(&w.path).unwrap();
    std::fs::create_dir(&w.path).unwrap();
    assert_eq!(w.problem(SOON), ProblemKind::Directory);
    std::fs::remove_dir(&w.path).unwrap();
    std::fs::write(&w.path, GOOD).unwrap();
    assert_eq!(w.saved(SOON), GOOD);
}

#[test]
fn a_deleted_file_is_reported_after_the_settling_time() {
    let w = start(GOOD);
    let began = Instant::now();
    std::fs::remove_file(&w.path).unwrap();
    assert_eq!(w.problem(SETTLE + LATE), ProblemKind::Vanished);
    assert!(began.elapsed() >= SETTLE - Duration::from_millis(100));
    w.nothing_for(Duration::from_millis(300));
}

#[test]
fn a_file_deleted_and_recreated_is_just_a_save() {
    let w = start(GOOD);
    std::fs::remove_file(&w.path).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    std::fs::write(&w.path, "d1(s(\"sd\"));\n").unwrap();
    assert_eq!(w.saved(SOON), "d1(s(\"sd\"));\n");
    // Also when the file is moved away first (a backup) and a new one written.
    std::fs::rename(&w.path, w.dir.path().join("p.rhai~")).unwrap();
    std::fs::write(&w.path, GOOD).unwrap();
    assert_eq!(w.saved(SOON), GOOD);
    w.nothing_for(SETTLE + Duration::from_millis(500));
}

#[test]
fn a_panic_in_the_callback_does_not_stop_the_watcher() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.rhai");
    std::fs::write(&path, GOOD).unwrap();
    let (tx, rx) = channel();
    let _w = watch(std::slice::from_ref(&path), move |e| {
        if let WatchEvent::Saved(s) = &e
            && s.text.contains("boom")
        {
            panic!("compiler bug");
        }
        let _ = tx.send(e);
    })
    .unwrap();
    std::fs::write(&path, "boom").unwrap();
    match rx.recv_timeout(SOON) {
        Ok(WatchEvent::Problem(p)) => {
            assert!(matches!(&p.kind, ProblemKind::Panicked(m) if m == "compiler bug"), "{p}");
        }
        other => panic!("{other:?}"),
    }
    std::fs::write(&path, GOOD).unwrap();
    assert!(matches!(rx.recv_timeout(SOON), Ok(WatchEvent::Saved(s)) if s.text == GOOD));
}
