//! Instrument graphs in scripts: oscillators, noise, filters, envelopes, delays, reverb
//! and the combinators `>>` (pipe), `+`, `-`, `*`, `|` (stack) and `&` (bus).
//!
//! Precedence follows Rust's, so fundsp examples read the same: `*` binds tighter than
//! `+`, which binds tighter than `>>`, then `&`, then `|`. Every combination is checked
//! for channel counts as it is made; a mismatch is a script error at the operator.

use rhai::{Dynamic, Engine, EvalAltResult, NativeCallContext, Position};

use crate::dsp::graph::{Arith, Filter, Graph, Node, Noise, Wave};

type R<T> = Result<T, Box<EvalAltResult>>;

/// Precedence of `>>` between comparisons (130) and `+` (150), as in Rust.
const PIPE_PRECEDENCE: u8 = 140;

fn err(message: String, pos: Position) -> Box<EvalAltResult> {
    Box::new(EvalAltResult::ErrorRuntime(message.into(), pos))
}

/// A number or a graph as a graph.
fn graph(ctx: &NativeCallContext, d: &Dynamic, what: &str) -> R<Graph> {
    if let Some(g) = d.clone().try_cast::<Graph>() {
        return Ok(g);
    }
    if let Ok(x) = d.as_float() {
        return Ok(Graph::constant(x));
    }
    if let Ok(i) = d.as_int() {
        return Ok(Graph::constant(i as f64));
    }
    Err(err(format!("{what} must be a number or a graph, not {}", d.type_name()), ctx.call_position()))
}

fn number(ctx: &NativeCallContext, d: &Dynamic, what: &str) -> R<f32> {
    if let Ok(x) = d.as_float() {
        return Ok(x as f32);
    }
    if let Ok(i) = d.as_int() {
        return Ok(i as f32);
    }
    Err(err(format!("{what} must be a number, not {}", d.type_name()), ctx.call_position()))
}

fn at<T>(ctx: &NativeCallContext, r: Result<T, String>) -> R<T> {
    r.map_err(|m| err(m, ctx.call_position()))
}

