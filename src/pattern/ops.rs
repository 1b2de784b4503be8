//! Operations on patterns of [`Value`]s: patterned arguments (Strudel's `register`),
//! arithmetic (`add`, `mul`, ...), structure (`struct`, `mask`, `set`) and the
//! list constructors.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::core::{Pattern, pure, silence};
use super::rational::Rational;
use super::value::{NumOp, Value, compose};

/// A pattern of values: what scripts build.
pub type Pat = Pattern<Value>;

/// A function from pattern to pattern, as passed to `every`, `off`, `jux`, ...
pub type PatFn = Arc<dyn Fn(Pat) -> Pat + Send + Sync>;

/// Applies `f` to the values of patterned arguments, as Strudel's `register` does:
/// directly when every argument is a `pure` value, otherwise through an inner join
/// over the arguments' structure (the first argument's, combined left to right).
/// `with_fn_arg` says whether a function argument sits among them: it is a pure value
/// in Strudel too, and splits the arguments' haps at cycle boundaries.
pub fn patternify(args: &[&Pat], with_fn_arg: bool, f: impl Fn(&[Value]) -> Pat + Send + Sync + 'static) -> Pat {
    if let Some(values) = args.iter().map(|a| a.pure_value().cloned()).collect::<Option<Vec<_>>>() {
        return f(&values);
    }
    let Some((first, rest)) = args.split_first() else {
        return f(&[]);
    };
    let mut acc: Pattern<Vec<Value>> = first.fmap(|v| vec![v]);
    for p in rest {
        acc = acc.app_left(p, |vs, v| {
            let mut vs = vs.clone();
            vs.push(v.clone());
            vs
        });
    }
    if with_fn_arg {
        acc = acc.app_left(&pure(()), |vs, _| vs.clone());
    }
    // The same argument values give the same pattern: build each once. This keeps
    // script closures (`|x| ...`) from running again on every query.
    let cache: Mutex<HashMap<String, Pat>> = Mutex::new(HashMap::new());
    acc.inner_bind(move |vs| {
        let key: String = vs.iter().map(|v| v.to_json() + "\u{1f}").collect();
        let mut cache = cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(p) = cache.get(&key) {
            return p.clone();
        }
        let p = f(&vs);
        if cache.len() >= MEMO_CAPACITY {
            cache.clear();
        }
        cache.insert(key, p.clone());
        p
    })
}

/// How many argument combinations `patternify` remembers (continuous arguments such
/// as `sine` never repeat; the memo is then cleared rather than grown).
const MEMO_CAPACITY: usize = 256;

/// `patternify` for one argument that must be a rational number (silence otherwise).
pub fn with_rational(arg: &Pat, with_fn_arg: bool, f: impl Fn(Rational) -> Pat + Send + Sync + 'static) -> Pat {
    patternify(&[arg], with_fn_arg, move |v| match (v[0].as_rational(), v[0].as_number()) {
        (Some(r), Some(x)) if r.is_zero() && x != 0.0 => {
            super::budget::invalid(format!("{x:e} is too small to be a time (at least 1e-7)"));
            silence()
        }
        (Some(r), _) => f(r),
        (None, Some(x)) if x.is_finite() => {
            super::budget::invalid(format!("{x:e} is too large to be a time (at most about 9.2e18)"));
            silence()
        }
        _ => {
            if matches!(v[0], Value::Float(x) if x.is_nan()) {
                super::budget::invalid("NaN (not a number, such as 0.0/0.0) is not a time".into());
            }
            silence()
        }
    })
}

/// `patternify` for one numeric argument.
pub fn with_number(arg: &Pat, with_fn_arg: bool, f: impl Fn(f64) -> Pat + Send + Sync + 'static) -> Pat {
    patternify(&[arg], with_fn_arg, move |v| match v[0].as_number() {
        Some(x) => f(x),
        None => silence(),
    })
}

/// `patternify` for one whole-number argument.
pub fn with_int(arg: &Pat, with_fn_arg: bool, f: impl Fn(i64) -> Pat + Send + Sync + 'static) -> Pat {
    patternify(&[arg], with_fn_arg, move |v| match v[0].as_number() {
        Some(x) if x.fract() == 0.0 => f(x as i64),
        _ => silence(),
    })
}

/// How two patterns' structures combine in an operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Align {
    /// Structure from the left (Strudel's default, `.in`).
    In,
    /// Structure from the right (`.out`).
    Out,
    /// Structure from both (`.mix`).
    Mix,
    /// The right pattern's cycles squeezed into each left event (`.squeeze`).
    Squeeze,
}

