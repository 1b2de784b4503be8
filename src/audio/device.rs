//! The cpal output: picks a device and a configuration, runs an [`AudioCallback`] in its
//! stream, and reports stream errors so the session can reopen the stream.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use anyhow::{Context, Result, anyhow, bail};
use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{Device, ErrorKind, SampleFormat, SupportedBufferSize, SupportedStreamConfig};

use super::callback::Loan;

/// Frames per buffer when the user gives none and the device accepts a range.
pub const DEFAULT_BUFFER: u32 = 256;

/// What the user asked for.
#[derive(Clone, Debug, Default)]
pub struct DeviceOptions {
    /// Part of a device's name or its id; `None` = the host's default output.
    pub device: Option<String>,
    /// Frames per buffer; `None` = the device's default.
    pub buffer: Option<u32>,
    /// Sample rate; `None` = the device's default.
    pub sample_rate: Option<u32>,
}

/// A device and the configuration chosen for it.
pub struct Chosen {
    device: Device,
    config: SupportedStreamConfig,
    /// The device's name.
    pub name: String,
}

impl Chosen {
    /// The sample rate the stream will run at.
    pub fn sample_rate(&self) -> u32 {
        self.config.sample_rate()
    }
}

fn matches(device: &Device, wanted: &str) -> bool {
    let wanted = wanted.to_lowercase();
    let id = device.id().map(|i| i.to_string().to_lowercase()).unwrap_or_default();
    let name = device.to_string().to_lowercase();
    id == wanted || name == wanted || name.contains(&wanted)
}

/// Keeps alsa-lib from printing its own errors on this thread (probing devices that do
/// not work prints a page of them); rhaithm reports what matters itself. Set
/// `RHAITHM_ALSA_ERRORS=1` to see them.
pub fn quiet_alsa() {
    #[cfg(target_os = "linux")]
    if std::env::var("RHAITHM_ALSA_ERRORS").is_err() {
        thread_local! {
            static SINK: std::cell::RefCell<Option<std::rc::Rc<std::cell::RefCell<alsa::Output>>>> =
                const { std::cell::RefCell::new(None) };
        }
        SINK.with_borrow_mut(|s| {
            if s.is_none() {
                *s = alsa::Output::local_error_handler().ok();
            }
        });
    }
}

/// Finds the device and a configuration: the requested sample rate (or the default
/// one), 32-bit float samples where the device offers them.
pub fn choose(opts: &DeviceOptions) -> Result<Chosen> {
    quiet_alsa();
    let host = cpal::default_host();
    let device = match &opts.device {
        None => host.default_output_device().ok_or_else(|| anyhow!("the audio host has no default output device"))?,
        Some(wanted) => host
            .output_devices()
            .context("listing output devices")?
            .find(|d| matches(d, wanted))
            .ok_or_else(|| anyhow!("no output device matches \"{wanted}\" (see `rhaithm devices`)"))?,
    };
    let name = device.to_string();
    let default = device.default_output_config().with_context(|| format!("device \"{name}\" cannot play"))?;
    let rate = opts.sample_rate.unwrap_or(default.sample_rate());
    let ranges: Vec<_> = device.supported_output_configs().map(|r| r.collect()).unwrap_or_default();
    let pick = |format: SampleFormat| {
        ranges
            .iter()
            .filter(|r| r.sample_format() == format && r.channels() >= 2.min(default.channels()))
            .find_map(|r| r.try_with_sample_rate(rate))
    };
    let config = match pick(SampleFormat::F32).or_else(|| pick(default.sample_format())) {
        Some(c) => c,
        None if rate == default.sample_rate() => default,
        None => bail!("device \"{name}\" does not play at {rate} Hz"),
    };
    Ok(Chosen { device, config, name })
}

/// Stream errors, as the error callback saw them.
#[derive(Default)]
pub struct StreamErrors {
    failed: AtomicBool,
    kind: AtomicU8,
}

const KINDS: [(ErrorKind, &str); 6] = [
    (ErrorKind::DeviceNotAvailable, "the device is not available (unplugged?)"),
    (ErrorKind::StreamInvalidated, "the stream was invalidated"),
    (ErrorKind::BackendError, "the audio backend failed"),
    (ErrorKind::HostUnavailable, "the audio host went away"),
    (ErrorKind::DeviceBusy, "the device is busy"),
    (ErrorKind::ResourceExhausted, "out of system resources"),
];

impl StreamErrors {
    /// The stream failed and must be reopened: why.
    pub fn failure(&self) -> Option<&'static str> {
        self.failed.load(Ordering::Acquire).then(|| {
            let k = self.kind.load(Ordering::Relaxed) as usize;
            KINDS.get(k).map_or("the stream failed", |x| x.1)
        })
    }
}

/// A running cpal stream.
pub struct DeviceOutput {
    _stream: cpal::Stream,
    /// The device's name.
    pub name: String,
    /// Sample rate.
    pub sample_rate: u32,
    /// Channels.
    pub channels: u16,
    /// Sample format.
    pub format: SampleFormat,
    /// Errors reported since it opened.
    pub errors: Arc<StreamErrors>,
}