/// Registers the graph type, its functions and operators.
pub fn register(engine: &mut Engine) {
    engine.register_type_with_name::<Graph>("Graph");
    engine.register_fn("to_string", |g: &mut Graph| format!("{g:?}"));
    engine.register_fn("inputs", |g: &mut Graph| g.inputs() as i64);
    engine.register_fn("outputs", |g: &mut Graph| g.outputs() as i64);

    for (name, wave) in [
        ("sine", Wave::Sine),
        ("saw", Wave::Saw),
        ("square", Wave::Square),
        ("tri", Wave::Triangle),
        ("triangle", Wave::Triangle),
        ("organ", Wave::Organ),
        ("softsaw", Wave::SoftSaw),
    ] {
        engine.register_fn(name, move |ctx: NativeCallContext, f: Dynamic| -> R<Graph> {
            at(&ctx, Graph::osc(wave, graph(&ctx, &f, "the frequency")?))
        });
    }
    engine.register_fn("pulse", |ctx: NativeCallContext, f: Dynamic, w: Dynamic| -> R<Graph> {
        at(&ctx, Graph::pulse(graph(&ctx, &f, "the frequency")?, graph(&ctx, &w, "the width")?))
    });
    for (name, colour) in
        [("noise", Noise::White), ("white", Noise::White), ("pink", Noise::Pink), ("brown", Noise::Brown)]
    {
        engine.register_fn(name, move || Graph::leaf(Node::Noise(colour)));
    }
    for (name, kind, q) in [
        ("lowpass", Filter::Lowpass, 0.707),
        ("highpass", Filter::Highpass, 0.707),
        ("bandpass", Filter::Bandpass, 1.0),
        ("notch", Filter::Notch, 1.0),
        ("moog", Filter::Moog, 0.2),
    ] {
        engine.register_fn(name, move |ctx: NativeCallContext, c: Dynamic, q: Dynamic| -> R<Graph> {
            at(&ctx, Graph::filter(kind, graph(&ctx, &c, "the cutoff")?, graph(&ctx, &q, "the resonance")?))
        });
        engine.register_fn(name, move |ctx: NativeCallContext, c: Dynamic| -> R<Graph> {
            at(&ctx, Graph::filter(kind, graph(&ctx, &c, "the cutoff")?, Graph::constant(q)))
        });
    }
    engine.register_fn("perc", |ctx: NativeCallContext, a: Dynamic, d: Dynamic| -> R<Graph> {
        Ok(Graph::leaf(Node::Perc(number(&ctx, &a, "attack")?, number(&ctx, &d, "decay")?)))
    });
    engine.register_fn("adsr", |ctx: NativeCallContext, a: Dynamic, d: Dynamic, s: Dynamic, r: Dynamic| -> R<Graph> {
        Ok(Graph::leaf(Node::Adsr(
            number(&ctx, &a, "attack")?,
            number(&ctx, &d, "decay")?,
            number(&ctx, &s, "sustain")?,
            number(&ctx, &r, "release")?,
        )))
    });
    engine.register_fn("delayline", |ctx: NativeCallContext, t: Dynamic| -> R<Graph> {
        Ok(Graph::leaf(Node::Delay(number(&ctx, &t, "the delay time")?)))
    });
    engine.register_fn("echo", |ctx: NativeCallContext, t: Dynamic, fb: Dynamic| -> R<Graph> {
        Ok(Graph::leaf(Node::Echo(number(&ctx, &t, "the delay time")?, number(&ctx, &fb, "the feedback")?)))
    });
    engine.register_fn("reverb", |ctx: NativeCallContext, room: Dynamic, time: Dynamic| -> R<Graph> {
        Ok(Graph::leaf(Node::Reverb(
            number(&ctx, &room, "the room size")?,
            number(&ctx, &time, "the decay time")?,
            0.5,
        )))
    });
    engine.register_fn("reverb", |ctx: NativeCallContext, room: Dynamic, time: Dynamic, damp: Dynamic| -> R<Graph> {
        Ok(Graph::leaf(Node::Reverb(
            number(&ctx, &room, "the room size")?,
            number(&ctx, &time, "the decay time")?,
            number(&ctx, &damp, "the damping")?,
        )))
    });
    engine.register_fn("panner", |ctx: NativeCallContext, p: Dynamic| -> R<Graph> {
        Ok(Graph::leaf(Node::Pan(number(&ctx, &p, "the pan position")?)))
    });
    engine.register_fn("drive", |ctx: NativeCallContext, x: Dynamic| -> R<Graph> {
        Ok(Graph::leaf(Node::Tanh(number(&ctx, &x, "the drive")?)))
    });
    engine.register_fn("clip", || Graph::leaf(Node::Clip));
    engine.register_fn("dc", |ctx: NativeCallContext, x: Dynamic| graph(&ctx, &x, "the value"));
    engine.register_fn("pass", || Graph::leaf(Node::Pass(1)));
    engine.register_fn("sink", || Graph::leaf(Node::Sink(1)));
    engine.register_fn("mono", || Graph::leaf(Node::Join(2)));
    engine.register_fn("stereo", || Graph::leaf(Node::Split(2)));

    engine.disable_symbol(">>");
    if let Err(e) = engine.register_custom_operator(">>", PIPE_PRECEDENCE) {
        unreachable!("`>>` is a valid custom operator: {e}");
    }
    engine.register_fn(">>", |ctx: NativeCallContext, a: Graph, b: Graph| at(&ctx, Graph::pipe(a, b)));
    engine.register_fn("|", |ctx: NativeCallContext, a: Graph, b: Graph| at(&ctx, Graph::stack(a, b)));
    engine.register_fn("&", |ctx: NativeCallContext, a: Graph, b: Graph| at(&ctx, Graph::bus(a, b)));
    for (sym, op) in [("+", Arith::Add), ("-", Arith::Sub), ("*", Arith::Mul)] {
        engine.register_fn(sym, move |ctx: NativeCallContext, a: Graph, b: Graph| at(&ctx, Graph::arith(op, a, b)));
        engine.register_fn(sym, move |ctx: NativeCallContext, a: Graph, b: f64| {
            at(&ctx, Graph::arith(op, a, Graph::constant(b)))
        });
        engine.register_fn(sym, move |ctx: NativeCallContext, a: f64, b: Graph| {
            at(&ctx, Graph::arith(op, Graph::constant(a), b))
        });
        engine.register_fn(sym, move |ctx: NativeCallContext, a: Graph, b: i64| {
            at(&ctx, Graph::arith(op, a, Graph::constant(b as f64)))
        });
        engine.register_fn(sym, move |ctx: NativeCallContext, a: i64, b: Graph| {
            at(&ctx, Graph::arith(op, Graph::constant(a as f64), b))
        });
    }
    engine.register_fn("-", |ctx: NativeCallContext, a: Graph| {
        at(&ctx, Graph::arith(Arith::Mul, a, Graph::constant(-1.0)))
    });
}
