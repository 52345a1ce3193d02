//! Random keys. Client keys are 22 URL-safe characters like Flagsmith's
//! (shortuuid); server-side keys are `ser.` plus 22 more; admin keys are
//! `<8-char prefix>.<32-char secret>`, of which only the prefix and a SHA-256
//! of the whole key are stored. All come from the operating system's RNG.

use rand::Rng;
use rand::distributions::Alphanumeric;
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};

fn random(len: usize) -> String {
    OsRng
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// A new client-side environment key.
pub fn client_key() -> String {
    random(22)
}

/// A new server-side key.
pub fn server_key() -> String {
    format!("{}{}", flagedge_engine::KeyKind::SERVER_PREFIX, random(22))
}

/// A new admin key: `(prefix, full key)`.
pub fn admin_key() -> (String, String) {
    let prefix = random(8);
    let key = format!("{prefix}.{}", random(32));
    (prefix, key)
}

/// The stored hash of an admin key (or of a sync token, for comparison).
pub fn hash(key: &str) -> Vec<u8> {
    Sha256::digest(key.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_have_their_shapes() {
        assert_eq!(client_key().len(), 22);
        assert!(server_key().starts_with("ser."));
        assert_eq!(server_key().len(), 26);
        let (prefix, key) = admin_key();
        assert!(key.starts_with(&format!("{prefix}.")));
        assert_eq!(key.len(), 41);
        assert_ne!(client_key(), client_key());
    }
}
