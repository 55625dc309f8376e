//! Fuzzing the ledger's decoders of outside input: the canonical JSON
//! parser (`canonicalize_str`), export bundles (parsed with serde, then
//! verified, with and without a trusted key) and hex. Each must answer every
//! input with a value, never panic nor hang; round trips must hold
//! (canonical form is a fixed point; hex encode → decode is the identity).
//!
//! Default run: `cargo test -p jiliang-ledger --test fuzz`; long run:
//! `JILIANG_FUZZ_CASES=1000000 cargo test -p jiliang-ledger --test fuzz --release`.

// One mutator for all crates' fuzz tests, kept beside the protocol's.
#[path = "../../protocol/tests/fuzz/mutate.rs"]
mod mutate;

use std::sync::LazyLock;
use std::time::Duration;

use jiliang_ledger::{
    Bundle, CanonicalJson, canonicalize_str, hex, signing_key_from_seed, verify_bundle,
    verify_bundle_with_key,
};
use proptest::prelude::*;

static SEEDS: LazyLock<Vec<Vec<u8>>> = LazyLock::new(|| mutate::corpus(env!("CARGO_MANIFEST_DIR")));
static TOKENS: LazyLock<Vec<Vec<u8>>> = LazyLock::new(mutate::tokens);

/// Canonicalisation either refuses the text or yields valid JSON that is
/// its own canonical form.
fn canonical_checked(text: &str) {
    match canonicalize_str(text) {
        Ok(canonical) => {
            let again = canonicalize_str(canonical.as_str())
                .unwrap_or_else(|e| panic!("canonical output {canonical:?} refused: {e}"));
            assert_eq!(again, canonical, "canonical form is not a fixed point");
            assert!(CanonicalJson::from_canonical(canonical.as_str()).is_ok());
            assert!(
                serde_json::from_str::<serde_json::Value>(canonical.as_str()).is_ok(),
                "canonical output is not JSON: {canonical:?}"
            );
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
}

/// What `jiliang-tools verify` does with a file: parse, then verify.
fn bundle_checked(bytes: &[u8]) {
    if let Ok(bundle) = serde_json::from_slice::<Bundle>(bytes) {
        let report = verify_bundle(&bundle);
        let _ = report.to_string();
        let other = signing_key_from_seed(&[7; 32]).verifying_key();
        let with_key = verify_bundle_with_key(&bundle, &other);
        // Not the bundle's signer (seed 42 in the corpus): never accepted.
        assert!(!with_key.ok, "a bundle verified under a foreign key");
    }
}

fn decode_all(bytes: &[u8]) {
    bundle_checked(bytes);
    if let Ok(text) = std::str::from_utf8(bytes) {
        canonical_checked(text);
        let _ = hex::decode(text);
        let _ = hex::decode_array::<32>(text);
    }
}

proptest! {
    #![proptest_config(mutate::config(2_000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        decode_all(&bytes);
    }

    #[test]
    fn arbitrary_strings_never_panic(text in "\\PC{0,256}") {
        decode_all(text.as_bytes());
    }

    #[test]
    fn json_like_strings_canonicalise_or_fail(text in "[{}\\[\\]\":,0-9a-z_ .eE+\\\\-]{0,200}") {
        canonical_checked(&text);
    }

    #[test]
    fn mutated_seeds_never_panic((seed, ops) in mutate::mutations(SEEDS.len())) {
        let bytes = mutate::apply(&SEEDS[seed], &ops, &TOKENS);
        decode_all(&bytes);
    }

    /// A mutated export either still verifies (the mutation hit only
    /// whitespace or was undone) or is refused; either way a report.
    #[test]
    fn mutated_bundles_are_reported((seed, ops) in mutate::mutations(2)) {
        // Seeds 0 and 1: a_export_selection.json, b_export_tampered.json.
        let bytes = mutate::apply(&SEEDS[seed], &ops, &TOKENS);
        bundle_checked(&bytes);
    }

    #[test]
    fn hex_round_trip(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
        let text = hex::encode(&bytes);
        prop_assert_eq!(hex::decode(&text).expect("own encoding decodes"), bytes);
    }

    #[test]
    fn hex_of_arbitrary_text(text in prop_oneof!["[0-9a-fA-F]{0,80}", "\\PC{0,80}"]) {
        match hex::decode(&text) {
            Ok(bytes) => prop_assert_eq!(hex::encode(&bytes), text),
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }
}

#[test]
fn every_seed_decodes() {
    for seed in SEEDS.iter() {
        let text = std::str::from_utf8(seed).expect("seeds are UTF-8");
        assert!(canonicalize_str(text).is_ok(), "seed is not JSON: {text}");
        decode_all(seed);
    }
    let good: Bundle = serde_json::from_slice(&SEEDS[0]).expect("a_export_selection.json");
    assert!(verify_bundle(&good).ok, "the good export seed must verify");
}

#[test]
fn big_inputs_are_answered_quickly() {
    mutate::assert_big_inputs_bounded(Duration::from_secs(2), decode_all);
}
