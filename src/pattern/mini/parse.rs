//! The mini-notation parser: text to syntax tree, following Strudel's grammar (krill)
//! rule for rule, including the order in which random seeds are handed out.

use std::fmt;

/// A mini-notation syntax error: 1-based column (in characters) and what went wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MiniError {
    /// 1-based column within the mini-notation text.
    pub column: usize,
    /// What went wrong.
    pub message: String,
}

impl fmt::Display for MiniError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "column {}: {}", self.column, self.message)
    }
}

impl std::error::Error for MiniError {}

/// A node of the tree.
#[derive(Clone, Debug, PartialEq)]
pub enum Node {
    /// A word or number; `~` and `-` are rests.
    Atom(String),
    /// A group of children.
    Group(Group),
}

/// How a group's children combine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alignment {
    /// `a b c`: one after another in a cycle.
    Sequence,
    /// `a, b`: at the same time.
    Stack,
    /// `a | b`: one at random per cycle.
    Random,
    /// `a . b`: groups one after another.
    Feet,
    /// `{a b, c d e}`: aligned by steps.
    Polymeter,
    /// `<a b c>`: one step per cycle.
    Alternate,
}

/// A group node.
#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    /// How the children combine.
    pub alignment: Alignment,
    /// The children; in a sequence each carries its modifiers.
    pub children: Vec<Element>,
    /// Seed for `|` (and `.`, which takes one without using it).
    pub seed: Option<u32>,
    /// `{...}%n`: steps per cycle.
    pub steps_per_cycle: Option<Box<Node>>,
}

/// A child with its modifiers (`@`, `!`, `*`, `/`, `?`, `(k,n,r)`, `:`, `..`).
#[derive(Clone, Debug, PartialEq)]
pub struct Element {
    /// The child itself.
    pub node: Node,
    /// Relative length (`@`, `_`, `!`); `None` for children of non-sequence groups.
    pub weight: Option<f64>,
    /// Modifiers, applied in order.
    pub ops: Vec<Op>,
}

/// A modifier.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// `*x` (fast) or `/x` (slow).
    Stretch {
        /// True for `*`.
        fast: bool,
        /// The factor.
        amount: Node,
    },
    /// `!n`: repeat.
    Replicate(f64),
    /// `(k,n,r)`.
    Euclid {
        /// Onsets.
        pulse: Box<Element>,
        /// Steps.
        step: Box<Element>,
        /// Rotation.
        rotation: Option<Box<Element>>,
    },
    /// `?` or `?p`.
    Degrade {
        /// Probability of removal (0.5 when absent).
        amount: Option<f64>,
        /// Seed, numbered as Strudel numbers them.
        seed: u32,
    },
    /// `a:b`.
    Tail(Node),
    /// `a .. b`.
    Range(Node),
}

/// Parses mini-notation text.
pub fn parse(text: &str) -> Result<Node, MiniError> {
    let mut p = Parser { chars: text.chars().collect(), pos: 0, seed: 0, depth: 0 };
    p.ws();
    if p.at_end() {
        // An empty string is a rest, as "~" would be.
        return Ok(Node::Atom("~".into()));
    }
    let node = p.stack_or_choose()?;
    p.ws();
    if !p.at_end() {
        return Err(p.unexpected("a step, or the end of the pattern"));
    }
    Ok(node)
}

/// How deeply brackets may nest (a guard against exhausting the stack).
const MAX_DEPTH: usize = 64;
/// Modifiers (`*2`, `?`, `:1`, `!`, `@3`, `(3,8)`...) on one step.
const MAX_MODIFIERS: usize = 64;
/// Repetitions of one step with `!`.
const MAX_REPEATS: f64 = super::super::budget::MAX_COUNT as f64;
/// Weight of one step with `@`.
const MAX_WEIGHT: f64 = 1e6;

struct Parser {
    chars: Vec<char>,
    pos: usize,
    seed: u32,
    depth: usize,
}

enum PendingOp {
    Ready(Op),
    Degrade(Option<f64>),
}

