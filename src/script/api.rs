//! The functions scripts call, with Strudel's names. Every pattern method works on a
//! pattern or on a mini-notation string (`"0 2 4".add(12)`), and every numeric argument
//! takes a number, a string of mini-notation or a pattern.

use std::sync::Arc;

use rhai::{Array, Dynamic, Engine, EvalAltResult, ImmutableString, NativeCallContext};

use super::convert::{arg, checked, depth_of, mini_at, to_fn};
use super::runtime::Runtime;
use crate::pattern::controls::{CONTROLS, Control};
use crate::pattern::signals::{self, choose, irand, randcat};
use crate::pattern::{Pat, PatFn, Rational, Value, fastcat, pure, run, silence, slowcat, stack, timecat};

type R<T> = Result<T, Box<EvalAltResult>>;

/// The signals scripts see as constants.
pub fn constants() -> Vec<(&'static str, Pat)> {
    vec![
        ("sine", signals::sine()),
        ("sine2", signals::sine2()),
        ("cosine", signals::cosine()),
        ("saw", signals::saw()),
        ("saw2", signals::saw().to_bipolar()),
        ("isaw", signals::isaw()),
        ("tri", signals::tri()),
        ("square", signals::square()),
        ("rand", signals::rand()),
        ("perlin", signals::perlin()),
        ("time", signals::time()),
        ("silence", silence()),
    ]
}

/// Registers one method for both receivers: a pattern and a mini-notation string.
macro_rules! method {
    ($engine:expr, $rt:ident, $name:expr, |$ctx:ident, $this:ident $(, $a:ident)*| $body:expr) => {{
        let owned = $rt.clone();
        $engine.register_fn($name, move |$ctx: NativeCallContext, $this: Pat $(, $a: Dynamic)*| -> R<Pat> {
            let $rt = &owned;
            let floor = $this.depth()$(.max(depth_of(&$a)))*;
            checked(&$ctx, $body, floor)
        });
        let owned = $rt.clone();
        $engine.register_fn($name, move |$ctx: NativeCallContext, this: ImmutableString $(, $a: Dynamic)*| -> R<Pat> {
            let $rt = &owned;
            let $this = mini_at($rt, &this, $ctx.call_position())?;
            let floor = $this.depth()$(.max(depth_of(&$a)))*;
            checked(&$ctx, $body, floor)
        });
    }};
}

fn reg0(engine: &mut Engine, rt: &Arc<Runtime>, name: &str, f: fn(&Pat) -> Pat) {
    method!(engine, rt, name, |ctx, this| {
        let _ = (&ctx, rt);
        Ok(f(&this))
    });
}

fn reg1(engine: &mut Engine, rt: &Arc<Runtime>, name: &str, f: fn(&Pat, &Pat) -> Pat) {
    method!(engine, rt, name, |ctx, this, a| Ok(f(&this, &arg(&ctx, rt, &a)?)));
}

fn reg2(engine: &mut Engine, rt: &Arc<Runtime>, name: &str, f: fn(&Pat, &Pat, &Pat) -> Pat) {
    method!(engine, rt, name, |ctx, this, a, b| Ok(f(&this, &arg(&ctx, rt, &a)?, &arg(&ctx, rt, &b)?)));
}

fn reg3(engine: &mut Engine, rt: &Arc<Runtime>, name: &str, f: fn(&Pat, &Pat, &Pat, &Pat) -> Pat) {
    method!(engine, rt, name, |ctx, this, a, b, c| Ok(f(
        &this,
        &arg(&ctx, rt, &a)?,
        &arg(&ctx, rt, &b)?,
        &arg(&ctx, rt, &c)?
    )));
}

fn reg_fn(engine: &mut Engine, rt: &Arc<Runtime>, name: &str, f: fn(&Pat, PatFn) -> Pat) {
    method!(engine, rt, name, |ctx, this, g| Ok(f(&this, to_fn(&ctx, rt, &g)?)));
}

fn reg1_fn(engine: &mut Engine, rt: &Arc<Runtime>, name: &str, f: fn(&Pat, &Pat, PatFn) -> Pat) {
    method!(engine, rt, name, |ctx, this, a, g| Ok(f(&this, &arg(&ctx, rt, &a)?, to_fn(&ctx, rt, &g)?)));
}

