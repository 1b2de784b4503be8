//! Recording: the callback pushes every rendered stereo sample into a lock-free queue;
//! a writer thread drains it into a 32-bit float WAV file and rewrites the header every
//! second, so the file is valid even if the process dies without finishing it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use rtrb::{Producer, RingBuffer};

/// Seconds of audio the queue holds before the writer must catch up.
const QUEUE_SECONDS: usize = 4;

/// A recording in progress.
pub struct Recorder {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<u64>>>,
}

impl Recorder {
    /// Creates the file and the writer thread; the producer goes to the audio callback.
    pub fn start(path: &Path, sample_rate: u32) -> Result<(Recorder, Producer<f32>)> {
        let spec =
            hound::WavSpec { channels: 2, sample_rate, bits_per_sample: 32, sample_format: hound::SampleFormat::Float };
        let mut writer =
            hound::WavWriter::create(path, spec).with_context(|| format!("creating {}", path.display()))?;
        let (producer, mut consumer) = RingBuffer::<f32>::new(QUEUE_SECONDS * 2 * sample_rate as usize);
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let shown = path.display().to_string();
        let thread = std::thread::Builder::new().name("rhaithm-recorder".into()).spawn(move || -> Result<u64> {
            let mut frames = 0u64;
            let mut flushed = Instant::now();
            let mut chunk = vec![0.0f32; 8192];
            loop {
                // Read the flag first: everything pushed before it was set is drained below.
                let stopping = flag.load(Ordering::Acquire);
                let mut wrote = false;
                loop {
                    let (got, _) = consumer.pop_partial_slice(&mut chunk);
                    if got.is_empty() {
                        break;
                    }
                    for &x in got.iter() {
                        writer.write_sample(x).with_context(|| format!("writing {shown}"))?;
                    }
                    frames += got.len() as u64 / 2;
                    wrote = true;
                }
                if stopping {
                    break;
                }
                if flushed.elapsed() >= Duration::from_secs(1) {
                    writer.flush().with_context(|| format!("writing {shown}"))?;
                    flushed = Instant::now();
                }
                if !wrote {
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
            writer.finalize().with_context(|| format!("finishing {shown}"))?;
            Ok(frames)
        })?;
        Ok((Recorder { path: path.to_path_buf(), stop, thread: Some(thread) }, producer))
    }

    /// The file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Drains what is queued and finalizes the file; returns the frames written. Stop
    /// the output first so nothing more arrives.
    pub fn finish(mut self) -> Result<u64> {
        self.stop_thread()
    }

    fn stop_thread(&mut self) -> Result<u64> {
        self.stop.store(true, Ordering::Release);
        match self.thread.take() {
            Some(t) => t.join().map_err(|_| anyhow::anyhow!("the recorder thread panicked"))?,
            None => Ok(0),
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        let _ = self.stop_thread();
    }
}
