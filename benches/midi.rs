//! MIDI timing (a benchmark, not a test; needs the `jack` feature, `jackd2` and the
//! dummy driver): a session plays a dense MIDI pattern and sends the MIDI clock to a
//! virtual port on a JACK server of the bench's own, and a JACK client of the bench's
//! own receives. Every arrival is compared with the ideal grid (a straight line fitted
//! through the arrivals against their ideal times, which removes the fixed latency and
//! the dummy server's clock skew): the deviations are the timing error as the receiver
//! sees it. Reported: median, p99 and worst, for notes and for clock ticks (clock-out
//! jitter), at two JACK period sizes (midir's JACK backend hands a message to JACK at the
//! start of the next period, so the period bounds the error).
//!
//! ```sh
//! cargo bench --features jack --bench midi                  # 20 s per period size
//! RHAITHM_MIDI_BENCH_SECS=60 cargo bench --features jack --bench midi
//! ```
//!
//! `RHAITHM_MIDI_BENCH_BUFFER=64` sets the null output's buffer (256 by default).

use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rhaithm::session::{OutputKind, PlayOptions, Session};

const SERVER: &str = "rhaithm-midi-bench";

fn start_jack(period: u32) -> Child {
    let child = Command::new("jackd")
        .args(["-n", SERVER, "-d", "dummy", "-r", "48000", "-p", &period.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("jackd (jackd2) is needed");
    let deadline = Instant::now() + Duration::from_secs(10);
    while midir::MidiInput::new("rh-bench-probe").is_err() {
        assert!(Instant::now() < deadline, "the bench's JACK server did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    child
}

/// Deviation (seconds) of each arrival from the line fitted through (ideal, arrival).
fn deviations(points: &[(f64, f64)]) -> Vec<f64> {
    let n = points.len() as f64;
    let (sx, sy) = points.iter().fold((0.0, 0.0), |a, p| (a.0 + p.0, a.1 + p.1));
    let (mx, my) = (sx / n, sy / n);
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let sxx: f64 = points.iter().map(|p| (p.0 - mx) * (p.0 - mx)).sum();
    let slope = sxy / sxx;
    points.iter().map(|p| (p.1 - (my + slope * (p.0 - mx))).abs()).collect()
}

fn report(what: &str, mut d: Vec<f64>) {
    d.sort_by(f64::total_cmp);
    let at = |q: f64| d[((d.len() - 1) as f64 * q).round() as usize] * 1000.0;
    println!(
        "  {what:<12} {:6} events  median {:6.3} ms  p99 {:6.3} ms  worst {:6.3} ms",
        d.len(),
        at(0.5),
        at(0.99),
        at(1.0)
    );
}

fn run(period: u32, seconds: f64) {
    let mut jack = start_jack(period);
    let dir = tempfile::tempdir().expect("a temporary folder");
    let patch = dir.path().join("dense.rhai");
    // 16 notes a cycle at 1 cps; the clock adds 96 ticks a cycle.
    std::fs::write(&patch, "setcps(1);\nd1(note(\"c4*16\").midi().legato(0.5));\n").expect("writing the patch");
    let mut opts = PlayOptions::new(vec![patch]);
    opts.output = OutputKind::Null;
    opts.midi.virtual_port = Some("bench".into());
    opts.midi.clock_ports = vec![String::new()];
    opts.device.buffer = std::env::var("RHAITHM_MIDI_BENCH_BUFFER").ok().and_then(|s| s.parse().ok());
    let session = Session::start(opts).expect("the session starts");
    let deadline = Instant::now() + Duration::from_secs(10);
    let (input, port) = loop {
        let input = midir::MidiInput::new("rh-bench").expect("a JACK client");
        if let Some(p) = input.ports().into_iter().find(|p| input.port_name(p).is_ok_and(|n| n.ends_with(":bench"))) {
            break (input, p);
        }
        assert!(Instant::now() < deadline, "rhaithm's virtual port never appeared");
        std::thread::sleep(Duration::from_millis(50));
    };
    let (tx, rx) = mpsc::channel::<(Instant, u8)>();
    let conn = input
        .connect(
            &port,
            "in",
            move |_, bytes, _| {
                let _ = tx.send((Instant::now(), bytes[0]));
            },
            (),
        )
        .expect("connecting");
    std::thread::sleep(Duration::from_secs_f64(seconds));
    drop(conn);
    let _ = session.finish();
    let got: Vec<(Instant, u8)> = rx.try_iter().collect();
    let _ = jack.kill();
    let _ = jack.wait();
    let t0 = got.first().map(|g| g.0).expect("messages arrived");
    // Ideal times: note-ons every 1/16 s, ticks every 1/96 s, counted from the first one
    // received (the line fit finds the offset).
    let series = |status: u8, step: f64| -> Vec<(f64, f64)> {
        let times: Vec<f64> =
            got.iter().filter(|g| g.1 == status).map(|g| g.0.duration_since(t0).as_secs_f64()).collect();
        // Skip the first second (the start) and number each arrival by the nearest grid step.
        let first = times.iter().copied().find(|&t| t > 1.0).unwrap_or(0.0);
        times.iter().filter(|&&t| t > 1.0).map(|&t| (((t - first) / step).round() * step, t)).collect()
    };
    println!(
        "JACK period {period} frames ({:.2} ms), {seconds:.0} s, 16 notes and 96 clock ticks a second:",
        period as f64 / 48.0
    );
    report("note-ons", deviations(&series(0x90, 1.0 / 16.0)));
    report("clock ticks", deviations(&series(0xf8, 1.0 / 96.0)));
}

fn main() {
    let seconds: f64 = std::env::var("RHAITHM_MIDI_BENCH_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(20.0);
    // This process's JACK clients (the session's and the receiver) use the bench's server.
    // SAFETY: set before any other thread starts.
    unsafe { std::env::set_var("JACK_DEFAULT_SERVER", SERVER) };
    for period in [256, 32] {
        run(period, seconds);
    }
}
