//! Ratings and reviews (flow P4).

use gamestore_testkit::Cli;

use crate::world::{bot_player, lobby_with_test_game};

fn play_once(player: &Cli) {
    player.run(&["play", "test", "--start-when", "1"]).ok();
}

#[test]
fn only_players_who_played_review_and_a_second_review_edits() {
    let (lobby, tmp, dev) = lobby_with_test_game();
    let ann = bot_player(&lobby, &tmp, "ann");
    let bob = bot_player(&lobby, &tmp, "bob");

    ann.run(&["review", "test", "--rating", "5"]).fails_with("NOT_PLAYED");
    play_once(&ann);
    play_once(&bob);
    ann.run(&["review", "test", "--rating", "4", "--text", "  Solid little game.  "]).ok();
    bob.run(&["review", "test", "--rating", "1", "--text", "too short"]).ok();
    let out = ann
        .run(&["review", "test", "--rating", "5", "--text", "Even better the second time."])
        .ok()
        .stdout
        .clone();
    assert!(out.contains("updated your review"), "{out}");

    let reviews = ann.run(&["reviews", "test", "--json"]).ok().json();
    let reviews = reviews.as_array().unwrap();
    assert_eq!(reviews.len(), 2, "one review per player");
    // Newest first: ann edited hers last.
    assert_eq!(reviews[0]["player"], "ann");
    assert_eq!(reviews[0]["text"], "Even better the second time.");
    assert_eq!(reviews[0]["rating"], 5);
    assert!(reviews[0]["updated_at"].as_i64() >= reviews[0]["created_at"].as_i64());

    let store = ann.run(&["store", "--json"]).ok().json();
    assert_eq!(store[0]["rating"], 3.0);
    assert_eq!(store[0]["reviews"], 2);
    let info = bob.run(&["info", "test", "--json"]).ok().json();
    assert_eq!(info["recent_reviews"].as_array().unwrap().len(), 2);
    let mine = dev.run(&["games", "--json"]).ok().json();
    assert_eq!((mine[0]["rating"].as_f64(), mine[0]["reviews"].as_u64()), (Some(3.0), Some(2)));
    let text = dev.run(&["reviews", "test"]).ok().stdout.clone();
    assert!(text.contains("3.0 (2)") && text.contains("Even better"), "{text}");
}

#[test]
fn bad_ratings_and_texts_are_refused() {
    let (lobby, tmp, _dev) = lobby_with_test_game();
    let ann = bot_player(&lobby, &tmp, "ann");
    play_once(&ann);
    ann.run(&["review", "test", "--rating", "0"]).fails_with("INVALID_RATING");
    ann.run(&["review", "test", "--rating", "6"]).fails_with("INVALID_RATING");
    let long = "x".repeat(1001);
    ann.run(&["review", "test", "--rating", "3", "--text", &long]).fails_with("INVALID_REVIEW");
    ann.run(&["review", "test", "--rating", "3", "--text", "bell\u{7}"])
        .fails_with("INVALID_REVIEW");
    ann.run(&["review", "nope", "--rating", "3"]).fails_with("GAME_NOT_FOUND");
    assert!(ann.run(&["reviews", "test", "--json"]).ok().json().as_array().unwrap().is_empty());
}

#[test]
fn a_review_typed_while_the_lobby_is_down_is_kept_and_resent() {
    let (mut lobby, tmp, _dev) = lobby_with_test_game();
    let ann = bot_player(&lobby, &tmp, "ann");
    play_once(&ann);

    lobby.kill9();
    let out = ann.run(&["review", "test", "--rating", "4", "--text", "Written offline."]);
    out.fails_with("--resend");
    let draft = tmp.path().join("ann/drafts/ann/test.json");
    assert!(draft.exists(), "draft kept: {out}");

    lobby.restart();
    ann.run(&["review", "test", "--resend"]).ok();
    assert!(!draft.exists(), "draft removed once accepted");
    let reviews = ann.run(&["reviews", "test", "--json"]).ok().json();
    assert_eq!(reviews[0]["text"], "Written offline.");
    ann.run(&["review", "test", "--resend"]).fails_with("no kept review");

    // Reviews survive a restart.
    lobby.kill9();
    lobby.restart();
    let store = ann.run(&["store", "--json"]).ok().json();
    assert_eq!((store[0]["rating"].as_f64(), store[0]["reviews"].as_u64()), (Some(4.0), Some(1)));
}
