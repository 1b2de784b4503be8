//! The fuzzer, on the stable toolchain: proptest-generated hostile input.
//!
//! - mini-notation: strings over an alphabet weighted toward mini-notation tokens (with
//!   huge numbers, random bytes and unicode now and then), parsed with
//!   [`rhaithm::pattern::mini`] and, when they parse, queried for a few cycles;
//! - whole scripts: a small grammar composing pattern functions with extreme arguments
//!   (0, -1, NaN, 1e300, huge integers...) and nested closures, compiled with
//!   [`Patch::compile`] and, when they compile, queried as `rhaithm check` does.
//!
//! Neither may panic or hang. Each case runs on its own thread with a big stack (so a
//! runaway recursion shows up as a finding here rather than as an abort: an abort still
//! kills this test binary, which is a finding as well) and a deadline
//! (`RHAITHM_FUZZ_TIMEOUT` seconds, default 10).
//!
//! `RHAITHM_FUZZ_TRACE=1` prints every input before it runs (to find the one an abort
//! came from); `RHAITHM_FUZZ_AVOID="(;chop"` skips inputs containing any of the
//! `;`-separated strings (to look past a known finding). `RHAITHM_FUZZ_CASES` sets the number of cases per property (default 300; CI runs
//! 20,000 or more). Run it under an address-space limit so that a runaway allocation
//! fails instead of waking the OOM killer:
//!
//! ```sh
//! cargo test --test fuzz --no-run && \
//!   sh -c 'ulimit -v 8000000; RHAITHM_FUZZ_CASES=20000 cargo test --test fuzz -- --nocapture'
//! ```

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use rhaithm::dsp::samples::SampleLibrary;
use rhaithm::patch::Patch;
use rhaithm::pattern::{Rational, mini};

fn cases() -> u32 {
    std::env::var("RHAITHM_FUZZ_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(300)
}

fn deadline() -> Duration {
    Duration::from_secs_f64(std::env::var("RHAITHM_FUZZ_TIMEOUT").ok().and_then(|s| s.parse().ok()).unwrap_or(10.0))
}

/// Inputs containing any of these (`RHAITHM_FUZZ_AVOID`, separated by `;`) are skipped:
/// a way to look past a known finding for the next one.
fn avoided(input: &str) -> bool {
    std::env::var("RHAITHM_FUZZ_AVOID").is_ok_and(|v| v.split(';').any(|a| !a.is_empty() && input.contains(a)))
}

/// Caps this process's address space (once), see the module docs.
fn cap_memory() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let mb: u64 = std::env::var("RHAITHM_FUZZ_VMEM_MB").ok().and_then(|s| s.parse().ok()).unwrap_or(8192);
        let limit = libc::rlimit { rlim_cur: mb << 20, rlim_max: mb << 20 };
        // SAFETY: setrlimit only reads the struct passed to it.
        let r = unsafe { libc::setrlimit(libc::RLIMIT_AS, &limit) };
        if r != 0 {
            eprintln!("could not cap the address space: {}", std::io::Error::last_os_error());
        }
    });
}

/// The generator's seed: `RHAITHM_FUZZ_SEED` (a number, or `random` to explore new
/// inputs); 1 by default, so that a run is reproducible (CI runs seed 1).
fn seed() -> proptest::test_runner::RngSeed {
    use proptest::test_runner::RngSeed;
    match std::env::var("RHAITHM_FUZZ_SEED").ok().as_deref() {
        Some("random") => RngSeed::Random,
        Some(n) => n.parse().map(RngSeed::Fixed).unwrap_or(RngSeed::Fixed(1)),
        None => RngSeed::Fixed(1),
    }
}

fn config() -> Config {
    cap_memory();
    Config {
        cases: cases(),
        // Shrinking a hang costs a deadline per step: keep it bounded.
        max_shrink_iters: 200,
        failure_persistence: None,
        rng_seed: seed(),
        ..Config::default()
    }
}

/// Runs `f` on a thread with a 256 MB stack; a panic or a missed deadline is a failure.
fn guarded(what: &str, input: &str, f: impl FnOnce() + Send + 'static) -> Result<(), TestCaseError> {
    let (tx, rx) = mpsc::channel();
    let spawned = std::thread::Builder::new().stack_size(256 << 20).spawn(move || {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        let _ = tx.send(r.map_err(|p| {
            p.downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default()
        }));
    });
    spawned.map_err(|e| TestCaseError::fail(format!("cannot spawn: {e}")))?;
    let short: String = input.chars().take(300).collect();
    if std::env::var("RHAITHM_FUZZ_TRACE").is_ok_and(|v| v == "1") {
        // An abort (stack overflow, failed allocation) kills this binary: the last input
        // printed is the culprit.
        eprintln!("{what} case: {input:?}");
    }
    match rx.recv_timeout(deadline()) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(msg)) => Err(TestCaseError::fail(format!("{what} panicked ({msg}) on {short:?}"))),
        // The thread is left running: there is no way to stop it.
        Err(_) => Err(TestCaseError::fail(format!("{what} hung (over {:?}) on {short:?}", deadline()))),
    }
}

