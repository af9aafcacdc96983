//! `gamestore-dev`: the Game Store developer client.

mod library;
mod lobby;
mod menu;
mod play;
mod plugins;
mod review;
mod store;
mod typed_lines;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use gamestore_client::cli::{self, AccountCommand, Context, GlobalArgs, Output};
use gamestore_client::launcher::SandboxMode;
use gamestore_client::reviews::ReviewsArgs;
use gamestore_protocol::Role;

/// The Game Store launcher: browse the store, install games, meet in rooms and play.
///
/// Without a subcommand it opens an interactive menu.
#[derive(Debug, Parser)]
#[command(name = "gamestore-player", version)]
struct Args {
    #[command(flatten)]
    global: GlobalArgs,
    /// How game clients are confined: auto (bubblewrap when it works here,
    /// else Landlock and seccomp alone, said at launch), on (bubblewrap or
    /// refuse) or off (your full rights)
    #[arg(long, global = true, env = "GAMESTORE_SANDBOX", value_enum, default_value_t = SandboxMode::Auto, value_name = "MODE")]
    sandbox: SandboxMode,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    #[command(flatten)]
    Account(AccountCommand),
    /// List the games in the store
    Store {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Show a game's details, versions and reviews
    Info {
        #[arg(value_name = "GAME")]
        id: String,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Install a game, or update it to the latest version
    Install {
        #[arg(value_name = "GAME")]
        id: String,
        /// Install this version instead of the latest (installed versions are kept)
        #[arg(long, value_name = "V")]
        version: Option<String>,
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
    },
    /// Re-check an installed game against its signed manifest and repair
    /// damaged parts (only those are fetched again)
    Verify {
        #[arg(value_name = "GAME")]
        id: String,
        /// Check this installed version [default: the newest installed]
        #[arg(long, value_name = "V")]
        version: Option<String>,
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
    },
    /// List installed games with their local and latest versions
    Library {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Remove an installed game
    Uninstall {
        #[arg(value_name = "GAME")]
        id: String,
    },
    /// List rooms
    Rooms {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Rate and review a game you have played (again to edit your review)
    Review {
        #[arg(value_name = "GAME")]
        game: String,
        /// Stars, 1 to 5
        #[arg(
            long,
            value_name = "N",
            required_unless_present = "resend",
            conflicts_with = "resend"
        )]
        rating: Option<u8>,
        /// Optional text, up to 1000 characters
        #[arg(long, value_name = "TEXT", default_value = "", conflicts_with = "resend")]
        text: String,
        /// Send the review kept from an attempt that failed
        #[arg(long)]
        resend: bool,
    },
    /// Show a game's reviews, newest first
    Reviews(ReviewsArgs),
    /// List my matches
    History {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// List players online and what they are doing
    Online {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Join an open room for a game (or make one), play a match, and exit
    /// with its outcome
    Play {
        #[arg(value_name = "GAME")]
        game: String,
        /// As host, start the match once this many players are in the room
        /// (1 to the game's maximum) [default: the game's minimum]
        #[arg(long, value_name = "N")]
        start_when: Option<u32>,
        /// Print events as JSON lines
        #[arg(long)]
        json: bool,
        /// Run none of your installed plugins in the room
        #[arg(long)]
        no_plugins: bool,
    },
    /// List the launcher plugins the lobby offers, with your status for each
    Plugins {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Install, update or remove a launcher plugin
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Join a room by its number, play a match, and exit with its outcome
    Join {
        #[arg(value_name = "ROOM")]
        room: u64,
        /// If you become host, start once this many players are in
        #[arg(long, value_name = "N")]
        start_when: Option<u32>,
        /// Print events as JSON lines
        #[arg(long)]
        json: bool,
        /// Run none of your installed plugins in the room
        #[arg(long)]
        no_plugins: bool,
    },
}

#[derive(Debug, Subcommand)]
enum PluginCommand {
    /// Download, verify and enable a plugin
    Install {
        #[arg(value_name = "ID")]
        id: String,
    },
    /// Update an installed plugin to the latest version
    Update {
        #[arg(value_name = "ID")]
        id: String,
    },
    /// Disable and delete an installed plugin
    Remove {
        #[arg(value_name = "ID")]
        id: String,
    },
}

fn main() -> ExitCode {
    // The sandbox's exec step runs this binary before a game client.
    gamestore_sandbox::run_if_requested();
    let args = Args::parse();
    cli::main_with(run(args))
}

async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let sandbox = args.sandbox;
    let ctx = Context::new(args.global, Role::Player, "gamestore-player")?;
    let Some(command) = args.command else {
        return menu::run(ctx, sandbox).await;
    };
    match command {
        Command::Account(command) => command.run(&ctx).await,
        Command::Store { json } => store::store(&ctx, Output::of(json)).await,
        Command::Info { id, json } => store::info(&ctx, &id, Output::of(json)).await,
        Command::Install { id, version, json } => {
            library::install(&ctx, &id, version.as_deref(), Output::of(json)).await
        }
        Command::Verify { id, version, json } => {
            library::verify(&ctx, &id, version.as_deref(), Output::of(json)).await
        }
        Command::Library { json } => library::library(&ctx, Output::of(json)).await,
        Command::Uninstall { id } => library::uninstall(&ctx, &id).await,
        Command::Rooms { json } => lobby::rooms(&ctx, Output::of(json)).await,
        Command::Online { json } => lobby::online(&ctx, Output::of(json)).await,
        Command::History { json } => lobby::history(&ctx, Output::of(json)).await,
        Command::Review { game, rating, text, resend } => {
            let input = match rating {
                Some(rating) if !resend => review::ReviewInput::New { rating, text },
                _ => review::ReviewInput::Resend,
            };
            review::review(&ctx, &game, input).await
        }
        Command::Reviews(args) => args.run(&ctx).await,
        Command::Plugins { json } => plugins::list(&ctx, json).await,
        Command::Plugin(command) => {
            let (action, id) = match command {
                PluginCommand::Install { id } => (plugins::Action::Install, id),
                PluginCommand::Update { id } => (plugins::Action::Update, id),
                PluginCommand::Remove { id } => (plugins::Action::Remove, id),
            };
            plugins::plugin(&ctx, action, &id).await
        }
        Command::Play { game, start_when, json, no_plugins } => {
            play::play(
                &ctx,
                play::PlayOptions {
                    target: play::Target::Game(game),
                    start_when,
                    output: Output::of(json),
                    sandbox,
                    plugins: play::Plugins::of(no_plugins),
                },
            )
            .await
        }
        Command::Join { room, start_when, json, no_plugins } => {
            play::play(
                &ctx,
                play::PlayOptions {
                    target: play::Target::Room(room),
                    start_when,
                    output: Output::of(json),
                    sandbox,
                    plugins: play::Plugins::of(no_plugins),
                },
            )
            .await
        }
    }
}
