//! `new DIR --template cli|gui`: a working game to start from.
//!
//! The templates are small, complete games (a terminal tic-tac-toe and a
//! window coin race) embedded in this binary. Their README says how to build
//! and publish them.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use gamestore_client::outln;
use gamestore_package::is_valid_game_id;

include!(concat!(env!("OUT_DIR"), "/templates.rs"));

/// The two templates.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum Template {
    /// A turn-based terminal game for two players (tic-tac-toe)
    Cli,
    /// A real-time window game for one to eight players (coin race)
    Gui,
}

impl Template {
    fn prefix(self) -> &'static str {
        match self {
            Template::Cli => "cli/",
            Template::Gui => "gui/",
        }
    }
}

/// A game id from a folder name: lowercase, other characters as `-`.
fn id_from_dir(dir: &Path) -> String {
    let name = dir.file_name().map(|n| n.to_string_lossy().to_lowercase()).unwrap_or_default();
    let id: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '-' }).collect();
    id.trim_matches('-').chars().take(32).collect()
}

pub(crate) fn new(
    dir: &Path,
    template: Template,
    id: Option<String>,
    name: Option<String>,
) -> anyhow::Result<ExitCode> {
    let id = id.unwrap_or_else(|| id_from_dir(dir));
    if !is_valid_game_id(&id) {
        bail!(
            "{id:?} is not a valid game id (1 to 32 lowercase letters, digits, `_` or `-`); pass --id"
        );
    }
    let name = name.unwrap_or_else(|| {
        let mut chars = id.replace(['-', '_'], " ").chars().collect::<Vec<_>>();
        if let Some(first) = chars.first_mut() {
            *first = first.to_ascii_uppercase();
        }
        chars.into_iter().collect()
    });
    if name.contains(['"', '\\']) || name.chars().any(char::is_control) {
        bail!("the game name cannot contain quotes, backslashes or control characters");
    }
    if dir.exists() && fs::read_dir(dir)?.next().is_some() {
        bail!("{} already exists and is not empty", dir.display());
    }
    let mut written = 0;
    for (path, contents) in TEMPLATE_FILES.iter().filter(|(p, _)| p.starts_with(template.prefix()))
    {
        let relative = &path[template.prefix().len()..];
        let target = dir.join(relative);
        fs::create_dir_all(target.parent().expect("file has a parent"))?;
        let text = contents.replace("__GAME_ID__", &id).replace("__GAME_NAME__", &name);
        fs::write(&target, text).with_context(|| format!("cannot write {}", target.display()))?;
        if relative.ends_with(".sh") {
            fs::set_permissions(&target, fs::Permissions::from_mode(0o755))?;
        }
        written += 1;
    }
    let kind = template.prefix().trim_end_matches('/');
    outln!("created {} ({written} files): {name} ({id}), from the {kind} template", dir.display());
    outln!("next: cd {} && ./package.sh && gamestore-dev publish .", dir.display());
    Ok(ExitCode::SUCCESS)
}
