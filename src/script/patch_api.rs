//! The functions that make a script a patch: tempo (`setcps`, `setcpm`, `setbpm`),
//! tracks (`d1` .. `d16`, `track`), `hush`, `instrument` and `quantize`.

use std::sync::Arc;

use rhai::{Dynamic, Engine, EvalAltResult, FnPtr, ImmutableString, NativeCallContext, Position};

use super::convert::arg;
use super::runtime::Runtime;
use crate::dsp::Graph;
use crate::limits::{MAX_CPS, MIN_CPS};

type R<T> = Result<T, Box<EvalAltResult>>;

fn err(message: String, pos: Position) -> Box<EvalAltResult> {
    Box::new(EvalAltResult::ErrorRuntime(message.into(), pos))
}

fn positive(ctx: &NativeCallContext, d: &Dynamic, what: &str) -> R<f64> {
    let x = d
        .as_float()
        .or_else(|_| d.as_int().map(|i| i as f64))
        .map_err(|t| err(format!("{what} must be a number, not {t}"), ctx.call_position()))?;
    if !(x.is_finite() && x > 0.0 && x <= 10_000.0) {
        return Err(err(format!("{what} must be a positive number, not {x}"), ctx.call_position()));
    }
    Ok(x)
}

/// Most tracks one file may declare (each is queried on every scheduling step, and
/// has its own safety stage in the mixer).
pub const MAX_TRACKS: usize = 64;

fn set_track(rt: &Runtime, name: &str, pat: crate::pattern::Pat, at: Position) -> R<()> {
    let pos = at;
    let at = (at.line().unwrap_or(0), at.position().unwrap_or(0));
    rt.patch(|p| {
        if let Some(slot) = p.tracks.iter_mut().find(|(n, ..)| n == name) {
            (slot.1, slot.2) = (pat, at);
            return Ok(());
        }
        if p.tracks.len() >= MAX_TRACKS {
            return Err(err(format!("more than {MAX_TRACKS} tracks in one file (put the rest in another file)"), pos));
        }
        p.tracks.push((name.to_string(), pat, at));
        Ok(())
    })
}

/// Registers the patch functions.
pub fn register(engine: &mut Engine, rt: &Arc<Runtime>) {
    for (name, per_cycle) in [("setcps", 1.0), ("setcpm", 60.0), ("setbpm", 240.0)] {
        let rt = rt.clone();
        engine.register_fn(name, move |ctx: NativeCallContext, x: Dynamic| -> R<()> {
            let x = positive(&ctx, &x, "the tempo")?;
            let cps = x / per_cycle;
            if !(MIN_CPS..=MAX_CPS).contains(&cps) {
                return Err(err(
                    format!(
                        "{name}({x}) is {cps} cycles per second; rhaithm plays between {MIN_CPS} and {MAX_CPS} \
                         ({} to {} bpm)",
                        MIN_CPS * 240.0,
                        MAX_CPS * 240.0
                    ),
                    ctx.call_position(),
                ));
            }
            rt.patch(|p| p.cps = Some(cps));
            Ok(())
        });
    }
    for i in 1..=16 {
        let rt = rt.clone();
        let name = format!("d{i}");
        engine.register_fn(name.clone(), move |ctx: NativeCallContext, pat: Dynamic| -> R<()> {
            let pat = arg(&ctx, &rt, &pat)?;
            set_track(&rt, &name, pat, ctx.call_position())
        });
    }
    let rt2 = rt.clone();
    engine.register_fn("track", move |ctx: NativeCallContext, name: ImmutableString, pat: Dynamic| -> R<()> {
        if name.trim().is_empty() {
            return Err(err("a track needs a name".into(), ctx.call_position()));
        }
        let pat = arg(&ctx, &rt2, &pat)?;
        set_track(&rt2, &name, pat, ctx.call_position())
    });
    let rt2 = rt.clone();
    engine.register_fn("hush", move || rt2.patch(|p| p.tracks.clear()));
    let rt2 = rt.clone();
    engine.register_fn("quantize", move |ctx: NativeCallContext, mode: ImmutableString| -> R<()> {
        if !matches!(mode.as_str(), "none" | "cycle" | "bar") {
            return Err(err(
                format!("quantize takes \"none\", \"cycle\" or \"bar\", not \"{mode}\""),
                ctx.call_position(),
            ));
        }
        rt2.patch(|p| p.quantize = Some(mode.to_string()));
        Ok(())
    });
    let rt2 = rt.clone();
    engine.register_fn("instrument", move |ctx: NativeCallContext, name: ImmutableString, def: Dynamic| -> R<()> {
        let graph = if let Some(f) = def.clone().try_cast::<FnPtr>() {
            f.call_within_context::<Dynamic>(&ctx, (Graph::freq(),))?
        } else {
            def
        };
        let Some(graph) = graph.clone().try_cast::<Graph>() else {
            return Err(err(
                format!("instrument \"{name}\" must be a graph such as |freq| saw(freq), not {}", graph.type_name()),
                ctx.call_position(),
            ));
        };
        if graph.inputs() != 0 || !(1..=2).contains(&graph.outputs()) {
            return Err(err(
                format!(
                    "instrument \"{name}\" must have no inputs and 1 or 2 outputs, but it has {} and {}",
                    graph.inputs(),
                    graph.outputs()
                ),
                ctx.call_position(),
            ));
        }
        rt2.patch(|p| p.instruments.insert(name.to_string(), graph));
        Ok(())
    });
}
