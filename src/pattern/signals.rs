//! Continuous patterns (signals) and Strudel's seeded randomness.
//!
//! Randomness is a pure function of time, bit for bit the one Strudel uses (its
//! "legacy" generator: an xorshift of the cycle position), so a pattern that uses `?`,
//! `|`, `degradeBy`, `sometimes`, `rand` or `choose` gives the same choices in rhaithm
//! and in Strudel.

use super::core::{Pattern, fastcat, pure, signal, silence, stack};
use super::ops::{Pat, PatFn, patternify, with_number};
use super::rational::Rational;
use super::value::Value;

fn xorwise(x: i32) -> i32 {
    let a = (x << 13) ^ x;
    let b = (a >> 17) ^ a;
    (b << 5) ^ b
}

/// The random number in `[0, 1)` that Strudel's `rand` gives at time `t` (in cycles).
pub fn rand_at(t: f64) -> f64 {
    let x = t / 300.0;
    let frac = x - x.trunc();
    let seed = xorwise((frac * 536_870_912.0).trunc() as i32);
    ((seed % 536_870_912) as f64 / 536_870_912.0).abs()
}

fn time_value(t: Rational) -> f64 {
    t.to_f64()
}

/// `t % 1`, rising from 0 to 1 each cycle.
pub fn saw() -> Pat {
    signal(|t| Value::num(time_value(t) % 1.0))
}

/// Falling from 1 to 0 each cycle.
pub fn isaw() -> Pat {
    signal(|t| Value::num(1.0 - time_value(t) % 1.0))
}

/// Sine wave from -1 to 1.
pub fn sine2() -> Pat {
    signal(|t| Value::num((std::f64::consts::PI * 2.0 * time_value(t)).sin()))
}

/// Sine wave from 0 to 1.
pub fn sine() -> Pat {
    sine2().from_bipolar()
}

/// Cosine wave from 0 to 1 (a sine a quarter cycle early).
pub fn cosine() -> Pat {
    sine().early_r(Rational::new(1, 4))
}

/// Square wave: 0 for the first half of each cycle, 1 for the second.
pub fn square() -> Pat {
    signal(|t| Value::num(((time_value(t) * 2.0) % 2.0).floor()))
}

/// Triangle wave from 0 to 1 and back each cycle.
pub fn tri() -> Pat {
    fastcat(vec![saw(), isaw()])
}

/// Cycle position as a number.
pub fn time() -> Pat {
    signal(|t| Value::num(time_value(t)))
}

/// A random number in `[0, 1)` at every point in time.
pub fn rand() -> Pat {
    signal(|t| Value::num(rand_at(time_value(t))))
}

/// Perlin noise: smooth random values between 0 and 1.
pub fn perlin() -> Pat {
    signal(|t| {
        let t = time_value(t);
        let ta = t.floor();
        let x = t - ta;
        let smoother = 6.0 * x.powi(5) - 15.0 * x.powi(4) + 10.0 * x.powi(3);
        let (ra, rb) = (rand_at(ta), rand_at(ta + 1.0));
        Value::num(ra + smoother * (rb - ra))
    })
}

/// Random whole numbers from 0 to `n - 1`.
pub fn irand(n: &Pat) -> Pat {
    n.inner_bind(|v| match v.as_number() {
        Some(i) => rand().fmap(move |r| Value::num((r.as_number().unwrap_or(0.0) * i).trunc())),
        None => silence(),
    })
}

/// Picks among `xs` with the values of `pat` (in `[0, 1)`), keeping `pat`'s structure.
fn choose_with(pat: &Pat, xs: Vec<Pat>) -> Pattern<Pat> {
    if xs.is_empty() {
        return silence();
    }
    let n = xs.len();
    pat.range(&pure(Value::Int(0)), &pure(Value::Int(n as i64))).fmap(move |i| {
        let k = i.as_number().unwrap_or(0.0).floor().clamp(0.0, (n - 1) as f64) as usize;
        xs[k].clone()
    })
}

/// Chooses randomly among the values each time it is sampled (continuous: give it
/// structure with `segment` or use it as a control argument).
pub fn choose(xs: Vec<Pat>) -> Pat {
    choose_with(&rand(), xs).outer_bind(|p| p)
}

/// Chooses one of `xs` per cycle at random (`randcat`, and mini-notation's `|`).
pub fn choose_in_with(pat: &Pat, xs: Vec<Pat>) -> Pat {
    choose_with(pat, xs).inner_bind(|p| p)
}

/// One pattern per cycle, chosen at random.
pub fn randcat(xs: Vec<Pat>) -> Pat {
    choose_in_with(&rand().segment(&pure(Value::Int(1))), xs)
}

/// `1 - rand`.
fn rand_inverted() -> Pat {
    rand().fmap(|r| Value::num(1.0 - r.as_number().unwrap_or(0.0)))
}

impl Pat {
    /// Keeps haps where `with` (sampled at their onset) is above `amount`.
    pub fn degrade_by_with(&self, with: &Pat, amount: f64) -> Pat {
        let kept = with.filter_values(move |v| v.as_number().is_some_and(|r| r > amount));
        self.app_left(&kept, |a, _| a.clone())
    }

    /// Randomly removes a proportion `amount` of events.
    pub fn degrade_by(&self, amount: &Pat) -> Pat {
        let p = self.clone();
        with_number(amount, false, move |x| p.degrade_by_with(&rand(), x))
    }

    /// Removes about half the events at random.
    pub fn degrade(&self) -> Pat {
        self.degrade_by_with(&rand(), 0.5)
    }

    /// Keeps exactly the events `degrade_by` would remove (for the same amount).
    pub fn undegrade_by(&self, amount: &Pat) -> Pat {
        let p = self.clone();
        with_number(amount, false, move |x| p.degrade_by_with(&rand_inverted(), x))
    }

    /// Applies `f` to a random proportion `amount` of events.
    pub fn sometimes_by(&self, amount: &Pat, f: PatFn) -> Pat {
        let p = self.clone();
        patternify(&[amount], true, move |v| {
            let Some(x) = v[0].as_number() else {
                return silence();
            };
            let inner = stack(vec![p.degrade_by_with(&rand(), x), f(p.degrade_by_with(&rand_inverted(), 1.0 - x))]);
            // Strudel joins through `pure(x)`, which splits events at cycle boundaries.
            pure(v[0].clone()).inner_bind(move |_| inner.clone())
        })
    }

    /// Applies `f` to whole cycles, a random proportion `amount` of them.
    pub fn some_cycles_by(&self, amount: &Pat, f: PatFn) -> Pat {
        let p = self.clone();
        patternify(&[amount], true, move |v| {
            let Some(x) = v[0].as_number() else {
                return silence();
            };
            let one = pure(Value::Int(1));
            let inner = stack(vec![
                p.degrade_by_with(&rand().segment(&one), x),
                f(p.degrade_by_with(&rand_inverted().segment(&one), 1.0 - x)),
            ]);
            pure(v[0].clone()).inner_bind(move |_| inner.clone())
        })
    }

    /// Chooses randomly among `xs` using this pattern's values in `[0, 1)`.
    pub fn choose_with(&self, xs: Vec<Pat>) -> Pat {
        choose_with(self, xs).outer_bind(|p| p)
    }
}

/// `sometimes_by` with a fixed probability, for the named variants.
pub fn sometimes_named(p: &Pat, probability: f64, f: PatFn) -> Pat {
    p.sometimes_by(&pure(Value::num(probability)), f)
}
