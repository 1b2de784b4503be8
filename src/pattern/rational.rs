//! Exact rational numbers: the unit of pattern time (cycles).
//!
//! Time in patterns is never a float. `Rational` keeps an `i64` numerator and a positive
//! `i64` denominator in lowest terms; products are formed in `i128` and reduced, so
//! ordinary musical arithmetic (tuplets inside tuplets, hundreds of cycles) stays exact.
//! Conversion from floats follows fraction.js (the library Strudel uses), so a float
//! written in a script becomes the same fraction in rhaithm as in Strudel.

use std::cmp::Ordering;
use std::fmt;
use std::ops::{Add, Div, Mul, Neg, Sub};

/// An exact rational number in lowest terms with a positive denominator.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rational {
    num: i64,
    den: i64,
}

const fn gcd_u128(mut a: u128, mut b: u128) -> u128 {
    while b != 0 {
        let t = a % b;
        a = b;
        b = t;
    }
    a
}

impl Rational {
    /// Zero.
    pub const ZERO: Rational = Rational { num: 0, den: 1 };
    /// One.
    pub const ONE: Rational = Rational { num: 1, den: 1 };

    /// `num / den`, reduced. A zero denominator gives zero (never a panic: callers
    /// check, as Strudel does, and absurd inputs must not stop the music).
    pub fn new(num: i64, den: i64) -> Rational {
        if den == 0 {
            return Rational::ZERO;
        }
        Self::reduce(num as i128, den as i128)
    }

    /// A whole number.
    pub const fn int(n: i64) -> Rational {
        Rational { num: n, den: 1 }
    }

    fn reduce(num: i128, den: i128) -> Rational {
        let (num, den) = if den < 0 { (-num, -den) } else { (num, den) };
        let g = gcd_u128(num.unsigned_abs(), den as u128).max(1) as i128;
        let (n, d) = (num / g, den / g);
        // Saturate rather than wrap: times this far from zero are not musical.
        match (i64::try_from(n), i64::try_from(d)) {
            (Ok(n), Ok(d)) => Rational { num: n, den: d },
            _ => Self::approximate(n as f64 / d as f64),
        }
    }

    /// Closest fraction with a bounded denominator, for results that no longer fit.
    fn approximate(x: f64) -> Rational {
        let x = x.clamp(-(i64::MAX as f64) / 2.0, i64::MAX as f64 / 2.0);
        let den: i64 = 1 << 20;
        Rational::new((x * den as f64).round() as i64, den)
    }

    /// The numerator (carries the sign).
    pub const fn numer(self) -> i64 {
        self.num
    }

    /// The denominator (always positive).
    pub const fn denom(self) -> i64 {
        self.den
    }

    /// The nearest float, computed as JavaScript's `Number(n) / Number(d)` would.
    pub fn to_f64(self) -> f64 {
        self.num as f64 / self.den as f64
    }

    /// The fraction fraction.js makes of a float (a Farey-sequence search with
    /// denominators up to 10^7 on the mantissa), so rhaithm and Strudel agree exactly.
    /// Returns `None` for NaN and infinities.
    pub fn from_f64(x: f64) -> Option<Rational> {
        if !x.is_finite() {
            return None;
        }
        let negative = x < 0.0;
        let mut p = x.abs();
        let sign = if negative { -1 } else { 1 };
        if p % 1.0 == 0.0 {
            if p > i64::MAX as f64 {
                return None;
            }
            return Some(Rational::int(sign * p as i64));
        }
        let mut z: f64 = 1.0;
        if p >= 1.0 {
            z = 10f64.powf((1.0 + p.log10()).floor());
            p /= z;
        }
        let (n, d) = farey(p);
        let num = (n as f64 * z) as i64;
        Some(Rational::new(sign * num, d as i64))
    }

    /// Largest whole number not above this one.
    pub fn floor(self) -> Rational {
        Rational::int(self.num.div_euclid(self.den))
    }

    /// Smallest whole number not below this one.
    pub fn ceil(self) -> Rational {
        -(-self).floor()
    }

    /// Start of the cycle this time falls in (Tidal's `sam`).
    pub fn sam(self) -> Rational {
        self.floor()
    }

    /// Start of the next cycle.
    pub fn next_sam(self) -> Rational {
        self.sam() + Rational::ONE
    }

    /// Position within the cycle, in `[0, 1)`.
    pub fn cycle_pos(self) -> Rational {
        self - self.sam()
    }

    /// The floor as an integer.
    pub fn floor_i64(self) -> i64 {
        self.num.div_euclid(self.den)
    }

    /// Whether this is zero.
    pub const fn is_zero(self) -> bool {
        self.num == 0
    }

