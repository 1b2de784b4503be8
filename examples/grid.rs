//! Prints a pattern as a step grid, one row per sound: a quick way to see a rhythm.
//!
//! ```sh
//! cargo run --example grid -- 's("bd(3,8), hh*8?, ~ sn").every(2, |x| x.rev())' 2 16
//! ```
//! Arguments: the expression, how many cycles (default 1), steps per cycle (default 16).

use std::collections::BTreeMap;

use rhaithm::pattern::Rational;

fn main() {
    let mut args = std::env::args().skip(1);
    let expr = args.next().unwrap_or_else(|| r#"s("bd(3,8), hh*8, ~ sn")"#.to_string());
    let cycles: i64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1);
    let steps: i64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(16);
    let pattern = match rhaithm::script::eval_pattern(&expr) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let width = (cycles * steps) as usize;
    let mut rows: BTreeMap<String, Vec<char>> = BTreeMap::new();
    for hap in pattern.query_span(Rational::ZERO, Rational::int(cycles)) {
        if !hap.has_onset() {
            continue;
        }
        let name = match hap.value.as_map().and_then(|m| m.get("s")) {
            Some(s) => s.to_string(),
            None => hap.value.to_string(),
        };
        let step = (hap.part.begin * Rational::int(steps)).floor_i64() as usize;
        rows.entry(name).or_insert_with(|| vec!['.'; width])[step.min(width - 1)] = 'x';
    }
    for (name, cells) in rows {
        let line: String =
            cells.chunks(steps as usize).map(|c| c.iter().collect::<String>()).collect::<Vec<_>>().join("|");
        println!("{name:>6} |{line}|");
    }
}
