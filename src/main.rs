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
use rhaithm::limits::Limits;
use rhaithm::patch::{Patch, Quantize};
use rhaithm::pattern::Rational;
use rhaithm::pattern::budget::Budget;
use rhaithm::session::{self, Event, OutputKind, PlayOptions};
use rhaithm::vet::Isolation;

/// Longest render, in seconds (it is kept in memory).
const MAX_RENDER_SECONDS: f64 = 3600.0;
/// Most cycles `query` prints at once.
const MAX_QUERY_CYCLES: i64 = 10_000;

#[derive(Parser)]
#[command(name = "rhaithm", version, about = "Live-coding music with Rhai patterns")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once per run: the size of `play`'s options does not matter.
#[allow(clippy::large_enum_variant)]
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
        /// Also write what the patch sends to MIDI to this Standard MIDI File (replaced if
        /// it exists, like the WAV file).
        #[arg(long, value_name = "FILE")]
        midi: Option<PathBuf>,
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
        /// No terminal UI: one log line per event (automatic when stdout is not a
        /// terminal).
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
        /// Also write every good version of every file to this folder (named with its
        /// version, time and cycle), so nothing tried on stage is lost.
        #[arg(long, value_name = "DIR")]
        history: Option<PathBuf>,
        #[command(flatten)]
        midi: MidiArgs,
        #[command(flatten)]
        limits: LimitArgs,
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
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// The checker process `play` starts for every save (reads the source on stdin).
    #[command(name = "__vet", hide = true)]
    Vet {
        /// The patch file the source comes from (for messages).
        path: PathBuf,
        /// First cycle to play in test.
        #[arg(long, default_value = "0", allow_hyphen_values = true)]
        from: Rational,
        /// Most events per cycle and track.
        #[arg(long, default_value_t = Limits::default().max_events_per_cycle)]
        max_events: usize,
        /// Time one cycle of one track may take to check, in milliseconds.
        #[arg(long, default_value_t = 500)]
        check_ms: u64,
        /// Address space this process may use, in bytes.
        #[arg(long, default_value_t = Limits::default().vet_memory)]
        memory: u64,
        /// CPU seconds this process may use.
        #[arg(long, default_value_t = Limits::default().vet_time.as_secs() + 1)]
        cpu: u64,
    },
}

/// The budgets a performer may raise (see docs/live.md).
#[derive(clap::Args, Clone, Copy, Debug)]
struct LimitArgs {
    /// Most events one track may have in one cycle; a version with more is refused.
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_events_per_cycle)]
    max_events: usize,
    /// Time one track's query may take while playing, in milliseconds (past it, that
    /// track is silent for that moment and the error is shown).
    #[arg(long, value_name = "MS", default_value_t = Limits::default().query_time.as_millis() as u64)]
    query_ms: u64,
    /// Time checking a new version may take, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = Limits::default().vet_time.as_secs())]
    check_seconds: u64,
    /// Memory the checker of a new version may use, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = Limits::default().vet_memory >> 20)]
    check_memory: u64,
    /// Voices sounding at once; past it the oldest (quietest first) are stolen.
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_voices)]
    max_voices: usize,
    /// Voices sounding at once in one track.
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_voices_per_track)]
    max_voices_per_track: usize,
    /// Notes one track may start in 100 ms; more are skipped (and reported).
    #[arg(long, value_name = "N", default_value_t = Limits::default().voices.max_starts)]
    max_notes: usize,
    /// Longest note, in seconds; longer notes fade out there.
    #[arg(long, value_name = "SECS", default_value_t = Limits::default().voices.max_note)]
    max_note: f64,
}

impl LimitArgs {
    fn limits(&self) -> Result<Limits> {
        anyhow::ensure!((1..=1_000_000).contains(&self.max_events), "--max-events must be between 1 and 1000000");
        anyhow::ensure!((1..=1000).contains(&self.query_ms), "--query-ms must be between 1 and 1000");
        anyhow::ensure!((1..=600).contains(&self.check_seconds), "--check-seconds must be between 1 and 600");
        anyhow::ensure!((256..=1 << 20).contains(&self.check_memory), "--check-memory must be between 256 and 1048576");
        anyhow::ensure!((1..=4096).contains(&self.max_voices), "--max-voices must be between 1 and 4096");
        anyhow::ensure!(
            (1..=4096).contains(&self.max_voices_per_track),
            "--max-voices-per-track must be between 1 and 4096"
        );
        anyhow::ensure!((1..=10_000).contains(&self.max_notes), "--max-notes must be between 1 and 10000");
        anyhow::ensure!((0.01..=3600.0).contains(&self.max_note), "--max-note must be between 0.01 and 3600 seconds");
        let d = Limits::default();
        Ok(Limits {
            max_voices: self.max_voices,
            max_voices_per_track: self.max_voices_per_track,
            voices: rhaithm::dsp::limits::VoiceLimits {
                max_starts: self.max_notes,
                max_note: self.max_note,
                ..d.voices
            },
            max_events_per_cycle: self.max_events,
            query_time: std::time::Duration::from_millis(self.query_ms),
            vet_time: std::time::Duration::from_secs(self.check_seconds),
            vet_memory: self.check_memory << 20,
            ..Limits::default()
        })
    }
}

