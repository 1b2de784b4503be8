//! Every case Strudel 1.2.6 computed (tests/conformance/expected.json, made by the
//! oracle in shared/conformance) must come out of rhaithm event for event: the same
//! wholes, the same parts (fragments included) and the same values.

mod common;

use common::{canon, haps_json, same, sort_like_oracle};
use rhaithm::pattern::Rational;
use serde_json::Value as Json;

fn check_file(path: &str) {
    let text = std::fs::read_to_string(path).expect("expected.json");
    let cases: Vec<Json> = serde_json::from_str(&text).expect("valid JSON");
    let mut failures = Vec::new();
    for case in &cases {
        let expr = case["expr"].as_str().expect("expr");
        let from = Rational::from_f64(case["from"].as_f64().unwrap_or(0.0)).expect("from");
        let to = Rational::from_f64(case["to"].as_f64().unwrap_or(4.0)).expect("to");
        let mut expected: Vec<Json> = case["haps"].as_array().expect("haps").clone();
        sort_like_oracle(&mut expected);
        match haps_json(expr, from, to) {
            Err(e) => failures.push(format!("{expr}: error {e}")),
            Ok(got) => {
                if got.len() != expected.len() || !got.iter().zip(&expected).all(|(a, b)| same(a, b)) {
                    let first = got.iter().zip(&expected).position(|(a, b)| !same(a, b));
                    let detail = match first {
                        Some(i) => {
                            format!("first difference at #{i}: got {} expected {}", canon(&got[i]), canon(&expected[i]))
                        }
                        None => format!("got {} haps, expected {}", got.len(), expected.len()),
                    };
                    failures.push(format!("{expr}: {detail}"));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ from Strudel:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn shared_conformance_cases_match_strudel() {
    check_file(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/conformance/expected.json"));
}

/// 140 more expressions, covering every function and mini-notation feature rhaithm
/// implements, computed by the same oracle (see tests/conformance/README.md).
#[test]
fn extra_conformance_cases_match_strudel() {
    check_file(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/conformance/extra_expected.json"));
}
