//! Time and structure transformations with Strudel's names and semantics:
//! `fast`, `slow`, `early`, `late`, `ply`, `iter`, `every`, `chunk`, `off`, `jux`, ...
//! Every numeric argument is itself a pattern.

use std::sync::Arc;

use super::budget;
use super::core::{fastcat, pure, silence, slowcat, slowcat_prime, stack};
use super::ops::{Pat, PatFn, patternify, with_int, with_number, with_rational};
use super::rational::Rational;
use super::value::{Value, ValueMap};

fn num(x: f64) -> Pat {
    pure(Value::num(x))
}

impl Pat {
    /// Speeds up by `factor` (patterned).
    pub fn fast(&self, factor: &Pat) -> Pat {
        let p = self.clone();
        with_rational(factor, false, move |f| p.fast_r(f))
    }

    /// Slows down by `factor` (patterned).
    pub fn slow(&self, factor: &Pat) -> Pat {
        let p = self.clone();
        with_rational(factor, false, move |f| if f.is_zero() { silence() } else { p.slow_r(f) })
    }

    /// `fast`, and multiplies `speed` by the same factor.
    pub fn hurry(&self, factor: &Pat) -> Pat {
        let p = self.clone();
        patternify(&[factor], false, move |v| match v[0].as_rational() {
            Some(r) => p.fast_r(r).mul(&pure(Value::map1("speed", v[0].clone()))),
            None => silence(),
        })
    }

    /// Shifts earlier by `offset` cycles (patterned).
    pub fn early(&self, offset: &Pat) -> Pat {
        let p = self.clone();
        with_rational(offset, false, move |o| p.early_r(o))
    }

    /// Shifts later by `offset` cycles (patterned).
    pub fn late(&self, offset: &Pat) -> Pat {
        let p = self.clone();
        with_rational(offset, false, move |o| p.late_r(o))
    }

    /// Repeats each event `factor` times within its span.
    pub fn ply(&self, factor: &Pat) -> Pat {
        let p = self.clone();
        with_rational(factor, false, move |f| p.squeeze_bind(move |v| pure(v).fast_r(f)))
    }

    fn iter_with(&self, times: &Pat, back: bool) -> Pat {
        let p = self.clone();
        with_int(times, false, move |n| {
            let Some(_) = budget::count(if back { "iterBack" } else { "iter" }, n) else {
                return silence();
            };
            let nr = Rational::int(n);
            slowcat(
                (0..n)
                    .map(|i| {
                        let o = Rational::int(i) / nr;
                        if back { p.late_r(o) } else { p.early_r(o) }
                    })
                    .collect(),
            )
        })
    }

    /// Shifts the pattern left by `1/n` of a cycle more each cycle.
    pub fn iter(&self, times: &Pat) -> Pat {
        self.iter_with(times, false)
    }

    /// Like `iter`, shifting right.
    pub fn iter_back(&self, times: &Pat) -> Pat {
        self.iter_with(times, true)
    }

    /// Plays forwards, then backwards, alternating by cycle.
    pub fn palindrome(&self) -> Pat {
        slowcat_prime(vec![self.clone(), self.rev()])
    }

    /// Applies `f` on the first of every `n` cycles (`every` and `firstOf`).
    pub fn first_of(&self, n: &Pat, f: PatFn) -> Pat {
        let p = self.clone();
        let fp = f(p.clone());
        with_int(n, true, move |n| {
            let Some(_) = budget::count("every", n) else {
                return silence();
            };
            let mut pats = vec![fp.clone()];
            pats.extend(std::iter::repeat_n(p.clone(), (n - 1) as usize));
            slowcat_prime(pats)
        })
    }

    /// Applies `f` on the last of every `n` cycles.
    pub fn last_of(&self, n: &Pat, f: PatFn) -> Pat {
        let p = self.clone();
        let fp = f(p.clone());
        with_int(n, true, move |n| {
            let Some(_) = budget::count("lastOf", n) else {
                return silence();
            };
            let mut pats: Vec<Pat> = std::iter::repeat_n(p.clone(), (n - 1) as usize).collect();
            pats.push(fp.clone());
            slowcat_prime(pats)
        })
    }

    /// Applies `f` where `on` is truthy (`on` is a pattern of booleans).
    pub fn when(&self, on: &Pat, f: PatFn) -> Pat {
        let p = self.clone();
        let fp = f(p.clone());
        patternify(&[on], true, move |v| if v[0].truthy() { fp.clone() } else { p.clone() })
    }

