//! Sample banks in the Dirt-Samples layout (one folder per bank, files sorted by name,
//! `n` wrapping around), decoded with symphonia (wav, flac, ogg/vorbis, mp3), and the
//! player that reads them at any speed, backwards too.
//!
//! Decoding happens on the control side, before a voice is built; the audio side only
//! reads the decoded frames.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use symphonia::core::codecs::audio::AudioDecoderOptions;
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, TrackType};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;

/// File extensions looked at in a bank folder.
const EXTENSIONS: &[&str] = &["wav", "wave", "flac", "ogg", "oga", "mp3", "aif", "aiff"];

/// A decoded sample: one `Vec` per channel (one or two), at its own rate.
#[derive(Debug)]
pub struct Sample {
    /// Channel data, all the same length.
    pub channels: Vec<Vec<f32>>,
    /// The file's sample rate in Hz.
    pub rate: f64,
    /// Where it came from.
    pub path: PathBuf,
}

impl Sample {
    /// Length in frames.
    pub fn frames(&self) -> usize {
        self.channels.first().map_or(0, Vec::len)
    }
}

/// Most values (frames times channels) decoded from one file: about ten minutes of
/// stereo at 48 kHz, 230 MB in memory.
pub const MAX_SAMPLE_VALUES: usize = 60_000_000;

