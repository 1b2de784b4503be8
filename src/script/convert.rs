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
    Position::new(line as u16, column as u16)
}

/// Parses mini-notation, reporting errors at their place in the script.
pub fn mini_at(rt: &Runtime, text: &str, call: Position) -> RhaiResult<Pat> {
    mini(text).map_err(|e| {
        let pos = locate_mini_error(rt, text, &e, call);
        runtime_error(format!("mini-notation \"{text}\": {}", e.message), pos)
    })
}

/// A Rhai value as a pattern value (not a pattern).
pub fn to_value(d: &Dynamic) -> Option<Value> {
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
            out.insert(Arc::from(k.as_str()), to_value(&v)?);
        }
        return Some(Value::Map(Arc::new(out)));
    }
    if let Some(a) = d.clone().try_cast::<Array>() {
        return Some(Value::List(Arc::new(a.iter().map(to_value).collect::<Option<Vec<_>>>()?)));
    }
    None
}

/// A Rhai value as a pattern: patterns as they are, strings as mini-notation, numbers,
/// booleans and maps as constants, arrays as sequences.
pub fn to_pat(rt: &Runtime, d: &Dynamic, pos: Position) -> RhaiResult<Pat> {
    if let Some(p) = d.clone().try_cast::<Pat>() {
        return Ok(p);
    }
    if let Some(s) = d.clone().try_cast::<ImmutableString>() {
        return mini_at(rt, &s, pos);
    }
    if let Some(a) = d.clone().try_cast::<Array>() {
        let pats = a.iter().map(|x| to_pat(rt, x, pos)).collect::<RhaiResult<Vec<_>>>()?;
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
    Ok(Arc::new(move |p: Pat| call_fn(&engine, &ast, &rt, &ptr, p)))
}

fn call_fn(engine: &Engine, ast: &AST, rt: &Runtime, ptr: &FnPtr, p: Pat) -> Pat {
    let result = rt.guarded(|| ptr.call::<Dynamic>(engine, ast, (Dynamic::from(p),)));
    match result.and_then(|d| to_pat(rt, &d, Position::NONE)) {
        Ok(p) => p,
        Err(e) => {
            rt.record_error(&e);
            silence()
        }
    }
}
