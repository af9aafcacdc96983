//! `install`, `library`, `uninstall`: the player's installed games.

use std::process::ExitCode;

use anyhow::bail;
use gamestore_client::cli::{Context, Output, human_bytes, print_json, print_table};
use gamestore_client::install::{OlderVersions, install as install_game};
use gamestore_client::library::Library;
use gamestore_client::{ClientError, LobbyClient, outln};
use gamestore_protocol::StoreList;
use serde::Serialize;

/// `install GAME [--version V] [--json]`: install, or update to the latest
/// version; with `--version`, that version, beside the ones installed.
pub(crate) async fn install(
    ctx: &Context,
    id: &str,
    version: Option<&str>,
    output: Output,
) -> anyhow::Result<ExitCode> {
    let (client, session) = ctx.connect_session().await?;
    let library = Library::new(ctx.home.root(), &session.user);
    library.clean_all_leftovers();
    install_with(&client, &library, id, version, output).await
}

/// Installs or updates as `install` does, on an open connection.
pub(crate) async fn install_with(
    client: &LobbyClient,
    library: &Library,
    id: &str,
    version: Option<&str>,
    output: Output,
) -> anyhow::Result<ExitCode> {
    let older = match version {
        None => OlderVersions::Remove,
        Some(_) => OlderVersions::Keep,
    };
    let outcome = install_game(client, library, id, version, older).await?;
    for note in &outcome.notes {
        eprintln!("{note}");
    }
    if output.is_json() {
        print_json(&outcome)?;
    } else {
        let what = match (outcome.method, &outcome.previous) {
            ("none", _) => {
                format!("{} {} is already installed and up to date", outcome.id, outcome.version)
            }
            (_, Some(previous)) => {
                format!("updated {} from {previous} to {}", outcome.id, outcome.version)
            }
            _ => format!("installed {} {}", outcome.id, outcome.version),
        };
        outln!(
            "{what} ({} transferred) in {}",
            human_bytes(outcome.bytes_transferred),
            outcome.path.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Serialize)]
struct LibraryItem {
    id: String,
    version: String,
    /// Latest version in the store; null when the game is no longer listed
    /// or the lobby could not be asked.
    latest: Option<String>,
    /// False when the lobby could not be reached: `latest` is unknown.
    latest_known: bool,
    update_available: bool,
    path: std::path::PathBuf,
}

/// `library [--json]`: the installed games; with the lobby down, still the
/// installed games, saying that the latest versions are unknown.
pub(crate) async fn library(ctx: &Context, output: Output) -> anyhow::Result<ExitCode> {
    let Some(session) = ctx.home.load_session(ctx.role)? else {
        // Connecting gives the usual "not logged in" error.
        return ctx.connect_session().await.map(|_| ExitCode::SUCCESS);
    };
    let library = Library::new(ctx.home.root(), &session.user);
    library.clean_all_leftovers();
    match ctx.connect_session().await {
        Ok((client, _)) => show_library(Some(&client), &library, output).await,
        Err(e) if e.downcast_ref::<ClientError>().is_some_and(ClientError::is_unreachable) => {
            eprintln!("note: {e:#}; the latest versions are unknown");
            show_library(None, &library, output).await
        }
        Err(e) => Err(e),
    }
}

/// Prints the library as `library` does, on an open connection (or none,
/// when the lobby is unreachable).
pub(crate) async fn show_library(
    client: Option<&LobbyClient>,
    library: &Library,
    output: Output,
) -> anyhow::Result<ExitCode> {
    let store = match client {
        Some(client) => Some(client.call_all(StoreList::default()).await?),
        None => None,
    };
    let items: Vec<LibraryItem> = library
        .installed()
        .into_iter()
        .map(|installed| {
            let latest = store.as_ref().and_then(|store| {
                store.games.iter().find(|g| g.id == installed.id).map(|g| g.version.clone())
            });
            let update_available = latest.as_ref().is_some_and(|l| {
                semver::Version::parse(l).ok() > semver::Version::parse(&installed.version).ok()
            });
            LibraryItem {
                id: installed.id,
                version: installed.version,
                latest,
                latest_known: store.is_some(),
                update_available,
                path: installed.path,
            }
        })
        .collect();
    if output.is_json() {
        print_json(&items)?;
    } else if items.is_empty() {
        outln!(
            "No game installed yet. Browse with `gamestore-player store`, then `gamestore-player install GAME`."
        );
    } else {
        let rows: Vec<Vec<String>> = items
            .iter()
            .map(|i| {
                let status = match (&i.latest, i.update_available) {
                    (None, _) if !i.latest_known => "latest version unknown".to_owned(),
                    (None, _) => "no longer in the store".to_owned(),
                    (Some(l), true) => format!("update to {l}: gamestore-player install {}", i.id),
                    (Some(_), false) => "up to date".to_owned(),
                };
                vec![
                    i.id.clone(),
                    i.version.clone(),
                    i.latest
                        .clone()
                        .unwrap_or_else(|| if i.latest_known { "-".into() } else { "?".into() }),
                    status,
                ]
            })
            .collect();
        print_table(&["ID", "INSTALLED", "LATEST", "STATUS"], &rows);
    }
    Ok(ExitCode::SUCCESS)
}

/// `uninstall GAME`
pub(crate) async fn uninstall(ctx: &Context, id: &str) -> anyhow::Result<ExitCode> {
    let session = ctx.home.load_session(ctx.role)?;
    let Some(session) = session else {
        bail!(
            "not logged in as a player; run `gamestore-player login --user NAME` (NOT_LOGGED_IN)"
        );
    };
    let library = Library::new(ctx.home.root(), &session.user);
    if !library.uninstall(id)? {
        bail!("{id} is not installed");
    }
    outln!("uninstalled {id}");
    Ok(ExitCode::SUCCESS)
}

/// `verify GAME [--version V] [--json]`: re-check an install chunk by chunk
/// against its verified manifest and re-fetch only what is damaged.
pub(crate) async fn verify(
    ctx: &Context,
    id: &str,
    version: Option<&str>,
    output: Output,
) -> anyhow::Result<ExitCode> {
    let (client, session) = ctx.connect_session().await?;
    let library = Library::new(ctx.home.root(), &session.user);
    let version = match version {
        Some(v) => v.to_owned(),
        None => match library.versions(id).into_iter().next() {
            Some(v) => v,
            None => bail!("{id} is not installed"),
        },
    };
    if !library.is_installed(id, &version) {
        bail!("{id} {version} is not installed");
    }
    let report =
        gamestore_client::chunked::verify_installed(&client, &library, id, &version).await?;
    if output.is_json() {
        print_json(&report)?;
    } else if report.damaged_chunks == 0 && report.repaired_files.is_empty() {
        outln!(
            "{id} {version} is intact ({} checked)",
            gamestore_client::cli::plural(report.files, "file")
        );
    } else {
        outln!(
            "repaired {id} {version}: {} damaged chunk{} fetched again ({} transferred), {} fixed{}",
            report.damaged_chunks,
            if report.damaged_chunks == 1 { "" } else { "s" },
            human_bytes(report.bytes_transferred),
            gamestore_client::cli::plural(report.repaired_files.len(), "file"),
            if report.repaired_files.is_empty() {
                String::new()
            } else {
                format!(" ({})", report.repaired_files.join(", "))
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}
