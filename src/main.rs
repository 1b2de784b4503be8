//! The `rhaithm` command line: parses arguments and calls the library.

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
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
    }
    Ok(())
}
