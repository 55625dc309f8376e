//! The auditor's tools over the `jiliang-ledger` crate:
//!
//! * `ledger root|prove-inclusion|prove-consistency`: RFC 6962 tree
//!   heads and proofs from a JSON array of hex-encoded leaf data, so anyone
//!   can recompute what the server publishes from the raw leaves.
//! * `verify EXPORT`: offline verification of an export bundle
//!   (`jiliang-ledger-export/1`) with `verify_bundle`, or
//!   `verify_bundle_with_key` when `--public-key` pins the log's key.
//!
//! Exit codes: 0 ok; 1 the bundle was read but fails verification; 2 the
//! input is unreadable or malformed, or a flag is out of range.

use std::path::Path;

use jiliang_ledger::{
    Bundle, Hash, KeyParseError, Report, consistency_proof_from_leaf_hashes, hex,
    inclusion_proof_from_leaf_hashes, leaf_hash, root_from_leaf_hashes, verify_bundle,
    verify_bundle_with_key, verifying_key_from_hex,
};
use serde::Serialize;
use serde_json::Value;

use crate::args::{
    LeavesArgs, LedgerArgs, LedgerCommand, OutputFormat, ProveConsistencyArgs, ProveInclusionArgs,
    VerifyOptions,
};
use crate::csv::io_reason;
use crate::{Failure, json};

/// `ledger root` JSON.
#[derive(Debug, Serialize)]
pub struct RootReport {
    pub size: u64,
    pub root: String,
}

/// `ledger prove-inclusion` and `ledger prove-consistency` JSON.
#[derive(Debug, Serialize)]
pub struct ProofReport {
    pub proof: Vec<String>,
}

pub fn run(args: &LedgerArgs) -> Result<String, Failure> {
    match &args.command {
        LedgerCommand::Root(a) => root(&a.leaves),
        LedgerCommand::ProveInclusion(a) => prove_inclusion(a),
        LedgerCommand::ProveConsistency(a) => prove_consistency(a),
    }
}