    /// Absolute value.
    pub fn abs(self) -> Rational {
        Rational { num: self.num.saturating_abs(), den: self.den }
    }

    /// Smaller of two.
    pub fn min(self, other: Rational) -> Rational {
        if self <= other { self } else { other }
    }

    /// Larger of two.
    pub fn max(self, other: Rational) -> Rational {
        if self >= other { self } else { other }
    }

    /// Euclidean remainder, always in `[0, m)` for positive `m`.
    pub fn rem_euclid(self, m: Rational) -> Rational {
        self - m * (self / m).floor()
    }

    /// Least common multiple of two rationals (`lcm(n)/gcd(d)`).
    pub fn lcm(self, other: Rational) -> Rational {
        if self.is_zero() || other.is_zero() {
            return Rational::ZERO;
        }
        let num = lcm_i128(self.num as i128, other.num as i128);
        let den = gcd_u128(self.den as u128, other.den as u128) as i128;
        Self::reduce(num.abs(), den)
    }
}

fn lcm_i128(a: i128, b: i128) -> i128 {
    let g = gcd_u128(a.unsigned_abs(), b.unsigned_abs()) as i128;
    (a / g) * b
}

/// fraction.js's Farey search for `p` in `(0, 1)`: the same float comparisons in the same
/// order, so the same fraction comes out. Runs of steps in one direction are taken in
/// one go by a binary search that makes exactly the comparisons the plain walk would.
fn farey(p: f64) -> (u64, u64) {
    const N: u64 = 10_000_000;
    let (mut a, mut b, mut c, mut d) = (0u64, 1u64, 1u64, 1u64);
    let mediant = |a: u64, b: u64, c: u64, d: u64| (a + c) as f64 / (b + d) as f64;
    while b <= N && d <= N {
        let m = mediant(a, b, c, d);
        if p == m {
            return if b + d <= N {
                (a + c, b + d)
            } else if d > b {
                (c, d)
            } else {
                (a, b)
            };
        }
        if p > m {
            // Steps a += c, b += d repeat while p > mediant; find how many in one go.
            let k = run_length(|k| {
                let (na, nb) = (a + k * c, b + k * d);
                nb <= N && p > mediant(na, nb, c, d)
            });
            a += (k + 1) * c;
            b += (k + 1) * d;
        } else {
            let k = run_length(|k| {
                let (nc, nd) = (c + k * a, d + k * b);
                nd <= N && p < mediant(a, b, nc, nd)
            });
            c += (k + 1) * a;
            d += (k + 1) * b;
        }
    }
    if b > N { (c, d) } else { (a, b) }
}

/// Largest `k >= 0` such that `step(1..=k)` all hold, assuming `step` is monotone
/// (true then false). `step(j)` asks whether the walk keeps going after `j` steps.
fn run_length(step: impl Fn(u64) -> bool) -> u64 {
    if !step(1) {
        return 0;
    }
    let mut lo = 1u64;
    let mut hi = 2u64;
    while step(hi) {
        lo = hi;
        hi = hi.saturating_mul(2);
        if hi > 20_000_000 {
            hi = 20_000_000;
            if step(hi) {
                return hi;
            }
            break;
        }
    }
    // step(lo) holds, step(hi) fails.
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if step(mid) { lo = mid } else { hi = mid }
    }
    lo
}

impl Ord for Rational {
    fn cmp(&self, other: &Rational) -> Ordering {
        (self.num as i128 * other.den as i128).cmp(&(other.num as i128 * self.den as i128))
    }
}

impl PartialOrd for Rational {
    fn partial_cmp(&self, other: &Rational) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Add for Rational {
    type Output = Rational;
    fn add(self, o: Rational) -> Rational {
        if self.den == o.den {
            return Self::reduce(self.num as i128 + o.num as i128, self.den as i128);
        }
        // Each product fits in i128; their sum may not (times near ±2^63).
        match (self.num as i128 * o.den as i128).checked_add(o.num as i128 * self.den as i128) {
            Some(num) => Self::reduce(num, self.den as i128 * o.den as i128),
            None => Self::approximate(self.to_f64() + o.to_f64()),
        }
    }
}

impl Sub for Rational {
    type Output = Rational;
    fn sub(self, o: Rational) -> Rational {
        self + (-o)
    }
}

impl Mul for Rational {
    type Output = Rational;
    fn mul(self, o: Rational) -> Rational {
        Self::reduce(self.num as i128 * o.num as i128, self.den as i128 * o.den as i128)
    }
}

impl Div for Rational {
    type Output = Rational;
    /// Division by zero gives zero: callers check (as Strudel does) before dividing, and
    /// a zero that arrives anyway (a divisor too small to represent) must not panic.
    fn div(self, o: Rational) -> Rational {
        if o.num == 0 {
            return Rational::ZERO;
        }
        Self::reduce(self.num as i128 * o.den as i128, self.den as i128 * o.num as i128)
    }
}

impl Neg for Rational {
    type Output = Rational;
    fn neg(self) -> Rational {
        // Saturates: -i64::MIN does not fit (times this far out are not musical).
        Rational { num: self.num.saturating_neg(), den: self.den }
    }
}

impl From<i64> for Rational {
    fn from(n: i64) -> Rational {
        Rational::int(n)
    }
}

impl fmt::Display for Rational {
    /// `3/4`, or `2` for whole numbers (the form the `query` command prints).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.den == 1 { write!(f, "{}", self.num) } else { write!(f, "{}/{}", self.num, self.den) }
    }
}

