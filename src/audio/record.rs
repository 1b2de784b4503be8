//! Recording: the callback pushes every rendered stereo sample into a lock-free queue;
//! a writer thread drains it into a 32-bit float WAV file.
//!
//! The file is a valid WAV at every moment, even if the process is killed: the header is
//! written before any audio, and at least every [`FLUSH_EVERY`] the audio drained so far
//! is handed to the kernel (which keeps it whatever happens to the process) and only then
//! the header's sizes are brought up to it, so the header never counts audio that is not
//! in the file and lags it by at most [`FLUSH_EVERY`] plus one drain. [`Recorder::finish`]
//! writes everything and leaves exact sizes.
//!
//! The format is plain IEEE float (format tag 3) with a complete `WAVEFORMATEX` (cbSize 0)
//! and the `fact` chunk non-PCM formats must have, which sox and hound read without
//! complaint. The writer never touches the audio thread; it never overwrites a file.

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use rtrb::{Producer, RingBuffer};

/// Seconds of audio the queue holds before the writer must catch up.
const QUEUE_SECONDS: usize = 4;

/// The longest the header may lag the audio handed to the writer.
pub const FLUSH_EVERY: Duration = Duration::from_millis(25);

/// How long the writer sleeps when the queue is empty.
const IDLE: Duration = Duration::from_millis(5);

const CHANNELS: u16 = 2;
const BYTES_PER_SAMPLE: u16 = 4;
const BLOCK: u32 = CHANNELS as u32 * BYTES_PER_SAMPLE as u32;

/// Where the sizes sit in the header.
const RIFF_SIZE_AT: u64 = 4;
const FACT_FRAMES_AT: u64 = 46;
const DATA_SIZE_AT: u64 = 54;
/// Bytes before the first sample.
const HEADER_LEN: u32 = 58;

/// The most audio a WAV file can count (its sizes are 32-bit).
const MAX_DATA: u64 = (u32::MAX - HEADER_LEN) as u64 / BLOCK as u64 * BLOCK as u64;

/// The header of a stereo 32-bit float file holding `frames` frames.
fn header(sample_rate: u32, frames: u32) -> [u8; HEADER_LEN as usize] {
    let data = frames.saturating_mul(BLOCK);
    let mut h = [0u8; HEADER_LEN as usize];
    let mut at = 0;
    let mut put = |bytes: &[u8]| {
        h[at..at + bytes.len()].copy_from_slice(bytes);
        at += bytes.len();
    };
    put(b"RIFF");
    put(&(HEADER_LEN - 8).saturating_add(data).to_le_bytes());
    put(b"WAVE");
    put(b"fmt ");
    put(&18u32.to_le_bytes());
    put(&3u16.to_le_bytes()); // WAVE_FORMAT_IEEE_FLOAT
    put(&CHANNELS.to_le_bytes());
    put(&sample_rate.to_le_bytes());
    put(&sample_rate.saturating_mul(BLOCK).to_le_bytes());
    put(&(BLOCK as u16).to_le_bytes());
    put(&(BYTES_PER_SAMPLE * 8).to_le_bytes());
    put(&0u16.to_le_bytes()); // cbSize: no extension
    put(b"fact");
    put(&4u32.to_le_bytes());
    put(&frames.to_le_bytes());
    put(b"data");
    put(&data.to_le_bytes());
    h
}

/// The open file and how much audio it holds.
struct Wav {
    file: File,
    sample_rate: u32,
    /// Bytes of audio handed to the kernel.
    written: u64,
    /// Bytes of audio the header counts.
    counted: u64,
    /// Audio drained but not written yet.
    pending: Vec<u8>,
    /// Frames that did not fit under the format's 4 GiB limit.
    lost: u64,
}

impl Wav {
    fn create(path: &Path, sample_rate: u32) -> std::io::Result<Wav> {
        // `create_new`: a recording never overwrites a file.
        let mut file = File::options().write(true).create_new(true).open(path)?;
        file.write_all(&header(sample_rate, 0))?;
        Ok(Wav { file, sample_rate, written: 0, counted: 0, pending: Vec::new(), lost: 0 })
    }

