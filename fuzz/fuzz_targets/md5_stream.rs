//! resmgr's streaming hasher (`Md5Hasher`, md-5 underneath, with its own
//! byte count): the same bytes, fed in pieces whose sizes the input
//! chooses, must give the same digest and length as md-5 given them at
//! once.
//!
//! Input: the first byte says how many piece sizes follow (up to 16, one
//! byte each, 0 meaning 64); the rest is the data, fed in those sizes in
//! turn.
#![no_main]

use libfuzzer_sys::fuzz_target;
use md5::Digest as _;
use resmgr::Md5Hasher;

fuzz_target!(|input: &[u8]| {
    let Some((&count, rest)) = input.split_first() else {
        return;
    };
    let count = usize::from(count % 17).min(rest.len());
    let (sizes, data) = rest.split_at(count);
    let sizes: Vec<usize> = sizes
        .iter()
        .map(|&s| if s == 0 { 64 } else { usize::from(s) })
        .collect();

    let mut ours = Md5Hasher::new();
    let mut fed = 0;
    let mut turn = 0;
    while fed < data.len() {
        let piece = sizes.get(turn % sizes.len().max(1)).copied().unwrap_or(data.len());
        let end = (fed + piece).min(data.len());
        ours.update(&data[fed..end]);
        fed = end;
        turn += 1;
    }
    assert_eq!(ours.len(), data.len() as u64);
    let want: [u8; 16] = md5::Md5::digest(data).into();
    assert_eq!(ours.finish().0, want, "{} bytes in pieces of {sizes:?}", data.len());
});
