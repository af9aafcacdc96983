//! Passwords, session tokens and account names.
//!
//! Passwords are hashed with Argon2id (PHC strings in the database). Session
//! tokens are 256 random bits shown to the client once, as hex; the database
//! keeps only their SHA-256.

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use gamestore_protocol::{ErrorCode, WireError};
use sha2::{Digest, Sha256};

use crate::config::PasswordHashing;

/// Shortest and longest accepted passwords, in characters.
pub const PASSWORD_CHARS: std::ops::RangeInclusive<usize> = 8..=128;

/// Account names: 2–32 of ASCII letters, digits, `_`, `-` and `.`,
/// starting with a letter or digit.
pub fn check_name(name: &str) -> Result<(), WireError> {
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

pub fn check_password(password: &str) -> Result<(), WireError> {
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

fn hasher(cost: &PasswordHashing) -> Argon2<'static> {
    let params = Params::new(cost.memory_kib, cost.iterations, 1, None)
        .unwrap_or_else(|_| Params::default());
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password with a fresh random salt. CPU- and memory-heavy: run it
/// on a blocking thread.
pub fn hash_password(password: &str, cost: &PasswordHashing) -> Result<String, WireError> {
    hasher(cost)
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| WireError::new(ErrorCode::Internal, format!("password hashing failed: {e}")))
}

/// True when `password` matches the stored PHC string. Heavy, like hashing.
pub fn verify_password(password: &str, stored: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    // The parameters come from the stored string, so older hashes keep working.
    Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok()
}

/// A new session token: 32 random bytes as 64 hex digits.
pub fn new_token() -> Result<String, WireError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| WireError::new(ErrorCode::Internal, format!("no randomness: {e}")))?;
    Ok(hex::encode(bytes))
}

/// What the database stores for a token.
pub fn token_hash(token: &str) -> Vec<u8> {
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
        let hash = hash_password("correct horse", &cheap).unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("wrong horse", &hash));
        assert!(!verify_password("correct horse", "not a hash"));
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
