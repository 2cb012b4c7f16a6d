//! What the router sends to a session, and the bounded queue it goes through.
//!
//! Every session has one outgoing queue, drained by its writer (a wire writer task or an
//! in-process client). Events fanned out to many subscribers are wrapped in a
//! [`SharedMessage`], serialized at most once per codec no matter how many subscribers
//! receive it.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::codec::Codec;
use crate::message::Message;
use crate::session_stats::SessionStats;

/// One item in a session's outgoing queue.
///
/// Small on purpose (two words): queued messages are moved around in bulk, and an event
/// fanned out to many subscribers is one `Shared` in each of their queues.
#[derive(Debug, Clone)]
pub enum Outgoing {
    Message(Box<Message>),
    Shared(Arc<SharedMessage>),
}

impl Outgoing {
    /// The serialized form for `codec`, written into `buf` (then split off it, so the messages of a batch share
    /// a few allocations instead of one each); shared messages come from their cache.
    pub fn encode_in(&self, codec: Codec, buf: &mut BytesMut) -> Bytes {
        /// Room for a few typical messages; a larger one grows its own buffer.
        const CHUNK: usize = 4096;
        match self {
            Outgoing::Message(m) => {
                // `buf` is empty here (every message is split off); what the frames
                // before hold of its allocation stays theirs.
                if buf.capacity() < CHUNK / 8 {
                    *buf = BytesMut::with_capacity(CHUNK);
                }
                codec.encode_into(m, buf);
                buf.split().freeze()
            }
            Outgoing::Shared(s) => s.encoded(codec).clone(),
        }
    }

    /// The message itself with its arguments decoded, for in-process peers.
    pub fn into_message(self) -> Message {
        match self {
            Outgoing::Message(m) => m.into_decoded(),
            Outgoing::Shared(s) => s.message().clone().into_decoded(),
        }
    }

    pub fn message(&self) -> &Message {
        match self {
            Outgoing::Message(m) => m.as_ref(),
            Outgoing::Shared(s) => s.message(),
        }
    }
}

impl From<Message> for Outgoing {
    fn from(m: Message) -> Self {
        Outgoing::Message(Box::new(m))
    }
}

/// A message sent to many sessions, serialized lazily once per codec.
#[derive(Debug)]
pub struct SharedMessage {
    message: Message,
    encoded: [OnceLock<Bytes>; 4],
}

impl SharedMessage {
    pub fn new(message: Message) -> Arc<Self> {
        Arc::new(SharedMessage {
            message,
            encoded: Default::default(),
        })
    }

    pub fn message(&self) -> &Message {
        &self.message
    }

    pub fn encoded(&self, codec: Codec) -> &Bytes {
        let slot = match codec {
            Codec::Json => &self.encoded[0],
            Codec::MsgPack => &self.encoded[1],
            Codec::Cbor => &self.encoded[2],
            Codec::Ubjson => &self.encoded[3],
        };
        slot.get_or_init(|| codec.encode(&self.message))
    }
}

/// Why [`OutSender::try_send`] did not queue a message; the message comes back.
#[derive(Debug)]
pub enum TrySendError {
    /// The queue holds its capacity: wait with [`OutSender::send`] or give up.
    Full(Outgoing),
    /// The receiver is gone (the connection is closing): nobody will read it.
    Closed(Outgoing),
}

/// Creates a session's outgoing queue holding at most `capacity` messages.
///
/// A bounded multi-producer, single-consumer queue like `tokio::sync::mpsc`, built for the
/// idle case: tokio's channel allocates about 1 KiB up front (a cache-padded channel and a
/// first block of 32 slots) for every session, this one a few words until messages flow, and
/// it gives its buffer back after a burst.
pub fn out_queue(capacity: usize) -> (OutSender, OutReceiver) {
    let q = Arc::new(OutQueue {
        state: Mutex::new(QueueState {
            items: VecDeque::new(),
            overflow_since: None,
            spare: VecDeque::new(),
            closed: false,
            reader: None,
        }),
        room: Notify::new(),
        capacity,
        stats: OnceLock::new(),
    });
    (OutSender(q.clone()), OutReceiver(q))
}

struct OutQueue {
    state: Mutex<QueueState>,
    /// Wakes senders waiting for room (registered before they looked).
    room: Notify,
    capacity: usize,
    /// The session's statistics, on realms that keep them: kept here because the queue is
    /// what the session and the writer of its connection share.
    stats: OnceLock<Arc<SessionStats>>,
}

struct QueueState {
    items: VecDeque<Outgoing>,
    /// Since when the queue has held more than its capacity (see [`OutSender::overflow`]);
    /// cleared once the receiver is back under it.
    overflow_since: Option<Instant>,
    /// A drained batch's allocation, for `items` to go on with (see [`OutReceiver::recycle`]).
    spare: VecDeque<Outgoing>,
    closed: bool,
    /// The receiver, parked on an empty queue.
    reader: Option<Waker>,
}

