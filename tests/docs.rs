//! Every example in docs/patterns.md evaluates and, unless it is `silence`, makes events.

use rhaithm::pattern::Rational;

fn examples() -> Vec<String> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/patterns.md")).expect("docs");
    let mut out = Vec::new();
    for line in text.lines().filter(|l| l.starts_with('|')) {
        // The last cell holds the examples, in backticks.
        let cell = line.trim_end_matches('|').rsplit(" | ").next().unwrap_or("").replace("\\|", "|");
        for (i, part) in cell.split('`').enumerate() {
            let starts = ["s(", "n(", "note(", "stack(", "cat(", "seq(", "timecat(", "randcat(", "mini(", "sound("];
            if i % 2 == 1 && starts.iter().any(|s| part.starts_with(s)) {
                out.push(part.to_string());
            }
        }
    }
    out
}

#[test]
fn every_documented_example_runs() {
    let examples = examples();
    assert!(examples.len() > 60, "found only {} examples", examples.len());
    let mut failures = Vec::new();
    for ex in &examples {
        match rhaithm::script::eval_pattern(ex) {
            Ok(p) if p.query_span(Rational::ZERO, Rational::int(4)).is_empty() => {
                failures.push(format!("{ex}: no events"))
            }
            Ok(_) => {}
            Err(e) => failures.push(format!("{ex}: {e}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
