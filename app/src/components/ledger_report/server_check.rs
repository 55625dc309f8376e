//! The server's side of a verification: its published key, and whether its
//! current log extends the file's head (a consistency proof checked here).

use jiliang_ledger::{
    BundleTreeHead, Hash, SignatureBytes, SignedTreeHead, VerifyingKey, verify_consistency,
};
use jiliang_protocol::ledger::{ConsistencyParams, ConsistencyView, HeadView};

use crate::api::{self, V1};

#[derive(Clone, Debug, PartialEq)]
pub(super) enum ServerKey {
    Loading,
    /// The key, parsed, and the head it came with (boxed: large).
    Known(Box<VerifyingKey>, HeadView),
    Unavailable,
}

/// The bundle's key against the server's.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum KeyRelation {
    Loading,
    Matches,
    Differs { expected: String, found: String },
    BundleKeyUnreadable,
    NoServerKey,
}

/// Does this server's current log extend the file's head?
#[derive(Clone, Debug, PartialEq)]
pub(super) enum LogCheck {
    NotApplicable,
    Extends(u64),
    Forked,
    Unchecked,
}

pub(super) async fn check_log(
    key: ServerKey,
    bundle_head: BundleTreeHead,
    same_key: bool,
) -> LogCheck {
    let ServerKey::Known(key, sh) = key else {
        return LogCheck::NotApplicable;
    };
    let Ok(old) = bundle_head.parse() else {
        return LogCheck::NotApplicable;
    };
    if !same_key {
        return LogCheck::NotApplicable;
    }
    let (Ok(root_hash), Ok(signature)) = (
        Hash::from_hex(&sh.root_hash),
        SignatureBytes::from_hex(&sh.signature),
    ) else {
        return LogCheck::Unchecked;
    };
    let new = SignedTreeHead {
        size: sh.size,
        timestamp_ms: sh.timestamp_ms,
        root_hash,
        signature,
    };
    if new.verify(&key).is_err() || old.size > new.size || old.size == 0 {
        return LogCheck::Unchecked;
    }
    let params = ConsistencyParams {
        old_size: old.size,
        size: Some(new.size),
    };
    let Ok(path) = api::with_query(&format!("{V1}/ledger/proof/consistency"), &params) else {
        return LogCheck::Unchecked;
    };
    let Ok(view) = api::get::<ConsistencyView>(&path, "en").await else {
        return LogCheck::Unchecked;
    };
    let proof: Result<Vec<Hash>, _> = view.proof.iter().map(|h| Hash::from_hex(h)).collect();
    let Ok(proof) = proof else {
        return LogCheck::Forked;
    };
    match verify_consistency(old.size, new.size, &old.root_hash, &new.root_hash, &proof) {
        Ok(()) => LogCheck::Extends(new.size),
        Err(_) => LogCheck::Forked,
    }
}
