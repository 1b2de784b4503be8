//! `Pattern<T>`: a function from a query span to the haps active in it, and the
//! functor/applicative/monad plumbing every transformation is built from.
//!
//! Patterns are immutable and cheap to clone (an `Arc` around the query). They are
//! queried on the control thread; nothing here is ever called from the audio thread.

use std::sync::Arc;

use super::budget;
use super::rational::Rational;
use super::span::{Hap, Span};

/// What a query asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct State {
    /// The span of time queried.
    pub span: Span,
}

impl State {
    /// A query for `span`.
    pub fn new(span: Span) -> State {
        State { span }
    }

    /// The same query over another span.
    pub fn set_span(&self, span: Span) -> State {
        State { span }
    }
}

/// How deep patterns may be nested when built. Building, querying and dropping a
/// pattern each recurse once per level: this bounds the stack they need (a few hundred
/// bytes per level) by construction.
pub const MAX_BUILD_DEPTH: u32 = 2_500;

type Query<T> = Arc<dyn Fn(&State) -> Vec<Hap<T>> + Send + Sync>;

/// A pattern of values of type `T`.
pub struct Pattern<T> {
    query: Query<T>,
    /// The value, for patterns made by `pure` (Strudel applies pure arguments directly
    /// rather than through a join; the difference is visible in the fragments).
    pure: Option<T>,
    /// Patterns inside this one, counted as it was built (see [`MAX_BUILD_DEPTH`]).
    depth: u32,
}

impl<T: Clone> Clone for Pattern<T> {
    fn clone(&self) -> Self {
        Pattern { query: self.query.clone(), pure: self.pure.clone(), depth: self.depth }
    }
}

impl<T> std::fmt::Debug for Pattern<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pattern")
    }
}

/// The bound every pattern value satisfies.
pub trait PatValue: Clone + Send + Sync + 'static {}
impl<T: Clone + Send + Sync + 'static> PatValue for T {}

impl<T: PatValue> Pattern<T> {
    /// A pattern from a query function.
    pub fn new(query: impl Fn(&State) -> Vec<Hap<T>> + Send + Sync + 'static) -> Pattern<T> {
        Pattern::with_depth(1, query)
    }

    /// A pattern from a query function that queries patterns nested `depth` deep.
    /// Every query goes through the thread's [`budget`]: past it, a query answers
    /// nothing. A pattern that would be nested deeper than [`MAX_BUILD_DEPTH`] is not
    /// built: it is silence, and [`budget::take_too_deep`] says so.
    pub fn with_depth(depth: u32, query: impl Fn(&State) -> Vec<Hap<T>> + Send + Sync + 'static) -> Pattern<T> {
        if depth > MAX_BUILD_DEPTH {
            budget::note_too_deep();
            return Pattern { query: Arc::new(|_| Vec::new()), pure: None, depth: 1 };
        }
        let guarded = move |st: &State| match budget::enter() {
            Some(level) => {
                let out = query(st);
                level.leave(out.len());
                out
            }
            None => Vec::new(),
        };
        Pattern { query: Arc::new(guarded), pure: None, depth }
    }

    /// A pattern one level above patterns nested `inner` deep.
    fn derive<U: PatValue>(
        &self,
        inner: u32,
        query: impl Fn(&State) -> Vec<Hap<U>> + Send + Sync + 'static,
    ) -> Pattern<U> {
        Pattern::with_depth(inner.saturating_add(1), query)
    }

    /// How deep patterns are nested inside this one.
    pub fn depth(&self) -> u32 {
        self.depth
    }

    /// The same pattern, counted as nested at least `depth` deep (for patterns built
    /// by functions whose inner patterns the core cannot see, such as script closures).
    pub fn at_least_depth(mut self, depth: u32) -> Pattern<T> {
        self.depth = self.depth.max(depth);
        self
    }

    /// Queries the pattern.
    pub fn query(&self, state: &State) -> Vec<Hap<T>> {
        (self.query)(state)
    }

    /// Queries the haps between `begin` and `end` cycles.
    pub fn query_span(&self, begin: Rational, end: Rational) -> Vec<Hap<T>> {
        self.query(&State::new(Span { begin, end }))
    }

    /// The value of a `pure` pattern.
    pub fn pure_value(&self) -> Option<&T> {
        self.pure.as_ref()
    }

