//! The percentage hash behind percentage splits and multivariate variants.
//!
//! Flagsmith joins the ids with commas, takes the MD5 digest as one 128-bit
//! integer and maps it to `[0, 100)` with `(n % 9999) / 9998 * 100`. The single
//! residue that would give exactly 100 is re-hashed with the ids repeated.

use md5::{Digest, Md5};

/// One id of the hash input, given as pieces so that composite ids (such as an
/// identity key `<environment key>_<identifier>`) need no allocation.
pub type IdPieces<'a> = &'a [&'a str];

/// Returns the percentage in `[0, 100)` for the ids, exactly as Flagsmith does.
pub fn percentage(ids: &[IdPieces<'_>]) -> f64 {
    let mut iterations = 1;
    loop {
        let mut hasher = Md5::new();
        let mut first = true;
        for _ in 0..iterations {
            for id in ids {
                if !first {
                    hasher.update(b",");
                }
                first = false;
                for piece in *id {
                    hasher.update(piece.as_bytes());
                }
            }
        }
        let digest: [u8; 16] = hasher.finalize().into();
        let residue = u128::from_be_bytes(digest) % 9999;
        if residue != 9998 {
            return (residue as f64 / 9998.0) * 100.0;
        }
        iterations += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        // Computed with flag_engine.utils.hashing.get_hashed_percentage_for_object_ids (11.1.1).
        assert_eq!(percentage(&[&["12"], &["93"]]), 27.655531106221243);
        assert_eq!(percentage(&[&["env_user"], &["x"]]), 26.325265053010604);
        assert_eq!(percentage(&[&["env_", "user"], &["x"]]), 26.325265053010604);
        assert_eq!(
            percentage(&[&["78986"], &["n9fbf9h3v4fFgH3U3ngWhb_user-1"]]),
            15.623124624924985
        );
        // "seg,27259" hashes to the residue 9998 (exactly 100%): re-hashed as "seg,27259,seg,27259".
        assert_eq!(percentage(&[&["seg"], &["27259"]]), 58.38167633526705);
    }
}