impl Pat {
    /// Combines with `other` using `f` on values (maps merged key by key); haps where
    /// `f` gives `None` are dropped.
    pub fn op(
        &self,
        other: &Pat,
        align: Align,
        f: impl Fn(&Value, &Value) -> Option<Value> + Send + Sync + 'static,
    ) -> Pat {
        let f = Arc::new(move |a: &Value, b: &Value| compose(a, b, &f));
        let combined: Pattern<Option<Value>> = match align {
            Align::In => self.app_left(other, move |a, b| f(a, b)),
            Align::Out => self.app_right(other, move |a, b| f(a, b)),
            Align::Mix => self.app_both(other, move |a, b| f(a, b)),
            Align::Squeeze => {
                let other = other.clone();
                self.squeeze_bind(move |a| {
                    let f = f.clone();
                    other.fmap(move |b| f(&a, &b))
                })
            }
        };
        combined.filter_values(Option::is_some).fmap(|v| v.unwrap_or(Value::Int(0)))
    }

    /// Numeric operator with the given alignment.
    pub fn num_op(&self, other: &Pat, op: NumOp, align: Align) -> Pat {
        self.op(other, align, move |a, b| op.apply(a, b))
    }

    /// Adds `other` (structure from the left).
    pub fn add(&self, other: &Pat) -> Pat {
        self.num_op(other, NumOp::Add, Align::In)
    }

    /// Subtracts `other`.
    pub fn sub(&self, other: &Pat) -> Pat {
        self.num_op(other, NumOp::Sub, Align::In)
    }

    /// Multiplies by `other`.
    pub fn mul(&self, other: &Pat) -> Pat {
        self.num_op(other, NumOp::Mul, Align::In)
    }

    /// Divides by `other`.
    pub fn div(&self, other: &Pat) -> Pat {
        self.num_op(other, NumOp::Div, Align::In)
    }

    /// Sets values from `other`: maps are merged with `other` winning.
    pub fn set(&self, other: &Pat) -> Pat {
        self.op(other, Align::In, |_, b| Some(b.clone()))
    }

    /// Keeps values, merging in the keys of `other` that are missing.
    pub fn keep(&self, other: &Pat) -> Pat {
        self.op(other, Align::In, |a, _| Some(a.clone()))
    }

    /// Takes the structure of `other`, keeping this pattern's values where `other`'s
    /// values are truthy.
    pub fn struct_(&self, other: &Pat) -> Pat {
        self.app_right(other, |a, b| b.truthy().then(|| a.clone()))
            .filter_values(Option::is_some)
            .fmap(|v| v.unwrap_or(Value::Int(0)))
    }

    /// Silences the parts where `other` is falsy or absent.
    pub fn mask(&self, other: &Pat) -> Pat {
        self.app_left(other, |a, b| b.truthy().then(|| a.clone()))
            .filter_values(Option::is_some)
            .fmap(|v| v.unwrap_or(Value::Int(0)))
    }

    /// Scales values from `[0, 1]` to `[min, max]`.
    pub fn range(&self, min: &Pat, max: &Pat) -> Pat {
        let pat = self.clone();
        patternify(&[min, max], false, move |v| {
            let (lo, hi) = (v[0].clone(), v[1].clone());
            match NumOp::Sub.apply(&hi, &lo) {
                Some(d) => pat.mul(&pure(d)).add(&pure(lo)),
                None => silence(),
            }
        })
    }

    /// Maps numbers with `f` (after Strudel's `asNumber`).
    pub fn map_number(&self, f: impl Fn(f64) -> f64 + Send + Sync + 'static) -> Pat {
        self.fmap(move |v| match v.as_numeral() {
            Some(x) => Value::num(f(x)),
            None => v,
        })
    }

    /// Rounds to the nearest whole number (halves round up, as in JavaScript).
    pub fn round(&self) -> Pat {
        self.map_number(|x| {
            let f = x.floor();
            if x - f >= 0.5 { f + 1.0 } else { f }
        })
    }

    /// Rounds down.
    pub fn floor(&self) -> Pat {
        self.map_number(f64::floor)
    }

    /// Rounds up.
    pub fn ceil(&self) -> Pat {
        self.map_number(f64::ceil)
    }

    /// Maps `[0, 1]` to `[-1, 1]`.
    pub fn to_bipolar(&self) -> Pat {
        self.map_number(|x| x * 2.0 - 1.0)
    }

    /// Maps `[-1, 1]` to `[0, 1]`.
    pub fn from_bipolar(&self) -> Pat {
        self.map_number(|x| (x + 1.0) / 2.0)
    }
}
