//! Launcher plugins: listing, installing, updating and removing them, and
//! (in [`host`]) running them beside the room screen.
//!
//! A plugin is a package of kind `plugin` (docs/PLUGINS.md). It is
//! downloaded and verified by the same [`install`](crate::install::install)
//! as a game, into the player's plugin library
//! ([`Library::plugins`]): `<home>/plugins/<player>/<id>/<version>/`. An
//! installed plugin is enabled; removing it deletes it.

pub mod host;
pub mod room;

use std::path::PathBuf;

use anyhow::{Context, bail};
use gamestore_package::{GameKind, Manifest, PluginSpec};
use gamestore_protocol::{GameInfo, PluginList, PluginSummary};
use serde::Serialize;

use crate::LobbyClient;
use crate::install::{InstallOutcome, OlderVersions, install};
use crate::library::Library;

/// A player's standing with one plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PluginStatus {
    NotInstalled,
    Installed,
    UpdateAvailable,
}

impl PluginStatus {
    /// As `plugins` prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            PluginStatus::NotInstalled => "not installed",
            PluginStatus::Installed => "installed",
            PluginStatus::UpdateAvailable => "update available",
        }
    }
}

/// One line of `plugins --json`.
#[derive(Debug, Clone, Serialize)]
pub struct PluginItem {
    pub id: String,
    pub name: String,
    pub description: String,
    /// The latest version the lobby offers.
    pub version: String,
    pub status: PluginStatus,
    /// The installed version, if any.
    pub installed: Option<String>,
}

/// An installed plugin, ready to run.
#[derive(Debug, Clone)]
pub struct InstalledPlugin {
    pub id: String,
    pub version: String,
    pub dir: PathBuf,
    pub name: String,
    pub spec: PluginSpec,
}

/// The plugins the lobby offers, with this player's status for each.
pub async fn list(client: &LobbyClient, library: &Library) -> anyhow::Result<Vec<PluginItem>> {
    let offered = client.call_all(PluginList::default()).await?;
    Ok(offered.plugins.into_iter().map(|p| item(library, p)).collect())
}

fn item(library: &Library, plugin: PluginSummary) -> PluginItem {
    let installed = library.versions(&plugin.id).into_iter().next();
    let status = match &installed {
        None => PluginStatus::NotInstalled,
        Some(v)
            if semver::Version::parse(v).ok() < semver::Version::parse(&plugin.version).ok() =>
        {
            PluginStatus::UpdateAvailable
        }
        Some(_) => PluginStatus::Installed,
    };
    PluginItem {
        id: plugin.id,
        name: plugin.name,
        description: plugin.description,
        version: plugin.version,
        status,
        installed,
    }
}

/// Installs (or updates to) the latest version of plugin `id`. The version
/// already installed stays until the new one is verified and its manifest
/// read as a plugin's; only then are older versions removed.
pub async fn install_plugin(
    client: &LobbyClient,
    library: &Library,
    id: &str,
) -> anyhow::Result<InstallOutcome> {
    let info = client.call(GameInfo { id: id.to_owned() }).await?;
    if info.game.kind != GameKind::Plugin {
        bail!("{id} is a game, not a plugin");
    }
    let outcome =
        install(client, library, id, Some(&info.game.version), OlderVersions::Keep).await?;
    if let Err(e) = load(library, id, &outcome.version) {
        if outcome.method != "none" {
            library.remove_version(id, &outcome.version)?;
        }
        return Err(e);
    }
    for old in library.versions(id) {
        if old != outcome.version {
            library.remove_version(id, &old)?;
        }
    }
    Ok(outcome)
}

/// Reads an installed plugin's manifest.
fn load(library: &Library, id: &str, version: &str) -> anyhow::Result<InstalledPlugin> {
    let dir = library.version_dir(id, version);
    let dir = dir.canonicalize().unwrap_or(dir);
    let manifest = Manifest::load_dir(&dir).map_err(|e| anyhow::anyhow!("bad manifest: {e}"))?;
    let Some(spec) = manifest.plugin else {
        bail!("bad manifest: {id} {version} is not a plugin (kind {})", manifest.kind);
    };
    if manifest.id != id {
        bail!("bad manifest: the package says it is {}, not {id}", manifest.id);
    }
    Ok(InstalledPlugin {
        id: id.to_owned(),
        version: version.to_owned(),
        dir,
        name: manifest.name,
        spec,
    })
}

/// Removes plugin `id`; false when it was not installed.
pub fn remove(library: &Library, id: &str) -> anyhow::Result<bool> {
    library.uninstall(id).with_context(|| format!("cannot remove plugin {id}"))
}

/// Every installed plugin that loads, newest version of each; the ones that
/// do not are returned as one-line reasons.
pub fn installed(library: &Library) -> (Vec<InstalledPlugin>, Vec<String>) {
    let (mut ok, mut bad) = (Vec::new(), Vec::new());
    for found in library.installed() {
        match load(library, &found.id, &found.version) {
            Ok(plugin) => ok.push(plugin),
            Err(e) => bad.push(format!("plugin {} not started: {e:#}", found.id)),
        }
    }
    (ok, bad)
}
