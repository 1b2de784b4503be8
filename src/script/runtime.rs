//! What scripts and the patterns they build share: the engine (to call Rhai closures
//! when a pattern is queried), the source (to place errors), the time limit and the
//! errors raised inside closures.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Instant;

use rhai::module_resolvers::DummyModuleResolver;
use rhai::{AST, Engine, EvalAltResult};

use super::{DEFAULT_TIME_LIMIT, ScriptError};
use crate::dsp::Graph;
use crate::pattern::Pat;

/// Printed lines kept until someone takes them.
pub const MAX_LOG_LINES: usize = 256;
/// Longest printed line kept, in bytes.
pub const MAX_LOG_LINE: usize = 1024;

/// Shared state between an engine, its registered functions and the patterns it makes.
pub struct Runtime {
    source: Arc<str>,
    path: Option<PathBuf>,
    engine: OnceLock<Weak<Engine>>,
    ast: Mutex<Arc<AST>>,
    deadline: Mutex<Option<Instant>>,
    depth: AtomicUsize,
    error: Mutex<Option<ScriptError>>,
    logs: Mutex<Vec<String>>,
    dropped_logs: AtomicUsize,
    patch: Mutex<PatchState>,
}

/// What a patch script declares as it runs (tempo, tracks, instruments).
#[derive(Default)]
pub struct PatchState {
    /// Cycles per second, if set.
    pub cps: Option<f64>,
    /// Tracks in the order they were first declared.
    pub tracks: Vec<(String, Pat, (usize, usize))>,
    /// Instruments by name.
    pub instruments: BTreeMap<String, Graph>,
    /// Reload quantisation, if set.
    pub quantize: Option<String>,
}

impl Runtime {
    pub(super) fn new(source: &str, path: Option<&Path>) -> Runtime {
        Runtime {
            source: Arc::from(source),
            path: path.map(Path::to_path_buf),
            engine: OnceLock::new(),
            ast: Mutex::new(Arc::new(AST::empty())),
            deadline: Mutex::new(None),
            depth: AtomicUsize::new(0),
            error: Mutex::new(None),
            logs: Mutex::new(Vec::new()),
            dropped_logs: AtomicUsize::new(0),
            patch: Mutex::new(PatchState::default()),
        }
    }

    pub(super) fn attach(&self, engine: &Arc<Engine>) {
        let _ = self.engine.set(Arc::downgrade(engine));
    }

    /// The script's source text.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The script's path.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Keeps a printed line: at most [`MAX_LOG_LINES`] wait to be taken (a `print` in a
    /// closure runs on every query), each cut to [`MAX_LOG_LINE`] bytes; the rest are
    /// counted.
    fn log(&self, mut line: String) {
        let mut logs = lock(&self.logs);
        if logs.len() < MAX_LOG_LINES {
            if line.len() > MAX_LOG_LINE {
                let mut end = MAX_LOG_LINE;
                while !line.is_char_boundary(end) {
                    end -= 1;
                }
                line.truncate(end);
                line.push('…');
            }
            logs.push(line);
        } else {
            self.dropped_logs.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Printed lines that were not kept since the last call.
    pub fn take_dropped_logs(&self) -> usize {
        self.dropped_logs.swap(0, Ordering::Relaxed)
    }

    /// Lines the script printed with `print` or `debug`.
    pub fn take_logs(&self) -> Vec<String> {
        std::mem::take(&mut *lock(&self.logs))
    }

    /// Changes what the patch declares.
    pub(super) fn patch<T>(&self, f: impl FnOnce(&mut PatchState) -> T) -> T {
        f(&mut lock(&self.patch))
    }

    /// Takes what the patch declared.
    pub(crate) fn take_patch(&self) -> PatchState {
        std::mem::take(&mut *lock(&self.patch))
    }

    /// Runs `f` with the time limit armed (only the outermost call arms it).
    pub(super) fn guarded<T>(&self, f: impl FnOnce() -> T) -> T {
        if self.depth.fetch_add(1, Ordering::SeqCst) == 0 {
            *lock(&self.deadline) = Some(Instant::now() + DEFAULT_TIME_LIMIT);
        }
        let out = f();
        if self.depth.fetch_sub(1, Ordering::SeqCst) == 1 {
            *lock(&self.deadline) = None;
        }
        out
    }

    /// Whether the script must stop: its own time is up, or the query it runs inside
    /// is out of budget.
    fn expired(&self) -> bool {
        crate::pattern::budget::out_of_time() || lock(&self.deadline).is_some_and(|d| Instant::now() > d)
    }

    /// Records the first error raised where it cannot be returned (inside a closure
    /// called by a pattern).
    pub(super) fn record_error(&self, err: &EvalAltResult) {
        let mut slot = lock(&self.error);
        if slot.is_none() {
            *slot = Some(ScriptError::from_rhai(err, self.path()));
        }
    }

    /// Records an error found while playing (a query out of budget), if none is waiting.
    pub fn record(&self, error: ScriptError) {
        let mut slot = lock(&self.error);
        if slot.is_none() {
            *slot = Some(error);
        }
    }

    /// Takes the recorded error, if any.
    pub fn take_error(&self) -> Option<ScriptError> {
        lock(&self.error).take()
    }

    /// Keeps the compiled script, whose functions closures refer to.
    pub(super) fn set_ast(&self, ast: Arc<AST>) {
        *lock(&self.ast) = ast;
    }

    /// The compiled script.
    pub(super) fn ast(&self) -> Arc<AST> {
        lock(&self.ast).clone()
    }

    /// The engine, while it is alive.
    pub(super) fn engine(&self) -> Option<Arc<Engine>> {
        self.engine.get().and_then(Weak::upgrade)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Applies the sandbox to an engine.
pub(super) fn sandbox(engine: &mut Engine, runtime: &Arc<Runtime>) {
    engine.set_module_resolver(DummyModuleResolver::new());
    engine.disable_symbol("eval");
    engine.set_max_operations(20_000_000);
    engine.set_max_call_levels(48);
    engine.set_max_expr_depths(128, 64);
    engine.set_max_string_size(1 << 20);
    engine.set_max_array_size(100_000);
    engine.set_max_map_size(10_000);
    engine.set_strict_variables(true);
    engine.set_fail_on_invalid_map_property(true);
    let rt = Arc::downgrade(runtime);
    engine.on_progress(move |ops| {
        if ops % 1024 == 0 && rt.upgrade().is_some_and(|rt| rt.expired()) { Some("time limit".into()) } else { None }
    });
    let rt = Arc::downgrade(runtime);
    engine.on_print(move |s| {
        if let Some(rt) = rt.upgrade() {
            rt.log(s.to_string());
        }
    });
    let rt = Arc::downgrade(runtime);
    engine.on_debug(move |s, _, pos| {
        if let Some(rt) = rt.upgrade() {
            rt.log(format!("{pos:?}: {s}"));
        }
    });
}
