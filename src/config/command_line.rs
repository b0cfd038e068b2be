//! Parsing the command line. clap reads the `serve` settings from the command line only and
//! records which were given there; the `SOTTO_*` variables its `env` attributes name (for
//! `--help`) are read by `layers.rs` with the file, so that they apply once and in order.

use std::ffi::OsString;

use clap::error::ErrorKind;
use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches};

use super::{Cli, Command};

/// Parses the process's command line; exits with clap's message on a usage error or help.
pub fn parse() -> Cli {
    parse_from(std::env::args_os())
}

/// [`parse`] of `args` (the program's name first). The `serve` and `config` settings come
/// from the command line only: [`ServeArgs::load`] adds the file and the `SOTTO_*`
/// variables, so clap must not read those variables too (it would apply them twice, and over
/// the file).
pub fn parse_from<I, T>(args: I) -> Cli
where
    I: IntoIterator<Item = T>,
    T: Into<OsString>,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let matches = match command_line_only().try_get_matches_from(&args) {
        Ok(matches) => matches,
        Err(error) => {
            if matches!(
                error.kind(),
                ErrorKind::DisplayHelp | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                // The full command's help, which names each flag's variable; it exits.
                Cli::command().get_matches_from(&args);
            }
            error.exit()
        }
    };
    let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|error| error.exit());
    if let (Command::Serve(serve) | Command::Config(serve), Some((_, given))) =
        (&mut cli.command, matches.subcommand())
    {
        let settings = settings();
        serve.given = given
            .ids()
            .filter(|id| given.value_source(id.as_str()) == Some(ValueSource::CommandLine))
            .filter_map(|id| settings.iter().find(|setting| setting.id == id.as_str()))
            .map(|setting| setting.key.clone())
            .collect();
        serve.config_on_command_line =
            given.value_source("config_file") == Some(ValueSource::CommandLine);
    }
    cli
}

/// The command line parser without the `serve` settings' variables (`--config`'s stays).
pub(super) fn command_line_only() -> clap::Command {
    let strip = |command: clap::Command| {
        command.mut_args(|arg| match arg.get_id().as_str() {
            "config_file" => arg,
            _ => arg.env(None),
        })
    };
    Cli::command()
        .mut_subcommand("serve", strip)
        .mut_subcommand("config", strip)
}

/// The names of one `serve` setting.
#[derive(Debug, Clone)]
pub(super) struct Setting {
    /// clap's id: the field's name.
    pub id: String,
    /// The config file's key: the flag's name with `_` (`ctx_size`).
    pub key: String,
    /// `--ctx-size`.
    pub flag: String,
    /// `SOTTO_CTX_SIZE`.
    pub env: String,
}

/// Every `serve` setting, in the order of `--help`: the arguments with a variable but
/// `--config`.
pub(super) fn settings() -> Vec<Setting> {
    let command = Cli::command();
    let Some(serve) = command.find_subcommand("serve") else {
        unreachable!("serve is a subcommand")
    };
    serve
        .get_arguments()
        .filter(|arg| arg.get_id() != "config_file")
        .filter_map(|arg| {
            let long = arg.get_long()?;
            let env = arg.get_env()?.to_str()?;
            Some(Setting {
                id: arg.get_id().to_string(),
                key: long.replace('-', "_"),
                flag: format!("--{long}"),
                env: env.to_owned(),
            })
        })
        .collect()
}