impl Parser {
    fn at_end(&self) -> bool {
        self.pos >= self.chars.len()
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek_at(&self, k: usize) -> Option<char> {
        self.chars.get(self.pos + k).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(' ' | '\n' | '\r' | '\t' | '\u{a0}')) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn next_seed(&mut self) -> u32 {
        let s = self.seed;
        self.seed += 1;
        s
    }

    fn error_at(&self, pos: usize, message: String) -> MiniError {
        MiniError { column: pos + 1, message }
    }

    fn unexpected(&self, expected: &str) -> MiniError {
        match self.peek() {
            Some(c) => self.error_at(self.pos, format!("unexpected '{c}', expected {expected}")),
            None => self.error_at(self.pos, format!("unexpected end of pattern, expected {expected}")),
        }
    }

    fn is_step_char(c: char) -> bool {
        c.is_alphabetic() || c.is_ascii_digit() || matches!(c, '~' | '-' | '#' | '.' | '^' | '_')
    }

    /// `ws`, then `sep`, then `ws`, only if `sep` is there; otherwise nothing consumed.
    fn separator(&mut self, sep: char) -> bool {
        let start = self.pos;
        self.ws();
        if self.eat(sep) {
            self.ws();
            true
        } else {
            self.pos = start;
            false
        }
    }

    fn stack_or_choose(&mut self) -> Result<Node, MiniError> {
        let head = self.sequence()?;
        for (sep, alignment) in [(',', Alignment::Stack), ('|', Alignment::Random), ('.', Alignment::Feet)] {
            let mut children = vec![head.clone()];
            while self.separator(sep) {
                children.push(self.sequence()?);
            }
            if children.len() > 1 {
                let seed = (alignment != Alignment::Stack).then(|| self.next_seed());
                return Ok(Node::Group(Group {
                    alignment,
                    children: children.into_iter().map(|n| Element { node: n, weight: None, ops: vec![] }).collect(),
                    seed,
                    steps_per_cycle: None,
                }));
            }
        }
        Ok(head)
    }

    fn polymeter_stack(&mut self, alignment: Alignment) -> Result<Group, MiniError> {
        let mut children = vec![self.sequence()?];
        while self.separator(',') {
            children.push(self.sequence()?);
        }
        Ok(Group {
            alignment,
            children: children.into_iter().map(|n| Element { node: n, weight: None, ops: vec![] }).collect(),
            seed: None,
            steps_per_cycle: None,
        })
    }

    fn sequence(&mut self) -> Result<Node, MiniError> {
        self.ws();
        self.eat('^');
        let mut children = Vec::new();
        while let Some(el) = self.slice_with_ops()? {
            children.push(el);
        }
        if children.is_empty() {
            return Err(self.unexpected("a step"));
        }
        Ok(Node::Group(Group { alignment: Alignment::Sequence, children, seed: None, steps_per_cycle: None }))
    }

    fn slice_with_ops(&mut self) -> Result<Option<Element>, MiniError> {
        let Some(node) = self.slice()? else {
            return Ok(None);
        };
        let mut weight = 1.0;
        let mut reps = 1.0;
        let mut pending: Vec<PendingOp> = Vec::new();
        let mut modifiers = 0;
        loop {
            let start = self.pos;
            modifiers += 1;
            if modifiers > MAX_MODIFIERS {
                return Err(self.error_at(start, format!("more than {MAX_MODIFIERS} modifiers on one step")));
            }
            // op_weight and op_replicate allow white space before the symbol.
            self.ws();
            match self.peek() {
                Some('@' | '_') => {
                    self.pos += 1;
                    let a = self.number();
                    weight += a.unwrap_or(2.0) - 1.0;
                    if weight.is_nan() || weight.abs() > MAX_WEIGHT {
                        return Err(self.error_at(start, format!("a step weighs more than {MAX_WEIGHT}")));
                    }
                    continue;
                }
                Some('!') => {
                    self.pos += 1;
                    let a = self.number();
                    reps += a.unwrap_or(2.0) - 1.0;
                    if reps.is_nan() || reps > MAX_REPEATS {
                        return Err(self.error_at(start, format!("more than {MAX_REPEATS} repetitions of one step")));
                    }
                    pending.retain(|op| !matches!(op, PendingOp::Ready(Op::Replicate(_))));
                    pending.push(PendingOp::Ready(Op::Replicate(reps)));
                    weight = reps;
                    continue;
                }
                _ => self.pos = start,
            }
            match self.peek() {
                Some('(') => {
                    self.pos += 1;
                    self.ws();
                    let pulse = self.required_element()?;
                    self.ws();
                    if !self.separator(',') {
                        return Err(self.unexpected("',' between the euclid arguments"));
                    }
                    self.ws();
                    let step = self.required_element()?;
                    self.ws();
                    self.separator(',');
                    self.ws();
                    let rotation = self.slice_with_ops()?.map(Box::new);
                    self.ws();
                    if !self.eat(')') {
                        return Err(self.unexpected("')' to close the euclid arguments"));
                    }
                    pending.push(PendingOp::Ready(Op::Euclid {
                        pulse: Box::new(pulse),
                        step: Box::new(step),
                        rotation,
                    }));
                }
                Some(c @ ('/' | '*')) => {
                    self.pos += 1;
                    let amount = self.required_slice()?;
                    pending.push(PendingOp::Ready(Op::Stretch { fast: c == '*', amount }));
                }
                Some('?') => {
                    self.pos += 1;
                    let a = self.number();
                    pending.push(PendingOp::Degrade(a));
                }
                Some(':') => {
                    self.pos += 1;
                    let friend = self.required_slice()?;
                    pending.push(PendingOp::Ready(Op::Tail(friend)));
                }
                Some('.') if self.peek_at(1) == Some('.') => {
                    self.pos += 2;
                    let friend = self.required_slice()?;
                    pending.push(PendingOp::Ready(Op::Range(friend)));
                }
                _ => break,
            }
        }
        let ops = pending
            .into_iter()
            .map(|op| match op {
                PendingOp::Ready(op) => op,
                PendingOp::Degrade(amount) => Op::Degrade { amount, seed: self.next_seed() },
            })
            .collect();
        Ok(Some(Element { node, weight: Some(weight), ops }))
    }

    fn required_element(&mut self) -> Result<Element, MiniError> {
        match self.slice_with_ops()? {
            Some(e) => Ok(e),
            None => Err(self.unexpected("a step")),
        }
    }

    fn required_slice(&mut self) -> Result<Node, MiniError> {
        match self.slice()? {
            Some(n) => Ok(n),
            None => Err(self.unexpected("a step after the operator")),
        }
    }

    /// `step / sub_cycle / polymeter / slow_sequence`, or `None` (nothing consumed).
    fn slice(&mut self) -> Result<Option<Node>, MiniError> {
        if self.depth >= MAX_DEPTH {
            return Err(self.error_at(self.pos, format!("brackets nested more than {MAX_DEPTH} deep")));
        }
        self.depth += 1;
        let result = self.slice_inner();
        self.depth -= 1;
        result
    }

    fn slice_inner(&mut self) -> Result<Option<Node>, MiniError> {
        let start = self.pos;
        self.ws();
        match self.peek() {
            Some('[') => {
                self.pos += 1;
                self.ws();
                let inner = self.stack_or_choose()?;
                self.ws();
                if !self.eat(']') {
                    return Err(self.unexpected("']'"));
                }
                self.ws();
                Ok(Some(inner))
            }
            Some('{') => {
                self.pos += 1;
                self.ws();
                let mut group = self.polymeter_stack(Alignment::Polymeter)?;
                self.ws();
                if !self.eat('}') {
                    return Err(self.unexpected("'}'"));
                }
                if self.eat('%') {
                    group.steps_per_cycle = Some(Box::new(self.required_slice()?));
                }
                self.ws();
                Ok(Some(Node::Group(group)))
            }
            Some('<') => {
                self.pos += 1;
                self.ws();
                let group = self.polymeter_stack(Alignment::Alternate)?;
                self.ws();
                if !self.eat('>') {
                    return Err(self.unexpected("'>'"));
                }
                self.ws();
                Ok(Some(Node::Group(group)))
            }
            Some(c) if Self::is_step_char(c) => {
                let word_start = self.pos;
                while self.peek().is_some_and(Self::is_step_char) {
                    self.pos += 1;
                }
                let word: String = self.chars[word_start..self.pos].iter().collect();
                if word == "." || word == "_" {
                    self.pos = start;
                    return Ok(None);
                }
                self.ws();
                Ok(Some(Node::Atom(word)))
            }
            _ => {
                self.pos = start;
                Ok(None)
            }
        }
    }

    /// `-? int frac? exp?` as a float, or `None` (nothing consumed).
    fn number(&mut self) -> Option<f64> {
        let start = self.pos;
        let mut i = self.pos;
        let digits = |i: &mut usize, chars: &[char]| {
            let s = *i;
            while chars.get(*i).is_some_and(char::is_ascii_digit) {
                *i += 1;
            }
            *i > s
        };
        if self.chars.get(i) == Some(&'-') {
            i += 1;
        }
        match self.chars.get(i) {
            Some('0') => i += 1,
            Some('1'..='9') => {
                digits(&mut i, &self.chars);
            }
            _ => return None,
        }
        if self.chars.get(i) == Some(&'.') {
            let mut j = i + 1;
            if digits(&mut j, &self.chars) {
                i = j;
            }
        }
        if matches!(self.chars.get(i), Some('e' | 'E')) {
            let mut j = i + 1;
            if matches!(self.chars.get(j), Some('+' | '-')) {
                j += 1;
            }
            if digits(&mut j, &self.chars) {
                i = j;
            }
        }
        let text: String = self.chars[start..i].iter().collect();
        self.pos = i;
        text.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_column() {
        let e = parse("bd [sn hh").unwrap_err();
        assert_eq!(e.column, 10);
        assert!(e.message.contains("']'"), "{}", e.message);
        let e = parse("bd sn)").unwrap_err();
        assert_eq!(e.column, 6);
        assert!(e.message.contains("')'"), "{}", e.message);
        assert!(parse("bd(3 8)").is_err());
        let deep = format!("{}bd{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(parse(&deep).unwrap_err().message.contains("nested"));
        assert!(parse("bd*").is_err());
    }

    #[test]
    fn seeds_are_handed_out_in_strudels_order() {
        // Each `?` takes its seed when its element is complete, `|` when its group is.
        let Node::Group(g) = parse("[a? | b?] c?").unwrap() else { panic!() };
        let Node::Group(inner) = &g.children[0].node else { panic!() };
        assert_eq!(inner.seed, Some(2));
        let seed_of = |e: &Element| match e.ops.last() {
            Some(Op::Degrade { seed, .. }) => *seed,
            _ => panic!("no degrade"),
        };
        assert_eq!(seed_of(&g.children[1]), 3);
    }
}
