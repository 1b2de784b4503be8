//! Conversions between Rhai values and patterns: a string is mini-notation, a number
//! is a constant pattern, an array is a sequence, a closure is a pattern function.

use std::sync::Arc;

use rhai::{AST, Array, Dynamic, Engine, EvalAltResult, FnPtr, ImmutableString, Map, NativeCallContext, Position};

use super::runtime::Runtime;
use crate::pattern::{MiniError, Pat, PatFn, Value, ValueMap, fastcat, mini, pure, silence};

type RhaiResult<T> = Result<T, Box<EvalAltResult>>;

fn runtime_error(message: String, pos: Position) -> Box<EvalAltResult> {
    Box::new(EvalAltResult::ErrorRuntime(message.into(), pos))
}

/// Where a mini-notation error is in the script: finds the string literal nearest the
/// call and points at the offending character inside it.
fn locate_mini_error(rt: &Runtime, text: &str, err: &MiniError, call: Position) -> Position {
    let source = rt.source();
    let needle = format!("\"{text}\"");
    let call_offset = match (call.line(), call.position()) {
        (Some(l), Some(c)) => source.split_inclusive('\n').take(l - 1).map(str::len).sum::<usize>() + c - 1,
        _ => 0,
    };
    let best = source.match_indices(&needle).map(|(i, _)| i).min_by_key(|&i| i.abs_diff(call_offset));
    let Some(start) = best else {
        return call;
    };
    // Offset of the error character: the opening quote, then (column - 1) characters.
    let inside: usize = text.chars().take(err.column - 1).map(char::len_utf8).sum();
    let at = start + 1 + inside;
    let before = &source[..at];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    Position::new(line.min(u16::MAX as usize) as u16, column.min(u16::MAX as usize) as u16)
}

/// Parses mini-notation, reporting errors at their place in the script.
pub fn mini_at(rt: &Runtime, text: &str, call: Position) -> RhaiResult<Pat> {
    let short: String =
        if text.chars().count() > 60 { text.chars().take(60).chain("…".chars()).collect() } else { text.into() };
    let pat = mini(text).map_err(|e| {
        let pos = locate_mini_error(rt, text, &e, call);
        runtime_error(format!("mini-notation \"{short}\": {}", e.message), pos)
    })?;
    if let Some(message) = crate::pattern::budget::take_invalid() {
        return Err(runtime_error(format!("mini-notation \"{short}\": {message}"), call));
    }
    if crate::pattern::budget::take_too_deep() {
        return Err(runtime_error(format!("mini-notation \"{short}\": nested too deep"), call));
    }
    Ok(pat)
}

/// How deep a script may nest patterns (in the core's levels: one method adds one to
/// three). Below [`crate::pattern::MAX_BUILD_DEPTH`], so that the script hears about it
/// at the call that went too far.
pub const MAX_SCRIPT_DEPTH: u32 = 2_000;

/// How deep the patterns inside a Rhai value are nested (0 for plain values).
pub fn depth_of(d: &Dynamic) -> u32 {
    fn go(d: &Dynamic, nesting: usize) -> u32 {
        if let Some(p) = d.read_lock::<Pat>() {
            return p.depth();
        }
        if nesting < MAX_NESTING
            && let Some(a) = d.read_lock::<Array>()
        {
            return a.iter().map(|x| go(x, nesting + 1)).max().unwrap_or(0);
        }
        0
    }
    go(d, 0)
}

/// How deep arrays and maps inside arrays and maps may be nested in a value a pattern
/// is made of (a script can nest them without bound in a loop).
pub const MAX_NESTING: usize = 32;

fn too_nested(pos: Position) -> Box<EvalAltResult> {
    runtime_error(format!("arrays or maps nested more than {MAX_NESTING} deep"), pos)
}

/// The result of a function that builds a pattern from inputs nested `floor` deep:
/// counted one level above them, and refused, at the call, when nested too deep.
pub fn checked(ctx: &NativeCallContext, result: RhaiResult<Pat>, floor: u32) -> RhaiResult<Pat> {
    let refused = crate::pattern::budget::take_too_deep();
    if let Some(message) = crate::pattern::budget::take_invalid() {
        return Err(runtime_error(message, ctx.call_position()));
    }
    let p = result?.at_least_depth(floor.saturating_add(1));
    if refused || p.depth() > MAX_SCRIPT_DEPTH {
        return Err(runtime_error(
            format!(
                "patterns nested more than {MAX_SCRIPT_DEPTH} levels deep (built up in a loop or a recursion?); \
                 rhaithm refuses them so that playing them cannot overflow the stack"
            ),
            ctx.call_position(),
        ));
    }
    Ok(p)
}

/// A Rhai value as a pattern value (not a pattern).
pub fn to_value(d: &Dynamic) -> Option<Value> {
    value_at(d, 0)
}

