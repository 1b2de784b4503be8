//! The `rhaithm` command line: parses arguments and calls the library.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use rhaithm::audio::DeviceOptions;
use rhaithm::dsp::samples::{SampleLibrary, default_folder};
use rhaithm::engine::{Length, SampleFormat};
use rhaithm::patch::{Patch, Quantize};
use rhaithm::pattern::Rational;
use rhaithm::session::{self, Event, OutputKind, PlayOptions};

#[derive(Parser)]
#[command(name = "rhaithm", version, about = "Live-coding music with Rhai patterns")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the events of a pattern expression as JSON lines.
    Query {
        /// Start of the span, in cycles (a number or a fraction such as 1/3).
        #[arg(long, default_value = "0", allow_hyphen_values = true)]
        from: Rational,
        /// End of the span, in cycles.
        #[arg(long, default_value = "1", allow_hyphen_values = true)]
        to: Rational,
        /// A Rhai expression, such as 's("bd*2 [sn cp]").fast(2)'.
        expr: String,
    },
    /// Render a patch to a WAV file, faster than real time.
    Render {
        /// The patch file.
        patch: PathBuf,
        /// Length in cycles (default 8).
        #[arg(long, conflicts_with = "seconds")]
        cycles: Option<f64>,
        /// Length in seconds.
        #[arg(long)]
        seconds: Option<f64>,
        /// Output file.
        #[arg(short, long, default_value = "out.wav")]
        output: PathBuf,
        /// Sample rate in Hz.
        #[arg(long, default_value_t = 48000)]
        sample_rate: u32,
        /// Sample format.
        #[arg(long, value_enum, default_value_t = Format::F32)]
        format: Format,
        /// A folder of sample banks (one sub-folder per bank); may be repeated.
        #[arg(long = "samples", value_name = "DIR")]
        samples: Vec<PathBuf>,
    },
    /// Play patch files live: every save is compiled and crossfaded in, in time.
    ///
    /// With no file, writes a commented starter patch (start.rhai) into the current
    /// folder (or plays it, if it is already there).
    Play {
        /// Patch files; each keeps its own tracks.
        files: Vec<PathBuf>,
        /// Where the sound goes: an audio device, or nowhere at the same pace.
        #[arg(long, value_enum, default_value_t = OutputArg::Device)]
        output: OutputArg,
        /// Output device: part of its name or its id (see `rhaithm devices`).
        #[arg(long)]
        device: Option<String>,
        /// Frames per audio buffer.
        #[arg(long)]
        buffer: Option<u32>,
        /// Sample rate in Hz (default: the device's own).
        #[arg(long)]
        sample_rate: Option<u32>,
        /// Crossfade between versions, in milliseconds.
        #[arg(long, default_value_t = 50.0)]
        fade: f64,
        /// When a new version takes over (a script's own quantize() wins).
        #[arg(long, value_enum)]
        quantize: Option<QuantizeArg>,
        /// Also write what is played to this WAV file (32-bit float).
        #[arg(long, value_name = "FILE")]
        record: Option<PathBuf>,
        /// Log lines only, no status line (automatic when stdout is not a terminal).
        #[arg(long)]
        headless: bool,
        /// Stop after this many seconds.
        #[arg(long, value_name = "SECS")]
        duration: Option<f64>,
        /// Scheduling headroom past one buffer, in milliseconds (reloads do not wait
        /// for it).
        #[arg(long, default_value_t = 20.0)]
        lookahead: f64,
        /// A folder of sample banks; may be repeated.
        #[arg(long = "samples", value_name = "DIR")]
        samples: Vec<PathBuf>,
    },
    /// Write a commented starter patch, then play it.
    New {
        /// The new file's name (".rhai" is added if it has no extension).
        name: PathBuf,
        /// Write the file but do not play it.
        #[arg(long)]
        no_play: bool,
    },
    /// List the audio output devices.
    Devices,
    /// Compile a patch and list its tracks, or report its errors.
    Check {
        /// The patch file.
        patch: PathBuf,
        /// A folder of sample banks; may be repeated.
        #[arg(long = "samples", value_name = "DIR")]
        samples: Vec<PathBuf>,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum OutputArg {
    /// The audio device (cpal).
    Device,
    /// No sound, real-time pace.
    Null,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum QuantizeArg {
    None,
    Cycle,
    Bar,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    F32,
    S24,
    S16,
}

/// The sample folders to scan: the ones given, then the default one.
fn sample_library(dirs: &[PathBuf]) -> SampleLibrary {
    let mut all = dirs.to_vec();
    all.extend(default_folder());
    SampleLibrary::scan(&all)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Plays until Ctrl-C, SIGTERM or the duration; a second Ctrl-C quits at once.
fn play(opts: PlayOptions, headless: bool) -> Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [SIGINT, SIGTERM] {
        signal_hook::flag::register_conditional_shutdown(sig, 1, stop.clone()).context("installing signal handlers")?;
        signal_hook::flag::register(sig, stop.clone()).context("installing signal handlers")?;
    }
    let headless = headless || !std::io::stdout().is_terminal();
    let mut out = std::io::stdout();
    let mut status_shown = false;
    session::play(opts, stop, |event| {
        let line = event.to_string();
        // Writing to a closed pipe must not kill the music.
        let _ = match (event, headless) {
            (Event::Status { .. }, true) => Ok(()),
            (Event::Status { .. }, false) => {
                status_shown = true;
                write!(out, "\r\x1b[2K{line}").and_then(|_| out.flush())
            }
            (_, _) => {
                let clear = if std::mem::take(&mut status_shown) { "\r\x1b[2K" } else { "" };
                writeln!(out, "{clear}{line}").and_then(|_| out.flush())
            }
        };
    })
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Play {
            files,
            output,
            device,
            buffer,
            sample_rate,
            fade,
            quantize,
            record,
            headless,
            duration,
            lookahead,
            samples,
        } => {
            let files = if files.is_empty() {
                let path = PathBuf::from(session::STARTER_FILE);
                if path.exists() {
                    println!("playing your {} (edit it and save to hear the change)", path.display());
                } else {
                    let path = session::write_starter(&path)?;
                    println!(
                        "wrote a starter patch to {}: open it in your editor, change something, save",
                        path.display()
                    );
                }
                vec![path]
            } else {
                files
            };
            let mut opts = PlayOptions::new(files);
            opts.output = match output {
                OutputArg::Device => OutputKind::Device,
                OutputArg::Null => OutputKind::Null,
            };
            opts.device = DeviceOptions { device, buffer, sample_rate };
            opts.fade = fade / 1000.0;
            opts.quantize = quantize.map(|q| match q {
                QuantizeArg::None => Quantize::None,
                QuantizeArg::Cycle => Quantize::Cycle,
                QuantizeArg::Bar => Quantize::Bar,
            });
            opts.record = record;
            opts.duration = duration;
            opts.lookahead = lookahead / 1000.0;
            opts.samples = sample_library(&samples);
            play(opts, headless)?;
        }
        Command::New { name, no_play } => {
            let path = session::write_starter(&name)?;
            println!("wrote a starter patch to {}: open it in your editor, change something, save", path.display());
            if !no_play {
                let mut opts = PlayOptions::new(vec![path]);
                opts.samples = sample_library(&[]);
                play(opts, false)?;
            }
        }
        Command::Devices => {
            let lines = rhaithm::audio::list_devices()?;
            if lines.is_empty() {
                println!("no audio output devices ({})", session::NO_DEVICE_HINT);
            }
            for line in lines {
                println!("{line}");
            }
        }
        Command::Query { from, to, expr } => {
            let engine = rhaithm::script::ScriptEngine::new(&expr, None);
            let pattern = engine.eval_pattern().map_err(|e| anyhow::anyhow!("{e}"))?;
            let lines = rhaithm::query::query_lines(&pattern, from, to);
            if let Some(e) = engine.runtime().take_error() {
                anyhow::bail!("{e}");
            }
            let mut out = String::new();
            for line in lines {
                out.push_str(&line);
                out.push('\n');
            }
            std::io::stdout().write_all(out.as_bytes()).context("writing to stdout")?;
        }
        Command::Render { patch, cycles, seconds, output, sample_rate, format, samples } => {
            anyhow::ensure!((8000..=384_000).contains(&sample_rate), "sample rate {sample_rate} is out of range");
            let compiled = Patch::load(&patch).map_err(|e| anyhow::anyhow!("{e}"))?;
            let length = match (cycles, seconds) {
                (_, Some(s)) => Length::Seconds(s),
                (Some(c), None) => Length::Cycles(c),
                (None, None) => Length::Cycles(8.0),
            };
            let started = std::time::Instant::now();
            let rendered = rhaithm::engine::render(
                &compiled,
                sample_library(&samples),
                sample_rate,
                length,
                rhaithm::engine::render::progress_bar(),
            );
            let elapsed = started.elapsed().as_secs_f64();
            for w in &rendered.warnings {
                eprintln!("warning: {w}");
            }
            let format = match format {
                Format::F32 => SampleFormat::F32,
                Format::S24 => SampleFormat::S24,
                Format::S16 => SampleFormat::S16,
            };
            rhaithm::engine::write_wav(&output, &rendered, format)
                .with_context(|| format!("writing {}", output.display()))?;
            let seconds = rendered.frames() as f64 / sample_rate as f64;
            eprintln!(
                "rendered {seconds:.2} s ({} voices) to {} in {elapsed:.2} s ({:.0}x real time)",
                rendered.voices,
                output.display(),
                seconds / elapsed.max(1e-9)
            );
            if rendered.non_finite > 0 || rendered.blown_up > 0 {
                eprintln!(
                    "warning: {} voices blew up (NaN/inf) and were silenced; {} frames were muted at the master",
                    rendered.blown_up, rendered.non_finite
                );
            }
        }
        Command::Check { patch, samples } => {
            let compiled = Patch::load(&patch).map_err(|e| anyhow::anyhow!("{e}"))?;
            let report = rhaithm::engine::check::check(&compiled, &sample_library(&samples));
            for w in &report.warnings {
                eprintln!("{}: warning: {w}", patch.display());
            }
            if let Some(e) = report.error {
                anyhow::bail!("{e}");
            }
            println!("{}: {} track(s) at {:.4} cps", patch.display(), compiled.tracks.len(), compiled.cps_or_default());
            for line in report.tracks {
                println!("  {line}");
            }
        }
    }
    Ok(())
}
