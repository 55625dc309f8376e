//! Fuzzing UCUM code validation (`ucum::validate`/`parse`), which the
//! server runs on the unit of every registered device and manual reading
//! and the agent on its configuration: every string gets Ok or an error
//! value with a message, never a panic or a hang; what parses has a
//! dimension and answers `to_dsi`/`is_special`, and parsing is
//! deterministic.
//!
//! Default run: `cargo test -p jiliang-metrology --test fuzz`; long run:
//! `JILIANG_FUZZ_CASES=1000000 cargo test -p jiliang-metrology --test fuzz --release`.

// One mutator for all crates' fuzz tests, kept beside the protocol's.
#[path = "../../protocol/tests/fuzz/mutate.rs"]
mod mutate;

use std::sync::LazyLock;
use std::time::Duration;

use jiliang_metrology::ucum;
use proptest::prelude::*;

/// Each line of each corpus file is one seed code.
static SEEDS: LazyLock<Vec<Vec<u8>>> = LazyLock::new(|| {
    mutate::corpus(env!("CARGO_MANIFEST_DIR"))
        .iter()
        .flat_map(|file| {
            String::from_utf8_lossy(file)
                .lines()
                .map(|l| l.as_bytes().to_vec())
                .collect::<Vec<_>>()
        })
        .collect()
});
static TOKENS: LazyLock<Vec<Vec<u8>>> = LazyLock::new(mutate::tokens);

fn check(code: &str) {
    match ucum::parse(code) {
        Ok(unit) => {
            assert!(ucum::validate(code).is_ok());
            assert_eq!(
                ucum::parse(code).as_ref(),
                Ok(&unit),
                "parse is not deterministic"
            );
            let _ = unit.dimension();
            let _ = unit.is_special();
            if let Some(dsi) = unit.to_dsi() {
                assert!(dsi.starts_with('\\'), "D-SI name {dsi:?} for {code:?}");
            }
        }
        Err(e) => {
            assert!(ucum::validate(code).is_err());
            let message = e.to_string();
            assert!(
                !message.is_empty() && !message.contains('\n'),
                "{message:?}"
            );
        }
    }
}

fn check_bytes(bytes: &[u8]) {
    check(&String::from_utf8_lossy(bytes));
}

proptest! {
    #![proptest_config(mutate::config(3_000))]

    #[test]
    fn arbitrary_strings_never_panic(code in "\\PC{0,160}") {
        check(&code);
    }

    /// Strings made of UCUM's own pieces reach deep into the grammar:
    /// prefixes, atoms, brackets, annotations, huge exponents and factors.
    #[test]
    fn ucum_shaped_strings_never_panic(
        code in "(k|m|u|n|M|G|da|V|Pa|g|s|m|Cel|Ohm|L|mol|K|\\[degF\\]|\\[psi\\]|\\[|\\]|\\{[a-z]*\\}|10\\*|10\\^|[./()]|-?[0-9]{1,3}|99999999999999999999|-2147483649|2147483648){0,24}"
    ) {
        check(&code);
    }

    #[test]
    fn mutated_codes_never_panic((seed, ops) in mutate::mutations(SEEDS.len())) {
        check_bytes(&mutate::apply(&SEEDS[seed], &ops, &TOKENS));
    }
}

#[test]
fn every_seed_is_valid() {
    for seed in SEEDS.iter() {
        let code = std::str::from_utf8(seed).expect("UTF-8");
        assert!(ucum::validate(code).is_ok(), "seed {code:?} refused");
    }
}

#[test]
fn big_inputs_are_answered_quickly() {
    mutate::assert_big_inputs_bounded(Duration::from_secs(2), check_bytes);
}
