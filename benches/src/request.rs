//! The request the load generator sends: one small OpenAI chat request, optionally
//! streamed and padded to a body size.

/// A chat request body for `model`, padded with `x`s to about `body_bytes` (when larger
/// than the unpadded ~120 bytes).
pub fn chat_body(model: &str, stream: bool, body_bytes: usize) -> String {
    let mut content = String::from("Say hello.");
    if body_bytes > 120 {
        content.push_str(&"x".repeat(body_bytes - 120));
    }
    format!(r#"{{"model":"{model}","stream":{stream},"messages":[{{"role":"user","content":"{content}"}}]}}"#)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padded_bodies_are_valid_json_of_about_the_asked_size() {
        let small = chat_body("bench", false, 0);
        let v: serde_json::Value = serde_json::from_str(&small).expect("json");
        assert_eq!((v["model"].as_str(), v["stream"].as_bool()), (Some("bench"), Some(false)));
        let big = chat_body("bench", true, 65_536);
        assert!(serde_json::from_str::<serde_json::Value>(&big).is_ok());
        assert!((65_000..66_100).contains(&big.len()), "{}", big.len());
    }
}