fn reg_fns(engine: &mut Engine, rt: &Arc<Runtime>, name: &str, f: fn(&Pat, &[PatFn]) -> Pat) {
    let fns = |ctx: &NativeCallContext, rt: &Arc<Runtime>, gs: &[&Dynamic]| -> R<Vec<PatFn>> {
        gs.iter().map(|g| to_fn(ctx, rt, g)).collect()
    };
    method!(engine, rt, name, |ctx, this, a| Ok(f(&this, &fns(&ctx, rt, &[&a])?)));
    method!(engine, rt, name, |ctx, this, a, b| Ok(f(&this, &fns(&ctx, rt, &[&a, &b])?)));
    method!(engine, rt, name, |ctx, this, a, b, c| Ok(f(&this, &fns(&ctx, rt, &[&a, &b, &c])?)));
    method!(engine, rt, name, |ctx, this, a, b, c, d| Ok(f(&this, &fns(&ctx, rt, &[&a, &b, &c, &d])?)));
}

type Build = Arc<dyn Fn(&NativeCallContext, &[Dynamic]) -> R<Pat> + Send + Sync>;

/// Registers `name` for `min` to 8 arguments of any type, all handed to `build`.
fn register_variadic(engine: &mut Engine, name: &str, min: usize, build: Build) {
    macro_rules! arity {
        ($n:literal, $($a:ident),+) => {
            if $n >= min {
                let build = build.clone();
                engine.register_fn(name, move |ctx: NativeCallContext, $($a: Dynamic),+| -> R<Pat> {
                    let args = [$($a),+];
                    let floor = args.iter().map(depth_of).max().unwrap_or(0);
                    checked(&ctx, build(&ctx, &args), floor)
                });
            }
        };
    }
    arity!(1, a);
    arity!(2, a, b);
    arity!(3, a, b, c);
    arity!(4, a, b, c, d);
    arity!(5, a, b, c, d, e);
    arity!(6, a, b, c, d, e, g);
    arity!(7, a, b, c, d, e, g, h);
    arity!(8, a, b, c, d, e, g, h, i);
}

/// Registers a list constructor (`stack`, `cat`, ...) for 1 to 8 arguments, an array,
/// and as a method (`a.stack(b)`).
fn reg_list(engine: &mut Engine, rt: &Arc<Runtime>, name: &str, f: fn(Vec<Pat>) -> Pat) {
    let owned = rt.clone();
    let build: Build = Arc::new(move |ctx, xs| Ok(f(xs.iter().map(|x| arg(ctx, &owned, x)).collect::<R<Vec<_>>>()?)));
    register_variadic(engine, name, 1, build.clone());
    engine.register_fn(name, move |ctx: NativeCallContext, xs: Array| {
        let floor = xs.iter().map(depth_of).max().unwrap_or(0);
        checked(&ctx, build(&ctx, &xs), floor)
    });
    method!(engine, rt, name, |ctx, this, a| Ok(f(vec![this, arg(&ctx, rt, &a)?])));
    method!(engine, rt, name, |ctx, this, a, b| Ok(f(vec![this, arg(&ctx, rt, &a)?, arg(&ctx, rt, &b)?])));
    method!(engine, rt, name, |ctx, this, a, b, c| Ok(f(vec![
        this,
        arg(&ctx, rt, &a)?,
        arg(&ctx, rt, &b)?,
        arg(&ctx, rt, &c)?
    ])));
}

/// `timecat([w, a], [w, b], ...)`: pairs as separate arguments, or one array of pairs.
fn register_timecat(engine: &mut Engine, rt: &Arc<Runtime>) {
    let owned = rt.clone();
    let build: Build = Arc::new(move |ctx, pairs| {
        let mut out = Vec::new();
        for p in pairs {
            let pair = p.clone().try_cast::<Array>().filter(|a| a.len() == 2).ok_or_else(|| {
                Box::new(EvalAltResult::ErrorRuntime(
                    "timecat takes [weight, pattern] pairs".into(),
                    ctx.call_position(),
                ))
            })?;
            let w = super::convert::to_value(&pair[0]).and_then(|v| v.as_rational()).unwrap_or(Rational::ONE);
            out.push((w, arg(ctx, &owned, &pair[1])?));
        }
        Ok(timecat(out))
    });
    register_variadic(engine, "timecat", 2, build.clone());
    // One argument: a single pair, or an array of pairs.
    engine.register_fn("timecat", move |ctx: NativeCallContext, a: Array| -> R<Pat> {
        if a.first().is_some_and(Dynamic::is_array) { build(&ctx, &a) } else { build(&ctx, &[Dynamic::from(a)]) }
    });
}

