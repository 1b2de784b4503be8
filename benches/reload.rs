//! Reload latency: a patch file is saved (in place, or by rename as vim does) many
//! times while rhaithm plays it; each save is timed from the moment the write returns
//! to the start of the audio callback that renders the first crossfaded frame.
//!
//! The output is the null output (the cpal device's timing without a device: 256-frame
//! buffers at 48 kHz, paced by a timer); set `RHAITHM_BENCH_DEVICE=1` to play through
//! the default cpal device instead. `RHAITHM_BENCH_SAVES` sets the number of saves.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use rhaithm::session::{Event, OutputKind, PlayOptions, play};

fn patch(i: usize) -> String {
    // A typical patch; each save changes numbers, as a performer does.
    format!(
        r#"setbpm({});
d1(s("bd*4").gain(0.9));
d2(s("~ hh ~ hh, hh*8").gain("0.5 0.3").pan(sine.range(0.3, 0.7)));
d3(s("~ cp ~ cp").room(0.2));
d4(note("<c2 c2 eb2 g1>*2").s("saw").lpf({}).resonance(4).release(0.1));
d5(note("<[c4,eb4,g4] [bb3,d4,f4]>").s("supersaw").struct("~ x ~ x").clip(0.5).lpf(1800).gain(0.6));
"#,
        120 + i % 9,
        400 + 37 * (i % 50)
    )
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let saves: usize = std::env::var("RHAITHM_BENCH_SAVES").ok().and_then(|s| s.parse().ok()).unwrap_or(200);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.rhai");
    std::fs::write(&path, patch(0)).unwrap();
    let mut opts = PlayOptions::new(vec![path.clone()]);
    opts.output = if std::env::var("RHAITHM_BENCH_DEVICE").is_ok_and(|v| v == "1") {
        OutputKind::Device
    } else {
        OutputKind::Null
    };
    opts.device.buffer = Some(256);
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel();
    let flag = stop.clone();
    let player = std::thread::spawn(move || {
        play(opts, flag, move |e| {
            if let Event::Reloaded { live_at, compile, .. } = e {
                let _ = tx.send((*live_at, *compile));
            }
        })
    });
    std::thread::sleep(Duration::from_millis(500));
    let (mut latency, mut compile) = (Vec::new(), Vec::new());
    for i in 1..=saves {
        let text = patch(i);
        let saved = if i % 2 == 0 {
            std::fs::write(&path, text).unwrap();
            Instant::now()
        } else {
            let tmp = dir.path().join(".bench.rhai.swp");
            std::fs::write(&tmp, text).unwrap();
            std::fs::rename(&tmp, &path).unwrap();
            Instant::now()
        };
        let (live_at, c) = rx.recv_timeout(Duration::from_secs(5)).expect("the save was swapped in");
        let live_at = live_at.expect("the swap was timed");
        latency.push(live_at.saturating_duration_since(saved).as_secs_f64() * 1000.0);
        compile.push(c.as_secs_f64() * 1000.0);
        // Saves come at a performer's pace, at no particular point in the buffer.
        std::thread::sleep(Duration::from_millis(40 + (i * 37 % 60) as u64));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    player.join().unwrap().unwrap();
    latency.sort_by(f64::total_cmp);
    compile.sort_by(f64::total_cmp);
    println!(
        "reload latency over {saves} saves (file saved -> first crossfaded frame rendered), 256-frame buffer at 48 kHz (5.33 ms):"
    );
    println!(
        "  median {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, worst {:.2} ms, best {:.2} ms",
        percentile(&latency, 0.5),
        percentile(&latency, 0.9),
        percentile(&latency, 0.99),
        latency[latency.len() - 1],
        latency[0]
    );
    println!(
        "  of which compiling: median {:.2} ms, worst {:.2} ms",
        percentile(&compile, 0.5),
        compile[compile.len() - 1]
    );
}
