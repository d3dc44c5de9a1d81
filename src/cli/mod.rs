//! The command-line front end: flags parsed once into the engine's types (`args`), one line
//! on stderr per failure and meaningful exit codes (`report`: 0 ok, 1 failed, 2 bad usage).
//! This file parses the command line and dispatches to the subcommands.

mod analyze;
mod args;
mod batch;
mod extract;
mod input;
mod output;
mod probe;
mod report;
mod waveform;

use clap::Parser;

pub use args::{BatchArgs, Cli, Command, ExtractArgs, OutputArgs, ProbeArgs, ServeArgs};
use report::one_line;
pub use report::{exit_code, report_error};

use crate::media::Limits;

/// Parse the command line and run it; returns the process exit code.
pub fn run() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind as K;
            if matches!(
                e.kind(),
                K::DisplayHelp | K::DisplayVersion | K::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                let _ = e.print();
                return if e.kind() == K::DisplayHelpOnMissingArgumentOrSubcommand {
                    2
                } else {
                    0
                };
            }
            let msg = e.render().to_string();
            let first = msg
                .lines()
                .next()
                .unwrap_or("invalid arguments")
                .trim_start_matches("error: ");
            eprintln!(
                "audiotap: error[{}]: {} (see audiotap --help)",
                crate::ErrorCode::InvalidOptions,
                one_line(first)
            );
            return 2;
        }
    };
    let limits = Limits::default();
    match cli.command {
        Command::Extract(args) => extract::run(&args, &limits),
        Command::Probe(args) => probe::run(&args, &limits),
        Command::Batch(args) => batch::run(&args, &limits),
        Command::Analyze(args) => analyze::run(&args, &limits),
        Command::Waveform(args) => waveform::run(&args, &limits),
        Command::Serve(args) => match crate::server::serve(args.config.as_deref(), args.role) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!(
                    "audiotap: error[{}]: {}",
                    crate::ErrorCode::Config,
                    one_line(&format!("{e:#}"))
                );
                1
            }
        },
        Command::Openapi => {
            print!("{}", crate::server::openapi_yaml());
            0
        }
    }
}
