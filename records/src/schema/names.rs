//! Names interpolated into DDL: the table of each group (an injective escaping of the
//! group name, hashed when too long, stable across releases) and the check that a
//! database name is a plain identifier.

use crate::RecordsError;

/// Longest table name [`group_table`] makes: ClickHouse keeps a table in a directory and
/// files named after it, and a file name has at most 255 bytes.
pub const MAX_TABLE_NAME: usize = 200;

/// The table of `group`: `inferences_` + the group name with `[a-z0-9]` kept, `_` doubled
/// and every other byte as `_xx` (lower-case hex) — injective, so collision-free. A name
/// that would be longer than [`MAX_TABLE_NAME`] (a 128-character upper-case group escapes to
/// 395) keeps its first 160 characters and ends with `_h` + a 64-bit FNV-1a hash of the
/// group name; `_h` never comes out of the escaping (`h` is not a hex digit), so a hashed
/// name cannot equal an escaped one.
pub fn group_table(group: &str) -> String {
    let mut name = String::with_capacity("inferences_".len() + group.len());
    name.push_str("inferences_");
    for b in group.bytes() {
        match b {
            b'a'..=b'z' | b'0'..=b'9' => name.push(char::from(b)),
            b'_' => name.push_str("__"),
            _ => name.push_str(&format!("_{b:02x}")),
        }
    }
    if name.len() > MAX_TABLE_NAME {
        name.truncate(160);
        name.push_str(&format!("_h{:016x}", fnv1a(group.as_bytes())));
    }
    name
}

/// FNV-1a, 64 bits: stable across releases and platforms (table names depend on it).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// Checks that a database name is a plain identifier (it is interpolated into DDL).
pub fn validate_database(database: &str) -> Result<(), RecordsError> {
    let ok = !database.is_empty()
        && database.len() <= 64
        && database.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !database.as_bytes()[0].is_ascii_digit();
    if ok {
        Ok(())
    } else {
        Err(RecordsError::InvalidOption {
            field: "records.clickhouse.database",
            message: "must match [A-Za-z_][A-Za-z0-9_]{0,63}".into(),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn group_tables_are_sanitised_and_distinct() {
        assert_eq!(group_table("demo"), "inferences_demo");
        assert_eq!(group_table("support-bot"), "inferences_support_2dbot");
        assert_eq!(group_table("support_bot"), "inferences_support__bot");
        assert_eq!(group_table("Bot"), "inferences__42ot");
        let names = ["a-b", "a_b", "a__b", "a_2db", "A-b", "a.b", "ä"];
        let tables: std::collections::HashSet<_> = names.iter().map(|n| group_table(n)).collect();
        assert_eq!(tables.len(), names.len());
        for t in tables {
            assert!(t.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'));
        }
    }

    #[test]
    fn long_group_names_get_bounded_distinct_table_names() {
        let long = "G".repeat(128);
        let table = group_table(&long);
        assert_eq!(table.len(), 160 + 2 + 16, "{table}");
        assert!(table.starts_with("inferences__47_47"), "{table}");
        assert_eq!(table, group_table(&long), "stable");
        let other = format!("{}H", "G".repeat(127));
        assert_ne!(group_table(&other), table, "names that share the kept prefix differ by their hash");
        // 63 escaped characters (189 + 11 = 200) are kept as they are.
        assert_eq!(group_table(&"G".repeat(63)).len(), MAX_TABLE_NAME);
        assert!(group_table(&"G".repeat(64)).contains("_h"));
    }

    #[test]
    fn database_names_are_checked() {
        assert!(validate_database("switchyard").is_ok());
        assert!(validate_database("t_1").is_ok());
        for bad in ["", "1x", "a-b", "a`b", "a b"] {
            assert!(validate_database(bad).is_err(), "{bad}");
        }
    }
}
