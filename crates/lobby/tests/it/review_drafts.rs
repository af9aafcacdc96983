//! Review drafts: kept only when sending them again can succeed; review
//! listings show when each review was written.

use gamestore_testkit::Cli;

use crate::world::{bot_player, lobby_with_test_game};

/// The drafts kept in `cli`'s home for player `name`.
fn drafts(cli: &Cli, name: &str) -> Vec<String> {
    std::fs::read_dir(cli.home().join("drafts").join(name))
        .map(|entries| {
            entries.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect()
        })
        .unwrap_or_default()
}

#[test]
fn refusals_a_retry_cannot_fix_keep_no_draft() {
    let (lobby, tmp, dev) = lobby_with_test_game();
    let ann = bot_player(&lobby, &tmp, "ann");

    let out = ann.run(&["review", "test", "--rating", "5", "--text", "never played it"]);
    out.fails_with("NOT_PLAYED");
    assert!(!out.stderr.contains("kept"), "{out}");
    assert!(drafts(&ann, "ann").is_empty(), "{:?}", drafts(&ann, "ann"));
    ann.run(&["review", "test", "--resend"]).fails_with("no kept review");

    ann.run(&["play", "test"]).ok();
    for (args, code) in [
        (&["review", "test", "--rating", "9"][..], "INVALID_RATING"),
        (&["review", "test", "--rating", "3", "--text", "bell\u{7}"][..], "INVALID_REVIEW"),
    ] {
        let out = ann.run(args);
        out.fails_with(code);
        assert!(!out.stderr.contains("kept"), "{out}");
        assert!(drafts(&ann, "ann").is_empty(), "{code}: {:?}", drafts(&ann, "ann"));
    }

    dev.run(&["delist", "test"]).ok();
    let out = ann.run(&["review", "test", "--rating", "4"]);
    assert!(!out.success(), "{out}");
    assert!(!out.stderr.contains("kept"), "{out}");
    assert!(drafts(&ann, "ann").is_empty(), "{:?}", drafts(&ann, "ann"));
}

#[test]
fn a_review_the_lobby_never_got_is_kept_and_resent() {
    let (mut lobby, tmp, _dev) = lobby_with_test_game();
    let ann = bot_player(&lobby, &tmp, "ann");
    ann.run(&["play", "test"]).ok();
    lobby.terminate();

    let out = ann.run(&["review", "test", "--rating", "4", "--text", "Kept for later."]);
    assert!(!out.success() && out.stderr.contains("your review is kept"), "{out}");
    assert_eq!(drafts(&ann, "ann"), ["test.json"]);

    lobby.restart();
    ann.run(&["review", "test", "--resend"]).ok();
    assert!(drafts(&ann, "ann").is_empty());
    let reviews = ann.run(&["reviews", "test", "--json"]).ok().json();
    assert_eq!(reviews[0]["text"], "Kept for later.");
}

#[test]
fn review_listings_show_the_date_written() {
    let (lobby, tmp, dev) = lobby_with_test_game();
    let ann = bot_player(&lobby, &tmp, "ann");
    ann.run(&["play", "test"]).ok();
    ann.run(&["review", "test", "--rating", "4", "--text", "Dated."]).ok();
    let created =
        ann.run(&["reviews", "test", "--json"]).ok().json()[0]["created_at"].as_i64().unwrap();
    // The date as the system's `date` prints it, in UTC.
    let date = std::process::Command::new("date")
        .args(["-u", "-d", &format!("@{created}"), "+%Y-%m-%d"])
        .output()
        .unwrap();
    let date = String::from_utf8(date.stdout).unwrap().trim().to_owned();
    assert_eq!(date.len(), 10, "{date}");
    for cli in [&ann, &dev] {
        let out = cli.run(&["reviews", "test"]).ok().stdout.clone();
        assert!(out.contains(&format!("ann ({date})")), "{out}");
    }
}
