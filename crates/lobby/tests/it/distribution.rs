//! Signed, chunked distribution on the wire: publishing chunk by chunk
//! (dedupe, resume, hostile uploaders), serving manifests and chunks, and
//! compatibility with zip uploads and downloads.

use std::path::{Path, PathBuf};

use gamestore_package::chunked::{
    self, ChunkHash, ChunkRef, FORMAT, SigningKey, VersionManifest, compress_chunk, hash_chunk,
};
use gamestore_protocol::{
    ChunkGet, ChunkPut, DevKeyRegister, DevLogin, DevRegister, ErrorCode, GameDownload, GameFiles,
    GameInfo, ManifestGet, PublishBegin, PublishDone,
};
use gamestore_testkit::fixtures::game_folder;
use gamestore_testkit::{RawConn, TestLobby, wait_until};
use serde_json::Value;

use crate::world::registered_player;

const PASSWORD: &str = "correct horse";

fn developer(lobby: &TestLobby, name: &str) -> RawConn {
    let mut conn = RawConn::hello(lobby.addr);
    conn.call(DevRegister::new(name, PASSWORD)).unwrap();
    conn.call(DevLogin::new(name, PASSWORD)).unwrap();
    conn
}

fn zip_of(dir: &Path) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    gamestore_package::pack_dir(dir, &mut out).unwrap();
    out.into_inner()
}

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

/// A folder's manifest signed by `signer`, with every chunk's bytes.
struct Signed {
    bytes: Vec<u8>,
    signature: String,
    manifest: VersionManifest,
    chunks: Vec<(ChunkRef, Vec<u8>)>,
}

fn sign_folder(dir: &Path, signer: &SigningKey) -> Signed {
    let listed = gamestore_package::package_files(dir).unwrap();
    let files = chunked::chunk_folder(dir, &listed).unwrap();
    let config: Value =
        serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
    let manifest = VersionManifest {
        format: FORMAT,
        id: config["id"].as_str().unwrap().into(),
        version: config["version"].as_str().unwrap().into(),
        created: 1_700_000_000,
        config,
        files,
        key: chunked::key_hex(&signer.verifying_key()),
    };
    let mut chunks = Vec::new();
    for file in &manifest.files {
        let data = std::fs::read(dir.join(&file.path)).unwrap();
        let mut at = 0;
        for chunk in &file.chunks {
            chunks.push((*chunk, data[at..at + chunk.size as usize].to_vec()));
            at += chunk.size as usize;
        }
    }
    let distinct = manifest.distinct_chunks();
    chunks.dedup_by_key(|(c, _)| c.hash);
    let mut ordered = Vec::new();
    for c in distinct {
        ordered.push(chunks.iter().find(|(x, _)| x.hash == c.hash).unwrap().clone());
    }
    let bytes = manifest.to_bytes();
    let signature = chunked::signature_hex(&chunked::sign_manifest(signer, &bytes));
    Signed { bytes, signature, manifest, chunks: ordered }
}

/// PUBLISH_BEGIN with the manifest bytes sent at once.
fn begin(conn: &mut RawConn, signed: &Signed) -> Result<Value, gamestore_protocol::WireError> {
    begin_raw(conn, &signed.manifest.id, &signed.manifest.version, &signed.bytes, &signed.signature)
}

fn begin_raw(
    conn: &mut RawConn,
    id: &str,
    version: &str,
    bytes: &[u8],
    signature: &str,
) -> Result<Value, gamestore_protocol::WireError> {
    let request = PublishBegin {
        id: id.into(),
        version: version.into(),
        size: bytes.len() as u64,
        signature: signature.into(),
    };
    let rid = conn.send_request(request);
    conn.send_binary(rid, bytes);
    conn.reply_with_bytes(rid, |_| 0).map(|(reply, _)| reply)
}

fn missing_indices(plan: &Value) -> Vec<u64> {
    plan["missing"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| {
            let (start, count) = (r[0].as_u64().unwrap(), r[1].as_u64().unwrap());
            start..start + count
        })
        .collect()
}

fn put(
    conn: &mut RawConn,
    publish: u64,
    index: u64,
    stored: &[u8],
    compressed: bool,
) -> Result<Value, gamestore_protocol::WireError> {
    let request = ChunkPut { publish, index, compressed, size: stored.len() as u32 };
    let rid = conn.send_request(request);
    conn.send_binary(rid, stored);
    conn.reply_with_bytes(rid, |_| 0).map(|(reply, _)| reply)
}

