//! The values patterns carry: numbers, strings, booleans, lists and control maps.
//!
//! Arithmetic follows JavaScript as Strudel uses it (numbers are doubles; a note name
//! such as `c4` counts as its MIDI number in arithmetic), so results match Strudel to the
//! last bit. Integers stay integers while the arithmetic is exact, for readable output.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::sync::Arc;

use super::rational::Rational;

/// A control map: control name to value, sorted by name.
pub type ValueMap = BTreeMap<Arc<str>, Value>;

/// A value carried by a pattern's haps.
#[derive(Clone, Debug)]
pub enum Value {
    /// A whole number.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string (a sound name, a note name, a vowel...).
    Str(Arc<str>),
    /// A boolean (from structure patterns such as `segment`).
    Bool(bool),
    /// A list (from mini-notation's `a:b` tails).
    List(Arc<Vec<Value>>),
    /// A control map such as `{s: "bd", n: 3}`.
    Map(Arc<ValueMap>),
}

impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Str(a), Value::Str(b)) => a == b,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::List(a), Value::List(b)) => a == b,
            (Value::Map(a), Value::Map(b)) => a == b,
            (a, b) => match (a.as_number(), b.as_number()) {
                (Some(x), Some(y)) if a.is_number() && b.is_number() => x == y,
                _ => false,
            },
        }
    }
}

impl Value {
    /// A string value.
    pub fn str(s: &str) -> Value {
        Value::Str(Arc::from(s))
    }

    /// A map with one entry.
    pub fn map1(key: &str, value: Value) -> Value {
        let mut m = ValueMap::new();
        m.insert(Arc::from(key), value);
        Value::Map(Arc::new(m))
    }

    /// A float that becomes an integer when it is one (as JavaScript prints it).
    pub fn num(x: f64) -> Value {
        if x.fract() == 0.0 && x.abs() < 9.007_199_254_740_992e15 && !(x == 0.0 && x.is_sign_negative()) {
            Value::Int(x as i64)
        } else {
            Value::Float(x)
        }
    }

    /// Whether this is a number.
    pub fn is_number(&self) -> bool {
        matches!(self, Value::Int(_) | Value::Float(_))
    }

    /// The number this value is, as JavaScript's `Number(x)` gives it (strings are
    /// parsed, booleans are 0 or 1), or `None` for NaN.
    pub fn as_number(&self) -> Option<f64> {
        let x = match self {
            Value::Int(i) => *i as f64,
            Value::Float(f) => *f,
            Value::Bool(b) => f64::from(u8::from(*b)),
            Value::Str(s) => js_number(s)?,
            Value::List(l) if l.len() == 1 => l[0].as_number()?,
            Value::List(l) if l.is_empty() => 0.0,
            _ => return None,
        };
        (!x.is_nan()).then_some(x)
    }

    /// Strudel's `parseNumeral`: a number, or a note name as its MIDI number.
    pub fn as_numeral(&self) -> Option<f64> {
        self.as_number().or_else(|| match self {
            Value::Str(s) => note_to_midi(s),
            _ => None,
        })
    }

    /// The value as a rational time (as `Fraction(x)` would make it).
    pub fn as_rational(&self) -> Option<Rational> {
        match self {
            Value::Int(i) => Some(Rational::int(*i)),
            other => Rational::from_f64(other.as_number()?),
        }
    }

    /// The value as an integer count (truncated towards zero, as `Array(n)` would need).
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            other => {
                let x = other.as_number()?;
                x.is_finite().then_some(x.trunc() as i64)
            }
        }
    }

    /// JavaScript truthiness.
    pub fn truthy(&self) -> bool {
        match self {
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0 && !f.is_nan(),
            Value::Str(s) => !s.is_empty(),
            Value::Bool(b) => *b,
            Value::List(_) | Value::Map(_) => true,
        }
    }

    /// The control map, if this is one.
    pub fn as_map(&self) -> Option<&ValueMap> {
        match self {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Writes the value as JSON, numbers as JavaScript prints them.
    pub fn write_json(&self, out: &mut String) {
        match self {
            Value::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Value::Float(f) => write_js_number(*f, out),
            Value::Str(s) => write_json_string(s, out),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::List(l) => {
                out.push('[');
                for (i, v) in l.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.write_json(out);
                }
                out.push(']');
            }
            Value::Map(m) => {
                out.push('{');
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_json_string(k, out);
                    out.push(':');
                    v.write_json(out);
                }
                out.push('}');
            }
        }
    }

    /// The value as JSON text.
    pub fn to_json(&self) -> String {
        let mut s = String::new();
        self.write_json(&mut s);
        s
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Str(s) => f.write_str(s),
            other => f.write_str(&other.to_json()),
        }
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Value {
        Value::Int(i)
    }
}

