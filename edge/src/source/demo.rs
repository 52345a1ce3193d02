//! The demo environments, built into the binary: what `flagedge-edge` serves with
//! no configuration at all.

use bytes::Bytes;

use super::{Loader, ServerKeysFile};

/// The embedded documents.
pub const DOCUMENTS: [&[u8]; 2] = [
    include_bytes!("../../../examples/environments/shop.json"),
    include_bytes!("../../../examples/environments/sample.json"),
];

/// The embedded server-side keys.
pub const SERVER_KEYS: &[u8] = include_bytes!("../../../examples/environments/server-keys.json");

/// Loads the demo environments.
pub async fn load(loader: &Loader) -> anyhow::Result<()> {
    let keys: ServerKeysFile = serde_json::from_slice(SERVER_KEYS)?;
    loader.set_source_key_pairs(keys.environment_key_pairs);
    for document in DOCUMENTS {
        loader.offer(Bytes::from_static(document), "demo").await?;
    }
    Ok(())
}