    /// Applies `f` to every value.
    pub fn fmap<U: PatValue>(&self, f: impl Fn(T) -> U + Send + Sync + 'static) -> Pattern<U> {
        let q = self.query.clone();
        self.derive(self.depth, move |st| q(st).into_iter().map(|h| h.with_value(&f)).collect())
    }

    /// Transforms the query span.
    pub fn with_query_span(&self, f: impl Fn(Span) -> Span + Send + Sync + 'static) -> Pattern<T> {
        let q = self.query.clone();
        self.derive(self.depth, move |st| q(&st.set_span(f(st.span))))
    }

    /// Transforms the query span, or answers nothing where `f` gives `None`.
    pub fn with_query_span_maybe(&self, f: impl Fn(Span) -> Option<Span> + Send + Sync + 'static) -> Pattern<T> {
        let q = self.query.clone();
        self.derive(self.depth, move |st| match f(st.span) {
            Some(span) => q(&st.set_span(span)),
            None => Vec::new(),
        })
    }

    /// Transforms both ends of the query span.
    pub fn with_query_time(&self, f: impl Fn(Rational) -> Rational + Send + Sync + 'static) -> Pattern<T> {
        self.with_query_span(move |s| s.with_time(&f))
    }

    /// Transforms the spans of every hap.
    pub fn with_hap_span(&self, f: impl Fn(&Span) -> Span + Send + Sync + 'static) -> Pattern<T> {
        let q = self.query.clone();
        self.derive(self.depth, move |st| q(st).into_iter().map(|h| h.with_span(&f)).collect())
    }

    /// Transforms the times of every hap.
    pub fn with_hap_time(&self, f: impl Fn(Rational) -> Rational + Send + Sync + 'static) -> Pattern<T> {
        self.with_hap_span(move |s| s.with_time(&f))
    }

    /// Transforms the list of haps a query returns.
    pub fn with_haps(&self, f: impl Fn(Vec<Hap<T>>, &State) -> Vec<Hap<T>> + Send + Sync + 'static) -> Pattern<T> {
        let q = self.query.clone();
        self.derive(self.depth, move |st| f(q(st), st))
    }

    /// Transforms every hap.
    pub fn with_hap<U: PatValue>(&self, f: impl Fn(Hap<T>) -> Hap<U> + Send + Sync + 'static) -> Pattern<U> {
        let q = self.query.clone();
        self.derive(self.depth, move |st| q(st).into_iter().map(&f).collect())
    }

    /// Keeps the haps that pass `test`.
    pub fn filter_haps(&self, test: impl Fn(&Hap<T>) -> bool + Send + Sync + 'static) -> Pattern<T> {
        let q = self.query.clone();
        self.derive(self.depth, move |st| q(st).into_iter().filter(|h| test(h)).collect())
    }

    /// Keeps the haps whose value passes `test`.
    pub fn filter_values(&self, test: impl Fn(&T) -> bool + Send + Sync + 'static) -> Pattern<T> {
        self.filter_haps(move |h| test(&h.value))
    }

    /// Keeps only discrete haps (those with a whole).
    pub fn discrete_only(&self) -> Pattern<T> {
        self.filter_haps(|h| h.whole.is_some())
    }

    /// Keeps only fragments that contain their event's start.
    pub fn onsets_only(&self) -> Pattern<T> {
        self.filter_haps(|h| h.has_onset())
    }

    /// Splits every query at cycle boundaries.
    pub fn split_queries(&self) -> Pattern<T> {
        let q = self.query.clone();
        self.derive(self.depth, move |st| {
            let mut out = Vec::new();
            st.span.for_each_cycle(|s| out.extend(q(&st.set_span(s))));
            out
        })
    }

    /// Applies values pairwise where parts intersect; the whole is chosen by `whole`.
    fn app_whole<U: PatValue, V: PatValue>(
        &self,
        other: &Pattern<U>,
        whole: impl Fn(Option<Span>, Option<Span>) -> Option<Span> + Send + Sync + 'static,
        f: impl Fn(&T, &U) -> V + Send + Sync + 'static,
    ) -> Pattern<V> {
        let (qa, qb) = (self.query.clone(), other.query.clone());
        self.derive(self.depth.max(other.depth), move |st| {
            let ha = qa(st);
            let hb = qb(st);
            let mut out = Vec::new();
            for a in &ha {
                for b in &hb {
                    if let Some(part) = a.part.intersection(&b.part) {
                        out.push(Hap::new(whole(a.whole, b.whole), part, f(&a.value, &b.value)));
                    }
                }
            }
            out
        })
    }

