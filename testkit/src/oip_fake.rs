//! A fake Open Inference Protocol v2 server (KServe / MLServer style) on loopback:
//! `POST /v2/models/{model}/infer` answers the recorded sample
//! `fixtures/oip_infer_explained.json` (a prediction plus an Alibi TreeShap explanation
//! output) with `model_name` set to the path's model; a model named `plain` answers
//! without an explanation. Errors as `{"error": "<message>"}`. `GET /v2/models/{model}`
//! answers [`METADATA`] (404 for `missing`).

use super::fake_server::{fixture, Fake, Reply, Seen, Wire};

struct Oip;

/// Starts the fake.
pub async fn start() -> Fake {
    Fake::start(Oip).await
}

/// `GET /v2/models/{model}` for a model other than `plain`: MLServer's metadata of a
/// scikit-learn classifier (`{model}` is replaced by the model's name).
pub const METADATA: &str = r#"{"name":"{model}","versions":["1"],"platform":"sklearn_sklearn",
"inputs":[{"name":"input-0","datatype":"FP32","shape":[-1,4],"parameters":{"content_type":"np"}}],
"outputs":[{"name":"predict","datatype":"INT64","shape":[-1,1]}],"parameters":{"content_type":"np"}}"#;

impl Wire for Oip {
    fn answer(&self, seen: &Seen) -> Reply {
        if seen.method == "GET" {
            return match seen.path.strip_prefix("/v2/models/") {
                Some(model) if !model.contains('/') && model != "missing" => {
                    Reply::Json(200, METADATA.replace("{model}", model))
                }
                _ => Reply::Json(404, self.error(404)),
            };
        }
        let Some(model) = seen.path.strip_prefix("/v2/models/").and_then(|p| p.strip_suffix("/infer")) else {
            return Reply::Json(404, self.error(404));
        };
        if seen.body["inputs"].as_array().is_none_or(|i| i.is_empty()) {
            return Reply::Json(400, self.error(400));
        }
        if model == "plain" {
            return Reply::Json(
                200,
                r#"{"model_name":"plain","outputs":[{"name":"predict","shape":[1],"datatype":"FP32","data":[0.5]}]}"#
                    .into(),
            );
        }
        Reply::Json(200, fixture("oip_infer_explained.json").replace("income-xgb", model))
    }

    fn error(&self, status: u16) -> String {
        format!(r#"{{"error":"fake {status}"}}"#)
    }
}
