//! The `rhaithm` command line: parses arguments and calls the library.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use rhaithm::dsp::samples::{SampleLibrary, default_folder};
use rhaithm::engine::{Length, SampleFormat};
use rhaithm::patch::Patch;
use rhaithm::pattern::Rational;

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
    /// Compile a patch and list its tracks, or report its errors.
    Check {
        /// The patch file.
        patch: PathBuf,
        /// A folder of sample banks; may be repeated.
        #[arg(long = "samples", value_name = "DIR")]
        samples: Vec<PathBuf>,
    },
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

fn run(cli: Cli) -> Result<()> {
    match cli.command {
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
            use std::io::Write;
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