fn read_file(path: &Path) -> Result<Vec<u8>, Failure> {
    std::fs::read(path)
        .map_err(|e| Failure::input(format!("cannot read {}: {}", path.display(), io_reason(&e))))
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The leaf hashes of a JSON array of hex leaf data.
fn read_leaves(path: &Path) -> Result<Vec<Hash>, Failure> {
    let name = path.display();
    let bytes = read_file(path)?;
    let value: Value = serde_json::from_slice(&bytes)
        .map_err(|e| Failure::input(format!("{name}: not JSON: {e}")))?;
    let Value::Array(items) = value else {
        return Err(Failure::input(format!(
            "{name}: expected a JSON array of hex strings, found {}",
            kind(&value)
        )));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| match item {
            Value::String(text) => hex::decode(text)
                .map(|data| leaf_hash(&data))
                .map_err(|e| Failure::input(format!("{name}: leaf [{i}]: {e}"))),
            other => Err(Failure::input(format!(
                "{name}: leaf [{i}] is {}, expected a hex string",
                kind(other)
            ))),
        })
        .collect()
}

/// The leaves and the tree size (default: all of them).
fn leaves_and_size(args: &LeavesArgs) -> Result<(Vec<Hash>, u64), Failure> {
    let leaves = read_leaves(&args.leaves)?;
    let available = leaves.len() as u64;
    let size = args.size.unwrap_or(available);
    if size > available {
        return Err(Failure::input(format!(
            "--size {size} is larger than the {available} leaves in {}",
            args.leaves.display()
        )));
    }
    Ok((leaves, size))
}

fn prefix(leaves: &[Hash], size: u64) -> &[Hash] {
    let n = usize::try_from(size).unwrap_or(usize::MAX);
    leaves.get(..n).unwrap_or(leaves)
}

fn root(args: &LeavesArgs) -> Result<String, Failure> {
    let (leaves, size) = leaves_and_size(args)?;
    let root = root_from_leaf_hashes(prefix(&leaves, size)).to_hex();
    match args.format {
        OutputFormat::Json => json(&RootReport { size, root }),
        OutputFormat::Text => Ok(format!("size: {size}\nroot: {root}\n")),
    }
}

fn hash_lines(proof: &[Hash]) -> String {
    proof
        .iter()
        .enumerate()
        .map(|(i, h)| format!("  {:>2}. {h}\n", i + 1))
        .collect()
}

fn prove_inclusion(args: &ProveInclusionArgs) -> Result<String, Failure> {
    let (leaves, size) = leaves_and_size(&args.leaves)?;
    let index = args.index;
    if index >= size {
        return Err(Failure::input(format!(
            "--index {index} is not below the tree size {size}"
        )));
    }
    let proof = inclusion_proof_from_leaf_hashes(&leaves, index, size)
        .map_err(|e| Failure::input(e.to_string()))?;
    match args.leaves.format {
        OutputFormat::Json => json(&ProofReport {
            proof: proof.iter().map(Hash::to_hex).collect(),
        }),
        OutputFormat::Text => {
            let leaf = usize::try_from(index)
                .ok()
                .and_then(|i| leaves.get(i))
                .map_or_else(String::new, Hash::to_hex);
            Ok(format!(
                "inclusion proof of leaf {index} in the tree of size {size} ({} hashes, leaf level first)\n\
                 leaf hash: {leaf}\nroot: {}\n{}",
                proof.len(),
                root_from_leaf_hashes(prefix(&leaves, size)),
                hash_lines(&proof)
            ))
        }
    }
}

fn prove_consistency(args: &ProveConsistencyArgs) -> Result<String, Failure> {
    let (leaves, size) = leaves_and_size(&args.leaves)?;
    let old = args.old_size;
    if old > size {
        return Err(Failure::input(format!(
            "--old-size {old} is larger than the tree size {size}"
        )));
    }
    let proof = consistency_proof_from_leaf_hashes(&leaves, old, size)
        .map_err(|e| Failure::input(e.to_string()))?;
    match args.leaves.format {
        OutputFormat::Json => json(&ProofReport {
            proof: proof.iter().map(Hash::to_hex).collect(),
        }),
        OutputFormat::Text => Ok(format!(
            "consistency proof from size {old} to size {size} ({} hashes)\n\
             old root: {}\nnew root: {}\n{}",
            proof.len(),
            root_from_leaf_hashes(prefix(&leaves, old)),
            root_from_leaf_hashes(prefix(&leaves, size)),
            hash_lines(&proof)
        )),
    }
}

// ---------------------------------------------------------------------------
// verify
// ---------------------------------------------------------------------------

/// `verify EXPORT`: exit 0 when the bundle verifies, 1 when it does
/// not (the report names each failing record), 2 when it cannot be read.
pub fn verify(export: &Path, args: &VerifyOptions) -> Result<String, Failure> {
    let bytes = read_file(export)?;
    let bundle: Bundle = serde_json::from_slice(&bytes).map_err(|e| {
        Failure::input(format!(
            "{}: not a ledger export bundle: {e}",
            export.display()
        ))
    })?;
    let pinned = args.public_key.is_some();
    let report = match &args.public_key {
        Some(text) => {
            let key = verifying_key_from_hex(text.trim()).map_err(|e| {
                Failure::input(match e {
                    KeyParseError::Hex(h) => format!("--public-key: {h}"),
                    KeyParseError::Key(k) => format!("--public-key: {k}"),
                })
            })?;
            verify_bundle_with_key(&bundle, &key)
        }
        None => verify_bundle(&bundle),
    };
    let text = match args.format {
        OutputFormat::Json => json(&report)?,
        OutputFormat::Text => render(&report, pinned),
    };
    if report.ok {
        return Ok(text);
    }
    let first = report
        .failures
        .first()
        .map_or_else(|| "unknown problem".to_owned(), ToString::to_string);
    let more = match report.failures.len() {
        0 | 1 => String::new(),
        2 => " (and 1 more problem)".to_owned(),
        n => format!(" (and {} more problems)", n - 1),
    };
    Err(Failure::failed(
        format!("verification failed: {first}{more}"),
        text,
    ))
}

fn render(r: &Report, pinned: bool) -> String {
    let key = r.key_fingerprint.as_deref().unwrap_or("(unreadable)");
    let signed = r.timestamp.as_deref().unwrap_or("(time out of range)");
    if r.ok {
        let mut out = format!(
            "ok: {} records, tree size {}, root {}, key fingerprint {key}, signed {signed}\n",
            r.records_total, r.tree_size, r.root_hash
        );
        if !pinned {
            out.push_str(
                "note: checked with the key inside the export; compare the fingerprint with the one \
                 your institution publishes, or pass --public-key\n",
            );
        }
        return out;
    }
    let mut out = format!(
        "FAILED: {} of {} records verified, tree size {}, root {}, key fingerprint {key}\n",
        r.records_ok, r.records_total, r.tree_size, r.root_hash
    );
    for f in &r.failures {
        out.push_str(&format!("- {f}\n"));
    }
    out
}
