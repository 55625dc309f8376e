//! Fuzzing what the agent reads from instruments (issue 15: "agent replies
//! from instruments"): SCPI numeric replies, `SYST:ERR?` replies, lines of
//! a serial instrument's ASCII format through the configured pattern, and
//! Modbus registers of every type and order. A broken or hostile
//! instrument must get a reading or a fault, never a panic, a hang, or a
//! non-finite value taken as a reading.
//!
//! Default run: `cargo test -p jiliang-agent --test fuzz`; long run:
//! `JILIANG_FUZZ_CASES=1000000 cargo test -p jiliang-agent --test fuzz --release`.

// One mutator for all crates' fuzz tests, kept beside the protocol's.
#[path = "../../protocol/tests/fuzz/mutate.rs"]
mod mutate;

use std::sync::LazyLock;
use std::time::Duration;

use jiliang_agent::decode::{
    DEFAULT_PATTERN, Order, RegisterType, decode_registers, encode_registers, extract_value,
    parse_scpi_error, parse_scpi_number,
};
use proptest::prelude::*;

/// Each line of each corpus file is one seed reply.
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
static PATTERN: LazyLock<regex_lite::Regex> =
    LazyLock::new(|| regex_lite::Regex::new(DEFAULT_PATTERN).expect("default pattern"));

/// Every decoder the agent runs on a reply, with what must hold whatever
/// the reply is.
fn check(reply: &str) {
    match parse_scpi_number(reply) {
        Ok(v) => {
            assert!(v.is_finite(), "{reply:?} read as {v}");
            assert!(v.abs() < 9.9e37, "{reply:?}: SCPI overload read as {v}");
            // Deterministic: the same reply is the same reading.
            assert_eq!(parse_scpi_number(reply), Ok(v));
        }
        Err(e) => one_line(&e.to_string()),
    }
    if let Some(err) = parse_scpi_error(reply) {
        // What is reported after a bad reply must be printable as one line
        // of the agent's log (the message may hold anything the device sent).
        let _ = err.is_error();
        let _ = err.to_string();
    }
    match extract_value(&PATTERN, reply) {
        Ok(v) => assert!(v.is_finite(), "{reply:?} extracted as {v}"),
        Err(e) => assert!(!e.to_string().is_empty()),
    }
}

/// A fault is reported as one line of the agent's log and status.
fn one_line(message: &str) {
    assert!(
        !message.is_empty() && !message.contains('\n'),
        "{message:?}"
    );
}

fn check_bytes(bytes: &[u8]) {
    check(&String::from_utf8_lossy(bytes));
}

const TYPES: [RegisterType; 5] = [
    RegisterType::Int16,
    RegisterType::Uint16,
    RegisterType::Int32,
    RegisterType::Uint32,
    RegisterType::Float32,
];
const ORDERS: [Order; 2] = [Order::Big, Order::Little];

proptest! {
    #![proptest_config(mutate::config(3_000))]

    #[test]
    fn arbitrary_replies_never_panic(reply in "\\PC{0,120}") {
        check(&reply);
    }

    /// Replies made of the pieces of numbers reach the edges of the
    /// grammar: signs, exponents, overload markers, separators, units.
    #[test]
    fn number_shaped_replies_never_panic(
        reply in "([-+]|[0-9]{1,3}|\\.|[eE]|9\\.9[1]?E37|NAN|INF|,|\"|\\s|V|kPa|OVLD|99999999999999999999){0,20}"
    ) {
        check(&reply);
    }

    #[test]
    fn mutated_replies_never_panic((seed, ops) in mutate::mutations(SEEDS.len())) {
        check_bytes(&mutate::apply(&SEEDS[seed], &ops, &TOKENS));
    }

    /// Any register content of any type and order is a finite reading or a
    /// named fault; a wrong register count is a fault, not a panic.
    #[test]
    fn any_registers_decode_or_fault(
        regs in proptest::collection::vec(any::<u16>(), 0..4),
        ty in 0usize..5,
        word in 0usize..2,
        byte in 0usize..2,
    ) {
        let (ty, word, byte) = (TYPES[ty], ORDERS[word], ORDERS[byte]);
        match decode_registers(&regs, ty, word, byte) {
            Ok(v) => {
                prop_assert!(v.is_finite());
                prop_assert_eq!(regs.len(), usize::from(ty.registers()));
                // What was decoded encodes back to the same registers.
                prop_assert_eq!(encode_registers(v, ty, word, byte), regs);
            }
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }
}

#[test]
fn every_seed_is_a_reading_or_a_named_fault() {
    for seed in SEEDS.iter() {
        check_bytes(seed);
    }
    // The corpus holds real replies that must read as numbers.
    assert_eq!(parse_scpi_number("+1.234500E+00"), Ok(1.2345));
    assert!(parse_scpi_number("9.9E37").is_err());
}

#[test]
fn big_inputs_are_answered_quickly() {
    mutate::assert_big_inputs_bounded(Duration::from_secs(2), check_bytes);
}
