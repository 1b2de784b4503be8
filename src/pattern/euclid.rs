//! Euclidean rhythms (Bjorklund's algorithm), as Strudel computes them.

use super::core::{fastcat, pure, silence, timecat};
use super::ops::{Pat, patternify};
use super::rational::Rational;
use super::value::Value;

/// The Bjorklund distribution of `ons` onsets over `steps` steps, as 1s and 0s.
/// Negative `ons` inverts the pattern. `None` when `|ons| > steps`.
pub fn bjorklund(ons: i64, steps: i64) -> Option<Vec<u8>> {
    let inverted = ons < 0;
    let ons = ons.saturating_abs();
    let offs = steps.saturating_sub(ons);
    if offs < 0 || steps < 0 {
        return None;
    }
    super::budget::count("euclid steps", steps.max(1))?;
    let mut counts = (ons, offs);
    let mut xs: Vec<Vec<u8>> = vec![vec![1]; ons as usize];
    let mut ys: Vec<Vec<u8>> = vec![vec![0]; offs as usize];
    while counts.0.min(counts.1) > 1 {
        let (on, off) = counts;
        // Pair as many onset groups as there are rest groups (or the reverse); what is
        // left over of the larger side becomes the new remainder.
        let paired = on.min(off) as usize;
        let rest = if on > off { xs.split_off(paired) } else { ys.split_off(paired) };
        xs = xs
            .into_iter()
            .zip(ys)
            .map(|(mut a, b)| {
                a.extend(b);
                a
            })
            .collect();
        ys = rest;
        counts = (on.min(off), on.max(off) - on.min(off));
    }
    let mut out: Vec<u8> = xs.into_iter().flatten().chain(ys.into_iter().flatten()).collect();
    if inverted {
        out.iter_mut().for_each(|x| *x = 1 - *x);
    }
    Some(out)
}

/// Bjorklund rotated left by `rotation` steps (JavaScript `slice` semantics).
fn euclid_rot(pulses: i64, steps: i64, rotation: i64) -> Option<Vec<u8>> {
    let b = bjorklund(pulses, steps)?;
    if rotation == 0 {
        return Some(b);
    }
    let len = b.len() as i64;
    let rotation = rotation.clamp(-len, len);
    // rotate(b, -rotation) = b.slice(-rotation).concat(b.slice(0, -rotation)).
    let at = |i: i64| -> usize { (if i < 0 { (len + i).max(0) } else { i.min(len) }) as usize };
    let n = rotation.saturating_neg();
    let (start, mid) = (at(n), at(n));
    let mut out = b[start..].to_vec();
    out.extend_from_slice(&b[..mid]);
    Some(out)
}

fn bool_seq(bits: &[u8]) -> Pat {
    fastcat(bits.iter().map(|&b| pure(Value::Int(b as i64))).collect())
}

impl Pat {
    /// `pulses` onsets spread over `steps` steps.
    pub fn euclid(&self, pulses: &Pat, steps: &Pat) -> Pat {
        self.euclid_rot(pulses, steps, &pure(Value::Int(0)))
    }

    /// `euclid`, rotated left by `rotation` steps.
    pub fn euclid_rot(&self, pulses: &Pat, steps: &Pat, rotation: &Pat) -> Pat {
        let p = self.clone();
        patternify(&[pulses, steps, rotation], false, move |v| match (v[0].as_int(), v[1].as_int(), v[2].as_int()) {
            (Some(k), Some(n), Some(r)) => match euclid_rot(k, n, r) {
                Some(bits) => p.struct_(&bool_seq(&bits)),
                None => silence(),
            },
            _ => silence(),
        })
    }

    /// Euclidean rhythm where each onset lasts until the next.
    pub fn euclid_legato(&self, pulses: &Pat, steps: &Pat) -> Pat {
        self.euclid_legato_rot(pulses, steps, &pure(Value::Int(0)))
    }

    /// `euclid_legato`, rotated left by `rotation` steps.
    pub fn euclid_legato_rot(&self, pulses: &Pat, steps: &Pat, rotation: &Pat) -> Pat {
        let p = self.clone();
        patternify(&[pulses, steps, rotation], false, move |v| {
            let (Some(k), Some(n), Some(r)) = (v[0].as_int(), v[1].as_int(), v[2].as_int()) else {
                return silence();
            };
            if k < 1 || n == 0 {
                return silence();
            }
            let Some(bits) = bjorklund(k, n) else {
                return silence();
            };
            // Lengths of each onset plus the rests after it.
            let text: String = bits.iter().map(|b| if *b == 1 { '1' } else { '0' }).collect();
            let gapless: Vec<(Rational, Pat)> =
                text.split('1').skip(1).map(|s| (Rational::int(s.len() as i64 + 1), pure(Value::Bool(true)))).collect();
            p.struct_(&timecat(gapless)).late_r(Rational::new(r, n))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(bits: &[u8]) -> String {
        bits.iter().map(|b| if *b == 1 { 'x' } else { '.' }).collect()
    }

    #[test]
    fn classic_rhythms() {
        assert_eq!(s(&bjorklund(3, 8).unwrap()), "x..x..x.");
        assert_eq!(s(&bjorklund(5, 8).unwrap()), "x.xx.xx.");
        assert_eq!(s(&bjorklund(2, 5).unwrap()), "x.x..");
        assert_eq!(s(&bjorklund(-3, 8).unwrap()), ".xx.xx.x");
        assert!(bjorklund(9, 8).is_none());
    }

    #[test]
    fn rotation_follows_strudel() {
        assert_eq!(s(&euclid_rot(3, 8, 2).unwrap()), "x.x..x..");
    }
}
