//! Verification of an export bundle: each record's leaf hash, framing and
//! inclusion proof, the signed tree head, the signed export manifest, a full
//! export's completeness and rebuilt root, and any consistency proofs. It
//! collects every problem rather than stopping at the first, and never
//! panics, whatever the bundle holds.

use ed25519_dalek::VerifyingKey;

use super::{BUNDLE_FORMAT_V1, Bundle, Failure, Location, Problem, Report, Scope, export_message};
use crate::canonical::CanonicalJson;
use crate::error::SignatureError;
use crate::hash::Hash;
use crate::hex;
use crate::proof::{verify_consistency, verify_inclusion};
use crate::record::validate_id;
use crate::sth::{
    SignatureBytes, SignedTreeHead, format_rfc3339_ms, key_fingerprint, key_fingerprint_short,
    verify_signature, verifying_key_from_bytes,
};

/// Verifies a bundle using the public key it carries. Check
/// [`Report::key_fingerprint`] against the published one, or use
/// [`verify_bundle_with_key`].
pub fn verify_bundle(bundle: &Bundle) -> Report {
    Verifier::new(bundle, None).run()
}

/// Verifies a bundle against a trusted key: all signatures are checked with
/// `trusted`, and a bundle carrying a different key is reported.
pub fn verify_bundle_with_key(bundle: &Bundle, trusted: &VerifyingKey) -> Report {
    Verifier::new(bundle, Some(trusted)).run()
}

struct Verifier<'a> {
    bundle: &'a Bundle,
    trusted: Option<&'a VerifyingKey>,
    failures: Vec<Failure>,
}

impl<'a> Verifier<'a> {
    fn new(bundle: &'a Bundle, trusted: Option<&'a VerifyingKey>) -> Self {
        Self {
            bundle,
            trusted,
            failures: Vec::new(),
        }
    }

    fn fail(&mut self, location: Location, problem: Problem) {
        self.failures.push(Failure { location, problem });
    }

    fn run(mut self) -> Report {
        let bundle = self.bundle;
        if bundle.format != BUNDLE_FORMAT_V1 {
            self.fail(
                Location::Bundle,
                Problem::UnsupportedFormat {
                    found: bundle.format.clone(),
                },
            );
        }

        let key = self.check_key();
        let head = self.check_head(key.as_ref());
        let leaf_hashes = self.check_records(head.as_ref());
        self.check_full_scope(head.as_ref(), &leaf_hashes);
        self.check_export_signature(key.as_ref(), head.as_ref());
        self.check_consistency(key.as_ref(), head.as_ref());

        let failing_positions: std::collections::BTreeSet<u64> = self
            .failures
            .iter()
            .filter_map(|f| match f.location {
                Location::Record { position, .. } => Some(position),
                _ => None,
            })
            .collect();
        let records_total = bundle.records.len() as u64;
        Report {
            ok: self.failures.is_empty(),
            key_fingerprint: key.as_ref().map(key_fingerprint_short),
            key_fingerprint_full: key.as_ref().map(key_fingerprint),
            tree_size: bundle.tree_head.size,
            root_hash: bundle.tree_head.root_hash.clone(),
            timestamp: format_rfc3339_ms(bundle.tree_head.timestamp_ms),
            records_total,
            records_ok: records_total.saturating_sub(failing_positions.len() as u64),
            failures: self.failures,
        }
    }

    /// The key to check signatures with: the trusted one if given.
    fn check_key(&mut self) -> Option<VerifyingKey> {
        let parsed = match hex::decode_array::<32>(&self.bundle.public_key) {
            Err(error) => {
                self.fail(
                    Location::PublicKey,
                    Problem::MalformedHex {
                        field: "public_key".to_owned(),
                        error,
                    },
                );
                None
            }
            Ok(bytes) => match verifying_key_from_bytes(&bytes) {
                Ok(key) => Some(key),
                Err(SignatureError::InvalidPublicKey | SignatureError::BadSignature) => {
                    self.fail(Location::PublicKey, Problem::InvalidPublicKey);
                    None
                }
            },
        };
        match self.trusted {
            Some(trusted) => {
                if parsed.as_ref() != Some(trusted) {
                    let found = parsed
                        .as_ref()
                        .map_or_else(|| "(unreadable)".to_owned(), key_fingerprint_short);
                    self.fail(
                        Location::PublicKey,
                        Problem::UntrustedKey {
                            expected: key_fingerprint_short(trusted),
                            found,
                        },
                    );
                }
                Some(*trusted)
            }
            None => parsed,
        }
    }

