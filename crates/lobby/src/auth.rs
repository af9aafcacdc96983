//! Passwords, session tokens and account names.
//!
//! Passwords are hashed with Argon2id (PHC strings in the database). Session
//! tokens are 256 random bits shown to the client once, as hex; the database
//! keeps only their SHA-256.

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use gamestore_protocol::{ErrorCode, WireError};
use sha2::{Digest, Sha256};

use crate::config::PasswordHashing;

/// Shortest and longest accepted passwords, in characters.
pub(crate) const PASSWORD_CHARS: std::ops::RangeInclusive<usize> = 8..=128;

/// Account names: 2–32 of ASCII letters, digits, `_`, `-` and `.`,
/// starting with a letter or digit.
pub(crate) fn check_name(name: &str) -> Result<(), WireError> {
    let ok_len = (2..=32).contains(&name.len());
    let ok_chars = name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b));
    let ok_start = name.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric());
    if ok_len && ok_chars && ok_start {
        Ok(())
    } else {
        Err(WireError::new(
            ErrorCode::InvalidName,
            "names are 2 to 32 letters, digits, '_', '-' or '.', starting with a letter or digit",
        ))
    }
}

pub(crate) fn check_password(password: &str) -> Result<(), WireError> {
    let chars = password.chars().count();
    if PASSWORD_CHARS.contains(&chars) {
        Ok(())
    } else {
        Err(WireError::new(
            ErrorCode::InvalidPassword,
            format!(
                "passwords are {} to {} characters long",
                PASSWORD_CHARS.start(),
                PASSWORD_CHARS.end()
            ),
        ))
    }
}

/// Largest Argon2 memory the lobby agrees to spend on one stored hash, in
/// KiB (1 GiB): a hash with a bigger cost is treated as not matching.
const MAX_VERIFY_KIB: u32 = 1024 * 1024;

/// Argon2's working memory, owned by one pool thread and reused for every
/// hash it computes, so the pool's memory is fixed by its size.
#[derive(Default)]
pub(crate) struct HashMemory(Vec<Block>);

impl HashMemory {
    fn blocks(&mut self, count: usize) -> &mut [Block] {
        if self.0.len() < count {
            self.0.resize(count, Block::default());
        }
        &mut self.0[..count]
    }
}

fn params(cost: &PasswordHashing) -> Params {
    Params::new(cost.memory_kib, cost.iterations, 1, None).unwrap_or_else(|_| Params::default())
}

/// Hashes a password with a fresh random salt into a PHC string. CPU- and
/// memory-heavy: [`PasswordPool`] runs it.
pub(crate) fn hash_password(
    password: &str,
    cost: &PasswordHashing,
    memory: &mut HashMemory,
) -> Result<String, WireError> {
    let failed = |e: &dyn std::fmt::Display| {
        WireError::new(ErrorCode::Internal, format!("password hashing failed: {e}"))
    };
    let params = params(cost);
    let mut salt = [0u8; Salt::RECOMMENDED_LENGTH];
    getrandom::fill(&mut salt).map_err(|e| failed(&e))?;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    argon2
        .hash_password_into_with_memory(
            password.as_bytes(),
            &salt,
            &mut out,
            memory.blocks(params.block_count()),
        )
        .map_err(|e| failed(&e))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| failed(&e))?,
        salt: Some(Salt::new(&salt).map_err(|e| failed(&e))?),
        hash: Some(Output::new(&out).map_err(|e| failed(&e))?),
    };
    Ok(phc.to_string())
}

/// True when `password` matches the stored PHC string. Heavy, like hashing;
/// the parameters come from the stored string, so older hashes keep working.
pub(crate) fn verify_password(password: &str, stored: &str, memory: &mut HashMemory) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else { return false };
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else { return false };
    let Ok(params) = Params::try_from(&parsed) else { return false };
    if params.m_cost() > MAX_VERIFY_KIB {
        return false;
    }
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm.as_str()) else { return false };
    let version = match parsed.version.map(Version::try_from).transpose() {
        Ok(version) => version.unwrap_or_default(),
        Err(_) => return false,
    };
    let mut out = vec![0u8; expected.len()];
    let blocks = memory.blocks(params.block_count());
    let argon2 = Argon2::new(algorithm, version, params);
    if argon2.hash_password_into_with_memory(password.as_bytes(), salt, &mut out, blocks).is_err() {
        return false;
    }
    // `Output` compares in constant time.
    Output::new(&out).is_ok_and(|computed| &computed == expected)
}

type Job = Box<dyn FnOnce(&mut HashMemory) + Send>;

/// The only place passwords are hashed or checked: a fixed number of
/// threads, each with its own reused Argon2 memory, fed by a bounded queue.
///
/// Memory is bounded by design: `threads × memory_kib` for the hashes plus
/// the queue's few hundred bytes per waiting request; a full queue answers
/// RATE_LIMITED at once instead of growing. Unknown accounts are checked
/// against a dummy hash of the same cost, so they take as long as a wrong
/// password.
pub(crate) struct PasswordPool {
    jobs: std::sync::mpsc::SyncSender<Job>,
    cost: PasswordHashing,
    dummy: String,
}

impl std::fmt::Debug for PasswordPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordPool").field("cost", &self.cost).finish_non_exhaustive()
    }
}