/// The sending side of an outgoing queue; clones share the queue.
#[derive(Clone)]
pub struct OutSender(Arc<OutQueue>);

impl OutSender {
    /// Starts counting the session's traffic (once; a later call keeps the first).
    pub fn attach_stats(&self, stats: Arc<SessionStats>) {
        let _ = self.0.stats.set(stats);
    }

    pub fn stats(&self) -> Option<&Arc<SessionStats>> {
        self.0.stats.get()
    }

    /// Queues `out` if there is room, waking the receiver.
    pub fn try_send(&self, out: Outgoing) -> Result<(), TrySendError> {
        let waker = {
            let mut st = self.0.state.lock();
            if st.closed {
                return Err(TrySendError::Closed(out));
            }
            if st.items.len() >= self.0.capacity {
                return Err(TrySendError::Full(out));
            }
            st.items.push_back(out);
            st.reader.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }

    /// Queues `out`, waiting for room; gives it back if the receiver is gone.
    pub async fn send(&self, mut out: Outgoing) -> Result<(), Outgoing> {
        loop {
            let room = self.0.room.notified();
            let mut room = std::pin::pin!(room);
            // Registered before trying, so room made in between is not missed.
            room.as_mut().enable();
            match self.try_send(out) {
                Ok(()) => return Ok(()),
                Err(TrySendError::Closed(o)) => return Err(o),
                Err(TrySendError::Full(o)) => out = o,
            }
            room.await;
        }
    }

    /// Waits until the queue has room, at most `within`; whether it has. The receiver makes
    /// room only by taking messages, so `false` means it took nothing meanwhile.
    pub async fn room_within(&self, within: Duration) -> bool {
        let room = self.0.room.notified();
        let mut room = std::pin::pin!(room);
        room.as_mut().enable();
        {
            let st = self.0.state.lock();
            if st.closed || st.items.len() < self.0.capacity {
                return true;
            }
        }
        tokio::time::timeout(within, room).await.is_ok()
    }

    /// Is the queue past its capacity, i.e. has its receiver been found stalled and not yet
    /// caught up? Senders then queue without waiting for it ([`Self::overflow`]).
    pub fn is_overflowing(&self) -> bool {
        self.0.state.lock().overflow_since.is_some()
    }

    /// Queues `out` beyond the capacity, for a receiver that stopped taking messages while
    /// others should go on being served: at most `limit` messages past the capacity, and for
    /// at most `max_age` since the queue first overflowed. Gives `out` back when either is
    /// exceeded (the receiver is then too slow to keep) or the queue is closed.
    pub fn overflow(&self, out: Outgoing, limit: usize, max_age: Duration) -> Result<(), Outgoing> {
        let waker = {
            let mut st = self.0.state.lock();
            let since = *st.overflow_since.get_or_insert_with(Instant::now);
            if st.closed || st.items.len() >= self.0.capacity + limit || since.elapsed() > max_age {
                return Err(out);
            }
            st.items.push_back(out);
            st.reader.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }

    /// Ends the queue: what is queued is still delivered, nothing new is accepted.
    pub fn close(&self) {
        self.0.close();
    }
}

impl OutQueue {
    fn close(&self) {
        let waker = {
            let mut st = self.state.lock();
            st.closed = true;
            st.reader.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
        self.room.notify_waiters();
    }
}

/// The receiving side of an outgoing queue. Dropping it closes the queue.
pub struct OutReceiver(Arc<OutQueue>);

impl OutReceiver {
    /// The session's statistics, if its realm keeps them (see [`OutSender::attach_stats`]).
    pub fn stats(&self) -> Option<&Arc<SessionStats>> {
        self.0.stats.get()
    }
    /// Takes everything queued, waiting while the queue is empty; `None` once it is closed
    /// and empty. The queue goes on with the allocation of the last batch given back to
    /// [`Self::recycle`], if any.
    pub async fn recv_all(&mut self) -> Option<VecDeque<Outgoing>> {
        poll_fn(|cx| {
            self.poll_take(cx, |st| {
                let spare = std::mem::take(&mut st.spare);
                std::mem::replace(&mut st.items, spare)
            })
        })
        .await
    }

    /// Gives a drained batch back, so a busy queue does not grow a new allocation for every
    /// batch.
    pub fn recycle(&self, mut batch: VecDeque<Outgoing>) {
        batch.clear();
        self.0.state.lock().spare = batch;
    }

    /// If nothing is queued (the session went idle), frees the queue's allocations and says
    /// so; the caller then lets go of its own buffers too.
    pub fn release_if_idle(&self) -> bool {
        let mut st = self.0.state.lock();
        if !st.items.is_empty() {
            return false;
        }
        st.items = VecDeque::new();
        st.spare = VecDeque::new();
        true
    }

    /// The next queued message, waiting while the queue is empty; `None` once it is closed
    /// and empty.
    pub async fn recv(&mut self) -> Option<Outgoing> {
        poll_fn(|cx| {
            self.poll_take(cx, |st| {
                let next = st.items.pop_front();
                if st.items.is_empty() {
                    // Drained: an idle peer keeps no buffer.
                    st.items = VecDeque::new();
                }
                next
            })
        })
        .await
        .flatten()
    }

    /// Applies `take` to a non-empty queue, or waits for one.
    fn poll_take<T>(
        &self,
        cx: &mut Context<'_>,
        take: impl FnOnce(&mut QueueState) -> T,
    ) -> Poll<Option<T>> {
        let mut st = self.0.state.lock();
        if st.items.is_empty() {
            if st.closed {
                return Poll::Ready(None);
            }
            if !st.reader.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                st.reader = Some(cx.waker().clone());
            }
            return Poll::Pending;
        }
        let was_full = st.items.len() >= self.0.capacity;
        let taken = take(&mut st);
        if st.overflow_since.is_some() && st.items.len() < self.0.capacity {
            st.overflow_since = None;
        }
        drop(st);
        if was_full {
            self.0.room.notify_waiters();
        }
        Poll::Ready(Some(taken))
    }
}

impl Drop for OutReceiver {
    fn drop(&mut self) {
        self.0.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_stalled_queue_overflows_within_its_bounds() {
        let (tx, mut rx) = out_queue(2);
        tx.try_send(msg(1)).unwrap();
        tx.try_send(msg(2)).unwrap();
        assert!(!tx.room_within(Duration::from_millis(20)).await);
        assert!(!tx.is_overflowing());
        let age = Duration::from_secs(60);
        tx.overflow(msg(3), 1, age).unwrap();
        assert!(tx.is_overflowing());
        assert!(tx.overflow(msg(4), 1, age).is_err(), "past the limit");
        // Taking messages gets the queue back under its capacity: no longer overflowing.
        assert!(rx.recv().await.is_some());
        assert!(rx.recv().await.is_some());
        assert!(!tx.is_overflowing());
        assert!(tx.room_within(Duration::from_millis(20)).await);
        // Too long past the capacity: refused whatever the count.
        tx.try_send(msg(5)).unwrap();
        tx.overflow(msg(6), 10, Duration::ZERO).unwrap_or(());
        std::thread::sleep(Duration::from_millis(2));
        assert!(tx.overflow(msg(7), 10, Duration::ZERO).is_err());
    }

    fn msg(n: u64) -> Outgoing {
        Outgoing::from(Message::Goodbye {
            details: Default::default(),
            reason: format!("r{n}"),
        })
    }

    fn reason(o: &Outgoing) -> String {
        match o.message() {
            Message::Goodbye { reason, .. } => reason.clone(),
            m => panic!("unexpected {m:?}"),
        }
    }

    #[tokio::test]
    async fn delivers_in_order_and_reports_full_and_closed() {
        let (tx, mut rx) = out_queue(2);
        tx.try_send(msg(1)).unwrap();
        tx.try_send(msg(2)).unwrap();
        assert!(matches!(tx.try_send(msg(3)), Err(TrySendError::Full(_))));
        let batch = rx.recv_all().await.unwrap();
        assert_eq!(batch.iter().map(reason).collect::<Vec<_>>(), ["r1", "r2"]);
        tx.try_send(msg(4)).unwrap();
        tx.close();
        assert!(matches!(tx.try_send(msg(5)), Err(TrySendError::Closed(_))));
        // Closed, but what was queued before still arrives.
        assert_eq!(reason(&rx.recv().await.unwrap()), "r4");
        assert!(rx.recv().await.is_none());
    }

    #[tokio::test]
    async fn a_waiting_sender_gets_room_and_a_parked_receiver_wakes() {
        let (tx, mut rx) = out_queue(1);
        tx.try_send(msg(1)).unwrap();
        let tx2 = tx.clone();
        let sender = tokio::spawn(async move { tx2.send(msg(2)).await.is_ok() });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(
            !sender.is_finished(),
            "the sender waits while the queue is full"
        );
        assert_eq!(reason(&rx.recv().await.unwrap()), "r1");
        assert!(
            tokio::time::timeout(Duration::from_secs(5), sender)
                .await
                .unwrap()
                .unwrap()
        );
        assert_eq!(reason(&rx.recv().await.unwrap()), "r2");
        let receiver = tokio::spawn(async move { rx.recv().await.map(|o| reason(&o)) });
        tokio::time::sleep(Duration::from_millis(20)).await;
        tx.try_send(msg(3)).unwrap();
        let got = tokio::time::timeout(Duration::from_secs(5), receiver)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.as_deref(), Some("r3"));
    }

    #[tokio::test]
    async fn dropping_the_receiver_releases_waiting_senders() {
        let (tx, rx) = out_queue(1);
        tx.try_send(msg(1)).unwrap();
        let tx2 = tx.clone();
        let sender = tokio::spawn(async move { tx2.send(msg(2)).await.is_err() });
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(rx);
        assert!(
            tokio::time::timeout(Duration::from_secs(5), sender)
                .await
                .unwrap()
                .unwrap()
        );
    }
}