    /// The head, if its fields decode (its root is used for the proofs even
    /// when the signature fails, so record-level findings are still listed).
    fn check_head(&mut self, key: Option<&VerifyingKey>) -> Option<SignedTreeHead> {
        match self.bundle.tree_head.parse() {
            Err((field, error)) => {
                self.fail(
                    Location::TreeHead,
                    Problem::MalformedHex {
                        field: format!("tree_head.{field}"),
                        error,
                    },
                );
                None
            }
            Ok(head) => {
                match key {
                    Some(key) => {
                        if head.verify(key).is_err() {
                            self.fail(Location::TreeHead, Problem::BadSignature);
                        }
                    }
                    None => self.fail(
                        Location::TreeHead,
                        Problem::Unverifiable {
                            reason: "no usable public key".to_owned(),
                        },
                    ),
                }
                Some(head)
            }
        }
    }

    /// Checks each record; returns the recomputed leaf hashes in bundle
    /// order.
    fn check_records(&mut self, head: Option<&SignedTreeHead>) -> Vec<Hash> {
        let bundle = self.bundle;
        let size = bundle.tree_head.size;
        let mut computed_hashes = Vec::with_capacity(bundle.records.len());
        let mut highest: Option<u64> = None;
        for (position, record) in bundle.records.iter().enumerate() {
            let location = Location::Record {
                position: position as u64,
                index: record.index,
                id: record.id.clone(),
            };

            // Framing rules. The hash below is computed regardless, so an
            // invalid field never masks altered content.
            if let Err(error) = crate::record::RecordKind::new(record.kind.as_str()) {
                self.fail(location.clone(), Problem::InvalidRecord { error });
            }
            if let Err(error) = validate_id(&record.id) {
                self.fail(location.clone(), Problem::InvalidRecord { error });
            }
            if let Err(error) = CanonicalJson::from_canonical(record.payload.as_str()) {
                self.fail(location.clone(), Problem::PayloadNotCanonical { error });
            }

            let computed = record.computed_leaf_hash();
            computed_hashes.push(computed);
            match Hash::from_hex(&record.leaf_hash) {
                Err(error) => self.fail(
                    location.clone(),
                    Problem::MalformedHex {
                        field: "leaf_hash".to_owned(),
                        error,
                    },
                ),
                Ok(recorded) if recorded != computed => self.fail(
                    location.clone(),
                    Problem::LeafHashMismatch { recorded, computed },
                ),
                Ok(_) => {}
            }

            if let Some(previous) = highest
                && record.index <= previous
            {
                self.fail(
                    location.clone(),
                    Problem::OutOfOrder {
                        index: record.index,
                        previous,
                    },
                );
            }
            highest = Some(highest.map_or(record.index, |h| h.max(record.index)));

            if record.index >= size {
                self.fail(
                    location.clone(),
                    Problem::IndexOutOfRange {
                        index: record.index,
                        size,
                    },
                );
                continue;
            }

            let mut proof = Vec::with_capacity(record.inclusion_proof.len());
            let mut proof_ok = true;
            for (i, text) in record.inclusion_proof.iter().enumerate() {
                match Hash::from_hex(text) {
                    Ok(h) => proof.push(h),
                    Err(error) => {
                        proof_ok = false;
                        self.fail(
                            location.clone(),
                            Problem::MalformedHex {
                                field: format!("inclusion_proof[{i}]"),
                                error,
                            },
                        );
                    }
                }
            }
            // Full exports are checked by rebuilding the root; their proofs
            // are optional but checked when present.
            let check_proof = bundle.scope == Scope::Selection || !proof.is_empty();
            if let (true, true, Some(head)) = (proof_ok, check_proof, head) {
                if bundle.scope == Scope::Selection && proof.is_empty() && size > 1 {
                    self.fail(location.clone(), Problem::MissingInclusionProof);
                } else if let Err(error) =
                    verify_inclusion(&computed, record.index, size, &proof, &head.root_hash)
                {
                    self.fail(location.clone(), Problem::InclusionProof { error });
                }
            }
        }
        computed_hashes
    }