/// Sends the missing chunks of `plan` (compressed where that pays) and
/// returns the bytes sent.
fn put_missing(conn: &mut RawConn, plan: &Value, signed: &Signed) -> u64 {
    let publish = plan["publish"].as_u64().unwrap();
    let mut sent = 0;
    for index in missing_indices(plan) {
        let data = &signed.chunks[index as usize].1;
        let (stored, compressed) = match compress_chunk(data) {
            Some(packed) => (packed, true),
            None => (data.clone(), false),
        };
        put(conn, publish, index, &stored, compressed).expect("chunk accepted");
        sent += stored.len() as u64;
    }
    sent
}

fn done(conn: &mut RawConn, plan: &Value) -> Result<Value, gamestore_protocol::WireError> {
    conn.call(PublishDone { publish: plan["publish"].as_u64().unwrap() })
}

fn versions(conn: &mut RawConn, id: &str) -> Vec<String> {
    match conn.call(GameInfo { id: id.into() }) {
        Ok(info) => info["game"]["versions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect(),
        Err(e) if e.code == ErrorCode::GameNotFound => Vec::new(),
        Err(e) => panic!("GAME_INFO failed: {e}"),
    }
}

fn register_key(conn: &mut RawConn, signer: &SigningKey) -> Value {
    conn.call(DevKeyRegister { key: chunked::key_hex(&signer.verifying_key()) }).unwrap()
}

#[test]
fn a_signed_publish_sends_only_missing_chunks_and_is_served_back_verbatim() {
    let mut lobby = TestLobby::start();
    let tmp = tempfile::tempdir().unwrap();
    let signer = key(1);
    let mut dev = developer(&lobby, "dana");
    let reply = register_key(&mut dev, &signer);
    assert_eq!(reply["fingerprint"], chunked::key_fingerprint(&signer.verifying_key()));
    assert!(register_key(&mut dev, &signer).is_object(), "registering again is a no-op");
    let other = dev.call(DevKeyRegister { key: chunked::key_hex(&key(2).verifying_key()) });
    assert_eq!(other.unwrap_err().code, ErrorCode::KeyExists);

    let shared = [("a.bin", 900_000), ("b.bin", 700_000), ("c.bin", 300_000)];
    let first = game_folder(tmp.path(), "alpha", "1.0.0", &shared);
    let signed = sign_folder(&first, &signer);
    let plan = begin(&mut dev, &signed).unwrap();
    assert_eq!(plan["chunks"].as_u64().unwrap() as usize, signed.chunks.len());
    assert_eq!(missing_indices(&plan).len(), signed.chunks.len(), "a new lobby lacks every chunk");
    put_missing(&mut dev, &plan, &signed);
    let published = done(&mut dev, &plan).unwrap();
    assert_eq!(published["version"], "1.0.0");
    assert!(published["uploaded_bytes"].as_u64().unwrap() > 0);
    assert_eq!(versions(&mut dev, "alpha"), ["1.0.0"]);

    // A second game with the same data files: only its own chunks move.
    let second = game_folder(tmp.path(), "beta", "1.0.0", &shared);
    let signed_b = sign_folder(&second, &signer);
    let plan_b = begin(&mut dev, &signed_b).unwrap();
    let missing = missing_indices(&plan_b);
    let missing_bytes: u64 =
        missing.iter().map(|&i| u64::from(signed_b.chunks[i as usize].0.size)).sum();
    assert!(missing_bytes < 10_000, "{missing_bytes} bytes missing: the data files are shared");
    put_missing(&mut dev, &plan_b, &signed_b);
    done(&mut dev, &plan_b).unwrap();

    // A player gets the exact bytes, the signature and the key.
    let mut player = registered_player(&lobby, "pia");
    let rid = player.send_request(ManifestGet { id: "alpha".into(), version: "1.0.0".into() });
    let (ready, bytes) = player.reply_with_bytes(rid, |r| r["size"].as_u64().unwrap()).unwrap();
    assert_eq!(bytes, signed.bytes);
    let signature = chunked::parse_signature_hex(ready["signature"].as_str().unwrap()).unwrap();
    chunked::verify_manifest(&signer.verifying_key(), &bytes, &signature).unwrap();
    assert_eq!(ready["fingerprint"], chunked::key_fingerprint(&signer.verifying_key()));
    let info = player.call(GameInfo { id: "alpha".into() }).unwrap();
    assert_eq!(info["game"]["fingerprint"], ready["fingerprint"]);

    let wanted: Vec<ChunkHash> = signed.chunks.iter().take(3).map(|(c, _)| c.hash).collect();
    assert_chunks_served(&mut player, "alpha", &wanted);

    // Each chunk's raw bytes are kept once, in the version's files: no
    // file of the chunk store holds the raw bytes of these incompressible
    // data chunks.
    let store = lobby.data_dir().join("chunks");
    let raw_copies: Vec<PathBuf> = crate::world::served_files(&lobby)
        .into_iter()
        .filter(|p| p.starts_with(&store))
        .filter(|p| {
            let bytes = std::fs::read(p).unwrap();
            signed.chunks.iter().filter(|(c, _)| c.size >= 64 * 1024).any(|(_, raw)| {
                let probe = &raw[raw.len() / 2..raw.len() / 2 + 1024];
                bytes.windows(probe.len()).any(|w| w == probe)
            })
        })
        .collect();
    assert!(raw_copies.is_empty(), "raw copies in the chunk store: {raw_copies:?}");
    // Only chunks of that version, each once.
    let foreign = player.call(ChunkGet {
        id: "alpha".into(),
        version: "1.0.0".into(),
        chunks: vec![hash_chunk(b"not in the manifest")],
        raw: false,
    });
    assert_eq!(foreign.unwrap_err().code, ErrorCode::BadRequest);
    let twice = player.call(ChunkGet {
        id: "alpha".into(),
        version: "1.0.0".into(),
        chunks: vec![wanted[0], wanted[0]],
        raw: false,
    });
    assert_eq!(twice.unwrap_err().code, ErrorCode::BadRequest);

    // The zip path still serves the chunked version.
    let rid = player.send_request(GameDownload {
        id: "alpha".into(),
        version: "1.0.0".into(),
        files: Some(vec!["data/a.bin".into()]),
        offset: 0,
    });
    let (_, file) = player.reply_with_bytes(rid, |r| r["size"].as_u64().unwrap()).unwrap();
    assert_eq!(file, std::fs::read(first.join("data/a.bin")).unwrap());

    // With a key registered, zips are refused.
    let zip = zip_of(&game_folder(tmp.path(), "alpha", "2.0.0", &[]));
    let refused = dev.upload("alpha", "2.0.0", &zip, &gamestore_package::sha256_bytes(&zip));
    assert_eq!(refused.unwrap_err().code, ErrorCode::SignatureRequired);

    // Killed and started again, the lobby finds every chunk from the
    // versions' manifests.
    drop((dev, player));
    lobby.kill9();
    lobby.restart();
    let mut after = registered_player(&lobby, "pat");
    let every: Vec<ChunkHash> = signed.chunks.iter().map(|(c, _)| c.hash).collect();
    assert_chunks_served(&mut after, "alpha", &every);
}

/// CHUNK_GET of `wanted` from `id` 1.0.0 gives each chunk's bytes.
fn assert_chunks_served(player: &mut RawConn, id: &str, wanted: &[ChunkHash]) {
    chunks_served(player, id, wanted, false);
}

/// CHUNK_GET of `wanted` from `id` 1.0.0, asking for `raw` bytes or not:
/// checks each chunk's bytes and returns which came compressed.
fn chunks_served(player: &mut RawConn, id: &str, wanted: &[ChunkHash], raw: bool) -> Vec<bool> {
    let rid = player.send_request(ChunkGet {
        id: id.into(),
        version: "1.0.0".into(),
        chunks: wanted.to_vec(),
        raw,
    });
    let (listing, stored) = player
        .reply_with_bytes(rid, |r| {
            r["chunks"].as_array().unwrap().iter().map(|c| c["stored_size"].as_u64().unwrap()).sum()
        })
        .unwrap();
    let mut at = 0;
    let mut compressed = Vec::new();
    for (entry, hash) in listing["chunks"].as_array().unwrap().iter().zip(wanted) {
        let len = entry["stored_size"].as_u64().unwrap() as usize;
        let size = entry["size"].as_u64().unwrap() as u32;
        let piece = &stored[at..at + len];
        at += len;
        compressed.push(entry["compressed"].as_bool().unwrap());
        let raw = if entry["compressed"].as_bool().unwrap() {
            chunked::inflate_chunk(piece, size).unwrap()
        } else {
            piece.to_vec()
        };
        assert_eq!(hash_chunk(&raw), *hash);
    }
    assert_eq!(at, stored.len());
    compressed
}

#[test]
fn chunks_sent_raw_are_compressed_by_the_lobby_and_served_raw_to_whoever_asks() {
    let lobby = TestLobby::start();
    let tmp = tempfile::tempdir().unwrap();
    let signer = key(1);
    let mut dev = developer(&lobby, "dana");
    register_key(&mut dev, &signer);
    let dir = game_folder(tmp.path(), "delta", "1.0.0", &[("noise.bin", 300_000)]);
    let script: String = (0..20_000).map(|i| format!("line {i} of the level script\n")).collect();
    std::fs::write(dir.join("script.txt"), script).unwrap();
    let signed = sign_folder(&dir, &signer);
    let compressible: Vec<bool> =
        signed.chunks.iter().map(|(_, raw)| compress_chunk(raw).is_some()).collect();
    assert!(compressible.contains(&true) && compressible.contains(&false), "{compressible:?}");

    // Every chunk is sent raw, as a publish from the lobby's machine does.
    let plan = begin(&mut dev, &signed).unwrap();
    let publish = plan["publish"].as_u64().unwrap();
    for index in missing_indices(&plan) {
        put(&mut dev, publish, index, &signed.chunks[index as usize].1, false).unwrap();
    }
    done(&mut dev, &plan).unwrap();

    // The lobby compresses what pays after the commit, for downloads from
    // afar; a launcher that asks for raw bytes gets them.
    let mut player = registered_player(&lobby, "pia");
    let hashes: Vec<ChunkHash> = signed.chunks.iter().map(|(c, _)| c.hash).collect();
    wait_until("the lobby to compress the script's chunks", || {
        chunks_served(&mut player, "delta", &hashes, false) == compressible
    });
    assert!(chunks_served(&mut player, "delta", &hashes, true).iter().all(|c| !c));
}

#[test]
fn hostile_uploads_are_refused_and_leave_nothing_visible() {
    let lobby = TestLobby::start();
    let tmp = tempfile::tempdir().unwrap();
    let signer = key(1);
    let mut dev = developer(&lobby, "mallory");
    let dir = game_folder(tmp.path(), "gamma", "1.0.0", &[("big.bin", 600_000)]);
    let signed = sign_folder(&dir, &signer);

    // No key registered yet.
    assert_eq!(begin(&mut dev, &signed).unwrap_err().code, ErrorCode::SignatureRequired);
    register_key(&mut dev, &signer);

    // A signature by another key.
    let forged = chunked::signature_hex(&chunked::sign_manifest(&key(9), &signed.bytes));
    let err = begin_raw(&mut dev, "gamma", "1.0.0", &signed.bytes, &forged).unwrap_err();
    assert_eq!(err.code, ErrorCode::BadSignature);

    // A manifest for another id or version.
    let err = begin_raw(&mut dev, "gamma", "1.0.1", &signed.bytes, &signed.signature).unwrap_err();
    assert_eq!(err.code, ErrorCode::ManifestMismatch);

    // Sizes that lie (signed, so only validation can catch it).
    let mut lying = signed.manifest.clone();
    lying.files[0].size += 1;
    let bytes = lying.to_bytes();
    let sig = chunked::signature_hex(&chunked::sign_manifest(&signer, &bytes));
    let err = begin_raw(&mut dev, "gamma", "1.0.0", &bytes, &sig).unwrap_err();
    assert_eq!(err.code, ErrorCode::ManifestInvalid);

    let plan = begin(&mut dev, &signed).unwrap();
    let publish = plan["publish"].as_u64().unwrap();
    let big =
        signed.chunks.iter().position(|(c, _)| c.size > 100_000).expect("a large chunk") as u64;
    // A chunk whose hash lies.
    let mut wrong = signed.chunks[big as usize].1.clone();
    wrong[0] ^= 1;
    assert_eq!(
        put(&mut dev, publish, big, &wrong, false).unwrap_err().code,
        ErrorCode::ChunkInvalid
    );
    // A bomb: a small zstd frame that inflates far past the chunk's size.
    let bomb = compress_chunk(&vec![0u8; 64 << 20]).unwrap();
    assert!(bomb.len() < 1 << 20);
    assert_eq!(put(&mut dev, publish, big, &bomb, true).unwrap_err().code, ErrorCode::ChunkInvalid);
    // An unknown token and an index out of range.
    assert_eq!(put(&mut dev, publish + 7, 0, b"x", false).unwrap_err().code, ErrorCode::BadRequest);
    assert_eq!(
        put(&mut dev, publish, 10_000, b"x", false).unwrap_err().code,
        ErrorCode::BadRequest
    );
    // A manifest naming chunks never sent.
    let err = done(&mut dev, &plan).unwrap_err();
    assert_eq!(err.code, ErrorCode::ChunksMissing);
    assert!(versions(&mut dev, "gamma").is_empty(), "nothing is visible");

    // The connection is still in step: the honest chunks complete it.
    put_missing(&mut dev, &plan, &signed);
    done(&mut dev, &plan).unwrap();
    assert_eq!(versions(&mut dev, "gamma"), ["1.0.0"]);

    // An oversized manifest is refused and the connection closed.
    let mut conn = developer(&lobby, "oscar");
    let rid = conn.send_request(PublishBegin {
        id: "delta".into(),
        version: "1.0.0".into(),
        size: 17 << 20,
        signature: "00".into(),
    });
    let err = conn.reply_with_bytes(rid, |_| 0).unwrap_err();
    assert_eq!(err.code, ErrorCode::ManifestTooLarge);
    assert!(conn.recv_frame().is_none(), "the connection is closed");
}

#[test]
fn a_cut_publish_resumes_with_only_the_chunks_that_did_not_arrive() {
    let lobby = TestLobby::start();
    let tmp = tempfile::tempdir().unwrap();
    let signer = key(3);
    let mut dev = developer(&lobby, "rita");
    register_key(&mut dev, &signer);
    let dir = game_folder(tmp.path(), "epsilon", "1.0.0", &[("data.bin", 3_000_000)]);
    let signed = sign_folder(&dir, &signer);
    let plan = begin(&mut dev, &signed).unwrap();
    let all = missing_indices(&plan);
    // A cut at a point that depends on the chunking: somewhere in the middle.
    let cut = 1 + (signed.chunks[0].0.hash.0[0] as usize % (all.len() - 1));
    let publish = plan["publish"].as_u64().unwrap();
    for &index in &all[..cut] {
        put(&mut dev, publish, index, &signed.chunks[index as usize].1, false).unwrap();
    }
    drop(dev);

    let mut again = RawConn::hello(lobby.addr);
    again.call(DevLogin::new("rita", PASSWORD)).unwrap();
    let plan = begin(&mut again, &signed).unwrap();
    assert_eq!(missing_indices(&plan), all[cut..].to_vec());
    put_missing(&mut again, &plan, &signed);
    done(&mut again, &plan).unwrap();
    assert_eq!(versions(&mut again, "epsilon"), ["1.0.0"]);
}

#[test]
fn a_publish_run_again_from_a_new_login_sends_only_what_did_not_arrive() {
    // The second run logs in while the first run's connection is still open:
    // that login ends the first session, and whether the lobby is still
    // tearing the first connection down when the second PUBLISH_BEGIN
    // arrives (its stage is taken over) or has finished (its chunks were
    // kept in the store), only the rest is asked for.
    let lobby = TestLobby::start();
    let tmp = tempfile::tempdir().unwrap();
    let signer = key(4);
    let mut first = developer(&lobby, "rosa");
    register_key(&mut first, &signer);
    let dir = game_folder(tmp.path(), "eta", "1.0.0", &[("data.bin", 3_000_000)]);
    let signed = sign_folder(&dir, &signer);
    let plan = begin(&mut first, &signed).unwrap();
    let all = missing_indices(&plan);
    let half = all.len() / 2;
    let publish = plan["publish"].as_u64().unwrap();
    for &index in &all[..half] {
        put(&mut first, publish, index, &signed.chunks[index as usize].1, false).unwrap();
    }

    let mut second = RawConn::hello(lobby.addr);
    second.call(DevLogin::new("rosa", PASSWORD)).unwrap();
    let again = begin(&mut second, &signed).unwrap();
    assert_eq!(missing_indices(&again), all[half..].to_vec());
    put_missing(&mut second, &again, &signed);
    done(&mut second, &again).unwrap();
    assert_eq!(versions(&mut second, "eta"), ["1.0.0"]);
    drop(first);
}

#[test]
fn a_zip_upload_without_a_key_is_served_as_an_unsigned_manifest() {
    let lobby = TestLobby::start();
    let tmp = tempfile::tempdir().unwrap();
    let mut dev = developer(&lobby, "zed");
    let dir = game_folder(tmp.path(), "zeta", "1.0.0", &[("data.bin", 500_000)]);
    let zip = zip_of(&dir);
    dev.upload("zeta", "1.0.0", &zip, &gamestore_package::sha256_bytes(&zip)).unwrap();
    let rid = dev.send_request(ManifestGet { id: "zeta".into(), version: "1.0.0".into() });
    let (ready, bytes) = dev.reply_with_bytes(rid, |r| r["size"].as_u64().unwrap()).unwrap();
    assert_eq!(ready["signature"], "");
    assert_eq!(ready["key"], "");
    assert!(ready["fingerprint"].is_null());
    let manifest = VersionManifest::parse(&bytes).unwrap();
    let data = manifest.file("data/data.bin").unwrap();
    assert_eq!(data.size, 500_000);
    let expected = chunked::chunk_file(&dir.join("data/data.bin")).unwrap();
    assert_eq!(data.chunks, expected);
    let hashes: Vec<ChunkHash> = expected.iter().map(|c| c.hash).collect();
    let rid = dev.send_request(ChunkGet {
        id: "zeta".into(),
        version: "1.0.0".into(),
        chunks: hashes,
        raw: false,
    });
    let (_, stored) = dev
        .reply_with_bytes(rid, |r| {
            r["chunks"].as_array().unwrap().iter().map(|c| c["stored_size"].as_u64().unwrap()).sum()
        })
        .unwrap();
    assert!(!stored.is_empty());
}

#[test]
fn a_signed_version_gets_its_zip_packed_on_first_demand() {
    let lobby = TestLobby::start();
    let tmp = tempfile::tempdir().unwrap();
    let signer = key(7);
    let mut dev = developer(&lobby, "zara");
    register_key(&mut dev, &signer);
    let folder =
        game_folder(tmp.path(), "zipped", "1.0.0", &[("a.bin", 600_000), ("b.txt", 50_000)]);
    let signed = sign_folder(&folder, &signer);
    let plan = begin(&mut dev, &signed).unwrap();
    put_missing(&mut dev, &plan, &signed);
    done(&mut dev, &plan).unwrap();

    // Published without a zip: nothing packed yet.
    let zip_path = lobby.data_dir().join("games/zipped/1.0.0/package.zip");
    assert!(!zip_path.exists(), "a chunked publish packs no zip");
    let mut player = registered_player(&lobby, "zeb");
    let info = player.call(GameInfo { id: "zipped".into() }).unwrap();
    assert_eq!(info["versions"][0]["package_size"], 0);

    // Two clients of the zip flow at once: both are told of the same zip.
    let mut other = registered_player(&lobby, "zoe");
    let first = other.send_request(GameFiles::new("zipped", "1.0.0"));
    let listing = player.call(GameFiles::new("zipped", "1.0.0")).unwrap();
    let again = loop {
        match other.recv().expect("a reply to GAME_FILES") {
            gamestore_protocol::ServerMessage::Reply { id, result } if id == first => {
                break result.unwrap();
            }
            _ => {}
        }
    };
    let size = listing["package_size"].as_u64().unwrap();
    let sha = listing["package_sha256"].as_str().unwrap().to_owned();
    assert!(size > 0 && sha.len() == 64, "{listing}");
    assert_eq!(
        (again["package_size"].as_u64(), again["package_sha256"].as_str()),
        (Some(size), Some(sha.as_str()))
    );

    let rid = player.send_request(GameDownload {
        id: "zipped".into(),
        version: "1.0.0".into(),
        files: None,
        offset: 0,
    });
    let (_, zip) = player.reply_with_bytes(rid, |r| r["size"].as_u64().unwrap()).unwrap();
    assert_eq!(zip.len() as u64, size);
    assert_eq!(gamestore_package::sha256_bytes(&zip), sha);
    let out = tmp.path().join("unpacked");
    let files = gamestore_package::extract(
        std::io::Cursor::new(&zip),
        &out,
        &gamestore_package::Limits::default(),
    )
    .unwrap();
    assert_eq!(files.len(), 5);
    for name in ["config.json", "bin/server.sh", "data/a.bin", "data/b.txt"] {
        assert_eq!(
            std::fs::read(out.join(name)).unwrap(),
            std::fs::read(folder.join(name)).unwrap()
        );
    }
    let info = player.call(GameInfo { id: "zipped".into() }).unwrap();
    assert_eq!(info["versions"][0]["package_size"].as_u64(), Some(size));
    assert_eq!(std::fs::read(&zip_path).unwrap(), zip);
}
