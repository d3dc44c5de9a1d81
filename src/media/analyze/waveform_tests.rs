//! Unit tests of the waveform builder: zoom rules, mixdown, grouping and the two encodings.

use super::*;

fn opts(points: Option<u64>, spp: Option<u32>, split: bool, bits: u8) -> WaveformOptions {
    WaveformOptions {
        points,
        pixels_per_second: None,
        samples_per_pixel: spp,
        bits: Some(bits),
        split_channels: split,
    }
}

/// A deterministic stereo signal of 16-bit-exact samples.
fn signal(frames: usize) -> Vec<f32> {
    let mut state = 0x2545_f491_u32;
    let mut v = Vec::with_capacity(frames * 2);
    for _ in 0..frames * 2 {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        v.push(f32::from((state >> 16) as u16 as i16) / 32768.0);
    }
    v
}

fn build(o: &WaveformOptions, frames: &[f32], block: usize) -> Waveform {
    let mut b = WaveformBuilder::new(o, 48_000, 2, Some(16)).unwrap();
    for chunk in frames.chunks(block * 2) {
        b.push(chunk).unwrap();
    }
    b.finish().unwrap()
}

/// Min/max of the mono mixdown at a fixed pixel size, computed the plain way.
fn direct_mono(frames: &[f32], spp: usize) -> Vec<i16> {
    let mono: Vec<i16> = frames
        .chunks_exact(2)
        .map(|f| {
            let a = (f[0] * 32768.0) as i32;
            let b = (f[1] * 32768.0) as i32;
            ((a + b) / 2) as i16
        })
        .collect();
    mono.chunks(spp)
        .flat_map(|px| [*px.iter().min().unwrap(), *px.iter().max().unwrap()])
        .collect()
}

#[test]
fn fixed_pixel_size_matches_a_direct_pass_with_a_partial_last_pixel() {
    let f = signal(10_000);
    let w = build(&opts(None, Some(300), false, 16), &f, 1021);
    assert_eq!(w.samples_per_pixel, 300);
    assert_eq!(w.length(), 34);
    assert_eq!(w.data, direct_mono(&f, 300));
}

#[test]
fn points_group_fine_pixels_into_the_same_min_max_as_a_direct_pass() {
    // Enough frames for the fine pixels to double several times (cap 4096 for 10 points).
    let f = signal(200_003);
    for n in [1u64, 7, 10, 999] {
        let w = build(&opts(Some(n), None, false, 16), &f, 4093);
        assert!(w.length() as u64 <= n, "{n}: {} pixels", w.length());
        let spp = w.samples_per_pixel as usize;
        assert_eq!(w.data, direct_mono(&f, spp), "points {n}, spp {spp}");
        let smallest = 200_003usize.div_ceil(n as usize);
        assert!(
            spp >= smallest && spp <= smallest + smallest / 32 + 1,
            "{n}: {spp}"
        );
    }
}

#[test]
fn points_on_a_short_input_keep_the_minimum_pixel_size_of_two() {
    let f = signal(5);
    let w = build(&opts(Some(100), None, false, 16), &f, 5);
    assert_eq!((w.samples_per_pixel, w.length()), (2, 3));
    assert_eq!(w.data, direct_mono(&f, 2));
}

#[test]
fn split_channels_interleave_each_channel_pair() {
    let f = [0.5, -0.25, -0.5, 0.25, 0.125, 0.0];
    let w = build(&opts(None, Some(2), true, 16), &f, 1);
    assert_eq!(w.channels, 2);
    assert_eq!(w.data, vec![-16384, 16384, -8192, 8192, 4096, 4096, 0, 0]);
}

