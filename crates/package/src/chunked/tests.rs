//! Unit tests of the chunked format: chunking stability, manifest checks,
//! signatures, rotation statements and the chunk codec.

use std::collections::HashSet;

use super::*;
use crate::PackagedFile;

const CONFIG: &str = r#"{"id":"demo","name":"Demo","version":"1.0.0","description":"","kind":"cli",
"min_players":1,"max_players":2,"server":{"command":["bin/server","{port}"]},
"client":{"command":["bin/client","{host}","{port}"]}}"#;

/// Deterministic incompressible bytes (xorshift64*).
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Bytes of the chunks of `new` that `old` does not have: what an update moves.
fn moved_bytes(old: &[ChunkRef], new: &[ChunkRef]) -> u64 {
    let have: HashSet<ChunkHash> = old.iter().map(|c| c.hash).collect();
    let mut sent = HashSet::new();
    new.iter()
        .filter(|c| !have.contains(&c.hash) && sent.insert(c.hash))
        .map(|c| u64::from(c.size))
        .sum()
}

#[test]
fn a_one_mib_change_in_a_100_mib_file_moves_at_most_2_mib() {
    let old = noise(100 << 20, 7);
    let old_chunks = chunk_bytes(&old);
    assert!(old_chunks.iter().all(|c| c.size >= MIN_CHUNK || c.size as usize == old.len()));
    assert!(old_chunks.iter().all(|c| c.size <= MAX_CHUNK));

    let mut overwritten = old.clone();
    overwritten[50 << 20..51 << 20].copy_from_slice(&noise(1 << 20, 99));
    let moved = moved_bytes(&old_chunks, &chunk_bytes(&overwritten));
    assert!((1 << 20..=2 << 20).contains(&moved), "overwrite moved {moved} bytes");

    let mut inserted = old[..30 << 20].to_vec();
    inserted.extend_from_slice(&noise(1 << 20, 123));
    inserted.extend_from_slice(&old[30 << 20..]);
    let moved = moved_bytes(&old_chunks, &chunk_bytes(&inserted));
    assert!((1 << 20..=2 << 20).contains(&moved), "insertion moved {moved} bytes");
}

#[test]
fn streaming_and_in_memory_chunking_cut_at_the_same_places() {
    let data = noise(5 << 20, 3);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.bin");
    std::fs::write(&path, &data).unwrap();
    assert_eq!(chunk_file(&path).unwrap(), chunk_bytes(&data));
    assert_eq!(chunk_bytes(&[]), Vec::<ChunkRef>::new());
    let small = chunk_bytes(b"x");
    assert_eq!(small, vec![ChunkRef { hash: hash_chunk(b"x"), size: 1 }]);
}

#[test]
fn chunk_folder_keeps_order_sizes_and_modes() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("bin")).unwrap();
    std::fs::write(dir.path().join("bin/server"), noise(700_000, 1)).unwrap();
    std::fs::set_permissions(dir.path().join("bin/server"), std::fs::Permissions::from_mode(0o755))
        .unwrap();
    std::fs::write(dir.path().join("empty"), b"").unwrap();
    std::fs::write(dir.path().join("config.json"), CONFIG).unwrap();
    let files = crate::package_files(dir.path()).unwrap();
    let chunked = chunk_folder(dir.path(), &files).unwrap();
    let summary: Vec<(&str, u64, bool, usize)> =
        chunked.iter().map(|f| (f.path.as_str(), f.size, f.executable, f.chunks.len())).collect();
    assert_eq!(summary[0].0, "bin/server");
    assert_eq!((summary[0].1, summary[0].2), (700_000, true));
    assert!(summary[0].3 >= 1);
    assert_eq!(summary[1], ("config.json", CONFIG.len() as u64, false, 1));
    assert_eq!(summary[2], ("empty", 0, false, 0));

    let missing = [PackagedFile { path: "gone".into(), size: 1 }];
    assert!(chunk_folder(dir.path(), &missing).is_err());
}

fn sample_manifest() -> VersionManifest {
    let config_chunks = chunk_bytes(CONFIG.as_bytes());
    let data = noise(300_000, 5);
    VersionManifest {
        format: FORMAT,
        id: "demo".into(),
        version: "1.0.0".into(),
        created: 1_700_000_000,
        config: serde_json::from_str(CONFIG).unwrap(),
        files: vec![
            ManifestFile {
                path: "bin/server".into(),
                size: data.len() as u64,
                executable: true,
                chunks: chunk_bytes(&data),
            },
            ManifestFile {
                path: "config.json".into(),
                size: CONFIG.len() as u64,
                executable: false,
                chunks: config_chunks,
            },
        ],
        key: String::new(),
    }
}

#[test]
fn a_valid_manifest_round_trips_through_its_bytes() {
    let manifest = sample_manifest();
    let parsed = VersionManifest::parse(&manifest.to_bytes()).unwrap();
    assert_eq!(parsed, manifest);
    assert_eq!(parsed.total_bytes(), 300_000 + CONFIG.len() as u64);
    assert_eq!(parsed.file("config.json").unwrap().size, CONFIG.len() as u64);
    let distinct = parsed.distinct_chunks();
    assert_eq!(distinct.len(), parsed.files.iter().map(|f| f.chunks.len()).sum::<usize>());
}

