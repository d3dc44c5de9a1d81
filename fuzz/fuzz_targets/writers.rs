//! The WAV and M4A writers on arbitrary sample data (any f32 bit pattern, NaN and infinity
//! included), rates and channel counts; the output is read back and checked.
#![no_main]
use audiotap_fuzz::write_and_read_back;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 6 {
        return;
    }
    let kind = data[0] % 8;
    let rate = match data[1] % 4 {
        0 => 1000 + u32::from(u16::from_le_bytes([data[2], data[3]])) * 6,
        1 => 8000,
        2 => 44100,
        _ => 48000,
    };
    let channels = usize::from(data[4] % 8) + 1;
    let raw = data[5] % 2 == 0;
    let body = &data[6..];
    let samples: Vec<f32> = if raw {
        body.chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    } else {
        body.chunks_exact(2)
            .map(|c| f32::from(i16::from_le_bytes([c[0], c[1]])) / 32768.0)
            .collect()
    };
    write_and_read_back(kind, rate, channels, &samples);
});
