//! Mini-notation: Tidal's compact rhythm language, parsed and turned into patterns
//! exactly as Strudel does (`"bd*2 [sn cp]"`, `"<a b>"`, `"bd(3,8)"`, `"hh?"`, ...).

pub mod parse;

use std::sync::Arc;

pub use parse::MiniError;
use parse::{Alignment, Element, Group, Node, Op};

use super::core::{Pattern, fastcat, pure, silence, stack, timecat};
use super::ops::Pat;
use super::rational::Rational;
use super::signals::{choose_in_with, rand};
use super::value::{Value, js_number};

/// Strudel's seed spacing for `?` and `|`: each gets `rand` shifted by `0.0003 * seed`.
const RAND_OFFSET: f64 = 0.0003;

/// Parses mini-notation into a pattern.
pub fn mini(text: &str) -> Result<Pat, MiniError> {
    let ast = parse::parse(text)?;
    Ok(build(&ast).0)
}

fn atom_value(text: &str) -> Value {
    match js_number(text) {
        Some(x) => Value::num(x),
        None => Value::str(text),
    }
}

/// Builds a node; also returns its total weight (for `{}` and `<>`).
fn build(node: &Node) -> (Pat, Rational) {
    match node {
        Node::Atom(text) if text == "~" || text == "-" => (silence(), Rational::ONE),
        Node::Atom(text) => (pure(atom_value(text)), Rational::ONE),
        Node::Group(g) => build_group(g),
    }
}

fn seeded_rand(seed: u32) -> Pat {
    let offset = Rational::from_f64(RAND_OFFSET * seed as f64).unwrap_or(Rational::ZERO);
    rand().early_r(offset)
}

fn weight_of(e: &Element) -> Rational {
    match e.weight {
        Some(w) if w != 0.0 => Rational::from_f64(w).unwrap_or(Rational::ONE),
        _ => Rational::ONE,
    }
}

fn build_group(g: &Group) -> (Pat, Rational) {
    let children: Vec<(Pat, Rational)> = g
        .children
        .iter()
        .map(|e| {
            let (p, w) = build(&e.node);
            (apply_ops(p, e), w)
        })
        .collect();
    match g.alignment {
        Alignment::Stack => (stack(children.into_iter().map(|c| c.0).collect()), Rational::ONE),
        Alignment::Alternate => (
            stack(children.into_iter().map(|(p, w)| if w.is_zero() { silence() } else { p.slow_r(w) }).collect()),
            Rational::ONE,
        ),
        Alignment::Polymeter => {
            let steps: Pattern<Option<Rational>> = match &g.steps_per_cycle {
                Some(n) => build(n).0.fmap(|v| v.as_rational()),
                None => pure(Some(children.first().map_or(Rational::ONE, |c| c.1))),
            };
            let aligned = children
                .into_iter()
                .map(|(p, w)| {
                    steps.fmap(|x| x).inner_bind(move |x| match x {
                        Some(x) if !w.is_zero() => p.fast_r(x / w),
                        _ => silence(),
                    })
                })
                .collect();
            (stack(aligned), Rational::ONE)
        }
        Alignment::Random => {
            let pat = seeded_rand(g.seed.unwrap_or(0)).segment(&pure(Value::Int(1)));
            (choose_in_with(&pat, children.into_iter().map(|c| c.0).collect()), Rational::ONE)
        }
        Alignment::Feet => (fastcat(children.into_iter().map(|c| c.0).collect()), Rational::ONE),
        Alignment::Sequence => {
            let weighted = g.children.iter().any(|e| e.weight.is_some_and(|w| w != 0.0));
            let weights: Vec<Rational> = g.children.iter().map(weight_of).collect();
            let total = weights.iter().fold(Rational::ZERO, |a, w| a + *w);
            let pats: Vec<Pat> = children.into_iter().map(|c| c.0).collect();
            if weighted {
                (timecat(weights.into_iter().zip(pats).collect()), total)
            } else {
                let n = Rational::int(pats.len() as i64);
                (fastcat(pats), n)
            }
        }
    }
}

fn apply_ops(mut pat: Pat, e: &Element) -> Pat {
    for op in &e.ops {
        pat = match op {
            Op::Stretch { fast, amount } => {
                let amount = build(amount).0;
                if *fast { pat.fast(&amount) } else { pat.slow(&amount) }
            }
            Op::Replicate(n) => match Rational::from_f64(*n) {
                Some(r) if r > Rational::ZERO => pat.repeat_cycles(r).fast_r(r),
                _ => silence(),
            },
            Op::Euclid { pulse, step, rotation } => {
                let (k, n) = (build(&pulse.node).0, build(&step.node).0);
                match rotation {
                    Some(r) => pat.euclid_rot(&k, &n, &build(&r.node).0),
                    None => pat.euclid(&k, &n),
                }
            }
            Op::Degrade { amount, seed } => pat.degrade_by_with(&seeded_rand(*seed), amount.unwrap_or(0.5)),
            Op::Tail(friend) => {
                let friend = build(friend).0;
                pat.app_left(&friend, |a, b| match a {
                    Value::List(items) => {
                        let mut items = (**items).clone();
                        items.push(b.clone());
                        Value::List(Arc::new(items))
                    }
                    a => Value::List(Arc::new(vec![a.clone(), b.clone()])),
                })
            }
            Op::Range(friend) => {
                let friend = build(friend).0;
                pat.squeeze_bind(move |a| {
                    friend.bind(move |b| match (a.as_number(), b.as_number()) {
                        (Some(x), Some(y)) => {
                            let len = ((y - x).abs() + 1.0).floor().max(0.0) as usize;
                            let len = len.min(10_000);
                            fastcat(
                                (0..len)
                                    .map(|i| pure(Value::num(if x < y { x + i as f64 } else { x - i as f64 })))
                                    .collect(),
                            )
                        }
                        _ => silence(),
                    })
                })
            }
        };
    }
    pat
}

#[cfg(test)]
mod tests {
    use super::*;

    fn first_cycle(text: &str) -> Vec<String> {
        let mut haps = mini(text).unwrap().query_span(Rational::ZERO, Rational::ONE);
        haps.sort_by_key(|h| h.part.begin);
        haps.iter().map(|h| format!("{}-{} {}", h.part.begin, h.part.end, h.value)).collect()
    }

    #[test]
    fn sequences_divide_the_cycle() {
        assert_eq!(first_cycle("a b"), vec!["0-1/2 a", "1/2-1 b"]);
        assert_eq!(first_cycle("a [b c]"), vec!["0-1/2 a", "1/2-3/4 b", "3/4-1 c"]);
        assert_eq!(first_cycle("a@3 b"), vec!["0-3/4 a", "3/4-1 b"]);
        assert_eq!(first_cycle("a ~ b"), vec!["0-1/3 a", "2/3-1 b"]);
    }

    #[test]
    fn numbers_become_numbers() {
        let haps = mini("1 -2 0.5 c4").unwrap().query_span(Rational::ZERO, Rational::ONE);
        let mut values: Vec<(Rational, String)> = haps.iter().map(|h| (h.part.begin, h.value.to_json())).collect();
        values.sort();
        let values: Vec<String> = values.into_iter().map(|v| v.1).collect();
        assert_eq!(values, vec!["1", "-2", "0.5", "\"c4\""]);
    }
}
