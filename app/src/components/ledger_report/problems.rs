//! Problems and proof failures in words, in the interface language (the
//! verifier's own messages are English only).

use jiliang_ledger::{CanonicalError, Hash, HexError, Location, Problem, ProofError, RecordError};

use crate::i18n::{I18n, Msg};
use crate::util::short_hex;

pub(super) fn location_text(l: &Location, i18n: I18n) -> String {
    match l {
        Location::Bundle => i18n.t(Msg::LocBundle).to_owned(),
        Location::PublicKey => i18n.t(Msg::LocPublicKey).to_owned(),
        Location::TreeHead => i18n.t(Msg::LocTreeHead).to_owned(),
        Location::ExportSignature => i18n.t(Msg::LocExportSignature).to_owned(),
        Location::Consistency {
            position,
            from_size,
        } => i18n.tf(
            Msg::LocConsistency,
            &[
                ("n", &(position + 1).to_string()),
                ("size", &from_size.to_string()),
            ],
        ),
        Location::Record {
            position, index, ..
        } => i18n.tf(
            Msg::LocRecord,
            &[
                ("n", &(position + 1).to_string()),
                ("index", &index.to_string()),
            ],
        ),
    }
}

/// The problem's machine name (as the crate serialises it), for tests and
/// styling.
pub(super) fn problem_code(p: &Problem) -> &'static str {
    match p {
        Problem::UnsupportedFormat { .. } => "unsupported_format",
        Problem::MalformedHex { .. } => "malformed_hex",
        Problem::InvalidPublicKey => "invalid_public_key",
        Problem::UntrustedKey { .. } => "untrusted_key",
        Problem::BadSignature => "bad_signature",
        Problem::Unverifiable { .. } => "unverifiable",
        Problem::InvalidRecord { .. } => "invalid_record",
        Problem::PayloadNotCanonical { .. } => "payload_not_canonical",
        Problem::LeafHashMismatch { .. } => "leaf_hash_mismatch",
        Problem::IndexOutOfRange { .. } => "index_out_of_range",
        Problem::OutOfOrder { .. } => "out_of_order",
        Problem::MissingRecords { .. } => "missing_records",
        Problem::InclusionProof { .. } => "inclusion_proof",
        Problem::MissingInclusionProof => "missing_inclusion_proof",
        Problem::ConsistencyProof { .. } => "consistency_proof",
        Problem::RootMismatch { .. } => "root_mismatch",
    }
}

/// The crate's own words where ours are only a summary (parser positions).
pub(super) fn technical_detail(p: &Problem) -> Option<String> {
    match p {
        Problem::PayloadNotCanonical { error } => Some(error.to_string()),
        Problem::InvalidRecord {
            error: RecordError::InvalidId { reason, .. },
        } => Some(reason.clone()),
        Problem::InvalidRecord {
            error: RecordError::Payload(e),
        } => Some(canonical_detail(e)),
        _ => None,
    }
}

pub(super) fn canonical_detail(e: &CanonicalError) -> String {
    e.to_string()
}

pub(super) fn h(hash: &Hash) -> String {
    short_hex(&hash.to_hex())
}

