//! How much work translating a body would be, counted before any JSON tree is built.
//!
//! Translating between wire formats parses the body into a `serde_json::Value` tree and
//! builds another: a few hundred bytes of memory per JSON element, so a 4 MiB body of
//! 161k empty text blocks cost about 65 MB per request. [`json_elements`] counts a body's
//! elements (objects, arrays and the items between their commas) with one pass over the
//! bytes, stopping as soon as `limit` is passed, so the data plane can refuse such a body
//! (413) before translating it. Bodies that go to a member of their own format are never
//! parsed into a tree and are not counted.

/// The number of JSON elements in `body`, or `None` as soon as there are more than
/// `limit`. An element is an object, an array, or a comma-separated item; strings (with
/// escapes) are skipped whole. Malformed JSON is counted as far as it goes (the parse
/// that follows reports it).
pub fn json_elements(body: &[u8], limit: usize) -> Option<usize> {
    let mut count = 1usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in body {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' | b',' => {
                count += 1;
                if count > limit {
                    return None;
                }
            }
            _ => {}
        }
    }
    Some(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_structure_not_string_contents() {
        assert_eq!(json_elements(br#"{"a":1,"b":[1,2,3]}"#, 100), Some(6));
        assert_eq!(
            json_elements(br#"{"text":"a,b,[c]{d} \" , [ ,"}"#, 100),
            Some(2),
            "commas and brackets in strings do not count"
        );
        let blocks = format!("[{}]", vec![r#"{"type":"text","text":""}"#; 1000].join(","));
        assert_eq!(json_elements(blocks.as_bytes(), 10_000), Some(3001));
        assert_eq!(json_elements(blocks.as_bytes(), 2000), None, "stops past the limit");
    }
}
