//! Crafted archives that extraction must refuse, leaving nothing behind.
//!
//! Each archive is built in memory with the zip writer, patched byte-wise where
//! the writer itself refuses to produce the attack.

use std::fs;
use std::io::{Cursor, Write};

use gamestore_package::{ArchiveError, Limits, extract};
use zip::ZipWriter;
use zip::write::SimpleFileOptions;

use crate::{CONFIG, mode_of};

type Writer = ZipWriter<Cursor<Vec<u8>>>;

fn options() -> SimpleFileOptions {
    SimpleFileOptions::default().unix_permissions(0o644)
}

fn add(zip: &mut Writer, name: &str, data: &[u8]) {
    zip.start_file(name, options()).unwrap();
    zip.write_all(data).unwrap();
}

/// An archive holding a valid config.json plus whatever `extra` adds.
fn package(extra: impl FnOnce(&mut Writer)) -> Vec<u8> {
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    add(&mut zip, "config.json", CONFIG.as_bytes());
    extra(&mut zip);
    zip.finish().unwrap().into_inner()
}

/// Small limits so size attacks stay cheap to build.
fn small_limits() -> Limits {
    Limits { max_entries: 100, max_total_bytes: 2 << 20, max_file_bytes: 1 << 20 }
}

/// Extracts into a fresh destination, expects one of `codes`, and checks that
/// nothing was left behind, inside the destination or next to it.
#[track_caller]
fn refuse_with(archive: &[u8], limits: &Limits, codes: &[&str]) -> ArchiveError {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("dest");
    let err = extract(Cursor::new(archive), &dest, limits).unwrap_err();
    assert!(codes.contains(&err.code()), "got {} ({err})", err.code());
    assert!(!dest.exists(), "destination left behind after: {err}");
    assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 0, "wrote outside dest");
    err
}

#[track_caller]
fn refuse(archive: &[u8], code: &str) -> ArchiveError {
    refuse_with(archive, &small_limits(), &[code])
}

/// Replaces every occurrence of `from` (names in local and central headers)
/// with `to`, same length.
fn patch(mut bytes: Vec<u8>, from: &[u8], to: &[u8]) -> Vec<u8> {
    assert_eq!(from.len(), to.len());
    let mut hits = 0;
    let mut i = 0;
    while i + from.len() <= bytes.len() {
        if &bytes[i..i + from.len()] == from {
            bytes[i..i + from.len()].copy_from_slice(to);
            hits += 1;
            i += from.len();
        } else {
            i += 1;
        }
    }
    assert!(hits >= 2, "expected the name in both headers, found {hits}");
    bytes
}

/// Sets the uncompressed size of every entry, in local headers and the
/// central directory, to `size`.
fn patch_uncompressed_sizes(mut bytes: Vec<u8>, size: u32) -> Vec<u8> {
    let mut i = 0;
    while i + 46 <= bytes.len() {
        match &bytes[i..i + 4] {
            b"PK\x03\x04" => bytes[i + 22..i + 26].copy_from_slice(&size.to_le_bytes()),
            b"PK\x01\x02" => bytes[i + 24..i + 28].copy_from_slice(&size.to_le_bytes()),
            _ => {}
        }
        i += 1;
    }
    bytes
}

#[test]
fn a_clean_package_extracts() {
    let archive = package(|zip| add(zip, "bin/server", b"x"));
    let tmp = tempfile::tempdir().unwrap();
    let list = extract(Cursor::new(archive), &tmp.path().join("d"), &small_limits()).unwrap();
    assert_eq!(list.len(), 2);
}

#[test]
fn zip_slip_names_are_refused() {
    for name in [
        "../x",
        "../../../../../../tmp/x",
        "a/../../x",
        "a/b/../../../x",
        "/etc/x",
        "/tmp/x",
        "..\\x",
        "a\\..\\..\\x",
        "C:/x",
        "C:\\x",
        "./x",
        "a//b",
        "",
    ] {
        let archive = package(|zip| add(zip, name, b"owned"));
        let err = refuse(&archive, "PACKAGE_UNSAFE_PATH");
        assert!(matches!(err, ArchiveError::UnsafePath { .. }), "{name:?}: {err}");
    }
}

#[test]
fn unsafe_folder_entries_are_refused() {
    for name in ["../evil", "/abs", "a/../.."] {
        let archive = package(|zip| zip.add_directory(name, options()).unwrap());
        refuse(&archive, "PACKAGE_UNSAFE_PATH");
    }
}

