//! What every backend must do the same way.

use gamestore_storage::{
    AccountId, CatalogQuery, CatalogSort, DeveloperKey, LOCAL_NODE, MatchEnd, NewVersion,
    ReviewPosition, Role, StorageError, VersionRecord,
};

use crate::backends::each_backend;

fn new_version(owner: AccountId, id: &str, version: &str, at: i64) -> NewVersion {
    NewVersion {
        owner_id: owner,
        name: format!("Game {id}"),
        description: format!("about {id}"),
        kind: "cli".into(),
        min_players: 2,
        max_players: 4,
        version: VersionRecord {
            game_id: id.into(),
            version: version.into(),
            manifest: format!("{{\"id\":\"{id}\"}}"),
            files: "[]".into(),
            package_size: 10,
            package_sha256: "00".into(),
            unpacked_bytes: 5_000_000_000,
            published_at: at,
        },
    }
}

fn named(mut new: NewVersion, name: &str) -> NewVersion {
    new.name = name.into();
    new
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_names_are_unique_per_role_ignoring_ascii_case() {
    each_backend(|db| async move {
        let ann = db.create_account(Role::Player, "ann", "h1", 1).await.unwrap();
        db.create_account(Role::Developer, "ann", "h2", 1).await.unwrap();
        let dup = db.create_account(Role::Player, "ANN", "h3", 1).await;
        assert!(matches!(dup, Err(StorageError::Conflict(_))), "{dup:?}");
        let found = db.find_account(Role::Developer, "Ann").await.unwrap().unwrap();
        assert_eq!((found.name.as_str(), found.password_hash.as_str()), ("ann", "h2"));
        assert!(db.find_account(Role::Player, "bob").await.unwrap().is_none());
        assert_eq!(db.account(ann.id).await.unwrap(), ann);
        assert!(matches!(db.account(ann.id + 100).await, Err(StorageError::NotFound(_))));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_live_session_per_account_and_expiry() {
    each_backend(|db| async move {
        let ann = db.create_account(Role::Player, "ann", "h", 1).await.unwrap();
        assert_eq!(db.replace_session(ann.id, b"t1", 10, 100).await.unwrap(), 0);
        assert_eq!(db.replace_session(ann.id, b"t2", 20, 100).await.unwrap(), 1);
        assert!(db.touch_session(b"t1", 30, 200).await.unwrap().is_none());
        let session = db.touch_session(b"t2", 30, 200).await.unwrap().unwrap();
        assert_eq!((session.account.id, session.expires_at), (ann.id, 200));
        // Expired: not resumed, then purged.
        assert!(db.touch_session(b"t2", 200, 300).await.unwrap().is_none());
        assert_eq!(db.purge_expired_sessions(201).await.unwrap(), 1);
        assert!(!db.delete_session(b"t2").await.unwrap());
        db.replace_session(ann.id, b"t3", 300, 400).await.unwrap();
        assert!(db.delete_session(b"t3").await.unwrap());

        // Racing logins of one account leave exactly one session.
        let logins = (0..8u8).map(|i| {
            let db = db.clone();
            tokio::spawn(async move { db.replace_session(ann.id, &[b'r', i], 500, 900).await })
        });
        for login in logins {
            login.await.unwrap().unwrap();
        }
        let mut live = 0;
        for i in 0..8u8 {
            live += usize::from(db.touch_session(&[b'r', i], 600, 900).await.unwrap().is_some());
        }
        assert_eq!(live, 1);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_publish_in_order_and_races_conflict() {
    each_backend(|db| async move {
        let dev = db.create_account(Role::Developer, "dev", "h", 1).await.unwrap();
        db.publish_version(&new_version(dev.id, "chess", "1.0.0", 10), None).await.unwrap();
        db.publish_version(&new_version(dev.id, "chess", "1.1.0", 10), Some("1.0.0"))
            .await
            .unwrap();
        let game = db.game("chess").await.unwrap().unwrap();
        assert_eq!(game.latest_version, "1.1.0");
        // Same second: publishing order still decides.
        assert_eq!(game.versions, ["1.0.0", "1.1.0"]);
        assert_eq!((game.owner.as_str(), game.min_players, game.max_players), ("dev", 2, 4));
        assert_eq!((game.rating, game.reviews, game.listed), (None, 0, true));
        let v = db.game_version("chess", "1.0.0").await.unwrap().unwrap();
        assert_eq!((v.unpacked_bytes, v.manifest.as_str()), (5_000_000_000, "{\"id\":\"chess\"}"));
        assert!(db.game_version("chess", "9.9.9").await.unwrap().is_none());
        let records = db.version_records("chess").await.unwrap();
        assert_eq!(
            records.iter().map(|v| v.version.as_str()).collect::<Vec<_>>(),
            ["1.0.0", "1.1.0"]
        );

        // A second first publish, a stale latest, another owner: conflicts.
        let again = db.publish_version(&new_version(dev.id, "chess", "2.0.0", 11), None).await;
        assert!(matches!(again, Err(StorageError::Conflict(_))), "{again:?}");
        let stale =
            db.publish_version(&new_version(dev.id, "chess", "1.2.0", 13), Some("1.0.0")).await;
        assert!(matches!(stale, Err(StorageError::Conflict(_))), "{stale:?}");
        let eve = db.create_account(Role::Developer, "eve", "h", 1).await.unwrap();
        let theft =
            db.publish_version(&new_version(eve.id, "chess", "9.0.0", 14), Some("1.1.0")).await;
        assert!(matches!(theft, Err(StorageError::Conflict(_))), "{theft:?}");
        let dup =
            db.publish_version(&new_version(dev.id, "chess", "1.1.0", 15), Some("1.1.0")).await;
        assert!(matches!(dup, Err(StorageError::Conflict(_))), "{dup:?}");
        assert_eq!(db.game("chess").await.unwrap().unwrap().versions, ["1.0.0", "1.1.0"]);

        // Racing publishes of the next version: exactly one wins.
        let racers = (0..6).map(|i| {
            let db = db.clone();
            let new = new_version(dev.id, "chess", &format!("2.0.{i}"), 20);
            tokio::spawn(async move { db.publish_version(&new, Some("1.1.0")).await })
        });
        let mut won = 0;
        for racer in racers {
            match racer.await.unwrap() {
                Ok(()) => won += 1,
                Err(StorageError::Conflict(_)) => {}
                Err(e) => panic!("unexpected {e:?}"),
            }
        }
        assert_eq!(won, 1);
        assert_eq!(db.game("chess").await.unwrap().unwrap().versions.len(), 3);
        let mut all = db.all_versions().await.unwrap();
        all.sort();
        assert_eq!(all.len(), 3);
        assert_eq!(all[0], ("chess".to_owned(), "1.0.0".to_owned()));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imports_are_all_or_nothing_and_listing_filters() {
    each_backend(|db| async move {
        let dev = db.create_account(Role::Developer, "dev", "h", 1).await.unwrap();
        let other = db.create_account(Role::Developer, "other", "h", 1).await.unwrap();
        let many: Vec<NewVersion> =
            (0..3).map(|i| new_version(dev.id, &format!("g{i}"), "1.0.0", 40)).collect();
        db.import_games(&many).await.unwrap();
        let again =
            db.import_games(&[new_version(dev.id, "g9", "1.0.0", 50), many[0].clone()]).await;
        assert!(matches!(again, Err(StorageError::Conflict(_))), "{again:?}");
        assert!(db.game("g9").await.unwrap().is_none(), "all or nothing");
        db.publish_version(&new_version(other.id, "x", "1.0.0", 1), None).await.unwrap();

        assert_eq!(db.listed_games().await.unwrap().len(), 4);
        db.set_listed("g1", false, 60).await.unwrap();
        let listed: Vec<String> =
            db.listed_games().await.unwrap().into_iter().map(|g| g.id).collect();
        assert_eq!(listed, ["g0", "g2", "x"]);
        assert_eq!(db.games_of(dev.id).await.unwrap().len(), 3);
        assert_eq!(db.games_of(other.id).await.unwrap().len(), 1);
        assert!(!db.game("g1").await.unwrap().unwrap().listed);
        assert!(matches!(db.set_listed("nope", true, 1).await, Err(StorageError::NotFound(_))));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_pages_search_and_sort_the_same() {
    each_backend(|db| async move {
        let dev = db.create_account(Role::Developer, "dev", "h", 1).await.unwrap();
        let ann = db.create_account(Role::Player, "ann", "h", 1).await.unwrap();
        let bob = db.create_account(Role::Player, "bob", "h", 1).await.unwrap();
        // Names that sort differently by case, by byte and by id.
        for (id, name, at) in [
            ("zeta", "alpha", 10),
            ("beta", "Beta", 20),
            ("gamma", "beta", 20),
            ("pct", "100%_done", 30),
            ("hidden", "Alpha hidden", 40),
        ] {
            db.publish_version(&named(new_version(dev.id, id, "1.0.0", at), name), None)
                .await
                .unwrap();
        }
        db.set_listed("hidden", false, 50).await.unwrap();
        db.upsert_review("beta", ann.id, 5, "", 60).await.unwrap();
        db.upsert_review("beta", bob.id, 2, "", 60).await.unwrap();
        db.upsert_review("gamma", ann.id, 4, "", 60).await.unwrap();

        let ids = |games: Vec<gamestore_storage::GameRecord>| {
            games.into_iter().map(|g| g.id).collect::<Vec<_>>()
        };
        let page = |search: &str, sort, offset, limit| CatalogQuery {
            search: search.into(),
            sort,
            offset,
            limit,
        };
        let (games, total) = db.catalog_page(&page("", CatalogSort::Name, 0, 10)).await.unwrap();
        assert_eq!(
            (ids(games), total),
            (vec!["pct".into(), "zeta".into(), "beta".into(), "gamma".into()], 4)
        );
        let (games, total) = db.catalog_page(&page("", CatalogSort::Name, 1, 2)).await.unwrap();
        assert_eq!((ids(games), total), (vec!["zeta".into(), "beta".into()], 4));
        let (games, _) = db.catalog_page(&page("", CatalogSort::Rating, 0, 10)).await.unwrap();
        assert_eq!(ids(games), ["gamma", "beta", "pct", "zeta"]);
        let (games, _) = db.catalog_page(&page("", CatalogSort::Newest, 0, 10)).await.unwrap();
        assert_eq!(ids(games), ["pct", "gamma", "beta", "zeta"]);
        // Case-insensitive search over id, name and description; wildcards
        // are literal.
        let (games, total) =
            db.catalog_page(&page("BETA", CatalogSort::Name, 0, 10)).await.unwrap();
        assert_eq!((ids(games), total), (vec!["beta".into(), "gamma".into()], 2));
        let (games, _) = db.catalog_page(&page("%_", CatalogSort::Name, 0, 10)).await.unwrap();
        assert_eq!(ids(games), ["pct"]);
        let (games, _) =
            db.catalog_page(&page("ABOUT ZE", CatalogSort::Name, 0, 10)).await.unwrap();
        assert_eq!(ids(games), ["zeta"]);
        let (_, total) = db.catalog_page(&page("nothing", CatalogSort::Name, 0, 10)).await.unwrap();
        assert_eq!(total, 0);

        let beta = db.game("beta").await.unwrap().unwrap();
        assert_eq!((beta.rating, beta.reviews), (Some(3.5), 2));
        let (games, total) = db.all_games_page("alpha", 0, 10).await.unwrap();
        assert_eq!((ids(games), total), (vec!["zeta".into(), "hidden".into()], 2));
        let (games, total) = db.all_games_page("", 4, 10).await.unwrap();
        assert_eq!((ids(games), total), (vec!["gamma".into()], 5));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reviews_upsert_and_page_newest_written_first() {
    each_backend(|db| async move {
        let dev = db.create_account(Role::Developer, "dev", "h", 1).await.unwrap();
        db.publish_version(&new_version(dev.id, "chess", "1.0.0", 1), None).await.unwrap();
        let mut players = Vec::new();
        for name in ["ann", "bob", "cid", "dee"] {
            players.push(db.create_account(Role::Player, name, "h", 1).await.unwrap());
        }
        for p in &players {
            let (review, new) = db.upsert_review("chess", p.id, 3, "ok", 100).await.unwrap();
            assert!(new);
            assert_eq!((review.player.as_str(), review.created_at), (p.name.as_str(), 100));
        }
        // An edit in the same second moves bob to the top, keeping creation.
        let (edited, new) =
            db.upsert_review("chess", players[1].id, 5, "great", 100).await.unwrap();
        assert!(!new);
        assert_eq!((edited.rating, edited.created_at, edited.updated_at), (5, 100, 100));
        let (all, total) = db.reviews_of("chess", 0, 10).await.unwrap();
        let order: Vec<&str> = all.iter().map(|r| r.player.as_str()).collect();
        assert_eq!((order, total), (vec!["bob", "dee", "cid", "ann"], 4));
        let (page, _) = db.reviews_of("chess", 1, 2).await.unwrap();
        assert_eq!(page.iter().map(|r| r.player.as_str()).collect::<Vec<_>>(), ["dee", "cid"]);

        // Keyset paging gives the same order.
        let (first, total) = db.reviews_page("chess", None, 2).await.unwrap();
        assert_eq!(total, 4);
        let last: ReviewPosition = first.last().unwrap().0;
        let (rest, _) = db.reviews_page("chess", Some(last), 10).await.unwrap();
        let order: Vec<&str> = first.iter().chain(&rest).map(|(_, r)| r.player.as_str()).collect();
        assert_eq!(order, ["bob", "dee", "cid", "ann"]);
        assert_eq!(db.game("chess").await.unwrap().unwrap().rating, Some(3.5));
        assert_eq!(db.reviews_of("other", 0, 10).await.unwrap().1, 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matches_are_recorded_paged_and_aborted() {
    each_backend(|db| async move {
        let dev = db.create_account(Role::Developer, "dev", "h", 1).await.unwrap();
        let bob = db.create_account(Role::Player, "bob", "h", 1).await.unwrap();
        let ann = db.create_account(Role::Player, "Ann", "h", 1).await.unwrap();
        db.publish_version(&named(new_version(dev.id, "chess", "1.0.0", 1), "Chess"), None)
            .await
            .unwrap();
        assert!(!db.has_played(ann.id, "chess").await.unwrap());
        let never = db.begin_match("chess", "1.0.0", 1, &[ann.id], LOCAL_NODE, 5).await.unwrap();
        let end = |at, outcome: &str| MatchEnd {
            ended_at: at,
            outcome: outcome.into(),
            exit_code: Some(0),
            result: Some("{\"winner\":\"bob\"}".into()),
            message: Some("bob won".into()),
        };
        db.end_match(never, &end(6, "never_started")).await.unwrap();
        assert!(!db.has_played(ann.id, "chess").await.unwrap());
        let m1 =
            db.begin_match("chess", "1.0.0", 1, &[bob.id, ann.id], LOCAL_NODE, 10).await.unwrap();
        db.end_match(m1, &end(20, "completed")).await.unwrap();
        let m2 = db.begin_match("chess", "1.0.0", 2, &[ann.id], LOCAL_NODE, 10).await.unwrap();
        assert_eq!(db.abort_open_matches(None, 40, "the lobby stopped").await.unwrap(), 1);
        assert_eq!(db.abort_open_matches(None, 41, "the lobby stopped").await.unwrap(), 0);
        assert!(db.has_played(bob.id, "chess").await.unwrap());
        assert!(db.has_played(ann.id, "chess").await.unwrap());

        let history = db.matches_of(ann.id, 10).await.unwrap();
        assert_eq!(history.iter().map(|m| m.id).collect::<Vec<_>>(), [m2, m1, never]);
        let first = db.matches_page(ann.id, None, 1).await.unwrap();
        assert_eq!(first.iter().map(|m| m.id).collect::<Vec<_>>(), [m2]);
        let rest = db.matches_page(ann.id, Some((first[0].started_at, m2)), 10).await.unwrap();
        assert_eq!(rest.iter().map(|m| m.id).collect::<Vec<_>>(), [m1, never]);
        assert_eq!(history[0].end.as_ref().unwrap().outcome, "aborted");
        assert_eq!(history[0].end.as_ref().unwrap().exit_code, None);
        assert_eq!(history[0].end.as_ref().unwrap().message.as_deref(), Some("the lobby stopped"));
        assert_eq!(history[0].node, LOCAL_NODE);
        let completed = history[1].end.as_ref().unwrap();
        assert_eq!((completed.ended_at, completed.exit_code), (20, Some(0)));
        assert_eq!(completed.result.as_deref(), Some("{\"winner\":\"bob\"}"));
        assert_eq!(completed.message.as_deref(), Some("bob won"));
        // Players by name here, in join order on the admin pages.
        assert_eq!(history[1].players, ["Ann", "bob"]);
        assert_eq!((history[1].game_name.as_str(), history[1].room_id), ("Chess", 1));
        let recent = db.recent_matches(2).await.unwrap();
        assert_eq!(recent.iter().map(|m| m.id).collect::<Vec<_>>(), [m2, m1]);
        assert_eq!(recent[1].players, ["bob", "Ann"]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_matches_are_aborted_per_node_once_even_by_several_nodes_at_once() {
    each_backend(|db| async move {
        let dev = db.create_account(Role::Developer, "dev", "h", 1).await.unwrap();
        let ann = db.create_account(Role::Player, "ann", "h", 1).await.unwrap();
        let bob = db.create_account(Role::Player, "bob", "h", 1).await.unwrap();
        db.publish_version(&new_version(dev.id, "chess", "1.0.0", 1), None).await.unwrap();
        let on_a1 = db.begin_match("chess", "1.0.0", 1, &[ann.id], "a", 10).await.unwrap();
        let on_a2 = db.begin_match("chess", "1.0.0", 2, &[bob.id], "a", 11).await.unwrap();
        let on_b = db.begin_match("chess", "1.0.0", 1, &[bob.id], "b", 12).await.unwrap();
        let done_a = db.begin_match("chess", "1.0.0", 3, &[ann.id], "a", 13).await.unwrap();
        let completed = MatchEnd {
            ended_at: 14,
            outcome: "completed".into(),
            exit_code: Some(0),
            result: None,
            message: None,
        };
        db.end_match(done_a, &completed).await.unwrap();

        // Node a died: two survivors record it at the same moment.
        let gone = "the lobby node running this match stopped";
        let (one, two) = tokio::join!(
            db.abort_open_matches(Some("a"), 20, gone),
            db.abort_open_matches(Some("a"), 21, gone)
        );
        assert_eq!(one.unwrap() + two.unwrap(), 2, "each open match of a aborted once");
        assert_eq!(db.abort_open_matches(Some("a"), 22, gone).await.unwrap(), 0);
        // A node with no open match, and one whose open match is b's.
        assert_eq!(db.abort_open_matches(Some("c"), 22, gone).await.unwrap(), 0);

        let recent = db.recent_matches(10).await.unwrap();
        let by_id = |id: i64| recent.iter().find(|m| m.id == id).unwrap();
        for id in [on_a1, on_a2] {
            let end = by_id(id).end.clone().unwrap();
            assert_eq!((end.outcome.as_str(), end.message.as_deref()), ("aborted", Some(gone)));
            assert!(end.ended_at == 20 || end.ended_at == 21, "{end:?}");
            assert_eq!(by_id(id).node, "a");
        }
        assert_eq!(by_id(on_b).end, None, "b's match still runs");
        assert_eq!(by_id(on_b).node, "b");
        assert_eq!(by_id(done_a).end.as_ref().unwrap().outcome, "completed");
        assert_eq!(db.matches_of(bob.id, 10).await.unwrap().len(), 2);

        // Node b restarting closes its own.
        assert_eq!(db.abort_open_matches(Some("b"), 30, "restarted").await.unwrap(), 1);
        assert_eq!(db.abort_open_matches(None, 31, "restarted").await.unwrap(), 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_bans_and_the_audit_log() {
    each_backend(|db| async move {
        let id = db.create_admin("root", "h", 1).await.unwrap();
        let dup = db.create_admin("ROOT", "h", 1).await;
        assert!(matches!(dup, Err(StorageError::Conflict(_))), "{dup:?}");
        let admin = db.find_admin("Root").await.unwrap().unwrap();
        assert_eq!((admin.id, admin.name.as_str()), (id, "root"));
        assert!(db.find_admin("nobody").await.unwrap().is_none());

        db.create_admin_session(b"s1", id, "csrf1", 10, 20).await.unwrap();
        let session = db.admin_session(b"s1", 15).await.unwrap().unwrap();
        assert_eq!((session.csrf.as_str(), session.expires_at), ("csrf1", 20));
        assert!(db.admin_session(b"s1", 20).await.unwrap().is_none());
        db.create_admin_session(b"s2", id, "csrf2", 30, 40).await.unwrap();
        db.delete_admin_session(b"s2").await.unwrap();
        assert!(db.admin_session(b"s2", 31).await.unwrap().is_none());

        let ann = db.create_account(Role::Player, "ann", "h", 1).await.unwrap();
        let dev = db.create_account(Role::Developer, "ann", "h", 1).await.unwrap();
        db.create_account(Role::Player, "bob", "h", 1).await.unwrap();
        db.replace_session(ann.id, b"t", 1, 1000).await.unwrap();
        db.ban_account(ann.id, "spam", "root", 50).await.unwrap();
        assert!(db.touch_session(b"t", 60, 1000).await.unwrap().is_none(), "ban ends sessions");
        db.ban_account(ann.id, "more spam", "root", 51).await.unwrap();
        let ban = db.ban_of(ann.id).await.unwrap().unwrap();
        assert_eq!((ban.reason.as_str(), ban.by.as_str(), ban.at), ("more spam", "root", 51));
        assert!(db.ban_of(dev.id).await.unwrap().is_none());
        assert!(matches!(
            db.ban_account(9999, "x", "root", 1).await,
            Err(StorageError::NotFound(_))
        ));

        let (rows, total) = db.accounts_page("AN", 0, 10).await.unwrap();
        assert_eq!(total, 2);
        let roles: Vec<(Role, bool)> =
            rows.iter().map(|r| (r.account.role, r.ban.is_some())).collect();
        assert_eq!(roles, [(Role::Developer, false), (Role::Player, true)]);
        let (rows, total) = db.accounts_page("", 2, 10).await.unwrap();
        assert_eq!((rows.len(), total), (1, 3));
        assert_eq!(rows[0].account.name, "bob");

        assert!(db.unban_account(ann.id, "sorry", "root", 70).await.unwrap());
        assert!(!db.unban_account(ann.id, "again", "root", 71).await.unwrap());
        db.audit("root", "delist", "game:chess", "", 80).await.unwrap();
        let (log, total) = db.audit_log(0, 10).await.unwrap();
        assert_eq!(total, 4);
        let actions: Vec<&str> = log.iter().map(|a| a.action.as_str()).collect();
        assert_eq!(actions, ["delist", "unban", "ban", "ban"]);
        assert_eq!(log[1].target, format!("account:{}:ann", ann.id));
        let (page, _) = db.audit_log(3, 10).await.unwrap();
        assert_eq!((page.len(), page[0].detail.as_str()), (1, "spam"));
        db.check_writable().await.unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn developer_keys_rotate_only_from_the_current_key() {
    each_backend(|db| async move {
        let dev = db.create_account(Role::Developer, "dev", "h", 1).await.unwrap();
        let other = db.create_account(Role::Developer, "other", "h", 1).await.unwrap();
        assert!(db.developer_keys(dev.id).await.unwrap().is_empty());
        let first = DeveloperKey { key: "aa".into(), added_at: 10, rotation: None };
        db.add_developer_key(dev.id, None, &first).await.unwrap();
        // A second "first" key, or a rotation from a key that is not current,
        // loses.
        let stale = DeveloperKey { key: "bb".into(), added_at: 11, rotation: None };
        let lost = db.add_developer_key(dev.id, None, &stale).await;
        assert!(matches!(lost, Err(StorageError::Conflict(_))), "{lost:?}");
        let lost = db.add_developer_key(dev.id, Some("zz"), &stale).await;
        assert!(matches!(lost, Err(StorageError::Conflict(_))), "{lost:?}");
        // Rotations in the same second keep their order.
        let second = DeveloperKey {
            key: "bb".into(),
            added_at: 10,
            rotation: Some(("{\"new\":\"bb\"}".into(), "sig-by-aa".into())),
        };
        db.add_developer_key(dev.id, Some("aa"), &second).await.unwrap();
        // A key used before cannot come back.
        let again = DeveloperKey {
            key: "aa".into(),
            added_at: 12,
            rotation: Some(("{}".into(), "sig-by-bb".into())),
        };
        let reused = db.add_developer_key(dev.id, Some("bb"), &again).await;
        assert!(matches!(reused, Err(StorageError::Conflict(_))), "{reused:?}");
        assert_eq!(db.developer_keys(dev.id).await.unwrap(), vec![first.clone(), second]);
        // Keys belong to one developer; another may register the same one.
        assert!(db.developer_keys(other.id).await.unwrap().is_empty());
        db.add_developer_key(other.id, None, &first).await.unwrap();
        assert_eq!(db.developer_keys(other.id).await.unwrap(), vec![first]);

        // Racing rotations from the same current key: exactly one wins.
        let racers = (0..6).map(|i| {
            let db = db.clone();
            tokio::spawn(async move {
                let key = DeveloperKey { key: format!("r{i}"), added_at: 20, rotation: None };
                db.add_developer_key(dev.id, Some("bb"), &key).await
            })
        });
        let mut won = 0;
        for racer in racers {
            match racer.await.unwrap() {
                Ok(()) => won += 1,
                Err(StorageError::Conflict(_)) => {}
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(won, 1);
        assert_eq!(db.developer_keys(dev.id).await.unwrap().len(), 3);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_signatures_are_kept_per_version() {
    each_backend(|db| async move {
        assert_eq!(db.version_signature("chess", "1.0.0").await.unwrap(), None);
        db.set_version_signature("chess", "1.0.0", "s1", "k1").await.unwrap();
        db.set_version_signature("chess", "1.1.0", "s2", "k1").await.unwrap();
        // Written again (a retried publish): the newer signature replaces it.
        db.set_version_signature("chess", "1.0.0", "s3", "k2").await.unwrap();
        let got = db.version_signature("chess", "1.0.0").await.unwrap();
        assert_eq!(got, Some(("s3".into(), "k2".into())));
        let got = db.version_signature("chess", "1.1.0").await.unwrap();
        assert_eq!(got, Some(("s2".into(), "k1".into())));
        assert_eq!(db.version_signature("Chess", "1.0.0").await.unwrap(), None);
        assert_eq!(db.version_signature("go", "1.0.0").await.unwrap(), None);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_of_each_version_is_kept_per_version() {
    each_backend(|db| async move {
        assert_eq!(db.version_node("chess", "1.0.0").await.unwrap(), None);
        db.set_version_node("chess", "1.0.0", "a").await.unwrap();
        db.set_version_node("chess", "1.1.0", "b").await.unwrap();
        // Written again (a publish retried through another node): replaced.
        db.set_version_node("chess", "1.0.0", "c").await.unwrap();
        assert_eq!(db.version_node("chess", "1.0.0").await.unwrap().as_deref(), Some("c"));
        assert_eq!(db.version_node("chess", "1.1.0").await.unwrap().as_deref(), Some("b"));
        assert_eq!(db.version_node("Chess", "1.0.0").await.unwrap(), None);
        assert_eq!(db.version_node("go", "1.0.0").await.unwrap(), None);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_without_a_zip_gets_one_recorded_once() {
    each_backend(|db| async move {
        let dev = db.create_account(Role::Developer, "dev", "h", 1).await.unwrap();
        let mut unpacked = new_version(dev.id, "chess", "1.0.0", 10);
        unpacked.version.package_size = 0;
        unpacked.version.package_sha256 = String::new();
        db.publish_version(&unpacked, None).await.unwrap();
        db.publish_version(&new_version(dev.id, "chess", "1.1.0", 11), Some("1.0.0"))
            .await
            .unwrap();

        assert!(
            db.set_version_package("chess", "1.0.0", 7_000_000_000, "ab", "{\"files\":[]}")
                .await
                .unwrap()
        );
        let v = db.game_version("chess", "1.0.0").await.unwrap().unwrap();
        assert_eq!((v.package_size, v.package_sha256.as_str()), (7_000_000_000, "ab"));
        assert_eq!(v.files, "{\"files\":[]}", "the listing packing found is recorded");
        // Recorded once: a second build (a race) changes nothing.
        assert!(!db.set_version_package("chess", "1.0.0", 1, "cd", "x").await.unwrap());
        // A version that has its zip keeps it; no version, no change.
        assert!(!db.set_version_package("chess", "1.1.0", 1, "cd", "x").await.unwrap());
        assert!(!db.set_version_package("chess", "9.9.9", 1, "cd", "x").await.unwrap());
        let v = db.game_version("chess", "1.1.0").await.unwrap().unwrap();
        assert_eq!((v.package_size, v.package_sha256.as_str()), (10, "00"));
        let v = db.game_version("chess", "1.0.0").await.unwrap().unwrap();
        assert_eq!((v.package_size, v.package_sha256.as_str()), (7_000_000_000, "ab"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn room_id_blocks_never_overlap_even_when_reserved_at_once() {
    each_backend(|db| async move {
        if db.backend_name() == "sqlite" {
            // One SQLite file serves one lobby, which numbers its rooms.
            assert!(db.reserve_room_ids(1000).await.is_err());
            return;
        }
        // Several nodes reserving their first block at once, while the
        // sequence is made on first use.
        let (one, two, three) = tokio::join!(
            db.reserve_room_ids(1000),
            db.reserve_room_ids(1000),
            db.reserve_room_ids(1000)
        );
        let mut firsts = vec![one.unwrap(), two.unwrap(), three.unwrap()];
        firsts.push(db.reserve_room_ids(1000).await.unwrap());
        firsts.sort();
        assert_eq!(firsts, [1, 1001, 2001, 3001], "disjoint blocks of 1000 from 1");
    })
    .await;
}