fn register_controls(engine: &mut Engine, rt: &Arc<Runtime>) {
    for control in CONTROLS {
        let control: &'static Control = control;
        for &name in control.names {
            let rt2 = rt.clone();
            engine.register_fn(name, move |ctx: NativeCallContext, a: Dynamic| -> R<Pat> {
                let floor = depth_of(&a);
                checked(&ctx, arg(&ctx, &rt2, &a).map(|p| control.pattern(&p)), floor)
            });
            method!(engine, rt, name, |ctx, this, a| Ok(control.set_on(&this, &arg(&ctx, rt, &a)?)));
        }
    }
    // `.midi()` with no port: the first MIDI output (or the virtual port).
    if let Some(midi) = crate::pattern::controls::find("midi") {
        method!(engine, rt, "midi", |ctx, this| {
            let _ = rt;
            Ok(midi.set_on(&this, &pure(Value::str(""))))
        });
    }
}

fn num(x: f64) -> Pat {
    pure(Value::num(x))
}

/// Whole numbers divide as in JavaScript and Strudel: `1/8` is 0.125, not 0, so that
/// `.late(1/8)` means what it does there. Exact quotients stay whole (`8/2` is 4).
fn register_division(engine: &mut Engine) {
    engine.set_fast_operators(false);
    engine.register_fn("/", |a: i64, b: i64| -> R<Dynamic> {
        if b == 0 {
            return Err("division by zero".into());
        }
        Ok(if a % b == 0 { Dynamic::from(a / b) } else { Dynamic::from(a as f64 / b as f64) })
    });
}