#[test]
fn nul_and_non_utf8_names_are_refused() {
    let archive = patch(package(|zip| add(zip, "aXb", b"")), b"aXb", b"a\0b");
    refuse(&archive, "PACKAGE_UNSAFE_PATH");
    let archive = patch(package(|zip| add(zip, "aXb", b"")), b"aXb", b"a\xffb");
    refuse(&archive, "PACKAGE_UNSAFE_PATH");
}

#[test]
fn deep_nesting_is_refused() {
    let deep = format!("{}file", "d/".repeat(32));
    let archive = package(|zip| add(zip, &deep, b""));
    refuse(&archive, "PACKAGE_UNSAFE_PATH");
    let ok = format!("{}file", "d/".repeat(31));
    let archive = package(|zip| add(zip, &ok, b""));
    let tmp = tempfile::tempdir().unwrap();
    extract(Cursor::new(archive), &tmp.path().join("d"), &small_limits()).unwrap();
}

#[test]
fn symlink_entries_are_refused() {
    let archive =
        package(|zip| zip.add_symlink("assets/passwd", "/etc/passwd", options()).unwrap());
    let err = refuse(&archive, "PACKAGE_SYMLINK");
    assert_eq!(err.to_string(), "assets/passwd: symbolic links are not allowed in a game package");
    // A link followed by a file written "through" it.
    let archive = package(|zip| {
        zip.add_symlink("out", "/tmp", options()).unwrap();
        add(zip, "out/evil", b"x");
    });
    refuse(&archive, "PACKAGE_SYMLINK");
}

#[test]
fn special_files_are_refused() {
    for file_type in [0o010_000u32, 0o020_000, 0o060_000, 0o140_000] {
        let archive = package(|zip| {
            let opts = options().external_attributes((file_type | 0o644) << 16);
            zip.start_file("dev", opts).unwrap();
        });
        refuse(&archive, "PACKAGE_SPECIAL_FILE");
    }
}

#[cfg(unix)]
#[test]
fn setuid_and_group_bits_are_dropped() {
    let archive = package(|zip| {
        let opts = options().external_attributes((0o100_000 | 0o6777) << 16);
        zip.start_file("bin/server", opts).unwrap();
        zip.write_all(b"#!/bin/sh\n").unwrap();
    });
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("d");
    let list = extract(Cursor::new(archive), &dest, &small_limits()).unwrap();
    assert!(list.get("bin/server").unwrap().executable);
    assert_eq!(mode_of(&dest.join("bin/server")), 0o700);
}

#[test]
fn duplicate_entries_are_refused() {
    // The writer will not write a duplicate name, so rename one afterwards.
    let archive = patch(
        package(|zip| {
            add(zip, "bin/aaaa", b"first");
            add(zip, "bin/bbbb", b"second");
        }),
        b"bin/bbbb",
        b"bin/aaaa",
    );
    refuse(&archive, "PACKAGE_DUPLICATE_ENTRY");

    let file_and_folder = package(|zip| {
        add(zip, "data", b"a file");
        zip.add_directory("data", options()).unwrap();
    });
    refuse(&file_and_folder, "PACKAGE_DUPLICATE_ENTRY");

    let file_as_parent = package(|zip| {
        add(zip, "data", b"a file");
        add(zip, "data/inner", b"below a file");
    });
    let err = refuse(&file_as_parent, "PACKAGE_DUPLICATE_ENTRY");
    assert_eq!(err.to_string(), "duplicate entry in package: data");
}

#[test]
fn too_many_entries_are_refused() {
    let limits = Limits { max_entries: 5, ..small_limits() };
    let four_more = |zip: &mut Writer| {
        for i in 0..4 {
            add(zip, &format!("f{i}"), b"");
        }
    };
    let tmp = tempfile::tempdir().unwrap();
    extract(Cursor::new(package(four_more)), &tmp.path().join("d"), &limits).unwrap();

    let five_more = package(|zip| {
        four_more(zip);
        zip.add_directory("saves", options()).unwrap();
    });
    let err = refuse_with(&five_more, &limits, &["PACKAGE_TOO_MANY_FILES"]);
    assert_eq!(err.to_string(), "package has 6 entries, more than the limit of 5");
}

/// 64 MiB of zeros: deflates to about 64 KiB.
fn bomb(zip: &mut Writer, name: &str) {
    zip.start_file(name, options()).unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..64 {
        zip.write_all(&zeros).unwrap();
    }
}

#[test]
fn a_zip_bomb_is_refused() {
    let archive = package(|zip| bomb(zip, "assets/bomb.bin"));
    assert!(archive.len() < 100_000, "bomb is {} bytes", archive.len());
    let err = refuse(&archive, "PACKAGE_TOO_LARGE");
    assert!(
        matches!(err, ArchiveError::FileTooLarge { ref name, .. } if name == "assets/bomb.bin")
    );
}