#[test]
fn mixdown_truncates_toward_zero_and_eight_bits_divide_toward_zero() {
    // (-3 + 0) / 2 = -1 (not -2); (-300 + 0) / 2 = -150 -> 8-bit 0 (not -1).
    let f = [-3.0 / 32768.0, 0.0, -300.0 / 32768.0, 0.0];
    let w = build(&opts(None, Some(2), false, 8), &f, 2);
    assert_eq!(w.data, vec![-150, -1]);
    assert_eq!(w.values().collect::<Vec<_>>(), vec![0, 0]);
    let w = build(&opts(None, Some(2), false, 16), &f, 2);
    assert_eq!(w.values().collect::<Vec<_>>(), vec![-150, -1]);
}

#[test]
fn lossy_samples_round_to_nearest_and_integer_samples_drop_low_bits() {
    let o = opts(None, Some(2), true, 16);
    let x = [1.6 / 32768.0, -1.6 / 32768.0, 2.0, -2.0];
    let mut b = WaveformBuilder::new(&o, 8000, 2, None).unwrap();
    b.push(&x).unwrap();
    assert_eq!(b.finish().unwrap().data, vec![2, 32767, -32768, -2]);
    let mut b = WaveformBuilder::new(&o, 8000, 2, Some(24)).unwrap();
    b.push(&x).unwrap();
    assert_eq!(b.finish().unwrap().data, vec![1, 32767, -32768, -2]);
}

#[test]
fn dat_and_json_follow_the_documented_layout() {
    // The format document's JSON example, as a waveform.
    let w = Waveform {
        sample_rate: 48_000,
        samples_per_pixel: 512,
        channels: 2,
        bits: 8,
        data: [-65, 63, -66, 64, -40, 41, -39, 45, -55, 43, -55, 44]
            .iter()
            .map(|v| v * 256)
            .collect(),
    };
    let mut json = Vec::new();
    w.write_json(&mut json).unwrap();
    assert_eq!(
        String::from_utf8(json).unwrap(),
        "{\"version\":2,\"channels\":2,\"sample_rate\":48000,\"samples_per_pixel\":512,\
         \"bits\":8,\"length\":3,\"data\":[-65,63,-66,64,-40,41,-39,45,-55,43,-55,44]}\n"
    );
    let mut dat = Vec::new();
    w.write_dat(&mut dat).unwrap();
    let word = |i: usize| i32::from_le_bytes(dat[i..i + 4].try_into().unwrap());
    assert_eq!(
        (word(0), word(4), word(8), word(12), word(16), word(20)),
        (2, 1, 48_000, 512, 3, 2)
    );
    assert_eq!(dat.len(), 24 + 12);
    assert_eq!(dat[24] as i8, -65);
    assert_eq!(dat[35] as i8, 44);
}

#[test]
fn bad_zoom_options_are_refused() {
    let cases = [
        opts(Some(0), None, false, 16),
        opts(Some(MAX_POINTS + 1), None, false, 16),
        opts(None, Some(1), false, 16),
        opts(Some(10), Some(256), false, 16),
        opts(None, None, false, 12),
    ];
    for o in cases {
        assert_eq!(o.zoom().unwrap_err().code(), "invalid_options", "{o:?}");
    }
    let o = WaveformOptions {
        pixels_per_second: Some(30_000),
        ..WaveformOptions::default()
    };
    assert!(o.zoom().is_ok());
    assert_eq!(
        WaveformBuilder::new(&o, 48_000, 1, None)
            .unwrap_err()
            .code(),
        "invalid_options"
    );
}

#[test]
fn rounding_is_to_nearest_even_and_floor_is_floor() {
    let lsb = |v: f32| v / 32768.0;
    for (x, even, floor) in [
        (0.5, 0, 0),
        (1.5, 2, 1),
        (2.5, 2, 2),
        (-2.5, -2, -3),
        (-0.5, 0, -1),
        (-3.0, -3, -3),
        (40_000.0, 32767, 32767),
        (-40_000.0, -32768, -32768),
    ] {
        assert_eq!(to_i16(false, lsb(x)), even, "{x} nearest");
        assert_eq!(to_i16(true, lsb(x)), floor, "{x} floor");
    }
    assert_eq!(to_i16(false, f32::NAN), 0);
}
