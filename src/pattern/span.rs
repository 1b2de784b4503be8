//! Time spans (arcs) and haps (events).

use super::rational::Rational;

/// A half-open span of time in cycles, `[begin, end)`; zero width is allowed.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Span {
    /// Start, in cycles.
    pub begin: Rational,
    /// End, in cycles.
    pub end: Rational,
}

impl Span {
    /// A span from `begin` to `end`.
    pub fn new(begin: impl Into<Rational>, end: impl Into<Rational>) -> Span {
        Span { begin: begin.into(), end: end.into() }
    }

    /// Length in cycles.
    pub fn duration(&self) -> Rational {
        self.end - self.begin
    }

    /// Splits the span at cycle boundaries. A zero-width span gives itself.
    pub fn cycles(&self) -> Vec<Span> {
        let mut spans = Vec::new();
        self.for_each_cycle(|s| spans.push(s));
        spans
    }

    /// Calls `f` with each piece of the span split at cycle boundaries.
    pub fn for_each_cycle(&self, mut f: impl FnMut(Span)) {
        if self.begin == self.end {
            f(*self);
            return;
        }
        let mut begin = self.begin;
        let end_sam = self.end.sam();
        // Each cycle costs fuel, so a span of a billion cycles stops at the budget.
        while self.end > begin && super::budget::charge(1) {
            if begin.sam() == end_sam {
                f(Span { begin, end: self.end });
                break;
            }
            let next = begin.next_sam();
            f(Span { begin, end: next });
            begin = next;
        }
    }

    /// Applies `f` to both ends.
    pub fn with_time(&self, f: impl Fn(Rational) -> Rational) -> Span {
        Span { begin: f(self.begin), end: f(self.end) }
    }

    /// Applies `f` to both ends, relative to the cycle the span starts in.
    pub fn with_cycle(&self, f: impl Fn(Rational) -> Rational) -> Span {
        let sam = self.begin.sam();
        Span { begin: sam + f(self.begin - sam), end: sam + f(self.end - sam) }
    }

    /// The overlap of two spans, following Strudel: touching spans do not intersect,
    /// except where one of them has zero width.
    pub fn intersection(&self, other: &Span) -> Option<Span> {
        let begin = self.begin.max(other.begin);
        let end = self.end.min(other.end);
        if begin > end {
            return None;
        }
        if begin == end {
            if begin == self.end && self.begin < self.end {
                return None;
            }
            if begin == other.end && other.begin < other.end {
                return None;
            }
        }
        Some(Span { begin, end })
    }
}

/// An event: a value active during `part`, a fragment of its `whole`.
/// Continuous (signal) haps have no `whole`.
#[derive(Clone, Debug, PartialEq)]
pub struct Hap<T> {
    /// The full extent of the event, `None` for continuous values.
    pub whole: Option<Span>,
    /// The fragment of the event within the query.
    pub part: Span,
    /// The value.
    pub value: T,
}

impl<T> Hap<T> {
    /// A new hap.
    pub fn new(whole: Option<Span>, part: Span, value: T) -> Hap<T> {
        Hap { whole, part, value }
    }

    /// The whole, or the part for continuous haps.
    pub fn whole_or_part(&self) -> Span {
        self.whole.unwrap_or(self.part)
    }

    /// Whether this fragment contains the event's start.
    pub fn has_onset(&self) -> bool {
        self.whole.is_some_and(|w| w.begin == self.part.begin)
    }

    /// The same hap with another value.
    pub fn with_value<U>(self, f: impl FnOnce(T) -> U) -> Hap<U> {
        Hap { whole: self.whole, part: self.part, value: f(self.value) }
    }

    /// The same hap with both spans transformed.
    pub fn with_span(self, f: impl Fn(&Span) -> Span) -> Hap<T> {
        Hap { whole: self.whole.as_ref().map(&f), part: f(&self.part), value: self.value }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_split_at_cycle_boundaries() {
        let s = Span::new(Rational::new(1, 2), Rational::new(5, 2));
        let c = s.cycles();
        assert_eq!(c.len(), 3);
        assert_eq!(c[0], Span::new(Rational::new(1, 2), 1));
        assert_eq!(c[2], Span::new(2, Rational::new(5, 2)));
        assert_eq!(Span::new(1, 1).cycles(), vec![Span::new(1, 1)]);
    }

    #[test]
    fn touching_spans_do_not_intersect() {
        let a = Span::new(0, 1);
        let b = Span::new(1, 2);
        assert_eq!(a.intersection(&b), None);
        assert_eq!(a.intersection(&Span::new(0, 0)), Some(Span::new(0, 0)));
        assert_eq!(Span::new(1, 1).intersection(&a), None);
    }
}
