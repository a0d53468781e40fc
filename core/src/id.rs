//! Time-ordered random ids: 12 hex digits of Unix milliseconds, then 20 random hex digits
//! (80 bits). Sorting ids sorts them by creation time to the millisecond; two ids made in
//! the same millisecond collide with probability 2^-80.

use crate::clock::unix_ms;

/// Length of an id from [`new_id`].
pub const ID_LEN: usize = 32;

/// A fresh id, e.g. `01a2178eb83f2b2de392b89283aa26e1`.
pub fn new_id() -> String {
    hex_id(unix_ms() as u64, rand::random::<u128>())
}

/// The id of `ms` (its low 48 bits) and `rnd` (its low 80 bits): the 32 lower-case hex
/// digits of one 128-bit number, written directly (`format!` cost a request ~2,000
/// instructions, most of what making its id did).
fn hex_id(ms: u64, rnd: u128) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let value = (u128::from(ms & 0xffff_ffff_ffff) << 80) | (rnd & ((1u128 << 80) - 1));
    (0..ID_LEN).map(|i| char::from(HEX[((value >> (4 * (ID_LEN - 1 - i))) & 0xf) as usize])).collect()
}

/// The creation time (Unix ms) an id from [`new_id`] carries, if it is one.
pub fn id_time_ms(id: &str) -> Option<i64> {
    if id.len() != ID_LEN || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    i64::from_str_radix(&id[..12], 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_hex_and_carry_their_time() {
        let (a, b) = (new_id(), new_id());
        assert_ne!(a, b);
        assert_eq!(a.len(), ID_LEN);
        let t = id_time_ms(&a).expect("an id");
        assert!((t - unix_ms()).abs() < 5_000);
        assert_eq!(id_time_ms("not-an-id"), None);
    }

    #[test]
    fn ids_are_the_two_numbers_in_fixed_width_hex() {
        for (ms, rnd) in [(0, 0), (0x0123_4567_89ab, 0xfedc_ba98_7654_3210_abcd), (u64::MAX, u128::MAX), (1, 1 << 79)] {
            let expected = format!("{:012x}{:020x}", ms & 0xffff_ffff_ffff, rnd & ((1u128 << 80) - 1));
            assert_eq!(hex_id(ms, rnd), expected);
        }
        assert_eq!(id_time_ms(&hex_id(1_764_000_000_000, 7)), Some(1_764_000_000_000));
    }
}