    /// Full scope: every index `0..size` present, and the rebuilt root equal
    /// to the signed one.
    fn check_full_scope(&mut self, head: Option<&SignedTreeHead>, computed: &[Hash]) {
        if self.bundle.scope != Scope::Full {
            return;
        }
        let size = self.bundle.tree_head.size;
        let mut indices: Vec<u64> = self
            .bundle
            .records
            .iter()
            .map(|r| r.index)
            .filter(|&i| i < size)
            .collect();
        indices.sort_unstable();
        indices.dedup();
        let mut expected = 0u64;
        for &i in indices.iter().chain(core::iter::once(&size)) {
            if i > expected {
                self.fail(
                    Location::Bundle,
                    Problem::MissingRecords {
                        from: expected,
                        to: i - 1,
                    },
                );
            }
            expected = i.saturating_add(1);
        }
        // The rebuild is only meaningful when the records are exactly
        // `0..size` in order; otherwise the problems above already say why.
        let in_order = self
            .bundle
            .records
            .iter()
            .enumerate()
            .all(|(pos, r)| r.index == pos as u64);
        if let (true, true, Some(head)) = (in_order, computed.len() as u64 == size, head) {
            let root = crate::tree::root_from_leaf_hashes(computed);
            if root != head.root_hash {
                self.fail(
                    Location::TreeHead,
                    Problem::RootMismatch {
                        signed: head.root_hash,
                        computed: root,
                    },
                );
            }
        }
    }

    fn check_export_signature(
        &mut self,
        key: Option<&VerifyingKey>,
        head: Option<&SignedTreeHead>,
    ) {
        let signature = match SignatureBytes::from_hex(&self.bundle.export_signature) {
            Ok(s) => s,
            Err(error) => {
                self.fail(
                    Location::ExportSignature,
                    Problem::MalformedHex {
                        field: "export_signature".to_owned(),
                        error,
                    },
                );
                return;
            }
        };
        // The manifest covers the leaf hashes as the server recorded them.
        let recorded: Option<Vec<(u64, Hash)>> = self
            .bundle
            .records
            .iter()
            .map(|r| Hash::from_hex(&r.leaf_hash).ok().map(|h| (r.index, h)))
            .collect();
        let (Some(key), Some(head), Some(entries)) = (key, head, recorded) else {
            self.fail(
                Location::ExportSignature,
                Problem::Unverifiable {
                    reason: "public key, tree head or a leaf hash is unreadable".to_owned(),
                },
            );
            return;
        };
        let message = export_message(&head.head(), self.bundle.scope, entries);
        if verify_signature(key, &message, &signature).is_err() {
            self.fail(Location::ExportSignature, Problem::BadSignature);
        }
    }

    fn check_consistency(&mut self, key: Option<&VerifyingKey>, head: Option<&SignedTreeHead>) {
        let bundle = self.bundle;
        for (position, entry) in bundle.consistency.iter().enumerate() {
            let location = Location::Consistency {
                position: position as u64,
                from_size: entry.from.size,
            };
            let from = match entry.from.parse() {
                Ok(from) => from,
                Err((field, error)) => {
                    self.fail(
                        location,
                        Problem::MalformedHex {
                            field: format!("from.{field}"),
                            error,
                        },
                    );
                    continue;
                }
            };
            if let Some(key) = key
                && from.verify(key).is_err()
            {
                self.fail(location.clone(), Problem::BadSignature);
            }
            let mut proof = Vec::with_capacity(entry.proof.len());
            let mut proof_ok = true;
            for (i, text) in entry.proof.iter().enumerate() {
                match Hash::from_hex(text) {
                    Ok(h) => proof.push(h),
                    Err(error) => {
                        proof_ok = false;
                        self.fail(
                            location.clone(),
                            Problem::MalformedHex {
                                field: format!("proof[{i}]"),
                                error,
                            },
                        );
                    }
                }
            }
            if let (true, Some(head)) = (proof_ok, head)
                && let Err(error) = verify_consistency(
                    from.size,
                    head.size,
                    &from.root_hash,
                    &head.root_hash,
                    &proof,
                )
            {
                self.fail(location, Problem::ConsistencyProof { error });
            }
        }
    }
}