fn value_at(d: &Dynamic, nesting: usize) -> Option<Value> {
    if nesting > MAX_NESTING {
        return None;
    }
    if let Some(i) = d.clone().try_cast::<i64>() {
        return Some(Value::Int(i));
    }
    if let Some(f) = d.clone().try_cast::<f64>() {
        return Some(Value::Float(f));
    }
    if let Some(b) = d.clone().try_cast::<bool>() {
        return Some(Value::Bool(b));
    }
    if let Some(s) = d.clone().try_cast::<ImmutableString>() {
        return Some(Value::str(&s));
    }
    if let Some(m) = d.clone().try_cast::<Map>() {
        let mut out = ValueMap::new();
        for (k, v) in m {
            out.insert(Arc::from(k.as_str()), value_at(&v, nesting + 1)?);
        }
        return Some(Value::Map(Arc::new(out)));
    }
    if let Some(a) = d.clone().try_cast::<Array>() {
        return Some(Value::List(Arc::new(a.iter().map(|x| value_at(x, nesting + 1)).collect::<Option<Vec<_>>>()?)));
    }
    None
}

/// A Rhai value as a pattern: patterns as they are, strings as mini-notation, numbers,
/// booleans and maps as constants, arrays as sequences.
pub fn to_pat(rt: &Runtime, d: &Dynamic, pos: Position) -> RhaiResult<Pat> {
    pat_at(rt, d, pos, 0)
}

fn pat_at(rt: &Runtime, d: &Dynamic, pos: Position, nesting: usize) -> RhaiResult<Pat> {
    if nesting > MAX_NESTING {
        return Err(too_nested(pos));
    }
    if let Some(p) = d.clone().try_cast::<Pat>() {
        return Ok(p);
    }
    if let Some(s) = d.clone().try_cast::<ImmutableString>() {
        return mini_at(rt, &s, pos);
    }
    if let Some(a) = d.clone().try_cast::<Array>() {
        let pats = a.iter().map(|x| pat_at(rt, x, pos, nesting + 1)).collect::<RhaiResult<Vec<_>>>()?;
        return Ok(fastcat(pats));
    }
    if d.is_unit() {
        return Ok(silence());
    }
    match to_value(d) {
        Some(v) => Ok(pure(v)),
        None => Err(runtime_error(format!("expected a pattern, a string or a number, not {}", d.type_name()), pos)),
    }
}

/// `to_pat` outside a function call (for a script's final value).
pub fn to_pat_plain(d: &Dynamic, rt: &Runtime) -> RhaiResult<Pat> {
    to_pat(rt, d, Position::NONE)
}

/// `to_pat` at the position of the current call.
pub fn arg(ctx: &NativeCallContext, rt: &Runtime, d: &Dynamic) -> RhaiResult<Pat> {
    to_pat(rt, d, ctx.call_position())
}

/// A Rhai closure as a pattern function. Errors raised when it runs later (while a
/// pattern is queried) are recorded in the runtime and give silence.
pub fn to_fn(ctx: &NativeCallContext, rt: &Arc<Runtime>, d: &Dynamic) -> RhaiResult<PatFn> {
    let Some(ptr) = d.clone().try_cast::<FnPtr>() else {
        return Err(runtime_error(
            format!("expected a function such as |x| x.fast(2), not {}", d.type_name()),
            ctx.call_position(),
        ));
    };
    let Some(engine) = rt.engine() else {
        return Err(runtime_error("engine unavailable".into(), ctx.call_position()));
    };
    let rt = rt.clone();
    let ast = rt.ast();
    // Where the function was handed over: errors without a place of their own (too many
    // operations, too deep) are reported there.
    let at = ctx.call_position();
    Ok(Arc::new(move |p: Pat| call_fn(&engine, &ast, &rt, &ptr, p, at)))
}

/// How many script functions may be running inside one another through patterns (a
/// closure whose pattern calls a closure...). Rhai counts its own call depth afresh in
/// each call from Rust, so this is what bounds a recursion through `Fn("g")`.
pub const MAX_CLOSURE_NESTING: u32 = 8;

thread_local! {
    static CLOSURE_NESTING: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

fn call_fn(engine: &Engine, ast: &AST, rt: &Runtime, ptr: &FnPtr, p: Pat, at: Position) -> Pat {
    let nesting = CLOSURE_NESTING.with(|c| c.get());
    if nesting >= MAX_CLOSURE_NESTING {
        rt.record_error(&runtime_error(
            format!(
                "functions given to patterns call each other more than {MAX_CLOSURE_NESTING} deep \
                 (a recursion through `{}`?)",
                ptr.fn_name()
            ),
            at,
        ));
        return silence();
    }
    CLOSURE_NESTING.with(|c| c.set(nesting + 1));
    let result = rt.guarded(|| ptr.call::<Dynamic>(engine, ast, (Dynamic::from(p),)));
    CLOSURE_NESTING.with(|c| c.set(nesting));
    match result.and_then(|d| to_pat(rt, &d, at)) {
        Ok(p) => p,
        Err(e) => {
            if e.position().is_none() {
                let mut e = e;
                e.set_position(at);
                rt.record_error(&e);
            } else {
                rt.record_error(&e);
            }
            silence()
        }
    }
}