impl From<f64> for Value {
    fn from(x: f64) -> Value {
        Value::Float(x)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::str(s)
    }
}

/// Writes a float the way JavaScript's `String(x)` does for the common range.
pub fn write_js_number(x: f64, out: &mut String) {
    if !x.is_finite() {
        // JSON has no NaN or infinity; JSON.stringify writes null.
        out.push_str("null");
    } else if x == 0.0 {
        out.push('0');
    } else if x.abs() >= 1e21 || x.abs() < 1e-6 {
        let s = format!("{x:e}");
        // Rust writes 1e-7 and 1.5e22; JavaScript writes 1e-7 and 1.5e+22.
        match s.split_once('e') {
            Some((m, e)) if !e.starts_with('-') => {
                let _ = write!(out, "{m}e+{e}");
            }
            _ => out.push_str(&s),
        }
    } else {
        let _ = write!(out, "{x}");
    }
}

fn write_json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// JavaScript's `Number(string)`: decimal, `0x`/`0o`/`0b` integers, `Infinity`, and
/// `0` for blank text. `None` where JavaScript gives NaN.
pub fn js_number(s: &str) -> Option<f64> {
    let t = s.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
    if t.is_empty() {
        return Some(0.0);
    }
    for (prefix, radix) in [("0x", 16), ("0X", 16), ("0o", 8), ("0O", 8), ("0b", 2), ("0B", 2)] {
        if let Some(digits) = t.strip_prefix(prefix) {
            return u64::from_str_radix(digits, radix).ok().map(|v| v as f64);
        }
    }
    let unsigned = t.strip_prefix(['+', '-']).unwrap_or(t);
    if unsigned == "Infinity" {
        return Some(if t.starts_with('-') { f64::NEG_INFINITY } else { f64::INFINITY });
    }
    // Only plain decimal syntax: Rust would also accept "inf", "nan" and "1_0".
    let valid = unsigned.chars().all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'))
        && unsigned.chars().next().is_some_and(|c| c.is_ascii_digit() || c == '.');
    if !valid {
        return None;
    }
    t.parse::<f64>().ok()
}

/// Whether a string is a note name: a letter `a`-`g`, accidentals (`#`, `b`, `s`, `f`)
/// and an optional octave, as Strudel's `isNote`.
pub fn is_note(s: &str) -> bool {
    tokenize_note(s).is_some()
}

fn tokenize_note(s: &str) -> Option<(char, &str, Option<i64>)> {
    let mut chars = s.char_indices();
    let (_, pc) = chars.next()?;
    if !matches!(pc.to_ascii_lowercase(), 'a'..='g') {
        return None;
    }
    let rest = &s[pc.len_utf8()..];
    let acc_len = rest.find(|c: char| !matches!(c, '#' | 'b' | 's' | 'f')).unwrap_or(rest.len());
    let (acc, oct) = rest.split_at(acc_len);
    let digits = oct.strip_prefix('-').unwrap_or(oct);
    if !digits.chars().all(|c| c.is_ascii_digit()) || (oct.starts_with('-') && digits.is_empty()) {
        return None;
    }
    let octave = if digits.is_empty() { None } else { oct.parse().ok() };
    Some((pc, acc, octave))
}

/// A note name's MIDI number (`c4` = 60, default octave 3), as Strudel's `noteToMidi`.
pub fn note_to_midi(s: &str) -> Option<f64> {
    let (pc, acc, octave) = tokenize_note(s)?;
    let chroma = match pc.to_ascii_lowercase() {
        'c' => 0,
        'd' => 2,
        'e' => 4,
        'f' => 5,
        'g' => 7,
        'a' => 9,
        _ => 11,
    };
    let offset: i64 = acc.chars().map(|c| if matches!(c, '#' | 's') { 1 } else { -1 }).sum();
    // Computed in floats: an octave of 999999999999999999 is absurd, not a crash.
    let octave: i64 = octave.unwrap_or(3);
    Some((octave as f64 + 1.0) * 12.0 + chroma as f64 + offset as f64)
}

/// A binary numeric operator in JavaScript's terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NumOp {
    /// `a + b`
    Add,
    /// `a - b`
    Sub,
    /// `a * b`
    Mul,
    /// `a / b`
    Div,
    /// `((a % b) + b) % b`
    Mod,
    /// `a ** b`
    Pow,
}

