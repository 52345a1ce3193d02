//! A TCP relay that adds a fixed latency in each direction: a simulated long
//! link between network namespaces where the kernel has no `tc netem` (this
//! machine's kernel is built without `CONFIG_NET_SCH_NETEM`).
//!
//! Each chunk read on one side is written to the other `delay` later, in order,
//! as a link of that one-way latency (and unlimited bandwidth) would deliver
//! it; a new connection is opened to the target one round trip after it was
//! accepted, as a TCP handshake over the link would take.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Relays connections accepted on `listen` to `target`, `delay` each way, until the process stops.
pub async fn relay(listen: SocketAddr, target: SocketAddr, delay: Duration) -> anyhow::Result<()> {
    let listener = TcpListener::bind(listen).await?;
    loop {
        let (inbound, _) = listener.accept().await?;
        tokio::spawn(async move {
            tokio::time::sleep(delay * 2).await;
            let Ok(outbound) = TcpStream::connect(target).await else {
                return;
            };
            let _ = (inbound.set_nodelay(true), outbound.set_nodelay(true));
            let (in_read, in_write) = inbound.into_split();
            let (out_read, out_write) = outbound.into_split();
            tokio::join!(
                pump(in_read, out_write, delay),
                pump(out_read, in_write, delay)
            );
        });
    }
}

/// Copies `from` to `to`, each chunk `delay` after it arrived; closes `to` after `from` ends.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    delay: Duration,
) {
    let (chunks, mut due) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let writer = async move {
        while let Some((at, chunk)) = due.recv().await {
            tokio::time::sleep_until(at).await;
            if to.write_all(&chunk).await.is_err() {
                return;
            }
        }
        let _ = to.shutdown().await;
    };
    let reader = async move {
        let mut buffer = vec![0u8; 64 * 1024];
        while let Ok(read) = from.read(&mut buffer).await {
            if read == 0
                || chunks
                    .send((Instant::now() + delay, buffer[..read].to_vec()))
                    .is_err()
            {
                break;
            }
        }
    };
    tokio::join!(reader, writer);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn each_direction_is_delayed() {
        let echo = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let echo_address = echo.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut socket, _) = echo.accept().await.unwrap();
            let mut buffer = [0u8; 4];
            socket.read_exact(&mut buffer).await.unwrap();
            socket.write_all(&buffer).await.unwrap();
        });
        let relay_address = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            probe.local_addr().unwrap()
        };
        tokio::spawn(relay(
            relay_address,
            echo_address,
            Duration::from_millis(30),
        ));
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut client = TcpStream::connect(relay_address).await.unwrap();
        let started = std::time::Instant::now();
        client.write_all(b"ping").await.unwrap();
        let mut answer = [0u8; 4];
        client.read_exact(&mut answer).await.unwrap();
        assert_eq!(&answer, b"ping");
        // Handshake (one round trip) + the request and the answer (one more).
        assert!(
            started.elapsed() >= Duration::from_millis(120),
            "{:?}",
            started.elapsed()
        );
    }
}
