//! Haps as JSON lines, the output of `rhaithm query`:
//! `{"whole":["0","1/8"],"part":["0","1/8"],"value":{"s":"bd"}}`.

use crate::pattern::{Hap, Rational, Span, Value};

fn write_span(span: &Span, out: &mut String) {
    out.push_str("[\"");
    out.push_str(&span.begin.to_string());
    out.push_str("\",\"");
    out.push_str(&span.end.to_string());
    out.push_str("\"]");
}

/// One hap as a JSON object: times as reduced fractions in strings, `whole` null for
/// continuous haps, the value as the pattern holds it.
pub fn hap_to_json(hap: &Hap<Value>) -> String {
    let mut out = String::from("{\"whole\":");
    match &hap.whole {
        Some(w) => write_span(w, &mut out),
        None => out.push_str("null"),
    }
    out.push_str(",\"part\":");
    write_span(&hap.part, &mut out);
    out.push_str(",\"value\":");
    hap.value.write_json(&mut out);
    out.push('}');
    out
}

/// Sorts haps by onset (part start, then part end, then whole), the order `query` prints.
pub fn sort_haps(haps: &mut [Hap<Value>]) {
    let key = |h: &Hap<Value>| {
        let w = h.whole.unwrap_or(h.part);
        (h.part.begin, h.part.end, w.begin, w.end)
    };
    haps.sort_by_key(key);
}

/// The JSON lines for the haps of `pattern` between `from` and `to`, sorted.
pub fn query_lines(pattern: &crate::pattern::Pat, from: Rational, to: Rational) -> Vec<String> {
    let mut haps = pattern.query_span(from, to);
    sort_haps(&mut haps);
    haps.iter().map(hap_to_json).collect()
}