    fn chunk_with(&self, n: &Pat, f: PatFn, back: bool, fast: bool) -> Pat {
        let p = self.clone();
        with_int(n, true, move |n| {
            let Some(_) = budget::count("chunk", n) else {
                return silence();
            };
            let mut binary = vec![pure(Value::Bool(true))];
            binary.extend((1..n).map(|_| pure(Value::Bool(false))));
            let binary_pat = fastcat(binary).iter_with(&num(n as f64), !back);
            let pat = if fast { p.clone() } else { p.repeat_cycles(Rational::int(n)) };
            pat.when(&binary_pat, f.clone())
        })
    }

    /// Divides each cycle into `n` parts and applies `f` to one part per cycle, in turn.
    pub fn chunk(&self, n: &Pat, f: PatFn) -> Pat {
        self.chunk_with(n, f, false, false)
    }

    /// Like `chunk`, cycling through the parts backwards.
    pub fn chunk_back(&self, n: &Pat, f: PatFn) -> Pat {
        self.chunk_with(n, f, true, false)
    }

    /// Like `chunk`, without repeating cycles.
    pub fn fast_chunk(&self, n: &Pat, f: PatFn) -> Pat {
        self.chunk_with(n, f, false, true)
    }

    /// Repeats the first `t` of each cycle (the last `-t` for negative `t`).
    pub fn linger(&self, t: &Pat) -> Pat {
        let p = self.clone();
        with_rational(t, false, move |t| {
            if t.is_zero() {
                silence()
            } else if t < Rational::ZERO {
                p.zoom(t + Rational::ONE, Rational::ONE).slow_r(-t)
            } else {
                p.zoom(Rational::ZERO, t).slow_r(t)
            }
        })
    }

    /// Plays `[begin, end)` of each cycle stretched to a whole cycle (patterned).
    pub fn zoom_pat(&self, begin: &Pat, end: &Pat) -> Pat {
        let p = self.clone();
        patternify(&[begin, end], false, move |v| match (v[0].as_rational(), v[1].as_rational()) {
            (Some(b), Some(e)) => p.zoom(b, e),
            _ => silence(),
        })
    }

    /// Squeezes each cycle into `[begin, end)` (patterned).
    pub fn compress_pat(&self, begin: &Pat, end: &Pat) -> Pat {
        let p = self.clone();
        patternify(&[begin, end], false, move |v| match (v[0].as_rational(), v[1].as_rational()) {
            (Some(b), Some(e)) => p.compress(b, e),
            _ => silence(),
        })
    }

    /// Layers a copy shifted by `time` and transformed by `f`.
    pub fn off(&self, time: &Pat, f: PatFn) -> Pat {
        let p = self.clone();
        patternify(&[time], true, move |v| stack(vec![p.clone(), f(p.late(&pure(v[0].clone())))]))
    }

    /// The pattern plus each function applied to it.
    pub fn superimpose(&self, fs: &[PatFn]) -> Pat {
        let mut pats = vec![self.clone()];
        pats.extend(fs.iter().map(|f| f(self.clone())));
        stack(pats)
    }

    /// Each function applied to the pattern, stacked (without the original).
    pub fn layer(&self, fs: &[PatFn]) -> Pat {
        stack(fs.iter().map(|f| f(self.clone())).collect())
    }

    /// Plays the pattern hard left and `f` of it hard right, `by` apart (1 = full width).
    pub fn jux_by(&self, by: &Pat, f: PatFn) -> Pat {
        let p = self.clone();
        with_number(by, true, move |by| {
            let by = by / 2.0;
            let shift = move |sign: f64| {
                move |v: Value| {
                    let mut m = v.as_map().cloned().unwrap_or_else(ValueMap::new);
                    let pan = m.get("pan").and_then(Value::as_number).unwrap_or(0.5);
                    m.insert(Arc::from("pan"), Value::num(pan + sign * by));
                    Value::Map(Arc::new(m))
                }
            };
            stack(vec![p.fmap(shift(-1.0)), f(p.fmap(shift(1.0)))])
        })
    }

    /// `jux_by` at full width.
    pub fn jux(&self, f: PatFn) -> Pat {
        self.jux_by(&num(1.0), f)
    }

