//! `review GAME --rating N [--text T]` and `review GAME --resend`.

use std::process::ExitCode;

use anyhow::bail;
use gamestore_client::cli::Context;
use gamestore_client::reviews::{Draft, Drafts, worth_keeping};
use gamestore_client::{LobbyClient, outln};
use gamestore_protocol::ReviewSubmit;

/// What to send.
pub(crate) enum ReviewInput {
    New {
        rating: u8,
        text: String,
    },
    /// The draft kept from a failed attempt.
    Resend,
}

pub(crate) async fn review(
    ctx: &Context,
    game: &str,
    input: ReviewInput,
) -> anyhow::Result<ExitCode> {
    // Whose drafts: the saved session's player, even if the lobby is down.
    let Some(session) = ctx.home.load_session(ctx.role)? else {
        bail!(
            "not logged in as a player; run `gamestore-player login --user NAME` (NOT_LOGGED_IN)"
        );
    };
    let drafts = Drafts::new(ctx.home.root(), &session.user);
    let draft = match input {
        ReviewInput::New { rating, text } => {
            let draft = Draft { game: game.to_owned(), rating, text };
            drafts.save(&draft)?;
            draft
        }
        ReviewInput::Resend => match drafts.load(game) {
            Some(draft) => draft,
            None => bail!("there is no kept review of {game} to send"),
        },
    };
    let sent = async {
        let (client, _) = ctx.connect_session().await?;
        send(&client, &drafts, &draft).await
    }
    .await;
    match sent {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) if worth_keeping(&e) => Err(e.context(format!(
            "your review is kept; send it again with `gamestore-player review {game} --resend`"
        ))),
        Err(e) => Err(e),
    }
}

/// Sends a draft saved in `drafts` and removes it once the lobby accepts it,
/// or refuses it for good (see [`worth_keeping`]).
pub(crate) async fn send(
    client: &LobbyClient,
    drafts: &Drafts,
    draft: &Draft,
) -> anyhow::Result<()> {
    let reply = client
        .call(ReviewSubmit {
            game: draft.game.clone(),
            rating: draft.rating,
            text: draft.text.clone(),
        })
        .await
        .map_err(anyhow::Error::from);
    let reply = match reply {
        Ok(reply) => reply,
        Err(e) => {
            if !worth_keeping(&e) {
                drafts.remove(&draft.game);
            }
            return Err(e);
        }
    };
    drafts.remove(&draft.game);
    let verb = if reply.created { "saved" } else { "updated" };
    outln!(
        "{verb} your review of {}: {} star{}",
        draft.game,
        reply.review.rating,
        if reply.review.rating == 1 { "" } else { "s" }
    );
    Ok(())
}