impl NumOp {
    /// Applies the operator to two numbers.
    pub fn apply_f64(self, a: f64, b: f64) -> f64 {
        match self {
            NumOp::Add => a + b,
            NumOp::Sub => a - b,
            NumOp::Mul => a * b,
            NumOp::Div => a / b,
            NumOp::Mod => ((a % b) + b) % b,
            NumOp::Pow => a.powf(b),
        }
    }

    /// Applies the operator to two values as Strudel's numeral arithmetic does:
    /// both sides become numbers (note names count as MIDI numbers). Integers stay
    /// integers where the result is exact. `None` where a side is not numeric.
    pub fn apply(self, a: &Value, b: &Value) -> Option<Value> {
        if let (Value::Int(x), Value::Int(y)) = (a, b) {
            let exact = match self {
                NumOp::Add => x.checked_add(*y),
                NumOp::Sub => x.checked_sub(*y),
                NumOp::Mul => x.checked_mul(*y),
                NumOp::Mod if *y != 0 => {
                    x.checked_rem(*y).and_then(|r| r.checked_add(*y)).and_then(|r| r.checked_rem(*y))
                }
                _ => None,
            };
            if let Some(v) = exact {
                return Some(Value::Int(v));
            }
        }
        let x = a.as_numeral()?;
        let y = b.as_numeral()?;
        Some(Value::num(self.apply_f64(x, y)))
    }
}

/// Combines two values with `f` as Strudel's operators do: maps are merged key by key
/// (`f` applied where both have a key); a plain value next to a map stands for `{value: x}`.
pub fn compose(a: &Value, b: &Value, f: &dyn Fn(&Value, &Value) -> Option<Value>) -> Option<Value> {
    match (a, b) {
        (Value::Map(_), _) | (_, Value::Map(_)) => {
            let wrap = |v: &Value| match v {
                Value::Map(m) => m.clone(),
                other => {
                    let mut m = ValueMap::new();
                    m.insert(Arc::from("value"), other.clone());
                    Arc::new(m)
                }
            };
            let (am, bm) = (wrap(a), wrap(b));
            // Arithmetic between a control map and a bare number does nothing (Strudel warns).
            if bm.len() == 1 && bm.contains_key("value") {
                return Some(Value::Map(am));
            }
            let mut out = (*am).clone();
            for (k, bv) in bm.iter() {
                let v = match am.get(k) {
                    Some(av) => f(av, bv)?,
                    None => bv.clone(),
                };
                out.insert(k.clone(), v);
            }
            Some(Value::Map(Arc::new(out)))
        }
        _ => f(a, b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_like_javascript() {
        assert_eq!(Value::Float(4.0).to_json(), "4");
        assert_eq!(Value::Float(0.25).to_json(), "0.25");
        assert_eq!(Value::Float(3.999999999999999).to_json(), "3.999999999999999");
        assert_eq!(Value::Float(1e-7).to_json(), "1e-7");
        assert_eq!(Value::Float(1.5e22).to_json(), "1.5e+22");
    }

    #[test]
    fn strings_parse_like_javascript_number() {
        assert_eq!(js_number("12"), Some(12.0));
        assert_eq!(js_number("-1.5"), Some(-1.5));
        assert_eq!(js_number(".5"), Some(0.5));
        assert_eq!(js_number("1e3"), Some(1000.0));
        assert_eq!(js_number("0x10"), Some(16.0));
        assert_eq!(js_number("bd"), None);
        assert_eq!(js_number("inf"), None);
        assert_eq!(js_number("-"), None);
    }

    #[test]
    fn note_names_become_midi_numbers() {
        assert_eq!(note_to_midi("c4"), Some(60.0));
        assert_eq!(note_to_midi("a4"), Some(69.0));
        assert_eq!(note_to_midi("c#3"), Some(49.0));
        assert_eq!(note_to_midi("eb3"), Some(51.0));
        assert_eq!(note_to_midi("e"), Some(52.0));
        assert_eq!(note_to_midi("bd"), None);
        assert_eq!(note_to_midi("c-1"), Some(0.0));
    }

    #[test]
    fn arithmetic_follows_javascript() {
        assert_eq!(NumOp::Add.apply(&Value::Int(2), &Value::Int(3)), Some(Value::Int(5)));
        assert_eq!(NumOp::Div.apply(&Value::Int(3), &Value::Int(2)), Some(Value::Float(1.5)));
        assert_eq!(NumOp::Mod.apply(&Value::Int(-1), &Value::Int(12)), Some(Value::Int(11)));
        assert_eq!(NumOp::Add.apply(&Value::str("c4"), &Value::Int(12)), Some(Value::Int(72)));
        assert_eq!(NumOp::Add.apply(&Value::str("bd"), &Value::Int(1)), None);
    }
}