    /// Combines with `other`, structure from both sides (Tidal's `<*>`).
    pub fn app_both<U: PatValue, V: PatValue>(
        &self,
        other: &Pattern<U>,
        f: impl Fn(&T, &U) -> V + Send + Sync + 'static,
    ) -> Pattern<V> {
        self.app_whole(
            other,
            |a, b| match (a, b) {
                (Some(a), Some(b)) => a.intersection(&b),
                _ => None,
            },
            f,
        )
    }

    /// Combines with `other`, structure from this side (Tidal's `<*`).
    pub fn app_left<U: PatValue, V: PatValue>(
        &self,
        other: &Pattern<U>,
        f: impl Fn(&T, &U) -> V + Send + Sync + 'static,
    ) -> Pattern<V> {
        let (qa, qb) = (self.query.clone(), other.query.clone());
        self.derive(self.depth.max(other.depth), move |st| {
            let mut out = Vec::new();
            for a in qa(st) {
                for b in qb(&st.set_span(a.whole_or_part())) {
                    if let Some(part) = a.part.intersection(&b.part) {
                        out.push(Hap::new(a.whole, part, f(&a.value, &b.value)));
                    }
                }
            }
            out
        })
    }

    /// Combines with `other`, structure from the other side (Tidal's `*>`).
    pub fn app_right<U: PatValue, V: PatValue>(
        &self,
        other: &Pattern<U>,
        f: impl Fn(&T, &U) -> V + Send + Sync + 'static,
    ) -> Pattern<V> {
        other.app_left(self, move |b, a| f(a, b))
    }

    /// Monadic bind with a choice of whole.
    fn bind_whole<U: PatValue>(
        &self,
        choose: impl Fn(Option<Span>, Option<Span>) -> Option<Option<Span>> + Send + Sync + 'static,
        f: impl Fn(T) -> Pattern<U> + Send + Sync + 'static,
    ) -> Pattern<U> {
        let q = self.query.clone();
        self.derive(self.depth, move |st| {
            let mut out = Vec::new();
            for outer in q(st) {
                let (ow, op) = (outer.whole, outer.part);
                for inner in f(outer.value).query(&st.set_span(op)) {
                    if let Some(whole) = choose(ow, inner.whole) {
                        out.push(Hap::new(whole, inner.part, inner.value));
                    }
                }
            }
            out
        })
    }

    /// Bind where the whole is the intersection of both wholes.
    pub fn bind<U: PatValue>(&self, f: impl Fn(T) -> Pattern<U> + Send + Sync + 'static) -> Pattern<U> {
        self.bind_whole(
            |a, b| match (a, b) {
                (Some(a), Some(b)) => a.intersection(&b).map(Some),
                _ => Some(None),
            },
            f,
        )
    }

    /// Bind keeping the inner pattern's structure.
    pub fn inner_bind<U: PatValue>(&self, f: impl Fn(T) -> Pattern<U> + Send + Sync + 'static) -> Pattern<U> {
        self.bind_whole(|_, b| Some(b), f)
    }

    /// Bind keeping the outer pattern's structure.
    pub fn outer_bind<U: PatValue>(&self, f: impl Fn(T) -> Pattern<U> + Send + Sync + 'static) -> Pattern<U> {
        self.bind_whole(|a, _| Some(a), f)
    }

    /// Bind that squeezes a whole cycle of each inner pattern into each outer event.
    pub fn squeeze_bind<U: PatValue>(&self, f: impl Fn(T) -> Pattern<U> + Send + Sync + 'static) -> Pattern<U> {
        let q = self.discrete_only().query;
        self.derive(self.depth, move |st| {
            let mut out = Vec::new();
            for outer in q(st) {
                let span = outer.whole_or_part();
                let inner_pat = f(outer.value).focus_span(span);
                for inner in inner_pat.query(&st.set_span(outer.part)) {
                    let whole = match (inner.whole, outer.whole) {
                        (Some(iw), Some(ow)) => match iw.intersection(&ow) {
                            Some(w) => Some(w),
                            None => continue,
                        },
                        _ => None,
                    };
                    if let Some(part) = inner.part.intersection(&outer.part) {
                        out.push(Hap::new(whole, part, inner.value));
                    }
                }
            }
            out
        })
    }

