//! Budgets for pattern queries: how much work one query may do, checked as the work is
//! done, so that no pattern a script builds can hang, exhaust memory or overflow the
//! stack of the thread that queries it.
//!
//! Every query of every pattern, at every level of nesting, passes through
//! [`enter`]/[`Entered::leave`]: the nesting depth is counted on the way in, the haps
//! produced on the way out (as fuel), and the clock is looked at every few calls. Once a
//! limit is hit the budget is spent: every further query on this thread answers nothing
//! at once and every loop over cycles stops, so the whole query unwinds quickly and the
//! caller learns why through [`run`]. Panics inside a budgeted run (an arithmetic
//! corner, a bug) are caught the same way and reported, never propagated.
//!
//! The state is thread-local: a query never waits on another thread and costs a few
//! cell reads per level.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Once;
use std::time::{Duration, Instant};

/// Limits for one query.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Budget {
    /// Haps produced, counted at every level of nesting (a hap passing through ten
    /// transformations counts ten times).
    pub fuel: u64,
    /// Patterns inside patterns, counted as queries nest.
    pub depth: u32,
    /// Wall time, if bounded.
    pub time: Option<Duration>,
}

/// Nesting allowed inside one query. Each level costs a few hundred bytes of stack;
/// threads that query patterns have at least 8 MiB.
pub const MAX_QUERY_DEPTH: u32 = 6_000;

impl Budget {
    /// The budget of a query nobody armed explicitly: generous, but finite.
    pub const DEFAULT: Budget = Budget { fuel: 1_000_000, depth: MAX_QUERY_DEPTH, time: Some(Duration::from_secs(10)) };

    /// A budget with this much fuel and time, and the standard depth.
    pub fn new(fuel: u64, time: Duration) -> Budget {
        Budget { fuel, depth: MAX_QUERY_DEPTH, time: Some(time) }
    }
}

/// Why a budgeted run stopped.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Exceeded {
    /// Too many haps.
    #[error(
        "too much work in one query (over {0} events counted through every transformation): a pattern far too dense"
    )]
    Fuel(u64),
    /// Nested too deep.
    #[error("patterns nested more than {0} levels deep while playing")]
    Depth(u32),
    /// Too slow.
    #[error("a query took longer than {} ms (a slow function inside a pattern?)", .0.as_millis())]
    Time(Duration),
    /// An argument out of its range, found while playing.
    #[error("{0}")]
    Invalid(String),
    /// A panic inside the query, with its message.
    #[error("internal error while playing this pattern: {0}")]
    Panic(String),
}

thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static DEPTH: Cell<u32> = const { Cell::new(0) };
    static FUEL: Cell<u64> = const { Cell::new(0) };
    static CALLS: Cell<u32> = const { Cell::new(0) };
    static LIMITS: Cell<Budget> = const { Cell::new(Budget::DEFAULT) };
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
    static SPENT: RefCell<Option<Exceeded>> = const { RefCell::new(None) };
    static QUIET_PANICS: Cell<u32> = const { Cell::new(0) };
    static TOO_DEEP: Cell<bool> = const { Cell::new(false) };
    static INVALID: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// The largest count a function may build lists from (`every(n)`, `chop(n)`, `iter(n)`,
/// `chunk(n)`, euclid steps, `!n` in mini-notation...).
pub const MAX_COUNT: i64 = 4096;

/// Refuses an argument: the script layer reports it at the call that built the
/// pattern; while playing, it stops the query (and is reported for the track).
pub fn invalid(message: String) {
    if ARMED.with(Cell::get) {
        spend(Exceeded::Invalid(message));
        return;
    }
    INVALID.with(|c| {
        let mut c = c.borrow_mut();
        if c.is_none() {
            *c = Some(message);
        }
    });
}

/// The argument refused since the last call, if any.
pub fn take_invalid() -> Option<String> {
    INVALID.with(|c| c.borrow_mut().take())
}

/// `n` as a count for `what` if it is between 1 and [`MAX_COUNT`]; counts below 1 give
/// `None` quietly (the function is then silent, as in Strudel), counts above are
/// refused with a message.
pub fn count(what: &str, n: i64) -> Option<usize> {
    if n < 1 {
        return None;
    }
    if n > MAX_COUNT {
        invalid(format!("{what}: {n} is too many (at most {MAX_COUNT})"));
        return None;
    }
    Some(n as usize)
}

