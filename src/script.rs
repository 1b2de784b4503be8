//! The sandboxed Rhai engine and the API scripts see.
//!
//! A script is evaluated off the audio thread into plain data (patterns). The engine is
//! sandboxed: no `eval`, no `import` from disk, no file, process or network access, and
//! limits on operations, call depth, sizes and wall time. Every error keeps its line and
//! column (and the script's path) all the way to the user.

mod api;
mod convert;
mod graph_api;
mod patch_api;
mod runtime;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rhai::{Dynamic, Engine, EvalAltResult, Position, Scope};

use crate::pattern::Pat;
pub use runtime::{PatchState, Runtime};

/// How long a script may run before it is stopped.
pub const DEFAULT_TIME_LIMIT: Duration = Duration::from_millis(250);

/// An error in a script, with where it happened.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ScriptError {
    /// The script's file, if it has one.
    pub path: Option<PathBuf>,
    /// 1-based line (0 when unknown).
    pub line: usize,
    /// 1-based column (0 when unknown).
    pub column: usize,
    /// What went wrong.
    pub message: String,
}

impl fmt::Display for ScriptError {
    /// `file:line:column: message`, the form editors and terminals link to.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path.as_deref().map_or_else(|| "<expr>".to_string(), |p| p.display().to_string());
        if self.line > 0 {
            write!(f, "{path}:{}:{}: {}", self.line, self.column, self.message)
        } else {
            write!(f, "{path}: {}", self.message)
        }
    }
}

impl ScriptError {
    pub(crate) fn from_rhai(err: &EvalAltResult, path: Option<&Path>) -> ScriptError {
        // Errors inside functions and closures wrap the real one; report the innermost.
        let mut inner = err;
        while let EvalAltResult::ErrorInFunctionCall(_, _, e, _) = inner {
            inner = e;
        }
        let pos = match inner.position() {
            Position::NONE => err.position(),
            p => p,
        };
        let message = match inner {
            EvalAltResult::ErrorRuntime(d, _) => d.to_string(),
            EvalAltResult::ErrorTerminated(..) => "script stopped: it ran too long (an endless loop?)".to_string(),
            EvalAltResult::ErrorTooManyOperations(_) => {
                "script stopped: too many operations (an endless loop?)".to_string()
            }
            other => {
                let text = other.to_string();
                // Rhai appends " (line L, position C)"; the prefix says it already.
                match text.rfind(" (line ") {
                    Some(i) => text[..i].to_string(),
                    None => text,
                }
            }
        };
        ScriptError {
            path: path.map(Path::to_path_buf),
            line: pos.line().unwrap_or(0),
            column: pos.position().unwrap_or(0),
            message,
        }
    }
}

/// A sandboxed engine with rhaithm's API registered.
pub struct ScriptEngine {
    engine: Arc<Engine>,
    runtime: Arc<Runtime>,
}

impl ScriptEngine {
    /// A new engine for a script with this source text (used to place errors in
    /// mini-notation strings).
    pub fn new(source: &str, path: Option<&Path>) -> ScriptEngine {
        let runtime = Arc::new(Runtime::new(source, path));
        let mut engine = Engine::new();
        runtime::sandbox(&mut engine, &runtime);
        api::register(&mut engine, &runtime);
        graph_api::register(&mut engine);
        patch_api::register(&mut engine, &runtime);
        let engine = Arc::new(engine);
        runtime.attach(&engine);
        ScriptEngine { engine, runtime }
    }

    /// The scope scripts start with: the signals (`sine`, `saw`, `rand`, ...).
    fn scope() -> Scope<'static> {
        let mut scope = Scope::new();
        for (name, pat) in api::constants() {
            scope.push_constant(name, pat);
        }
        scope
    }

    /// Evaluates the whole source as an expression or script whose value is a pattern.
    pub fn eval_pattern(&self) -> Result<Pat, ScriptError> {
        let value = self.eval()?;
        convert::to_pat_plain(&value, &self.runtime).map_err(|e| ScriptError::from_rhai(&e, self.runtime.path()))
    }

    /// A value the script returned, as a pattern.
    pub fn to_pattern(&self, value: &Dynamic) -> Result<Pat, ScriptError> {
        convert::to_pat_plain(value, &self.runtime).map_err(|e| ScriptError::from_rhai(&e, self.runtime.path()))
    }

    /// Evaluates the source, returning its value.
    pub fn eval(&self) -> Result<Dynamic, ScriptError> {
        let path = self.runtime.path();
        let mut scope = Self::scope();
        let ast = self
            .engine
            .compile_with_scope(&scope, self.runtime.source())
            .map_err(|e| ScriptError::from_rhai(&e.into(), path))?;
        let ast = Arc::new(ast);
        self.runtime.set_ast(ast.clone());
        let result = self.runtime.guarded(|| self.engine.eval_ast_with_scope::<Dynamic>(&mut scope, &ast));
        let value = result.map_err(|e| ScriptError::from_rhai(&e, path))?;
        if let Some(e) = self.runtime.take_error() {
            return Err(e);
        }
        Ok(value)
    }

    /// The runtime shared with the patterns this engine made.
    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }
}

/// Evaluates an expression such as `s("bd*2").fast(2)` into a pattern.
pub fn eval_pattern(expr: &str) -> Result<Pat, ScriptError> {
    ScriptEngine::new(expr, None).eval_pattern()
}