    /// Speeds up (factor > 1) or slows down time, without the patternified argument.
    pub fn fast_r(&self, factor: Rational) -> Pattern<T> {
        if factor <= Rational::ZERO {
            return silence();
        }
        self.with_query_time(move |t| t * factor).with_hap_time(move |t| t / factor)
    }

    /// Slows down by `factor`.
    pub fn slow_r(&self, factor: Rational) -> Pattern<T> {
        if factor <= Rational::ZERO {
            return silence();
        }
        self.fast_r(Rational::ONE / factor)
    }

    /// Shifts earlier in time by `offset` cycles.
    pub fn early_r(&self, offset: Rational) -> Pattern<T> {
        self.with_query_time(move |t| t + offset).with_hap_time(move |t| t - offset)
    }

    /// Shifts later in time by `offset` cycles.
    pub fn late_r(&self, offset: Rational) -> Pattern<T> {
        self.early_r(-offset)
    }

    /// Squeezes each cycle into `[b, e)` of the cycle, leaving a gap after it.
    pub fn fast_gap(&self, factor: Rational) -> Pattern<T> {
        if factor <= Rational::ZERO {
            return silence();
        }
        let qf = move |span: Span| {
            let cycle = span.begin.sam();
            let bpos = ((span.begin - cycle) * factor).min(Rational::ONE);
            let epos = ((span.end - cycle) * factor).min(Rational::ONE);
            if bpos >= Rational::ONE {
                return None;
            }
            Some(Span { begin: cycle + bpos, end: cycle + epos })
        };
        let ef = move |h: Hap<T>| {
            let (begin, end) = (h.part.begin, h.part.end);
            let cycle = begin.sam();
            let bpos = ((begin - cycle) / factor).min(Rational::ONE);
            let epos = ((end - cycle) / factor).min(Rational::ONE);
            let part = Span { begin: cycle + bpos, end: cycle + epos };
            let whole = h.whole.map(|w| Span {
                begin: part.begin - (begin - w.begin) / factor,
                end: part.end + (w.end - end) / factor,
            });
            Hap::new(whole, part, h.value)
        };
        self.with_query_span_maybe(qf).with_hap(ef).split_queries()
    }

    /// Squeezes each cycle into the span `[b, e)` (within `[0, 1]`), silence elsewhere.
    pub fn compress(&self, b: Rational, e: Rational) -> Pattern<T> {
        if b > e || b > Rational::ONE || e > Rational::ONE || b < Rational::ZERO || e < Rational::ZERO || b == e {
            return silence();
        }
        self.fast_gap(Rational::ONE / (e - b)).late_r(b)
    }

    /// Like `compress` but without the gaps: the pattern keeps playing outside the span.
    pub fn focus(&self, b: Rational, e: Rational) -> Pattern<T> {
        if e <= b {
            return silence();
        }
        self.early_r(b.sam()).fast_r(Rational::ONE / (e - b)).late_r(b)
    }

    /// `focus` over a span.
    pub fn focus_span(&self, span: Span) -> Pattern<T> {
        self.focus(span.begin, span.end)
    }

    /// Plays only the part `[s, e)` of each cycle, stretched to fill the cycle.
    pub fn zoom(&self, s: Rational, e: Rational) -> Pattern<T> {
        if s >= e {
            return silence();
        }
        let d = e - s;
        self.with_query_span(move |span| span.with_cycle(|t| t * d + s))
            .with_hap_span(move |span| span.with_cycle(|t| (t - s) / d))
            .split_queries()
    }

    /// Repeats each cycle `n` times.
    pub fn repeat_cycles(&self, n: Rational) -> Pattern<T> {
        if n <= Rational::ZERO {
            return silence();
        }
        let q = self.query.clone();
        self.derive(self.depth, move |st| {
            let cycle = st.span.begin.sam();
            let source = (cycle / n).sam();
            let delta = cycle - source;
            q(&st.set_span(st.span.with_time(|t| t - delta)))
                .into_iter()
                .map(|h| h.with_span(|s| s.with_time(|t| t + delta)))
                .collect()
        })
        .split_queries()
    }