// ---------------------------------------------------------------------------------------
// Mini-notation.

fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u32..20).prop_map(|n| n.to_string()),
        Just("1e300".to_string()),
        Just("1e9".to_string()),
        Just("-1".to_string()),
        Just("0".to_string()),
        Just("0.5".to_string()),
        Just("1e-300".to_string()),
        Just("99999999999999999999999".to_string()),
        Just("NaN".to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|x| x.to_string()),
    ]
}

fn mini_token() -> impl Strategy<Value = String> {
    let sym = prop::sample::select(vec![
        "[", "]", "<", ">", "{", "}", "(", ")", ",", ".", "~", "?", "!", "@", "*", "/", "%", ":", "|", "_", "-", "e",
        " ", " ", " ", "..",
    ]);
    let word = prop::sample::select(vec!["bd", "sn", "hh", "c4", "eb3", "fs2", "a", "x"]);
    prop_oneof![
        10 => sym.prop_map(str::to_string),
        4 => word.prop_map(str::to_string),
        3 => number(),
        1 => any::<char>().prop_map(|c| c.to_string()),
        1 => any::<u8>().prop_map(|b| (b as char).to_string()),
    ]
}

/// Mini-notation that mostly parses: atoms with modifiers, nested groups.
fn mini_structured() -> impl Strategy<Value = String> {
    let atom = prop_oneof![
        prop::sample::select(vec!["bd", "sn", "hh", "~", "-", "c4", "eb3", "0", "1", "-1", "2.5", "1e1"])
            .prop_map(str::to_string),
        number(),
    ];
    let modifier = prop_oneof![
        number().prop_map(|n| format!("*{n}")),
        number().prop_map(|n| format!("/{n}")),
        number().prop_map(|n| format!("!{n}")),
        Just("!".to_string()),
        number().prop_map(|n| format!("@{n}")),
        Just("?".to_string()),
        number().prop_map(|n| format!("?{n}")),
        number().prop_map(|n| format!(":{n}")),
        (number(), number(), number()).prop_map(|(k, n, r)| format!("({k},{n},{r})")),
        (number(), number()).prop_map(|(k, n)| format!("({k},{n})")),
        number().prop_map(|n| format!(" .. {n}")),
    ];
    let leaf = (atom, prop::collection::vec(modifier.clone(), 0..3)).prop_map(|(a, m)| format!("{a}{}", m.concat()));
    leaf.prop_recursive(6, 200, 6, move |inner| {
        let seq = prop::collection::vec(inner, 1..6);
        let sep = prop::sample::select(vec![" ", " ", ", ", " | ", " . ", " _ "]);
        (
            prop::sample::select(vec![("[", "]"), ("<", ">"), ("{", "}"), ("{", "}%"), ("", "")]),
            seq,
            sep,
            prop::collection::vec(modifier.clone(), 0..2),
            number(),
        )
            .prop_map(|((open, close), items, sep, m, n)| {
                let body = items.join(sep);
                let close = if close == "}%" { format!("}}%{n}") } else { close.to_string() };
                format!("{open}{body}{close}{}", if open.is_empty() { String::new() } else { m.concat() })
            })
    })
}

fn mini_text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => mini_structured(),
        // Structured, then damaged: a token inserted somewhere.
        2 => (mini_structured(), mini_token(), any::<prop::sample::Index>()).prop_map(|(s, t, at)| {
            let cut = s.char_indices().map(|(i, _)| i).nth(at.index(s.chars().count().max(1))).unwrap_or(s.len());
            format!("{}{t}{}", &s[..cut], &s[cut..])
        }),
        2 => prop::collection::vec(mini_token(), 0..40).prop_map(|t| t.concat()),
        1 => prop::collection::vec(mini_token(), 0..3000).prop_map(|t| t.concat()),
        // Long repetitions of one modifier (deep left-nested trees).
        1 => (prop::sample::select(vec!["?", ":1", "/1", "*1", "!", "@1", "[", "<"]), 100usize..6000)
            .prop_map(|(m, n)| format!("bd{}", m.repeat(n))),
    ]
}

static MINI_CASES: AtomicUsize = AtomicUsize::new(0);

#[test]
fn mini_notation_never_panics_or_hangs() {
    let mut runner = TestRunner::new(config());
    let result = runner.run(&mini_text(), |text| {
        if avoided(&text) {
            return Ok(());
        }
        MINI_CASES.fetch_add(1, Ordering::Relaxed);
        let input = text.clone();
        guarded("mini", &input, move || {
            if let Ok(p) = mini(&text) {
                // Queried as `check` and `play` do: under a budget, panics caught and
                // reported (a caught panic is still a finding).
                let budget = rhaithm::limits::Limits::default().check();
                for (b, e) in [
                    (Rational::int(0), Rational::int(1)),
                    (Rational::int(7), Rational::int(8)),
                    (Rational::new(1, 3), Rational::new(7, 5)),
                ] {
                    if let Err(rhaithm::pattern::budget::Exceeded::Panic(m)) =
                        rhaithm::pattern::budget::run(budget, || p.query_span(b, e))
                    {
                        panic!("query panicked: {m}");
                    }
                }
            }
        })
    });
    eprintln!("mini-notation fuzz: {} cases executed", MINI_CASES.load(Ordering::Relaxed));
    if let Err(e) = result {
        panic!("{e}");
    }
}

