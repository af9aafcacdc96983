// The developer templates: FILES lists them, and each builds, packages into
// a valid folder and plays a match between bots.

use std::path::{Path, PathBuf};
use std::process::Command;

use checks::check_package;
use gamekit::testkit::{Proc, TempDir};

use crate::{BUILD_WAIT, WAIT, launch, launch_server, repo_root};

fn templates_dir() -> PathBuf {
    repo_root().join("templates")
}

fn listed_files() -> Vec<String> {
    std::fs::read_to_string(templates_dir().join("FILES"))
        .unwrap()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

fn walk(dir: &Path, base: &Path, found: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let at_top = dir.parent() == Some(base);
        if at_top && ["target", "bin", "Cargo.lock"].contains(&name.as_str()) {
            continue; // build products of a template tried in place
        }
        if path.is_dir() {
            walk(&path, base, found);
        } else {
            found.push(path.strip_prefix(base).unwrap().to_string_lossy().into_owned());
        }
    }
}

#[test]
fn files_lists_every_template_file() {
    let mut listed = listed_files();
    let mut found = Vec::new();
    for template in ["cli", "gui"] {
        walk(&templates_dir().join(template), &templates_dir(), &mut found);
    }
    listed.sort();
    found.sort();
    assert_eq!(listed, found, "templates/FILES must list exactly the template files");
    for file in &listed {
        let text = std::fs::read_to_string(templates_dir().join(file)).unwrap();
        assert!(!text.contains("gamekit"), "{file}: templates are standalone");
    }
    for template in ["cli", "gui"] {
        let config =
            std::fs::read_to_string(templates_dir().join(template).join("config.json")).unwrap();
        assert!(
            config.contains("\"__GAME_ID__\"") && config.contains("\"__GAME_NAME__\""),
            "{template}"
        );
    }
}

/// Writes the template out as the generator does: the listed files, with
/// the placeholders replaced.
fn generate(template: &str, into: &Path) {
    for file in listed_files() {
        let Some(relative) = file.strip_prefix(&format!("{template}/")) else { continue };
        let text = std::fs::read_to_string(templates_dir().join(&file)).unwrap();
        let text = text.replace("__GAME_ID__", "my-game").replace("__GAME_NAME__", "My Game");
        let target = into.join(relative);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::write(&target, text).unwrap();
    }
    // Executable bits are the generator's job; set them as it would.
    let script = into.join("package.sh");
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
}

fn build_and_package(template: &str) -> TempDir {
    let dir = TempDir::new(&format!("template-{template}"));
    generate(template, dir.path());
    let mut command = Command::new(dir.path().join("package.sh"));
    // Shared between runs and templates so that rebuilds are incremental.
    command.env("CARGO_TARGET_DIR", repo_root().join("games/target/templates"));
    let mut build = Proc::spawn("package.sh", command);
    assert!(build.wait_exit(BUILD_WAIT).success(), "{}", build.output());
    let manifest =
        check_package(dir.path()).unwrap_or_else(|problems| panic!("{template}: {problems:#?}"));
    assert_eq!(manifest["id"], "my-game");
    assert_eq!(manifest["kind"], template);
    dir
}

fn play(dir: &Path, players: &[&str], server_extra: &[&str]) -> serde_json::Value {
    let result = dir.join("result.json");
    let (mut server, mut values) = launch_server(
        dir,
        players.len(),
        server_extra,
        &[("GAMESTORE_RESULT_FILE", result.to_str().unwrap())],
    );
    let mut bots: Vec<Proc> = players
        .iter()
        .map(|name| {
            values.insert("player", name.to_string());
            launch(dir, "client", &values, &[], &[("GAMESTORE_BOT", "1")])
        })
        .collect();
    for bot in &mut bots {
        bot.expect_success(WAIT);
        assert!(bot.output().contains("Game over:"), "{}", bot.output());
    }
    server.expect_success(WAIT);
    serde_json::from_str(&std::fs::read_to_string(result).unwrap()).unwrap()
}

#[test]
fn the_cli_template_builds_packages_and_plays() {
    let dir = build_and_package("cli");
    let report = play(dir.path(), &["ann", "bob"], &[]);
    assert!(report["winner"].is_string() || report["draw"] == true, "{report}");
    assert_eq!(report["scores"].as_object().unwrap().len(), 2);
}

#[test]
fn the_gui_template_builds_packages_and_plays() {
    let dir = build_and_package("gui");
    let report = play(dir.path(), &["ann", "bob", "cy"], &["--points", "2"]);
    let winner = report["winner"].as_str().expect("a winner");
    assert_eq!(report["scores"][winner], 2, "{report}");
}
