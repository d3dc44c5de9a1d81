//! The hostile corpus, made from the committed fixtures: absurd claims in MP4, WAV and
//! Matroska headers, huge and deeply nested boxes, empty tracks, truncations and flipped
//! header bits (seeded), inputs with no audio, and a decompression bomb.

use std::path::{Path, PathBuf};
use std::process::Command;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::support;

pub(super) struct Case {
    pub(super) family: &'static str,
    pub(super) label: String,
    pub(super) ext: &'static str,
    pub(super) bytes: Vec<u8>,
}

fn find_all(hay: &[u8], needle: &[u8]) -> Vec<usize> {
    hay.windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(i, _)| i)
        .collect()
}

fn put_u32be(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

fn put_u16be(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

/// Patch every box `fourcc` of an MP4: `f(bytes, offset of the fourcc)`.
fn mp4_patch(src: &[u8], fourcc: &[u8; 4], f: impl Fn(&mut Vec<u8>, usize)) -> Vec<u8> {
    let mut b = src.to_vec();
    let at = find_all(src, fourcc);
    assert!(
        !at.is_empty(),
        "fixture has no {:?} box",
        String::from_utf8_lossy(fourcc)
    );
    for p in at {
        f(&mut b, p);
    }
    b
}

pub(super) fn mp4_cases() -> Vec<Case> {
    let src = support::media_bytes("mp4_aac_faststart.mp4");
    let mut v = Vec::new();
    let mut add = |label: &str, bytes: Vec<u8>| {
        v.push(Case {
            family: "mp4 claims",
            label: label.to_string(),
            ext: "mp4",
            bytes,
        })
    };
    // mdhd v0: fourcc, version+flags, creation, modification, timescale (+12), duration (+16).
    for (label, ts, dur) in [
        ("mdhd timescale 0", 0, 1000),
        ("mdhd timescale 1, duration max", 1, u32::MAX),
        ("mdhd duration max", 48_000, u32::MAX),
        ("mdhd timescale max", u32::MAX, 1),
        ("mdhd duration 0", 48_000, 0),
    ] {
        add(
            label,
            mp4_patch(&src, b"mdhd", |b, p| {
                put_u32be(b, p + 16, ts);
                put_u32be(b, p + 20, dur);
            }),
        );
    }
    // mp4a sample entry: channel count (+20), sample size (+22), rate 16.16 (+28).
    for (label, ch, bits, rate) in [
        ("mp4a 0 channels", 0u16, 16u16, 48_000u16),
        ("mp4a 65535 channels", u16::MAX, 16, 48_000),
        ("mp4a 33 channels", 33, 16, 48_000),
        ("mp4a rate 0", 2, 16, 0),
        ("mp4a rate 65535, 0 bits", 2, 0, u16::MAX),
    ] {
        add(
            label,
            mp4_patch(&src, b"mp4a", |b, p| {
                put_u16be(b, p + 20, ch);
                put_u16be(b, p + 22, bits);
                put_u16be(b, p + 28, rate);
            }),
        );
    }
    // Sample tables claiming billions of entries in a few bytes.
    add(
        "stsz claims 4G samples",
        mp4_patch(&src, b"stsz", |b, p| put_u32be(b, p + 12, u32::MAX)),
    );
    add(
        "stts claims 2G entries",
        mp4_patch(&src, b"stts", |b, p| put_u32be(b, p + 8, i32::MAX as u32)),
    );
    add(
        "stts one entry of 4G samples",
        mp4_patch(&src, b"stts", |b, p| put_u32be(b, p + 12, u32::MAX)),
    );
    add(
        "stco claims 4G chunks",
        mp4_patch(&src, b"stco", |b, p| put_u32be(b, p + 8, u32::MAX)),
    );
    add(
        "stsc claims 1G entries",
        mp4_patch(&src, b"stsc", |b, p| put_u32be(b, p + 8, 1 << 30)),
    );
    // Zero-length tracks: empty sample tables.
    add(
        "zero-length tracks (empty stsz/stts/stsc)",
        mp4_patch(
            &mp4_patch(
                &mp4_patch(&src, b"stsz", |b, p| put_u32be(b, p + 12, 0)),
                b"stts",
                |b, p| put_u32be(b, p + 8, 0),
            ),
            b"stsc",
            |b, p| put_u32be(b, p + 8, 0),
        ),
    );
    // Huge boxes: sizes past the end of the file, the 64-bit form, size 0 ("to the end").
    let box_at = |fourcc: &[u8; 4]| find_all(&src, fourcc)[0] - 4;
    for (label, fourcc, size) in [
        ("moov size 4 GiB - 1", b"moov", u32::MAX),
        ("moov size 0 (to end of file)", b"moov", 0),
        ("moov size 7 (smaller than a header)", b"moov", 7),
        ("mdat size 4 GiB - 1", b"mdat", u32::MAX),
        ("trak size 4 GiB - 1", b"trak", u32::MAX),
        ("stsd size 4 GiB - 1", b"stsd", u32::MAX),
    ] {
        let mut b = src.clone();
        put_u32be(&mut b, box_at(fourcc), size);
        add(label, b);
    }
    for (label, fourcc, large) in [
        ("moov 64-bit size 2^63", b"moov", 1u64 << 63),
        ("mdat 64-bit size u64::MAX", b"mdat", u64::MAX),
        ("moov 64-bit size 8 (too small)", b"moov", 8),
    ] {
        let at = box_at(fourcc);
        let mut b = src[..at].to_vec();
        b.extend_from_slice(&1u32.to_be_bytes());
        b.extend_from_slice(fourcc);
        b.extend_from_slice(&large.to_be_bytes());
        b.extend_from_slice(&src[at + 8..]);
        add(label, b);
    }
    // Deep nesting: boxes inside boxes, 20,000 levels, in front of the real file and as
    // the only content.
    for (label, fourcc) in [("20k nested moov", b"moov"), ("20k nested trak", b"trak")] {
        let depth = 20_000usize;
        let mut b = Vec::with_capacity(depth * 8 + 32);
        b.extend_from_slice(&src[..box_at(b"moov")]); // ftyp
        let total = depth * 8;
        for i in 0..depth {
            b.extend_from_slice(&((total - i * 8) as u32).to_be_bytes());
            b.extend_from_slice(fourcc);
        }
        add(label, b);
    }
    v
}

pub(super) fn wav_cases() -> Vec<Case> {
    let src = support::media_bytes("wav_pcm_s16le.wav");
    let fmt = find_all(&src, b"fmt ")[0];
    let data = find_all(&src, b"data")[0];
    let le16 = |b: &mut Vec<u8>, at: usize, x: u16| b[at..at + 2].copy_from_slice(&x.to_le_bytes());
    let le32 = |b: &mut Vec<u8>, at: usize, x: u32| b[at..at + 4].copy_from_slice(&x.to_le_bytes());
    let mut v = Vec::new();
    let mut add = |label: &str, f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = src.clone();
        f(&mut b);
        v.push(Case {
            family: "wav claims",
            label: label.to_string(),
            ext: "wav",
            bytes: b,
        })
    };
    // fmt: format +8, channels +10, rate +12, byte rate +16, block align +20, bits +22.
    add("rate 0", &|b| le32(b, fmt + 12, 0));
    add("rate 1", &|b| le32(b, fmt + 12, 1));
    add("rate 4G", &|b| le32(b, fmt + 12, u32::MAX));
    add("rate 768001", &|b| le32(b, fmt + 12, 768_001));
    add("0 channels", &|b| le16(b, fmt + 10, 0));
    add("65535 channels", &|b| le16(b, fmt + 10, u16::MAX));
    add("33 channels", &|b| le16(b, fmt + 10, 33));
    add("0 bits", &|b| le16(b, fmt + 22, 0));
    add("7 bits", &|b| le16(b, fmt + 22, 7));
    add("64 bits", &|b| le16(b, fmt + 22, 64));
    add("65535 bits", &|b| le16(b, fmt + 22, u16::MAX));
    add("block align 0", &|b| le16(b, fmt + 20, 0));
    add("block align 65535", &|b| le16(b, fmt + 20, u16::MAX));
    add("format tag 0xFFFF", &|b| le16(b, fmt + 8, 0xFFFF));
    add("fmt size 4G", &|b| le32(b, fmt + 4, u32::MAX));
    add("data claims 4 GiB (file is 96 KB)", &|b| {
        le32(b, data + 4, u32::MAX)
    });
    add("data size 0 (zero-length track)", &|b| {
        le32(b, data + 4, 0);
        b.truncate(data + 8);
    });
    add("RIFF size 0", &|b| le32(b, 4, 0));
    add("RIFF size 4G", &|b| le32(b, 4, u32::MAX));
    add("header only", &|b| b.truncate(data));
    add("20k nested LIST chunks before data", &|b| {
        let depth = 20_000usize;
        let mut nest = Vec::with_capacity(depth * 12);
        for i in 0..depth {
            nest.extend_from_slice(b"LIST");
            nest.extend_from_slice(&(((depth - i) * 12 - 8) as u32).to_le_bytes());
            nest.extend_from_slice(b"INFO");
        }
        b.splice(data..data, nest);
    });
    v
}

pub(super) fn mkv_cases() -> Vec<Case> {
    let src = support::media_bytes("mkv_aac.mkv");
    let mut v = Vec::new();
    let mut add = |label: &str, f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = src.clone();
        f(&mut b);
        v.push(Case {
            family: "mkv claims",
            label: label.to_string(),
            ext: "mkv",
            bytes: b,
        })
    };
    // SamplingFrequency (0xB5, an 8-byte float) and Channels (0x9F, 1 byte).
    let freq = find_all(&src, &[0xB5, 0x88]);
    let chans = find_all(&src, &[0x9F, 0x81]);
    assert!(
        !freq.is_empty() && !chans.is_empty(),
        "mkv fixture layout changed"
    );
    for (label, x) in [
        ("rate 0", 0.0f64),
        ("rate -48000", -48_000.0),
        ("rate 1e300", 1e300),
        ("rate NaN", f64::NAN),
        ("rate inf", f64::INFINITY),
        ("rate 1e9", 1e9),
    ] {
        add(label, &|b| {
            for &p in &freq {
                b[p + 2..p + 10].copy_from_slice(&x.to_be_bytes());
            }
        });
    }
    for (label, ch) in [("0 channels", 0u8), ("255 channels", 255u8)] {
        add(label, &|b| {
            for &p in &chans {
                b[p + 2] = ch;
            }
        });
    }
    // Segment (0x18538067) sizes: unknown, and 2^56-2 (a vast claim).
    let seg = find_all(&src, &[0x18, 0x53, 0x80, 0x67])[0];
    add("segment size unknown", &|b| {
        b[seg + 4..seg + 12].copy_from_slice(&[0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF])
    });
    add("segment size 2^56-2", &|b| {
        b[seg + 4..seg + 12].copy_from_slice(&[0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE])
    });
    // Every EBML size field in the first 400 bytes set to its largest value.
    add("every early size maxed", &|b| {
        for p in find_all(&b[..400.min(b.len())], &[0x88]) {
            b[p] = 0x01;
        }
    });
    v
}

