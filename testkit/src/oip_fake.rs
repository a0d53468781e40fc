//! A fake Open Inference Protocol v2 server (KServe / MLServer style) on loopback:
//! `POST /v2/models/{model}/infer` answers the recorded sample
//! `fixtures/oip_infer_explained.json` (a prediction plus an Alibi TreeShap explanation
//! output) with `model_name` set to the path's model; a model named `plain` answers
//! without an explanation. Errors as `{"error": "<message>"}`.

use super::fake_server::{fixture, Fake, Reply, Seen, Wire};

struct Oip;

/// Starts the fake.
pub async fn start() -> Fake {
    Fake::start(Oip).await
}

impl Wire for Oip {
    fn answer(&self, seen: &Seen) -> Reply {
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
