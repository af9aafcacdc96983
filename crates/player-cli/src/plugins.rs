//! `plugins`, `plugin install|update|remove`: the player's launcher plugins,
//! and the same as a menu screen.

use std::process::ExitCode;

use anyhow::bail;
use gamestore_client::cli::{Context, print_json, print_table};
use gamestore_client::library::Library;
use gamestore_client::menu::Menu;
use gamestore_client::plugins::{self, PluginItem, PluginStatus};
use gamestore_client::{LobbyClient, outln};

/// What `plugin` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Install,
    Update,
    Remove,
}

/// `plugins [--json]`: the plugins the lobby offers and this player's status.
pub async fn list(ctx: &Context, json: bool) -> anyhow::Result<ExitCode> {
    let (client, session) = ctx.connect_session().await?;
    let library = Library::plugins(ctx.home.root(), &session.user);
    show(&client, &library, json).await?;
    Ok(ExitCode::SUCCESS)
}

/// Prints the plugin list on an open connection; returns it.
pub async fn show(
    client: &LobbyClient,
    library: &Library,
    json: bool,
) -> anyhow::Result<Vec<PluginItem>> {
    let items = plugins::list(client, library).await?;
    if json {
        print_json(&items)?;
    } else if items.is_empty() {
        outln!("The lobby offers no plugins yet.");
    } else {
        let rows: Vec<Vec<String>> = items
            .iter()
            .map(|p| {
                vec![
                    p.id.clone(),
                    p.name.clone(),
                    p.version.clone(),
                    status_text(p),
                    p.description.clone(),
                ]
            })
            .collect();
        print_table(&["ID", "NAME", "VERSION", "STATUS", "DESCRIPTION"], &rows);
    }
    Ok(items)
}

fn status_text(item: &PluginItem) -> String {
    match (item.status, &item.installed) {
        (PluginStatus::UpdateAvailable, Some(v)) => format!("update available ({v} installed)"),
        (status, _) => status.as_str().to_owned(),
    }
}

/// `plugin install|update|remove ID`.
pub async fn plugin(ctx: &Context, action: Action, id: &str) -> anyhow::Result<ExitCode> {
    let (client, session) = ctx.connect_session().await?;
    let library = Library::plugins(ctx.home.root(), &session.user);
    library.clean_all_leftovers();
    act(&client, &library, action, id).await?;
    Ok(ExitCode::SUCCESS)
}

/// Does `action` for plugin `id` and prints the confirmation; a failed
/// install or update is `install failed: <reason>`.
pub async fn act(
    client: &LobbyClient,
    library: &Library,
    action: Action,
    id: &str,
) -> anyhow::Result<()> {
    match action {
        Action::Remove => {
            if !plugins::remove(library, id)? {
                bail!("plugin {id} is not installed");
            }
            outln!("removed plugin {id}");
        }
        Action::Install | Action::Update => {
            let before = library.versions(id).into_iter().next();
            if action == Action::Update && before.is_none() {
                bail!("plugin {id} is not installed: use `plugin install {id}`");
            }
            let outcome = plugins::install_plugin(client, library, id).await.map_err(|e| {
                anyhow::anyhow!("install failed: {}", gamestore_client::menu::one_line(&e))
            })?;
            match before {
                Some(v) if v == outcome.version => {
                    outln!("plugin {id} {v} is already installed and up to date")
                }
                Some(v) => outln!("updated plugin {id} from {v} to {}: installed", outcome.version),
                None => outln!("installed plugin {id} {}", outcome.version),
            }
        }
    }
    Ok(())
}

/// The menu's "Plugins" screen: the list with statuses, then a plugin's
/// details and what can be done with it.
pub async fn menu_screen(menu: &Menu) -> Result<(), gamestore_client::menu::Quit> {
    loop {
        let picked = menu
            .act(async {
                let (client, session) = menu.link.session_client().await?;
                let library = Library::plugins(menu.link.context().home.root(), &session.user);
                let items = show(&client, &library, false).await?;
                if items.is_empty() {
                    return Ok(None);
                }
                let names: Vec<String> = items
                    .iter()
                    .map(|p| format!("{} ({}, {})", p.name, p.id, status_text(p)))
                    .collect();
                let Some(i) = menu.pick("Which plugin", &names).await? else { return Ok(None) };
                Ok(Some(items[i].clone()))
            })
            .await?;
        let Some(Some(item)) = picked else { return Ok(()) };
        outln!("");
        outln!("{} ({}) {}", item.name, item.id, item.version);
        outln!("{}", item.description);
        outln!("status: {}", status_text(&item));
        let options: Vec<(&str, Action)> = match item.status {
            PluginStatus::NotInstalled => vec![("Install", Action::Install)],
            PluginStatus::Installed => vec![("Remove", Action::Remove)],
            PluginStatus::UpdateAvailable => {
                vec![("Update", Action::Update), ("Remove", Action::Remove)]
            }
        };
        let labels: Vec<&str> = options.iter().map(|(l, _)| *l).collect();
        let Some(choice) = menu.choose(&format!("Plugin {}", item.id), &labels, "Back").await?
        else {
            continue;
        };
        let action = options[choice].1;
        menu.act(async {
            let (client, session) = menu.link.session_client().await?;
            let library = Library::plugins(menu.link.context().home.root(), &session.user);
            act(&client, &library, action, &item.id).await
        })
        .await?;
    }
}
