//! Shared by every crate's `tests/fuzz.rs` (the others include it with
//! `#[path]`): the case budget and a small structure-unaware mutator.
//!
//! Without a nightly toolchain there is no coverage-guided fuzzer, so the
//! harness leans on many cheap cases: arbitrary bytes, and valid seeds from
//! `tests/fuzz-corpus/` mutated by byte flips, truncations, duplications and
//! insertions of the tokens decoders most often get wrong (huge or special
//! numbers, deep nesting, long strings, odd unicode).

#![allow(dead_code)]

use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};

/// Cases per property: `JILIANG_FUZZ_CASES` when set (a long run by hand),
/// else `default` (bounded so the ordinary test suite stays quick).
pub fn config(default: u32) -> Config {
    let cases = std::env::var("JILIANG_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    Config {
        cases,
        // Regressions go beside the test file (`tests/fuzz.proptest-regressions`)
        // so a crash found once is replayed by every later run.
        failure_persistence: Some(Box::new(FileFailurePersistence::SourceParallel(
            "proptest-regressions",
        ))),
        ..Config::default()
    }
}

/// Reads every file of `tests/fuzz-corpus/` of the crate under test.
pub fn corpus(manifest_dir: &str) -> Vec<Vec<u8>> {
    let dir = std::path::Path::new(manifest_dir).join("tests/fuzz-corpus");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("corpus entry").path())
        .collect();
    paths.sort();
    let seeds: Vec<Vec<u8>> = paths
        .iter()
        .map(|p| std::fs::read(p).expect("corpus file"))
        .collect();
    assert!(!seeds.is_empty(), "empty corpus in {}", dir.display());
    seeds
}

/// Tokens inserted by [`Op::Insert`]: the inputs that break parsers.
pub fn tokens() -> Vec<Vec<u8>> {
    let mut t: Vec<Vec<u8>> = [
        "1e999",
        "-1e999",
        "1e-400",
        "NaN",
        "-Infinity",
        "\"NaN\"",
        "\"inf\"",
        "18446744073709551616",
        "-9223372036854775809",
        "340282366920938463463374607431768211456",
        "0.000000000000000000000000000000000000000000001",
        "-0",
        "null",
        "true",
        "\"\"",
        "{}",
        "[]",
        ",",
        ":",
        "\"",
        "\\",
        "\\u0000",
        "\\ud800",
        "\u{0}",
        "\u{feff}",
        "\u{202e}",
        "零点",
        "\u{10ffff}",
        "\r\n",
        ";",
        "\t",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    t.push("[".repeat(10_000).into_bytes());
    t.push("{\"a\":".repeat(5_000).into_bytes());
    t.push(format!("\"{}\"", "x".repeat(70_000)).into_bytes());
    t.push("9".repeat(5_000).into_bytes());
    t.push(vec![0xff, 0xfe, 0xc0, 0x80]);
    t
}

/// One mutation; positions are taken modulo the current length.
#[derive(Debug, Clone)]
pub enum Op {
    Flip(usize, u8),
    Set(usize, u8),
    Truncate(usize),
    Remove(usize, usize),
    Duplicate(usize, usize),
    Insert(usize, usize),
    Replace(usize, usize, usize),
}

pub fn op() -> impl Strategy<Value = Op> {
    let n = tokens().len();
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(i, b)| Op::Flip(i, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Op::Set(i, b)),
        any::<usize>().prop_map(Op::Truncate),
        (any::<usize>(), 1usize..16).prop_map(|(i, l)| Op::Remove(i, l)),
        (any::<usize>(), 1usize..64).prop_map(|(i, l)| Op::Duplicate(i, l)),
        (any::<usize>(), 0..n).prop_map(|(i, k)| Op::Insert(i, k)),
        (any::<usize>(), 1usize..12, 0..n).prop_map(|(i, l, k)| Op::Replace(i, l, k)),
    ]
}

/// A seed index and up to six mutations of it.
pub fn mutations(seeds: usize) -> impl Strategy<Value = (usize, Vec<Op>)> {
    (0..seeds, proptest::collection::vec(op(), 1..6))
}

pub fn apply(seed: &[u8], ops: &[Op], tokens: &[Vec<u8>]) -> Vec<u8> {
    let mut b = seed.to_vec();
    for op in ops {
        let at = |i: usize, b: &Vec<u8>| if b.is_empty() { 0 } else { i % b.len() };
        match *op {
            Op::Flip(i, bit) if !b.is_empty() => {
                let i = at(i, &b);
                b[i] ^= 1 << bit;
            }
            Op::Set(i, v) if !b.is_empty() => {
                let i = at(i, &b);
                b[i] = v;
            }
            Op::Truncate(i) => {
                let i = at(i, &b);
                b.truncate(i);
            }
            Op::Remove(i, l) => {
                let i = at(i, &b);
                let end = (i + l).min(b.len());
                b.drain(i..end);
            }
            Op::Duplicate(i, l) => {
                let i = at(i, &b);
                let end = (i + l).min(b.len());
                let chunk = b[i..end].to_vec();
                b.splice(i..i, chunk);
            }
            Op::Insert(i, k) => {
                let i = at(i, &b);
                b.splice(i..i, tokens[k].iter().copied());
            }
            Op::Replace(i, l, k) => {
                let i = at(i, &b);
                let end = (i + l).min(b.len());
                b.splice(i..end, tokens[k].iter().copied());
            }
            _ => {}
        }
    }
    b
}

/// Inputs of about 64 KiB that stress a decoder's worst paths: every one
/// must be answered (Ok or Err) quickly.
pub fn big_inputs() -> Vec<Vec<u8>> {
    const N: usize = 64 * 1024;
    let fill = |unit: &str| unit.repeat(N / unit.len()).into_bytes();
    vec![
        fill("["),
        fill("{\"a\":"),
        fill("9"),
        fill("\\"),
        fill("\""),
        fill("零"),
        fill("1,"),
        fill("a;b\n"),
        format!("[{}1]", "1,".repeat(N / 2 - 2)).into_bytes(),
        format!("\"{}\"", "\\u0041".repeat(N / 6 - 1)).into_bytes(),
        (0..N).map(|i| (i * 7919 % 251) as u8).collect(),
    ]
}

/// Runs `decode` on every [`big_inputs`] item and fails when one takes more
/// than `limit` (a hang, or a quadratic path).
pub fn assert_big_inputs_bounded(limit: std::time::Duration, mut decode: impl FnMut(&[u8])) {
    for input in big_inputs() {
        let started = std::time::Instant::now();
        decode(&input);
        let took = started.elapsed();
        assert!(
            took < limit,
            "decoding {} bytes starting {:?} took {took:?}",
            input.len(),
            String::from_utf8_lossy(&input[..16])
        );
    }
}