// ---------------------------------------------------------------------------------------
// Scripts.

/// Numeric arguments, extreme ones often.
fn arg() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "0",
        "-1",
        "1",
        "2",
        "3",
        "4",
        "0.5",
        "0.25",
        "1e300",
        "-1e300",
        "1e9",
        "1e-300",
        "(0.0/0.0)",
        "(1.0/0.0)",
        "9223372036854775807",
        "-9223372036854775808",
        "\"<1 2>\"",
        "\"1 [2 3]\"",
        "\"0 .. 3\"",
        "sine",
        "\"1e300\"",
        "1e20",
    ])
    .prop_map(str::to_string)
}

fn source() -> impl Strategy<Value = String> {
    prop_oneof![
        mini_text().prop_map(|m| format!("s(\"{}\")", m.replace(['"', '\\'], ""))),
        Just("s(\"bd*2 [sn cp]\")".to_string()),
        Just("n(\"0 1 2 3\")".to_string()),
        Just("note(\"c4 e4 g4\")".to_string()),
        Just("\"bd sn\"".to_string()),
        Just("silence".to_string()),
        arg().prop_map(|a| format!("n(run({a}))")),
        arg().prop_map(|a| format!("n(pure({a}))")),
        arg().prop_map(|a| format!("n(irand({a}).segment(4))")),
    ]
}

/// A method applied to `e`; `body` stands for a closure body over `x`.
fn method(e: String, body: String, a: String, b: String) -> impl Strategy<Value = String> {
    let calls = vec![
        format!("{e}.fast({a})"),
        format!("{e}.slow({a})"),
        format!("{e}.ply({a})"),
        format!("{e}.chop({a})"),
        format!("{e}.striate({a})"),
        format!("{e}.iter({a})"),
        format!("{e}.segment({a})"),
        format!("{e}.add({a})"),
        format!("{e}.range({a}, {b})"),
        format!("{e}.euclid({a}, {b})"),
        format!("{e}.late({a})"),
        format!("{e}.linger({a})"),
        format!("{e}.degradeBy({a})"),
        format!("{e}.gain({a})"),
        format!("{e}.every({a}, |x| {body})"),
        format!("{e}.chunk({a}, |x| {body})"),
        format!("{e}.off({a}, |x| {body})"),
        format!("{e}.jux(|x| {body})"),
        format!("{e}.superimpose(|x| {body})"),
        format!("{e}.inside({a}, |x| {body})"),
        format!("{e}.rev()"),
        format!("stack({e}, {body})"),
        format!("cat({e}, {body})"),
        format!("seq({e}, {body})"),
    ];
    prop::sample::select(calls)
}

fn pattern_expr() -> impl Strategy<Value = String> {
    source().prop_recursive(5, 64, 4, |inner| {
        // A closure body: `x` with something done to it, or anything at all.
        let body = prop_oneof![
            Just("x".to_string()),
            (arg()).prop_map(|a| format!("x.fast({a})")),
            inner.clone().prop_map(|e| format!("x.stack({e})")),
            inner.clone(),
        ];
        (inner, body, arg(), arg()).prop_flat_map(|(e, body, a, b)| method(e, body, a, b))
    })
}

fn script() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => pattern_expr(),
        2 => (pattern_expr(), pattern_expr()).prop_map(|(a, b)| format!("d1({a});\nd2({b});")),
        1 => (arg(), pattern_expr()).prop_map(|(c, p)| format!("setcps({c});\nd1({p});")),
        1 => (arg(), pattern_expr()).prop_map(|(n, p)| format!(
            "let p = {p};\nfor i in 0..{n} {{ p = p.fast(1); }}\np",
            n = if n.starts_with(|c: char| c.is_ascii_digit() || c == '-') { n } else { "3".into() }
        )),
    ]
}

static SCRIPT_CASES: AtomicUsize = AtomicUsize::new(0);

#[test]
fn scripts_never_panic_or_hang() {
    let mut runner = TestRunner::new(config());
    let result = runner.run(&script(), |src| {
        if avoided(&src) {
            return Ok(());
        }
        SCRIPT_CASES.fetch_add(1, Ordering::Relaxed);
        let input = src.clone();
        guarded("script", &input, move || {
            if let Ok(patch) = Patch::compile(&src, None) {
                let report = rhaithm::engine::check::check(
                    &patch,
                    &SampleLibrary::default(),
                    &rhaithm::limits::Limits::default(),
                );
                // A caught panic is reported as an internal error: still a finding.
                if let Some(e) = report.error {
                    assert!(!e.message.contains("internal error"), "{e}");
                }
            }
        })
    });
    eprintln!("script fuzz: {} cases executed", SCRIPT_CASES.load(Ordering::Relaxed));
    if let Err(e) = result {
        panic!("{e}");
    }
}
