//! A TCP proxy on loopback that a test can cut and restore: every connection through it
//! is forwarded to a target until [`TcpProxy::cut`], which closes the open connections
//! and refuses new ones until [`TcpProxy::restore`]. For "the database went away" tests
//! without stopping a server other tests share.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A cuttable TCP forwarder.
pub struct TcpProxy {
    /// Where clients connect.
    pub addr: SocketAddr,
    open: Arc<AtomicBool>,
    cuts: watch::Sender<u64>,
}

impl TcpProxy {
    /// Forwards connections on a fresh loopback port to `target`.
    pub async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("addr");
        let open = Arc::new(AtomicBool::new(true));
        let (cuts, cut_rx) = watch::channel(0u64);
        let is_open = open.clone();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !is_open.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let mut cut = cut_rx.clone();
                cut.borrow_and_update();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(target).await else { return };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        Self { addr, open, cuts }
    }

    /// Closes every open connection and refuses new ones.
    pub fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        self.cuts.send_modify(|n| *n += 1);
    }

    /// Accepts and forwards connections again.
    pub fn restore(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}