    /// Reverses each cycle.
    pub fn rev(&self) -> Pattern<T> {
        let q = self.query.clone();
        self.derive(self.depth, move |st| {
            let cycle = st.span.begin.sam();
            let next = st.span.begin.next_sam();
            let reflect = |s: &Span| Span { begin: cycle + (next - s.end), end: cycle + (next - s.begin) };
            q(&st.set_span(reflect(&st.span))).into_iter().map(|h| h.with_span(reflect)).collect()
        })
        .split_queries()
    }
}

/// A pattern that repeats `value` once per cycle.
pub fn pure<T: PatValue>(value: T) -> Pattern<T> {
    let v = value.clone();
    let mut p = Pattern::new(move |st| {
        let mut out = Vec::new();
        st.span.for_each_cycle(|s| {
            out.push(Hap::new(Some(Span { begin: s.begin.sam(), end: s.begin.next_sam() }), s, v.clone()))
        });
        out
    });
    p.pure = Some(value);
    p
}

fn max_depth<T>(pats: &[Pattern<T>]) -> u32 {
    pats.iter().map(|p| p.depth).max().unwrap_or(0)
}

/// The empty pattern.
pub fn silence<T: PatValue>() -> Pattern<T> {
    Pattern::new(|_| Vec::new())
}

/// A continuous pattern sampling `f` at the start of each query.
pub fn signal<T: PatValue>(f: impl Fn(Rational) -> T + Send + Sync + 'static) -> Pattern<T> {
    Pattern::new(move |st| vec![Hap::new(None, st.span, f(st.span.begin))])
}

/// Plays all patterns at once.
pub fn stack<T: PatValue>(pats: Vec<Pattern<T>>) -> Pattern<T> {
    let depth = max_depth(&pats);
    Pattern::with_depth(depth + 1, move |st| pats.iter().flat_map(|p| p.query(st)).collect())
}

/// One pattern per cycle, in turn; each pattern keeps its own time (Strudel's `slowcat`).
pub fn slowcat<T: PatValue>(pats: Vec<Pattern<T>>) -> Pattern<T> {
    if pats.len() == 1 {
        return pats.into_iter().next().unwrap_or_else(silence);
    }
    if pats.is_empty() {
        return silence();
    }
    let n = Rational::int(pats.len() as i64);
    let depth = max_depth(&pats);
    Pattern::with_depth(depth + 1, move |st| {
        let span = st.span;
        let index = span.begin.floor_i64().rem_euclid(pats.len() as i64) as usize;
        let offset = span.begin.floor() - (span.begin / n).floor();
        pats[index]
            .query(&st.set_span(span.with_time(|t| t - offset)))
            .into_iter()
            .map(|h| h.with_span(|s| s.with_time(|t| t + offset)))
            .collect()
    })
    .split_queries()
}

/// One pattern per cycle, in turn, each played at absolute time (Strudel's `slowcatPrime`).
pub fn slowcat_prime<T: PatValue>(pats: Vec<Pattern<T>>) -> Pattern<T> {
    if pats.is_empty() {
        return silence();
    }
    let depth = max_depth(&pats);
    Pattern::with_depth(depth + 1, move |st| {
        // JavaScript's `%` keeps the sign: negative cycles select nothing.
        let c = st.span.begin.floor_i64();
        if c < 0 && c % pats.len() as i64 != 0 {
            return Vec::new();
        }
        pats[(c % pats.len() as i64).unsigned_abs() as usize].query(st)
    })
    .split_queries()
}

/// All patterns in one cycle, each taking an equal share.
pub fn fastcat<T: PatValue>(pats: Vec<Pattern<T>>) -> Pattern<T> {
    let n = pats.len() as i64;
    let p = slowcat(pats);
    if n > 1 { p.fast_r(Rational::int(n)) } else { p }
}

/// All patterns in one cycle, each taking a share proportional to its weight.
pub fn timecat<T: PatValue>(pats: Vec<(Rational, Pattern<T>)>) -> Pattern<T> {
    if pats.len() == 1 {
        return pats.into_iter().next().map(|(_, p)| p).unwrap_or_else(silence);
    }
    let total = pats.iter().fold(Rational::ZERO, |a, (w, _)| a + *w);
    if total <= Rational::ZERO {
        return silence();
    }
    let mut begin = Rational::ZERO;
    let mut out = Vec::new();
    for (w, p) in pats {
        if w.is_zero() {
            continue;
        }
        let end = begin + w;
        out.push(p.compress(begin / total, end / total));
        begin = end;
    }
    stack(out)
}