pub(super) fn problem_text(p: &Problem, at: &Location, i18n: I18n) -> String {
    match p {
        Problem::UnsupportedFormat { found } => {
            i18n.tf(Msg::PrUnsupportedFormat, &[("found", found.as_str())])
        }
        Problem::MalformedHex { field, error } => i18n.tf(
            Msg::PrMalformedHex,
            &[
                ("field", field.as_str()),
                ("detail", &hex_text(error, i18n)),
            ],
        ),
        Problem::InvalidPublicKey => i18n.t(Msg::PrInvalidPublicKey).to_owned(),
        Problem::UntrustedKey { expected, found } => i18n.tf(
            Msg::PrUntrustedKey,
            &[("expected", expected.as_str()), ("found", found.as_str())],
        ),
        Problem::BadSignature => match at {
            Location::TreeHead | Location::Consistency { .. } => {
                i18n.t(Msg::PrBadSignatureHead).to_owned()
            }
            Location::ExportSignature => i18n.t(Msg::PrBadSignatureExport).to_owned(),
            _ => i18n.t(Msg::PrBadSignature).to_owned(),
        },
        Problem::Unverifiable { .. } => i18n.t(Msg::PrUnverifiable).to_owned(),
        Problem::InvalidRecord { error } => match error {
            RecordError::InvalidKind { kind } => {
                i18n.tf(Msg::PrInvalidKind, &[("kind", kind.as_str())])
            }
            RecordError::InvalidId { .. } => i18n.t(Msg::PrInvalidId).to_owned(),
            RecordError::Payload(_) => i18n.t(Msg::PrInvalidRecord).to_owned(),
        },
        Problem::PayloadNotCanonical { .. } => i18n.t(Msg::PrNotCanonical).to_owned(),
        Problem::LeafHashMismatch { recorded, computed } => i18n.tf(
            Msg::PrLeafHashMismatch,
            &[("recorded", &h(recorded)), ("computed", &h(computed))],
        ),
        Problem::IndexOutOfRange { index, size } => i18n.tf(
            Msg::PrIndexOutOfRange,
            &[("index", &index.to_string()), ("size", &size.to_string())],
        ),
        Problem::OutOfOrder { index, previous } => i18n.tf(
            Msg::PrOutOfOrder,
            &[
                ("index", &index.to_string()),
                ("previous", &previous.to_string()),
            ],
        ),
        Problem::MissingRecords { from, to } => i18n.tf(
            Msg::PrMissingRecords,
            &[("from", &from.to_string()), ("to", &to.to_string())],
        ),
        Problem::InclusionProof { error } => i18n.tf(
            Msg::PrInclusionProof,
            &[("detail", &proof_text(error, i18n))],
        ),
        Problem::MissingInclusionProof => i18n.t(Msg::PrMissingInclusionProof).to_owned(),
        Problem::ConsistencyProof { error } => i18n.tf(
            Msg::PrConsistencyProof,
            &[("detail", &proof_text(error, i18n))],
        ),
        Problem::RootMismatch { signed, computed } => i18n.tf(
            Msg::PrRootMismatch,
            &[("signed", &h(signed)), ("computed", &h(computed))],
        ),
    }
}

pub(super) fn hex_text(e: &HexError, i18n: I18n) -> String {
    match e {
        HexError::OddLength { len } => i18n.tf(Msg::HexOddLength, &[("len", &len.to_string())]),
        HexError::InvalidChar { position, found } => i18n.tf(
            Msg::HexInvalidChar,
            &[("pos", &position.to_string()), ("ch", &found.to_string())],
        ),
        HexError::WrongLength { expected, actual } => i18n.tf(
            Msg::HexWrongLength,
            &[
                ("expected", &expected.to_string()),
                ("actual", &actual.to_string()),
            ],
        ),
    }
}

pub(super) fn proof_text(e: &ProofError, i18n: I18n) -> String {
    match e {
        ProofError::IndexOutOfRange { index, size } => i18n.tf(
            Msg::PfIndexOutOfRange,
            &[("index", &index.to_string()), ("size", &size.to_string())],
        ),
        ProofError::SizeBeyondTree { size, available } => i18n.tf(
            Msg::PfSizeBeyondTree,
            &[
                ("size", &size.to_string()),
                ("available", &available.to_string()),
            ],
        ),
        ProofError::OldSizeGreater { old_size, new_size } => i18n.tf(
            Msg::PfOldSizeGreater,
            &[
                ("old", &old_size.to_string()),
                ("new", &new_size.to_string()),
            ],
        ),
        ProofError::WrongProofLength { expected, actual } => i18n.tf(
            Msg::PfWrongProofLength,
            &[
                ("expected", &expected.to_string()),
                ("actual", &actual.to_string()),
            ],
        ),
        ProofError::RootMismatch { expected, computed } => i18n.tf(
            Msg::PfRootMismatch,
            &[("expected", &h(expected)), ("computed", &h(computed))],
        ),
        ProofError::OldRootMismatch { expected, computed } => i18n.tf(
            Msg::PfOldRootMismatch,
            &[("expected", &h(expected)), ("computed", &h(computed))],
        ),
        ProofError::NewRootMismatch { expected, computed } => i18n.tf(
            Msg::PfNewRootMismatch,
            &[("expected", &h(expected)), ("computed", &h(computed))],
        ),
    }
}
