//! Property tests for the pattern algebra: identities that must hold for any pattern.

use std::collections::BTreeMap;

use proptest::prelude::*;
use rhaithm::pattern::{Hap, Pat, Rational, Value, mini, pure};

/// Random mini-notation built from the grammar's pieces.
fn mini_text() -> impl Strategy<Value = String> {
    let atom = prop_oneof!["bd", "sn", "hh", "~", "0", "3", "c4"].prop_map(String::from);
    atom.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 1..4).prop_map(|v| v.join(" ")),
            prop::collection::vec(inner.clone(), 1..4).prop_map(|v| format!("[{}]", v.join(" "))),
            prop::collection::vec(inner.clone(), 1..4).prop_map(|v| format!("<{}>", v.join(" "))),
            prop::collection::vec(inner.clone(), 2..3).prop_map(|v| format!("[{}]", v.join(", "))),
            (inner.clone(), 2..4u32).prop_map(|(a, n)| format!("[{a}]*{n}")),
            (inner.clone(), 2..4u32).prop_map(|(a, n)| format!("[{a}]/{n}")),
            (inner.clone(), 2..4u32).prop_map(|(a, n)| format!("[{a}]!{n}")),
            (inner.clone(), 2..4u32).prop_map(|(a, n)| format!("[{a}]@{n}")),
            inner.clone().prop_map(|a| format!("[{a}]?")),
            (inner, 1..5u32, 5..9u32).prop_map(|(a, k, n)| format!("[{a}]({k},{n})")),
        ]
    })
}

fn ratio() -> impl Strategy<Value = Rational> {
    (1i64..6, 1i64..4).prop_map(|(n, d)| Rational::new(n, d))
}

fn span() -> impl Strategy<Value = (Rational, Rational, Rational)> {
    (0i64..16, 1i64..16, 1i64..16, 1i64..4).prop_map(|(a, b, c, d)| {
        let start = Rational::new(a, d);
        let mid = start + Rational::new(b, 4);
        (start, mid, mid + Rational::new(c, 4))
    })
}

type Key = (Option<(Rational, Rational)>, String);

/// Haps joined back into whole events: for each (whole, value), the sorted, merged parts.
fn defragment(haps: &[Hap<Value>]) -> BTreeMap<Key, Vec<(Rational, Rational)>> {
    let mut map: BTreeMap<Key, Vec<(Rational, Rational)>> = BTreeMap::new();
    for h in haps {
        let key = (h.whole.map(|w| (w.begin, w.end)), h.value.to_json());
        map.entry(key).or_default().push((h.part.begin, h.part.end));
    }
    for parts in map.values_mut() {
        parts.sort();
        let mut merged: Vec<(Rational, Rational)> = Vec::new();
        // Identical events can be stacked: join each fragment to any one that ends where it starts.
        for p in parts.drain(..) {
            match merged.iter_mut().find(|m| m.1 == p.0 && m.0 < m.1) {
                Some(m) => m.1 = p.1,
                None => merged.push(p),
            }
        }
        merged.sort();
        *parts = merged;
    }
    map
}

fn events(p: &Pat, from: Rational, to: Rational) -> BTreeMap<Key, Vec<(Rational, Rational)>> {
    defragment(&p.query_span(from, to))
}

fn r(n: i64) -> Pat {
    pure(Value::Int(n))
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::with_cases(200) })]

    #[test]
    fn fast_then_slow_is_identity(text in mini_text(), k in ratio(), (a, _, c) in span()) {
        let p = mini(&text).unwrap();
        let k = pure(Value::num(k.to_f64()));
        prop_assert_eq!(events(&p.fast(&k).slow(&k), a, c), events(&p, a, c));
    }

    #[test]
    fn rev_twice_is_identity(text in mini_text(), (a, _, c) in span()) {
        let p = mini(&text).unwrap();
        prop_assert_eq!(events(&p.rev().rev(), a, c), events(&p, a, c));
    }

    #[test]
    fn early_then_late_is_identity(text in mini_text(), k in ratio(), (a, _, c) in span()) {
        let p = mini(&text).unwrap();
        let k = pure(Value::num(k.to_f64()));
        prop_assert_eq!(events(&p.early(&k).late(&k), a, c), events(&p, a, c));
    }

    #[test]
    fn a_span_is_the_union_of_its_halves(text in mini_text(), (a, b, c) in span()) {
        let p = mini(&text).unwrap();
        let mut halves = p.query_span(a, b);
        halves.extend(p.query_span(b, c));
        prop_assert_eq!(defragment(&halves), events(&p, a, c));
    }

    #[test]
    fn parts_lie_inside_wholes_and_the_query(text in mini_text(), (a, _, c) in span()) {
        let p = mini(&text).unwrap().first_of(&r(2), std::sync::Arc::new(|x: Pat| x.fast(&r(2))));
        for h in p.query_span(a, c) {
            prop_assert!(h.part.begin >= a && h.part.end <= c);
            let w = h.whole.expect("discrete");
            prop_assert!(w.begin <= h.part.begin && h.part.end <= w.end);
        }
    }

    #[test]
    fn degrade_and_undegrade_split_the_events(text in mini_text(), (a, _, c) in span()) {
        let p = mini(&text).unwrap();
        let half = pure(Value::num(0.5));
        let mut both = p.degrade_by(&half).query_span(a, c);
        both.extend(p.undegrade_by(&half).query_span(a, c));
        // Exactly the original events (a hap at rand == 0.5 exactly would fall in neither).
        prop_assert_eq!(defragment(&both), events(&p, a, c));
    }
}

#[test]
fn patterns_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Pat>();
    assert_send_sync::<rhaithm::pattern::PatFn>();
    assert_send_sync::<rhaithm::script::Runtime>();
}
