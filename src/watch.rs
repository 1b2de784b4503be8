//! Watching patch files: notify on each file's folder (editors save by rename or by
//! delete and re-create, which a watch on the file itself would lose), reacting to the
//! completed write, and handing on each saved text whole.
//!
//! A save is complete when the file is closed after writing, or when a file is renamed
//! onto it. Other changes (a plain write with no close seen, a re-created file) are
//! read once the file has been quiet for [`QUIET`]. A text identical to the last one
//! handed on is not handed on again.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use notify::event::{AccessKind, AccessMode, ModifyKind, RenameMode};
use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};

/// How long a file must be quiet before an incomplete-looking change is read.
pub const QUIET: Duration = Duration::from_millis(10);

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

enum Change {
    /// The write is complete: read now.
    Complete,
    /// Something changed: read when quiet.
    Touched,
}

fn classify(kind: &EventKind) -> Option<Change> {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => Some(Change::Complete),
        EventKind::Modify(ModifyKind::Name(RenameMode::To | RenameMode::Both)) => Some(Change::Complete),
        EventKind::Modify(ModifyKind::Name(_)) | EventKind::Remove(_) => None,
        EventKind::Modify(_) | EventKind::Create(_) | EventKind::Any | EventKind::Other => Some(Change::Touched),
        EventKind::Access(_) => None,
    }
}

/// Watches `files`, calling `on_save` (on the watcher's own thread) with each new text.
pub fn watch(files: &[PathBuf], mut on_save: impl FnMut(Saved) + Send + 'static) -> Result<FileWatcher> {
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
    let mut last: Vec<Option<String>> = targets.iter().map(|t| std::fs::read_to_string(t).ok()).collect();
    let thread = std::thread::Builder::new().name("rhaithm-watch".into()).spawn(move || {
        // Per file: when its current burst of changes began, and when to read it if no
        // completing event comes.
        let mut waiting: HashMap<usize, (Instant, Instant)> = HashMap::new();
        loop {
            let timeout = waiting.values().map(|w| w.1).min().map(|d| d.saturating_duration_since(Instant::now()));
            let received = match timeout {
                Some(t) => rx.recv_timeout(t),
                None => rx.recv().map_err(|_| mpsc::RecvTimeoutError::Disconnected),
            };
            let mut due = Vec::new();
            match received {
                Ok((event, at)) => {
                    let Some(change) = classify(&event.kind) else { continue };
                    // For a rename the destination is the last path.
                    let Some(path) = event.paths.last() else { continue };
                    let Some(file) = targets.iter().position(|t| t == path) else { continue };
                    let began = waiting.get(&file).map_or(at, |w| w.0);
                    match change {
                        Change::Complete => {
                            waiting.remove(&file);
                            due.push((file, began));
                        }
                        Change::Touched => {
                            waiting.insert(file, (began, at + QUIET));
                        }
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    let now = Instant::now();
                    waiting.retain(|&file, &mut (began, deadline)| {
                        if deadline <= now {
                            due.push((file, began));
                        }
                        deadline > now
                    });
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            }
            for (file, at) in due {
                // A file in the middle of being replaced may be missing for a moment;
                // the event that completes the replacement reads it.
                let Ok(text) = std::fs::read_to_string(&targets[file]) else { continue };
                if last[file].as_deref() == Some(text.as_str()) {
                    continue;
                }
                last[file] = Some(text.clone());
                on_save(Saved { file, text, at });
            }
        }
    })?;
    Ok(FileWatcher { watcher: Some(watcher), thread: Some(thread) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn next(rx: &mpsc::Receiver<Saved>) -> Option<Saved> {
        rx.recv_timeout(Duration::from_secs(3)).ok()
    }

    #[test]
    fn sees_in_place_writes_renames_and_recreations() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.rhai");
        std::fs::write(&path, "one").unwrap();
        let (tx, rx) = mpsc::channel();
        let _w = watch(std::slice::from_ref(&path), move |s| tx.send(s).unwrap()).unwrap();

        std::fs::write(&path, "two").unwrap();
        assert_eq!(next(&rx).unwrap().text, "two");

        let tmp = dir.path().join(".p.rhai.swp");
        std::fs::write(&tmp, "three").unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        assert_eq!(next(&rx).unwrap().text, "three");

        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, "four").unwrap();
        assert_eq!(next(&rx).unwrap().text, "four");

        // The same text again is not a new version; other files are ignored.
        std::fs::write(&path, "four").unwrap();
        std::fs::write(dir.path().join("other.rhai"), "x").unwrap();
        assert!(rx.recv_timeout(Duration::from_millis(300)).is_err());
    }
}
