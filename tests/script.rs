//! The Rhai surface: strings as patterns, closures, variadic constructors, errors with
//! line and column, and the sandbox.

mod common;

use common::haps_json;
use rhaithm::pattern::Rational;
use rhaithm::script::{ScriptEngine, eval_pattern};

fn count(expr: &str) -> usize {
    haps_json(expr, Rational::ZERO, Rational::ONE).unwrap().len()
}

fn err(src: &str) -> rhaithm::script::ScriptError {
    ScriptEngine::new(src, Some(std::path::Path::new("live.rhai"))).eval_pattern().unwrap_err()
}

#[test]
fn strings_are_patterns_and_take_methods() {
    assert_eq!(count(r#"n("0 2 4".add(12))"#), 3);
    assert_eq!(count(r#"s("bd sn".fast(2))"#), 4);
    // Two events, their shifted copies, and the tail of the previous cycle's last copy.
    assert_eq!(count(r#"n("0 1".off(0.125, |x| x.add(7)))"#), 5);
    let haps = haps_json(r#"n("0 2 4".add(12))"#, Rational::ZERO, Rational::ONE).unwrap();
    assert_eq!(haps[0]["value"]["n"], 12);
}

#[test]
fn numeric_arguments_take_mini_notation() {
    assert_eq!(count(r#"s("bd sn").fast("<1 2 4>")"#), 2);
    assert_eq!(count(r#"s("bd*4").gain("1 0.5")"#), 4);
}

#[test]
fn list_constructors_take_many_arguments_or_an_array() {
    assert_eq!(count(r#"stack(s("bd"), s("sn"), s("hh"), s("cp"), s("oh"))"#), 5);
    assert_eq!(count(r#"stack([s("bd"), s("sn")])"#), 2);
    assert_eq!(count(r#"seq(s("bd"), s("sn sn"), s("hh"))"#), 4);
    assert_eq!(count(r#"s("bd").stack(s("sn"))"#), 2);
}

#[test]
fn scripts_may_use_variables_and_functions() {
    let src = r#"
        fn drums(x) { s(x).gain(0.8) }
        let beat = drums("bd*2 sn");
        beat.every(2, |p| p.fast(2))
    "#;
    assert_eq!(eval_pattern(src).unwrap().query_span(Rational::ZERO, Rational::ONE).len(), 6);
}

#[test]
fn mini_notation_errors_point_into_the_string() {
    let e = err("let a = 1;\nd = s(\"bd [sn hh\");");
    // Rhai rejects the undeclared `d` before running anything: a compile error, line 2.
    assert_eq!((e.line, e.column), (2, 1), "{e}");
    let e = err("let a = 1;\ns(\"bd [sn hh\")");
    assert_eq!(e.line, 2, "{e}");
    assert_eq!(e.column, 13, "points just past the last step: {e}");
    assert!(e.message.contains("']'"), "{e}");
    assert!(e.to_string().starts_with("live.rhai:2:13: "), "{e}");
}

#[test]
fn errors_inside_closures_keep_their_position() {
    let e = err("n(\"0 1\").every(2, |x|\n   x.add(\"1 (\"))");
    assert_eq!(e.line, 2, "{e}");
}

#[test]
fn unknown_functions_and_bad_arguments_are_reported() {
    let e = err("s(\"bd\").fsat(2)");
    assert!(e.message.contains("fsat"), "{e}");
    assert_eq!((e.line, e.column), (1, 9), "{e}");
    let e = err("s(\"bd\").every(2, 3)");
    assert!(e.message.contains("function"), "{e}");
}

#[test]
fn runaway_scripts_stop_quickly() {
    let start = std::time::Instant::now();
    let e = err("let x = 0; while true { x += 1; } s(\"bd\")");
    assert!(e.message.contains("stopped"), "{e}");
    assert!(start.elapsed() < std::time::Duration::from_secs(2), "took {:?}", start.elapsed());
    let e = err("fn f(x) { f(x + 1) } f(0)");
    assert!(!e.message.is_empty());
}

#[test]
fn the_sandbox_has_no_eval_or_import() {
    let e = err(r#"eval("1 + 1")"#);
    assert!(e.line == 1, "{e}");
    let e = err(r#"import "os" as os; s("bd")"#);
    assert!(e.line == 1, "{e}");
    let e = err(r#"let s = "x"; s.pad(100000000, "x"); s("bd")"#);
    assert!(!e.message.is_empty(), "{e}");
}

#[test]
fn print_goes_to_the_log_not_stdout() {
    let engine = ScriptEngine::new(r#"print("hello"); s("bd")"#, None);
    engine.eval_pattern().unwrap();
    assert_eq!(engine.runtime().take_logs(), vec!["hello".to_string()]);
}

#[test]
fn whole_number_division_is_exact_as_in_strudel() {
    let haps = haps_json(r#"n("0 1").late(1/8)"#, Rational::ZERO, Rational::ONE).unwrap();
    assert_eq!(haps.iter().filter(|h| h["whole"][0] == "1/8").count(), 1);
    let haps = haps_json(r#"n(8/2)"#, Rational::ZERO, Rational::ONE).unwrap();
    assert_eq!(haps[0]["value"]["n"], 4);
    assert!(eval_pattern("let i = 3; s(\"bd\").fast(i / 0)").is_err());
}
