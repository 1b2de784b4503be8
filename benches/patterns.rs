//! Pattern query speed: haps per second for a dense 8-track pattern over 64 cycles,
//! queried one cycle at a time as a scheduler would. `benches/strudel_dense8.mjs`
//! times Strudel on the same expression.

use divan::counter::ItemsCount;
use rhaithm::pattern::{Pat, Rational};

const DENSE8: &str = include_str!("dense8.rhai");
const CYCLES: i64 = 64;

fn dense8() -> Pat {
    rhaithm::script::eval_pattern(DENSE8).expect("dense8.rhai evaluates")
}

fn query_all(p: &Pat) -> usize {
    (0..CYCLES).map(|c| p.query_span(Rational::int(c), Rational::int(c + 1)).len()).sum()
}

#[divan::bench(sample_count = 20)]
fn dense8_64_cycles(bencher: divan::Bencher) {
    let p = dense8();
    let haps = query_all(&p);
    bencher.counter(ItemsCount::new(haps)).bench(|| query_all(divan::black_box(&p)));
}

#[divan::bench(sample_count = 20)]
fn mini_notation_parse(bencher: divan::Bencher) {
    bencher.bench(|| rhaithm::pattern::mini(divan::black_box("bd*2 [~ sn] <hh [hh oh]>(3,8) cp? {a b c}%4 0 .. 7")));
}

fn main() {
    eprintln!("dense8: {} haps over {CYCLES} cycles", query_all(&dense8()));
    divan::main();
}