/// Notes that a pattern was not built because it would have been nested too deep.
pub(crate) fn note_too_deep() {
    if ARMED.with(Cell::get) {
        // Built while playing: stop this query.
        spend(Exceeded::Depth(crate::pattern::MAX_BUILD_DEPTH));
    } else {
        TOO_DEEP.with(|c| c.set(true));
    }
}

/// Whether a pattern was refused for being nested too deep since the last call (the
/// script layer turns this into an error at the call that did it).
pub fn take_too_deep() -> bool {
    TOO_DEEP.with(|c| c.replace(false))
}

/// Proof that a query level was entered; give it back with [`Entered::leave`].
#[must_use]
pub struct Entered(());

fn spend(why: Exceeded) {
    SPENT.with(|s| {
        let mut s = s.borrow_mut();
        if s.is_none() {
            *s = Some(why);
        }
    });
}

/// Whether the budget of the current run is spent (loops over cycles stop then).
pub fn spent() -> bool {
    SPENT.with(|s| s.borrow().is_some())
}

/// Whether the current run's time is up (checked by scripts' closures too).
pub fn out_of_time() -> bool {
    DEADLINE.with(Cell::get).is_some_and(|d| Instant::now() > d) || spent()
}

/// Enters one level of query. `None` means the budget is spent: answer nothing.
pub fn enter() -> Option<Entered> {
    if !ARMED.with(Cell::get) && DEPTH.with(Cell::get) == 0 {
        // A query nobody budgeted: give it the default budget, afresh each time.
        reset(Budget::DEFAULT);
    }
    if spent() {
        return None;
    }
    let limits = LIMITS.with(Cell::get);
    let depth = DEPTH.with(Cell::get) + 1;
    if depth > limits.depth {
        spend(Exceeded::Depth(limits.depth));
        return None;
    }
    let calls = CALLS.with(|c| {
        let n = c.get().wrapping_add(1);
        c.set(n);
        n
    });
    if calls.is_multiple_of(64)
        && let Some(d) = DEADLINE.with(Cell::get)
        && Instant::now() > d
    {
        spend(Exceeded::Time(limits.time.unwrap_or_default()));
        return None;
    }
    DEPTH.with(|c| c.set(depth));
    Some(Entered(()))
}

impl Entered {
    /// Leaves the level, paying for the `haps` it produced.
    pub fn leave(self, haps: usize) {
        DEPTH.with(|c| c.set(c.get().saturating_sub(1)));
        let left = FUEL.with(Cell::get);
        match left.checked_sub(haps as u64) {
            Some(l) => FUEL.with(|c| c.set(l)),
            None => {
                FUEL.with(|c| c.set(0));
                spend(Exceeded::Fuel(LIMITS.with(Cell::get).fuel));
            }
        }
    }
}

/// Pays for work that produces no haps yet (loops building lists of patterns).
pub fn charge(units: u64) -> bool {
    if !ARMED.with(Cell::get) && DEPTH.with(Cell::get) == 0 {
        // Outside any query (a span split by plain code): nothing to account.
        return true;
    }
    let left = FUEL.with(Cell::get);
    match left.checked_sub(units) {
        Some(l) => {
            FUEL.with(|c| c.set(l));
            let calls = CALLS.with(|c| {
                let n = c.get().wrapping_add(1);
                c.set(n);
                n
            });
            if calls.is_multiple_of(64) && DEADLINE.with(Cell::get).is_some_and(|d| Instant::now() > d) {
                spend(Exceeded::Time(LIMITS.with(Cell::get).time.unwrap_or_default()));
            }
            !spent()
        }
        None => {
            FUEL.with(|c| c.set(0));
            spend(Exceeded::Fuel(LIMITS.with(Cell::get).fuel));
            false
        }
    }
}

fn reset(budget: Budget) {
    LIMITS.with(|c| c.set(budget));
    FUEL.with(|c| c.set(budget.fuel));
    DEPTH.with(|c| c.set(0));
    CALLS.with(|c| c.set(0));
    DEADLINE.with(|c| c.set(budget.time.map(|t| Instant::now() + t)));
    SPENT.with(|s| *s.borrow_mut() = None);
}

