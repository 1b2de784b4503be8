//! The null output: no device, the same timing. A thread runs the callback once per
//! buffer period against absolute deadlines (so it does not drift), for MIDI-only sets
//! and machines without sound.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::callback::Loan;

/// A running null output; dropping it stops it (and returns the callback to its slot).
pub struct NullOutput {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    /// Sample rate.
    pub sample_rate: u32,
    /// Frames per buffer.
    pub buffer: u32,
}

impl NullOutput {
    /// Starts running `loan`'s callback every `buffer` frames at `sample_rate`.
    pub fn start(mut loan: Loan, sample_rate: u32, buffer: u32) -> std::io::Result<NullOutput> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let buffer = buffer.max(16);
        let period = Duration::from_secs_f64(buffer as f64 / sample_rate as f64);
        let thread = std::thread::Builder::new().name("rhaithm-null-output".into()).spawn(move || {
            let mut out = vec![0.0f32; 2 * buffer as usize];
            let mut deadline = Instant::now();
            while !flag.load(Ordering::Acquire) {
                loan.get().render(&mut out, 2);
                deadline += period;
                let now = Instant::now();
                if now > deadline + period {
                    // A real device would have run dry here.
                    loan.get().status().underruns.fetch_add(1, Ordering::Relaxed);
                    deadline = now;
                } else if deadline > now {
                    std::thread::sleep(deadline - now);
                }
            }
        })?;
        Ok(NullOutput { stop, thread: Some(thread), sample_rate, buffer })
    }
}

impl Drop for NullOutput {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