fn stream<T: cpal::SizedSample + cpal::FromSample<f32>>(
    chosen: &Chosen,
    config: cpal::StreamConfig,
    mut loan: Loan,
    errors: Arc<StreamErrors>,
) -> Result<cpal::Stream> {
    let channels = config.channels as usize;
    let status = loan.get().status().clone();
    let on_error = move |e: cpal::Error| match e.kind() {
        ErrorKind::Xrun => {
            status.underruns.fetch_add(1, Ordering::Relaxed);
        }
        ErrorKind::DeviceChanged | ErrorKind::RealtimeDenied => {}
        kind => {
            let k = KINDS.iter().position(|x| x.0 == kind).unwrap_or(u8::MAX as usize);
            errors.kind.store(k as u8, Ordering::Relaxed);
            errors.failed.store(true, Ordering::Release);
        }
    };
    let stream = chosen.device.build_output_stream(
        config,
        move |out: &mut [T], info: &cpal::OutputCallbackInfo| {
            let cb = loan.get();
            let t = info.timestamp();
            let latency = t.playback.duration_since(t.callback).as_nanos().min(u64::MAX as u128) as u64;
            cb.status().latency_ns.store(latency, Ordering::Relaxed);
            cb.render(out, channels)
        },
        on_error,
        None,
    )?;
    Ok(stream)
}

/// Opens the stream and starts it. On failure the callback goes back to its slot.
pub fn open(chosen: &Chosen, opts: &DeviceOptions, loan: Loan) -> Result<DeviceOutput> {
    quiet_alsa();
    let mut config = chosen.config.config();
    // Hosts' own defaults can be huge (ALSA's plug devices pick most of a second), so
    // ask for a stage-sized buffer unless told otherwise.
    config.buffer_size = match (opts.buffer, chosen.config.buffer_size()) {
        (Some(frames), SupportedBufferSize::Range { min, max }) => cpal::BufferSize::Fixed(frames.clamp(*min, *max)),
        (Some(frames), SupportedBufferSize::Unknown) => cpal::BufferSize::Fixed(frames),
        (None, SupportedBufferSize::Range { min, max }) => cpal::BufferSize::Fixed(DEFAULT_BUFFER.clamp(*min, *max)),
        (None, SupportedBufferSize::Unknown) => cpal::BufferSize::Default,
    };
    let errors = Arc::new(StreamErrors::default());
    let e = errors.clone();
    let format = chosen.config.sample_format();
    let s = match format {
        SampleFormat::F32 => stream::<f32>(chosen, config, loan, e),
        SampleFormat::F64 => stream::<f64>(chosen, config, loan, e),
        SampleFormat::I16 => stream::<i16>(chosen, config, loan, e),
        SampleFormat::I32 => stream::<i32>(chosen, config, loan, e),
        SampleFormat::I8 => stream::<i8>(chosen, config, loan, e),
        SampleFormat::U16 => stream::<u16>(chosen, config, loan, e),
        SampleFormat::U8 => stream::<u8>(chosen, config, loan, e),
        SampleFormat::I24 => stream::<cpal::I24>(chosen, config, loan, e),
        other => bail!("device \"{}\" wants {other} samples, which rhaithm cannot write", chosen.name),
    }
    .with_context(|| format!("opening an output stream on \"{}\"", chosen.name))?;
    s.play().with_context(|| format!("starting the stream on \"{}\"", chosen.name))?;
    Ok(DeviceOutput {
        _stream: s,
        name: chosen.name.clone(),
        sample_rate: config.sample_rate,
        channels: config.channels,
        format,
        errors,
    })
}

/// One line per output device of every available host, the default marked with `*`.
pub fn list_devices() -> Result<Vec<String>> {
    quiet_alsa();
    let mut lines = Vec::new();
    for id in cpal::available_hosts() {
        let host = cpal::host_from_id(id).with_context(|| format!("opening the {} host", id.name()))?;
        let default = host.default_output_device().and_then(|d| d.id().ok());
        let Ok(devices) = host.output_devices() else { continue };
        for d in devices {
            let name = d.to_string();
            let mark = if d.id().ok().is_some_and(|i| Some(&i) == default.as_ref()) { "*" } else { " " };
            let about = match d.default_output_config() {
                Ok(c) => {
                    let buffer = match c.buffer_size() {
                        SupportedBufferSize::Range { min, max } => format!(", buffer {min}..{max} frames"),
                        SupportedBufferSize::Unknown => String::new(),
                    };
                    format!("{} Hz, {} ch, {}{buffer}", c.sample_rate(), c.channels(), c.sample_format())
                }
                Err(e) => format!("unusable: {e}"),
            };
            let dev_id = d.id().map(|i| i.to_string()).unwrap_or_default();
            lines.push(format!("{mark} {name} [{dev_id}] ({about})"));
        }
    }
    Ok(lines)
}