impl fmt::Debug for Rational {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::str::FromStr for Rational {
    type Err = String;
    /// Parses `3`, `-1/3` or a decimal such as `0.25`.
    fn from_str(s: &str) -> Result<Rational, String> {
        let s = s.trim();
        if let Some((n, d)) = s.split_once('/') {
            let n: i64 = n.trim().parse().map_err(|_| format!("not a fraction: {s}"))?;
            let d: i64 = d.trim().parse().map_err(|_| format!("not a fraction: {s}"))?;
            if d == 0 {
                return Err(format!("zero denominator: {s}"));
            }
            return Ok(Rational::new(n, d));
        }
        if let Ok(n) = s.parse::<i64>() {
            return Ok(Rational::int(n));
        }
        let x: f64 = s.parse().map_err(|_| format!("not a number: {s}"))?;
        Rational::from_f64(x).ok_or_else(|| format!("not a finite number: {s}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(n: i64, d: i64) -> Rational {
        Rational::new(n, d)
    }

    /// The plain fraction.js walk, one step at a time, to check the accelerated one.
    fn farey_slow(p: f64) -> (u64, u64) {
        let n = 10_000_000u64;
        let (mut a, mut b, mut c, mut d) = (0u64, 1u64, 1u64, 1u64);
        let (mut rn, mut rd) = (0, 1);
        while b <= n && d <= n {
            let m = (a + c) as f64 / (b + d) as f64;
            if p == m {
                return if b + d <= n {
                    (a + c, b + d)
                } else if d > b {
                    (c, d)
                } else {
                    (a, b)
                };
            }
            if p > m {
                a += c;
                b += d;
            } else {
                c += a;
                d += b;
            }
            if b > n {
                (rn, rd) = (c, d);
            } else {
                (rn, rd) = (a, b);
            }
        }
        (rn, rd)
    }

    #[test]
    fn floats_become_the_fractions_fraction_js_makes() {
        assert_eq!(Rational::from_f64(0.25), Some(r(1, 4)));
        assert_eq!(Rational::from_f64(0.1), Some(r(1, 10)));
        assert_eq!(Rational::from_f64(1.0 / 3.0), Some(r(1, 3)));
        assert_eq!(Rational::from_f64(-0.125), Some(r(-1, 8)));
        assert_eq!(Rational::from_f64(1.5), Some(r(3, 2)));
        assert_eq!(Rational::from_f64(0.0003), Some(r(3, 10000)));
        assert_eq!(Rational::from_f64(12.0), Some(r(12, 1)));
        assert_eq!(Rational::from_f64(f64::NAN), None);
    }

    #[test]
    fn accelerated_farey_walk_equals_the_plain_one() {
        for x in [
            0.0003,
            0.0006,
            0.0009000000000000001,
            0.3,
            std::f64::consts::FRAC_1_SQRT_2,
            0.123456789,
            1e-6,
            0.999999,
            0.5,
            0.33,
            0.0012,
        ] {
            assert_eq!(farey(x), farey_slow(x), "for {x}");
        }
    }

    #[test]
    fn arithmetic_is_exact_and_reduced() {
        assert_eq!(r(1, 3) + r(1, 6), r(1, 2));
        assert_eq!(r(1, 3) * r(3, 4), r(1, 4));
        assert_eq!(r(-7, 4).floor(), r(-2, 1));
        assert_eq!(r(7, 4).cycle_pos(), r(3, 4));
        assert_eq!(r(2, 3).lcm(r(3, 4)), r(6, 1));
        assert_eq!(r(1, 2).to_string(), "1/2");
        assert_eq!("-1/3".parse::<Rational>().unwrap(), r(-1, 3));
    }
}
