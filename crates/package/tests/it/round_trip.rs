//! Packing real game folders and extracting them again.

use std::fs;
use std::io::Cursor;
use std::path::Path;

use gamestore_package::{ArchiveError, FileList, Limits, Manifest, extract, pack_dir};

use crate::{CONFIG, chmod, mode_of, write};

/// A game folder with executables, nested assets, an empty folder, an empty
/// file and a file big enough to span several buffers.
fn sample_game(dir: &Path) {
    write(dir, "config.json", CONFIG.as_bytes());
    write(dir, "bin/server", b"#!/bin/sh\necho server\n");
    write(dir, "bin/client", b"#!/bin/sh\necho client\n");
    chmod(&dir.join("bin/server"), 0o755);
    chmod(&dir.join("bin/client"), 0o711);
    write(dir, "assets/img/deep/logo.txt", b"logo");
    write(dir, "assets/empty.dat", b"");
    // Incompressible-ish data so the deflate stream is longer than one buffer.
    let mut state: u32 = 12345;
    let big: Vec<u8> = (0..300_000)
        .map(|_| {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (state >> 16) as u8
        })
        .collect();
    write(dir, "assets/noise.bin", &big);
    fs::create_dir_all(dir.join("saves")).unwrap();
}

fn pack(dir: &Path) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    pack_dir(dir, &mut out).unwrap();
    out.into_inner()
}

#[test]
fn pack_then_extract_reproduces_the_folder() {
    let src = tempfile::tempdir().unwrap();
    sample_game(src.path());
    let mut out = Cursor::new(Vec::new());
    let summary = pack_dir(src.path(), &mut out).unwrap();
    assert_eq!(summary.files, 6);
    // Files plus the folders assets, assets/img, assets/img/deep, bin and saves.
    assert_eq!(summary.entries, 11);
    assert_eq!(summary.total_bytes, summary.file_list.total_size());

    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("games/demo/1.0.0");
    let extracted = extract(Cursor::new(out.into_inner()), &dest, &Limits::default()).unwrap();

    let source_list = FileList::scan(src.path()).unwrap();
    assert_eq!(extracted, source_list);
    assert_eq!(summary.file_list, source_list);
    assert_eq!(FileList::scan(&dest).unwrap(), source_list);
    source_list.verify_dir(&dest).unwrap();
    assert!(dest.join("saves").is_dir(), "empty folders are kept");
    Manifest::load_dir(&dest).unwrap();

    if cfg!(unix) {
        assert!(extracted.get("bin/client").unwrap().executable);
        assert!(!extracted.get("config.json").unwrap().executable);
        assert_eq!(mode_of(&dest.join("bin/server")), 0o700);
        assert_eq!(mode_of(&dest.join("bin/client")), 0o700);
        assert_eq!(mode_of(&dest.join("config.json")), 0o600);
    }
}

#[test]
fn packing_is_deterministic() {
    let src = tempfile::tempdir().unwrap();
    sample_game(src.path());
    let first = pack(src.path());
    // Same content, new modification time and creation order.
    fs::remove_file(src.path().join("bin/server")).unwrap();
    write(src.path(), "bin/server", b"#!/bin/sh\necho server\n");
    chmod(&src.path().join("bin/server"), 0o775);
    assert_eq!(pack(src.path()), first);
}

#[test]
fn pack_skips_target_git_and_ignored_paths() {
    let src = tempfile::tempdir().unwrap();
    let dir = src.path();
    write(dir, "config.json", CONFIG.as_bytes());
    write(dir, "target/debug/game", b"build output");
    write(dir, ".git/HEAD", b"ref: refs/heads/main");
    write(dir, "vendor/lib/.git", b"gitdir: elsewhere");
    write(dir, "assets/target/kept.txt", b"only the top-level target is skipped");
    write(dir, "notes/todo.txt", b"private");
    write(dir, "notes.txt", b"kept: ignore lines match whole path components");
    write(dir, "saves/slot1", b"private");
    write(dir, "logs/build.log", b"private");
    write(dir, ".gamestoreignore", b"# developer files\nnotes\n\n  ./saves/  \n/logs/build.log\n");
    #[cfg(unix)]
    std::os::unix::fs::symlink("/etc/passwd", dir.join("target/link")).unwrap();

    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("out");
    let list = extract(Cursor::new(pack(dir)), &dest, &Limits::default()).unwrap();
    let paths: Vec<&str> = list.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["assets/target/kept.txt", "config.json", "notes.txt"]);
    assert!(dest.join("logs").is_dir() && !dest.join("logs/build.log").exists());
    assert!(!dest.join("target").exists() && !dest.join(".git").exists());
}

#[cfg(unix)]
#[test]
fn pack_refuses_symlinks() {
    let src = tempfile::tempdir().unwrap();
    sample_game(src.path());
    std::os::unix::fs::symlink("../../etc/passwd", src.path().join("assets/passwd")).unwrap();
    let err = pack_dir(src.path(), Cursor::new(Vec::new())).unwrap_err();
    assert_eq!(err.code(), "PACKAGE_SYMLINK");
    assert_eq!(err.to_string(), "assets/passwd: symbolic links are not allowed in a game package");
}

#[test]
fn pack_refuses_names_extraction_would_refuse() {
    let src = tempfile::tempdir().unwrap();
    sample_game(src.path());
    write(src.path(), "assets/a\\b.txt", b"backslash");
    let err = pack_dir(src.path(), Cursor::new(Vec::new())).unwrap_err();
    assert_eq!(err.code(), "PACKAGE_UNSAFE_PATH", "{err}");
}

#[test]
fn pack_requires_a_manifest() {
    let src = tempfile::tempdir().unwrap();
    write(src.path(), "bin/server", b"x");
    let err = pack_dir(src.path(), Cursor::new(Vec::new())).unwrap_err();
    assert!(matches!(err, ArchiveError::NoManifest), "{err}");
    assert_eq!(err.code(), "PACKAGE_NO_MANIFEST");
}

#[test]
fn extract_into_an_existing_empty_folder() {
    let src = tempfile::tempdir().unwrap();
    sample_game(src.path());
    let dest = tempfile::tempdir().unwrap();
    let list = extract(Cursor::new(pack(src.path())), dest.path(), &Limits::default()).unwrap();
    list.verify_dir(dest.path()).unwrap();
}

#[test]
fn extract_refuses_a_non_empty_destination_and_leaves_it_alone() {
    let src = tempfile::tempdir().unwrap();
    sample_game(src.path());
    let dest = tempfile::tempdir().unwrap();
    write(dest.path(), "precious.txt", b"keep me");
    let err = extract(Cursor::new(pack(src.path())), dest.path(), &Limits::default()).unwrap_err();
    assert_eq!(err.code(), "DEST_NOT_EMPTY");
    assert_eq!(fs::read(dest.path().join("precious.txt")).unwrap(), b"keep me");
    assert_eq!(fs::read_dir(dest.path()).unwrap().count(), 1);
}
