//! Latency histograms are stored deflate-compressed (hdrhistogram V2-deflate, base64), and runs
//! recorded before that (uncompressed V2) stay readable: both decode to the same histogram.

use std::fs;
use std::path::Path;

use base64::prelude::{BASE64_STANDARD, Engine as _};
use hdrhistogram::serialization::{Serializer, V2Serializer};
use tournament::stats::{decode_histogram, encode_histogram, new_latency_histogram};

/// V2 cookies (big-endian, first 4 bytes; hdrhistogram's format constants): plain V2 and V2-deflate.
const V2_COOKIE: u32 = 0x1c84_9313;
const V2_DEFLATE_COOKIE: u32 = 0x1c84_9314;

fn cookie(b64: &str) -> u32 {
    let bytes = BASE64_STANDARD.decode(b64).unwrap();
    u32::from_be_bytes(bytes[..4].try_into().unwrap())
}

fn sample_histogram() -> hdrhistogram::Histogram<u64> {
    let mut h = new_latency_histogram();
    // A latency-like spread: many values around 20–60 µs, a tail to 5 ms.
    for i in 0..20_000u64 {
        h.record(20_000 + (i * 7919) % 40_000).unwrap();
    }
    for i in 0..50u64 {
        h.record(1_000_000 + i * 80_000).unwrap();
    }
    h
}

#[test]
fn new_histograms_are_deflate_compressed_and_round_trip() {
    let h = sample_histogram();
    let stored = encode_histogram(&h);
    assert_eq!(cookie(&stored), V2_DEFLATE_COOKIE, "not V2-deflate");
    let back = decode_histogram(&stored).unwrap();
    assert_eq!(back, h);
    assert_eq!(encode_histogram(&h), stored, "encoding must be deterministic");

    let mut plain = Vec::new();
    V2Serializer::new().serialize(&h, &mut plain).unwrap();
    let plain = BASE64_STANDARD.encode(&plain);
    assert!(stored.len() < plain.len(), "compressed {} ≥ plain {}", stored.len(), plain.len());
}

#[test]
fn uncompressed_v2_histograms_stay_readable() {
    let h = sample_histogram();
    let mut plain = Vec::new();
    V2Serializer::new().serialize(&h, &mut plain).unwrap();
    let plain = BASE64_STANDARD.encode(&plain);
    assert_eq!(cookie(&plain), V2_COOKIE);
    assert_eq!(decode_histogram(&plain).unwrap(), h);
}

#[test]
fn records_written_before_compression_decode() {
    // The first 20 latency records of the quick run 20261121T063636Z-96864c3 (in git history),
    // written before histograms were compressed.
    let raw =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/raw-before-compression.jsonl");
    let text = fs::read_to_string(&raw).expect("the fixture of pre-compression records");
    let mut checked = 0;
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let Some(lat) = v.get("latency").filter(|l| !l.is_null()) else { continue };
        let b64 = lat["histogram_v2_base64"].as_str().unwrap();
        assert_eq!(cookie(b64), V2_COOKIE, "that run predates compression");
        let h = decode_histogram(b64).unwrap();
        assert_eq!(h.len(), lat["count"].as_u64().unwrap());
        // Re-encoded compressed, it decodes to the same histogram.
        assert_eq!(decode_histogram(&encode_histogram(&h)).unwrap(), h);
        checked += 1;
        if checked == 20 {
            break;
        }
    }
    assert_eq!(checked, 20, "expected latency records in {}", raw.display());
}
