//! Closed-loop load for the cluster tests: a few clients per gateway, a mix of plain and
//! streamed chats, each request id answered with a 200 kept, failures counted, and clients
//! of a gateway that is down waiting for it to come back.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use switchyard_testkit::client;

use super::gateway::Gateway;

const CLIENTS_PER_GATEWAY: usize = 2;
/// Pause between one client's requests (steady, closed-loop load).
const THINK: Duration = Duration::from_millis(15);

/// Closed-loop load on every gateway until `stop`; answered request ids go to `done`.
pub struct Load {
    stop: Arc<AtomicBool>,
    done: Arc<Mutex<Vec<String>>>,
    failed: Arc<Mutex<u64>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    pub fn start(gateways: &[Gateway]) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::new(Mutex::new(Vec::new()));
        let failed = Arc::new(Mutex::new(0));
        let mut tasks = Vec::new();
        for (gi, g) in gateways.iter().enumerate() {
            for k in 0..CLIENTS_PER_GATEWAY {
                let (stop, done, failed, target) = (stop.clone(), done.clone(), failed.clone(), g.data.clone());
                tasks.push(tokio::spawn(async move {
                    let c = client();
                    let mut i = gi + k;
                    while !stop.load(Ordering::Relaxed) {
                        let Some(base) = target.lock().expect("lock").clone() else {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            continue;
                        };
                        let body = if i % 3 == 0 {
                            switchyard_testkit::chat_stream("g")
                        } else {
                            switchyard_testkit::chat("g")
                        };
                        i += 1;
                        let outcome = async {
                            let r = c.post(format!("{base}/v1/chat/completions")).body(body).send().await.ok()?;
                            let id = r.headers().get("x-switchyard-request-id")?.to_str().ok()?.to_owned();
                            (r.status() == 200).then_some(())?;
                            r.bytes().await.ok()?;
                            Some(id)
                        };
                        match outcome.await {
                            Some(id) => done.lock().expect("lock").push(id),
                            None => {
                                *failed.lock().expect("lock") += 1;
                                tokio::time::sleep(Duration::from_millis(20)).await;
                            }
                        }
                        tokio::time::sleep(THINK).await;
                    }
                }));
            }
        }
        Self { stop, done, failed, tasks }
    }

    pub async fn finish(self) -> (Vec<String>, u64) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.tasks {
            t.await.expect("client task");
        }
        let done = std::mem::take(&mut *self.done.lock().expect("lock"));
        let failed = *self.failed.lock().expect("lock");
        (done, failed)
    }
}