/// Truncations at many offsets (dense near the start, where headers live) and header bits
/// flipped, of an MP4 (moov first), a WAV, an MKV, an Ogg and a FLAC-in-MP4.
pub(super) fn damage_cases() -> Vec<Case> {
    let mut rng = StdRng::seed_from_u64(0x0b5e_55ed);
    let mut v = Vec::new();
    for (name, ext) in [
        ("mp4_aac_faststart.mp4", "mp4"),
        ("wav_pcm_s16le.wav", "wav"),
        ("mkv_vorbis.mkv", "mkv"),
        ("ogg_vorbis.ogg", "ogg"),
        ("mp4_flac.mp4", "mp4"),
    ] {
        let src = support::media_bytes(name);
        let mut cuts: Vec<usize> = vec![1, 8, 16, 44, 100, 500, 1000];
        for _ in 0..3 {
            cuts.push(rng.random_range(0..src.len()));
        }
        cuts.push(src.len() - 1);
        for cut in cuts.into_iter().filter(|&c| c < src.len()) {
            v.push(Case {
                family: "truncated",
                label: format!("{name} cut at {cut}"),
                ext,
                bytes: src[..cut].to_vec(),
            });
        }
        for _ in 0..4 {
            let mut b = src.clone();
            let limit = 2048.min(b.len());
            let mut flipped = Vec::new();
            for _ in 0..rng.random_range(1..=4) {
                let at = rng.random_range(0..limit);
                let bit = rng.random_range(0..8);
                b[at] ^= 1 << bit;
                flipped.push(format!("{at}.{bit}"));
            }
            v.push(Case {
                family: "bit-flipped header",
                label: format!("{name} flipped {}", flipped.join(",")),
                ext,
                bytes: b,
            });
        }
    }
    v
}