/// Decodes a whole audio file. More than two channels are folded to stereo.
pub fn decode(path: &Path) -> Result<Sample, String> {
    let file = File::open(path).map_err(|e| e.to_string())?;
    let mss = MediaSourceStream::new(Box::new(file), Default::default());
    let mut hint = Hint::new();
    if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
        hint.with_extension(ext);
    }
    let mut format = symphonia::default::get_probe()
        .probe(&hint, mss, FormatOptions::default(), MetadataOptions::default())
        .map_err(|e| format!("not a readable audio file ({e})"))?;
    let track = format.default_track(TrackType::Audio).ok_or("no audio track")?;
    let params = track.codec_params.as_ref().and_then(|p| p.audio()).ok_or("no audio codec parameters")?;
    let mut decoder = symphonia::default::get_codecs()
        .make_audio_decoder(params, &AudioDecoderOptions::default())
        .map_err(|e| format!("unsupported codec ({e})"))?;
    let track_id = track.id;
    let mut interleaved: Vec<f32> = Vec::new();
    let mut chunk: Vec<f32> = Vec::new();
    let mut channels = 0;
    let mut rate = 0;
    loop {
        let packet = match format.next_packet() {
            Ok(Some(p)) => p,
            Ok(None) => break,
            Err(SymError::IoError(_)) => break,
            Err(e) => return Err(e.to_string()),
        };
        if packet.track_id != track_id {
            continue;
        }
        match decoder.decode(&packet) {
            Ok(buf) => {
                channels = buf.spec().channels().count();
                rate = buf.spec().rate();
                chunk.resize(buf.samples_interleaved(), 0.0);
                buf.copy_to_slice_interleaved(&mut chunk);
                if interleaved.len() + chunk.len() > MAX_SAMPLE_VALUES {
                    return Err(format!(
                        "longer than rhaithm plays (at most {MAX_SAMPLE_VALUES} values, about 10 minutes of stereo at 48 kHz)"
                    ));
                }
                interleaved.extend_from_slice(&chunk);
            }
            Err(SymError::DecodeError(_)) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    if channels == 0 || rate == 0 {
        return Err("no audio in file".into());
    }
    let frames = interleaved.len() / channels;
    let out_channels = channels.min(2);
    let mut data = vec![Vec::with_capacity(frames); out_channels];
    for frame in interleaved.chunks_exact(channels) {
        for (c, out) in data.iter_mut().enumerate() {
            // Channels beyond two are folded into the pair.
            let mut x = frame[c];
            for extra in frame.iter().skip(2).skip(c).step_by(2) {
                x += extra;
            }
            out.push(x);
        }
    }
    Ok(Sample { channels: data, rate: rate as f64, path: path.to_path_buf() })
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The default sample folder: `<data dir>/rhaithm/samples`.
pub fn default_folder() -> Option<PathBuf> {
    dirs::data_dir().map(|d| d.join("rhaithm").join("samples"))
}

/// Every bank found in a set of folders; samples are decoded on first use (or when
/// preloaded) and kept. Clones share what has been decoded. Never used on the audio
/// thread (the cache has a lock).
#[derive(Clone, Debug, Default)]
pub struct SampleLibrary {
    banks: BTreeMap<String, Bank>,
    /// When set, `get` never decodes: files not yet in memory are handed to this
    /// background loader and the note asking for them is skipped.
    loader: Option<Arc<Loader>>,
}

type Slots = Arc<Mutex<Vec<Option<Arc<Sample>>>>>;

#[derive(Clone, Debug, Default)]
struct Bank {
    files: Vec<PathBuf>,
    loaded: Slots,
}

/// A thread that decodes files asked for while playing.
#[derive(Debug)]
struct Loader {
    requests: Mutex<std::sync::mpsc::Sender<(Slots, PathBuf, usize)>>,
    asked: Mutex<std::collections::BTreeSet<PathBuf>>,
}

impl SampleLibrary {
    /// Scans folders in order; a bank name found twice keeps the first folder's files.
    /// Folders that do not exist are skipped.
    pub fn scan(folders: &[PathBuf]) -> SampleLibrary {
        let mut banks = BTreeMap::new();
        for folder in folders {
            let Ok(entries) = std::fs::read_dir(folder) else { continue };
            let mut dirs: Vec<PathBuf> = entries.flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect();
            dirs.sort();
            for dir in dirs {
                let Some(name) = dir.file_name().and_then(|n| n.to_str()).map(str::to_string) else { continue };
                if banks.contains_key(&name) {
                    continue;
                }
                let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
                    .into_iter()
                    .flatten()
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| {
                        p.is_file()
                            && p.extension()
                                .and_then(|e| e.to_str())
                                .is_some_and(|e| EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
                    })
                    .collect();
                if files.is_empty() {
                    continue;
                }
                files.sort();
                let loaded = Arc::new(Mutex::new(vec![None; files.len()]));
                banks.insert(name, Bank { files, loaded });
            }
        }
        SampleLibrary { banks, loader: None }
    }

    /// The same library, for the control thread of live playback: `get` never waits on
    /// the disk. A file not yet decoded is decoded by a background thread, and the
    /// notes that ask for it meanwhile are skipped with an error saying so.
    pub fn background(&self) -> SampleLibrary {
        let (tx, rx) = std::sync::mpsc::channel::<(Slots, PathBuf, usize)>();
        let spawned = std::thread::Builder::new().name("rhaithm-samples".into()).spawn(move || {
            while let Ok((slots, path, i)) = rx.recv() {
                if let Ok(sample) = decode(&path) {
                    lock(&slots)[i] = Some(Arc::new(sample));
                }
            }
        });
        let loader = spawned.ok().map(|_| {
            Arc::new(Loader { requests: Mutex::new(tx), asked: Mutex::new(std::collections::BTreeSet::new()) })
        });
        SampleLibrary { banks: self.banks.clone(), loader }
    }

    /// True if a bank of this name exists.
    pub fn has(&self, bank: &str) -> bool {
        self.banks.contains_key(bank)
    }

    /// Bank names and how many files each holds.
    pub fn banks(&self) -> impl Iterator<Item = (&str, usize)> {
        self.banks.iter().map(|(k, b)| (k.as_str(), b.files.len()))
    }

    /// The `n`-th sample of a bank (wrapping around), decoded on first use.
    pub fn get(&self, bank: &str, n: i64) -> Result<Option<Arc<Sample>>, String> {
        let Some(b) = self.banks.get(bank) else { return Ok(None) };
        let i = n.rem_euclid(b.files.len() as i64) as usize;
        if let Some(s) = &lock(&b.loaded)[i] {
            return Ok(Some(s.clone()));
        }
        if let Some(loader) = &self.loader {
            let path = &b.files[i];
            if lock(&loader.asked).insert(path.clone()) {
                let _ = lock(&loader.requests).send((b.loaded.clone(), path.clone(), i));
                return Err(format!(
                    "{}: still loading (notes using it are skipped until it is ready)",
                    path.display()
                ));
            }
            return Err(format!("{}: cannot be read, or still loading", path.display()));
        }
        let sample = Arc::new(decode(&b.files[i]).map_err(|e| format!("{}: {e}", b.files[i].display()))?);
        lock(&b.loaded)[i] = Some(sample.clone());
        Ok(Some(sample))
    }

    /// Decodes every file of a bank now (so that playing it later does not wait on the
    /// disk); returns how many files it holds. Files that fail are left for `get` to
    /// report.
    pub fn preload(&self, bank: &str) -> usize {
        let Some(b) = self.banks.get(bank) else { return 0 };
        for (i, path) in b.files.iter().enumerate() {
            if lock(&b.loaded)[i].is_none()
                && let Ok(sample) = decode(path)
            {
                lock(&b.loaded)[i] = Some(Arc::new(sample));
            }
        }
        b.files.len()
    }
}

/// Plays a sample from `begin` to `end` (fractions) at a rate, forwards or backwards,
/// with linear interpolation.
#[derive(Clone, Debug)]
pub struct SamplePlayer {
    sample: Arc<Sample>,
    pos: f64,
    step: f64,
    start: f64,
    stop: f64,
}

impl SamplePlayer {
    /// `rate` is the playback rate relative to the file at the output sample rate
    /// (already including the file's own rate); negative plays from the end backwards.
    pub fn new(sample: Arc<Sample>, rate: f64, begin: f64, end: f64) -> SamplePlayer {
        let frames = sample.frames() as f64;
        let begin = begin.clamp(0.0, 1.0) * frames;
        let end = end.clamp(0.0, 1.0) * frames;
        let (start, stop) = (begin.min(end), begin.max(end));
        let pos = if rate < 0.0 { stop - 1.0 } else { start };
        SamplePlayer { sample, pos, step: rate, start, stop }
    }

    /// Number of output channels (1 or 2).
    pub fn channels(&self) -> usize {
        self.sample.channels.len()
    }

    /// Frames left to play at the current rate.
    pub fn remaining(&self) -> u64 {
        if self.step == 0.0 {
            return u64::MAX;
        }
        let left = if self.step > 0.0 { self.stop - self.pos } else { self.pos - self.start + 1.0 };
        (left / self.step.abs()).ceil().max(0.0) as u64
    }

    /// Writes the next frames; channel 1 is left untouched for mono samples. Returns
    /// false once the end is reached (the rest is zero).
    pub fn render(&mut self, left: &mut [f32], right: &mut [f32]) -> bool {
        let data = &self.sample.channels;
        let last = self.sample.frames().saturating_sub(1);
        let mut playing = true;
        for i in 0..left.len() {
            if self.pos < self.start || self.pos >= self.stop || !playing {
                playing = false;
                left[i] = 0.0;
                if data.len() > 1 {
                    right[i] = 0.0;
                }
                continue;
            }
            let i0 = self.pos as usize;
            let frac = (self.pos - i0 as f64) as f32;
            let i1 = (i0 + 1).min(last);
            for (c, ch) in data.iter().enumerate() {
                let x = ch[i0] + (ch[i1] - ch[i0]) * frac;
                if c == 0 {
                    left[i] = x;
                } else {
                    right[i] = x;
                }
            }
            self.pos += self.step;
        }
        playing && self.pos >= self.start && self.pos < self.stop
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(frames: usize) -> Arc<Sample> {
        Arc::new(Sample { channels: vec![(0..frames).map(|i| i as f32).collect()], rate: 48000.0, path: "x".into() })
    }

    #[test]
    fn plays_forwards_and_backwards() {
        let mut fwd = SamplePlayer::new(ramp(8), 1.0, 0.0, 1.0);
        let (mut l, mut r) = ([0.0; 10], [0.0; 10]);
        assert!(!fwd.render(&mut l, &mut r));
        assert_eq!(&l[..9], &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 0.0]);
        let mut back = SamplePlayer::new(ramp(8), -1.0, 0.0, 1.0);
        assert_eq!(back.remaining(), 8);
        back.render(&mut l, &mut r);
        assert_eq!(&l[..9], &[7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0, 0.0, 0.0]);
    }

    #[test]
    fn begin_end_and_speed() {
        let mut p = SamplePlayer::new(ramp(100), 2.0, 0.5, 0.6);
        assert_eq!(p.remaining(), 5);
        let (mut l, mut r) = ([0.0; 6], [0.0; 6]);
        p.render(&mut l, &mut r);
        assert_eq!(l, [50.0, 52.0, 54.0, 56.0, 58.0, 0.0]);
    }
}
