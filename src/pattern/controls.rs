//! Control setters (`s`, `n`, `note`, `gain`, `lpf`, ...) with Strudel's names, aliases
//! and multi-value forms (`s("bd:3")` sets both `s` and `n`).

use std::sync::Arc;

use super::ops::Pat;
use super::value::{Value, ValueMap};

/// A control: the keys it sets from a list value (the first is its own key) and the
/// names it can be called by.
#[derive(Clone, Copy, Debug)]
pub struct Control {
    /// Keys set, in order, from a `:`-list; the first is the control's own key.
    pub keys: &'static [&'static str],
    /// Names it is called by, its own key included.
    pub names: &'static [&'static str],
}

macro_rules! controls {
    ($( [$($key:literal),+] => [$($name:literal),+] ),* $(,)?) => {
        /// Every control rhaithm knows.
        pub const CONTROLS: &[Control] = &[
            $( Control { keys: &[$($key),+], names: &[$($name),+] } ),*
        ];
    };
}

controls! {
    ["s", "n", "gain"] => ["s", "sound"],
    ["n"] => ["n"],
    ["note", "n"] => ["note"],
    ["freq"] => ["freq"],
    ["gain"] => ["gain"],
    ["postgain"] => ["postgain"],
    ["amp"] => ["amp"],
    ["velocity"] => ["velocity", "vel"],
    ["pan"] => ["pan"],
    ["speed"] => ["speed"],
    ["accelerate"] => ["accelerate"],
    ["unit"] => ["unit"],
    ["begin"] => ["begin"],
    ["end"] => ["end"],
    ["cut"] => ["cut"],
    ["clip"] => ["clip", "legato"],
    ["duration"] => ["duration", "dur"],
    ["attack"] => ["attack", "att"],
    ["decay"] => ["decay", "dec"],
    ["sustain"] => ["sustain", "sus"],
    ["release"] => ["release", "rel"],
    ["cutoff", "resonance", "lpenv"] => ["cutoff", "ctf", "lpf", "lp"],
    ["resonance"] => ["resonance", "lpq"],
    ["hcutoff", "hresonance", "hpenv"] => ["hcutoff", "hpf", "hp"],
    ["hresonance"] => ["hresonance", "hpq"],
    ["bandf", "bandq", "bpenv"] => ["bandf", "bpf", "bp"],
    ["bandq"] => ["bandq", "bpq"],
    ["room", "size"] => ["room"],
    ["roomsize"] => ["roomsize", "size", "sz", "rsize"],
    ["dry"] => ["dry"],
    ["delay", "delaytime", "delayfeedback"] => ["delay"],
    ["delaytime"] => ["delaytime", "delayt", "dt"],
    ["delayfeedback"] => ["delayfeedback", "delayfb", "dfb"],
    ["crush"] => ["crush"],
    ["coarse"] => ["coarse"],
    ["shape", "shapevol"] => ["shape"],
    ["distort", "distortvol", "distorttype"] => ["distort", "dist"],
    ["vowel"] => ["vowel"],
    ["orbit"] => ["orbit", "o"],
    ["bank"] => ["bank"],
    ["detune"] => ["detune", "det"],
    ["channel"] => ["channel"],
    ["midichan"] => ["midichan"],
    ["midiport"] => ["midiport", "midi"],
    ["ccn"] => ["ccn"],
    ["ccv"] => ["ccv"],
    ["progNum"] => ["progNum"],
    ["midibend"] => ["midibend"],
    ["miditouch"] => ["miditouch"],
    ["cps"] => ["cps"],
}

/// Looks a control up by any of its names.
pub fn find(name: &str) -> Option<&'static Control> {
    CONTROLS.iter().find(|c| c.names.contains(&name))
}

impl Control {
    /// The control's own key.
    pub fn key(&self) -> &'static str {
        self.keys[0]
    }

    /// Turns a raw value into a control map, as Strudel's `createParam` does.
    pub fn wrap(&self, value: Value) -> Value {
        let (bag, inner) = match value {
            Value::Map(m) if m.contains_key("value") => {
                let mut bag = (*m).clone();
                let inner = bag.remove("value").unwrap_or(Value::Int(0));
                (Some(bag), inner)
            }
            other => (None, other),
        };
        let mut out = bag.unwrap_or_else(ValueMap::new);
        match inner {
            Value::List(items) if self.keys.len() > 1 => {
                for (k, v) in self.keys.iter().zip(items.iter()) {
                    out.insert(Arc::from(*k), v.clone());
                }
            }
            v => {
                out.insert(Arc::from(self.key()), v);
            }
        }
        Value::Map(Arc::new(out))
    }

    /// `s("bd")`: a pattern of control maps from a pattern of values.
    pub fn pattern(&'static self, values: &Pat) -> Pat {
        values.fmap(move |v| self.wrap(v))
    }

    /// `pat.s("bd")`: sets this control on every event of `pat`.
    pub fn set_on(&'static self, pat: &Pat, values: &Pat) -> Pat {
        pat.set(&self.pattern(values))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_find_their_control() {
        assert_eq!(find("lpf").map(Control::key), Some("cutoff"));
        assert_eq!(find("legato").map(Control::key), Some("clip"));
        assert_eq!(find("size").map(Control::key), Some("roomsize"));
        assert_eq!(find("sound").map(Control::key), Some("s"));
        assert!(find("nonsense").is_none());
    }

    #[test]
    fn lists_fill_several_keys() {
        let s = find("s").unwrap();
        let v = s.wrap(Value::List(Arc::new(vec![Value::str("bd"), Value::Int(3)])));
        assert_eq!(v.to_json(), r#"{"n":3,"s":"bd"}"#);
        assert_eq!(find("n").unwrap().wrap(Value::Int(2)).to_json(), r#"{"n":2}"#);
    }
}