/// Registers the whole API.
pub fn register(engine: &mut Engine, rt: &Arc<Runtime>) {
    engine.register_type_with_name::<Pat>("Pattern");
    register_division(engine);
    register_controls(engine, rt);

    // Constructors.
    reg_list(engine, rt, "stack", stack);
    reg_list(engine, rt, "cat", slowcat);
    reg_list(engine, rt, "slowcat", slowcat);
    reg_list(engine, rt, "seq", fastcat);
    reg_list(engine, rt, "sequence", fastcat);
    reg_list(engine, rt, "fastcat", fastcat);
    reg_list(engine, rt, "randcat", randcat);
    reg_list(engine, rt, "choose", choose);
    let rt2 = rt.clone();
    engine
        .register_fn("mini", move |ctx: NativeCallContext, s: ImmutableString| mini_at(&rt2, &s, ctx.call_position()));
    let rt2 = rt.clone();
    engine.register_fn("pure", move |ctx: NativeCallContext, a: Dynamic| -> R<Pat> {
        match super::convert::to_value(&a) {
            Some(v) => Ok(pure(v)),
            None => arg(&ctx, &rt2, &a),
        }
    });
    let rt2 = rt.clone();
    engine.register_fn("run", move |ctx: NativeCallContext, a: Dynamic| -> R<Pat> { Ok(run(&arg(&ctx, &rt2, &a)?)) });
    let rt2 = rt.clone();
    engine
        .register_fn("irand", move |ctx: NativeCallContext, a: Dynamic| -> R<Pat> { Ok(irand(&arg(&ctx, &rt2, &a)?)) });
    register_timecat(engine, rt);
    // MIDI knobs: `cc(74)` (any channel), `cc(74, 2)` (channel 2).
    let knob = |ctx: &NativeCallContext, r: Result<Pat, String>| -> R<Pat> {
        r.map_err(|m| Box::new(EvalAltResult::ErrorRuntime(m.into(), ctx.call_position())))
    };
    engine.register_fn("cc", move |ctx: NativeCallContext, n: i64| knob(&ctx, crate::midi::input::cc(n, None)));
    engine.register_fn("cc", move |ctx: NativeCallContext, n: i64, c: i64| {
        knob(&ctx, crate::midi::input::cc(n, Some(c)))
    });
    for (name, f) in [
        ("sine", signals::sine as fn() -> Pat),
        ("saw", signals::saw),
        ("rand", signals::rand),
        ("perlin", signals::perlin),
    ] {
        engine.register_fn(name, f);
    }

    // Time.
    reg1(engine, rt, "fast", Pat::fast);
    reg1(engine, rt, "density", Pat::fast);
    reg1(engine, rt, "slow", Pat::slow);
    reg1(engine, rt, "sparsity", Pat::slow);
    reg1(engine, rt, "hurry", Pat::hurry);
    reg1(engine, rt, "early", Pat::early);
    reg1(engine, rt, "late", Pat::late);
    reg1(engine, rt, "ply", Pat::ply);
    reg1(engine, rt, "iter", Pat::iter);
    reg1(engine, rt, "iterBack", Pat::iter_back);
    reg1(engine, rt, "linger", Pat::linger);
    reg1(engine, rt, "segment", Pat::segment);
    reg1(engine, rt, "seg", Pat::segment);
    reg1(engine, rt, "chop", Pat::chop);
    reg1(engine, rt, "striate", Pat::striate);
    reg1(engine, rt, "pressBy", Pat::press_by);
    reg1(engine, rt, "swing", Pat::swing);
    reg2(engine, rt, "swingBy", Pat::swing_by);
    reg2(engine, rt, "zoom", Pat::zoom_pat);
    reg2(engine, rt, "compress", Pat::compress_pat);
    reg0(engine, rt, "rev", Pat::rev);
    reg0(engine, rt, "palindrome", Pat::palindrome);
    reg0(engine, rt, "brak", Pat::brak);
    reg0(engine, rt, "press", Pat::press);

    // Structure and arithmetic.
    reg1(engine, rt, "add", Pat::add);
    reg1(engine, rt, "sub", Pat::sub);
    reg1(engine, rt, "mul", Pat::mul);
    reg1(engine, rt, "div", Pat::div);
    reg1(engine, rt, "mod", |p, o| p.num_op(o, crate::pattern::value::NumOp::Mod, crate::pattern::Align::In));
    reg1(engine, rt, "pow", |p, o| p.num_op(o, crate::pattern::value::NumOp::Pow, crate::pattern::Align::In));
    reg1(engine, rt, "set", Pat::set);
    reg1(engine, rt, "keep", Pat::keep);
    reg1(engine, rt, "struct", Pat::struct_);
    reg1(engine, rt, "mask", Pat::mask);
    reg2(engine, rt, "range", Pat::range);
    reg2(engine, rt, "euclid", Pat::euclid);
    reg3(engine, rt, "euclidRot", Pat::euclid_rot);
    reg2(engine, rt, "euclidLegato", Pat::euclid_legato);
    reg3(engine, rt, "euclidLegatoRot", Pat::euclid_legato_rot);
    reg0(engine, rt, "round", Pat::round);
    reg0(engine, rt, "floor", Pat::floor);
    reg0(engine, rt, "ceil", Pat::ceil);
    reg0(engine, rt, "toBipolar", Pat::to_bipolar);
    reg0(engine, rt, "fromBipolar", Pat::from_bipolar);

    // Randomness.
    reg0(engine, rt, "degrade", Pat::degrade);
    reg1(engine, rt, "degradeBy", Pat::degrade_by);
    reg1(engine, rt, "undegradeBy", Pat::undegrade_by);
    reg1_fn(engine, rt, "sometimesBy", Pat::sometimes_by);
    reg1_fn(engine, rt, "someCyclesBy", Pat::some_cycles_by);
    reg_fn(engine, rt, "sometimes", |p, f| p.sometimes_by(&num(0.5), f));
    reg_fn(engine, rt, "often", |p, f| p.sometimes_by(&num(0.75), f));
    reg_fn(engine, rt, "rarely", |p, f| p.sometimes_by(&num(0.25), f));
    reg_fn(engine, rt, "almostNever", |p, f| p.sometimes_by(&num(0.1), f));
    reg_fn(engine, rt, "almostAlways", |p, f| p.sometimes_by(&num(0.9), f));
    reg_fn(engine, rt, "someCycles", |p, f| p.some_cycles_by(&num(0.5), f));
    reg_fn(engine, rt, "always", |p, f| f(p.clone()));
    reg_fn(engine, rt, "never", |p, _| p.clone());

    // Higher-order.
    reg1_fn(engine, rt, "every", Pat::first_of);
    reg1_fn(engine, rt, "firstOf", Pat::first_of);
    reg1_fn(engine, rt, "lastOf", Pat::last_of);
    reg1_fn(engine, rt, "when", Pat::when);
    reg1_fn(engine, rt, "chunk", Pat::chunk);
    reg1_fn(engine, rt, "chunkBack", Pat::chunk_back);
    reg1_fn(engine, rt, "fastChunk", Pat::fast_chunk);
    reg1_fn(engine, rt, "off", Pat::off);
    reg1_fn(engine, rt, "inside", Pat::inside);
    reg1_fn(engine, rt, "outside", Pat::outside);
    reg1_fn(engine, rt, "juxBy", Pat::jux_by);
    reg_fn(engine, rt, "jux", Pat::jux);
    reg_fns(engine, rt, "superimpose", Pat::superimpose);
    reg_fns(engine, rt, "layer", Pat::layer);
}
