//! `validate DIR` and `publish DIR`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use gamestore_client::cli::{Context, Output, human_bytes, plural, print_json};
use gamestore_client::publish::{Compression, Unsupported, bar_progress, publish_chunked};
use gamestore_client::signing_key::KeyFile;
use gamestore_client::transfer::{progress_bar, upload_package};
use gamestore_client::{LobbyClient, outln};
use gamestore_package::{IGNORE_FILE, Manifest, pack_dir, package_files, sha256_file};
use gamestore_protocol::GameUpload;

/// Loads and checks a game folder's manifest, printing every problem.
fn check(dir: &Path, output: Output) -> anyhow::Result<Manifest> {
    if !dir.is_dir() {
        bail!("{} is not a folder", dir.display());
    }
    match Manifest::load_dir(dir) {
        Ok(manifest) => Ok(manifest),
        Err(errors) => {
            if output.is_json() {
                print_json(&errors.problems)?;
            } else {
                for problem in &errors.problems {
                    let field =
                        if problem.field.is_empty() { "config.json" } else { &problem.field };
                    outln!("{field}: {}", problem.message);
                }
            }
            let n = errors.problems.len();
            bail!(
                "{} has {n} problem{} in config.json",
                dir.display(),
                if n == 1 { "" } else { "s" }
            )
        }
    }
}

/// `validate DIR [--json]`
pub(crate) fn validate(dir: &Path, output: Output) -> anyhow::Result<ExitCode> {
    let manifest = check(dir, output)?;
    if output.is_json() {
        print_json(&manifest)?;
    } else if manifest.is_plugin() {
        outln!(
            "{} is a valid package: {} {} (launcher plugin)",
            dir.display(),
            manifest.id,
            manifest.version
        );
    } else {
        outln!(
            "{} is a valid package: {} {} ({}, {})",
            dir.display(),
            manifest.id,
            manifest.version,
            manifest.kind,
            gamestore_client::cli::players_range(manifest.min_players, manifest.max_players)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `publish DIR --dry-run [--json]`: what `publish` would send.
pub(crate) fn dry_run(dir: &Path, output: Output) -> anyhow::Result<ExitCode> {
    let manifest = check(dir, output)?;
    let files = package_files(dir)
        .with_context(|| format!("cannot list the files of {}", dir.display()))?;
    if output.is_json() {
        print_json(&files)?;
        return Ok(ExitCode::SUCCESS);
    }
    for file in &files {
        outln!("{:>10}  {}", human_bytes(file.size), file.path);
    }
    let total: u64 = files.iter().map(|f| f.size).sum();
    outln!(
        "{} {} would send {} ({}); nothing was sent. List what to leave out in {}/{IGNORE_FILE}.",
        manifest.id,
        manifest.version,
        plural(files.len(), "file"),
        human_bytes(total),
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// `publish DIR [--compress auto|always|never] [--json]`
pub(crate) async fn publish(
    ctx: &Context,
    dir: &Path,
    compress: Compression,
    output: Output,
) -> anyhow::Result<ExitCode> {
    check(dir, Output::Text)?;
    let (client, _) = ctx.connect_session().await?;
    publish_with(&client, ctx.home.root(), dir, compress, output).await
}

/// Validates, chunks, signs and uploads as `publish` does, on an open
/// connection; against a lobby without signed publishes, packs a zip.
pub(crate) async fn publish_with(
    client: &LobbyClient,
    home: &Path,
    dir: &Path,
    compress: Compression,
    output: Output,
) -> anyhow::Result<ExitCode> {
    let manifest = check(dir, Output::Text)?;
    let key = KeyFile::in_home(home).load_or_create()?;
    let bar = progress_bar(0, &format!("uploading {} {}", manifest.id, manifest.version));
    let outcome = publish_chunked(client, dir, &key, compress, bar_progress(&bar)).await;
    bar.finish_and_clear();
    match outcome {
        Ok(outcome) => {
            if output.is_json() {
                print_json(&outcome)?;
            } else {
                let reply = &outcome.reply.published;
                outln!(
                    "published {} {} signed by {} ({}, {} unpacked; sent {} of {} chunks, {} uploaded){}",
                    reply.id,
                    reply.version,
                    outcome.fingerprint,
                    plural(outcome.files, "file"),
                    human_bytes(outcome.total_bytes),
                    outcome.sent_chunks,
                    outcome.chunks,
                    human_bytes(outcome.sent_bytes),
                    if reply.created { "; new game" } else { "" }
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) if e.is::<Unsupported>() => {
            eprintln!("note: this lobby does not take signed publishes; sending an unsigned zip");
            publish_zip(client, dir, output).await
        }
        Err(e) => Err(e),
    }
}

/// The zip upload (GAME_UPLOAD) for lobbies without signed publishes.
async fn publish_zip(client: &LobbyClient, dir: &Path, output: Output) -> anyhow::Result<ExitCode> {
    let manifest = check(dir, Output::Text)?;

    let zip = tempfile::NamedTempFile::new().context("cannot create a temporary file")?;
    let summary = {
        let source = dir.to_owned();
        let file = zip.reopen()?;
        tokio::task::spawn_blocking(move || pack_dir(&source, std::io::BufWriter::new(file)))
            .await?
            .with_context(|| format!("cannot pack {}", dir.display()))?
    };
    let size = std::fs::metadata(zip.path())?.len();
    let sha256 = sha256_file(zip.path())?;
    if !output.is_json() {
        outln!(
            "sending {} ({} unpacked; `publish --dry-run` lists them, {IGNORE_FILE} leaves files out)",
            plural(summary.files as usize, "file"),
            human_bytes(summary.total_bytes)
        );
    }

    let header =
        GameUpload { id: manifest.id.clone(), version: manifest.version.to_string(), size, sha256 };
    let bar = progress_bar(size, &format!("uploading {} {}", manifest.id, manifest.version));
    let reply = upload_package(client, header, zip.path(), &bar).await;
    bar.finish_and_clear();
    let reply = reply?;
    if output.is_json() {
        print_json(&reply)?;
    } else {
        outln!(
            "published {} {} ({} files, {} unpacked, {} uploaded){}",
            reply.id,
            reply.version,
            summary.files,
            human_bytes(reply.unpacked_bytes),
            human_bytes(size),
            if reply.created { "; new game" } else { "" }
        );
    }
    Ok(ExitCode::SUCCESS)
}
