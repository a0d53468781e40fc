//! Time-ordered random ids: 12 hex digits of Unix milliseconds, then 20 random hex digits
//! (80 bits). Sorting ids sorts them by creation time to the millisecond; two ids made in
//! the same millisecond collide with probability 2^-80.

use crate::clock::unix_ms;

/// Length of an id from [`new_id`].
pub const ID_LEN: usize = 32;

/// A fresh id, e.g. `01a2178eb83f2b2de392b89283aa26e1`.
pub fn new_id() -> String {
    let ms = unix_ms() as u64 & 0xffff_ffff_ffff;
    let rnd: u128 = rand::random::<u128>() & ((1u128 << 80) - 1);
    format!("{ms:012x}{rnd:020x}")
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
}