#[test]
fn manifest_problems_are_each_reported() {
    type Edit = fn(&mut VersionManifest);
    let cases: &[(&str, Edit, &str)] = &[
        ("format", |m| m.format = 1, "format"),
        ("bad id", |m| m.id = "Bad Id".into(), "id"),
        ("other id than config", |m| m.id = "other".into(), "config.id"),
        ("other version than config", |m| m.version = "2.0.0".into(), "config.version"),
        ("bad version", |m| m.version = "one".into(), "version"),
        ("bad config", |m| m.config = serde_json::json!({"id": "demo"}), "config."),
        ("bad key", |m| m.key = "zz".into(), "key"),
        ("unsafe path", |m| m.files[0].path = "../escape".into(), "files[0]"),
        ("unsorted", |m| m.files.swap(0, 1), "files[1]"),
        ("size lies", |m| m.files[0].size += 1, "files[0]"),
        ("zero chunk", |m| m.files[0].chunks[0].size = 0, "files[0]"),
        ("huge chunk", |m| m.files[0].chunks[0].size = MAX_CHUNK + 1, "files[0]"),
        ("no config.json", |m| m.files[1].path = "config.txt".into(), "files"),
        (
            "one hash two sizes",
            |m| {
                let first = m.files[0].chunks[0];
                m.files[1].chunks[0].hash = first.hash;
            },
            "files[1]",
        ),
        (
            "file inside a file",
            |m| {
                m.files[0].path = "bin".into();
                let mut inner = m.files[0].clone();
                inner.path = "bin/x".into();
                m.files.insert(1, inner);
            },
            "files[1]",
        ),
    ];
    for (name, edit, field) in cases {
        let mut manifest = sample_manifest();
        edit(&mut manifest);
        let errors =
            VersionManifest::parse(&manifest.to_bytes()).expect_err(&format!("{name}: accepted"));
        assert!(
            errors.problems.iter().any(|p| p.field.starts_with(field)),
            "{name}: expected a problem at {field}, got {:?}",
            errors.problems
        );
    }
    assert!(VersionManifest::parse(b"{\"format\":2").is_err());
    let huge = vec![b' '; MAX_VERSION_MANIFEST_BYTES + 1];
    assert!(VersionManifest::parse(&huge).is_err());
}

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

#[test]
fn manifest_signatures_cover_every_byte() {
    let signer = key(1);
    let bytes = sample_manifest().to_bytes();
    let signature = sign_manifest(&signer, &bytes);
    let public = signer.verifying_key();
    assert_eq!(verify_manifest(&public, &bytes, &signature), Ok(()));
    let parsed = parse_signature_hex(&signature_hex(&signature)).unwrap();
    assert_eq!(verify_manifest(&public, &bytes, &parsed), Ok(()));

    let mut tampered = bytes.clone();
    let at = tampered.len() / 2;
    tampered[at] ^= 1;
    assert_eq!(verify_manifest(&public, &tampered, &signature), Err(KeyError::BadSignature));
    let other = key(2).verifying_key();
    assert_eq!(verify_manifest(&other, &bytes, &signature), Err(KeyError::BadSignature));
    // A rotation signature is never a manifest signature (domain prefixes).
    let as_rotation = sign_rotation(&signer, &bytes);
    assert_eq!(verify_manifest(&public, &bytes, &as_rotation), Err(KeyError::BadSignature));
    assert!(parse_signature_hex("00").is_err());
}

#[test]
fn rotation_statements_must_be_signed_by_the_old_key() {
    let old = key(1);
    let new = key(2);
    let statement = RotationStatement {
        developer: "alice".into(),
        old_key: key_hex(&old.verifying_key()),
        new_key: key_hex(&new.verifying_key()),
        at: 1_700_000_000,
    };
    let bytes = statement.to_bytes();
    let good = sign_rotation(&old, &bytes);
    assert_eq!(verify_rotation(&bytes, &good), Ok(statement));
    let by_new = sign_rotation(&new, &bytes);
    assert_eq!(verify_rotation(&bytes, &by_new), Err(KeyError::BadSignature));
    let as_manifest = sign_manifest(&old, &bytes);
    assert_eq!(verify_rotation(&bytes, &as_manifest), Err(KeyError::BadSignature));
    assert!(matches!(verify_rotation(b"{}", &good), Err(KeyError::BadStatement(_))));
}

#[test]
fn fingerprints_and_key_hex_round_trip() {
    let public = key(3).verifying_key();
    let fingerprint = key_fingerprint(&public);
    assert!(fingerprint.starts_with("SHA256:"));
    assert_eq!(fingerprint.len(), 7 + 64);
    assert_ne!(fingerprint, key_fingerprint(&key(4).verifying_key()));
    assert_eq!(parse_key_hex(&key_hex(&public)), Ok(public));
    assert_eq!(parse_key_hex("abc"), Err(KeyError::BadKey));
}

