//! `gamestore-dev`: the Game Store developer client.

mod games;
mod key;
mod menu;
mod new;
mod publish;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use gamestore_client::cli::{self, AccountCommand, Context, GlobalArgs, Output};
use gamestore_client::publish::Compression;
use gamestore_client::reviews::ReviewsArgs;
use gamestore_protocol::Role;

/// Publish, update and delist games on a Game Store lobby.
///
/// Without a subcommand it opens an interactive menu.
#[derive(Debug, Parser)]
#[command(name = "gamestore-dev", version)]
struct Args {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    #[command(flatten)]
    Account(AccountCommand),
    /// Create a new game folder from a template (see its README to build and publish)
    New {
        dir: PathBuf,
        /// The template
        #[arg(long, value_enum)]
        template: new::Template,
        /// Game id [default: from the folder name]
        #[arg(long)]
        id: Option<String>,
        /// Display name [default: from the id]
        #[arg(long)]
        name: Option<String>,
    },
    /// Check a game folder's config.json and list every problem
    Validate {
        dir: PathBuf,
        /// Print the problems (or the manifest) as JSON
        #[arg(long)]
        json: bool,
    },
    /// Validate, pack and upload a game folder as a new game or a new version
    Publish {
        dir: PathBuf,
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
        /// List the files that would be sent (see .gamestoreignore), and send nothing
        #[arg(long)]
        dry_run: bool,
        /// Compress chunks with zstd where that pays: auto does, unless the
        /// lobby runs on this machine (a loopback address)
        #[arg(long, value_enum, default_value_t)]
        compress: Compression,
    },
    /// List my games with their versions and status
    Games {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Take a game off the store (running matches finish)
    Delist {
        #[arg(value_name = "GAME")]
        id: String,
    },
    /// Put a delisted game back in the store
    Relist {
        #[arg(value_name = "GAME")]
        id: String,
    },
    /// Show a game's reviews, newest first
    Reviews(ReviewsArgs),
    /// The signing key that signs every version you publish
    #[command(subcommand)]
    Key(KeyCommand),
}

#[derive(Debug, Subcommand)]
enum KeyCommand {
    /// Print the fingerprint of your signing key (made on first use)
    Show {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Replace your signing key by a new one, announced to the lobby in a
    /// statement signed by the old key (players' launchers then accept it)
    Rotate {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    cli::main_with(run(args))
}

async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let ctx = Context::new(args.global, Role::Developer, "gamestore-dev")?;
    let Some(command) = args.command else {
        return menu::run(ctx).await;
    };
    match command {
        Command::Account(command) => command.run(&ctx).await,
        Command::Validate { dir, json } => publish::validate(&dir, Output::of(json)),
        Command::New { dir, template, id, name } => new::new(&dir, template, id, name),
        Command::Publish { dir, json, dry_run: true, .. } => {
            publish::dry_run(&dir, Output::of(json))
        }
        Command::Publish { dir, json, dry_run: false, compress } => {
            publish::publish(&ctx, &dir, compress, Output::of(json)).await
        }
        Command::Games { json } => games::games(&ctx, Output::of(json)).await,
        Command::Delist { id } => games::set_listed(&ctx, &id, games::Listing::Delisted).await,
        Command::Relist { id } => games::set_listed(&ctx, &id, games::Listing::Listed).await,
        Command::Reviews(args) => args.run(&ctx).await,
        Command::Key(KeyCommand::Show { json }) => key::show(&ctx, json),
        Command::Key(KeyCommand::Rotate { json }) => key::rotate(&ctx, json).await,
    }
}