impl PasswordPool {
    /// Starts `threads` hashing threads with room for `queue` waiting jobs.
    pub(crate) fn new(
        threads: usize,
        queue: usize,
        cost: PasswordHashing,
    ) -> std::io::Result<PasswordPool> {
        let (jobs, rx) = std::sync::mpsc::sync_channel::<Job>(queue.max(1));
        let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
        for i in 0..threads.max(1) {
            let rx = rx.clone();
            std::thread::Builder::new().name(format!("password-{i}")).spawn(move || {
                let mut memory = HashMemory::default();
                loop {
                    let job = rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
                    let Ok(job) = job else { return };
                    // A panicking job loses its reply, not the thread.
                    let _ =
                        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&mut memory)));
                }
            })?;
        }
        // The dummy is hashed on a pool thread, in memory the pool keeps anyway.
        let (tx, rx) = std::sync::mpsc::channel();
        let dummy_cost = cost.clone();
        let job: Job = Box::new(move |memory| {
            let _ = tx.send(hash_password("not a password", &dummy_cost, memory));
        });
        jobs.send(job).map_err(|_| std::io::Error::other("no password thread"))?;
        let dummy = rx
            .recv()
            .map_err(|_| std::io::Error::other("the dummy password hash failed"))?
            .map_err(|e| std::io::Error::other(e.message))?;
        Ok(PasswordPool { jobs, cost, dummy })
    }

    /// A new PHC string for `password`.
    pub(crate) async fn hash(&self, password: String) -> Result<String, WireError> {
        let cost = self.cost.clone();
        self.run(move |memory| hash_password(&password, &cost, memory)).await?
    }

    /// Checks `password` against `stored`, or against the dummy hash when
    /// the account does not exist (then always false), in the same time.
    pub(crate) async fn verify(
        &self,
        password: String,
        stored: Option<String>,
    ) -> Result<bool, WireError> {
        let exists = stored.is_some();
        let stored = stored.unwrap_or_else(|| self.dummy.clone());
        let matches = self.run(move |memory| verify_password(&password, &stored, memory)).await?;
        Ok(matches && exists)
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut HashMemory) -> T + Send + 'static,
    ) -> Result<T, WireError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |memory| {
            let _ = tx.send(f(memory));
        });
        match self.jobs.try_send(job) {
            Ok(()) => {}
            Err(std::sync::mpsc::TrySendError::Full(_)) => {
                return Err(WireError::new(
                    ErrorCode::RateLimited,
                    "the lobby is busy checking passwords; try again in a second",
                )
                .with_retry_after(1));
            }
            Err(std::sync::mpsc::TrySendError::Disconnected(_)) => {
                return Err(WireError::new(ErrorCode::Internal, "the lobby is shutting down"));
            }
        }
        rx.await.map_err(|_| WireError::new(ErrorCode::Internal, "password check failed"))
    }
}

/// A new session token: 32 random bytes as 64 hex digits.
pub(crate) fn new_token() -> Result<String, WireError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| WireError::new(ErrorCode::Internal, format!("no randomness: {e}")))?;
    Ok(hex::encode(bytes))
}

/// What the database stores for a token.
pub(crate) fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for good in ["ann", "a1", "Zed_the-3rd", "x.y"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in ["", "a", "-ann", "ann!", "an n", "é9", &"a".repeat(33)] {
            assert_eq!(check_name(bad).unwrap_err().code, ErrorCode::InvalidName, "{bad}");
        }
    }

    #[test]
    fn hash_and_verify() {
        let cheap = PasswordHashing { memory_kib: 64, iterations: 1 };
        let memory = &mut HashMemory::default();
        let hash = hash_password("correct horse", &cheap, memory).unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{hash}");
        assert!(verify_password("correct horse", &hash, memory));
        assert!(!verify_password("wrong horse", &hash, memory));
        assert!(!verify_password("correct horse", "not a hash", memory));
        // Hashes made by the argon2 crate's own encoder (older lobbies) verify.
        use argon2::password_hash::PasswordHasher;
        let params = Params::new(128, 1, 1, None).unwrap();
        let theirs = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password(b"correct horse")
            .unwrap()
            .to_string();
        assert!(verify_password("correct horse", &theirs, memory));
        assert!(!verify_password("correct horsf", &theirs, memory));
        // The memory grew to the largest cost seen and no further.
        assert_eq!(memory.0.len(), 128);
    }

    #[tokio::test]
    async fn the_pool_hashes_verifies_and_checks_unknown_accounts_against_a_dummy() {
        let cheap = PasswordHashing { memory_kib: 64, iterations: 1 };
        let pool = PasswordPool::new(2, 8, cheap).unwrap();
        let hash = pool.hash("correct horse".into()).await.unwrap();
        assert!(pool.verify("correct horse".into(), Some(hash.clone())).await.unwrap());
        assert!(!pool.verify("wrong horse".into(), Some(hash)).await.unwrap());
        assert!(!pool.verify("not a password".into(), None).await.unwrap());
    }

    #[test]
    fn tokens_are_random_and_hashed() {
        let (a, b) = (new_token().unwrap(), new_token().unwrap());
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert_eq!(token_hash(&a).len(), 32);
        assert_ne!(token_hash(&a), token_hash(&b));
    }
}