    fn push(&mut self, samples: &[f32]) {
        let frames = samples.len() as u64 / CHANNELS as u64;
        let room = (MAX_DATA - self.written - self.pending.len() as u64) / BLOCK as u64;
        let keep = frames.min(room);
        self.lost += frames - keep;
        for x in &samples[..keep as usize * CHANNELS as usize] {
            self.pending.extend_from_slice(&x.to_le_bytes());
        }
    }

    /// Hands the pending audio to the kernel, then makes the header count it.
    fn flush(&mut self) -> std::io::Result<()> {
        if !self.pending.is_empty() {
            self.file.write_all(&self.pending)?;
            self.written += self.pending.len() as u64;
            self.pending.clear();
        }
        if self.counted != self.written {
            // `written` is at most `MAX_DATA`, which fits.
            let frames = u32::try_from(self.written / BLOCK as u64).unwrap_or(u32::MAX);
            let h = header(self.sample_rate, frames);
            for at in [RIFF_SIZE_AT, FACT_FRAMES_AT, DATA_SIZE_AT] {
                self.file.seek(SeekFrom::Start(at))?;
                self.file.write_all(&h[at as usize..at as usize + 4])?;
            }
            self.file.seek(SeekFrom::End(0))?;
            self.counted = self.written;
        }
        Ok(())
    }

    fn frames(&self) -> u64 {
        self.written / BLOCK as u64
    }
}

/// A recording in progress.
pub struct Recorder {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<u64>>>,
}

impl Recorder {
    /// Creates the file (never over an existing one), writes its header and starts the
    /// writer thread; the producer goes to the audio callback.
    pub fn start(path: &Path, sample_rate: u32) -> Result<(Recorder, Producer<f32>)> {
        let mut wav = Wav::create(path, sample_rate).with_context(|| format!("creating {}", path.display()))?;
        let (producer, mut consumer) = RingBuffer::<f32>::new(QUEUE_SECONDS * 2 * sample_rate as usize);
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let shown = path.display().to_string();
        let thread = std::thread::Builder::new().name("rhaithm-recorder".into()).spawn(move || -> Result<u64> {
            let mut flushed = Instant::now();
            let mut chunk = vec![0.0f32; 8192];
            loop {
                // Read the flag first: everything pushed before it was set is drained below.
                let stopping = flag.load(Ordering::Acquire);
                let mut drained = false;
                loop {
                    // Whole frames only, so that the file always ends on a frame.
                    let ready = consumer.slots() / 2 * 2;
                    let n = ready.min(chunk.len());
                    if n == 0 {
                        break;
                    }
                    let (got, _) = consumer.pop_partial_slice(&mut chunk[..n]);
                    wav.push(got);
                    drained = true;
                }
                if stopping || flushed.elapsed() >= FLUSH_EVERY {
                    wav.flush().with_context(|| format!("writing {shown}"))?;
                    flushed = Instant::now();
                }
                if stopping {
                    break;
                }
                if !drained {
                    std::thread::sleep(IDLE);
                }
            }
            wav.file.sync_all().with_context(|| format!("finishing {shown}"))?;
            if wav.lost > 0 {
                bail!(
                    "{shown} reached the WAV format's 4 GiB limit: the last {:.0} s were not recorded",
                    wav.lost as f64 / wav.sample_rate as f64
                );
            }
            Ok(wav.frames())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_is_a_float_wav_that_hound_reads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.wav");
        let mut wav = Wav::create(&path, 48_000).unwrap();
        // Valid before any audio.
        assert_eq!(hound::WavReader::open(&path).unwrap().duration(), 0);
        wav.push(&[0.5, -0.5, 0.25, -0.25, 1.0]);
        wav.flush().unwrap();
        drop(wav);
        let mut r = hound::WavReader::open(&path).unwrap();
        let spec = r.spec();
        assert_eq!((spec.channels, spec.sample_rate, spec.bits_per_sample), (2, 48_000, 32));
        assert_eq!(spec.sample_format, hound::SampleFormat::Float);
        assert_eq!(r.duration(), 2);
        let got: Vec<f32> = r.samples::<f32>().map(|s| s.unwrap()).collect();
        assert_eq!(got, [0.5, -0.5, 0.25, -0.25]);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), HEADER_LEN as u64 + 16);
        // Never over an existing file.
        assert!(Wav::create(&path, 48_000).is_err());
    }
}