/// The message a panic was raised with.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic".to_string()
    }
}

/// Keeps panics inside budgeted runs off stderr (they are reported as errors instead);
/// every other panic goes to the hook that was there before.
fn install_quiet_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if QUIET_PANICS.with(Cell::get) == 0 {
                previous(info);
            }
        }));
    });
}

/// Runs `f` (which queries patterns) under `budget`. Returns its result, or why it was
/// stopped: a spent budget, or a panic (caught; nothing propagates). Runs nested inside
/// another run share the outer budget.
pub fn run<R>(budget: Budget, f: impl FnOnce() -> R) -> Result<R, Exceeded> {
    if ARMED.with(Cell::get) {
        let out = catch_quiet(f)?;
        return match SPENT.with(|s| s.borrow().clone()) {
            Some(why) => Err(why),
            None => Ok(out),
        };
    }
    reset(budget);
    ARMED.with(|c| c.set(true));
    let out = catch_quiet(f);
    ARMED.with(|c| c.set(false));
    DEPTH.with(|c| c.set(0));
    let spent = SPENT.with(|s| s.borrow_mut().take());
    DEADLINE.with(|c| c.set(None));
    match (out, spent) {
        (Err(e), _) => Err(e),
        (Ok(_), Some(why)) => Err(why),
        (Ok(out), None) => Ok(out),
    }
}

/// Runs `f`, turning a panic into [`Exceeded::Panic`] without printing it.
pub fn catch_quiet<R>(f: impl FnOnce() -> R) -> Result<R, Exceeded> {
    install_quiet_hook();
    QUIET_PANICS.with(|c| c.set(c.get() + 1));
    let out = catch_unwind(AssertUnwindSafe(f));
    QUIET_PANICS.with(|c| c.set(c.get().saturating_sub(1)));
    out.map_err(|p| Exceeded::Panic(panic_message(&*p)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pattern::{Rational, mini};

    #[test]
    fn a_dense_pattern_spends_its_fuel_and_reports_it() {
        let p = mini("hh*100000").unwrap_or_else(|e| panic!("{e:?}"));
        let r = run(Budget::new(10_000, Duration::from_secs(5)), || p.query_span(Rational::ZERO, Rational::ONE));
        assert_eq!(r.err(), Some(Exceeded::Fuel(10_000)));
        // The next run starts afresh.
        let q = mini("bd sn").unwrap_or_else(|e| panic!("{e:?}"));
        let r = run(Budget::new(10_000, Duration::from_secs(5)), || q.query_span(Rational::ZERO, Rational::ONE));
        assert_eq!(r.map(|h| h.len()), Ok(2));
    }

    #[test]
    fn patterns_are_never_built_deeper_than_the_limit() {
        let mut p = mini("bd").unwrap_or_else(|e| panic!("{e:?}"));
        let _ = take_too_deep();
        for _ in 0..20_000 {
            p = p.fast_r(Rational::ONE);
            assert!(p.depth() <= crate::pattern::MAX_BUILD_DEPTH);
        }
        assert!(take_too_deep());
        // Querying and dropping it stay within a test thread's stack.
        let _ = run(Budget::DEFAULT, || p.query_span(Rational::ZERO, Rational::ONE));
        drop(p);
    }

    #[test]
    fn queries_nested_past_the_depth_limit_answer_nothing() {
        let mut p = mini("bd").unwrap_or_else(|e| panic!("{e:?}"));
        for _ in 0..1_000 {
            p = p.fast_r(Rational::ONE);
        }
        let shallow = Budget { depth: 100, ..Budget::DEFAULT };
        let r = run(shallow, || p.query_span(Rational::ZERO, Rational::ONE));
        assert_eq!(r.err(), Some(Exceeded::Depth(100)));
    }

    #[test]
    fn panics_are_caught_and_reported() {
        let r: Result<(), _> = run(Budget::DEFAULT, || panic!("boom"));
        assert_eq!(r, Err(Exceeded::Panic("boom".into())));
    }
}
