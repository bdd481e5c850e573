//! The resume state file reader: `ResumeState::parse` on arbitrary bytes
//! (what a torn write, a full disk or a hostile file can leave beside a
//! partial download).
//!
//! Checked beyond "no panic": an accepted state obeys the rules the reader
//! promises (valid name, offset within size) and survives a round trip
//! through `to_bytes` unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use resmgr::protocol::fields::check_name;
use resmgr::transfer::resume::{ResumeState, MAX_STATE_LEN};

fuzz_target!(|data: &[u8]| {
    let Ok(state) = ResumeState::parse(data) else {
        return;
    };
    assert!(data.len() as u64 <= MAX_STATE_LEN);
    check_name(&state.name).expect("accepted name is valid");
    assert!(state.offset <= state.size, "{state:?}");
    let bytes = state.to_bytes();
    assert_eq!(
        ResumeState::parse(&bytes).expect("own output parses"),
        state
    );
});