#[test]
fn a_bomb_whose_headers_lie_is_stopped_while_decompressing() {
    // Headers claim 100 bytes per entry; the data inflates to 64 MiB.
    let archive = patch_uncompressed_sizes(package(|zip| bomb(zip, "assets/bomb.bin")), 100);
    refuse_with(&archive, &small_limits(), &["PACKAGE_TOO_LARGE", "PACKAGE_CORRUPT"]);
    // Same with a limit the lie stays under but the data does not.
    let limits = Limits { max_file_bytes: 1000, max_total_bytes: 1 << 40, ..small_limits() };
    refuse_with(&archive, &limits, &["PACKAGE_TOO_LARGE", "PACKAGE_CORRUPT"]);
}

#[test]
fn a_header_claiming_a_huge_size_is_refused_before_decompressing() {
    let archive = patch_uncompressed_sizes(package(|zip| add(zip, "big", b"tiny")), u32::MAX - 1);
    refuse(&archive, "PACKAGE_TOO_LARGE");
}

#[test]
fn the_total_size_limit_counts_every_file() {
    let chunk = vec![7u8; 900 << 10];
    let archive = package(|zip| {
        for name in ["a", "b", "c"] {
            add(zip, name, &chunk);
        }
    });
    let err = refuse(&archive, "PACKAGE_TOO_LARGE");
    assert!(matches!(err, ArchiveError::TotalTooLarge { limit } if limit == 2 << 20), "{err}");
}

#[test]
fn truncated_archives_are_corrupt() {
    let archive = package(|zip| add(zip, "assets/data", &vec![1u8; 10_000]));
    for len in [0, 10, archive.len() / 2, archive.len() - 30, archive.len() - 1] {
        refuse(&archive[..len], "PACKAGE_CORRUPT");
    }
    refuse(b"this is not a zip archive at all", "PACKAGE_CORRUPT");
}

/// 20 000 bytes that do not repeat within 64 bytes.
fn payload() -> Vec<u8> {
    (0..20_000u32).map(|i| (i * 7 % 251) as u8).collect()
}

/// Adds an uncompressed entry, so its bytes can be found and damaged.
fn stored(zip: &mut Writer, name: &str, data: &[u8]) {
    let opts = options().compression_method(zip::CompressionMethod::Stored);
    zip.start_file(name, opts).unwrap();
    zip.write_all(data).unwrap();
}

fn flip_byte_in(archive: &mut [u8], needle: &[u8]) {
    let at = archive.windows(needle.len()).position(|w| w == needle).unwrap();
    archive[at] ^= 0xff;
}

#[test]
fn damaged_file_data_is_corrupt() {
    let mut archive = package(|zip| stored(zip, "assets/data", &payload()));
    flip_byte_in(&mut archive, &payload()[5000..5064]);
    let err = refuse(&archive, "PACKAGE_CORRUPT");
    assert!(err.to_string().contains("assets/data"), "{err}");
}

#[test]
fn a_package_without_a_root_config_is_refused() {
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    add(&mut zip, "game/config.json", CONFIG.as_bytes());
    let nested = zip.finish().unwrap().into_inner();
    refuse(&nested, "PACKAGE_NO_MANIFEST");

    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    zip.add_directory("config.json", options()).unwrap();
    let folder = zip.finish().unwrap().into_inner();
    refuse(&folder, "PACKAGE_NO_MANIFEST");

    let empty = ZipWriter::new(Cursor::new(Vec::new())).finish().unwrap().into_inner();
    refuse(&empty, "PACKAGE_NO_MANIFEST");
}

#[test]
fn a_failed_extraction_empties_an_existing_destination() {
    // The damaged entry comes last: earlier files are written, then removed.
    let mut archive = package(|zip| {
        add(zip, "a/first", b"written before the failure");
        stored(zip, "z/damaged", &payload());
    });
    flip_byte_in(&mut archive, &payload()[5000..5064]);
    let dest = tempfile::tempdir().unwrap();
    let err = extract(Cursor::new(archive), dest.path(), &small_limits()).unwrap_err();
    assert_eq!(err.code(), "PACKAGE_CORRUPT", "{err}");
    assert!(dest.path().is_dir());
    assert_eq!(fs::read_dir(dest.path()).unwrap().count(), 0);
}

#[test]
fn errors_name_their_cause() {
    let archive = package(|zip| add(zip, "../x", b""));
    let err = refuse(&archive, "PACKAGE_UNSAFE_PATH");
    assert_eq!(err.to_string(), "unsafe path in package: \"../x\" (`.` or `..` path component)");
}