/// Whether two paths name the same file (the same text, or the same file on disk).
fn same_file(a: &std::path::Path, b: &std::path::Path) -> bool {
    let absolute = |p: &std::path::Path| std::path::absolute(p).ok();
    a == b
        || absolute(a).is_some_and(|x| Some(x) == absolute(b))
        || matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
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
    if let Command::Vet { memory, cpu, .. } = &cli.command {
        // The checker confines itself before anything else (the player spawns it
        // without running code between fork and exec).
        rhaithm::vet::confine(*memory, *cpu);
    }
    // Scripts are compiled and patterns queried on this thread: give it a stack deep
    // enough for everything the budgets allow.
    let worker = std::thread::Builder::new().name("rhaithm".into()).stack_size(rhaithm::vet::BIG_STACK).spawn(
        move || match run(cli) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        },
    );
    match worker.map(|w| w.join()) {
        Ok(Ok(code)) => code,
        Ok(Err(_)) => {
            eprintln!("error: rhaithm stopped on an internal error (a bug: please report it)");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: cannot start: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Plays until Ctrl-C, SIGTERM or the duration; a second Ctrl-C quits at once. On a
/// terminal (and without `--headless`) through the terminal UI, else as log lines.
fn play(opts: PlayOptions, headless: bool) -> Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [SIGINT, SIGTERM] {
        signal_hook::flag::register_conditional_shutdown(sig, 1, stop.clone()).context("installing signal handlers")?;
        signal_hook::flag::register(sig, stop.clone()).context("installing signal handlers")?;
    }
    let mut out = std::io::stdout();
    // Writing to a closed pipe must not kill the music.
    let mut print = move |event: &Event| {
        if !matches!(event, Event::Status { .. }) {
            let _ = writeln!(out, "{event}").and_then(|_| out.flush());
        }
    };
    if headless || !std::io::stdout().is_terminal() {
        return session::play(opts, stop, print);
    }
    // Started before the UI, so that what keeps it from starting prints as usual.
    let session = session::Session::start_with_stop(opts, stop.clone())?;
    rhaithm::tui::run(session, &stop, &mut print)
}

/// MIDI options of `play`.
#[derive(clap::Args, Debug)]
struct MidiArgs {
    /// Open a virtual MIDI output of this name that a DAW or synth connects to (JACK and
    /// ALSA have them); `.midi()` with no port sends there.
    #[arg(long, value_name = "NAME")]
    midi_virtual: Option<String>,
    /// Send the MIDI clock (24 per quarter note, 4 beats per cycle) with start, stop,
    /// continue and song position to this port (part of its name, or its number); may
    /// be repeated.
    #[arg(long, value_name = "PORT")]
    midi_clock: Vec<String>,
    /// Send MIDI this many milliseconds later (negative: earlier) than the audio it goes
    /// with, for a synth's own latency.
    #[arg(long, value_name = "MS", default_value_t = 0.0, allow_negative_numbers = true)]
    midi_offset: f64,
    /// Read the knobs of this MIDI input (part of its name, or its number) for `cc()`;
    /// may be repeated.
    #[arg(long, value_name = "PORT")]
    midi_in: Vec<String>,
    /// Follow the MIDI clock coming in on this port (part of its name, or its number):
    /// its tempo, start, stop, continue and song position.
    #[arg(long, value_name = "PORT")]
    clock_in: Option<String>,
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
            history,
            midi,
            limits,
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
            opts.history = history;
            anyhow::ensure!(
                midi.midi_offset.is_finite() && midi.midi_offset.abs() <= 2000.0,
                "--midi-offset must be between -2000 and 2000 ms"
            );
            opts.midi = rhaithm::midi::MidiOptions {
                virtual_port: midi.midi_virtual,
                clock_ports: midi.midi_clock,
                offset: midi.midi_offset / 1000.0,
            };
            opts.midi_in = midi.midi_in;
            opts.clock_in = midi.clock_in;
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
            opts.limits = limits.limits()?;
            opts.isolation = Isolation::current_exe();
            play(opts, headless)?;
        }
        Command::New { name, no_play } => {
            let path = session::write_starter(&name)?;
            println!("wrote a starter patch to {}: open it in your editor, change something, save", path.display());
            if !no_play {
                let mut opts = PlayOptions::new(vec![path]);
                opts.samples = sample_library(&[]);
                opts.isolation = Isolation::current_exe();
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
            let show = |what: &str, ports: Result<Vec<String>, String>| match ports {
                Ok(p) if p.is_empty() => println!("MIDI {what}: none"),
                Ok(p) => {
                    println!("MIDI {what}:");
                    for (i, name) in p.iter().enumerate() {
                        println!("  {i}: {name}");
                    }
                }
                Err(e) => println!("MIDI {what}: not available ({e})"),
            };
            show("outputs", rhaithm::midi::out::list_outputs());
            show("inputs", rhaithm::midi::out::list_inputs());
        }
        Command::Query { from, to, expr } => {
            anyhow::ensure!(to >= from, "--to must not be before --from");
            anyhow::ensure!(
                (to - from) <= Rational::int(MAX_QUERY_CYCLES),
                "at most {MAX_QUERY_CYCLES} cycles at a time"
            );
            anyhow::ensure!(expr.len() <= rhaithm::limits::MAX_SOURCE_BYTES, "the expression is too long");
            let engine = rhaithm::script::ScriptEngine::new(&expr, None);
            let pattern = engine.eval_pattern().map_err(|e| anyhow::anyhow!("{e}"))?;
            let budget = Limits::default().check();
            let budget = Budget { fuel: budget.fuel, time: Some(std::time::Duration::from_secs(10)), ..budget };
            let lines = rhaithm::pattern::budget::run(budget, || rhaithm::query::query_lines(&pattern, from, to))
                .map_err(|e| anyhow::anyhow!("<expr>: {e}"))?;
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
        Command::Render { patch, cycles, seconds, output, sample_rate, format, samples, midi } => {
            anyhow::ensure!((8000..=384_000).contains(&sample_rate), "sample rate {sample_rate} is out of range");
            if let Some(midi) = &midi {
                anyhow::ensure!(!same_file(midi, &output), "--midi and -o name the same file ({})", output.display());
            }
            let compiled = Patch::load(&patch).map_err(|e| anyhow::anyhow!("{e}"))?;
            let length = match (cycles, seconds) {
                (_, Some(s)) => Length::Seconds(s),
                (Some(c), None) => Length::Cycles(c),
                (None, None) => Length::Cycles(8.0),
            };
            let secs = match length {
                Length::Seconds(s) => s,
                Length::Cycles(c) => c / compiled.cps_or_default(),
            };
            anyhow::ensure!(
                secs.is_finite() && secs > 0.0 && secs <= MAX_RENDER_SECONDS,
                "the length must be more than 0 and at most {} minutes (it is {secs} s)",
                MAX_RENDER_SECONDS / 60.0
            );
            rhaithm::engine::check::vet(&compiled, Rational::ZERO, 2, &Limits::default())
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            // First (it is quick, and a length it cannot hold stops here, not after the audio).
            let smf = match &midi {
                Some(_) => Some(rhaithm::midi::render_smf(&compiled, length, &Limits::default())?),
                None => None,
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
            // With a MIDI file, its own warnings (with their place) replace the player's
            // about the same MIDI values.
            let audio = rendered.warnings.iter().filter(|w| smf.is_none() || !w.contains(": MIDI: "));
            for w in audio.chain(smf.iter().flat_map(|s| &s.warnings)) {
                eprintln!("warning: {w}");
            }
            let format = match format {
                Format::F32 => SampleFormat::F32,
                Format::S24 => SampleFormat::S24,
                Format::S16 => SampleFormat::S16,
            };
            if let Some(e) = compiled.take_query_error() {
                eprintln!("{e} (that track was silent there; the rest was rendered)");
            }
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
            if let (Some(path), Some(smf)) = (&midi, &smf) {
                if smf.is_empty() {
                    eprintln!("warning: the patch sends nothing to MIDI; {} was not written", path.display());
                } else {
                    smf.write(path)?;
                    let tracks = smf.tracks.len();
                    let s = if tracks == 1 { "" } else { "s" };
                    eprintln!("wrote {} notes on {tracks} MIDI track{s} to {}", smf.notes(), path.display());
                }
            }
        }
        Command::Vet { path, from, max_events, check_ms, .. } => {
            let limits = Limits {
                max_events_per_cycle: max_events,
                check_time: std::time::Duration::from_millis(check_ms),
                ..Limits::default()
            };
            rhaithm::vet::child_main(&path, from, &limits).context("answering")?;
        }
        Command::Check { patch, samples, limits } => {
            let limits = limits.limits()?;
            let compiled = Patch::load(&patch).map_err(|e| anyhow::anyhow!("{e}"))?;
            let report = rhaithm::engine::check::check(&compiled, &sample_library(&samples), &limits);
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
