//! Fuzzing the decoders the server runs on outside input: room socket
//! frames (`ClientFrame`), time socket frames (`TimeClientFrame`), agent
//! socket frames (`AgentFrame`) and the batch rules (`check_batch`). Each
//! must answer every input with a value (Ok or Err), never panic nor hang,
//! and what it accepts must survive an encode → decode round trip.
//!
//! Default run: `cargo test -p jiliang-protocol --test fuzz`; long run:
//! `JILIANG_FUZZ_CASES=1000000 cargo test -p jiliang-protocol --test fuzz --release`.

#[path = "fuzz/mutate.rs"]
mod mutate;

use std::sync::LazyLock;
use std::time::Duration;

use jiliang_protocol::devices::{AgentFrame, DeviceReading, check_batch};
use jiliang_protocol::rooms::ClientFrame;
use jiliang_protocol::timesync::TimeClientFrame;
use proptest::prelude::*;
use serde::Serialize;
use serde::de::DeserializeOwned;
use time::OffsetDateTime;

static SEEDS: LazyLock<Vec<Vec<u8>>> = LazyLock::new(|| mutate::corpus(env!("CARGO_MANIFEST_DIR")));
static TOKENS: LazyLock<Vec<Vec<u8>>> = LazyLock::new(mutate::tokens);

/// Decodes `bytes` as the server does (`from_slice`, and `from_str` when
/// the bytes are text) and, when accepted, checks the round trip: what is
/// encoded again decodes to the same frame, byte for byte once re-encoded
/// (comparing encodings, not values, because NaN ≠ NaN).
fn decode_checked<T: Serialize + DeserializeOwned + std::fmt::Debug>(bytes: &[u8]) {
    let from_slice = serde_json::from_slice::<T>(bytes);
    if let Ok(text) = std::str::from_utf8(bytes) {
        let from_str = serde_json::from_str::<T>(text);
        assert_eq!(
            from_slice.is_ok(),
            from_str.is_ok(),
            "from_slice and from_str disagree"
        );
    }
    if let Ok(frame) = from_slice {
        let encoded = serde_json::to_string(&frame).expect("an accepted frame encodes");
        let again: T = serde_json::from_str(&encoded)
            .unwrap_or_else(|e| panic!("{encoded} does not decode again: {e}"));
        let encoded_again = serde_json::to_string(&again).expect("encodes");
        assert_eq!(encoded, encoded_again, "round trip changed {frame:?}");
    } else if let Err(e) = from_slice {
        // Errors are values with a message a client can be shown.
        assert!(!e.to_string().is_empty());
    }
}

fn decode_all(bytes: &[u8]) {
    decode_checked::<ClientFrame>(bytes);
    decode_checked::<TimeClientFrame>(bytes);
    decode_checked::<AgentFrame>(bytes);
    // A readings frame the server accepts goes through the batch rules next.
    if let Ok(AgentFrame::Readings(batch)) = serde_json::from_slice::<AgentFrame>(bytes) {
        let now = OffsetDateTime::now_utc();
        let _ = check_batch(&batch.readings, "V", now, 5.0, 86_400.0);
    }
}

fn reading() -> impl Strategy<Value = DeviceReading> {
    let value = prop_oneof![
        any::<f64>(),
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::MAX),
        -1e6..1e6f64
    ];
    let unit = prop_oneof![Just("V".to_string()), ".{0,8}"];
    // Years 0000..=9999: what RFC 3339 (the wire format of `t`) can write.
    let t = (-62_167_219_200i64..253_402_300_799i64, 0u32..1_000_000_000).prop_map(|(s, n)| {
        OffsetDateTime::from_unix_timestamp(s).expect("in range")
            + time::Duration::nanoseconds(i64::from(n))
    });
    (any::<u64>(), t, value, unit, any::<f64>()).prop_map(|(seq, t, value, unit, u_t)| {
        DeviceReading {
            seq,
            t,
            value,
            unit,
            u_t,
        }
    })
}

proptest! {
    #![proptest_config(mutate::config(3_000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        decode_all(&bytes);
    }

    #[test]
    fn arbitrary_strings_never_panic(text in "\\PC{0,256}") {
        decode_all(text.as_bytes());
    }

    /// JSON-shaped noise gets past the tokenizer and into the field logic.
    #[test]
    fn json_like_strings_never_panic(text in "[{}\\[\\]\":,0-9a-z_ .eE+-]{0,200}") {
        decode_all(text.as_bytes());
    }

    #[test]
    fn mutated_valid_frames_never_panic((seed, ops) in mutate::mutations(SEEDS.len())) {
        let bytes = mutate::apply(&SEEDS[seed], &ops, &TOKENS);
        decode_all(&bytes);
    }

    /// `check_batch` on batches no honest agent sends: any seq, any time
    /// (near the ends of `time`'s range too), NaN/∞ values, odd units.
    #[test]
    fn check_batch_on_arbitrary_batches(
        readings in proptest::collection::vec(reading(), 0..20),
        future in prop_oneof![Just(5.0f64), 0.0..1e6, Just(f64::NAN), Just(-1.0)],
        past in prop_oneof![Just(86_400.0f64), 0.0..1e9, Just(f64::NAN)],
    ) {
        let now = OffsetDateTime::now_utc();
        match check_batch(&readings, "V", now, future, past) {
            Ok(()) => {
                prop_assert!(!readings.is_empty());
                prop_assert!(readings.iter().all(|r| r.value.is_finite() && r.unit == "V"
                    && r.u_t.is_finite() && r.u_t >= 0.0 && r.seq >= 1));
                prop_assert!(readings.windows(2).all(|w| w[0].seq < w[1].seq));
            }
            Err(problem) => prop_assert!(!problem.to_string().is_empty()),
        }
    }

    /// A batch encoded the way an agent sends it decodes to the same batch.
    #[test]
    fn readings_frame_round_trip(readings in proptest::collection::vec(reading(), 1..8)) {
        let frame = AgentFrame::Readings(jiliang_protocol::devices::ReadingsBatch { readings });
        let text = serde_json::to_string(&frame).expect("encodes");
        decode_checked::<AgentFrame>(text.as_bytes());
        prop_assert!(serde_json::from_str::<AgentFrame>(&text).is_ok(), "{}", text);
    }
}

#[test]
fn every_seed_decodes() {
    for seed in SEEDS.iter() {
        let text = std::str::from_utf8(seed).expect("seeds are UTF-8");
        let ok = serde_json::from_str::<ClientFrame>(text).is_ok()
            || serde_json::from_str::<AgentFrame>(text).is_ok()
            || serde_json::from_str::<TimeClientFrame>(text).is_ok();
        assert!(ok, "corpus seed does not decode: {text}");
        decode_all(seed);
    }
}

#[test]
fn big_inputs_are_answered_quickly() {
    mutate::assert_big_inputs_bounded(Duration::from_secs(2), decode_all);
}