    /// Applies `f` inside cycles `factor` times longer.
    pub fn inside(&self, factor: &Pat, f: PatFn) -> Pat {
        let p = self.clone();
        with_rational(factor, true, move |r| f(p.slow_r(r)).fast_r(r))
    }

    /// Applies `f` outside, on cycles `factor` times shorter.
    pub fn outside(&self, factor: &Pat, f: PatFn) -> Pat {
        let p = self.clone();
        with_rational(factor, true, move |r| f(p.fast_r(r)).slow_r(r))
    }

    /// Squashes every other cycle into half a cycle, offset by a quarter (Tidal's `brak`).
    pub fn brak(&self) -> Pat {
        let on = slowcat(vec![pure(Value::Bool(false)), pure(Value::Bool(true))]);
        self.when(&on, Arc::new(|x: Pat| fastcat(vec![x, silence()]).late_r(Rational::new(1, 4))))
    }

    /// Squeezes each event into the last `1 - r` of its span.
    pub fn press_by(&self, r: &Pat) -> Pat {
        let p = self.clone();
        with_rational(r, false, move |r| p.squeeze_bind(move |v| pure(v).compress(r, Rational::ONE)))
    }

    /// Squeezes each event into the second half of its span.
    pub fn press(&self) -> Pat {
        self.press_by(&num(0.5))
    }

    /// Delays every other of `n` slices per cycle by `amount` of a slice... as Strudel:
    /// `inside(n, late(seq(0, amount / 2)))`.
    pub fn swing_by(&self, amount: &Pat, n: &Pat) -> Pat {
        let p = self.clone();
        patternify(&[amount, n], false, move |v| {
            let (Some(x), Some(_)) = (v[0].as_number(), v[1].as_rational()) else {
                return silence();
            };
            let shifts = fastcat(vec![num(0.0), num(x / 2.0)]).fmap(|v| v);
            p.inside(&pure(v[1].clone()), Arc::new(move |q: Pat| q.late(&shifts)))
        })
    }

    /// `swing_by(1/3, n)`.
    pub fn swing(&self, n: &Pat) -> Pat {
        self.swing_by(&num(1.0 / 3.0), n)
    }

    /// Samples the pattern `n` times per cycle.
    pub fn segment(&self, n: &Pat) -> Pat {
        let p = self.clone();
        with_rational(n, false, move |r| p.struct_(&pure(Value::Bool(true)).fast_r(r)))
    }

    /// Cuts each event into `n` parts, setting `begin`/`end` for sample slicing.
    pub fn chop(&self, n: &Pat) -> Pat {
        let p = self.clone();
        with_int(n, false, move |n| {
            let Some(_) = budget::count("chop", n) else {
                return silence();
            };
            p.squeeze_bind(move |o| {
                let om = o.as_map().cloned().unwrap_or_default();
                let range = match (om.get("begin").and_then(Value::as_number), om.get("end").and_then(Value::as_number))
                {
                    (Some(b), Some(e)) => Some((b, e - b)),
                    _ => None,
                };
                fastcat(
                    (0..n)
                        .map(|i| {
                            let (mut b, mut e) = (i as f64 / n as f64, (i + 1) as f64 / n as f64);
                            if let Some((start, d)) = range {
                                (b, e) = (start + b * d, start + e * d);
                            }
                            let mut m = om.clone();
                            m.insert(Arc::from("begin"), Value::num(b));
                            m.insert(Arc::from("end"), Value::num(e));
                            pure(Value::Map(Arc::new(m)))
                        })
                        .collect(),
                )
            })
        })
    }

    /// Plays the `n` slices of every event's sample interleaved across `n` cycles' worth.
    pub fn striate(&self, n: &Pat) -> Pat {
        let p = self.clone();
        with_int(n, false, move |n| {
            let Some(_) = budget::count("striate", n) else {
                return silence();
            };
            let slices = slowcat(
                (0..n)
                    .map(|i| {
                        let mut m = ValueMap::new();
                        m.insert(Arc::from("begin"), Value::num(i as f64 / n as f64));
                        m.insert(Arc::from("end"), Value::num((i + 1) as f64 / n as f64));
                        pure(Value::Map(Arc::new(m)))
                    })
                    .collect(),
            );
            p.set(&slices).fast_r(Rational::int(n))
        })
    }
}

/// `0 1 .. n-1` in one cycle.
pub fn run(n: &Pat) -> Pat {
    super::signals::saw().range(&num(0.0), n).round().segment(n)
}
