//! Helpers shared by the integration tests.
#![allow(dead_code)]

use rhaithm::pattern::Rational;
use rhaithm::pattern::value::write_js_number;
use serde_json::Value as Json;

/// JSON text with numbers as JavaScript prints them (the oracle's sort key).
pub fn canon(v: &Json) -> String {
    match v {
        Json::Number(n) => {
            let mut s = String::new();
            write_js_number(n.as_f64().unwrap_or(f64::NAN), &mut s);
            s
        }
        Json::Array(a) => format!("[{}]", a.iter().map(canon).collect::<Vec<_>>().join(",")),
        Json::Object(m) => format!(
            "{{{}}}",
            m.iter().map(|(k, v)| format!("{}:{}", Json::String(k.clone()), canon(v))).collect::<Vec<_>>().join(",")
        ),
        other => other.to_string(),
    }
}

/// Sorts haps as the oracle does: by the JSON of `[part, whole, value]`.
pub fn sort_like_oracle(haps: &mut [Json]) {
    haps.sort_by_cached_key(|h| canon(&Json::Array(vec![h["part"].clone(), h["whole"].clone(), h["value"].clone()])));
}

/// Structural equality with numbers equal to 1e-9 (relative).
pub fn same(a: &Json, b: &Json) -> bool {
    match (a, b) {
        (Json::Number(x), Json::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap_or(f64::NAN), y.as_f64().unwrap_or(f64::NAN));
            x == y || (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0)
        }
        (Json::Array(x), Json::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b)),
        (Json::Object(x), Json::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        (x, y) => x == y,
    }
}

/// The haps of an expression over `[from, to)` as JSON values, sorted like the oracle.
pub fn haps_json(expr: &str, from: Rational, to: Rational) -> Result<Vec<Json>, String> {
    let engine = rhaithm::script::ScriptEngine::new(expr, None);
    let pat = engine.eval_pattern().map_err(|e| e.to_string())?;
    let lines = rhaithm::query::query_lines(&pat, from, to);
    if let Some(e) = engine.runtime().take_error() {
        return Err(e.to_string());
    }
    let mut haps: Vec<Json> = lines.iter().map(|l| serde_json::from_str(l).expect("valid JSON")).collect();
    sort_like_oracle(&mut haps);
    Ok(haps)
}
