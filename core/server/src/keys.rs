//! Random keys. Client keys are 22 URL-safe characters like Flagsmith's
//! (shortuuid); server-side keys are `ser.` plus 22 more; admin keys are
//! `<8-char prefix>.<32-char secret>`, of which only the prefix and a SHA-256
//! of the whole key are stored; proxy keys are the same behind `pk.`
//! (`pk.<prefix>.<secret>`). All come from the operating system's RNG.

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

/// A console session id or CSRF token: 43 alphanumerics, about 256 random bits.
pub fn session_token() -> String {
    random(43)
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
    let prefix = random(PREFIX_LEN);
    let key = format!("{prefix}.{}", random(32));
    (prefix, key)
}

/// What every proxy key starts with (Flagsmith's `proxy_key`).
pub const PROXY_PREFIX: &str = "pk.";

/// Length of the lookup prefix of admin and proxy keys.
pub const PREFIX_LEN: usize = 8;

/// A new proxy key: `(prefix, full key)`.
pub fn proxy_key() -> (String, String) {
    let prefix = random(PREFIX_LEN);
    let key = format!("{PROXY_PREFIX}{prefix}.{}", random(32));
    (prefix, key)
}

/// The lookup prefix of a presented proxy key, if it has the shape of one.
pub fn proxy_key_prefix(key: &str) -> Option<&str> {
    let (prefix, secret) = key.strip_prefix(PROXY_PREFIX)?.split_once('.')?;
    let alphanumeric = |s: &str| s.bytes().all(|b| b.is_ascii_alphanumeric());
    (prefix.len() == PREFIX_LEN
        && alphanumeric(prefix)
        && !secret.is_empty()
        && alphanumeric(secret))
    .then_some(prefix)
}

/// The stored hash of an admin key (or of a sync token, for comparison).
pub fn hash(key: &str) -> Vec<u8> {
    Sha256::digest(key.as_bytes()).to_vec()
}

/// The SQL condition for a server-side key that may be used now: active and
/// not past its expiry. Written against the alias `k` for `server_keys`; the
/// one home of the rule the SDK endpoints, the document endpoint and the edge
/// key list all apply.
pub const USABLE_SERVER_KEY: &str = "k.active AND (k.expires_at IS NULL OR k.expires_at > now())";

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
        let (prefix, key) = proxy_key();
        assert!(key.starts_with(&format!("pk.{prefix}.")));
        assert_eq!(key.len(), 44);
        assert_eq!(proxy_key_prefix(&key), Some(prefix.as_str()));
        for bad in [
            "",
            "pk.",
            "pk.abc.def",
            "ser.abcdefgh.x",
            "pk.abcdefgh.",
            "pk.abcdefg!.x",
            &prefix,
        ] {
            assert_eq!(proxy_key_prefix(bad), None, "{bad}");
        }
    }
}
