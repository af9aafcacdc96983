//! `key show` and `key rotate`: the developer's signing key.

use std::process::ExitCode;

use anyhow::bail;
use gamestore_client::cli::{Context, print_json};
use gamestore_client::outln;
use gamestore_client::publish::{Unsupported, register_key};
use gamestore_client::signing_key::KeyFile;
use gamestore_package::chunked::{
    RotationStatement, key_fingerprint, key_hex, sign_rotation, signature_hex,
};
use gamestore_protocol::DevKeyRotate;

/// `key show [--json]`: the fingerprint of this home's signing key (made
/// now if there is none).
pub fn show(ctx: &Context, json: bool) -> anyhow::Result<ExitCode> {
    let file = KeyFile::in_home(ctx.home.root());
    let key = file.load_or_create()?;
    let public = key.verifying_key();
    let fingerprint = key_fingerprint(&public);
    if json {
        print_json(&serde_json::json!({
            "fingerprint": fingerprint,
            "key": key_hex(&public),
            "path": file.path(),
        }))?;
    } else {
        outln!("{fingerprint}  ({})", file.path().display());
    }
    Ok(ExitCode::SUCCESS)
}

/// `key rotate [--json]`: a new key, announced to the lobby in a statement
/// signed by the current one; the old key file is kept aside.
pub async fn rotate(ctx: &Context, json: bool) -> anyhow::Result<ExitCode> {
    let file = KeyFile::in_home(ctx.home.root());
    let Some(old) = file.load()? else {
        bail!(
            "there is no signing key in {} yet: nothing to rotate (`gamestore-dev key show` makes one)",
            ctx.home.root().display()
        );
    };
    let (client, session) = ctx.connect_session().await?;
    match register_key(&client, &old).await {
        Ok(_) => {}
        Err(e) if e.is::<Unsupported>() => bail!("this lobby does not know signing keys"),
        Err(e) => return Err(e),
    }
    let new = match file.load_pending()? {
        // A rotation cut before the lobby answered: offer the same key again.
        Some(pending) => pending,
        None => file.create_pending()?,
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let statement = RotationStatement {
        developer: session.user.clone(),
        old_key: key_hex(&old.verifying_key()),
        new_key: key_hex(&new.verifying_key()),
        at: now,
    };
    let bytes = statement.to_bytes();
    let signature = signature_hex(&sign_rotation(&old, &bytes));
    let statement_text = String::from_utf8(bytes).expect("a statement is JSON text");
    let reply = client.call(DevKeyRotate { statement: statement_text, signature }).await?;
    let kept = file.promote_pending(now)?;
    let old_fp = key_fingerprint(&old.verifying_key());
    if json {
        print_json(&serde_json::json!({
            "fingerprint": reply.fingerprint,
            "old_fingerprint": old_fp,
            "old_key_file": kept,
        }))?;
    } else {
        outln!(
            "rotated the signing key of {}: {old_fp} -> {} (the old key is kept in {})",
            session.user,
            reply.fingerprint,
            kept.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