#[test]
fn the_codec_compresses_only_when_it_pays_and_bounds_inflation() {
    let random = noise(256 << 10, 11);
    assert_eq!(compress_chunk(&random), None);
    assert_eq!(compress_chunk(&[]), None);
    let text = b"the same line again\n".repeat(10_000);
    let packed = compress_chunk(&text).expect("text shrinks");
    assert!(packed.len() < text.len() / 8);
    assert_eq!(inflate_chunk(&packed, text.len() as u32).unwrap(), text);
    assert!(matches!(
        inflate_chunk(&packed, text.len() as u32 - 1),
        Err(ChunkCodecError::TooLarge(_))
    ));
    assert!(matches!(
        inflate_chunk(&packed, text.len() as u32 + 1),
        Err(ChunkCodecError::WrongSize { .. })
    ));
    // A bomb: 64 MiB of zeros in a few KiB, announced as a 1 MiB chunk.
    let bomb = zstd::bulk::compress(&vec![0u8; 64 << 20], 19).unwrap();
    assert!(bomb.len() < 64 << 10);
    assert!(matches!(inflate_chunk(&bomb, MAX_CHUNK), Err(ChunkCodecError::TooLarge(_))));
    assert!(matches!(inflate_chunk(b"not zstd", 8), Err(ChunkCodecError::Corrupt(_))));
    // Streamed frames do not announce their size: the buffer bounds them.
    let streamed = zstd::stream::encode_all(&text[..], 1).unwrap();
    assert!(matches!(zstd::zstd_safe::get_frame_content_size(&streamed), Ok(None)));
    assert_eq!(inflate_chunk(&streamed, text.len() as u32).unwrap(), text);
    let streamed_bomb = zstd::stream::encode_all(&vec![0u8; 64 << 20][..], 19).unwrap();
    assert!(matches!(inflate_chunk(&streamed_bomb, MAX_CHUNK), Err(ChunkCodecError::TooLarge(_))));
    assert!(matches!(
        inflate_chunk(&streamed, text.len() as u32 + 1),
        Err(ChunkCodecError::WrongSize { .. })
    ));
    let mut cut = streamed.clone();
    cut.truncate(cut.len() / 2);
    assert!(matches!(inflate_chunk(&cut, text.len() as u32), Err(ChunkCodecError::Corrupt(_))));
}

#[test]
fn noise_is_judged_by_samples_and_anything_that_shrinks_is_compressed() {
    // A 1 MiB chunk of noise is sent raw.
    assert_eq!(compress_chunk(&noise(1 << 20, 5)), None);
    // Noise with a compressible middle: the samples see the middle.
    let mut mixed = noise(1 << 20, 6);
    mixed[256 << 10..768 << 10].fill(b'a');
    let packed = compress_chunk(&mixed).expect("half of it compresses");
    assert_eq!(inflate_chunk(&packed, mixed.len() as u32).unwrap(), mixed);
    // Small chunks are always tried whole.
    let mut small = noise(32 << 10, 7);
    small[..20 << 10].fill(0);
    assert!(compress_chunk(&small).is_some());
}

#[test]
fn zero_chunks_are_known_by_their_hash() {
    let zeros = chunk_bytes(&vec![0u8; 3 << 20]);
    assert!(zeros.iter().all(is_zero_chunk), "{zeros:?}");
    let mut almost = vec![0u8; 200_000];
    almost[150_000] = 1;
    assert!(chunk_bytes(&almost).iter().any(|c| !is_zero_chunk(c)));
    let lying = ChunkRef { hash: zeros[0].hash, size: zeros[0].size - 1 };
    assert!(!is_zero_chunk(&lying), "the size is part of it");
    assert!(!is_zero_chunk(&ChunkRef { hash: zeros[0].hash, size: u32::MAX }));
}

#[test]
fn a_chunk_hashed_in_parts_has_the_hash_of_its_joined_bytes() {
    let data: Vec<u8> = (0..700_000u32).map(|i| (i * 31 % 251) as u8).collect();
    for cuts in [vec![], vec![1], vec![262_144, 524_288], vec![100, 100, 699_999]] {
        let mut parts = Vec::new();
        let mut at = 0;
        for cut in cuts.iter().copied().chain([data.len()]) {
            parts.push(data[at..cut].to_vec());
            at = cut;
        }
        assert_eq!(hash_chunk_parts(&parts), hash_chunk(&data), "cut at {cuts:?}");
    }
}

#[test]
fn zeros_hash_is_the_hash_of_that_many_zeros() {
    let zeros = vec![0u8; MAX_CHUNK as usize];
    let mut sizes: Vec<u32> = (1..=4200).collect();
    sizes.extend([65_535, 65_536, 65_537, 262_143, 262_144, 300_001, MAX_CHUNK - 1, MAX_CHUNK]);
    // Sizes spread over the whole range (a fixed linear congruence).
    let mut x = 7u64;
    sizes.extend((0..200).map(|_| {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (x >> 33) as u32 % MAX_CHUNK + 1
    }));
    for size in sizes {
        assert_eq!(zeros_hash(size), hash_chunk(&zeros[..size as usize]), "{size} zeros");
    }
}