pub(super) fn other_cases() -> Vec<Case> {
    vec![
        Case {
            family: "no audio",
            label: "video only".into(),
            ext: "mp4",
            bytes: support::media_bytes("mp4_video_only.mp4"),
        },
        Case {
            family: "no audio",
            label: "empty file".into(),
            ext: "mp4",
            bytes: Vec::new(),
        },
        Case {
            family: "no audio",
            label: "1 MiB of zeros".into(),
            ext: "wav",
            bytes: vec![0; 1 << 20],
        },
    ]
}

/// Ten hours of 8 kHz mono silence as FLAC with 65535-sample blocks: a few tens of KB that
/// decode to 288 M samples (576 MB of 16-bit WAV).
pub(super) fn bomb(dir: &Path) -> PathBuf {
    let out = dir.join("bomb.flac");
    let st = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-nostdin",
            "-f",
            "lavfi",
            "-i",
            "anullsrc=r=8000:cl=mono",
            "-t",
            "36000",
        ])
        .args([
            "-c:a",
            "flac",
            "-frame_size",
            "65535",
            "-compression_level",
            "0",
            "-y",
        ])
        .arg(&out)
        .status()
        .expect("ffmpeg (the test package list installs it)");
    assert!(st.success(), "ffmpeg could not make the bomb");
    out
}
