//! Moving packages: uploads now, downloads with the installer.

use std::io::IsTerminal;
use std::path::Path;

use gamestore_protocol::{GameUpload, GameUploadDone, MAX_CHUNK_LEN, PublishReply};
use indicatif::{ProgressBar, ProgressStyle};
use tokio::io::AsyncReadExt;

use crate::{ClientError, LobbyClient};

/// A progress bar for `total` bytes, drawn only when stdout is a terminal.
pub fn progress_bar(total: u64, label: &str) -> ProgressBar {
    if !std::io::stdout().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_message(label.to_owned());
    bar
}

/// Uploads the zip at `zip` announced by `header`, advancing `progress`.
pub async fn upload_package(
    client: &LobbyClient,
    header: GameUpload,
    zip: &Path,
    progress: &ProgressBar,
) -> Result<PublishReply, ClientError> {
    let size = header.size;
    let (upload_id, ready) = client.start(header, None).await?;
    let ready = ready.await.map_err(|_| ClientError::Closed("connection closed".into()))??;
    let ready = LobbyClient::decode::<GameUpload>(ready)?;
    let chunk = (ready.max_chunk as usize).clamp(1, MAX_CHUNK_LEN);

    let mut file = tokio::fs::File::open(zip).await?;
    let mut buf = vec![0u8; chunk];
    let mut sent = 0u64;
    while sent < size {
        let want = chunk.min((size - sent) as usize);
        file.read_exact(&mut buf[..want]).await?;
        client.send_chunk(upload_id, &buf[..want]).await?;
        sent += want as u64;
        progress.set_position(sent);
    }
    client.flush().await?;
    client
        .call_with_timeout(
            GameUploadDone { upload: upload_id },
            std::time::Duration::from_secs(600),
        )
        .await
}
